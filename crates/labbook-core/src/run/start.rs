//! How a run starts: settings resolved, an earlier run found (resume), the run directory
//! and its lock, the uploader, the queue, the system sampler and the worker thread, in
//! that order, so every part finds what it needs already there.

use std::sync::Arc;
use std::time::Instant;

use crate::artifact::using as artifact_use;
use crate::engine::queue::Shared;
use crate::engine::worker;
use crate::error::{Error, Result};
use crate::run::{ActiveParts, Names, Run, banner, lifecycle, resume};
use crate::settings::{Mode, Resolved, Settings};
use crate::store;
use crate::wire::ResumeFrom;
use crate::{online, system};

/// Starts the run `settings` describe (see [`crate::init`], which adds degrade mode).
pub(crate) fn start(settings: Settings) -> Result<Run> {
    let s = settings.resolve()?;
    match s.mode {
        Mode::Disabled => {
            let names = Names {
                name: s.writer.name,
                tags: s.writer.tags,
                notes: s.writer.notes,
            };
            return Ok(Run::disabled_with(
                s.writer.config,
                s.writer.run_id,
                s.writer.project,
                names,
            ));
        }
        Mode::Online | Mode::Offline => {}
    }
    let started = Instant::now();
    let now = chrono::Local::now();
    let resume_from = resume_point(&s)?;
    let (dir, file, lock) =
        store::RunDir::create(&s.root, &s.writer.run_id, now, s.online.is_some())?;
    // Held by the run, the worker and the uploader: released when the last of them ends, so
    // a finish that timed out does not let `labbook sync` take a run still being written.
    let lock = Arc::new(lock);
    let online = match &s.online {
        Some(o) => Some(online::Live::start(
            o,
            dir.log.clone(),
            dir.files.clone(),
            lock.clone(),
        )?),
        None => None,
    };
    for w in &s.config_warnings {
        tracing::warn!(target: "labbook", "{w}");
    }
    let shared = Arc::new(Shared::new(s.queue_bytes));
    let sink = system::Sink::new(&shared);
    let system = system::System::start(s.system.clone(), sink.clone());
    let start_step = resume_from.as_ref().map_or(0, |r| r.step);
    let resumed = resume_from.is_some();
    let run_dir = dir.clone();
    let start = worker::Start {
        settings: s.writer.clone(),
        dir,
        file,
        started,
        started_unix: now.timestamp_micros() as f64 / 1e6,
        resume: resume_from,
        now: Arc::new(Instant::now),
        lock: Some(lock.clone()),
    };
    let worker = spawn_worker(start, shared.clone())?;
    if !s.quiet {
        let server = s.online.as_ref().map(|o| o.base_url.as_str());
        banner::started(&s.writer.run_id, &s.writer.name, &run_dir.dir, server);
    }
    if s.handle_signals {
        lifecycle::handle_signals();
    }
    let threads = Threads {
        shared,
        worker,
        sink,
        system,
        online,
        lock,
    };
    Ok(Run::active(active_parts(
        s, run_dir, threads, started, start_step, resumed,
    )))
}

/// Where an earlier run with this id stopped, when the settings ask to resume: found in
/// the local run directories, else (online) on the server; `None` to start afresh.
fn resume_point(s: &Resolved) -> Result<Option<ResumeFrom>> {
    let Some(policy) = s.resume else {
        return Ok(None);
    };
    let w = &s.writer;
    let mut found = resume::local(&s.root, &w.run_id)?;
    if found.is_none()
        && let Some(o) = &s.online
    {
        found = online::remote_resume(o, &w.entity, &w.project, &w.run_id)?;
    }
    resume::decide(policy, found, &w.run_id)
}

fn spawn_worker(start: worker::Start, shared: Arc<Shared>) -> Result<std::thread::JoinHandle<()>> {
    let dir = start.dir.dir.clone();
    std::thread::Builder::new()
        .name("labbook-worker".into())
        .spawn(move || worker::run(start, shared))
        .map_err(Error::io("could not start the worker thread for", dir))
}

/// What the run's handle holds of the threads started for it.
struct Threads {
    shared: Arc<Shared>,
    worker: std::thread::JoinHandle<()>,
    sink: system::Sink,
    system: system::System,
    online: Option<online::Live>,
    lock: Arc<store::RunLock>,
}

fn active_parts(
    s: Resolved,
    dir: store::RunDir,
    t: Threads,
    started: Instant,
    start_step: u64,
    resumed: bool,
) -> ActiveParts {
    let wandb_dir = dir
        .dir
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let w = s.writer;
    ActiveParts {
        id: w.run_id,
        dir: dir.dir,
        files_dir: dir.files,
        names: Names {
            name: w.name.clone(),
            tags: w.tags.clone(),
            notes: w.notes.clone(),
        },
        shared: t.shared,
        config: w.config,
        redact_secrets: s.redact_secrets,
        scrubber: w.scrubber,
        warnings: s.config_warnings,
        worker: t.worker,
        on_error: s.on_error,
        backpressure: s.backpressure,
        finish_timeout: s.finish_timeout,
        quiet: s.quiet,
        started,
        sink: t.sink,
        system: t.system,
        online: t.online,
        start_step,
        lock: t.lock,
        artifacts: artifact_use::Sources {
            wandb_dir,
            download_dir: s.root.join("artifacts"),
            entity: w.entity,
            project: w.project,
            online: s.online,
            resumed,
        },
    }
}
