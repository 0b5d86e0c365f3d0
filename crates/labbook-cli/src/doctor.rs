//! `labbook doctor`: what a "my run does not appear" hunt checks, one line per check with
//! the fix: the runs directory, the server (name, connection, TLS, proxies), the key, the
//! entity and project, and the clock.

use std::net::ToSocketAddrs as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use labbook_core::Explained;
use labbook_core::online;

/// How long one network check may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Free space below this is worth a warning: a run with media fills it in an afternoon.
const LOW_SPACE: u64 = 1 << 30;

/// How far the clocks may differ before run times and signed upload URLs go wrong.
const MAX_SKEW: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    Ok,
    Warn,
    Fail,
    Skip,
}

struct Check {
    verdict: Verdict,
    what: &'static str,
    detail: String,
    fix: String,
}

fn check(
    verdict: Verdict,
    what: &'static str,
    detail: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        verdict,
        what,
        detail: detail.into(),
        fix: fix.into(),
    }
}

pub(crate) fn doctor(offline: bool) -> Result<bool> {
    let e = crate::account::settings().explain()?;
    let mut checks = vec![runs_dir(&e.runs_dir.value)];
    let online = !offline && e.mode.value != labbook_core::Mode::Disabled;
    if online {
        checks.extend(server(&e));
    } else {
        checks.push(check(
            Verdict::Skip,
            "server",
            "not checked (--offline, or runs are disabled)",
            "",
        ));
    }
    let mut all_ok = true;
    for c in &checks {
        let tag = match c.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        };
        all_ok &= c.verdict != Verdict::Fail;
        if c.fix.is_empty() {
            println!("[{tag}] {}: {}", c.what, c.detail);
        } else {
            println!("[{tag}] {}: {} -> {}", c.what, c.detail, c.fix);
        }
    }
    Ok(all_ok)
}

fn runs_dir(dir: &Path) -> Check {
    const WHAT: &str = "runs directory";
    let fix = "set WANDB_DIR to a directory you can write, or fix its permissions";
    if let Err(e) = std::fs::create_dir_all(dir) {
        return check(
            Verdict::Fail,
            WHAT,
            format!("cannot create {}: {e}", dir.display()),
            fix,
        );
    }
    let probe = dir.join(format!(".labbook-doctor-{}", std::process::id()));
    if let Err(e) = std::fs::write(&probe, b"probe") {
        return check(
            Verdict::Fail,
            WHAT,
            format!("cannot write in {}: {e}", dir.display()),
            fix,
        );
    }
    let _ = std::fs::remove_file(&probe);
    match free_bytes(dir) {
        Some(free) if free < LOW_SPACE => check(
            Verdict::Warn,
            WHAT,
            format!(
                "{} is writable, {} free",
                dir.display(),
                crate::disk::human_bytes(free)
            ),
            "free some space: `labbook clean --synced-older-than 7d` removes synced runs",
        ),
        Some(free) => check(
            Verdict::Ok,
            WHAT,
            format!(
                "{} is writable, {} free",
                dir.display(),
                crate::disk::human_bytes(free)
            ),
            "",
        ),
        None => check(
            Verdict::Ok,
            WHAT,
            format!("{} is writable", dir.display()),
            "",
        ),
    }
}

fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the struct for a NUL-terminated path or fails.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// The server checks, in the order a failure hides the next: name, connection, an
/// answer (TLS, proxies), the clock, the key, the entity and project.
fn server(e: &Explained) -> Vec<Check> {
    let base = &e.base_url.value;
    let mut out = Vec::new();
    let proxies: Vec<String> = [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
    ]
    .iter()
    .filter_map(|v| {
        std::env::var(v)
            .ok()
            .filter(|x| !x.is_empty())
            .map(|x| format!("{v}={x}"))
    })
    .collect();
    if !proxies.is_empty() {
        out.push(check(Verdict::Ok, "proxy", proxies.join(" "), ""));
    }
    let machine = online::netrc_machine(base);
    let secure = base.starts_with("https://");
    let addr = if machine.contains(':') {
        machine.clone()
    } else {
        format!("{machine}:{}", if secure { 443 } else { 80 })
    };
    let fix_url = format!("check the server URL ({})", e.base_url.from);
    let addrs: Vec<std::net::SocketAddr> = match addr.to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(err) => {
            out.push(check(
                Verdict::Fail,
                "server name",
                format!("{machine} does not resolve: {err}"),
                fix_url,
            ));
            return out;
        }
    };
    out.push(check(
        Verdict::Ok,
        "server name",
        format!(
            "{machine} is {}",
            addrs.first().map(ToString::to_string).unwrap_or_default()
        ),
        "",
    ));
    // Through a proxy the server itself may be unreachable from here, and that is fine.
    if proxies.is_empty()
        && !addrs
            .iter()
            .any(|a| std::net::TcpStream::connect_timeout(a, TIMEOUT).is_ok())
    {
        out.push(check(
            Verdict::Fail,
            "connection",
            format!("nothing answers on {addr}"),
            format!("is the server up? {fix_url}; a firewall may need HTTPS_PROXY"),
        ));
        return out;
    }
    let answer = reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .and_then(|c| c.get(format!("{base}/healthz")).send());
    let date = match answer {
        Ok(r) => {
            out.push(check(
                Verdict::Ok,
                "connection",
                format!(
                    "{base} answers (HTTP {}{})",
                    r.status().as_u16(),
                    if secure { ", TLS ok" } else { "" }
                ),
                "",
            ));
            r.headers()
                .get(reqwest::header::DATE)
                .and_then(|d| d.to_str().ok())
                .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
        }
        Err(err) => {
            let fix = if secure {
                "a TLS error means a proxy or certificate is in the way: set HTTPS_PROXY, or check the system's certificates"
            } else {
                "check the server and any proxy (HTTP_PROXY)"
            };
            out.push(check(
                Verdict::Fail,
                "connection",
                format!("{base}: {err}"),
                fix,
            ));
            return out;
        }
    };
    out.push(clock(date.map(SystemTime::from)));
    out.extend(key_and_entity(e));
    out
}

fn clock(server: Option<SystemTime>) -> Check {
    const WHAT: &str = "clock";
    let Some(server) = server else {
        return check(
            Verdict::Skip,
            WHAT,
            "the server sent no Date to compare with",
            "",
        );
    };
    let now = SystemTime::now();
    let skew = now
        .duration_since(server)
        .or_else(|e| Ok::<_, ()>(e.duration()))
        .unwrap_or_default();
    if skew > MAX_SKEW {
        check(
            Verdict::Fail,
            WHAT,
            format!(
                "this machine's clock is {} s off the server's",
                skew.as_secs()
            ),
            "sync the clock (e.g. `timedatectl set-ntp true`)",
        )
    } else {
        check(
            Verdict::Ok,
            WHAT,
            format!("within {} s of the server's", skew.as_secs().max(1)),
            "",
        )
    }
}

fn key_and_entity(e: &Explained) -> Vec<Check> {
    let key = match &e.api_key {
        Ok(k) => k,
        Err(why) => {
            return vec![check(
                Verdict::Fail,
                "api key",
                why.clone(),
                "run `labbook login`, or set WANDB_API_KEY",
            )];
        }
    };
    let account = match online::viewer(&e.base_url.value, key.key.expose(), TIMEOUT) {
        Ok(a) => a,
        Err(labbook_core::Error::Auth(why)) => {
            return vec![check(
                Verdict::Fail,
                "api key",
                format!("...{} from {} is refused: {why}", key.last4(), key.from),
                "run `labbook login --relogin` with a current key",
            )];
        }
        Err(other) => {
            return vec![check(
                Verdict::Fail,
                "api key",
                format!("could not be checked: {other}"),
                "",
            )];
        }
    };
    let mut out = vec![check(
        Verdict::Ok,
        "api key",
        format!(
            "...{} from {}: user {}",
            key.last4(),
            key.from,
            account.username
        ),
        "",
    )];
    let entity = &e.entity.value;
    if account.can_write(entity) {
        let shown = if entity.is_empty() {
            &account.entity
        } else {
            entity
        };
        out.push(check(
            Verdict::Ok,
            "entity",
            format!("{shown} can be written by {}", account.username),
            "",
        ));
    } else {
        let mut may = vec![account.entity.clone()];
        may.extend(account.teams.iter().cloned());
        out.push(check(
            Verdict::Fail,
            "entity",
            format!(
                "{} ({}) is not {}'s nor one of their teams'",
                entity, e.entity.from, account.username
            ),
            format!("set WANDB_ENTITY to one of: {}", may.join(", ")),
        ));
    }
    if e.project.value.is_empty() {
        out.push(check(
            Verdict::Warn,
            "project",
            "none set: runs go to \"uncategorized\"",
            "set WANDB_PROJECT, or Settings::new(\"project\")",
        ));
    } else {
        out.push(check(
            Verdict::Ok,
            "project",
            format!(
                "{} ({}); created on the first run if new",
                e.project.value, e.project.from
            ),
            "",
        ));
    }
    out
}
