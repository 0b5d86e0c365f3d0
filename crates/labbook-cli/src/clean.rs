//! `labbook clean`: delete synced runs that are old, or the oldest synced runs beyond a
//! size budget. A run being written is never deleted; one not synced only with `--force`.

use std::path::Path;

use anyhow::{Result, bail};

use crate::disk::{Kept, human_bytes, remove_run};
use crate::index::{RunInfo, discover};
use crate::run_log::State;

/// What `labbook clean` was asked.
pub(crate) struct CleanArgs {
    /// Delete runs started longer ago than this (seconds).
    pub older_than: Option<f64>,
    /// Delete the oldest runs until what is left fits in this many bytes.
    pub max_size: Option<u64>,
    pub dry_run: bool,
    /// Also delete runs that are not synced.
    pub force: bool,
}

pub(crate) fn clean(root: &Path, args: &CleanArgs) -> Result<()> {
    if args.older_than.is_none() && args.max_size.is_none() {
        bail!("say what to delete: --older-than AGE (e.g. 7d) and/or --max-size SIZE (e.g. 20GiB)");
    }
    let now = crate::commands::now_unix();
    let mut runs: Vec<RunInfo> = Vec::new();
    for dir in discover(root)? {
        match RunInfo::load(&dir) {
            Ok(info) => runs.push(info),
            Err(e) => eprintln!("labbook: skipping {}: {e:#}", dir.display()),
        }
    }
    runs.sort_by(|a, b| a.start_unix.total_cmp(&b.start_unix));
    let mut total: u64 = runs.iter().map(|r| r.bytes).sum();
    let (mut freed, mut deleted) = (0u64, 0usize);
    for r in &runs {
        let old = args.older_than.is_some_and(|age| now - r.start_unix > age);
        let over = args.max_size.is_some_and(|budget| total > budget);
        if !old && !over {
            continue;
        }
        let name = r.dir.display();
        // A writer's lock is the sure sign; a run by the official client has none, so a
        // log written to in the last minute without an exit record counts as live too.
        if labbook_core::run_is_live(&r.dir) || r.state(now) == State::Running {
            eprintln!("kept {name}: still being written");
            continue;
        }
        if !r.synced && !args.force {
            eprintln!("kept {name}: not synced (sync it first, or --force)");
            continue;
        }
        if args.dry_run {
            println!("would delete {name} ({})", human_bytes(r.bytes));
        } else {
            match remove_run(&r.dir)? {
                Ok(()) => println!("deleted {name} ({})", human_bytes(r.bytes)),
                Err(Kept::Live) => {
                    eprintln!("kept {name}: still being written");
                    continue;
                }
            }
        }
        total -= r.bytes;
        freed += r.bytes;
        deleted += 1;
    }
    let verb = if args.dry_run { "would free" } else { "freed" };
    eprintln!(
        "{deleted} run(s), {verb} {}; {} left",
        human_bytes(freed),
        human_bytes(total)
    );
    Ok(())
}
