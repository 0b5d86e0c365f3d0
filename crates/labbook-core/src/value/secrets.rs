//! Keeping secrets out of a run: names that hold secrets (`db_password`, `hf_token`,
//! `x-api-key`, ...), the API key in use wherever its value shows up, and secret
//! command-line arguments (git remotes lose their credentials in `git.rs`).
//!
//! Secrets are found by name or by their known value, never by shape alone: a 40-character
//! hex string is far more often a git commit than a key.

use crate::value::Value;

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "<redacted>";

/// Values shorter than this are never scrubbed by value: `"abc"` would match everywhere.
const MIN_SECRET_LEN: usize = 8;

/// Last words that make a name secret: `db_password`, `hf_token`, `client_secret`.
const SECRET_LAST_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "credentials",
    "apikey",
];

/// Last two words that make a name secret: `openai_api_key`, `aws_secret_access_key`.
/// A plain `key` is not enough (`primary_key`, `sort_key`).
const SECRET_LAST_PAIRS: &[(&str, &str)] = &[
    ("api", "key"),
    ("access", "key"),
    ("secret", "key"),
    ("private", "key"),
    ("auth", "key"),
    ("signing", "key"),
    ("encryption", "key"),
];

/// Whether a name (a config key, a command-line flag, one segment of a path) names a
/// secret. The name is split into words at `_`, `-`, spaces and camelCase humps; the last
/// word (or the last two) decides, so `max_tokens`, `pad_token_id`, `token_type`,
/// `tokenizer`, `primary_key` and `key_dim` are kept.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let words = words(name);
    match words.as_slice() {
        [] => false,
        [.., last] if SECRET_LAST_WORDS.contains(&last.as_str()) => true,
        [.., a, b] => SECRET_LAST_PAIRS.contains(&(a.as_str(), b.as_str())),
        [_] => false,
    }
}

/// Lower-case words of a name, digits at the end of a word dropped: `x-api-key` -> x, api,
/// key; `dbPassword` -> db, password; `HFToken` -> hf, token; `password2` -> password.
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.trim().chars().collect();
    let mut out = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' || c == ' ' || c == '.' {
            push_word(&mut out, &mut word);
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1);
        // A hump (`dbPassword`), or the last capital of an acronym before a word
        // (`HFToken`: HF | Token).
        let hump = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
            });
        if hump {
            push_word(&mut out, &mut word);
        }
        word.extend(c.to_lowercase());
    }
    push_word(&mut out, &mut word);
    out
}

/// Ends a word: its trailing digits dropped, nothing kept if that leaves it empty.
fn push_word(out: &mut Vec<String>, word: &mut String) {
    let w = std::mem::take(word);
    let w = w.trim_end_matches(|c: char| c.is_ascii_digit());
    if !w.is_empty() {
        out.push(w.to_owned());
    }
}

/// Replaces known secret values (the API key in use) wherever they appear, and values
/// under secret names. Its `Debug` never shows the values.
#[derive(Clone, Default)]
pub(crate) struct Scrubber {
    values: Vec<String>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber({} known secrets)", self.values.len())
    }
}

impl Scrubber {
    /// A scrubber for these secret values (empty or short ones are ignored).
    pub(crate) fn new<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Scrubber {
        let mut values: Vec<String> = values
            .into_iter()
            .map(Into::into)
            .filter(|v| v.len() >= MIN_SECRET_LEN)
            .collect();
        // Longest first: a secret that is part of a longer one must not cut the longer
        // one up before it is found whole.
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Scrubber { values }
    }

    /// `s` with every known secret value replaced.
    pub(crate) fn text(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), REDACTED);
            }
        }
        out
    }

    /// Redacts config items: values under secret names, and known secret values anywhere.
    pub(crate) fn config(&self, items: &mut [(String, Value)], by_name: bool) {
        for (key, value) in items.iter_mut() {
            if by_name && is_secret_key(key) {
                *value = Value::Str(REDACTED.to_owned());
            } else {
                self.value(value, by_name);
            }
        }
    }

    fn value(&self, value: &mut Value, by_name: bool) {
        match value {
            Value::Map(items) => self.config(items, by_name),
            Value::List(items) => items.iter_mut().for_each(|v| self.value(v, by_name)),
            Value::Str(s) if self.values.iter().any(|v| s.contains(v.as_str())) => {
                *s = self.text(s);
            }
            _ => {}
        }
    }

    /// Command-line arguments with secrets removed: the value of a secret flag
    /// (`--api-key X`, `--token=X`, `-password X`), and known secret values anywhere.
    pub(crate) fn args(&self, args: &[String]) -> Vec<String> {
        let mut out = Vec::with_capacity(args.len());
        let mut hide_next = false;
        for a in args {
            if std::mem::take(&mut hide_next) && !a.starts_with('-') {
                out.push(REDACTED.to_owned());
                continue;
            }
            if let Some(flag) = a.strip_prefix('-').map(|f| f.trim_start_matches('-'))
                && !flag.is_empty()
            {
                match flag.split_once('=') {
                    Some((name, _)) if is_secret_name(name) => {
                        let dashes = &a[..a.len() - flag.len()];
                        out.push(format!("{dashes}{name}={REDACTED}"));
                        continue;
                    }
                    None if is_secret_name(flag) => hide_next = true,
                    _ => {}
                }
            }
            // `KEY=value` arguments (env-style) with a secret name.
            if let Some((name, _)) = a.split_once('=')
                && !a.starts_with('-')
                && is_secret_key(name)
            {
                out.push(format!("{name}={REDACTED}"));
                continue;
            }
            out.push(self.text(a));
        }
        out
    }
}

