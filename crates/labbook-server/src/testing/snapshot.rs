//! A run or an artifact with everything the server keeps of it in one value (rows, lines,
//! file bytes), for tests to compare with what a client sent.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::store::{Alert, ArtifactLink, JsonLine, MultipartUpload, RunKey, RunRecord};

/// Everything received about one run.
///
/// ```
/// use labbook_server::RunState;
/// let run = RunState::default();
/// assert!(run.history.is_empty());
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
    /// Someone asked the run to stop (the UI's Stop button): file_stream answers
    /// `"stopped": true` from now on.
    pub stop_requested: bool,
    /// A `file_stream` request said `complete`.
    pub complete: bool,
    /// The exit code sent with `complete`.
    pub exit_code: Option<i64>,
    /// Its log ended without an exit record once its writer was gone.
    pub crashed: bool,
    /// Alerts.
    pub alerts: Vec<Alert>,
    /// Ids of artifacts the run used (UseArtifact).
    pub used_artifacts: Vec<String>,
}

impl RunState {
    /// The row's fields; lines and files are filled in by the caller.
    pub(crate) fn from_record(run: RunRecord) -> RunState {
        RunState {
            entity: run.key.entity,
            project: run.key.project,
            name: run.key.run,
            storage_id: run.storage_id,
            display_name: run.display_name,
            config: run.config,
            tags: run.tags,
            group: run.group,
            job_type: run.job_type,
            notes: run.notes,
            host: run.host,
            program: run.program,
            sweep: run.sweep,
            commit: run.commit,
            repo: run.repo,
            upserts: run.upserts,
            summary: run.summary,
            uploaded: run.uploaded,
            preempting: run.preempting,
            stop_requested: run.stop_requested,
            complete: run.complete,
            exit_code: run.exit_code,
            crashed: run.crashed,
            alerts: run.alerts,
            used_artifacts: run.used_artifacts,
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

/// An artifact version with its files' bytes.
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
    /// Files uploaded, by path inside the artifact.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Where the version is linked (registry collections, `LinkArtifact`).
    pub links: Vec<ArtifactLink>,
    /// Multipart uploads still in progress, by upload id.
    pub multipart: BTreeMap<String, MultipartUpload>,
}
