//! Artifacts against labbook-server: uploaded by an online run and by `labbook sync` with
//! W&B's manifest and digests, a re-log of the same content makes no new version.

mod common;

use std::path::Path;
use std::time::Duration;

use labbook::{Artifact, Mode};
use labbook_server::{ArtifactState, Server, ServerConfig};

const KEY: &str = "artf0123456789abcdefghijklmnopqrstuvwxyz01";

fn online(dir: &Path, base_url: &str) -> labbook::Settings {
    common::settings(dir)
        .mode(Mode::Online)
        .base_url(base_url)
        .api_key(KEY)
        .upload_interval(Duration::from_millis(50))
}

/// A dataset directory: two files, one in a subdirectory.
fn dataset(root: &Path, second: &[u8]) -> std::path::PathBuf {
    let data = root.join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("data.txt"), "data123").unwrap();
    std::fs::write(data.join("sub/b.bin"), second).unwrap();
    data
}

fn log_dataset(settings: labbook::Settings, data: &Path) -> labbook::RunReport {
    let run = labbook::init(settings).unwrap();
    let mut a = Artifact::new("shapes-train", "dataset")
        .unwrap()
        .description("synthetic shapes")
        .aliases(["v-test"]);
    a.add_dir(data, None).unwrap();
    a.add_reference("s3://bucket/raw.tar", "3q2+7w==", Some(1024), None)
        .unwrap();
    run.log_artifact(a).unwrap();
    run.finish().unwrap()
}

fn committed(storage: &std::sync::Arc<dyn labbook_server::Storage>) -> Vec<ArtifactState> {
    storage
        .artifacts()
        .into_iter()
        .filter(|a| a.collection.as_deref() == Some("shapes-train"))
        .collect()
}

#[test]
fn an_online_run_uploads_its_artifact_and_a_relog_makes_no_new_version() {
    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path(), &[1, 2, 3]);
    let report = log_dataset(online(&tmp.path().join("a"), &server.base_url()), &data);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    let storage = server.storage();
    let versions = committed(storage);
    assert_eq!(versions.len(), 1);
    let v = &versions[0];
    assert_eq!(v.state, "COMMITTED");
    assert_eq!(v.artifact_type.as_deref(), Some("dataset"));
    assert_eq!(v.aliases, ["latest", "v-test"]);
    assert_eq!(v.files["data.txt"], b"data123");
    assert_eq!(v.files["sub/b.bin"], [1, 2, 3]);
    assert!(
        !v.files.contains_key("raw.tar"),
        "a reference is not uploaded"
    );
    let manifest = v.manifest.as_ref().unwrap().json.as_ref().unwrap();
    let contents = &manifest["contents"];
    assert_eq!(contents["data.txt"]["digest"], "HK4CJ8rCl5qXNfB/L4kWMw==");
    assert_eq!(contents["data.txt"]["birthArtifactID"], v.id.as_str());
    assert_eq!(contents["raw.tar"]["ref"], "s3://bucket/raw.tar");
    assert_eq!(manifest["storagePolicy"], "wandb-storage-policy-v1");
    // The digest the server holds is the one recorded in the log.
    let run_dir = common::only_run_dir(&tmp.path().join("a"));
    let logged: Vec<String> = common::read_run(&run_dir)
        .records
        .into_iter()
        .filter_map(|r| match r.record_type {
            Some(labbook::wire::proto::RecordType::Artifact(a)) => Some(a.digest),
            _ => None,
        })
        .collect();
    assert_eq!(v.digest.as_ref(), logged.first());

    // The same files again, from another run: the server keeps its one version.
    let report = log_dataset(online(&tmp.path().join("b"), &server.base_url()), &data);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(
        committed(storage).len(),
        1,
        "identical content made a version"
    );
    // Changed content is a new version.
    std::fs::write(data.join("sub/b.bin"), [9u8]).unwrap();
    log_dataset(online(&tmp.path().join("c"), &server.base_url()), &data);
    let versions = committed(storage);
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1].files["sub/b.bin"], [9]);
}

#[test]
fn labbook_sync_uploads_an_offline_runs_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path(), &[4, 5]);
    log_dataset(common::settings(&tmp.path().join("run")), &data);
    let run_dir = common::only_run_dir(&tmp.path().join("run"));
    let log = std::fs::read_dir(&run_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wandb"))
        .unwrap();
    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    let opts = labbook::online::SyncOptions::new(server.base_url(), KEY);
    let report = labbook::online::sync_run(&log, &opts, &mut |_| {}).unwrap();
    assert_eq!(report.artifacts, 1);
    let versions = committed(server.storage());
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].files["sub/b.bin"], [4, 5]);
    assert_eq!(versions[0].run.as_deref(), Some(report.run_id.as_str()));
}
