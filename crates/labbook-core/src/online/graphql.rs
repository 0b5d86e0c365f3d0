//! Every GraphQL operation the client sends, in one place, each a struct of its variables:
//! the run (UpsertBucket, the resume query), its files, alerts, artifacts (create,
//! manifest, files, multipart, commit, use, link) and their download (the version, its
//! manifest, its file URLs, the viewer's entity). The documents are the official client's,
//! so a W&B server answers them as it answers it. A variable left `None` is sent as `null`,
//! as the official client sends it, which a W&B server reads as "not given".

use serde::Serialize;

/// One GraphQL operation: its name, its document, and (the type itself) its variables.
pub(crate) trait Operation: Serialize {
    /// The operation's name, sent as `operationName`.
    const NAME: &'static str;
    /// The query or mutation text.
    const DOCUMENT: &'static str;
}

/// Declares the operation a variables struct is for.
macro_rules! operation {
    ($ty:ty, $name:literal, $document:expr) => {
        impl Operation for $ty {
            const NAME: &'static str = $name;
            const DOCUMENT: &'static str = $document;
        }
    };
}

/// Creates or updates a run (W&B's "bucket"). The uploader sends everything at the start
/// and only what changed later.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpsertBucket<'a> {
    pub name: &'a str,
    pub project: Option<&'a str>,
    pub entity: Option<&'a str>,
    pub group_name: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub notes: Option<&'a str>,
    pub job_type: Option<&'a str>,
    pub host: Option<&'a str>,
    pub sweep: Option<&'a str>,
    pub program: Option<&'a str>,
    pub tags: Option<&'a [String]>,
    /// W&B's JSONString: the config as JSON text.
    pub config: Option<String>,
}
operation!(
    UpsertBucket<'_>,
    "UpsertBucket",
    "mutation UpsertBucket($id: String, $name: String, $project: String, $entity: String, $groupName: String, $description: String, $displayName: String, $notes: String, $commit: String, $config: JSONString, $host: String, $debug: Boolean, $program: String, $repo: String, $jobType: String, $state: String, $sweep: String, $tags: [String!], $summaryMetrics: JSONString) { upsertBucket(input: {id: $id, name: $name, groupName: $groupName, modelName: $project, entityName: $entity, description: $description, displayName: $displayName, notes: $notes, config: $config, commit: $commit, host: $host, debug: $debug, jobProgram: $program, jobRepo: $repo, jobType: $jobType, state: $state, sweep: $sweep, tags: $tags, summaryMetrics: $summaryMetrics}) { bucket { id name displayName description config sweepName project { id name entity { id name } } historyLineCount } inserted } }"
);

/// Asks for upload URLs of a run's files.
#[derive(Serialize)]
pub(crate) struct CreateRunFiles<'a> {
    pub entity: &'a str,
    pub project: &'a str,
    pub run: &'a str,
    pub files: &'a [String],
}
operation!(
    CreateRunFiles<'_>,
    "CreateRunFiles",
    "mutation CreateRunFiles($entity: String!, $project: String!, $run: String!, $files: [String!]!) { createRunFiles(input: {entityName: $entity, projectName: $project, runName: $run, files: $files}) { runID uploadHeaders files { name uploadUrl } } }"
);

/// An alert (`run.alert`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NotifyScriptableRunAlert<'a> {
    pub entity_name: &'a str,
    pub project_name: &'a str,
    pub run_name: &'a str,
    pub title: &'a str,
    pub text: &'a str,
    /// `INFO`, `WARN` or `ERROR`.
    pub severity: &'a str,
    /// Seconds to wait before another alert with this title.
    pub wait_duration: i64,
}
operation!(
    NotifyScriptableRunAlert<'_>,
    "NotifyScriptableRunAlert",
    "mutation NotifyScriptableRunAlert($entityName: String!, $projectName: String!, $runName: String!, $title: String!, $text: String!, $severity: AlertSeverity = INFO, $waitDuration: Duration) { notifyScriptableRunAlert(input: {entityName: $entityName, projectName: $projectName, runName: $runName, title: $title, text: $text, severity: $severity, waitDuration: $waitDuration}) { success } }"
);

