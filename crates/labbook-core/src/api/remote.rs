//! The read API on a W&B-protocol server: the queries of W&B's public API (`Runs`, `Run`,
//! `HistoryPage`, `SampledHistoryPage`, `RunFullHistory`, `RunFiles`, `RunOutputArtifacts`
//! and `RunInputArtifacts`), answered by `labbook serve` and by W&B's own servers.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value as J, json};

use super::local::plain_config;
use super::{ArtifactInfo, Query, Row, Rows, RunFile, RunInfo, RunState};
use crate::error::{Error, Result};
use crate::online::{Client, OnlineSettings, RetryPolicy, Secret, SystemClock, on_own_thread};

/// Rows asked for per history page (W&B's own page size).
const PAGE_ROWS: i64 = 1000;

/// Runs asked for per page.
const RUNS_PER_PAGE: u32 = 100;

/// The fields of a run read back (W&B's `RunFragment`, less what is not used).
const RUN_FIELDS: &str = "fragment RunFields on Run { id name displayName state config group jobType createdAt heartbeatAt notes tags summaryMetrics historyKeys }";

const RUNS: &str = "query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, $order: String, $filters: JSONString) { project(name: $project, entityName: $entity) { runCount(filters: $filters) runs(filters: $filters, after: $cursor, first: $perPage, order: $order) { edges { node { ...RunFields } cursor } pageInfo { endCursor hasNextPage } } } }";

const RUN: &str = "query Run($project: String!, $entity: String!, $name: String!) { project(name: $project, entityName: $entity) { run(name: $name) { ...RunFields } } }";

const HISTORY_PAGE: &str = "query HistoryPage($entity: String!, $project: String!, $run: String!, $minStep: Int64!, $maxStep: Int64!, $pageSize: Int!) { project(name: $project, entityName: $entity) { run(name: $run) { history(minStep: $minStep, maxStep: $maxStep, samples: $pageSize) } } }";

const SAMPLED_HISTORY_PAGE: &str = "query SampledHistoryPage($entity: String!, $project: String!, $run: String!, $spec: JSONString!) { project(name: $project, entityName: $entity) { run(name: $run) { sampledHistory(specs: [$spec]) } } }";

const HISTORY_KEYS: &str = "query RunHistoryKeys($entity: String!, $project: String!, $name: String!) { project(name: $project, entityName: $entity) { run(name: $name) { historyKeys } } }";

const EVENTS: &str = "query RunFullHistory($project: String!, $entity: String!, $name: String!, $samples: Int) { project(name: $project, entityName: $entity) { run(name: $name) { events(samples: $samples) } } }";

const FILES: &str = "query RunFiles($project: String!, $entity: String!, $name: String!, $fileCursor: String, $fileLimit: Int = 50, $fileNames: [String] = [], $upload: Boolean = false, $pattern: String) { project(name: $project, entityName: $entity) { run(name: $name) { fileCount files(names: $fileNames, after: $fileCursor, first: $fileLimit, pattern: $pattern) { edges { node { name url(upload: $upload) sizeBytes md5 } cursor } pageInfo { endCursor hasNextPage } } } } }";

const ARTIFACTS: &str = "{ project(name: $project, entityName: $entity) { run(name: $run) { artifacts: ARTIFACTS(after: $cursor, first: $perPage) { totalCount pageInfo { endCursor hasNextPage } edges { node { id digest versionIndex artifactType { name } artifactSequence { name project { name entity { name } } } } } } } } }";

/// System-metric rows asked for at once (all of a run's, in practice: one every 15 s is
/// 40,000 in a week).
const SYSTEM_SAMPLES: u64 = 1_000_000;

/// A server and the key to read it with.
#[derive(Debug)]
pub(super) struct Server {
    settings: OnlineSettings,
    client: Arc<Client>,
}

/// Which run, on the server.
#[derive(Clone, Debug)]
struct RunPath {
    entity: String,
    project: String,
    id: String,
}

impl RunPath {
    fn of(run: &RunInfo) -> RunPath {
        RunPath {
            entity: run.entity.clone(),
            project: run.project.clone(),
            id: run.id.clone(),
        }
    }

    fn vars(&self, run_var: &str) -> serde_json::Map<String, J> {
        let mut m = serde_json::Map::new();
        m.insert("entity".into(), J::from(self.entity.as_str()));
        m.insert("project".into(), J::from(self.project.as_str()));
        m.insert(run_var.into(), J::from(self.id.as_str()));
        m
    }
}

fn missing(what: &str, answer: &J) -> Error {
    let mut text = answer.to_string();
    text.truncate(200);
    Error::Read(format!("the server's answer has no {what}: {text}"))
}

