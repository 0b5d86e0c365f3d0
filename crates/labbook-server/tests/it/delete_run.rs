//! Deleting a run (`DeleteRun`, what the public API's `run.delete()` sends): its rows and the
//! bytes of its files go, the data directory shrinks, and what another run still names stays.

use std::path::Path;

use labbook_server::store::MetaStore;
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

fn size(dir: &Path) -> u64 {
    labbook_testkit::files_under(dir)
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum()
}

#[test]
fn a_deleted_run_leaves_nothing_behind_and_the_data_directory_shrinks() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, key, server) = super::data_server(tmp.path());
    let base = server.base_url();
    let client = Client::new();
    let graphql = |operation: &str, variables: Value| {
        super::graphql(&client, &base, &key, operation, variables)
    };
    let upload = |run: &str, path: &str, bytes: Vec<u8>| {
        let answer: Value = graphql(
            "CreateRunFiles",
            json!({"entity": "admin", "project": "p", "run": run, "files": [path]}),
        )
        .json()
        .unwrap();
        let url = answer["data"]["createRunFiles"]["files"][0]["uploadUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            client.put(&url).body(bytes).send().unwrap().status(),
            StatusCode::OK
        );
    };
    let upserted: Value = graphql(
        "UpsertBucket",
        json!({"entity": "admin", "project": "p", "name": "doomed"}),
    )
    .json()
    .unwrap();
    let id = upserted["data"]["upsertBucket"]["bucket"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for offset in (0..40_000).step_by(2_000) {
        let rows: Vec<String> = (offset..offset + 2_000)
            .map(|s| format!("{{\"_step\":{s},\"loss\":{}}}", (s as f64).sqrt()))
            .collect();
        let sent = client
            .post(format!("{base}/files/admin/p/doomed/file_stream"))
            .basic_auth("api", Some(&key))
            .json(
                &json!({"files": {"wandb-history.jsonl": {"offset": offset, "content": rows},
                "wandb-summary.json": {"offset": 0, "content": ["{\"loss\": 1}"]}}}),
            )
            .send()
            .unwrap();
        assert_eq!(sent.status(), StatusCode::OK);
    }
    let big: Vec<u8> = (0..4_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    upload("doomed", "model.bin", big);
    upload("doomed", "shared.txt", b"kept by the other run".to_vec());
    upload("kept", "shared.txt", b"kept by the other run".to_vec());
    data.checkpoint().unwrap();
    let before = size(tmp.path());

    // An id that names no run is refused; another entity's run is 403.
    let unknown = graphql("DeleteRun", json!({"id": "bm90IGEgcnVu"}));
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    data.add_user("bob").unwrap();
    let (bob, _) = data.new_key("bob").unwrap();
    let by_bob = client
        .post(format!("{base}/graphql"))
        .basic_auth("api", Some(&bob))
        .json(
            &json!({"query": "mutation DeleteRun { x }", "operationName": "DeleteRun",
            "variables": {"id": id}}),
        )
        .send()
        .unwrap();
    assert_eq!(by_bob.status(), StatusCode::FORBIDDEN);

    let deleted = graphql(
        "DeleteRun",
        json!({"input": {"id": id, "deleteArtifacts": false}}),
    );
    assert_eq!(deleted.status(), StatusCode::OK, "{:?}", deleted.text());
    let gone: Value = graphql(
        "RunResumeStatus",
        json!({"entity": "admin", "project": "p", "name": "doomed"}),
    )
    .json()
    .unwrap();
    assert!(gone["data"]["model"]["bucket"].is_null(), "{gone}");
    let again = graphql("DeleteRun", json!({"id": id, "deleteArtifacts": true}));
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "deleting it again is done, as on W&B"
    );

    data.checkpoint().unwrap();
    let after = size(tmp.path());

    assert!(
        before - after > 4_000_000 + 300_000,
        "the data directory went from {before} to {after} bytes"
    );
    // The file the other run names is still there, and no orphan is left to collect.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let kept = labbook_server::store::RunKey::new("admin", "p", "kept");
    let files = rt.block_on(data.meta.run_files(&kept)).unwrap();
    use labbook_server::store::BlobStore;
    let bytes = rt.block_on(data.blobs.get(&files[0].1)).unwrap().unwrap();
    assert_eq!(&bytes[..], b"kept by the other run");
    assert_eq!(
        rt.block_on(data.meta.orphan_blobs()).unwrap(),
        Default::default()
    );
    server.shutdown();
}

#[test]
fn deleting_a_run_with_its_artifacts_removes_the_versions_it_logged_and_their_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, key, server) = super::data_server(&tmp.path().join("data"));
    let base = server.base_url();
    let weights: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(tmp.path().join("weights.bin"), &weights).unwrap();
    let settings = labbook_testkit::project_settings(&tmp.path().join("runs"), "p")
        .mode(labbook::Mode::Online)
        .base_url(&base)
        .api_key(&key)
        .entity("admin");
    let run = labbook::init(settings).unwrap();
    let mut model = labbook::artifact::Artifact::new("model", "model").unwrap();
    model
        .add_file(tmp.path().join("weights.bin"), None)
        .unwrap();
    run.log_artifact(model).unwrap();
    let id = run.id().to_owned();
    run.finish().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let versions = rt.block_on(data.meta.artifacts()).unwrap();
    assert_eq!(versions.len(), 1);
    data.checkpoint().unwrap();
    let before = size(&tmp.path().join("data"));

    let client = Client::new();
    let storage_id = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("Run:admin/p/{id}"))
    };
    let deleted = super::graphql(
        &client,
        &base,
        &key,
        "DeleteRun",
        json!({"id": storage_id, "deleteArtifacts": true}),
    );
    assert_eq!(deleted.status(), StatusCode::OK, "{:?}", deleted.text());
    assert!(rt.block_on(data.meta.artifacts()).unwrap().is_empty());
    assert_eq!(
        rt.block_on(data.meta.orphan_blobs()).unwrap(),
        Default::default(),
        "collected"
    );
    data.checkpoint().unwrap();
    let after = size(&tmp.path().join("data"));
    assert!(
        before - after > 3_000_000,
        "the data directory went from {before} to {after} bytes"
    );
    server.shutdown();
}