/// What the server holds of a run, for resuming it.
#[derive(Serialize)]
pub(crate) struct RunResumeStatus<'a> {
    pub entity: Option<&'a str>,
    pub project: Option<&'a str>,
    pub name: &'a str,
}
operation!(
    RunResumeStatus<'_>,
    "RunResumeStatus",
    "query RunResumeStatus($project: String, $entity: String, $name: String!) { model(name: $project, entityName: $entity) { id name entity { id name } bucket(name: $name, missingOk: true) { id name summaryMetrics displayName logLineCount historyLineCount eventsLineCount historyTail eventsTail config tags notes wandbConfig(keys: [\"t\"]) } } }"
);

/// Creates an artifact version (or finds the committed one with the same digest).
#[derive(Serialize)]
pub(crate) struct CreateArtifact<'a> {
    pub input: ArtifactInput<'a>,
}
operation!(
    CreateArtifact<'_>,
    "CreateArtifact",
    "mutation CreateArtifact($input: CreateArtifactInput!) { createArtifact(input: $input) { artifact { id state artifactSequence { latestArtifact { id } } } } }"
);

/// `CreateArtifactInput`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ArtifactInput<'a> {
    pub entity_name: &'a str,
    pub project_name: &'a str,
    pub artifact_type_name: &'a str,
    pub artifact_collection_name: &'a str,
    /// `None` for a version built outside a run.
    pub run_name: Option<&'a str>,
    pub digest: &'a str,
    pub digest_algorithm: &'a str,
    pub description: Option<&'a str>,
    pub metadata: Option<&'a str>,
    pub aliases: Vec<AliasInput<'a>>,
    pub tags: Vec<TagInput<'a>>,
    pub enable_digest_deduplication: bool,
    #[serde(rename = "clientID")]
    pub client_id: &'a str,
    #[serde(rename = "sequenceClientID")]
    pub sequence_client_id: &'a str,
    #[serde(rename = "distributedID")]
    pub distributed_id: Option<&'a str>,
    pub ttl_duration_seconds: Option<i64>,
}

/// An alias of a version in a collection.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AliasInput<'a> {
    pub artifact_collection_name: &'a str,
    pub alias: &'a str,
}

/// A tag of a version.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TagInput<'a> {
    pub tag_name: &'a str,
}

/// Creates a version's manifest; with `include_upload`, asks where to upload it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateArtifactManifest<'a> {
    #[serde(rename = "artifactID")]
    pub artifact_id: &'a str,
    #[serde(rename = "baseArtifactID")]
    pub base_artifact_id: Option<&'a str>,
    pub name: &'a str,
    pub digest: &'a str,
    pub entity_name: &'a str,
    pub project_name: &'a str,
    pub run_name: &'a str,
    /// `FULL`: the manifest lists every entry.
    pub manifest_type: &'a str,
    pub include_upload: bool,
}
operation!(
    CreateArtifactManifest<'_>,
    "CreateArtifactManifest",
    "mutation CreateArtifactManifest($artifactID: ID!, $baseArtifactID: ID, $name: String!, $digest: String!, $entityName: String!, $projectName: String!, $runName: String!, $manifestType: ArtifactManifestType!, $includeUpload: Boolean!) { createArtifactManifest(input: {artifactID: $artifactID, baseArtifactID: $baseArtifactID, name: $name, digest: $digest, entityName: $entityName, projectName: $projectName, runName: $runName, type: $manifestType}) { artifactManifest { id file { id uploadUrl @include(if: $includeUpload) uploadHeaders @include(if: $includeUpload) } } } }"
);

/// Asks where to upload a batch of a version's files.
#[derive(Serialize)]
pub(crate) struct CreateArtifactFiles<'a> {
    pub input: ArtifactFilesInput<'a>,
}
operation!(
    CreateArtifactFiles<'_>,
    "CreateArtifactFiles",
    "mutation CreateArtifactFiles($input: CreateArtifactFilesInput!) { createArtifactFiles(input: $input) { files { edges { node { storagePath uploadUrl uploadHeaders uploadMultipartUrls { uploadID uploadUrlParts { partNumber uploadUrl } } artifact { id } } } } } }"
);

/// `CreateArtifactFilesInput`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ArtifactFilesInput<'a> {
    pub artifact_files: Vec<ArtifactFile<'a>>,
    /// `V2`: files are stored by content.
    pub storage_layout: &'a str,
}

