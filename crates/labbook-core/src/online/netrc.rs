//! API keys in netrc, where `wandb login` keeps them: found for a host, stored with mode
//! 0600, removed.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The netrc file `login` writes: `$NETRC`, else `~/.netrc` (`env` reads variables).
pub fn netrc_file(env: impl Fn(&str) -> Option<String>) -> Result<PathBuf> {
    if let Some(p) = env("NETRC").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    match env("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Ok(Path::new(&h).join(".netrc")),
        None => Err(Error::Auth(
            "neither NETRC nor HOME is set: no netrc file to keep the key in".into(),
        )),
    }
}

/// The netrc `machine` of a base URL: its `host[:port]`.
///
/// ```
/// assert_eq!(labbook_core::online::netrc_machine("http://127.0.0.1:8080/"), "127.0.0.1:8080");
/// ```
pub fn netrc_machine(base_url: &str) -> String {
    super::auth::netloc(base_url)
}

/// Stores `key` for `machine` in `file` as `wandb login` does (`machine m / login user /
/// password key`), replacing that machine's entry and keeping every other line. The file
/// is written whole under a temporary name and renamed, with mode 0600 from its first byte.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let netrc = dir.path().join(".netrc");
/// labbook_core::online::store_netrc_key(&netrc, "127.0.0.1:8080", "local-0123456789abcdefghijklmnopqrstuvwxyz0123")?;
/// let env = |n: &str| (n == "NETRC").then(|| netrc.display().to_string());
/// let key = labbook_core::online::api_key(None, "http://127.0.0.1:8080", env)?;
/// assert!(key.ends_with("0123"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn store_netrc_key(file: &Path, machine: &str, key: &str) -> Result<()> {
    let mut text = without_machine(&read_or_empty(file)?, machine);
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "machine {machine}\n  login user\n  password {key}\n"
    ));
    write_private(file, &text)
}

/// Removes `machine`'s entry from `file`; `false` when it had none.
pub fn remove_netrc_key(file: &Path, machine: &str) -> Result<bool> {
    let before = read_or_empty(file)?;
    let after = without_machine(&before, machine);
    if after == before {
        return Ok(false);
    }
    write_private(file, &after)?;
    Ok(true)
}

fn read_or_empty(file: &Path) -> Result<String> {
    match std::fs::read_to_string(file) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Error::Auth(format!("cannot read {}: {e}", file.display()))),
    }
}

fn write_private(file: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = file.with_extension(format!("labbook-{}", std::process::id()));
    let failed = |e: std::io::Error| Error::Auth(format!("cannot write {}: {e}", file.display()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(failed)?;
    f.write_all(text.as_bytes()).map_err(failed)?;
    f.sync_all().map_err(failed)?;
    std::fs::rename(&tmp, file).map_err(failed)
}

/// `text` without the entry of `machine`: its `machine` token to the next `machine` or
/// `default`. Entries are cut on lines, as `wandb login` and editors write them.
fn without_machine(text: &str, machine: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        let mut tokens = line.split_whitespace();
        match tokens.next() {
            Some("machine") => skipping = tokens.next() == Some(machine),
            Some("default") => skipping = false,
            _ => {}
        }
        if !skipping {
            out.push_str(line);
        }
    }
    out
}

/// The password of `host` in the first netrc file that has one (`$NETRC`, else
/// `~/.netrc`, `~/_netrc`), with that file.
pub(crate) fn netrc_password(
    env: &impl Fn(&str) -> Option<String>,
    host: &str,
) -> Result<Option<(String, PathBuf)>> {
    let home = env("HOME").map(PathBuf::from);
    let candidates: Vec<PathBuf> = match env("NETRC") {
        Some(p) => vec![PathBuf::from(p)],
        None => home
            .iter()
            .flat_map(|h| [h.join(".netrc"), h.join("_netrc")])
            .collect(),
    };
    for file in candidates {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::Auth(format!("cannot read {}: {e}", file.display()))),
        };
        if let Some(p) = parse_netrc(&text, host) {
            return Ok(Some((p, file)));
        }
    }
    Ok(None)
}

/// The password of `machine host` in netrc text (tokens, any whitespace).
fn parse_netrc(text: &str, host: &str) -> Option<String> {
    let mut tokens = text.split_whitespace();
    let mut in_machine = false;
    while let Some(t) = tokens.next() {
        match t {
            "machine" => in_machine = tokens.next() == Some(host),
            "default" => in_machine = false,
            "password" if in_machine => return tokens.next().map(str::to_owned),
            "login" | "account" | "password" => {
                tokens.next();
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    const A: &str = "aaaa0123456789abcdefghijklmnopqrstuvwxyz0123";
    const B: &str = "bbbb0123456789abcdefghijklmnopqrstuvwxyz0123";

    #[test]
    fn storing_replaces_the_machine_keeps_the_rest_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(".netrc");
        std::fs::write(
            &f,
            "machine other\n  login me\n  password theirs\nmachine h:1 login user password old",
        )
        .unwrap();
        store_netrc_key(&f, "h:1", A).unwrap();
        store_netrc_key(&f, "h:1", B).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        assert_eq!(parse_netrc(&text, "h:1").as_deref(), Some(B));
        assert_eq!(parse_netrc(&text, "other").as_deref(), Some("theirs"));
        assert!(!text.contains(A) && !text.contains("old"), "{text}");
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );

        assert!(remove_netrc_key(&f, "h:1").unwrap());
        assert!(!remove_netrc_key(&f, "h:1").unwrap());
        let text = std::fs::read_to_string(&f).unwrap();
        assert_eq!(parse_netrc(&text, "h:1"), None);
        assert_eq!(parse_netrc(&text, "other").as_deref(), Some("theirs"));
    }

    #[test]
    fn the_file_is_netrc_else_home() {
        let env = |n: &str| (n == "HOME").then(|| "/home/x".to_owned());
        assert_eq!(netrc_file(env).unwrap(), Path::new("/home/x/.netrc"));
        let env = |n: &str| Some(format!("/{n}"));
        assert_eq!(netrc_file(env).unwrap(), Path::new("/NETRC"));
        assert!(netrc_file(|_: &str| None).is_err());
    }
}
