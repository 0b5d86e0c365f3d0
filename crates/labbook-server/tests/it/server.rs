//! The server over HTTP, with reqwest as the client: auth, GraphQL answers, file_stream
//! offsets, gzip, uploads, artifacts, bad requests, and data kept over a restart.

use std::io::Write;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::write::GzEncoder;
use labbook_server::{Recorder, Server, ServerConfig};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};

const KEY: &str = "0123456789012345678901234567890123456789abcd";

fn start() -> labbook_server::RunningServer {
    Server::start(ServerConfig::new(KEY).entity("ent1")).unwrap()
}

fn auth(request: RequestBuilder, key: &str) -> RequestBuilder {
    request.header(
        "Authorization",
        format!("Basic {}", STANDARD.encode(format!("api:{key}"))),
    )
}

fn graphql(base: &str, operation: &str, variables: Value) -> Value {
    let response = auth(Client::new().post(format!("{base}/graphql")), KEY)
        .json(&json!({"query": format!("mutation {operation} {{ x }}"), "variables": variables, "operationName": operation}))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{operation}");
    response.json().unwrap()
}

fn stream(base: &str, run: &str, body: Value) -> StatusCode {
    auth(
        Client::new().post(format!("{base}/files/ent1/proj/{run}/file_stream")),
        KEY,
    )
    .json(&body)
    .send()
    .unwrap()
    .status()
}

fn upsert(base: &str, run: &str) -> Value {
    graphql(
        base,
        "UpsertBucket",
        json!({"name": run, "project": "proj", "entity": null, "config": "{\"lr\":{\"value\":0.1}}",
               "tags": ["a", "b"], "groupName": "g", "jobType": "train", "notes": "n", "host": "h"}),
    )
}

#[test]
fn graphql_and_file_stream_need_the_api_key() {
    let server = start();
    let base = server.base_url();
    let client = Client::new();
    let no_auth = client
        .post(format!("{base}/graphql"))
        .json(&json!({"query": "query Viewer { viewer { id } }"}))
        .send()
        .unwrap();
    assert_eq!(no_auth.status(), StatusCode::UNAUTHORIZED);
    let wrong = auth(client.post(format!("{base}/graphql")), "wrong")
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    // An operationName the document does not define is refused, as GraphQL servers do.
    let mismatched = auth(client.post(format!("{base}/graphql")), KEY)
        .json(&json!({"query": "query ArtifactMembershipByName { x }", "operationName": "ArtifactMetadata"}))
        .send()
        .unwrap();
    assert_eq!(mismatched.status(), StatusCode::BAD_REQUEST);
    assert!(mismatched.text().unwrap().contains("ArtifactMetadata"));
    let stream = client
        .post(format!("{base}/files/e/p/r/file_stream"))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(stream.status(), StatusCode::UNAUTHORIZED);
    // Upload URLs need no key, but a signature the server made for that path.
    let put = client
        .put(format!("{base}/upload/e/p/r/media/x.bin"))
        .body(vec![1u8, 2, 3])
        .send()
        .unwrap();
    assert_eq!(put.status(), StatusCode::FORBIDDEN);
    assert!(server.storage().run("e", "p", "r").is_none());
    let statuses: Vec<u16> = server
        .storage()
        .requests()
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [401, 401, 400, 401, 403]);
}