/// `entity/project`, both parts there.
fn split_project(path: &str) -> Result<(String, String)> {
    match path.split_once('/') {
        Some((e, p)) if !e.is_empty() && !p.is_empty() && !p.contains('/') => {
            Ok((e.to_owned(), p.to_owned()))
        }
        _ => Err(Error::Read(format!(
            "{path:?} is not a project path: give it as entity/project"
        ))),
    }
}

/// A time as W&B writes it (`2026-12-03T18:07:11Z`, or without the zone), Unix seconds.
fn iso_seconds(v: &J) -> Option<f64> {
    let text = v.as_str()?;
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| t.and_utc().timestamp_millis())
        })
        .ok()?;
    Some(t as f64 / 1000.0)
}

/// A JSONString field as an object (`{}` when absent or not one).
fn json_string_object(v: &J) -> BTreeMap<String, J> {
    match v.as_str().map(crate::wire::json::parse) {
        Some(Ok(J::Object(m))) => m.into_iter().collect(),
        _ => match v {
            J::Object(m) => m.clone().into_iter().collect(),
            _ => BTreeMap::new(),
        },
    }
}

fn run_info(node: &J, entity: &str, project: &str) -> Result<RunInfo> {
    let text = |k: &str| node[k].as_str().unwrap_or_default().to_owned();
    let id = node["name"]
        .as_str()
        .ok_or_else(|| missing("run name", node))?
        .to_owned();
    let state = match node["state"].as_str() {
        Some(s) => RunState::parse(s)?,
        None => RunState::Running,
    };
    let history_keys = json_string_object(&node["historyKeys"]);
    Ok(RunInfo {
        id,
        name: text("displayName"),
        entity: entity.to_owned(),
        project: project.to_owned(),
        group: text("group"),
        job_type: text("jobType"),
        notes: text("notes"),
        tags: node["tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        state,
        created_at: iso_seconds(&node["createdAt"]),
        heartbeat_at: iso_seconds(&node["heartbeatAt"]),
        config: plain_config(json_string_object(&node["config"])),
        summary: json_string_object(&node["summaryMetrics"]),
        last_step: history_keys
            .get("lastStep")
            .and_then(J::as_i64)
            .filter(|s| *s >= 0),
        dir: None,
    })
}

impl Server {
    pub(super) fn new(base_url: &str, key: &str) -> Result<Server> {
        let settings = OnlineSettings {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: Secret::new(key.to_owned()),
            upload_interval: std::time::Duration::from_secs(15),
            retry: RetryPolicy::default(),
            clock: Arc::new(SystemClock::new()),
        };
        let client = Arc::new(on_own_thread(|| settings.interactive_client())?);
        Ok(Server { settings, client })
    }

    fn call(&self, op: &str, doc: &str, vars: J) -> Result<J> {
        call(&self.client, op, doc, vars)
    }

    /// Every node of a Relay connection, page after page: `vars` gives a page's variables
    /// from its cursor (`null` for the first), `path` leads from the answer to the
    /// connection, `what` names it in an error.
    fn nodes(
        &self,
        (op, doc): (&str, &str),
        vars: impl Fn(J) -> J,
        path: &[&str],
        what: &str,
    ) -> Result<Vec<J>> {
        let (mut out, mut cursor) = (Vec::new(), J::Null);
        loop {
            let data = self.call(op, doc, vars(cursor))?;
            let page = path.iter().fold(&data, |v, k| &v[*k]);
            let edges = page["edges"]
                .as_array()
                .ok_or_else(|| missing(what, &data))?;
            out.extend(edges.iter().map(|e| e["node"].clone()));
            if page["pageInfo"]["hasNextPage"] != J::Bool(true) || edges.is_empty() {
                return Ok(out);
            }
            cursor = page["pageInfo"]["endCursor"].clone();
        }
    }

    pub(super) fn runs(&self, q: &Query) -> Result<Vec<RunInfo>> {
        let path = q.project_path().ok_or_else(|| {
            Error::Read("reading runs from a server needs the project: Query::new().project(\"entity/project\")".into())
        })?;
        let (entity, project) = split_project(path)?;
        let filters = q.server_filters().to_string();
        let doc = format!("{RUNS} {RUN_FIELDS}");
        let vars = |cursor| json!({"entity": entity, "project": project, "cursor": cursor, "perPage": RUNS_PER_PAGE, "order": q.server_order(), "filters": filters});
        self.nodes(
            ("Runs", &doc),
            vars,
            &["project", "runs"],
            &format!("project {entity}/{project}"),
        )?
        .iter()
        .map(|node| run_info(node, &entity, &project))
        .collect()
    }

    pub(super) fn run(&self, path: &str) -> Result<RunInfo> {
        let (project_path, id) = path.rsplit_once('/').ok_or_else(|| {
            Error::Read(format!(
                "{path:?} is not a run path: give it as entity/project/run-id"
            ))
        })?;
        let (entity, project) = split_project(project_path)?;
        let data = self.call(
            "Run",
            &format!("{RUN} {RUN_FIELDS}"),
            json!({"entity": entity, "project": project, "name": id}),
        )?;
        match &data["project"]["run"] {
            J::Null => Err(Error::Read(format!("no run {path} on the server"))),
            node => run_info(node, &entity, &project),
        }
    }

    pub(super) fn history(&self, run: &RunInfo, keys: &[&str]) -> Result<Rows> {
        let last = self.last_step(run)?;
        Ok(Rows::new(Pages {
            client: self.client.clone(),
            run: RunPath::of(run),
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            next: 0,
            last,
            buffer: VecDeque::new(),
            failed: false,
        }))
    }

    /// The step of the run's last row now (`historyKeys.lastStep`).
    fn last_step(&self, run: &RunInfo) -> Result<Option<i64>> {
        let data = self.call(
            "RunHistoryKeys",
            HISTORY_KEYS,
            J::Object(RunPath::of(run).vars("name")),
        )?;
        let keys = json_string_object(&data["project"]["run"]["historyKeys"]);
        Ok(keys.get("lastStep").and_then(J::as_i64).filter(|s| *s >= 0))
    }

    /// Every row from step `from` on, as the run stands now.
    pub(super) fn rows_from(&self, run: &RunInfo, from: i64) -> Result<Vec<Row>> {
        let mut pages = Pages {
            client: self.client.clone(),
            run: RunPath::of(run),
            keys: Vec::new(),
            next: from,
            last: self.last_step(run)?,
            buffer: VecDeque::new(),
            failed: false,
        };
        pages.by_ref().collect()
    }

    pub(super) fn system_metrics(&self, run: &RunInfo) -> Result<Rows> {
        let mut vars = RunPath::of(run).vars("name");
        vars.insert("samples".into(), J::from(SYSTEM_SAMPLES));
        let data = self.call("RunFullHistory", EVENTS, J::Object(vars))?;
        let lines = data["project"]["run"]["events"]
            .as_array()
            .ok_or_else(|| missing("events", &data))?;
        let rows: Vec<Result<Row>> = lines
            .iter()
            .map(|l| {
                l.as_str()
                    .map_or_else(|| Err(missing("event line", l)), Row::parse)
            })
            .collect();
        Ok(Rows::new(rows.into_iter()))
    }

    /// The run's files with their download URLs (only `names`, when given).
    fn file_pages(&self, run: &RunInfo, names: &[&str]) -> Result<Vec<(RunFile, String)>> {
        let vars = |cursor| {
            let mut vars = RunPath::of(run).vars("name");
            vars.insert("fileCursor".into(), cursor);
            vars.insert("fileLimit".into(), J::from(1000));
            vars.insert("fileNames".into(), json!(names));
            J::Object(vars)
        };
        let nodes = self.nodes(
            ("RunFiles", FILES),
            vars,
            &["project", "run", "files"],
            "files",
        )?;
        Ok(nodes
            .iter()
            .map(|n| {
                let file = RunFile {
                    name: n["name"].as_str().unwrap_or_default().to_owned(),
                    size: n["sizeBytes"].as_u64().unwrap_or(0),
                };
                (file, n["url"].as_str().unwrap_or_default().to_owned())
            })
            .collect())
    }

    pub(super) fn files(&self, run: &RunInfo) -> Result<Vec<RunFile>> {
        Ok(self
            .file_pages(run, &[])?
            .into_iter()
            .map(|(f, _)| f)
            .collect())
    }

    pub(super) fn download_file(&self, run: &RunInfo, name: &str, dest: &Path) -> Result<()> {
        let found = self.file_pages(run, &[name])?;
        let Some((file, url)) = found.into_iter().find(|(f, _)| f.name == name) else {
            return Err(Error::Read(format!("run {} has no file {name:?}", run.id)));
        };
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io("could not create", parent))?;
        }
        let client = self.client.clone();
        on_own_thread(move || {
            let mut resp = client.get(&url, Some(file.size))?;
            let tmp = dest.with_extension(format!("labbook-{}.part", std::process::id()));
            let mut out =
                std::fs::File::create(&tmp).map_err(Error::io("could not write", &tmp))?;
            std::io::copy(&mut resp, &mut out).map_err(Error::io("could not write", &tmp))?;
            std::fs::rename(&tmp, dest).map_err(Error::io("could not write", dest))
        })
    }

    pub(super) fn artifacts(&self, run: &RunInfo, logged: bool) -> Result<Vec<ArtifactInfo>> {
        let (op, field) = if logged {
            ("RunOutputArtifacts", "outputArtifacts")
        } else {
            ("RunInputArtifacts", "inputArtifacts")
        };
        let doc = format!(
            "query {op}($entity: String!, $project: String!, $run: String!, $cursor: String, $perPage: Int) {}",
            ARTIFACTS.replace("ARTIFACTS", field)
        );
        let vars = |cursor| {
            let mut vars = RunPath::of(run).vars("run");
            vars.insert("cursor".into(), cursor);
            vars.insert("perPage".into(), J::from(100));
            J::Object(vars)
        };
        let nodes = self.nodes(
            (op, &doc),
            vars,
            &["project", "run", "artifacts"],
            "artifacts",
        )?;
        Ok(nodes
            .iter()
            .map(|n| ArtifactInfo {
                name: n["artifactSequence"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                version: n["versionIndex"]
                    .as_u64()
                    .map_or_else(String::new, |i| format!("v{i}")),
                kind: n["artifactType"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                digest: n["digest"].as_str().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    pub(super) fn download_artifact(
        &self,
        run: &RunInfo,
        artifact: &ArtifactInfo,
        dest: &Path,
    ) -> Result<Vec<PathBuf>> {
        let version = if artifact.version.is_empty() {
            "latest"
        } else {
            &artifact.version
        };
        let shown = format!("{}:{version}", artifact.name);
        let wanted = crate::online::download::Wanted {
            entity: Some(run.entity.as_str()),
            project: &run.project,
            name: &artifact.name,
            shown: &shown,
        };
        let got =
            crate::online::download::download_to(&self.settings, &wanted, |_| dest.to_owned())?;
        let mut written: Vec<PathBuf> = got.files.iter().map(|f| got.dir.join(f)).collect();
        written.sort();
        Ok(written)
    }
}

fn call(client: &Client, op: &str, doc: &str, vars: J) -> Result<J> {
    on_own_thread(|| client.graphql(op, doc, vars))
}

/// A run's history read a page at a time, as `scan_history` reads it: steps
/// `[next, next + PAGE_ROWS)` per page, up to the last step.
struct Pages {
    client: Arc<Client>,
    run: RunPath,
    keys: Vec<String>,
    next: i64,
    last: Option<i64>,
    buffer: VecDeque<Row>,
    failed: bool,
}

impl Pages {
    fn fetch(&mut self) -> Result<()> {
        let from = self.next;
        let to = from.saturating_add(PAGE_ROWS);
        self.next = to;
        let mut vars = self.run.vars("run");
        let node = if self.keys.is_empty() {
            vars.insert("minStep".into(), J::from(from));
            vars.insert("maxStep".into(), J::from(to));
            vars.insert("pageSize".into(), J::from(PAGE_ROWS));
            let data = call(&self.client, "HistoryPage", HISTORY_PAGE, J::Object(vars))?;
            data["project"]["run"]["history"].clone()
        } else {
            let mut keys = self.keys.clone();
            keys.push("_step".into());
            // `maxStep` is inclusive here, as wandb-core sends it.
            let spec =
                json!({"keys": keys, "minStep": from, "maxStep": to - 1, "samples": PAGE_ROWS});
            vars.insert("spec".into(), J::from(spec.to_string()));
            let data = call(
                &self.client,
                "SampledHistoryPage",
                SAMPLED_HISTORY_PAGE,
                J::Object(vars),
            )?;
            data["project"]["run"]["sampledHistory"][0].clone()
        };
        let rows = node
            .as_array()
            .ok_or_else(|| missing("history rows", &node))?;
        for r in rows {
            let row = match r {
                J::String(line) => Row::parse(line)?,
                J::Object(m) => Row::from_values(m.clone().into_iter().collect()),
                other => return Err(missing("history row", other)),
            };
            let keys: Vec<&str> = self.keys.iter().map(String::as_str).collect();
            self.buffer.extend(row.keep(&keys));
        }
        Ok(())
    }
}

impl Iterator for Pages {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        while self.buffer.is_empty() {
            if self.failed || self.last.is_none_or(|last| self.next > last) {
                return None;
            }
            if let Err(e) = self.fetch() {
                self.failed = true;
                return Some(Err(e));
            }
        }
        self.buffer.pop_front().map(Ok)
    }
}
