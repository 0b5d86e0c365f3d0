//! HTTPS: the server speaks TLS with a lab's certificate, hands out https:// upload URLs,
//! refuses plain HTTP on that port, and names a bad certificate or key file.

use labbook_server::{Server, ServerConfig, TlsFiles};
use serde_json::{Value, json};

const KEY: &str = "0123456789012345678901234567890123456789abcd";

/// A self-signed certificate for 127.0.0.1 and localhost, as PEM files; and the PEM text.
fn certificate(dir: &std::path::Path) -> (TlsFiles, String) {
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    (TlsFiles::new(cert, key), made.cert.pem())
}

#[test]
fn https_serves_the_same_api_and_names_bad_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, pem) = certificate(tmp.path());
    let mut config = ServerConfig::new(KEY).entity("ent1");
    config.tls = Some(files.clone());
    let server = Server::start(config).unwrap();
    let base = server.base_url();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let graphql = |operation: &str, variables: Value| -> Value {
        let answer = client
            .post(format!("{base}/graphql"))
            .basic_auth("api", Some(KEY))
            .json(&json!({"query": format!("query {operation} {{ x }}"),
                "operationName": operation, "variables": variables}))
            .send()
            .unwrap();
        assert_eq!(answer.status(), 200, "{operation}");
        answer.json().unwrap()
    };
    assert_eq!(
        graphql("Viewer", json!({}))["data"]["viewer"]["entity"],
        "ent1"
    );
    let files_answer = graphql(
        "CreateRunFiles",
        json!({"entity": "ent1", "project": "p", "run": "r", "files": ["a.txt"]}),
    );
    let url = files_answer["data"]["createRunFiles"]["files"][0]["uploadUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with("https://"), "{url}");
    assert_eq!(client.put(&url).body("hello").send().unwrap().status(), 200);
    // Plain HTTP to the TLS port gets no answer.
    let plain = reqwest::blocking::Client::new()
        .get(format!("{}/healthz", base.replace("https://", "http://")))
        .send();
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    // A client that does not trust the certificate is refused by its own TLS check.
    assert!(
        reqwest::blocking::Client::new()
            .get(format!("{base}/healthz"))
            .send()
            .is_err()
    );
    server.shutdown();

    // Bad files are named before anything listens.
    let mut missing = ServerConfig::new(KEY);
    missing.tls = Some(TlsFiles::new(
        tmp.path().join("nope.pem"),
        files.key.clone(),
    ));
    let e = Server::start(missing).unwrap_err().to_string();
    assert!(
        e.contains("nope.pem") && e.contains("cannot be read"),
        "{e}"
    );
    let other = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
    let wrong_key = tmp.path().join("other-key.pem");
    std::fs::write(&wrong_key, other.key_pair.serialize_pem()).unwrap();
    let mut mismatched = ServerConfig::new(KEY);
    mismatched.tls = Some(TlsFiles::new(files.cert.clone(), wrong_key));
    let e = Server::start(mismatched).unwrap_err().to_string();
    assert!(e.contains("other-key.pem"), "{e}");
    let mut not_pem = ServerConfig::new(KEY);
    not_pem.tls = Some(TlsFiles::new(files.key.clone(), files.key.clone()));
    let e = Server::start(not_pem).unwrap_err().to_string();
    assert!(e.contains("certificate"), "{e}");
}