/// One file of a version.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ArtifactFile<'a> {
    #[serde(rename = "artifactID")]
    pub artifact_id: &'a str,
    #[serde(rename = "artifactManifestID")]
    pub artifact_manifest_id: &'a str,
    pub name: &'a str,
    /// Base64 MD5 of the file.
    pub md5: &'a str,
    pub mimetype: Option<&'a str>,
    /// For a file uploaded in parts: each part's MD5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_parts_input: Option<Vec<Part<'a>>>,
}

/// One part of a file uploaded in parts.
#[derive(Serialize)]
pub(crate) struct Part<'a> {
    #[serde(rename = "partNumber")]
    pub part_number: usize,
    #[serde(rename = "hexMD5")]
    pub hex_md5: &'a str,
}

impl Part<'_> {
    /// The parts of a file from their MD5s (hex), numbered from 1.
    pub(crate) fn numbered(md5s: &[String]) -> Vec<Part<'_>> {
        md5s.iter()
            .enumerate()
            .map(|(i, md5)| Part {
                part_number: i + 1,
                hex_md5: md5,
            })
            .collect()
    }
}

/// Completes a file uploaded in parts.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CompleteMultipartUploadArtifact<'a> {
    /// `Complete`.
    pub complete_multipart_action: &'a str,
    /// Each part's ETag (or MD5), as `hexMD5`.
    pub completed_parts: Vec<Part<'a>>,
    #[serde(rename = "artifactID")]
    pub artifact_id: &'a str,
    pub storage_path: &'a str,
    #[serde(rename = "uploadID")]
    pub upload_id: &'a str,
}
operation!(
    CompleteMultipartUploadArtifact<'_>,
    "CompleteMultipartUploadArtifact",
    "mutation CompleteMultipartUploadArtifact($completeMultipartAction: CompleteMultipartAction!, $completedParts: [UploadPartsInput!]!, $artifactID: ID!, $storagePath: String!, $uploadID: String!) { completeMultipartUploadArtifact(input: {completeMultipartAction: $completeMultipartAction, completedParts: $completedParts, artifactID: $artifactID, storagePath: $storagePath, uploadID: $uploadID}) { digest } }"
);

/// Commits a version: its files are all there.
#[derive(Serialize)]
pub(crate) struct CommitArtifact<'a> {
    #[serde(rename = "artifactID")]
    pub artifact_id: &'a str,
}
operation!(
    CommitArtifact<'_>,
    "CommitArtifact",
    "mutation CommitArtifact($artifactID: ID!) { commitArtifact(input: {artifactID: $artifactID}) { artifact { id digest } } }"
);

/// Records that a run used a version (lineage).
#[derive(Serialize)]
pub(crate) struct UseArtifact<'a> {
    pub input: UseArtifactInput<'a>,
}
operation!(
    UseArtifact<'_>,
    "UseArtifact",
    "mutation UseArtifact($input: UseArtifactInput!) { useArtifact(input: $input) { artifact { id } } }"
);

/// `UseArtifactInput`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UseArtifactInput<'a> {
    #[serde(rename = "artifactID")]
    pub artifact_id: &'a str,
    pub entity_name: &'a str,
    pub project_name: &'a str,
    pub run_name: &'a str,
}

/// Links a version into a registry collection.
#[derive(Serialize)]
pub(crate) struct LinkArtifact<'a> {
    pub input: LinkArtifactInput<'a>,
}
operation!(
    LinkArtifact<'_>,
    "LinkArtifact",
    "mutation LinkArtifact($input: LinkArtifactInput!) { result: linkArtifact(input: $input) { versionIndex } }"
);

/// `LinkArtifactInput`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LinkArtifactInput<'a> {
    pub artifact_portfolio_name: &'a str,
    pub entity_name: &'a str,
    pub project_name: &'a str,
    pub aliases: Vec<AliasInput<'a>>,
    #[serde(rename = "artifactID")]
    pub artifact_id: &'a str,
}

/// A version by `name:alias` in a project: its id only (the uploader, for a use an offline
/// run recorded without the server's id).
#[derive(Serialize)]
pub(crate) struct FindArtifact<'a> {
    pub entity: &'a str,
    pub project: &'a str,
    pub name: &'a str,
}
operation!(
    FindArtifact<'_>,
    "ArtifactMembershipByName",
    "query ArtifactMembershipByName($entity: String!, $project: String!, $name: String!) { project(name: $project, entityName: $entity) { artifactCollectionMembership(name: $name) { artifact { id } } } }"
);

