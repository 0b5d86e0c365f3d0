//! `labbook serve` under load, with the production settings (SQLite in WAL with
//! `synchronous = FULL`, a request answered only after its commit): rows/s of 10 scalars
//! from 1, 8 and 32 runs streaming at once, with requests shaped as labbook's uploader sends
//! them (gzip, a few thousand rows each); the load generator runs in this process, so the
//! CPU per row counts both sides (its bodies are built before the clock starts, as a load
//! generator replays prepared requests). Then the data directory's size for 8 runs × 100k steps
//! against the `.wandb` files labbook writes for the same rows.
//!
//! ```console
//! $ cargo bench -p labbook-server --bench ingest            # 400k rows a case
//! $ LABBOOK_BENCH_ROWS=100000 cargo bench -p labbook-server --bench ingest
//! ```

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

mod support;

use flate2::Compression;
use flate2::write::GzEncoder;
use labbook_server::store::{MetaStore, RunKey};
use labbook_server::{DataDir, Server, ServerConfig};
use serde_json::json;
use support::{cpu, offline_run};

/// Rows per `file_stream` request: about what the uploader packs into its 1 MiB reads.
const ROWS_PER_REQUEST: usize = 2_000;

/// A history line as the clients send it: step, runtime, timestamp and 10 scalars.
fn line(step: usize) -> String {
    let mut text = format!(
        "{{\"_step\":{step},\"_runtime\":{:.3},\"_timestamp\":{:.3}",
        step as f64 * 0.01,
        1_767_225_600.0 + step as f64 * 0.01
    );
    for k in 0..10 {
        text.push_str(&format!(
            ",\"m{k}\":{}",
            (step as f64 * 0.001 + k as f64).sin()
        ));
    }
    text.push('}');
    text
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(body).expect("gzip");
    gz.finish().expect("gzip")
}

/// The gzipped `file_stream` bodies of one run of `rows` rows, built before the clock starts
/// (as a load generator replays prepared requests): what is timed is sending them and the
/// server storing them, not making up numbers.
fn bodies(rows: usize) -> Vec<Vec<u8>> {
    (0..rows)
        .step_by(ROWS_PER_REQUEST)
        .map(|offset| {
            let lines: Vec<String> = (offset..(offset + ROWS_PER_REQUEST).min(rows))
                .map(line)
                .collect();
            let body =
                json!({"files": {"wandb-history.jsonl": {"offset": offset, "content": lines}}});
            gzip(body.to_string().as_bytes())
        })
        .collect()
}

/// One run sending its requests to the server, one after another, each acknowledged.
fn stream_run(base: &str, key: &str, run: &str, bodies: Vec<Vec<u8>>) {
    let client = reqwest::blocking::Client::new();
    let upsert = json!({"query": "mutation UpsertBucket { x }", "operationName": "UpsertBucket",
        "variables": {"entity": "admin", "project": "bench", "name": run}});
    let answer = client
        .post(format!("{base}/graphql"))
        .basic_auth("api", Some(key))
        .json(&upsert)
        .send()
        .expect("upsert");
    assert!(answer.status().is_success(), "upsert: {}", answer.status());
    let url = format!("{base}/files/admin/bench/{run}/file_stream");
    for body in bodies {
        let sent = client
            .post(&url)
            .basic_auth("api", Some(key))
            .header("Content-Encoding", "gzip")
            .body(body)
            .send()
            .expect("file_stream");
        assert!(sent.status().is_success(), "file_stream: {}", sent.status());
    }
}

/// Size of every file below `dir`.
fn size(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        total += if path.is_dir() {
            size(&path)
        } else {
            entry.metadata().map_or(0, |m| m.len())
        };
    }
    total
}

/// `runs` runs at once, `rows` rows in all; returns the data directory for a size check.
fn ingest(runs: usize, rows: usize) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (data, _) = DataDir::open(tmp.path()).expect("data dir");
    let (key, _) = data.new_key("admin").expect("key");
    let server = Server::start(ServerConfig::from_data_dir(
        &data,
        "127.0.0.1:0".parse().expect("addr"),
    ))
    .expect("server");
    let base = server.base_url();
    let per_run = rows / runs;
    let prepared = bodies(per_run);
    let mut each: Vec<Vec<Vec<u8>>> = (0..runs).map(|_| prepared.clone()).collect();
    let (started, cpu_before) = (Instant::now(), cpu());
    std::thread::scope(|s| {
        for r in 0..runs {
            let (base, key, bodies) = (&base, &key, each.pop().unwrap_or_default());
            s.spawn(move || stream_run(base, key, &format!("run{r}"), bodies));
        }
    });
    let (elapsed, cpu_used) = (started.elapsed(), cpu() - cpu_before);
    let total = per_run * runs;
    println!(
        "ingest, {runs:>2} runs at once: {:>9.0} rows/s acknowledged ({total} rows in {:.2} s), \
         {:.2} µs CPU per row (server and clients)",
        total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        cpu_used.as_secs_f64() * 1e6 / total as f64
    );
    server.shutdown();
    // Read back: every run holds exactly its rows.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for r in 0..runs {
        let key = RunKey::new("admin", "bench", format!("run{r}"));
        let run = rt
            .block_on(data.meta.run(&key))
            .expect("read")
            .expect("run");
        assert_eq!(run.history_lines, per_run, "run{r}");
    }
    data.checkpoint().expect("checkpoint");
    tmp
}

/// The `.wandb` file labbook writes for one run of `steps` rows like the ones above.
fn wandb_file_size(steps: usize) -> u64 {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (_, dir) = offline_run(tmp.path(), "bench-size", steps);
    std::fs::read_dir(&dir)
        .expect("run dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "wandb"))
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum()
}

fn main() {
    let rows: usize = std::env::var("LABBOOK_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400_000);
    for runs in [1, 8, 32] {
        drop(ingest(runs, rows));
    }
    let steps = 100_000;
    let dir = ingest(8, 8 * steps);
    let stored = size(dir.path());
    let wandb = wandb_file_size(steps) * 8;
    println!(
        "storage, 8 runs x {steps} steps of 10 scalars: data directory {:.1} MB \
         ({:.0} B/row), their .wandb files {:.1} MB ({:.0} B/row): {:.2}x",
        stored as f64 / 1e6,
        stored as f64 / (8 * steps) as f64,
        wandb as f64 / 1e6,
        wandb as f64 / (8 * steps) as f64,
        stored as f64 / wandb as f64
    );
}
