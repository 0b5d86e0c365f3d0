//! What runs take on disk: each run directory's size, and which are not yet synced.

use std::path::Path;

/// Bytes under `path`, symlinks not followed (a run's `latest-run` link counts nothing).
pub(crate) fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// `1.5 MiB`.
pub(crate) fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = b as f64;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{x:.1} {}", UNITS[unit])
    }
}

/// Runs in a runs directory that no sync has uploaded, and their size.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Unsynced {
    pub runs: usize,
    pub bytes: u64,
}

/// The runs under `wandb_dir` (`<root>/wandb`) whose log has no `.synced` marker.
pub(crate) fn unsynced(wandb_dir: &Path) -> Unsynced {
    let Some(root) = wandb_dir.parent() else {
        return Unsynced::default();
    };
    let dirs = crate::index::discover(root).unwrap_or_default();
    let mut u = Unsynced::default();
    for d in dirs {
        let synced = crate::run_log::log_file(&d)
            .is_ok_and(|log| labbook_core::online::synced_marker(&log).exists());
        if !synced {
            u.runs += 1;
            u.bytes += dir_bytes(&d);
        }
    }
    u
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(super::human_bytes(512), "512 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(3 << 30), "3.0 GiB");
    }
}

/// Why a run directory was not removed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kept {
    /// A process holds its lock: it is being written (or uploaded) now.
    Live,
}

/// Removes a run directory, holding its lock while it does so that no writer can start
/// on it meanwhile; a run whose writer holds the lock is kept. `latest-run`, if it pointed
/// here, is removed too.
pub(crate) fn remove_run(dir: &Path) -> anyhow::Result<Result<(), Kept>> {
    use anyhow::Context as _;
    let handle =
        std::fs::File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    match handle.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(Err(Kept::Live)),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", dir.display()));
        }
    }
    let real = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    std::fs::remove_dir_all(&real).with_context(|| format!("cannot remove {}", real.display()))?;
    if let Some(parent) = real.parent() {
        let latest = parent.join("latest-run");
        if std::fs::read_link(&latest).is_ok() && !latest.exists() {
            let _ = std::fs::remove_file(&latest);
        }
    }
    drop(handle);
    Ok(Ok(()))
}

/// A non-negative number and the letters after it: `7d` -> (7, "d"); `example` says what
/// was expected in the error.
fn number_and_unit<'a>(text: &'a str, example: &str) -> anyhow::Result<(f64, &'a str)> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let n = num
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| anyhow::anyhow!("{text:?} is not {example}"))?;
    Ok((n, unit))
}

/// `90s`, `30m`, `12h`, `7d`, `2w` as seconds (a bare number is days).
pub(crate) fn parse_age(text: &str) -> anyhow::Result<f64> {
    let (n, unit) = number_and_unit(text, "an age such as 7d, 12h or 30m")?;
    let secs = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" | "" => 86_400.0,
        "w" => 7.0 * 86_400.0,
        other => anyhow::bail!("{text:?}: unknown unit {other:?} (use s, m, h, d or w)"),
    };
    Ok(n * secs)
}

/// `500MB`, `10GiB`, `2G`, `1.5T` (decimal and binary prefixes; a bare number is bytes).
pub(crate) fn parse_size(text: &str) -> anyhow::Result<u64> {
    let (n, unit) = number_and_unit(text, "a size such as 500MB or 10GiB")?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        other => anyhow::bail!(
            "{text:?}: unknown unit {other:?} (use B, KB, MB, GB, TB or KiB, MiB, GiB, TiB)"
        ),
    };
    Ok((n * scale) as u64)
}

#[cfg(test)]
mod parse_tests {
    #[test]
    fn ages_and_sizes_parse_and_nonsense_is_named() {
        assert_eq!(super::parse_age("7d").unwrap(), 7.0 * 86_400.0);
        assert_eq!(super::parse_age("90s").unwrap(), 90.0);
        assert_eq!(super::parse_age("1.5h").unwrap(), 5400.0);
        assert!(
            super::parse_age("7y")
                .unwrap_err()
                .to_string()
                .contains("unknown unit")
        );
        assert!(super::parse_age("-1d").is_err());
        assert_eq!(super::parse_size("10GiB").unwrap(), 10 << 30);
        assert_eq!(super::parse_size("500MB").unwrap(), 500_000_000);
        assert_eq!(super::parse_size("123").unwrap(), 123);
        assert!(super::parse_size("lots").is_err());
    }
}
