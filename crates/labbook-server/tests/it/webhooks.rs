//! Alerts reach the webhooks of their project: POSTed off the request path (the alert is
//! answered while the receiver has not even accepted the connection), retried when the
//! receiver fails, given up after the configured attempts, and never sent for another
//! project.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use labbook_server::store::{HookFormat, Webhook};
use labbook_server::{Server, ServerConfig, WebhookRetry};
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "0123456789012345678901234567890123456789abcd";

/// A receiver that, once released, answers each request with the next status of
/// `answers` (then 200), and reports (path, body) of each.
fn receiver(answers: Vec<u16>) -> (String, mpsc::Sender<()>, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (release, released) = mpsc::channel::<()>();
    let (seen_tx, seen) = mpsc::channel();
    std::thread::spawn(move || {
        released.recv().unwrap();
        let mut answers = answers.into_iter();
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let status = answers.next().unwrap_or(200);
            write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            .unwrap();
            if seen_tx
                .send((path, String::from_utf8(body).unwrap()))
                .is_err()
            {
                return;
            }
        }
    });
    (url, release, seen)
}

fn alert(base: &str, project: &str, title: &str) -> StatusCode {
    reqwest::blocking::Client::new()
        .post(format!("{base}/graphql"))
        .basic_auth("api", Some(KEY))
        .json(&json!({"query": "mutation NotifyScriptableRunAlert { x }",
            "operationName": "NotifyScriptableRunAlert",
            "variables": {"entityName": "ent1", "projectName": project, "runName": "r1",
                "title": title, "text": "at step 7", "severity": "ERROR", "waitDuration": 0}}))
        .send()
        .unwrap()
        .status()
}

#[test]
fn alerts_reach_their_projects_webhooks_off_the_request_path_with_retries() {
    let (url, release, seen) = receiver(vec![500]);
    let dead = {
        // A port nothing listens on: every attempt is refused.
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/gone", probe.local_addr().unwrap())
    };
    let mut config = ServerConfig::new(KEY).entity("ent1");
    config.webhook_retry = WebhookRetry {
        first: Duration::from_millis(20),
        longest: Duration::from_millis(80),
        attempts: 4,
    };
    let meta = config.meta.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for hook in [
        Webhook::new(
            "ent1",
            "vision",
            format!("{url}/json/s3cret"),
            HookFormat::Json,
        ),
        Webhook::new(
            "ent1",
            "vision",
            format!("{url}/slack/s3cret"),
            HookFormat::Slack,
        ),
        Webhook::new("ent1", "vision", dead, HookFormat::Json),
        Webhook::new("ent1", "other", format!("{url}/other"), HookFormat::Json),
    ] {
        assert!(rt.block_on(meta.add_webhook(&hook)).unwrap());
    }
    let server = Server::start(config).unwrap();
    let base = server.base_url();

    // Answered while the receiver has not accepted anything yet.
    assert_eq!(alert(&base, "vision", "loss is NaN"), StatusCode::OK);
    release.send(()).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        got.push(
            seen.recv_timeout(left)
                .expect("the webhooks were not all delivered"),
        );
    }
    got.sort();
    // The JSON hook failed once (500) and got the same body again; Slack's got it once.
    assert_eq!(got[0].0, "/json/s3cret");
    assert_eq!(got[0], got[1], "a retry sends the same body");
    let json: Value = serde_json::from_str(&got[0].1).unwrap();
    assert_eq!(
        (
            &json["event"],
            &json["run"],
            &json["title"],
            &json["severity"]
        ),
        (
            &"alert".into(),
            &"r1".into(),
            &"loss is NaN".into(),
            &"ERROR".into()
        )
    );
    assert_eq!(got[2].0, "/slack/s3cret");
    let slack: Value = serde_json::from_str(&got[2].1).unwrap();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("*[ERROR] loss is NaN*")
    );
    // The dead hook is given up after its attempts; the queue empties.
    let deadline = Instant::now() + Duration::from_secs(20);
    while rt.block_on(meta.next_delivery_at()).unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the dead webhook was never given up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        seen.recv_timeout(Duration::from_millis(200)).is_err(),
        "nothing for another project, nothing more for this one"
    );
    server.shutdown();
}
