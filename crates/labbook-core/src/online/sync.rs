//! Uploading a run's transaction log to a W&B server, as `wandb sync` does: UpsertBucket
//! with the run and its config, file_stream with history, system events, console output
//! and the summary, run files through CreateRunFiles and PUT, alerts, and the final
//! `complete`/`exitcode`.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::client::{Client, RetryPolicy};
use super::lines::{self, Tree};
use crate::error::{Error, Result};
use crate::wire::proto::RecordType;
use crate::wire::{LogEnd, read_log};

const UPSERT_BUCKET: &str = "mutation UpsertBucket($id: String, $name: String, $project: String, $entity: String, $groupName: String, $description: String, $displayName: String, $notes: String, $commit: String, $config: JSONString, $host: String, $debug: Boolean, $program: String, $repo: String, $jobType: String, $state: String, $sweep: String, $tags: [String!], $summaryMetrics: JSONString) { upsertBucket(input: {id: $id, name: $name, groupName: $groupName, modelName: $project, entityName: $entity, description: $description, displayName: $displayName, notes: $notes, config: $config, commit: $commit, host: $host, debug: $debug, jobProgram: $program, jobRepo: $repo, jobType: $jobType, state: $state, sweep: $sweep, tags: $tags, summaryMetrics: $summaryMetrics}) { bucket { id name displayName description config sweepName project { id name entity { id name } } historyLineCount } inserted } }";
const CREATE_RUN_FILES: &str = "mutation CreateRunFiles($entity: String!, $project: String!, $run: String!, $files: [String!]!) { createRunFiles(input: {entityName: $entity, projectName: $project, runName: $run, files: $files}) { runID uploadHeaders files { name uploadUrl } } }";
const NOTIFY_ALERT: &str = "mutation NotifyScriptableRunAlert($entityName: String!, $projectName: String!, $runName: String!, $title: String!, $text: String!, $severity: AlertSeverity = INFO, $waitDuration: Duration) { notifyScriptableRunAlert(input: {entityName: $entityName, projectName: $projectName, runName: $runName, title: $title, text: $text, severity: $severity, waitDuration: $waitDuration}) { success } }";

/// Where and how [`sync_run`] uploads.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// The server, e.g. `https://api.wandb.ai`.
    pub base_url: String,
    /// The API key (see [`api_key`](super::api_key)).
    pub api_key: String,
    /// Uploads into this entity instead of the run's.
    pub entity: Option<String>,
    /// Uploads into this project instead of the run's.
    pub project: Option<String>,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
    /// Most bytes of lines in one file_stream request (W&B allows 10 MiB).
    pub max_request_bytes: usize,
}

impl SyncOptions {
    /// Options for `base_url` and `api_key`, with the run's own entity and project.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> SyncOptions {
        SyncOptions {
            base_url: base_url.into(),
            api_key: api_key.into(),
            entity: None,
            project: None,
            retry: RetryPolicy::default(),
            max_request_bytes: 4 << 20,
        }
    }
}

/// What one sync uploaded.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncReport {
    /// The run id.
    pub run_id: String,
    /// The entity and project the server put it in.
    pub entity: String,
    /// See `entity`.
    pub project: String,
    /// History rows sent.
    pub rows: u64,
    /// Bytes of file_stream lines and files sent.
    pub bytes: u64,
    /// Run files uploaded.
    pub files: usize,
    /// The exit code sent (1 when the log has no exit record: a crashed run).
    pub exit_code: i32,
    /// How the log ended (a torn or corrupt tail is uploaded up to the last whole record).
    pub log_end: LogEnd,
}

/// Progress of a sync, for a progress bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncProgress {
    /// History rows sent so far.
    pub rows: u64,
    /// Of this many.
    pub total_rows: u64,
    /// Bytes sent so far.
    pub bytes: u64,
}

/// The `.synced` marker of a log, as `wandb sync` writes it: `<file>.wandb.synced`.
pub fn synced_marker(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".synced");
    PathBuf::from(name)
}

/// Line buffers of the file_stream files, with their offsets.
#[derive(Default)]
struct Stream {
    history: Vec<String>,
    events: Vec<String>,
    output: Vec<String>,
    offsets: [u64; 3],
    bytes: usize,
}

