//! Metric keys: free for string literals, one move for owned strings.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::error::{Error, Result};

/// The longest key labbook accepts, in bytes ([`Key::MAX_BYTES`]).
pub(crate) const MAX_KEY_BYTES: usize = 256;

/// A metric or summary key such as `"train/loss"`.
///
/// A string literal becomes a `Key` without allocating, which is what keeps `Run::log`
/// cheap in a training loop; an owned `String` is moved in. A `/` or `.` in a key is kept
/// as part of the one key, as W&B does.
///
/// ```
/// use labbook_core::Key;
/// let k: Key = "train/loss".into();
/// assert_eq!(k.as_str(), "train/loss");
/// let owned: Key = format!("layer{}/grad", 3).into();
/// assert_eq!(owned.as_str(), "layer3/grad");
/// ```
#[derive(Clone)]
pub struct Key(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Key {
    /// The longest key labbook accepts, in bytes; a longer one is an error naming it.
    pub const MAX_BYTES: usize = MAX_KEY_BYTES;

    /// A key from a literal, usable in `const` and `static` items.
    pub const fn from_static(s: &'static str) -> Key {
        Key(Repr::Static(s))
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }

    /// Checks the rules every key must meet: not empty, at most [`MAX_KEY_BYTES`] bytes.
    #[inline]
    pub(crate) fn validate(&self) -> Result<()> {
        validate_key(self.as_str())
    }
}

/// Keys the run writes itself in every row and summary.
const RESERVED: &[&str] = &["_step", "_runtime", "_timestamp", "_wandb"];

#[inline]
pub(crate) fn validate_key(s: &str) -> Result<()> {
    // Every reserved key starts with `_`: most keys are checked by length and one byte.
    if !s.is_empty() && s.len() <= MAX_KEY_BYTES && !s.starts_with('_') {
        return Ok(());
    }
    validate_key_fully(s)
}

#[cold]
fn validate_key_fully(s: &str) -> Result<()> {
    let reason = if s.is_empty() {
        "a key must not be empty"
    } else if s.len() > MAX_KEY_BYTES {
        "a key must be at most 256 bytes"
    } else if RESERVED.contains(&s) {
        "this key is reserved: labbook writes _step, _runtime, _timestamp and _wandb itself"
    } else {
        return Ok(());
    };
    let mut shown = s.to_owned();
    if shown.len() > 300 {
        let mut cut = 300;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        shown.truncate(cut);
    }
    Err(Error::InvalidKey { key: shown, reason })
}

impl From<&'static str> for Key {
    fn from(s: &'static str) -> Key {
        Key(Repr::Static(s))
    }
}

impl From<String> for Key {
    fn from(s: String) -> Key {
        Key(Repr::Shared(s.into()))
    }
}

impl From<&String> for Key {
    fn from(s: &String) -> Key {
        Key(Repr::Shared(s.as_str().into()))
    }
}

impl From<Arc<str>> for Key {
    fn from(s: Arc<str>) -> Key {
        Key(Repr::Shared(s))
    }
}

impl From<std::borrow::Cow<'static, str>> for Key {
    fn from(s: std::borrow::Cow<'static, str>) -> Key {
        match s {
            std::borrow::Cow::Borrowed(b) => Key(Repr::Static(b)),
            std::borrow::Cow::Owned(o) => o.into(),
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_owned_keys_compare_by_text() {
        let a: Key = "a/b".into();
        let b: Key = String::from("a/b").into();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "a/b");
    }

    #[test]
    fn empty_and_oversized_keys_are_refused_with_a_reason() {
        let e = Key::from("").validate().unwrap_err();
        assert!(e.to_string().contains("must not be empty"), "{e}");
        let long = "k".repeat(257);
        let e = Key::from(long).validate().unwrap_err();
        assert!(e.to_string().contains("at most 256 bytes"), "{e}");
        assert!(Key::from("k".repeat(256)).validate().is_ok());
        let e = Key::from("_step").validate().unwrap_err();
        assert!(e.to_string().contains("reserved"), "{e}");
        assert!(Key::from("_private").validate().is_ok());
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::testing::{CASES, key_text};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Any text is a key or a clear error naming it (cut to 300 bytes on a character
        /// boundary), never a panic.
        #[test]
        fn keys_are_accepted_or_refused_by_the_rules(s in key_text()) {
            let k = Key::from(s.clone());
            match k.validate() {
                Ok(()) => prop_assert!(!s.is_empty() && s.len() <= MAX_KEY_BYTES),
                Err(Error::InvalidKey { key, .. }) => {
                    prop_assert!(key.len() <= 300 && s.starts_with(&key));
                    prop_assert!(s.is_empty() || s.len() > MAX_KEY_BYTES || RESERVED.contains(&s.as_str()));
                }
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}
