//! Online mode against labbook-server: rows stream while the run trains, the upload equals
//! the local log, and a server that is down or refuses the key never blocks `log` nor
//! loses anything locally.

use std::time::{Duration, Instant};

use labbook::online::Clock;
use labbook::{Mode, Value};
use labbook_server::{Server, ServerConfig};
use labbook_testkit::read_run;

const KEY: &str = "onln0123456789abcdefghijklmnopqrstuvwxyz01";

fn online(dir: &std::path::Path, base_url: &str) -> labbook::Settings {
    labbook_testkit::settings(dir)
        .mode(Mode::Online)
        .base_url(base_url)
        .api_key(KEY)
        .upload_interval(Duration::from_millis(50))
        .name("live")
}

#[test]
fn an_online_run_streams_while_training_and_uploads_what_the_log_holds() {
    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        online(tmp.path(), &server.base_url()).config(&serde_json::json!({"lr": 0.1})),
    )
    .unwrap();
    let dir = run.dir().unwrap().to_owned();
    assert!(
        dir.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("run-"),
        "{}",
        dir.display()
    );
    for i in 0..20u32 {
        run.log([
            ("loss", Value::from(f64::from(i))),
            ("odd", Value::from(f64::NAN)),
        ])
        .unwrap();
    }
    // Rows arrive while the run is still going.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server
        .storage()
        .runs()
        .first()
        .is_none_or(|r| r.history.len() < 20)
    {
        assert!(Instant::now() < deadline, "no rows streamed before finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!server.storage().runs()[0].complete);
    let url = run.url().expect("the server answered");
    assert!(url.ends_with(&format!("/tests/runs/{}", run.id())), "{url}");
    assert!(!run.should_stop());
    run.set_summary("best", 3).unwrap();
    for i in 20..30u32 {
        run.log([("loss", Value::from(f64::from(i)))]).unwrap();
    }
    let report = run.finish().unwrap();
    assert!(
        report.warnings.iter().all(|w| !w.contains("upload")),
        "{:?}",
        report.warnings
    );

    let storage = server.storage();
    labbook_testkit::wandb::assert_offsets_continuous(storage);
    let r = &storage.runs()[0];
    let local = read_run(&dir);
    assert_eq!(r.history.len(), local.rows.len());
    for (up, row) in r.history.iter().zip(&local.rows) {
        for (k, v) in row {
            let sent = up.raw.find(&format!("\"{k}\":{v}"));
            assert!(sent.is_some(), "{k}={v} missing from {}", up.raw);
        }
    }
    assert_eq!(r.summary_json().unwrap()["best"], 3);
    assert_eq!(r.config_value("lr"), Some(&serde_json::json!(0.1)));
    assert!(r.complete && r.exit_code == Some(0));
    assert!(
        r.files.contains_key("wandb-summary.json"),
        "{:?}",
        r.files.keys()
    );
}

#[test]
fn a_server_that_is_down_never_blocks_logging_and_loses_nothing_locally() {
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let tmp = tempfile::tempdir().unwrap();
    let run =
        labbook::init(online(tmp.path(), &url).finish_timeout(Duration::from_secs(2))).unwrap();
    for i in 0..1000u32 {
        run.log([("x", Value::from(i))]).unwrap();
    }
    let dir = run.dir().unwrap().to_owned();
    let report = run.finish().unwrap();
    assert!(
        report.warnings.iter().any(|w| w.contains("upload incomplete") && w.contains("labbook sync --include-online")),
        "{:?}",
        report.warnings
    );
    assert!(run.url().is_none());
    assert_eq!(read_run(&dir).rows.len(), 1000);
}

#[test]
fn a_refused_key_stops_uploading_and_keeps_logging_locally() {
    let server = Server::start(ServerConfig::new(
        "another0123456789abcdefghijklmnopqrstuvwxyz",
    ))
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(online(tmp.path(), &server.base_url())).unwrap();
    for i in 0..50u32 {
        run.log([("x", Value::from(i))]).unwrap();
    }
    let dir = run.dir().unwrap().to_owned();
    let report = run.finish().unwrap();
    let warning = report
        .warnings
        .iter()
        .find(|w| w.contains("upload incomplete"))
        .expect("a warning");
    assert!(warning.contains("refused the API key"), "{warning}");
    assert!(!warning.contains(KEY), "the key leaked: {warning}");
    assert!(server.storage().runs().is_empty());
    assert_eq!(read_run(&dir).rows.len(), 50);
}

#[test]
fn an_interrupted_upload_is_finished_later_from_where_it_stopped() {
    let storage: labbook_server::Recorder = labbook_server::Recorder::default();
    let first = Server::start(ServerConfig::new(KEY).storage(storage.clone())).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run =
        labbook::init(online(tmp.path(), &first.base_url()).finish_timeout(Duration::from_secs(2)))
            .unwrap();
    for i in 0..20u32 {
        run.log([("x", Value::from(i))]).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while storage.runs().first().is_none_or(|r| r.history.len() < 20) {
        assert!(Instant::now() < deadline, "the first rows never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The server goes away mid-run; the run goes on and finishes locally.
    first.shutdown();
    for i in 20..45u32 {
        run.log([("x", Value::from(i))]).unwrap();
    }
    run.set_summary("final", 1).unwrap();
    let dir = run.dir().unwrap().to_owned();
    let report = run.finish().unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("upload incomplete")),
        "{:?}",
        report.warnings
    );
    let log = report.log_path();
    let labbook::online::SavedPosition::At(pos) =
        labbook::online::UploadPosition::load(&log).unwrap()
    else {
        panic!("no saved position")
    };
    assert_eq!(pos.offsets[0], 20, "{pos:?}");

    // Back up (same storage, another address): sync sends only what is missing.
    let second = Server::start(ServerConfig::new(KEY).storage(storage.clone())).unwrap();
    let opts = labbook::online::SyncOptions::new(second.base_url(), KEY);
    let r = labbook::online::sync_run(&log, &opts, &mut |_| {}).unwrap();
    assert_eq!(r.rows, 45);
    assert_eq!(arrived_x(&storage), (0..45).collect::<Vec<_>>());
    let up = &storage.runs()[0];
    assert_eq!(up.history.len(), read_run(&dir).rows.len());
    assert_eq!(up.summary_json().unwrap()["final"], 1);
    assert!(up.complete && up.exit_code == Some(0));
    assert!(labbook::online::synced_marker(&log).exists());
    assert!(!labbook::online::position_file(&log).exists());
}

fn fast_retry() -> labbook::online::RetryPolicy {
    labbook::online::RetryPolicy {
        max_retries: 30,
        wait_min: Duration::from_millis(5),
        wait_max: Duration::from_millis(100),
        timeout: Duration::from_secs(5),
    }
}

/// A server that fails a third of the requests (500/503), rate-limits some (429,
/// `Retry-After: 1`) and answers others late, on fixed seeds: every row still arrives once,
/// in order, with continuous offsets.
#[test]
fn uploads_survive_a_server_that_fails_rate_limits_and_stalls() {
    for seed in [1, 2] {
        let faults = labbook_server::Faults::new(seed)
            .server_errors(0.3)
            .rate_limits(0.03, 1)
            .slow(0.1, 100);
        let server = Server::start(ServerConfig::new(KEY).faults(faults)).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let run = labbook::init(
            online(tmp.path(), &server.base_url())
                .upload_retry(fast_retry())
                .finish_timeout(Duration::from_secs(60)),
        )
        .unwrap();
        let weights = tmp.path().join("weights.bin");
        std::fs::write(&weights, vec![seed as u8; 3000]).unwrap();
        for i in 0..300u32 {
            run.log([("x", Value::from(i))]).unwrap();
            if i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(60));
            }
            if i == 120 {
                // Media and an artifact go through the same faults.
                let image = labbook::media::Image::gray(2, 2, vec![seed as u8; 4]).unwrap();
                run.set_summary("sample", image).unwrap();
                run.log_model(&weights, "faulty", ["best"]).unwrap();
            }
        }
        let dir = run.dir().unwrap().to_owned();
        let report = run.finish().unwrap();
        assert!(
            report.warnings.is_empty(),
            "seed {seed}: {:?}",
            report.warnings
        );
        let storage = server.storage();
        assert_eq!(
            arrived_x(storage),
            (0..300).collect::<Vec<_>>(),
            "seed {seed}"
        );
        let up = &storage.runs()[0];
        assert_eq!(up.history.len(), read_run(&dir).rows.len());
        assert!(up.complete, "seed {seed}");
        let model = storage
            .artifacts()
            .into_iter()
            .find(|a| a.state == "COMMITTED")
            .expect("the model version was committed");
        assert_eq!(model.files["weights.bin"], vec![seed as u8; 3000]);
        assert!(
            up.files
                .keys()
                .any(|f| f.starts_with("media/images/sample")),
            "seed {seed}: {:?}",
            up.files.keys()
        );
        let failed = storage
            .requests()
            .iter()
            .filter(|r| r.status >= 500 || r.status == 429)
            .count();
        assert!(failed > 0, "seed {seed}: the schedule injected no fault");
    }
}

