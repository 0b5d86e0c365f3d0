//! `labbook::api` reading a 1M-step run back, from its directory and from the server it was
//! synced to (`labbook serve`'s SQLite store, over HTTP): every row streamed, one key's
//! rows, and the first page of a run list. Prints rows/s and p50/p99 of repeats.
//!
//! ```console
//! $ cargo bench --bench read_api
//! ```

use std::time::{Duration, Instant};

use labbook::Value;
use labbook::api::{Api, Query, RunInfo};
use labbook_server::{DataDir, Server, ServerConfig};

/// Rows of the run (`LABBOOK_BENCH_STEPS` sets fewer, for a quick profile).
fn steps() -> u64 {
    std::env::var("LABBOOK_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}
const KEY: &str = "bnch0123456789abcdefghijklmnopqrstuvwxyz01";

/// Every row of the run; how many and how long.
fn scan(api: &Api, run: &RunInfo, keys: &[&str]) -> (usize, Duration) {
    let started = Instant::now();
    let mut n = 0;
    for row in api.history(run, keys).expect("history") {
        row.expect("row");
        n += 1;
    }
    (n, started.elapsed())
}

fn report(what: &str, (rows, took): (usize, Duration)) {
    println!(
        "{what}: {rows} rows in {:.2} s, {:.0} rows/s",
        took.as_secs_f64(),
        rows as f64 / took.as_secs_f64()
    );
}

/// p50 and p99 of `f` over `n` runs after one to warm up.
fn time99(n: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    f();
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[n / 2], times[(n * 99 / 100).min(n - 1)])
}

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let runs = tmp.path().join("runs");
    let started = Instant::now();
    let settings = labbook::Settings::new("bench")
        .dir(&runs)
        .entity("lab")
        .quiet(true)
        .system_metrics(false)
        .git_diff(false);
    let run = labbook::init(settings).expect("init");
    let steps = steps();
    for step in 0..steps {
        let x = step as f64;
        run.log([
            ("loss", Value::from(1.0 / (x + 1.0))),
            ("acc", Value::from((x * 1e-4).sin())),
            ("lr", Value::from(1e-3)),
        ])
        .expect("log");
    }
    run.finish().expect("finish");
    println!(
        "setup: {steps} rows of 3 scalars logged in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let (dir, _) = DataDir::open(&tmp.path().join("data")).expect("data dir");
    let server = Server::start(
        ServerConfig::new(KEY)
            .entity("lab")
            .stores(dir.meta.clone(), dir.blobs.clone()),
    )
    .expect("server");
    let started = Instant::now();
    let opts = labbook::online::SyncOptions::new(server.base_url(), KEY);
    for run_dir in labbook::api::run_dirs(&runs).expect("runs") {
        let log = labbook::api::log_file(&run_dir).expect("log");
        labbook::online::sync_run(&log, &opts, &mut |_| {}).expect("sync");
    }
    println!(
        "setup: synced to labbook serve (SQLite) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let local = Api::dir(&runs).expect("dir");
    let remote = Api::server(&server.base_url(), Some(KEY)).expect("server");
    let here = local.runs(&Query::new()).expect("runs").remove(0);
    let there = remote.run(&format!("lab/bench/{}", here.id)).expect("run");
    report("local log, every row", scan(&local, &here, &[]));
    report(
        "server, every row (pages of 1,000)",
        scan(&remote, &there, &[]),
    );
    report("local log, rows with `acc`", scan(&local, &here, &["acc"]));
    report(
        "server, rows with `acc` (pages of 1,000)",
        scan(&remote, &there, &["acc"]),
    );
    let (p50, p99) = time99(20, || {
        let mut rows = remote.history(&there, &[]).expect("history");
        for _ in 0..1000 {
            rows.next().expect("a row").expect("row");
        }
    });
    println!("server, the first page of 1,000 rows: p50 {p50:.2?}, p99 {p99:.2?}");
    let q = Query::new().project("lab/bench");
    let (p50, p99) = time99(50, || {
        assert_eq!(remote.runs(&q).expect("runs").len(), 1);
    });
    println!("server, runs() of one project: p50 {p50:.2?}, p99 {p99:.2?}");
    server.shutdown();
}
