//! The W&B API key: from the caller, `WANDB_API_KEY`, or netrc for the base URL's host.

use super::netrc::netrc_password;
use crate::error::{Error, Result};

/// Finds the API key for `base_url`: `explicit` (a setting), then `WANDB_API_KEY`, then the
/// netrc entry (`$NETRC`, `~/.netrc`, `~/_netrc`) whose `machine` is the URL's `host[:port]`.
/// `env` reads the environment (injectable for tests). The key is checked for W&B's
/// shape; errors never contain it.
///
/// ```
/// let key = "local-0123456789abcdefghijklmnopqrstuvwxyz0123";
/// let env = |name: &str| (name == "WANDB_API_KEY").then(|| key.to_owned());
/// assert_eq!(labbook_core::online::api_key(None, "https://api.wandb.ai", env)?, key);
/// let none = |_: &str| None;
/// assert!(labbook_core::online::api_key(Some("short"), "https://api.wandb.ai", none).is_err());
/// # Ok::<(), labbook_core::Error>(())
/// ```
pub fn api_key(
    explicit: Option<&str>,
    base_url: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<String> {
    api_key_and_source(explicit, base_url, env).map(|(key, _)| key)
}

/// [`api_key`] and where it was found (`WANDB_API_KEY`, `/home/me/.netrc (machine h)`).
pub(crate) fn api_key_and_source(
    explicit: Option<&str>,
    base_url: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(String, String)> {
    let (key, source) = if let Some(k) = explicit.filter(|k| !k.is_empty()) {
        (k.to_owned(), "the api_key setting".to_owned())
    } else if let Some(k) = env("WANDB_API_KEY").filter(|k| !k.is_empty()) {
        (k, "WANDB_API_KEY".to_owned())
    } else {
        let host = netloc(base_url);
        match netrc_password(&env, &host)? {
            Some((k, file)) => (k, format!("{} (machine {host})", file.display())),
            None => {
                return Err(Error::Auth(format!(
                    "no API key for {host}: set WANDB_API_KEY, pass one in the settings, or add `machine {host} login user password <key>` to ~/.netrc"
                )));
            }
        }
    };
    check_key_shape(&key).map_err(|why| Error::Auth(format!("the API key from {source} {why}")))?;
    Ok((key, source))
}

/// Every API key this process could be using for `base_url`, valid or not: `explicit`,
/// `WANDB_API_KEY` and the netrc entry. Used to scrub them from what a run records, so an
/// offline run never writes the key an online one would send.
pub(crate) fn known_keys(
    explicit: Option<&str>,
    base_url: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    let mut keys: Vec<String> = explicit.map(str::to_owned).into_iter().collect();
    keys.extend(env("WANDB_API_KEY"));
    if let Ok(Some((k, _))) = netrc_password(&env, &netloc(base_url)) {
        keys.push(k);
    }
    keys.retain(|k| !k.is_empty());
    keys
}

/// W&B's client-side check of a key's shape: an optional `<prefix>-`, then at least 40
/// of `[A-Za-z0-9_]`. The error says what is wrong, never the key.
///
/// ```
/// use labbook_core::online::check_key_shape;
/// assert!(check_key_shape("local-0123456789abcdefghijklmnopqrstuvwxyz0123").is_ok());
/// assert!(check_key_shape("abc").unwrap_err().contains("too short"));
/// ```
pub fn check_key_shape(key: &str) -> std::result::Result<(), &'static str> {
    let body = key.rsplit_once('-').map_or(key, |(_, b)| b);
    if body.len() < 40 {
        return Err("is too short (W&B keys have at least 40 characters after any prefix)");
    }
    if !body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("has characters other than letters, digits and _");
    }
    Ok(())
}

/// `host[:port]` of a URL, as netrc entries name machines.
pub(crate) fn netloc(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let hostport = &rest[..end];
    hostport
        .rsplit_once('@')
        .map_or(hostport, |(_, h)| h)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdefghijklmnopqrstuvwxyz0123";

    #[test]
    fn explicit_then_env_then_netrc_for_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let netrc = dir.path().join("netrc");
        std::fs::write(
            &netrc,
            format!("machine other.host login u password wrong\nmachine 127.0.0.1:8080\n  login user\n  password local-{KEY}\n"),
        )
        .unwrap();
        let path = netrc.display().to_string();
        let env = move |n: &str| (n == "NETRC").then(|| path.clone());
        let found = api_key(None, "http://127.0.0.1:8080/", &env).unwrap();
        assert_eq!(found, format!("local-{KEY}"));
        assert_eq!(
            api_key(Some(KEY), "http://127.0.0.1:8080", &env).unwrap(),
            KEY
        );
        let err = api_key(None, "https://api.wandb.ai", &env).unwrap_err();
        assert!(
            err.to_string().contains("no API key for api.wandb.ai"),
            "{err}"
        );
    }

    #[test]
    fn malformed_keys_are_refused_without_echoing_them() {
        let none = |_: &str| None;
        for bad in ["abc", "0123456789abcdefghijklmnopqrstuvwxyz012!secret"] {
            let err = api_key(Some(bad), "https://api.wandb.ai", none).unwrap_err();
            assert!(matches!(err, Error::Auth(_)));
            assert!(!err.to_string().contains(bad), "{err}");
        }
        assert_eq!(netloc("https://user@host:9/graphql"), "host:9");
    }
}
