//! `labbook sync`: upload offline runs to a W&B server, as `wandb sync` does, with the same
//! `.synced` marker so the two tools never upload a run twice.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use labbook_core::online::{self, SyncOptions, synced_marker};

/// What `labbook sync` was asked.
pub(crate) struct SyncArgs {
    pub paths: Vec<PathBuf>,
    pub dry_run: bool,
    pub include_synced: bool,
    pub include_online: bool,
    pub entity: Option<String>,
    pub project: Option<String>,
    pub base_url: Option<String>,
    pub parallel: usize,
    pub follow: bool,
    /// Delete each run directory once it is uploaded.
    pub clean: bool,
}

/// The `.wandb` logs under `path`: the file itself, a run directory's log, or every run's
/// log in a wandb directory (`<dir>/*/*.wandb`).
fn logs_under(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let in_dir = |dir: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "wandb") && p.is_file())
            .collect();
        v.sort();
        v
    };
    if !path.is_dir() {
        bail!("{}: no such file or directory", path.display());
    }
    let own = in_dir(path);
    if !own.is_empty() {
        return Ok(own);
    }
    let mut all = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        all.extend(in_dir(&d));
    }
    Ok(all)
}

/// Why a log is skipped, as `wandb sync`'s default filters decide.
fn skip_reason(log: &Path, args: &SyncArgs) -> Option<&'static str> {
    if !args.include_synced && synced_marker(log).exists() {
        return Some("already synced (--include-synced to sync it again)");
    }
    let online = log
        .parent()
        .and_then(|d| d.canonicalize().ok())
        .and_then(|d| {
            d.file_name()
                .map(|n| !n.to_string_lossy().starts_with("offline-"))
        })
        .unwrap_or(false);
    if online && !args.include_online {
        return Some("an online run (--include-online to sync it)");
    }
    let live = log.parent().is_some_and(labbook_core::run_is_live);
    if live && online {
        return Some("an online run still running: its own uploader sends it");
    }
    if live && !args.follow {
        return Some(
            "still being written by a running process (--follow to upload it as it grows)",
        );
    }
    None
}

pub(crate) fn sync(args: &SyncArgs) -> Result<()> {
    let roots = if args.paths.is_empty() {
        vec![std::env::var_os("WANDB_DIR").map_or_else(
            || PathBuf::from("wandb"),
            |d| PathBuf::from(d).join("wandb"),
        )]
    } else {
        args.paths.clone()
    };
    let mut todo = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for root in &roots {
        for log in logs_under(root)? {
            // `latest-run` links to a run listed under its own name too.
            let log = log.canonicalize().unwrap_or(log);
            if !seen.insert(log.clone()) {
                continue;
            }
            match skip_reason(&log, args) {
                Some(why) => eprintln!("skipping {}: {why}", log.display()),
                None => todo.push(log),
            }
        }
    }
    if todo.is_empty() {
        eprintln!("nothing to sync");
        return Ok(());
    }
    if args.dry_run {
        for log in &todo {
            println!("would sync {}", log.display());
        }
        return Ok(());
    }
    // As a run would: WANDB_BASE_URL (or `.env`), else the settings file `login --host`
    // wrote, else W&B's.
    let base_url = match &args.base_url {
        Some(u) => u.clone(),
        None => crate::account::settings().explain()?.base_url.value,
    };
    let key = online::api_key(None, &base_url, |n| std::env::var(n).ok())?;
    let mut opts = SyncOptions::new(&base_url, key);
    opts.entity = args.entity.clone();
    opts.project = args.project.clone();
    opts.follow = args.follow;
    let bars = indicatif::MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} rows {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let queue = std::sync::Mutex::new(todo.into_iter());
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..args.parallel.max(1) {
            s.spawn(|| {
                loop {
                    let Some(log) = queue.lock().unwrap_or_else(|e| e.into_inner()).next() else {
                        break;
                    };
                    let bar = bars.add(ProgressBar::new(0).with_style(style.clone()));
                    let name = log.parent().and_then(|p| p.file_name()).map_or_else(
                        || log.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    );
                    bar.set_prefix(name.clone());
                    let result = online::sync_run(&log, &opts, &mut |p| {
                        bar.set_length(p.total_rows);
                        bar.set_position(p.rows);
                        bar.set_message(format!("{:.1} MiB", p.bytes as f64 / (1 << 20) as f64));
                    });
                    match result {
                        Ok(r) => {
                            bar.finish_with_message(format!(
                                "synced: {}/{}/{} ({} rows, {} files, {} artifacts, {:.1} MiB)",
                                r.entity,
                                r.project,
                                r.run_id,
                                r.rows,
                                r.files,
                                r.artifacts,
                                r.bytes as f64 / (1 << 20) as f64
                            ));
                            for w in &r.warnings {
                                eprintln!("warning: {name}: {w}");
                            }
                            if args.clean {
                                clean_after_sync(&log);
                            }
                            if bars.is_hidden() {
                                println!(
                                    "synced {name}: {}/{}/{} ({} rows)",
                                    r.entity, r.project, r.run_id, r.rows
                                );
                            }
                        }
                        Err(e) => {
                            bar.abandon_with_message(format!("failed: {e}"));
                            failures
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(format!("{}: {e}", log.display()));
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    if !failures.is_empty() {
        bail!(
            "{} run(s) failed to sync:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// Deletes the directory of a run just uploaded (`--clean`); a run a writer took up again
/// meanwhile is kept.
fn clean_after_sync(log: &Path) {
    let Some(dir) = log.parent() else { return };
    match crate::disk::remove_run(dir) {
        Ok(Ok(())) => eprintln!("deleted {}", dir.display()),
        Ok(Err(crate::disk::Kept::Live)) => {
            eprintln!("kept {}: being written again", dir.display());
        }
        Err(e) => eprintln!("warning: {e:#}"),
    }
}
