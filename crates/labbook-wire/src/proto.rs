//! The `wandb_internal` protobuf messages labbook reads and writes.
//!
//! Written by hand from the field numbers of wandb 0.31's descriptors (see
//! `shared/wandb-protocol.md` §2), so no build script or `protoc` is needed. Only the fields
//! labbook uses are declared; prost skips the rest when reading files written by the official
//! client, so those records still decode.

#![allow(missing_docs)]

use prost_types::Timestamp;

/// The envelope of every entry in a `.wandb` file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Record {
    #[prost(int64, tag = "1")]
    pub num: i64,
    #[prost(
        oneof = "RecordType",
        tags = "2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 17, 18, 21, 23, 25, 26"
    )]
    pub record_type: Option<RecordType>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum RecordType {
    #[prost(message, tag = "2")]
    History(HistoryRecord),
    #[prost(message, tag = "3")]
    Summary(SummaryRecord),
    #[prost(message, tag = "5")]
    Config(ConfigRecord),
    #[prost(message, tag = "6")]
    Files(FilesRecord),
    #[prost(message, tag = "7")]
    Stats(StatsRecord),
    #[prost(message, tag = "8")]
    Artifact(ArtifactRecord),
    #[prost(message, tag = "10")]
    Alert(AlertRecord),
    #[prost(message, tag = "11")]
    Telemetry(TelemetryRecord),
    #[prost(message, tag = "12")]
    Metric(MetricRecord),
    #[prost(message, tag = "13")]
    OutputRaw(OutputRawRecord),
    #[prost(message, tag = "17")]
    Run(RunRecord),
    #[prost(message, tag = "18")]
    Exit(RunExitRecord),
    #[prost(message, tag = "21")]
    Header(HeaderRecord),
    #[prost(message, tag = "23")]
    Preempting(RunPreemptingRecord),
    #[prost(message, tag = "25")]
    UseArtifact(UseArtifactRecord),
    #[prost(message, tag = "26")]
    Environment(EnvironmentRecord),
}

