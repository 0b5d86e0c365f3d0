//! `labbook login`, `logout` and `status`: the key in netrc and the server in the settings
//! file, as `wandb login` keeps them, and where every setting a run would use comes from.

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use labbook_core::online::{self, Account};
use labbook_core::{Explained, Settings};

/// The environment as the process started, before `.env` files were loaded into it.
pub(crate) static PROCESS_ENV: std::sync::OnceLock<Vec<(String, String)>> =
    std::sync::OnceLock::new();

/// Settings as `init` in this directory would resolve them, reading the `.env` files
/// itself so that each value names the file it came from.
pub(crate) fn settings() -> Settings {
    let s = Settings::default();
    match PROCESS_ENV.get() {
        Some(vars) => s.env_vars(vars.iter().cloned()),
        None => s,
    }
}

/// How long one check of a key may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// Reads a variable as `init` does (the process environment; `.env` files were loaded
/// into it at start).
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What `labbook login` was asked.
pub(crate) struct LoginArgs {
    pub host: Option<String>,
    pub relogin: bool,
}

pub(crate) fn login(args: &LoginArgs) -> Result<()> {
    let explained = settings().explain()?;
    let host = match &args.host {
        Some(h) => normalize_host(h)?,
        None => explained.base_url.value.clone(),
    };
    if !args.relogin
        && let Ok(key) = online::api_key(None, &host, env)
        && let Ok(who) = online::viewer(&host, &key, CHECK_TIMEOUT)
    {
        record_host(args.host.as_deref(), &host)?;
        eprintln!(
            "labbook: already logged in to {host} as {} (key ...{}); --relogin to use another key",
            who.username,
            last4(&key)
        );
        return Ok(());
    }
    let key = read_secret(&format!(
        "API key for {host} (find it in your user settings; input is hidden): "
    ))?;
    if key.is_empty() {
        bail!("no key given: paste the API key, or pipe it in (`labbook login < keyfile`)");
    }
    online::check_key_shape(&key).map_err(|why| anyhow::anyhow!("that API key {why}"))?;
    let who = online::viewer(&host, &key, CHECK_TIMEOUT)
        .map_err(|e| anyhow::anyhow!("the key was not stored: {e}"))?;
    let netrc = online::netrc_file(env)?;
    online::store_netrc_key(&netrc, &online::netrc_machine(&host), &key)?;
    record_host(args.host.as_deref(), &host)?;
    eprintln!(
        "labbook: logged in to {host} as {} (entity {}); the key is in {}",
        who.username,
        who.entity,
        netrc.display()
    );
    Ok(())
}

pub(crate) fn logout(host: Option<&str>) -> Result<()> {
    let host = match host {
        Some(h) => normalize_host(h)?,
        None => settings().explain()?.base_url.value,
    };
    let netrc = online::netrc_file(env)?;
    if online::remove_netrc_key(&netrc, &online::netrc_machine(&host))? {
        eprintln!(
            "labbook: the key for {host} is removed from {}",
            netrc.display()
        );
    } else {
        eprintln!("labbook: {} holds no key for {host}", netrc.display());
    }
    if env("WANDB_API_KEY").is_some_and(|k| !k.is_empty()) {
        eprintln!("labbook: WANDB_API_KEY is still set, and runs will use it");
    }
    Ok(())
}

fn normalize_host(h: &str) -> Result<String> {
    let h = h.trim().trim_end_matches('/');
    let with_scheme = if h.contains("://") {
        h.to_owned()
    } else {
        format!("https://{h}")
    };
    let rest = with_scheme.split_once("://").map_or("", |(_, r)| r);
    if rest.is_empty() || rest.starts_with(['/', ':']) {
        bail!("--host {h:?} is not a server URL (e.g. http://localhost:8080)");
    }
    Ok(with_scheme)
}

/// `wandb login --host` keeps the server in the global settings file, so later commands
/// and runs use it; W&B's own server is the default and is not written.
fn record_host(asked: Option<&str>, host: &str) -> Result<()> {
    if asked.is_none() {
        return Ok(());
    }
    let file = global_settings_file()?;
    let mut ini = if file.is_file() {
        ini::Ini::load_from_file(&file)
            .with_context(|| format!("cannot read {}", file.display()))?
    } else {
        ini::Ini::new()
    };
    if host == online::DEFAULT_BASE_URL {
        ini.delete_from(Some("default"), "base_url");
    } else {
        ini.with_section(Some("default")).set("base_url", host);
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    ini.write_to_file(&file)
        .with_context(|| format!("cannot write {}", file.display()))
}

/// `$WANDB_CONFIG_DIR/settings`, else `~/.config/wandb/settings`.
fn global_settings_file() -> Result<PathBuf> {
    if let Some(d) = env("WANDB_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(Path::new(&d).join("settings"));
    }
    let home = env("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set")?;
    Ok(Path::new(&home).join(".config/wandb/settings"))
}

fn last4(key: &str) -> String {
    let start = key.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
    key[start..].to_owned()
}

/// A line from stdin: on a terminal, after `prompt` and without echo; from a pipe, as is.
pub(crate) fn read_secret(prompt: &str) -> Result<String> {
    let mut line = String::new();
    let stdin = std::io::stdin();
    // SAFETY: isatty only looks at the descriptor.
    if unsafe { libc::isatty(0) } == 1 {
        // Echo goes off before the prompt shows: a key pasted the moment the prompt
        // appears is not echoed either.
        let _quiet = NoEcho::on(0);
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read it")?;
        eprintln!();
    } else {
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read it from stdin")?;
    }
    Ok(line.trim().to_owned())
}

/// The terminal's echo, off until dropped.
struct NoEcho {
    fd: i32,
    before: Option<libc::termios>,
}

impl NoEcho {
    fn on(fd: i32) -> NoEcho {
        // SAFETY: termios is plain data; tcgetattr fills it or fails, and then it is unused.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
            return NoEcho { fd, before: None };
        }
        let before = t;
        t.c_lflag &= !(libc::ECHO | libc::ECHONL);
        t.c_lflag |= libc::ICANON;
        // SAFETY: `t` came from tcgetattr on this descriptor.
        let ok = unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } == 0;
        NoEcho {
            fd,
            before: ok.then_some(before),
        }
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        if let Some(t) = &self.before {
            // SAFETY: restores the attributes read from this descriptor.
            unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, t) };
        }
    }
}

