//! The records kept per run and per artifact, and the request log.

use std::collections::BTreeMap;

use serde_json::Value;

use super::parse_lenient;

/// Identifies a run: entity, project and run id (the W&B run "name").
///
/// ```
/// use labbook_server::RunKey;
/// let key = RunKey::new("ent", "proj", "abc123");
/// assert_eq!(key.run, "abc123");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunKey {
    /// The entity (user or team).
    pub entity: String,
    /// The project.
    pub project: String,
    /// The run id.
    pub run: String,
}

impl RunKey {
    /// A key from its three parts.
    pub fn new(
        entity: impl Into<String>,
        project: impl Into<String>,
        run: impl Into<String>,
    ) -> RunKey {
        RunKey {
            entity: entity.into(),
            project: project.into(),
            run: run.into(),
        }
    }
}

/// One line of a JSON lines file as received, and its parsed value (`None` if it is not
/// JSON even with W&B's bare `NaN`/`Infinity`; see [`parse_lenient`]).
///
/// ```
/// use labbook_server::JsonLine;
/// let line = JsonLine::parse(r#"{"_step":0,"loss":NaN}"#);
/// assert_eq!(line.json.unwrap()["loss"], "NaN");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct JsonLine {
    /// The line exactly as sent.
    pub raw: String,
    /// The parsed line.
    pub json: Option<Value>,
}

impl JsonLine {
    /// Keeps `raw` and parses it leniently.
    pub fn parse(raw: impl Into<String>) -> JsonLine {
        let raw = raw.into();
        let json = parse_lenient(&raw).ok();
        JsonLine { raw, json }
    }

    /// The value at `key` of a parsed object line.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.json.as_ref().and_then(|j| j.get(key))
    }
}

/// An alert sent with `NotifyScriptableRunAlert`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Title.
    pub title: String,
    /// Text.
    pub text: String,
    /// Severity (`INFO`, `WARN`, `ERROR`), if sent.
    pub severity: Option<String>,
    /// Wait duration in milliseconds, if sent.
    pub wait_duration: Option<Value>,
}

/// Everything received about one run.
///
/// ```
/// use labbook_server::{MemoryStorage, RunKey, Storage};
///
/// let storage = MemoryStorage::new();
/// storage.update_run(&RunKey::new("e", "p", "r"), &mut |run| {
///     run.config = Some(serde_json::json!({"lr": {"value": 0.1}}));
/// });
/// let run = storage.run("e", "p", "r").unwrap();
/// assert_eq!(run.config_value("lr"), Some(&serde_json::json!(0.1)));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunState {
    /// Entity.
    pub entity: String,
    /// Project.
    pub project: String,
    /// Run id (W&B "name").
    pub name: String,
    /// The server's id for the run (UpsertBucket `bucket.id`).
    pub storage_id: String,
    /// Display name (given or generated).
    pub display_name: Option<String>,
    /// The config as last sent: `{"key": {"value": v}, ...}`.
    pub config: Option<Value>,
    /// Tags.
    pub tags: Vec<String>,
    /// Group.
    pub group: Option<String>,
    /// Job type.
    pub job_type: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// Host name.
    pub host: Option<String>,
    /// Program.
    pub program: Option<String>,
    /// Sweep id.
    pub sweep: Option<String>,
    /// Git commit.
    pub commit: Option<String>,
    /// Git repository.
    pub repo: Option<String>,
    /// How many UpsertBucket calls named this run.
    pub upserts: usize,
    /// `wandb-history.jsonl` lines.
    pub history: Vec<JsonLine>,
    /// `wandb-events.jsonl` lines (system metrics).
    pub events: Vec<JsonLine>,
    /// The latest `wandb-summary.json`.
    pub summary: Option<JsonLine>,
    /// `output.log` lines.
    pub output: Vec<String>,
    /// Lines of any other file sent through `file_stream`.
    pub other_streams: BTreeMap<String, Vec<String>>,
    /// Files uploaded with PUT, by path relative to the run's `files/`.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Paths reported in `file_stream` `uploaded`, in order.
    pub uploaded: Vec<String>,
    /// A `file_stream` request said `preempting`.
    pub preempting: bool,
    /// A `file_stream` request said `complete`.
    /// Someone asked the run to stop (the UI's Stop button): file_stream answers
    /// `"stopped": true` from now on.
    pub stop_requested: bool,
    pub complete: bool,
    /// The exit code sent with `complete`.
    pub exit_code: Option<i64>,
    /// Alerts.
    pub alerts: Vec<Alert>,
    /// Ids of artifacts the run used (UseArtifact).
    pub used_artifacts: Vec<String>,
}