#[test]
fn should_stop_follows_the_servers_stop_button() {
    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(online(tmp.path(), &server.base_url())).unwrap();
    run.log([("x", Value::from(0))]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.storage().runs().is_empty() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let key = server.storage().runs()[0].key();
    server.storage().request_stop(&key);
    let mut i = 1u32;
    while !run.should_stop() {
        assert!(Instant::now() < deadline, "the stop never reached the run");
        run.log([("x", Value::from(i))]).unwrap();
        i += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    run.finish().unwrap();
}

/// The listener restarts mid-run (same address, storage kept): the uploader retries until
/// it is back and goes on where it stopped.
#[test]
fn an_upload_goes_on_after_the_listener_restarts() {
    let storage: labbook_server::Recorder = labbook_server::Recorder::default();
    let first = Server::start(ServerConfig::new(KEY).storage(storage.clone())).unwrap();
    let port = first.addr().port();
    let tmp = tempfile::tempdir().unwrap();
    let run =
        labbook::init(online(tmp.path(), &first.base_url()).upload_retry(fast_retry())).unwrap();
    log_until_arrived(&run, &storage, 0, 20);
    first.shutdown();
    for i in 20..40u32 {
        run.log([("x", Value::from(i))]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300)); // some retries hit the closed port
    let _second =
        Server::start(ServerConfig::new(KEY).port(port).storage(storage.clone())).unwrap();
    let report = run.finish().unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(arrived_x(&storage), (0..40).collect::<Vec<_>>());
    assert!(storage.runs()[0].complete);
}

/// The `x` of every row the server holds for its one run, once the file_stream offsets are
/// checked to be continuous.
fn arrived_x(storage: &labbook_server::Recorder) -> Vec<i64> {
    labbook_testkit::wandb::assert_offsets_continuous(storage);
    storage.runs()[0]
        .history
        .iter()
        .map(|l| l.get("x").unwrap().as_i64().unwrap())
        .collect()
}

fn log_until_arrived(run: &labbook::Run, storage: &labbook_server::Recorder, from: u32, to: u32) {
    for i in from..to {
        run.log([("x", Value::from(i))]).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while storage
        .runs()
        .first()
        .is_none_or(|r| r.history.len() < to as usize)
    {
        assert!(Instant::now() < deadline, "rows never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The server is down for ten minutes, played on an injected clock: `log` never waits, the
/// uploader retries on W&B's file_stream schedule (2-60 s apart) the whole time, and once
/// the server is back every row arrives once, in order, with continuous offsets.
#[test]
fn ten_minutes_of_outage_on_an_injected_clock_lose_nothing() {
    let outage = labbook_server::Outage::default();
    let faults = labbook_server::Faults::new(3).outage(&outage);
    let server = Server::start(ServerConfig::new(KEY).faults(faults)).unwrap();
    let clock = labbook::online::ManualClock::new();
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        online(tmp.path(), &server.base_url())
            .upload_clock(clock.clone())
            .upload_interval(Duration::from_secs(5))
            .finish_timeout(Duration::from_secs(60)),
    )
    .unwrap();
    log_until_arrived(&run, server.storage(), 0, 100);
    outage.set(true);
    let down_at = clock.now();
    let real = Instant::now();
    for i in 100..20_100u32 {
        run.log([("x", Value::from(i))]).unwrap();
    }
    let logging = real.elapsed();
    while clock.now() - down_at < Duration::from_secs(600) {
        assert!(
            real.elapsed() < Duration::from_secs(60),
            "the uploader's clock stopped at {:?}",
            clock.now() - down_at
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let refused = server
        .storage()
        .requests()
        .iter()
        .filter(|r| r.status == 503)
        .count();
    outage.set(false);
    let report = run.finish().unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    // 2+4+8+16+32 s, then a minute apart: about 15 attempts in ten minutes.
    assert!(refused >= 10, "only {refused} requests met the outage");
    assert!(
        logging < Duration::from_secs(10),
        "20000 log calls took {logging:?} while the server was down"
    );
    let storage = server.storage();
    assert_eq!(arrived_x(storage), (0..20_100).collect::<Vec<_>>());
    assert!(storage.runs()[0].complete);
}

/// A server that sends W&B's `RateLimit-Remaining` / `RateLimit-Reset` headers (10
/// requests a second here) is never pushed over its limit by a client sending as fast as it
/// can: the client spreads what is left of each window over it.
#[test]
fn the_servers_rate_limit_headers_pace_the_client() {
    let faults = labbook_server::Faults::new(4).rate_limit_window(10, Duration::from_secs(1));
    let server = Server::start(ServerConfig::new(KEY).faults(faults)).unwrap();
    let client = labbook::online::Client::new(&server.base_url(), KEY, fast_retry()).unwrap();
    let start = Instant::now();
    for _ in 0..30 {
        client
            .graphql(
                "Viewer",
                "query Viewer { viewer { id } }",
                serde_json::json!({}),
            )
            .unwrap();
    }
    let took = start.elapsed();
    let statuses: Vec<u16> = server
        .storage()
        .requests()
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![200; 30], "went over the limit");
    assert_eq!(client.rate_limited(), 0);
    // 30 requests at 10 a second: the first window's ten, then two more windows.
    assert!(took >= Duration::from_millis(1900), "{took:?}");
}

/// An online run against a server that allows 3 requests a second, asked to upload every
/// 10 ms: no 429, and every row arrives.
#[test]
fn an_online_run_keeps_to_the_servers_rate_limit() {
    let faults = labbook_server::Faults::new(5).rate_limit_window(3, Duration::from_secs(1));
    let server = Server::start(ServerConfig::new(KEY).faults(faults)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        online(tmp.path(), &server.base_url())
            .upload_interval(Duration::from_millis(10))
            .finish_timeout(Duration::from_secs(30)),
    )
    .unwrap();
    for i in 0..150u32 {
        run.log([("x", Value::from(i))]).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = run.finish().unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let storage = server.storage();
    let requests = storage.requests();
    assert!(
        requests.iter().all(|r| r.status != 429),
        "went over the limit: {:?}",
        requests
            .iter()
            .filter(|r| r.status == 429)
            .collect::<Vec<_>>()
    );
    assert!(requests.len() > 3, "{} requests", requests.len());
    assert_eq!(arrived_x(storage), (0..150).collect::<Vec<_>>());
}

/// Console lines (here from the `tracing` layer) stream into the server's `output.log`, in
/// order, and the file itself is uploaded at the end.
#[test]
fn console_output_streams_to_the_server() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(online(tmp.path(), &server.base_url())).unwrap();
    let subscriber = tracing_subscriber::registry().with(run.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        for epoch in 0..30 {
            tracing::info!(epoch, "validation done");
            run.log([("x", Value::from(epoch))]).unwrap();
        }
    });
    let report = run.finish().unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let storage = server.storage();
    labbook_testkit::wandb::assert_offsets_continuous(storage);
    let up = &storage.runs()[0];
    let epochs: Vec<&String> = up
        .output
        .iter()
        .filter(|l| l.contains("validation done"))
        .collect();
    assert_eq!(epochs.len(), 30, "{:?}", up.output);
    for (i, line) in epochs.iter().enumerate() {
        assert!(line.ends_with(&format!("epoch={i}")), "{line}");
    }
    let file = String::from_utf8_lossy(&up.files["output.log"]).into_owned();
    assert!(file.contains("validation done epoch=29"), "{file}");
}

/// An image logged mid-run is on the server while the run is still going, not only after
/// `finish`.
#[test]
fn media_are_uploaded_with_their_rows() {
    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(online(tmp.path(), &server.base_url())).unwrap();
    let image = labbook::media::Image::gray(4, 4, vec![7; 16]).unwrap();
    run.log([("sample", Value::from(image))]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let path = loop {
        let runs = server.storage().runs();
        let row = runs.first().and_then(|r| r.history.first().cloned());
        if let Some(path) = row.and_then(|l| l.get("sample")?["path"].as_str().map(str::to_owned))
            && runs[0].files.contains_key(&path)
        {
            break path;
        }
        assert!(
            Instant::now() < deadline,
            "the image never arrived before finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(path.starts_with("media/images/sample_0_"), "{path}");
    assert!(!server.storage().runs()[0].complete);
    let report = run.finish().unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let up = &server.storage().runs()[0];
    assert!(up.files.contains_key(&path) && up.complete);
}

/// Online `init`, `log`, `use_artifact` and `finish` from inside an async runtime, both
/// flavours: nothing panics, and `init` with the server down returns at once.
#[test]
fn an_online_run_works_inside_a_tokio_runtime() {
    // Failed before: `init` built the blocking HTTP client on the caller's thread, which
    // panics inside a runtime ("Cannot drop a runtime in a context where blocking is not
    // allowed").
    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    let runtimes = [
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap(),
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    ];
    for (i, rt) in runtimes.iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let url = server.base_url();
        rt.block_on(async {
            let run = labbook::init(online(tmp.path(), &url).name(format!("async-{i}"))).unwrap();
            for step in 0..20u32 {
                run.log([("x", Value::from(step))]).unwrap();
                tokio::task::yield_now().await;
            }
            let e = run.use_artifact("no-such-artifact").unwrap_err();
            assert!(e.to_string().contains("no-such-artifact"), "{e}");
            let report = run.finish().unwrap();
            assert_eq!(report.rows, 20);
        });
        // The server down: `init` does not wait for it, and the run is kept locally.
        rt.block_on(async {
            let started = Instant::now();
            let run = labbook::init(
                online(&tmp.path().join("down"), "http://127.0.0.1:9")
                    .finish_timeout(Duration::from_millis(200)),
            )
            .unwrap();
            assert!(
                started.elapsed() < Duration::from_millis(100),
                "init took {:?}",
                started.elapsed()
            );
            run.log([("x", Value::from(1))]).unwrap();
            let report = run.finish().unwrap();
            assert_eq!(report.rows, 1);
            assert!(
                report
                    .warnings
                    .iter()
                    .any(|w| w.contains("upload incomplete"))
            );
        });
    }
    let names: Vec<String> = server
        .storage()
        .runs()
        .iter()
        .filter_map(|r| r.display_name.clone())
        .collect();
    assert!(names.contains(&"async-0".to_owned()) && names.contains(&"async-1".to_owned()));
}
