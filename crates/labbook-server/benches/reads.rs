//! The reads the SQLite schema was designed for, timed on a store the size of a big lab's:
//! one metric over 1M steps folded to 1,000 points (a chart), and 10,000 runs filtered by a
//! config value and sorted by a summary value (a runs table). Then the same data read as
//! `wandb.Api()` reads it, through the server's GraphQL: `scan_history` pages of 1,000 rows
//! and the whole scan, a keyed `history(samples=1000)`, and `runs()` of 10,000 runs with a
//! config filter and a summary order. Prints p50 and p95 (p99 for the read API) of many
//! repeats, after a warm-up, under the production settings (WAL, `synchronous = FULL`).
//!
//! ```console
//! $ cargo bench -p labbook-server --bench reads
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use labbook_server::store::{
    Chunk, Compare, FieldValue, MetaStore, RunKey, RunPatch, RunQuery, SeriesQuery, SqliteStore,
    Stream, StreamBatch,
};
use serde_json::json;

const STEPS: usize = 1_000_000;
const RUNS: usize = 10_000;
const ROWS_PER_REQUEST: usize = 2_000;
const REPEATS: usize = 50;
const LRS: [f64; 10] = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6];

/// p50 and p99 of `f` over `repeats` runs after one to warm up.
fn time99<T>(repeats: usize, mut f: impl FnMut(usize) -> T) -> (Duration, Duration) {
    f(0);
    let mut times: Vec<Duration> = (0..repeats)
        .map(|i| {
            let start = Instant::now();
            f(i);
            start.elapsed()
        })
        .collect();
    times.sort();
    (
        times[repeats / 2],
        times[(repeats * 99 / 100).min(repeats - 1)],
    )
}

/// One GraphQL operation, as `wandb.Api()` sends it; its `data`.
fn graphql(
    client: &reqwest::blocking::Client,
    base: &str,
    op: &str,
    vars: serde_json::Value,
) -> serde_json::Value {
    let answer: serde_json::Value = client
        .post(format!("{base}/graphql"))
        .basic_auth("api", Some(KEY))
        .json(&json!({"query": format!("query {op} {{ x }}"), "operationName": op, "variables": vars}))
        .send()
        .expect("request")
        .json()
        .expect("JSON");
    answer["data"].clone()
}

const KEY: &str = "bench0123456789abcdefghijklmnopqrstuvwxyz";

/// The read API's operations over the store, through HTTP.
fn read_api(store: Arc<SqliteStore>) {
    let blobs = Arc::new(labbook_server::store::MemoryBlobs::default());
    let config = labbook_server::ServerConfig::new(KEY)
        .entity("lab")
        .stores(store, blobs);
    let server = labbook_server::Server::start(config).expect("server");
    let base = server.base_url();
    let client = reqwest::blocking::Client::new();
    let run = |extra: serde_json::Value| {
        let mut vars = json!({"entity": "lab", "project": "long", "run": "run", "name": "run"});
        for (k, v) in extra.as_object().expect("object") {
            vars[k] = v.clone();
        }
        vars
    };
    let (p50, p99) = time99(200, |i| {
        let min = (i * 4999) % (STEPS - 1000);
        let page = graphql(
            &client,
            &base,
            "HistoryPage",
            run(json!({"minStep": min, "maxStep": min + 1000, "pageSize": 1000})),
        );
        assert_eq!(
            page["project"]["run"]["history"].as_array().map(Vec::len),
            Some(1000)
        );
    });
    println!(
        "read API: scan_history pages of 1,000 rows at random steps of {STEPS}: p50 {p50:.2?}, p99 {p99:.2?}"
    );
    let started = Instant::now();
    let mut rows = 0;
    for min in (0..STEPS).step_by(1000) {
        let page = graphql(
            &client,
            &base,
            "HistoryPage",
            run(json!({"minStep": min, "maxStep": min + 1000, "pageSize": 1000})),
        );
        rows += page["project"]["run"]["history"]
            .as_array()
            .map_or(0, Vec::len);
    }
    assert_eq!(rows, STEPS);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "read API: scan_history of all {STEPS} rows in pages of 1,000: {secs:.1} s, {:.0} rows/s",
        STEPS as f64 / secs
    );
    let spec = json!({"keys": ["_step", "m3"], "samples": 1000}).to_string();
    let (p50, p99) = time99(5, |_| {
        let data = graphql(
            &client,
            &base,
            "RunSampledHistory",
            run(json!({"specs": [spec]})),
        );
        let rows = data["project"]["run"]["sampledHistory"][0]
            .as_array()
            .map_or(0, Vec::len);
        assert!(rows > 0 && rows <= 1000, "{rows}");
    });
    println!(
        "read API: history(keys=[m3], samples=1000) of {STEPS} steps: p50 {p50:.2?}, p99 {p99:.2?}"
    );
    let filters = json!({"config.lr": 1e-3}).to_string();
    let (p50, p99) = time99(20, |_| {
        let data = graphql(
            &client,
            &base,
            "Runs",
            json!({"entity": "lab", "project": "sweep", "filters": filters, "order": "+summary_metrics.loss", "perPage": 50}),
        );
        assert_eq!(data["project"]["runCount"], RUNS / 10);
    });
    println!(
        "read API: runs() of {RUNS} runs, config.lr = 1e-3, ordered by summary_metrics.loss, first page of 50: p50 {p50:.2?}, p99 {p99:.2?}"
    );
    server.shutdown();
}

