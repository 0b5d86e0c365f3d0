//! Hostile names: entity, project, run and file names that look like paths (`..`, absolute,
//! NUL, very long, odd Unicode) through file_stream, UpsertBucket and run-file uploads of a
//! server on a data directory. A hostile name is a 4xx, any other a 2xx, never a 5xx; and
//! nothing is written outside the data directory (property tests; `scripts/fuzz.sh` fuzzes
//! the bodies).

use std::path::Path;

use proptest::prelude::*;
use reqwest::blocking::Client;
use serde_json::{Value, json};

/// Names meant to escape a directory, break a path or a URL, or be too long.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just("../../../../tmp/labbook-escape".to_owned()),
        Just("/tmp/labbook-escape".to_owned()),
        Just("a\0b".to_owned()),
        Just("x".repeat(5_000)),
        Just(String::new()),
        Just("%2e%2e%2f".to_owned()),
        Just("a/../../b".to_owned()),
        Just("\\..\\..\\windows".to_owned()),
        Just("CON".to_owned()),
        "[a-z0-9_.-]{1,12}",
        any::<String>().prop_map(|s| s.chars().take(40).collect()),
    ]
}

/// Percent-encodes every byte but unreserved ones, so the name reaches the server whole.
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether a name must be refused: empty, over 128 bytes, a control character, a slash,
/// or `.`/`..` (the server's rule for entity, project and run names).
fn hostile(name: &str) -> bool {
    name.is_empty()
        || name.len() > 128
        || name.chars().any(char::is_control)
        || name.contains(['/', '\\'])
        || name == "."
        || name == ".."
}

/// Whether a file name (a path inside a run) must be refused.
fn hostile_path(path: &str) -> bool {
    path.is_empty()
        || path.len() > 1024
        || path.chars().any(char::is_control)
        || path.starts_with('/')
        || path.contains('\\')
        || path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
}

/// A 4xx when the names are hostile, else a 2xx; never a 5xx.
fn answered(status: reqwest::StatusCode, refuse: bool, what: &str) -> Result<(), TestCaseError> {
    if refuse {
        prop_assert!(
            status.is_client_error(),
            "{what} answered {status}, not a 4xx"
        );
    } else {
        prop_assert!(status.is_success(), "{what} answered {status}, not a 2xx");
    }
    Ok(())
}

#[test]
fn hostile_names_get_a_4xx_or_are_stored_inside_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (_data, key, server) = super::data_server(&tmp.path().join("data"));
    let base = server.base_url();
    let client = Client::new();
    let graphql = |operation: &str, variables: Value| {
        super::graphql(&client, &base, &key, operation, variables)
    };
    let config = ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(entity in name(), project in name(), run in name(), file in name())| {
        let url = format!(
            "{base}/files/{}/{}/{}/file_stream",
            segment(&entity),
            segment(&project),
            segment(&run)
        );
        let body = json!({"files": {"wandb-history.jsonl": {"offset": 0, "content": ["{\"x\":1}"]},
            file.clone(): {"offset": 0, "content": ["line"]}}});
        let bad_key = hostile(&entity) || hostile(&project) || hostile(&run);
        let streamed = client.post(&url).basic_auth("api", Some(&key)).json(&body).send().unwrap();
        // An empty name leaves an empty path segment: no route, a 404, also a 4xx.
        answered(streamed.status(), bad_key || hostile_path(&file), "file_stream")?;
        let upserted = graphql(
            "UpsertBucket",
            json!({"entity": entity, "project": project, "name": run}),
        );
        answered(upserted.status(), bad_key, "UpsertBucket")?;
        let files = graphql(
            "CreateRunFiles",
            json!({"entity": entity, "project": project, "run": run, "files": [file]}),
        );
        answered(files.status(), bad_key, "CreateRunFiles")?;
        if files.status().is_success() {
            let answer: Value = files.json().unwrap();
            let upload = answer["data"]["createRunFiles"]["files"][0]["uploadUrl"].as_str();
            let put = client.put(upload.unwrap()).body("bytes").send().unwrap();
            answered(put.status(), hostile_path(&file), "the upload")?;
        }
    });
    server.shutdown();
    // Everything written is under the data directory, and nothing escaped to where the
    // names pointed.
    let root = tmp.path();
    for file in labbook_testkit::files_under(root) {
        assert!(
            file.starts_with(root.join("data")),
            "{file:?} is outside the data directory"
        );
    }
    assert!(!Path::new("/tmp/labbook-escape").exists());
    assert!(!root.join("tmp/labbook-escape").exists());
}