/// The run used an artifact version (lineage): its server id when known (online), its
/// type and `name:vN`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UseArtifactRecord {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub r#type: String,
    #[prost(string, tag = "3")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderRecord {
    #[prost(message, optional, tag = "1")]
    pub version_info: Option<VersionInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionInfo {
    #[prost(string, tag = "1")]
    pub producer: String,
    #[prost(string, tag = "2")]
    pub min_consumer: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RunRecord {
    #[prost(string, tag = "1")]
    pub run_id: String,
    #[prost(string, tag = "2")]
    pub entity: String,
    #[prost(string, tag = "3")]
    pub project: String,
    #[prost(message, optional, tag = "4")]
    pub config: Option<ConfigRecord>,
    #[prost(string, tag = "6")]
    pub run_group: String,
    #[prost(string, tag = "7")]
    pub job_type: String,
    #[prost(string, tag = "8")]
    pub display_name: String,
    #[prost(string, tag = "9")]
    pub notes: String,
    #[prost(string, repeated, tag = "10")]
    pub tags: Vec<String>,
    #[prost(string, tag = "12")]
    pub sweep_id: String,
    #[prost(string, tag = "13")]
    pub host: String,
    #[prost(int64, tag = "14")]
    pub starting_step: i64,
    #[prost(message, optional, tag = "17")]
    pub start_time: Option<Timestamp>,
    #[prost(bool, tag = "18")]
    pub resumed: bool,
    #[prost(int32, tag = "20")]
    pub runtime: i32,
    #[prost(message, optional, tag = "21")]
    pub git: Option<GitRepoRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GitRepoRecord {
    #[prost(string, tag = "1")]
    pub remote_url: String,
    #[prost(string, tag = "2")]
    pub commit: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RunExitRecord {
    #[prost(int32, tag = "1")]
    pub exit_code: i32,
    #[prost(int32, tag = "2")]
    pub runtime: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RunPreemptingRecord {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryRecord {
    #[prost(message, repeated, tag = "1")]
    pub item: Vec<HistoryItem>,
    #[prost(message, optional, tag = "2")]
    pub step: Option<HistoryStep>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryItem {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, repeated, tag = "2")]
    pub nested_key: Vec<String>,
    #[prost(string, tag = "16")]
    pub value_json: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryStep {
    #[prost(int64, tag = "1")]
    pub num: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryRecord {
    #[prost(message, repeated, tag = "1")]
    pub update: Vec<SummaryItem>,
    #[prost(message, repeated, tag = "2")]
    pub remove: Vec<SummaryItem>,
}

/// Also used for config items: `ConfigItem` has the same field numbers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryItem {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, repeated, tag = "2")]
    pub nested_key: Vec<String>,
    #[prost(string, tag = "16")]
    pub value_json: String,
}

pub type ConfigItem = SummaryItem;

/// An artifact to create and commit (protocol §2.3, §5.5).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ArtifactRecord {
    #[prost(string, tag = "1")]
    pub run_id: String,
    #[prost(string, tag = "2")]
    pub project: String,
    #[prost(string, tag = "3")]
    pub entity: String,
    #[prost(string, tag = "4")]
    pub r#type: String,
    #[prost(string, tag = "5")]
    pub name: String,
    #[prost(string, tag = "6")]
    pub digest: String,
    #[prost(string, tag = "7")]
    pub description: String,
    #[prost(string, tag = "8")]
    pub metadata: String,
    #[prost(bool, tag = "9")]
    pub user_created: bool,
    #[prost(bool, tag = "10")]
    pub use_after_commit: bool,
    #[prost(string, repeated, tag = "11")]
    pub aliases: Vec<String>,
    #[prost(message, optional, tag = "12")]
    pub manifest: Option<ArtifactManifest>,
    #[prost(string, tag = "13")]
    pub distributed_id: String,
    #[prost(bool, tag = "14")]
    pub finalize: bool,
    #[prost(string, tag = "15")]
    pub client_id: String,
    #[prost(string, tag = "16")]
    pub sequence_client_id: String,
    #[prost(string, tag = "17")]
    pub base_id: String,
    #[prost(int64, tag = "18")]
    pub ttl_duration_seconds: i64,
    #[prost(string, repeated, tag = "19")]
    pub tags: Vec<String>,
    #[prost(string, tag = "20")]
    pub digest_algorithm: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ArtifactManifest {
    #[prost(int32, tag = "1")]
    pub version: i32,
    #[prost(string, tag = "2")]
    pub storage_policy: String,
    #[prost(message, repeated, tag = "3")]
    pub storage_policy_config: Vec<StoragePolicyConfigItem>,
    #[prost(message, repeated, tag = "4")]
    pub contents: Vec<ArtifactManifestEntry>,
    #[prost(string, tag = "5")]
    pub manifest_file_path: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StoragePolicyConfigItem {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value_json: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ArtifactManifestEntry {
    #[prost(string, tag = "1")]
    pub path: String,
    /// Base64 of the MD5 of the file bytes.
    #[prost(string, tag = "2")]
    pub digest: String,
    #[prost(string, tag = "3")]
    pub r#ref: String,
    #[prost(int64, tag = "4")]
    pub size: i64,
    #[prost(string, tag = "5")]
    pub mimetype: String,
    #[prost(string, tag = "6")]
    pub local_path: String,
    #[prost(string, tag = "7")]
    pub birth_artifact_id: String,
    #[prost(bool, tag = "8")]
    pub skip_cache: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfigRecord {
    #[prost(message, repeated, tag = "1")]
    pub update: Vec<ConfigItem>,
    #[prost(message, repeated, tag = "2")]
    pub remove: Vec<ConfigItem>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FilesRecord {
    #[prost(message, repeated, tag = "1")]
    pub files: Vec<FilesItem>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FilesItem {
    #[prost(string, tag = "1")]
    pub path: String,
    /// `NOW=0`, `END=1`, `LIVE=2`.
    #[prost(int32, tag = "2")]
    pub policy: i32,
    /// `OTHER=0`, `WANDB=1`, `MEDIA=2`, `ARTIFACT=3`.
    #[prost(int32, tag = "3")]
    pub r#type: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatsRecord {
    #[prost(int32, tag = "1")]
    pub stats_type: i32,
    #[prost(message, optional, tag = "2")]
    pub timestamp: Option<Timestamp>,
    #[prost(message, repeated, tag = "3")]
    pub item: Vec<StatsItem>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatsItem {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "16")]
    pub value_json: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AlertRecord {
    #[prost(string, tag = "1")]
    pub title: String,
    #[prost(string, tag = "2")]
    pub text: String,
    #[prost(string, tag = "3")]
    pub level: String,
    /// Milliseconds.
    #[prost(int64, tag = "4")]
    pub wait_duration: i64,
}

/// Only decoded so files from the official client read back; labbook does not write it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TelemetryRecord {
    #[prost(string, tag = "5")]
    pub cli_version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricRecord {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub glob_name: String,
    #[prost(string, tag = "4")]
    pub step_metric: String,
    #[prost(int32, tag = "5")]
    pub step_metric_index: i32,
    #[prost(message, optional, tag = "6")]
    pub options: Option<MetricOptions>,
    #[prost(message, optional, tag = "7")]
    pub summary: Option<MetricSummary>,
    /// `GOAL_UNSET=0`, `GOAL_MINIMIZE=1`, `GOAL_MAXIMIZE=2`.
    #[prost(int32, tag = "8")]
    pub goal: i32,
    /// `_control` in the proto.
    #[prost(message, optional, tag = "9")]
    pub control: Option<MetricControl>,
    #[prost(bool, tag = "10")]
    pub expanded_from_glob: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricOptions {
    #[prost(bool, tag = "1")]
    pub step_sync: bool,
    #[prost(bool, tag = "2")]
    pub hidden: bool,
    #[prost(bool, tag = "3")]
    pub defined: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricControl {
    #[prost(bool, tag = "1")]
    pub overwrite: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricSummary {
    #[prost(bool, tag = "1")]
    pub min: bool,
    #[prost(bool, tag = "2")]
    pub max: bool,
    #[prost(bool, tag = "3")]
    pub mean: bool,
    #[prost(bool, tag = "4")]
    pub best: bool,
    #[prost(bool, tag = "5")]
    pub last: bool,
    #[prost(bool, tag = "6")]
    pub none: bool,
    #[prost(bool, tag = "7")]
    pub copy: bool,
    #[prost(bool, tag = "8")]
    pub first: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OutputRawRecord {
    /// `STDERR=0`, `STDOUT=1`.
    #[prost(int32, tag = "1")]
    pub output_type: i32,
    #[prost(message, optional, tag = "2")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "3")]
    pub line: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EnvironmentRecord {
    #[prost(string, tag = "1")]
    pub os: String,
    #[prost(message, optional, tag = "3")]
    pub started_at: Option<Timestamp>,
    #[prost(string, repeated, tag = "5")]
    pub args: Vec<String>,
    #[prost(string, tag = "6")]
    pub program: String,
    #[prost(string, tag = "7")]
    pub code_path: String,
    #[prost(string, tag = "8")]
    pub code_path_local: String,
    #[prost(message, optional, tag = "9")]
    pub git: Option<GitRepoRecord>,
    #[prost(string, tag = "11")]
    pub root: String,
    #[prost(string, tag = "12")]
    pub host: String,
    #[prost(string, tag = "13")]
    pub username: String,
    #[prost(string, tag = "14")]
    pub executable: String,
    #[prost(uint32, tag = "16")]
    pub cpu_count: u32,
    #[prost(uint32, tag = "17")]
    pub cpu_count_logical: u32,
    /// `gpu` in the JSON form: the first GPU's name.
    #[prost(string, tag = "18")]
    pub gpu_type: String,
    #[prost(uint32, tag = "19")]
    pub gpu_count: u32,
    #[prost(map = "string, message", tag = "20")]
    pub disk: std::collections::HashMap<String, DiskInfo>,
    #[prost(message, optional, tag = "21")]
    pub memory: Option<MemoryInfo>,
    #[prost(message, optional, tag = "22")]
    pub cpu: Option<CpuInfo>,
    #[prost(message, repeated, tag = "24")]
    pub gpu_nvidia: Vec<GpuNvidiaInfo>,
    #[prost(string, tag = "25")]
    pub cuda_version: String,
    #[prost(map = "string, string", tag = "27")]
    pub slurm: std::collections::HashMap<String, String>,
    #[prost(string, tag = "199")]
    pub writer_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DiskInfo {
    #[prost(uint64, tag = "1")]
    pub total: u64,
    #[prost(uint64, tag = "2")]
    pub used: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GpuNvidiaInfo {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint64, tag = "2")]
    pub memory_total: u64,
    #[prost(uint32, tag = "3")]
    pub cuda_cores: u32,
    #[prost(string, tag = "4")]
    pub architecture: String,
    #[prost(string, tag = "5")]
    pub uuid: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MemoryInfo {
    #[prost(uint64, tag = "1")]
    pub total: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CpuInfo {
    #[prost(uint32, tag = "1")]
    pub count: u32,
    #[prost(uint32, tag = "2")]
    pub count_logical: u32,
    #[prost(string, tag = "3")]
    pub model: String,
}

/// A protobuf `Timestamp` from a Unix time in seconds.
pub fn timestamp(unix_secs: f64) -> Timestamp {
    let secs = unix_secs.floor();
    Timestamp {
        seconds: secs as i64,
        nanos: ((unix_secs - secs) * 1e9) as i32,
    }
}