impl Stream {
    fn body(&mut self, summary: Option<&str>, finish: Option<(&[String], i32)>) -> Vec<u8> {
        let mut files = serde_json::Map::new();
        let names = ["wandb-history.jsonl", "wandb-events.jsonl", "output.log"];
        let bufs = [&mut self.history, &mut self.events, &mut self.output];
        for ((name, buf), offset) in names.iter().zip(bufs).zip(self.offsets.iter_mut()) {
            if buf.is_empty() {
                continue;
            }
            let lines = std::mem::take(buf);
            let n = lines.len() as u64;
            files.insert(
                (*name).to_owned(),
                json!({"offset": *offset, "content": lines}),
            );
            *offset += n;
        }
        if let Some(s) = summary {
            files.insert(
                "wandb-summary.json".into(),
                json!({"offset": 0, "content": [s]}),
            );
        }
        self.bytes = 0;
        let mut body = json!({"files": files});
        if let Some((uploaded, exit_code)) = finish {
            body["uploaded"] = json!(uploaded);
            body["complete"] = json!(true);
            body["exitcode"] = json!(exit_code);
        }
        // History lines hold raw JSON text (NaN included): they travel as strings.
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

/// Uploads the run in `log` (a `.wandb` file) and writes its `.synced` marker. The run's
/// files are the `files/` directory beside the log. `progress` is called after every
/// request.
pub fn sync_run(
    log: &Path,
    opts: &SyncOptions,
    progress: &mut dyn FnMut(SyncProgress),
) -> Result<SyncReport> {
    let contents = read_log(log)?;
    let records: Vec<RecordType> = contents
        .records
        .into_iter()
        .filter_map(|r| r.record_type)
        .collect();
    let run = records
        .iter()
        .find_map(|r| match r {
            RecordType::Run(run) => Some(run.clone()),
            _ => None,
        })
        .ok_or_else(|| Error::CorruptLog {
            path: log.to_owned(),
            reason: "no run record: nothing says which run this is".into(),
        })?;
    let client = Client::new(&opts.base_url, &opts.api_key, opts.retry.clone())?;

    // The config as it ends: the run record's, then every config record.
    let mut config = Tree::default();
    if let Some(c) = &run.config {
        lines::apply_config(&mut config, c);
    }
    let mut program = None;
    for r in &records {
        match r {
            RecordType::Config(c) => lines::apply_config(&mut config, c),
            RecordType::Environment(e) if !e.program.is_empty() => {
                program = Some(e.program.clone())
            }
            _ => {}
        }
    }
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let vars = json!({
        "name": run.run_id,
        "project": opts.project.clone().or_else(|| nonempty(&run.project)),
        "entity": opts.entity.clone().or_else(|| nonempty(&run.entity)),
        "groupName": nonempty(&run.run_group),
        "displayName": nonempty(&run.display_name),
        "notes": nonempty(&run.notes),
        "jobType": nonempty(&run.job_type),
        "host": nonempty(&run.host),
        "sweep": nonempty(&run.sweep_id),
        "program": program,
        "tags": run.tags,
        "config": config.as_config().to_json(),
    });
    let data = client.graphql("UpsertBucket", UPSERT_BUCKET, vars)?;
    let bucket = &data["upsertBucket"]["bucket"];
    let entity = bucket["project"]["entity"]["name"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| opts.entity.clone())
        .unwrap_or_else(|| run.entity.clone());
    let project = bucket["project"]["name"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| run.project.clone());
    let run_id = bucket["name"].as_str().unwrap_or(&run.run_id).to_owned();

    let start = lines::start_time(&run);
    let total_rows = records
        .iter()
        .filter(|r| matches!(r, RecordType::History(_)))
        .count() as u64;
    let mut report = SyncReport {
        run_id: run_id.clone(),
        entity: entity.clone(),
        project: project.clone(),
        rows: 0,
        bytes: 0,
        files: 0,
        exit_code: 1,
        log_end: contents.end,
    };
    let mut stream = Stream::default();
    let mut summary = Tree::default();
    let mut last_step: Option<i64> = None;
    let mut exit = None;
    let send = |stream: &mut Stream,
                report: &mut SyncReport,
                progress: &mut dyn FnMut(SyncProgress)|
     -> Result<()> {
        let body = stream.body(None, None);
        report.bytes += body.len() as u64;
        client.file_stream(&entity, &project, &run_id, body)?;
        progress(SyncProgress {
            rows: report.rows,
            total_rows,
            bytes: report.bytes,
        });
        Ok(())
    };
    for r in &records {
        match r {
            RecordType::History(h) => {
                // As wandb sync: a step that does not advance becomes the previous + 1.
                let step = match (lines::history_step(h), last_step) {
                    (Some(s), Some(prev)) if s <= prev => prev + 1,
                    (Some(s), _) => s,
                    (None, prev) => prev.map_or(0, |p| p + 1),
                };
                last_step = Some(step);
                let line = lines::history_line(h, step);
                stream.bytes += line.len();
                stream.history.push(line);
                report.rows += 1;
            }
            RecordType::Stats(s) => {
                let line = lines::events_line(s, start);
                stream.bytes += line.len();
                stream.events.push(line);
            }
            RecordType::OutputRaw(o) => {
                for line in lines::output_lines(o) {
                    stream.bytes += line.len();
                    stream.output.push(line);
                }
            }
            RecordType::Summary(s) => lines::apply_summary(&mut summary, s),
            RecordType::Alert(a) => {
                let vars = json!({
                    "entityName": entity, "projectName": project, "runName": run_id,
                    "title": a.title, "text": a.text,
                    "severity": if a.level.is_empty() { "INFO" } else { a.level.as_str() },
                    "waitDuration": a.wait_duration,
                });
                client.graphql("NotifyScriptableRunAlert", NOTIFY_ALERT, vars)?;
            }
            RecordType::Exit(e) => exit = Some(e.exit_code),
            _ => {}
        }
        if stream.bytes >= opts.max_request_bytes {
            send(&mut stream, &mut report, progress)?;
        }
    }
    if let Some(step) = last_step {
        summary.set(&["_step"], &step.to_string());
    }
    report.exit_code = exit.unwrap_or(1);

    let files_dir = log.parent().map(|p| p.join("files")).unwrap_or_default();
    let summary_json = summary.to_json();
    if files_dir.is_dir() {
        // As wandb sync: the final summary is also a run file.
        std::fs::write(files_dir.join("wandb-summary.json"), &summary_json).map_err(Error::io(
            "could not write",
            files_dir.join("wandb-summary.json"),
        ))?;
    }
    let uploaded = upload_files(&client, &files_dir, &entity, &project, &run_id, &mut report)?;
    let body = stream.body(Some(&summary_json), Some((&uploaded, report.exit_code)));
    report.bytes += body.len() as u64;
    client.file_stream(&entity, &project, &run_id, body)?;
    progress(SyncProgress {
        rows: report.rows,
        total_rows,
        bytes: report.bytes,
    });
    let marker = synced_marker(log);
    std::fs::write(&marker, b"").map_err(Error::io("could not write", &marker))?;
    Ok(report)
}

/// Every file under `dir`, as paths relative to it with forward slashes, sorted.
fn run_files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::Io {
                    context: "could not list",
                    path: d,
                    source: e,
                });
            }
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn upload_files(
    client: &Client,
    dir: &Path,
    entity: &str,
    project: &str,
    run_id: &str,
    report: &mut SyncReport,
) -> Result<Vec<String>> {
    let files = run_files(dir)?;
    if files.is_empty() {
        return Ok(files);
    }
    let vars = json!({"entity": entity, "project": project, "run": run_id, "files": files});
    let data = client.graphql("CreateRunFiles", CREATE_RUN_FILES, vars)?;
    let answer = &data["createRunFiles"];
    let headers: Vec<String> = answer["uploadHeaders"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut uploaded = Vec::new();
    for f in answer["files"].as_array().into_iter().flatten() {
        let (Some(name), Some(url)) = (f["name"].as_str(), f["uploadUrl"].as_str()) else {
            continue; // no URL: the server does not want this file
        };
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(Error::io("could not read", &path))?;
        report.bytes += bytes.len() as u64;
        client.put(url, &headers, bytes)?;
        uploaded.push(name.to_owned());
        report.files += 1;
    }
    Ok(uploaded)
}