/// p50 and p95 of `f` over [`REPEATS`] runs after three to warm up.
fn time<T>(mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut out = f();
    out = {
        f();
        f();
        out
    };
    let mut times: Vec<Duration> = (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            out = f();
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[REPEATS / 2], times[REPEATS * 95 / 100], out)
}

/// One run with 1M history rows of 10 scalars, sent as the clients send them.
async fn long_run(store: &SqliteStore, key: &RunKey) {
    for offset in (0..STEPS).step_by(ROWS_PER_REQUEST) {
        let lines = (offset..offset + ROWS_PER_REQUEST)
            .map(|step| {
                let mut row = format!("{{\"_step\":{step},\"_runtime\":{}", step as f64 * 0.01);
                for k in 0..10 {
                    row.push_str(&format!(
                        ",\"m{k}\":{}",
                        (step as f64 * 1e-4 + k as f64).sin()
                    ));
                }
                row.push('}');
                row
            })
            .collect();
        let batch = StreamBatch {
            chunks: vec![(Stream::History, Chunk { offset, lines })],
            ..StreamBatch::default()
        };
        store.append_stream(key, batch).await.expect("append");
    }
}

/// 10,000 runs of one project: a learning rate out of ten, an optimizer, and a final loss.
async fn many_runs(store: &Arc<SqliteStore>) {
    let mut pending = Vec::new();
    for i in 0..RUNS {
        let key = RunKey::new("lab", "sweep", format!("run{i:05}"));
        let config = json!({
            "lr": {"value": LRS[i % 10]},
            "optim": {"value": {"name": if i % 3 == 0 { "sgd" } else { "adam" }, "momentum": 0.9}},
            "batch_size": {"value": 32 << (i % 4)},
        });
        let loss = ((i * 7919) % 10_007) as f64 / 10_007.0;
        let store = Arc::clone(store);
        pending.push(tokio::spawn(async move {
            let patch = RunPatch {
                config: Some(config),
                ..RunPatch::default()
            };
            store.upsert_run(&key, patch).await.expect("upsert");
            let summary = json!({"loss": loss, "acc": 1.0 - loss, "_step": 1000, "_runtime": 60.0});
            let batch = StreamBatch {
                summary: Some((summary.to_string(), 0)),
                ..StreamBatch::default()
            };
            store.append_stream(&key, batch).await.expect("summary");
        }));
    }
    // All at once, so the store's writer commits them in groups.
    for task in pending {
        task.await.expect("task");
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("labbook.sqlite")).expect("store"));
    let key = RunKey::new("lab", "long", "run");

    let started = Instant::now();
    rt.block_on(long_run(&store, &key));
    println!(
        "setup: 1 run x {STEPS} rows of 10 scalars in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let query = SeriesQuery {
        stream: Stream::History,
        key: "m3".into(),
        steps: None,
        buckets: 1000,
    };
    let (p50, p95, buckets) = time(|| rt.block_on(store.series(&key, &query)).expect("series"));
    assert_eq!(buckets.len(), 1000);
    assert_eq!(buckets.iter().map(|b| b.count).sum::<usize>(), STEPS);
    println!("series: {STEPS} steps of one key to 1,000 buckets: p50 {p50:.2?}, p95 {p95:.2?}");
    let zoom = SeriesQuery {
        steps: Some(400_000..500_000),
        ..query
    };
    let (p50, p95, _) = time(|| rt.block_on(store.series(&key, &zoom)).expect("series"));
    println!("series: steps 400k..500k of one key to 1,000 buckets: p50 {p50:.2?}, p95 {p95:.2?}");

    let started = Instant::now();
    rt.block_on(many_runs(&store));
    println!(
        "setup: {RUNS} runs with config and summary in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let filtered = RunQuery::new("lab", "sweep")
        .filter("config.lr", Compare::Eq, FieldValue::Num(1e-3))
        .order_by("summary.loss", false);
    let (p50, p95, names) = time(|| rt.block_on(store.find_runs(&filtered)).expect("find"));
    assert_eq!(names.len(), RUNS / 10);
    println!(
        "runs: {RUNS} runs, config.lr = 1e-3, sorted by summary.loss ({} found): p50 {p50:.2?}, p95 {p95:.2?}",
        names.len()
    );
    let two = RunQuery::new("lab", "sweep")
        .filter(
            "config.optim.name",
            Compare::Eq,
            FieldValue::Text("adam".into()),
        )
        .filter("config.lr", Compare::Le, FieldValue::Num(1e-2))
        .order_by("summary.acc", true)
        .limit(50);
    let (p50, p95, names) = time(|| rt.block_on(store.find_runs(&two)).expect("find"));
    assert_eq!(names.len(), 50);
    println!(
        "runs: {RUNS} runs, optim adam and lr <= 1e-2, top 50 by summary.acc: p50 {p50:.2?}, p95 {p95:.2?}"
    );
    let all = RunQuery::new("lab", "sweep").order_by("summary.loss", true);
    let (p50, p95, names) = time(|| rt.block_on(store.find_runs(&all)).expect("find"));
    assert_eq!(names.len(), RUNS);
    println!("runs: all {RUNS} runs sorted by summary.loss: p50 {p50:.2?}, p95 {p95:.2?}");
    drop(rt);
    read_api(store);
}