impl RunState {
    pub(crate) fn new(key: RunKey) -> RunState {
        RunState {
            entity: key.entity,
            project: key.project,
            name: key.run,
            ..RunState::default()
        }
    }

    /// The run's key.
    pub fn key(&self) -> RunKey {
        RunKey::new(&self.entity, &self.project, &self.name)
    }

    /// `config[key].value`.
    pub fn config_value(&self, key: &str) -> Option<&Value> {
        self.config.as_ref()?.get(key)?.get("value")
    }

    /// The parsed summary object.
    pub fn summary_json(&self) -> Option<&Value> {
        self.summary.as_ref()?.json.as_ref()
    }

    /// The value of `key` in every history row that has it, in order.
    pub fn history_values(&self, key: &str) -> Vec<&Value> {
        self.history
            .iter()
            .filter_map(|line| line.get(key))
            .collect()
    }
}

/// An artifact created through the artifact mutations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArtifactState {
    /// The server's id.
    pub id: String,
    /// Entity.
    pub entity: Option<String>,
    /// Project.
    pub project: Option<String>,
    /// Artifact type (e.g. `dataset`).
    pub artifact_type: Option<String>,
    /// Collection name (the artifact's name without version).
    pub collection: Option<String>,
    /// The run that created it, if any.
    pub run: Option<String>,
    /// The digest sent by the client.
    pub digest: Option<String>,
    /// Aliases.
    pub aliases: Vec<String>,
    /// Metadata JSON text, if sent.
    pub metadata: Option<String>,
    /// `PENDING` until `CommitArtifact`, then `COMMITTED`.
    pub state: String,
    /// The uploaded manifest (`wandb_manifest.json`), raw and parsed.
    pub manifest: Option<JsonLine>,
    /// Files uploaded with PUT, by path inside the artifact.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Where the version is linked (registry collections, `LinkArtifact`).
    pub links: Vec<ArtifactLink>,
    /// Multipart uploads in progress, by upload id.
    pub multipart: BTreeMap<String, MultipartUpload>,
    /// Multipart uploads completed, by upload id: the file's base64 MD5.
    pub completed_uploads: BTreeMap<String, String>,
}

/// A file being uploaded in parts (CreateArtifactFiles with `uploadPartsInput`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MultipartUpload {
    /// The file's path inside the artifact.
    pub path: String,
    /// The whole file's base64 MD5, as announced in CreateArtifactFiles.
    pub md5: Option<String>,
    /// The hex MD5 the client announced for each part, in order.
    pub part_md5s: Vec<String>,
    /// The parts received, by part number.
    pub parts: BTreeMap<u64, Vec<u8>>,
}

/// A version linked into a portfolio (a registry collection) by `LinkArtifact`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArtifactLink {
    /// Entity of the portfolio.
    pub entity: String,
    /// Project of the portfolio (e.g. `model-registry`).
    pub project: String,
    /// The portfolio's name.
    pub portfolio: String,
    /// Aliases in the portfolio.
    pub aliases: Vec<String>,
    /// The version's index in the portfolio (`v0`, `v1`, ...).
    pub version_index: usize,
}

impl ArtifactState {
    pub(crate) fn new(id: &str) -> ArtifactState {
        ArtifactState {
            id: id.to_owned(),
            state: "PENDING".to_owned(),
            ..ArtifactState::default()
        }
    }
}

/// One request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLogEntry {
    /// HTTP method.
    pub method: String,
    /// Path (no query).
    pub path: String,
    /// GraphQL `operationName` (or the name sniffed from the query).
    pub operation: Option<String>,
    /// The status answered.
    pub status: u16,
}

/// A `file_stream` offset that did not continue exactly at the stored line count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetViolation {
    /// The run.
    pub run: RunKey,
    /// The file (`wandb-history.jsonl`, ...).
    pub file: String,
    /// The offset the server expected (lines stored so far).
    pub expected: usize,
    /// The offset the client sent.
    pub received: usize,
    /// How many lines came with it.
    pub lines: usize,
}
