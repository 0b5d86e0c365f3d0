//! The rows a [`MetaStore`](super::MetaStore) keeps and the intents it is handed: runs,
//! their line streams, artifacts and their versions. No bytes of files live here; those
//! are in a [`BlobStore`](super::BlobStore), named by [`BlobId`].

use serde_json::Value;

use super::parse_lenient;

/// Identifies a run: entity, project and run id (the W&B run "name").
///
/// ```
/// use labbook_server::store::RunKey;
/// let key = RunKey::new("ent", "proj", "abc123");
/// assert_eq!(key.run, "abc123");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
/// use labbook_server::store::JsonLine;
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

/// Where the bytes of a file are kept in a [`BlobStore`](super::BlobStore): its scope (an
/// entity) and the SHA-256 of its content, so the same bytes are stored once per scope.
///
/// ```
/// use labbook_server::store::BlobId;
/// let id = BlobId::of("ent", b"hello");
/// assert_eq!(id.as_str(), "ent/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(String);

impl BlobId {
    /// The id of `bytes` within `scope`.
    pub fn of(scope: &str, bytes: &[u8]) -> BlobId {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(bytes);
        let mut id = String::with_capacity(scope.len() + 65);
        id.push_str(scope);
        id.push('/');
        for b in digest {
            id.push_str(&format!("{b:02x}"));
        }
        BlobId(id)
    }

    /// The id of bytes within `scope` whose SHA-256 is `sha256` (64 hex digits, as a
    /// streaming hash gives it).
    pub fn from_sha256(scope: &str, sha256: &str) -> BlobId {
        BlobId(format!("{scope}/{sha256}"))
    }

    /// An id as a store kept it (`scope/sha256hex`).
    pub fn from_stored(id: String) -> BlobId {
        BlobId(id)
    }

    /// The scope (the entity the bytes belong to).
    pub fn scope(&self) -> &str {
        self.0.rsplit_once('/').map_or("", |(scope, _)| scope)
    }

    /// The SHA-256 of the bytes, in hex.
    pub fn sha256(&self) -> &str {
        self.0.rsplit_once('/').map_or(&self.0, |(_, sha)| sha)
    }

    /// `scope/sha256hex`.
    pub fn as_str(&self) -> &str {
        &self.0
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

/// What an `UpsertBucket` changes: only the fields that are `Some`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunPatch {
    /// The server's id for the run, set once when the run is created.
    pub storage_id: String,
    /// Display name, if sent.
    pub display_name: Option<String>,
    /// Display name for a run that has none yet (a generated one).
    pub default_display_name: Option<String>,
    /// The config, if sent.
    pub config: Option<Value>,
    /// Tags, if sent.
    pub tags: Option<Vec<String>>,
    /// Group, job type, notes, host, program, sweep, commit, repo, if sent.
    pub group: Option<String>,
    /// Job type.
    pub job_type: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// Host.
    pub host: Option<String>,
    /// Program.
    pub program: Option<String>,
    /// Sweep id.
    pub sweep: Option<String>,
    /// Git commit.
    pub commit: Option<String>,
    /// Git repository.
    pub repo: Option<String>,
    /// Whether this is an `UpsertBucket` (counted) or a run named by another request.
    pub counts_as_upsert: bool,
}

/// A run's row: what was upserted, its flags, its summary and how many lines each of its
/// streams holds. The lines themselves are read with [`MetaStore::lines`](super::MetaStore::lines).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunRecord {
    /// Entity, project and run id.
    pub key: RunKey,
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
    /// The latest `wandb-summary.json`.
    pub summary: Option<JsonLine>,
    /// Lines stored per stream: history, events, output.
    pub history_lines: usize,
    /// `wandb-events.jsonl` lines.
    pub events_lines: usize,
    /// `output.log` lines.
    pub output_lines: usize,
    /// Paths reported in `file_stream` `uploaded`, in order.
    pub uploaded: Vec<String>,
    /// A `file_stream` request said `preempting`.
    pub preempting: bool,
    /// Someone asked the run to stop (the UI's Stop button).
    pub stop_requested: bool,
    /// A `file_stream` request said `complete`.
    pub complete: bool,
    /// The exit code sent with `complete`.
    pub exit_code: Option<i64>,
    /// The run's log ended without an exit record once its writer was gone (an import
    /// from a watched directory found it so).
    pub crashed: bool,
    /// When a request first named the run (ms since the epoch; `None` for a run kept
    /// before the server recorded it).
    pub created_ms: Option<i64>,
    /// When the run last sent lines (ms since the epoch), or was created.
    pub heartbeat_ms: Option<i64>,
    /// Alerts, in order.
    pub alerts: Vec<Alert>,
    /// Ids of artifacts the run used (UseArtifact).
    pub used_artifacts: Vec<String>,
}

