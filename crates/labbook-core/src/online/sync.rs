//! `labbook sync`: uploading a run's transaction log to a W&B server as `wandb sync` does,
//! from the saved position (or what the server says it has), following a live run's log
//! when asked, and marking the log synced at the end. The requests are the uploader's.

use std::path::Path;

use prost::Message as _;

use super::position::{SavedPosition, UploadPosition};
use super::uploader::SyncProgress;
use crate::error::{Error, Result};
use crate::wire::proto::{Record, RecordType};
use crate::wire::upload::FirstPass;
use crate::wire::{LogEnd, LogItem, LogReader};

use super::SyncReport;
use super::markers::{mark_synced, write_syncstate};
use super::uploader::{SyncOptions, Uploader};

/// Reads the log once for what the first UpsertBucket needs; a log without a run record
/// cannot be uploaded.
fn scan(log: &Path) -> Result<FirstPass> {
    crate::wire::upload::first_pass(log)?.ok_or_else(|| Error::CorruptLog {
        path: log.to_owned(),
        reason: "no run record: nothing says which run this is".into(),
    })
}

/// Uploads the run in `log` (a `.wandb` file) and writes its `.synced` marker. The run's
/// files are the `files/` directory beside the log. `progress` is called after every
/// request.
///
/// The log is read as a stream, twice (once for the config the run starts with, once to
/// send), and files go up from disk, so memory does not grow with the run. An interrupted
/// upload goes on from its saved position (or, when that file cannot be trusted, from
/// what the server says it holds). A run still being written by a live process is not
/// uploaded ([`Error::RunInProgress`]) unless [`SyncOptions::follow`] is set.
pub fn sync_run(
    log: &Path,
    opts: &SyncOptions,
    progress: &mut dyn FnMut(SyncProgress),
) -> Result<SyncReport> {
    let run_dir = log.parent().unwrap_or(Path::new("."));
    let live = crate::store::run_is_live(run_dir);
    if live && !opts.follow {
        return Err(Error::RunInProgress {
            path: run_dir.to_owned(),
        });
    }
    let first = scan(log)?;
    write_syncstate(log, first.run.starting_step);
    let mut up = Uploader::new(opts, run_dir.join("files"))?;
    up.set_total_rows(first.whole.rows);
    up.opts.program = first.whole.program().map(str::to_owned);
    // A log still being written may gain config records: those are sent as they come.
    if !live {
        up.whole_config = Some(first.whole.config);
    }
    up.save_position_to(log);
    match UploadPosition::load(log)? {
        SavedPosition::None => {}
        SavedPosition::At(pos) => up.resume_from(pos),
        SavedPosition::AskServer(why) => {
            tracing::warn!(target: "labbook", "{why}; asking the server what it holds of the run");
            up.resume_from_server();
        }
    }
    // The run first: nothing can be sent before it exists on the server.
    up.feed(&RecordType::Run(first.run), first.run_end, progress)?;
    let end = if live {
        follow_log(log, run_dir, &mut up, first.run_end, progress)?
    } else {
        send_log(log, &mut up, first.run_end, progress)?
    };
    let report = up.finish(end, progress)?;
    mark_synced(log)?;
    Ok(report)
}

/// Feeds every record of a finished log (the run record aside, already fed).
fn send_log(
    log: &Path,
    up: &mut Uploader,
    run_end: u64,
    progress: &mut dyn FnMut(SyncProgress),
) -> Result<LogEnd> {
    let mut reader = LogReader::open(log)?;
    loop {
        let item = reader
            .next_record()
            .map_err(Error::io("could not read", log))?;
        let raw = match item {
            LogItem::Record(raw) => raw,
            LogItem::End(end) => return Ok(end),
        };
        let offset = raw.offset;
        let record = match Record::decode(raw.bytes) {
            Ok(r) => r,
            Err(e) => {
                return Ok(LogEnd::Corrupt {
                    offset,
                    reason: format!("record does not decode: {e}"),
                });
            }
        };
        let end = reader.position();
        if end == run_end {
            continue;
        }
        if let Some(r) = record.record_type {
            up.feed(&r, end, progress)?;
        }
    }
}

/// Feeds a log that its writer is still adding to, as the live uploader does, until the
/// exit record arrives or the writer is gone and the log holds nothing more.
fn follow_log(
    log: &Path,
    run_dir: &Path,
    up: &mut Uploader,
    run_end: u64,
    progress: &mut dyn FnMut(SyncProgress),
) -> Result<LogEnd> {
    let mut follower = crate::wire::LogFollower::new(log).batch_bytes(1 << 20);
    let mut last_flush = std::time::Instant::now();
    loop {
        let writer_gone = !crate::store::run_is_live(run_dir);
        let records = follower.poll_with_ends()?;
        let caught_up = records.is_empty();
        for (record, end) in records {
            if end == run_end {
                continue;
            }
            if let Some(r) = record.record_type {
                up.feed(&r, end, progress)?;
            }
        }
        if up.saw_exit() || (caught_up && writer_gone) {
            return Ok(LogEnd::Clean);
        }
        if last_flush.elapsed() >= FOLLOW_FLUSH {
            up.flush(progress)?;
            last_flush = std::time::Instant::now();
        }
        if caught_up {
            std::thread::sleep(FOLLOW_POLL);
        }
    }
}

/// How often a followed run's new lines go up, and how often its log is looked at.
const FOLLOW_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(200);
