//! API keys: random secrets handed out once, kept only as a keyed hash.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Characters of a key after its prefix: letters and digits, as the official client's key
/// check accepts (word characters).
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Characters of randomness in a key: 40 of 62 symbols are 238 bits (at least 160 asked).
const KEY_CHARS: usize = 40;

/// Hashes API keys with the data directory's secret (HMAC-SHA-256), so the database never
/// holds a key, and a copy of the database without the secret cannot be used to test
/// guesses offline.
///
/// ```
/// use labbook_server::KeyHasher;
///
/// let hasher = KeyHasher::new([7; 32]);
/// let key = KeyHasher::new_key();
/// assert!(key.starts_with("local-") && key.len() == 46);
/// assert_eq!(hasher.hash(&key), hasher.hash(&key));
/// assert_ne!(hasher.hash(&key), KeyHasher::new([8; 32]).hash(&key));
/// ```
#[derive(Clone)]
pub struct KeyHasher {
    secret: [u8; 32],
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher(<secret>)")
    }
}

/// `n` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS generator fails only where the process cannot run at all.
    getrandom::fill(&mut bytes).expect("the operating system's random generator");
    bytes
}

impl KeyHasher {
    /// A hasher with this secret.
    pub fn new(secret: [u8; 32]) -> KeyHasher {
        KeyHasher { secret }
    }

    /// A hasher with a new random secret (for a server that keeps nothing).
    pub fn random() -> KeyHasher {
        KeyHasher::new(random_bytes())
    }

    /// The keyed hash of `key`, in hex: what the database keeps.
    pub fn hash(&self, key: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(key.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// A new API key: `local-` and 40 random letters and digits.
    pub fn new_key() -> String {
        // Rejection sampling keeps every character equally likely.
        let mut key = String::from("local-");
        while key.len() < "local-".len() + KEY_CHARS {
            for b in random_bytes::<64>() {
                let b = usize::from(b);
                if b < 248 && key.len() < "local-".len() + KEY_CHARS {
                    key.push(char::from(ALPHABET[b % ALPHABET.len()]));
                }
            }
        }
        key
    }

    /// A short public name for a key (shown by `key new`, used by `key revoke`): not
    /// derived from the key.
    pub fn new_label() -> String {
        let bytes: [u8; 4] = random_bytes();
        format!(
            "key-{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_word_characters() {
        let a = KeyHasher::new_key();
        let b = KeyHasher::new_key();
        assert_ne!(a, b);
        let body = a.strip_prefix("local-").unwrap();
        assert_eq!(body.len(), 40);
        assert!(body.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(KeyHasher::new([1; 32]).hash(&a).len(), 64);
    }
}