#[test]
fn graphql_operations_answer_and_store() {
    let server = start();
    let base = server.base_url();
    let viewer = graphql(&base, "Viewer", json!({}));
    assert_eq!(viewer["data"]["viewer"]["entity"], "ent1");
    let features = graphql(&base, "ServerFeaturesQuery", json!({}));
    assert_eq!(features["data"]["serverInfo"]["features"], json!([]));

    let answer = upsert(&base, "run1");
    let bucket = &answer["data"]["upsertBucket"]["bucket"];
    assert_eq!(bucket["name"], "run1");
    assert_eq!(bucket["project"]["name"], "proj");
    assert_eq!(bucket["project"]["entity"]["name"], "ent1");
    assert!(
        bucket["displayName"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    assert_eq!(answer["data"]["upsertBucket"]["inserted"], true);
    // A later upsert with only the config changes only the config.
    let again = graphql(
        &base,
        "UpsertBucket",
        json!({"name": "run1", "project": "proj", "displayName": "shown",
        "config": "{\"lr\":{\"value\":0.2},\"bs\":{\"value\":8}}"}),
    );
    assert_eq!(again["data"]["upsertBucket"]["inserted"], false);
    assert_eq!(
        again["data"]["upsertBucket"]["bucket"]["displayName"],
        "shown"
    );

    let files = graphql(
        &base,
        "CreateRunFiles",
        json!({"entity": "ent1", "project": "proj", "run": "run1", "files": ["config.yaml", "media/images/a b.png"]}),
    );
    let urls = &files["data"]["createRunFiles"]["files"];
    assert_eq!(urls[0]["name"], "config.yaml");
    let url = urls[1]["uploadUrl"].as_str().unwrap();
    // A presigned URL: the path, and an expiry and a signature in the query.
    let (path, query) = url.split_once('?').unwrap();
    assert_eq!(
        path,
        format!("{base}/upload/ent1/proj/run1/media/images/a%20b.png")
    );
    assert!(query.contains("X-Amz-Signature="), "{query}");
    assert_eq!(
        Client::new().put(url).body("png").send().unwrap().status(),
        StatusCode::OK
    );
    // Signed for this path and method only.
    let other = url.replace("a%20b.png", "c.png");
    assert_eq!(
        Client::new().put(other).body("x").send().unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // Another method on the path is no route at all.
    assert_eq!(
        Client::new().get(url).send().unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );

    graphql(
        &base,
        "NotifyScriptableRunAlert",
        json!({"entityName": "ent1", "projectName": "proj", "runName": "run1",
        "title": "T", "text": "txt", "severity": "WARN", "waitDuration": 60000}),
    );
    let unknown = graphql(&base, "SomethingNew", json!({}));
    assert_eq!(unknown, json!({"data": {}}));
    let resume = graphql(
        &base,
        "RunResumeStatus",
        json!({"entity": "ent1", "project": "proj", "name": "nope"}),
    );
    assert_eq!(resume["data"]["model"]["bucket"], Value::Null);

    let run = server.storage().run("ent1", "proj", "run1").unwrap();
    assert_eq!(run.display_name.as_deref(), Some("shown"));
    assert_eq!(run.tags, ["a", "b"]);
    assert_eq!(
        (
            run.group.as_deref(),
            run.job_type.as_deref(),
            run.notes.as_deref()
        ),
        (Some("g"), Some("train"), Some("n"))
    );
    assert_eq!(run.config_value("lr"), Some(&json!(0.2)));
    assert_eq!(run.config_value("bs"), Some(&json!(8)));
    assert_eq!(run.upserts, 2);
    assert_eq!(run.files["media/images/a b.png"], b"png");
    assert_eq!(run.alerts[0].title, "T");
    assert_eq!(run.alerts[0].severity.as_deref(), Some("WARN"));
    let ops: Vec<_> = server
        .storage()
        .requests()
        .into_iter()
        .filter_map(|r| r.operation)
        .collect();
    assert!(ops.contains(&"SomethingNew".to_owned()), "{ops:?}");
}

#[test]
fn file_stream_offsets_are_checked() {
    let server = start();
    let base = server.base_url();
    upsert(&base, "r");
    let ok = stream(
        &base,
        "r",
        json!({"files": {
        "wandb-history.jsonl": {"offset": 0, "content": ["{\"_step\":0,\"loss\":NaN}", "{\"_step\":1,\"loss\":0.5}"]},
        "wandb-events.jsonl": {"offset": 0, "content": ["{\"system.cpu\":1}"]},
        "output.log": {"offset": 0, "content": ["a", "progress 1"]},
        "wandb-summary.json": {"offset": 0, "content": ["{\"loss\":0.5}"]}}}),
    );
    assert_eq!(ok, StatusCode::OK);
    // Console lines may be re-sent at an earlier offset; summary replaces.
    stream(
        &base,
        "r",
        json!({"files": {
        "output.log": {"offset": 1, "content": ["progress 2", "b"]},
        "wandb-summary.json": {"offset": 0, "content": ["{\"loss\":0.25}"]},
        "wandb-history.jsonl": {"offset": 2, "content": ["{\"_step\":2,\"loss\":0.25}"]}}}),
    );
    assert!(server.storage().violations().is_empty());
    // A repeat and a skip are recorded.
    stream(
        &base,
        "r",
        json!({"files": {"wandb-history.jsonl": {"offset": 2, "content": ["{\"_step\":2,\"loss\":0.2}"]}}}),
    );
    stream(
        &base,
        "r",
        json!({"files": {"wandb-events.jsonl": {"offset": 3, "content": ["{}"]}},
        "uploaded": ["config.yaml"], "preempting": true}),
    );
    stream(&base, "r", json!({"complete": true, "exitcode": 3}));

    let violations = server.storage().violations();
    assert_eq!(violations.len(), 2, "{violations:?}");
    assert_eq!(
        (
            violations[0].file.as_str(),
            violations[0].expected,
            violations[0].received
        ),
        ("wandb-history.jsonl", 3, 2)
    );
    assert_eq!(
        (
            violations[1].file.as_str(),
            violations[1].expected,
            violations[1].received
        ),
        ("wandb-events.jsonl", 1, 3)
    );
    let run = server.storage().run("ent1", "proj", "r").unwrap();
    assert_eq!(run.history.len(), 3);
    assert_eq!(run.history[0].raw, "{\"_step\":0,\"loss\":NaN}");
    assert_eq!(
        run.history_values("loss"),
        [&json!("NaN"), &json!(0.5), &json!(0.2)]
    );
    assert_eq!(run.events.len(), 2);
    assert_eq!(run.output, ["a", "progress 2", "b"]);
    assert_eq!(run.summary_json(), Some(&json!({"loss": 0.25})));
    assert_eq!(run.uploaded, ["config.yaml"]);
    assert!(run.preempting && run.complete);
    assert_eq!(run.exit_code, Some(3));
}

#[test]
fn file_stream_accepts_gzip_and_rejects_garbage() {
    let server = start();
    let base = server.base_url();
    let body = json!({"files": {"wandb-history.jsonl": {"offset": 0, "content": ["{\"_step\":0,\"x\":1}"]}}});
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(body.to_string().as_bytes()).unwrap();
    let url = format!("{base}/files/ent1/proj/g/file_stream");
    let response = auth(Client::new().post(&url), KEY)
        .header("Content-Encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().unwrap(), json!({}));
    assert_eq!(
        server
            .storage()
            .run("ent1", "proj", "g")
            .unwrap()
            .history_values("x"),
        [&json!(1)]
    );

    for (encoding, body) in [
        ("gzip", b"not gzip".to_vec()),
        ("identity", b"{not json".to_vec()),
    ] {
        let response = auth(Client::new().post(&url), KEY)
            .header("Content-Encoding", encoding)
            .body(body)
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.text().unwrap().contains("error"));
    }
    let bad_graphql = auth(Client::new().post(format!("{base}/graphql")), KEY)
        .body("[1,2")
        .send()
        .unwrap();
    assert_eq!(bad_graphql.status(), StatusCode::BAD_REQUEST);
    let missing_var = auth(Client::new().post(format!("{base}/graphql")), KEY)
        .json(
            &json!({"operationName": "CreateRunFiles", "query": "", "variables": {"entity": "e"}}),
        )
        .send()
        .unwrap();
    assert_eq!(missing_var.status(), StatusCode::BAD_REQUEST);
}

/// Creates, fills, commits and uses an artifact `data` (one file, `data.txt`); its id.
fn log_artifact(base: &str) -> String {
    let created = graphql(
        base,
        "CreateArtifact",
        json!({"input": {"entityName": "ent1", "projectName": "proj",
        "artifactTypeName": "dataset", "artifactCollectionName": "data", "runName": "r", "digest": "abc",
        "aliases": [{"artifactCollectionName": "data", "alias": "latest"}]}}),
    );
    let id = created["data"]["createArtifact"]["artifact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let files = graphql(
        base,
        "CreateArtifactFiles",
        json!({"input": {"artifactFiles": [
        {"artifactID": id, "name": "data.txt", "md5": "x"}], "storageLayout": "V2"}}),
    );
    let url = files["data"]["createArtifactFiles"]["files"]["edges"][0]["node"]["uploadUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    Client::new()
        .put(url)
        .body("data123")
        .send()
        .unwrap()
        .error_for_status()
        .unwrap();
    let manifest = graphql(
        base,
        "CreateArtifactManifest",
        json!({"artifactID": id, "name": "wandb_manifest.json", "digest": "d", "includeUpload": true}),
    );
    let url = manifest["data"]["createArtifactManifest"]["artifactManifest"]["file"]["uploadUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    Client::new()
        .put(url)
        .body("{\"version\":1,\"contents\":{\"data.txt\":{\"digest\":\"x\",\"size\":7}}}")
        .send()
        .unwrap()
        .error_for_status()
        .unwrap();
    graphql(base, "CommitArtifact", json!({"artifactID": id}));
    graphql(
        base,
        "UseArtifact",
        json!({"input": {"artifactID": id, "entityName": "ent1", "projectName": "proj", "runName": "r"}}),
    );

    id
}

#[test]
fn artifacts_are_stored_with_manifest_and_files() {
    let server = start();
    let id = log_artifact(&server.base_url());
    let artifact = server.storage().artifact(&id).unwrap();
    assert_eq!(artifact.state, "COMMITTED");
    assert_eq!(artifact.collection.as_deref(), Some("data"));
    assert_eq!(artifact.aliases, ["latest"]);
    assert_eq!(artifact.files["data.txt"], b"data123");
    assert_eq!(artifact.manifest.unwrap().json.unwrap()["version"], 1);
    assert_eq!(
        server
            .storage()
            .run("ent1", "proj", "r")
            .unwrap()
            .used_artifacts,
        [id]
    );
}

#[test]
fn restart_on_the_same_storage_keeps_the_data() {
    let storage: Recorder = Recorder::default();
    let first = Server::start(
        ServerConfig::new(KEY)
            .entity("ent1")
            .storage(storage.clone()),
    )
    .unwrap();
    let old_base = first.base_url();
    upsert(&old_base, "kept");
    stream(
        &old_base,
        "kept",
        json!({"files": {"wandb-history.jsonl": {"offset": 0, "content": ["{\"_step\":0}"]}}}),
    );
    first.shutdown();
    assert!(
        Client::new()
            .post(format!("{old_base}/graphql"))
            .send()
            .is_err(),
        "the old listener is closed"
    );

    let second = Server::start(
        ServerConfig::new(KEY)
            .entity("ent1")
            .storage(storage.clone()),
    )
    .unwrap();
    let base = second.base_url();
    let answer = upsert(&base, "kept");
    assert_eq!(answer["data"]["upsertBucket"]["inserted"], false);
    assert_eq!(
        answer["data"]["upsertBucket"]["bucket"]["historyLineCount"],
        1
    );
    stream(
        &base,
        "kept",
        json!({"files": {"wandb-history.jsonl": {"offset": 1, "content": ["{\"_step\":1}"]}}}),
    );
    drop(second);
    let run = storage.run("ent1", "proj", "kept").unwrap();
    assert_eq!(run.history.len(), 2);
    assert!(storage.violations().is_empty());
}

#[test]
fn a_multipart_upload_checks_every_part_against_its_md5() {
    let server = start();
    let base = server.base_url();
    let created = graphql(
        &base,
        "CreateArtifact",
        json!({"input": {"entityName": "ent1", "projectName": "proj",
        "artifactTypeName": "model", "artifactCollectionName": "m", "runName": "r", "digest": "d"}}),
    );
    let id = created["data"]["createArtifact"]["artifact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // MD5("a") and MD5("b").
    let (a, b) = (
        "0cc175b9c0f1b6a831c399e269772661",
        "92eb5ffee6ae2fec3ad71c777531578f",
    );
    let files = graphql(
        &base,
        "CreateArtifactFiles",
        json!({"input": {"artifactFiles": [{"artifactID": id, "name": "w.bin", "md5": "GH70Q2Ei0cwvQNwrkvDroA==",
            "uploadPartsInput": [{"partNumber": 1, "hexMD5": a}, {"partNumber": 2, "hexMD5": b}]}]}}),
    );
    let node = &files["data"]["createArtifactFiles"]["files"]["edges"][0]["node"];
    assert!(
        !node["uploadUrl"].is_null(),
        "a null URL reads as `already uploaded`"
    );
    let upload_id = node["uploadMultipartUrls"]["uploadID"].as_str().unwrap();
    let urls = node["uploadMultipartUrls"]["uploadUrlParts"]
        .as_array()
        .unwrap();
    let put = |i: usize, body: &'static str| {
        Client::new()
            .put(urls[i]["uploadUrl"].as_str().unwrap())
            .body(body)
            .send()
            .unwrap()
    };
    let first = put(0, "a");
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["etag"], format!("\"{a}\""), "S3's ETag");
    assert_eq!(put(1, "c").status(), StatusCode::OK);
    let complete = |parts: Value| {
        auth(Client::new().post(format!("{base}/graphql")), KEY)
            .json(
                &json!({"query": "mutation CompleteMultipartUploadArtifact { x }",
                "operationName": "CompleteMultipartUploadArtifact",
                "variables": {"completeMultipartAction": "Complete", "completedParts": parts,
                    "artifactID": id, "storagePath": "s", "uploadID": upload_id}}),
            )
            .send()
            .unwrap()
    };
    let parts = json!([{"partNumber": 1, "hexMD5": a}, {"partNumber": 2, "hexMD5": b}]);
    let bad = complete(parts.clone());
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().unwrap().contains("part 2 has MD5"));
    assert_eq!(put(1, "b").status(), StatusCode::OK);
    // Completed with the parts' ETags (quoted), as wandb-core sends them.
    let etags = json!([{"partNumber": 1, "hexMD5": format!("\"{a}\"")}, {"partNumber": 2, "hexMD5": format!("\"{b}\"")}]);
    let ok: Value = complete(etags.clone()).json().unwrap();
    assert_eq!(
        ok["data"]["completeMultipartUploadArtifact"]["digest"],
        "GH70Q2Ei0cwvQNwrkvDroA=="
    );
    // A retry after a lost answer gets the same answer.
    let again: Value = complete(etags).json().unwrap();
    assert_eq!(again, ok);
    let stored = server.storage().artifact(&id).unwrap();
    assert_eq!(stored.files["w.bin"], b"ab");
}

/// Everything a client can send, into a server whose stores are a SQLite file and a blob
/// directory.
fn send_everything(base: &str) -> String {
    upsert(base, "kept");
    let history = |offset: usize, steps: std::ops::Range<usize>| {
        let rows: Vec<String> = steps
            .map(|s| format!("{{\"_step\":{s},\"loss\":NaN}}"))
            .collect();
        json!({"files": {"wandb-history.jsonl": {"offset": offset, "content": rows}}})
    };
    assert_eq!(stream(base, "kept", history(0, 0..2)), StatusCode::OK);
    // A resend (the answer was lost) and the next request: each row stored once.
    assert_eq!(stream(base, "kept", history(0, 0..2)), StatusCode::OK);
    assert_eq!(stream(base, "kept", history(2, 2..3)), StatusCode::OK);
    let rest = json!({"files": {
        "wandb-events.jsonl": {"offset": 0, "content": ["{\"system.cpu\":3.5}"]},
        "wandb-summary.json": {"offset": 0, "content": ["{\"loss\":0.5}"]},
        "output.log": {"offset": 0, "content": ["hello", "world"]}},
        "uploaded": ["config.yaml"], "complete": true, "exitcode": 0});
    assert_eq!(stream(base, "kept", rest), StatusCode::OK);
    let files = graphql(
        base,
        "CreateRunFiles",
        json!({"entity": "ent1", "project": "proj", "run": "kept", "files": ["media/x.bin"]}),
    );
    let url = files["data"]["createRunFiles"]["files"][0]["uploadUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let put = Client::new().put(url).body(vec![1u8, 2, 3]).send().unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    graphql(
        base,
        "NotifyScriptableRunAlert",
        json!({"entityName": "ent1", "projectName": "proj", "runName": "kept",
        "title": "T", "text": "txt", "severity": "WARN", "waitDuration": 60000}),
    );
    let id = log_artifact(base);
    graphql(
        base,
        "LinkArtifact",
        json!({"input": {"artifactID": id, "artifactPortfolioName": "best", "entityName": "ent1",
        "projectName": "model-registry", "aliases": [{"alias": "prod"}]}}),
    );
    id
}

#[test]
fn a_sqlite_data_directory_keeps_everything_over_a_restart() {
    use labbook_server::store::{FsBlobs, SqliteStore};
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let meta = Arc::new(SqliteStore::open(&dir.path().join("labbook.sqlite")).unwrap());
        let blobs = Arc::new(FsBlobs::open(&dir.path().join("blobs")).unwrap());
        Recorder::new(meta, blobs)
    };
    let first = Server::start(ServerConfig::new(KEY).entity("ent1").storage(open())).unwrap();
    let id = send_everything(&first.base_url());
    let (runs, artifacts) = (first.storage().runs(), first.storage().artifacts());
    assert!(
        first.storage().violations().iter().all(|v| v.received == 0),
        "only the resend"
    );
    first.shutdown();

    let second = Server::start(ServerConfig::new(KEY).entity("ent1").storage(open())).unwrap();
    assert_eq!(
        second.storage().runs(),
        runs,
        "rows, lines and files read back equal"
    );
    assert_eq!(second.storage().artifacts(), artifacts);
    let run = &runs[0];
    assert_eq!(run.history.len(), 3);
    assert_eq!((run.output.len(), run.events.len()), (2, 1));
    assert_eq!((run.complete, run.exit_code), (true, Some(0)));
    assert_eq!(run.files["media/x.bin"], [1, 2, 3]);
    assert_eq!(run.alerts[0].title, "T");

    // And through the GraphQL the clients use.
    let base = second.base_url();
    let resume = graphql(
        &base,
        "RunResumeStatus",
        json!({"entity": "ent1", "project": "proj", "name": "kept"}),
    );
    let bucket = &resume["data"]["model"]["bucket"];
    assert_eq!(bucket["historyLineCount"], 3);
    assert_eq!(bucket["logLineCount"], 2);
    assert_eq!(bucket["summaryMetrics"], "{\"loss\":0.5}");
    let linked = graphql(
        &base,
        "ArtifactMembershipByName",
        json!({"entity": "ent1", "project": "model-registry", "name": "best:prod"}),
    );
    let membership = &linked["data"]["project"]["artifactCollectionMembership"];
    assert_eq!(membership["artifact"]["id"], id);
    let urls = graphql(
        &base,
        "GetArtifactMembershipFileUrls",
        json!({"entity": "ent1", "project": "proj", "collection": "data", "alias": "latest"}),
    );
    let url = urls["data"]["project"]["artifactCollection"]["artifactMembership"]["files"]["edges"]
        [0]["node"]["directUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        Client::new().get(url).send().unwrap().text().unwrap(),
        "data123"
    );
    let again = upsert(&base, "kept");
    assert_eq!(again["data"]["upsertBucket"]["inserted"], false);
}

#[test]
fn a_signature_that_is_altered_or_expired_is_refused() {
    let mut config = ServerConfig::new(KEY).entity("ent1");
    config.url_ttl = std::time::Duration::ZERO;
    let server = Server::start(config).unwrap();
    let base = server.base_url();
    let files = graphql(
        &base,
        "CreateRunFiles",
        json!({"entity": "ent1", "project": "proj", "run": "r", "files": ["a.txt"]}),
    );
    let url = files["data"]["createRunFiles"]["files"][0]["uploadUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let expired = Client::new().put(&url).body("x").send().unwrap();
    assert_eq!(expired.status(), StatusCode::FORBIDDEN);
    assert!(expired.text().unwrap().contains("expired"));
    // Moving the expiry on breaks the signature.
    let (head, sig) = url.split_once("&X-Amz-Signature=").unwrap();
    let (path, expires) = head.split_once("X-Labbook-Expires=").unwrap();
    let later: u64 = expires.parse::<u64>().unwrap() + 3600;
    let forged = format!("{path}X-Labbook-Expires={later}&X-Amz-Signature={sig}");
    let refused = Client::new().put(forged).body("x").send().unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().unwrap().contains("does not match"));
    assert!(
        server
            .storage()
            .run("ent1", "proj", "r")
            .unwrap()
            .files
            .is_empty()
    );
}

#[test]
fn oversized_documents_and_gzip_bombs_are_413_and_health_needs_no_key() {
    let mut config = ServerConfig::new(KEY).entity("ent1");
    config.limits = labbook_server::Limits {
        decompressed: 1 << 20,
        graphql_document: 4096,
        ..labbook_server::Limits::default()
    };
    let server = Server::start(config).unwrap();
    let base = server.base_url();
    // 64 MiB of one repeated line, about 64 KiB compressed.
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    let line = format!(
        "{{\"files\": {{\"output.log\": {{\"offset\": 0, \"content\": [\"{}",
        "a".repeat(1000)
    );
    gz.write_all(line.as_bytes()).unwrap();
    for _ in 0..(64 << 10) {
        gz.write_all("a".repeat(1024).as_bytes()).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let response = auth(
        Client::new().post(format!("{base}/files/ent1/proj/b/file_stream")),
        KEY,
    )
    .header("Content-Encoding", "gzip")
    .body(bomb)
    .send()
    .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(response.text().unwrap().contains("inflates past the limit"));
    let long = format!("query Viewer {{ viewer {{ {} }} }}", "id ".repeat(2000));
    let response = auth(Client::new().post(format!("{base}/graphql")), KEY)
        .json(&json!({"query": long}))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(server.storage().run("ent1", "proj", "b").is_none());
    for path in ["/healthz", "/ready"] {
        let r = Client::new().get(format!("{base}{path}")).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
}

/// Every route the router serves, tried without a key, with a wrong key, and with a good
/// key but no signature: only /healthz and /ready answer without a credential.
#[test]
fn every_route_needs_its_credential() {
    let server = start();
    let base = server.base_url();
    let client = Client::new();
    for route in labbook_server::routes() {
        // A concrete path for the pattern: each `{name}` or `{*name}` becomes `x`.
        let path: String = route
            .path
            .split('/')
            .map(|seg| match seg {
                "{file}" => "app.js",
                s if s.starts_with('{') => "x",
                s => s,
            })
            .collect::<Vec<_>>()
            .join("/");
        let url = format!("{base}{path}");
        let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
        let send = |key: Option<&str>| {
            let request = client.request(method.clone(), &url).body("{}");
            match key {
                Some(key) => auth(request, key),
                None => request,
            }
            .send()
            .unwrap()
            .status()
        };
        let (none, wrong, good) = (send(None), send(Some("local-wrong")), send(Some(KEY)));
        match route.access {
            labbook_server::Access::Open => {
                assert_eq!((none, wrong), (StatusCode::OK, StatusCode::OK), "{path}");
            }
            labbook_server::Access::SignIn => {
                // The credential is in the body: none there, so neither a key header nor
                // its absence signs anyone in.
                for status in [none, wrong, good] {
                    assert!(status.is_client_error(), "{path}: {status}");
                }
            }
            labbook_server::Access::Key | labbook_server::Access::Session => {
                assert_eq!(
                    (none, wrong),
                    (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED),
                    "{path}"
                );
                assert_ne!(good, StatusCode::UNAUTHORIZED, "{path}");
            }
            labbook_server::Access::Signed => {
                let all = [none, wrong, good];
                assert_eq!(
                    all,
                    [StatusCode::FORBIDDEN; 3],
                    "{path}: a key is no signature"
                );
            }
        }
    }
    let open: Vec<&str> = labbook_server::routes()
        .iter()
        .filter(|r| r.access == labbook_server::Access::Open)
        .map(|r| r.path)
        .collect();
    assert_eq!(
        open,
        ["/healthz", "/ready", "/", "/static/{file}", "/login"]
    );
    let unknown = client.get(format!("{base}/anything/else")).send().unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