/// Whether a config key, or one of its `.`/`/`-separated segments, names a secret.
pub(crate) fn is_secret_key(key: &str) -> bool {
    key.split(['.', '/']).any(is_secret_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_found_and_ordinary_ones_kept() {
        for k in [
            "wandb_api_key",
            "WANDB_API_KEY",
            "hf_token",
            "openai_api_key",
            "github_token",
            "db_password",
            "x-api-key",
            "aws_secret_access_key",
            "client_secret",
            "private_key",
            "access_token",
            "refresh_token",
            "api_key",
            "API-KEY",
            "apiKey",
            "accessToken",
            "token",
            "password",
            "secret",
            "HFToken",
            "OPENAIApiKey",
            "JWTSecret",
            "DBPassword",
            "api_key_2",
            "password1",
            "db.password",
        ] {
            assert!(is_secret_name(k), "{k} should be redacted");
        }
        for k in [
            "max_tokens",
            "pad_token_id",
            "token_type",
            "num_tokens",
            "tokenizer",
            "primary_key",
            "sort_key",
            "key_dim",
            "secretary_count",
            "key",
            "lr",
            "",
            "layer2_tokens",
            "ID",
            "TOKENIZER",
        ] {
            assert!(!is_secret_name(k), "{k} should be kept");
        }
        assert!(is_secret_key("db.password") && is_secret_key("auth/token"));
    }

    #[test]
    fn the_key_in_use_is_scrubbed_wherever_it_appears_but_not_by_shape() {
        let key = "local-0123456789abcdefghijklmnopqrstuvwxyz0123";
        let s = Scrubber::new([key, "", "short"]);
        let commit = "4f1c0a9e8b7d6c5b4a39281706f5e4d3c2b1a098";
        let mut items = vec![
            ("note".to_owned(), Value::from(format!("key is {key}!"))),
            (
                "nested".to_owned(),
                Value::map([("l", Value::List(vec![Value::from(key)]))]),
            ),
            ("db_password".to_owned(), Value::from("hunter2")),
            ("commit".to_owned(), Value::from(commit)),
            ("short".to_owned(), Value::from("short")),
        ];
        s.config(&mut items, true);
        let json = Value::Map(items).to_json();
        assert!(!json.contains(key) && !json.contains("hunter2"), "{json}");
        assert!(
            json.contains(commit) && json.contains(r#""short":"short""#),
            "{json}"
        );
        assert!(!format!("{s:?}").contains(key));
    }

    #[test]
    fn a_secret_inside_a_longer_one_does_not_cut_it_up() {
        let (short, long) = ("abcdefgh12", "abcdefgh12-and-more-secret");
        let s = Scrubber::new([short, long]);
        let out = s.text(&format!("x {long} y {short} z"));
        assert_eq!(out, format!("x {REDACTED} y {REDACTED} z"));
    }

    #[test]
    fn secret_arguments_are_hidden_by_flag_name_and_by_value() {
        let key = "0123456789abcdefghijklmnopqrstuvwxyz0123";
        let s = Scrubber::new([key]);
        let args: Vec<String> = [
            "--api-key",
            "sk-live-1",
            "--token=abc",
            "-password",
            "pw",
            "--lr",
            "0.1",
            "HF_TOKEN=xyz",
            &format!("--note={key}"),
            "--verbose",
            "--max-tokens",
            "5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let got = s.args(&args);
        assert_eq!(
            got,
            [
                "--api-key",
                REDACTED,
                "--token=<redacted>",
                "-password",
                REDACTED,
                "--lr",
                "0.1",
                "HF_TOKEN=<redacted>",
                "--note=<redacted>",
                "--verbose",
                "--max-tokens",
                "5"
            ]
        );
    }
}