/// A stream of lines a run sends through `file_stream`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// `wandb-history.jsonl`: must continue exactly at the stored count.
    History,
    /// `wandb-events.jsonl` (system metrics): as history.
    Events,
    /// `output.log`: a chunk may start at or before the stored count and overwrites.
    Output,
    /// Any other file: as output.
    Other(String),
}

impl Stream {
    /// The stream a `file_stream` file name carries; `None` for the summary.
    pub fn from_file(name: &str) -> Option<Stream> {
        match name {
            "wandb-history.jsonl" => Some(Stream::History),
            "wandb-events.jsonl" => Some(Stream::Events),
            "wandb-summary.json" => None,
            "output.log" => Some(Stream::Output),
            other => Some(Stream::Other(other.to_owned())),
        }
    }

    /// The file name the clients send.
    pub fn file_name(&self) -> &str {
        match self {
            Stream::History => "wandb-history.jsonl",
            Stream::Events => "wandb-events.jsonl",
            Stream::Output => "output.log",
            Stream::Other(name) => name,
        }
    }

    /// Whether a chunk must continue exactly at the stored count (JSON rows), rather than
    /// overwrite from its offset (console lines).
    pub fn is_rows(&self) -> bool {
        matches!(self, Stream::History | Stream::Events)
    }
}

/// Lines of one stream starting at line `offset`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk {
    /// The line number of the first line.
    pub offset: usize,
    /// The lines.
    pub lines: Vec<String>,
}

/// One `file_stream` request, applied to a run at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamBatch {
    /// Chunks per stream.
    pub chunks: Vec<(Stream, Chunk)>,
    /// The new summary (the last line sent for `wandb-summary.json`), and whether its
    /// offset was other than 0.
    pub summary: Option<(String, usize)>,
    /// Paths reported uploaded.
    pub uploaded: Vec<String>,
    /// The run said it is being preempted.
    pub preempting: bool,
    /// The run said it is complete.
    pub complete: bool,
    /// Its exit code.
    pub exit_code: Option<i64>,
    /// With `complete`: the run crashed (its log has no exit record); a later `complete`
    /// without it clears it.
    pub crashed: bool,
}

/// How far a log in a watched directory is imported into a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPosition {
    /// The run it goes to.
    pub key: RunKey,
    /// Records ending at or before this byte of the log are stored.
    pub log_offset: u64,
    /// The offsets the next lines of history, events and output go at.
    pub offsets: [u64; 3],
    /// The whole run is imported (its last request, `complete`, was stored).
    pub done: bool,
}

/// A chunk that did not continue exactly at the stored line count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The file (`wandb-history.jsonl`, ...).
    pub file: String,
    /// The offset the server expected (lines stored so far).
    pub expected: usize,
    /// The offset the client sent.
    pub received: usize,
    /// How many lines came with it.
    pub lines: usize,
}

/// What storing a [`StreamBatch`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamOutcome {
    /// Chunks that skipped or repeated lines (stored anyway, by the rules of their stream).
    pub mismatches: Vec<Mismatch>,
    /// Whether the run was asked to stop.
    pub stop_requested: bool,
}

