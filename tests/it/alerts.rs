//! Alerts that reach a person: webhooks (Slack's form and the JSON form) and a command,
//! the built-in rules (a metric went NaN, the run stalls, the run ends) each firing once,
//! and endpoints that hang or fail, which never hold up `log` or `finish` beyond the bound.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use labbook::notify::Webhook;
use labbook::online::ManualClock;
use labbook::{AlertLevel, Value};
use labbook_testkit::{only_run_dir, read_run, settings};

/// How a test endpoint answers.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Reads the request and never answers.
    Hang,
}

/// A local HTTP endpoint that records each request's body.
struct Endpoint {
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Endpoint {
    fn start(answer: Answer) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook/secret-part", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = bodies.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or_default());
                match answer {
                    Answer::Status(code) => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        );
                    }
                    Answer::Hang => held.push(stream),
                }
            }
        });
        Endpoint { url, bodies }
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived.
    fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let b = self.bodies();
            if b.len() >= n {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} requests arrived: {b:?}",
                b.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn each_rule_fires_once_and_every_alert_reaches_webhooks_and_the_command() {
    let json = Endpoint::start(Answer::Status(200));
    let slack = Endpoint::start(Answer::Status(200));
    let tmp = tempfile::tempdir().unwrap();
    let titles_file = tmp.path().join("titles.txt");
    let clock = ManualClock::new();
    let run = labbook::init(
        settings(tmp.path())
            .name("alerting")
            .alert_webhook(Webhook::json(&json.url))
            .alert_webhook(Webhook::slack(&slack.url))
            .alert_command(format!(
                "echo \"$LABBOOK_ALERT_RULE:$LABBOOK_ALERT_TITLE\" >> {}",
                titles_file.display()
            ))
            .alert_on_nonfinite(["loss"])
            .alert_on_stall(Duration::from_secs(600))
            .alert_on_end(true)
            .alert_clock(clock.clone()),
    )
    .unwrap();
    for loss in [1.0, f64::NAN, f64::NAN, f64::INFINITY, 0.5] {
        run.log([("loss", Value::from(loss)), ("acc", Value::from(f64::NAN))])
            .unwrap();
    }
    let first = json.wait_for(1);
    assert_eq!(first[0]["title"], "loss is NaN");
    assert_eq!(
        (first[0]["rule"].as_str(), first[0]["run_name"].as_str()),
        (Some("nonfinite"), Some("alerting"))
    );

    // Eleven minutes without a row: the stall rule, once, however long the quiet lasts.
    clock.advance(Duration::from_secs(660));
    let got = json.wait_for(2);
    assert_eq!(got[1]["title"], "no step for 10 min");
    clock.advance(Duration::from_secs(3600));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(json.bodies().len(), 2, "the stall rule fired again");

    run.alert("eval done", "acc 0.9", AlertLevel::Info).unwrap();
    let report = run.finish().unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    let titles: Vec<String> = json
        .bodies()
        .iter()
        .map(|b| b["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        titles,
        [
            "loss is NaN",
            "no step for 10 min",
            "eval done",
            "run finished"
        ]
    );
    let slack_texts: Vec<String> = slack
        .bodies()
        .iter()
        .map(|b| b["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(slack_texts.len(), 4);
    assert!(
        slack_texts[0].contains("*loss is NaN*") && slack_texts[0].contains("alerting"),
        "{slack_texts:?}"
    );
    let lines = std::fs::read_to_string(&titles_file).unwrap();
    assert_eq!(
        lines.lines().collect::<Vec<_>>(),
        [
            "nonfinite:loss is NaN",
            "stall:no step for 10 min",
            ":eval done",
            "end:run finished"
        ]
    );
    // The rules' alerts are in the log too, so W&B sends them once the run is synced.
    let d = read_run(&only_run_dir(tmp.path()));
    let logged: Vec<&str> = d.alerts.iter().map(|a| a.title.as_str()).collect();
    assert_eq!(
        logged,
        [
            "loss is NaN",
            "no step for 10 min",
            "eval done",
            "run finished"
        ]
    );
}

#[test]
fn a_failed_run_says_so() {
    let hook = Endpoint::start(Answer::Status(200));
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        settings(tmp.path())
            .alert_webhook(Webhook::json(&hook.url))
            .alert_on_end(true),
    )
    .unwrap();
    run.finish_with_exit_code(3).unwrap();
    let b = hook.wait_for(1);
    assert_eq!(
        (b[0]["title"].as_str(), b[0]["level"].as_str()),
        (Some("run failed (exit code 3)"), Some("ERROR"))
    );
}

#[test]
fn a_webhook_that_hangs_or_fails_never_delays_log_or_finish_beyond_its_bound() {
    let hang = Endpoint::start(Answer::Hang);
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        settings(tmp.path())
            .alert_webhook(Webhook::json(&hang.url))
            .alert_timeout(Duration::from_secs(1)),
    )
    .unwrap();
    run.alert("stuck", "the endpoint never answers", AlertLevel::Warn)
        .unwrap();
    hang.wait_for(1);
    for i in 0..10_000 {
        run.log([("x", Value::from(i))]).unwrap();
    }
    let started = Instant::now();
    let report = run.finish().unwrap();
    let took = started.elapsed();
    // The bound is 1 s; the endpoint would hold a request for its 5 s attempt timeout.
    assert!(took < Duration::from_secs(4), "finish took {took:?}");
    assert_eq!(report.rows, 10_000);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("still being delivered")),
        "{:?}",
        report.warnings
    );

    // A 500 is retried (three attempts), then reported; the run is fine.
    let failing = Endpoint::start(Answer::Status(500));
    let tmp = tempfile::tempdir().unwrap();
    let run =
        labbook::init(settings(tmp.path()).alert_webhook(Webhook::json(&failing.url))).unwrap();
    run.alert("boom", "x", AlertLevel::Error).unwrap();
    let report = run.finish().unwrap();
    assert_eq!(failing.bodies().len(), 3);
    let w = report.warnings.join("\n");
    assert!(
        w.contains("3 attempts failed") && w.contains("HTTP 500"),
        "{w}"
    );
    assert!(
        !w.contains("secret-part"),
        "a webhook's path is never shown: {w}"
    );
}