/// What `labbook status` was asked.
pub(crate) struct StatusArgs {
    pub json: bool,
    pub offline: bool,
}

/// The key check's outcome.
enum KeyCheck {
    Works(Account),
    Refused(String),
    Unchecked(String),
}

pub(crate) fn status(args: &StatusArgs) -> Result<()> {
    let e = settings().explain()?;
    let check = match &e.api_key {
        Err(why) => KeyCheck::Unchecked(why.clone()),
        Ok(_) if args.offline => KeyCheck::Unchecked("not checked (--offline)".into()),
        Ok(k) => match online::viewer(&e.base_url.value, k.key.expose(), CHECK_TIMEOUT) {
            Ok(a) => KeyCheck::Works(a),
            Err(labbook_core::Error::Auth(why)) => KeyCheck::Refused(why),
            Err(other) => KeyCheck::Unchecked(format!("server not reached: {other}")),
        },
    };
    let unsynced = crate::disk::unsynced(&e.runs_dir.value);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status_json(&e, &check, &unsynced))?
        );
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let line = |out: &mut std::io::StdoutLock<'_>, what: &str, value: &str, from: &str| {
        writeln!(out, "{what:<9} {value}  ({from})")
    };
    let mode = format!("{:?}", e.mode.value).to_lowercase();
    line(&mut out, "mode", &mode, &e.mode.from)?;
    line(
        &mut out,
        "project",
        or_dash(&e.project.value),
        &e.project.from,
    )?;
    line(&mut out, "entity", or_dash(&e.entity.value), &e.entity.from)?;
    line(&mut out, "server", &e.base_url.value, &e.base_url.from)?;
    match (&e.api_key, &check) {
        (Ok(k), KeyCheck::Works(a)) => line(
            &mut out,
            "api key",
            &format!(
                "...{} works: user {}, entity {}",
                k.last4(),
                a.username,
                a.entity
            ),
            &k.from,
        )?,
        (Ok(k), KeyCheck::Refused(why)) => {
            line(
                &mut out,
                "api key",
                &format!("...{} REFUSED: {why}", k.last4()),
                &k.from,
            )?;
        }
        (Ok(k), KeyCheck::Unchecked(why)) => {
            line(
                &mut out,
                "api key",
                &format!("...{} {why}", k.last4()),
                &k.from,
            )?;
        }
        (Err(why), _) => writeln!(out, "{:<9} none: {why}", "api key")?,
    }
    line(
        &mut out,
        "username",
        or_dash(&e.username.value),
        &e.username.from,
    )?;
    line(
        &mut out,
        "runs",
        &e.runs_dir.value.display().to_string(),
        &e.runs_dir.from,
    )?;
    writeln!(
        out,
        "{:<9} {} run(s) not synced, {}",
        "unsynced",
        unsynced.runs,
        crate::disk::human_bytes(unsynced.bytes)
    )?;
    Ok(())
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn status_json(
    e: &Explained,
    check: &KeyCheck,
    unsynced: &crate::disk::Unsynced,
) -> serde_json::Value {
    let sourced = |v: &str, from: &str| serde_json::json!({"value": v, "from": from});
    let key = match &e.api_key {
        Ok(k) => {
            let (state, detail) = match check {
                KeyCheck::Works(a) => (
                    "works",
                    serde_json::json!({"username": a.username, "entity": a.entity, "teams": a.teams}),
                ),
                KeyCheck::Refused(why) => ("refused", serde_json::json!(why)),
                KeyCheck::Unchecked(why) => ("unchecked", serde_json::json!(why)),
            };
            serde_json::json!({"last4": k.last4(), "from": k.from, "state": state, "detail": detail})
        }
        Err(why) => serde_json::json!({"state": "missing", "detail": why}),
    };
    serde_json::json!({
        "mode": sourced(&format!("{:?}", e.mode.value).to_lowercase(), &e.mode.from),
        "project": sourced(&e.project.value, &e.project.from),
        "entity": sourced(&e.entity.value, &e.entity.from),
        "base_url": sourced(&e.base_url.value, &e.base_url.from),
        "api_key": key,
        "username": sourced(&e.username.value, &e.username.from),
        "runs_dir": sourced(&e.runs_dir.value.display().to_string(), &e.runs_dir.from),
        "unsynced": {"runs": unsynced.runs, "bytes": unsynced.bytes},
    })
}