/// A version by `name:alias` in a project, with what downloading it needs.
#[derive(Serialize)]
pub(crate) struct ArtifactMembership<'a> {
    pub entity: &'a str,
    pub project: &'a str,
    pub name: &'a str,
}
operation!(
    ArtifactMembership<'_>,
    "ArtifactMembershipByName",
    "query ArtifactMembershipByName($entity: String!, $project: String!, $name: String!) { project(name: $project, entityName: $entity) { artifactCollectionMembership(name: $name) { versionIndex aliases { alias } artifactCollection { name project { name entity { name } } } artifact { id digest state artifactType { name } } } } }"
);

/// A version's metadata, without its files.
#[derive(Serialize)]
pub(crate) struct ArtifactMetadata<'a> {
    pub entity: Option<&'a str>,
    pub project: &'a str,
    pub name: &'a str,
}
operation!(
    ArtifactMetadata<'_>,
    "ArtifactMembershipByName",
    "query ArtifactMembershipByName($entity: String, $project: String!, $name: String!) { project(name: $project, entityName: $entity) { artifactCollectionMembership(name: $name) { artifact { id metadata } } } }"
);

/// Where a version's manifest can be downloaded.
#[derive(Serialize)]
pub(crate) struct FetchArtifactManifest<'a> {
    pub id: &'a str,
}
operation!(
    FetchArtifactManifest<'_>,
    "FetchArtifactManifest",
    "query FetchArtifactManifest($id: ID!) { artifact(id: $id) { currentManifest { file { directUrl } } } }"
);

/// One page of a version's files with their download URLs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ArtifactFileUrls<'a> {
    pub entity: &'a str,
    pub project: &'a str,
    pub collection: &'a str,
    pub alias: &'a str,
    pub cursor: Option<&'a str>,
    pub per_page: u32,
}
operation!(
    ArtifactFileUrls<'_>,
    "GetArtifactMembershipFileUrls",
    "query GetArtifactMembershipFileUrls($entity: String!, $project: String!, $collection: String!, $alias: String!, $cursor: String, $perPage: Int) { project(name: $project, entityName: $entity) { artifactCollection(name: $collection) { artifactMembership(aliasName: $alias) { files(after: $cursor, first: $perPage) { pageInfo { endCursor hasNextPage } edges { node { name directUrl } } } } } } }"
);

/// The key's own entity (the default for a version named without one).
#[derive(Serialize, Default)]
pub(crate) struct Viewer {}
operation!(Viewer, "Viewer", "query Viewer { viewer { id entity } }");

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables are the official client's names, `None` is `null`, and the file of a
    /// small upload carries no parts.
    #[test]
    fn variables_serialize_with_the_official_names() {
        let tags = vec!["a".to_owned()];
        let v = serde_json::to_value(UpsertBucket {
            name: "r1",
            display_name: Some("run one"),
            tags: Some(&tags),
            ..UpsertBucket::default()
        })
        .unwrap();
        assert_eq!(v["name"], "r1");
        assert_eq!(v["displayName"], "run one");
        assert_eq!(v["groupName"], serde_json::Value::Null);
        assert_eq!(v["tags"], serde_json::json!(["a"]));
        let f = serde_json::to_value(ArtifactFile {
            artifact_id: "A",
            artifact_manifest_id: "M",
            name: "w.bin",
            md5: "x==",
            mimetype: None,
            upload_parts_input: None,
        })
        .unwrap();
        assert_eq!(
            f,
            serde_json::json!({"artifactID": "A", "artifactManifestID": "M", "name": "w.bin", "md5": "x==", "mimetype": null})
        );
        let md5s = vec!["ab".to_owned(), "cd".to_owned()];
        assert_eq!(
            serde_json::to_value(Part::numbered(&md5s)).unwrap(),
            serde_json::json!([{"partNumber": 1, "hexMD5": "ab"}, {"partNumber": 2, "hexMD5": "cd"}])
        );
        assert_eq!(
            serde_json::to_value(Viewer::default()).unwrap(),
            serde_json::json!({})
        );
    }
}