/// A new artifact version as `CreateArtifact` describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArtifactDraft {
    /// The id the version gets if it is new.
    pub id: String,
    /// Entity.
    pub entity: Option<String>,
    /// Project.
    pub project: Option<String>,
    /// Artifact type.
    pub artifact_type: Option<String>,
    /// Collection name.
    pub collection: Option<String>,
    /// The run creating it.
    pub run: Option<String>,
    /// The client's digest of the manifest.
    pub digest: Option<String>,
    /// Metadata JSON text.
    pub metadata: Option<String>,
    /// Aliases.
    pub aliases: Vec<String>,
}

/// What `create_artifact` did: a new version, or the committed version with the same
/// digest in the same collection (whose aliases grew by the draft's).
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// A new, pending version.
    New(ArtifactRecord),
    /// The version already there.
    Existing(ArtifactRecord),
}

/// An artifact version's row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArtifactRecord {
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
    pub files: Vec<(String, BlobId)>,
    /// Where the version is linked (registry collections, `LinkArtifact`).
    pub links: Vec<ArtifactLink>,
}

impl ArtifactRecord {
    /// The blob of the file at `path`.
    pub fn file(&self, path: &str) -> Option<&BlobId> {
        self.files.iter().find(|(p, _)| p == path).map(|(_, b)| b)
    }

    /// Whether `CommitArtifact` was called.
    pub fn is_committed(&self) -> bool {
        self.state == "COMMITTED"
    }
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
    pub parts: Vec<(u64, BlobId)>,
    /// Once completed: the file's base64 MD5 (a retried completion gets the same answer).
    pub completed: Option<String>,
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

/// Who a request acts for: its key's user, whether they administer the server (and may
/// use every entity), and the teams they belong to.
///
/// ```
/// use labbook_server::store::Caller;
/// let ada = Caller { user: "ada".into(), admin: false, teams: vec!["vision".into()] };
/// assert!(ada.may_use("ada") && ada.may_use("vision") && !ada.may_use("bob"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The user, also the entity of their own runs.
    pub user: String,
    /// May use every entity.
    pub admin: bool,
    /// The teams (entities) they belong to.
    pub teams: Vec<String>,
}

impl Caller {
    /// Whether they may read and write runs and artifacts of `entity`.
    pub fn may_use(&self, entity: &str) -> bool {
        self.admin || self.user == entity || self.teams.iter().any(|t| t == entity)
    }
}

/// Where in a project a collection or portfolio lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionKey {
    /// Entity.
    pub entity: String,
    /// Project.
    pub project: String,
    /// The collection (or portfolio) name.
    pub name: String,
}

/// How a webhook wants an alert written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookFormat {
    /// `{"text": ...}`, what Slack's (and Mattermost's) incoming webhooks take.
    Slack,
    /// The alert's fields as a JSON object, for any other receiver.
    Json,
}

impl HookFormat {
    /// The name used in the database and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            HookFormat::Slack => "slack",
            HookFormat::Json => "json",
        }
    }

    /// The format named `name`.
    pub fn parse(name: &str) -> Option<HookFormat> {
        match name {
            "slack" => Some(HookFormat::Slack),
            "json" => Some(HookFormat::Json),
            _ => None,
        }
    }
}

/// A webhook that the alerts of one project are delivered to.
///
/// ```
/// use labbook_server::store::{HookFormat, Webhook};
/// let hook = Webhook::new("lab", "vision", "https://hooks.example/T0", HookFormat::Slack);
/// assert_eq!(hook.format.as_str(), "slack");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The project's entity.
    pub entity: String,
    /// The project.
    pub project: String,
    /// Where to POST.
    pub url: String,
    /// How.
    pub format: HookFormat,
}

impl Webhook {
    /// A webhook for `entity/project`.
    pub fn new(
        entity: impl Into<String>,
        project: impl Into<String>,
        url: impl Into<String>,
        format: HookFormat,
    ) -> Webhook {
        Webhook {
            entity: entity.into(),
            project: project.into(),
            url: url.into(),
            format,
        }
    }
}

/// A POST waiting to be delivered: queued with the alert it tells of, in one transaction,
/// and kept until the receiver takes it or the retries run out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The queue's id for it (0 before it is queued).
    pub id: u64,
    /// Where to POST.
    pub url: String,
    /// The JSON body.
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
}
