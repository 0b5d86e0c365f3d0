//! Online uploads: rows/s that `sync_run` uploads to labbook-server on this machine
//! (criterion), and the memory an online run holds while its server is down (printed).
//!
//! ```console
//! $ cargo bench --bench online
//! ```

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use labbook::{Mode, Settings, Value};
use labbook_server::{Server, ServerConfig};

const KEY: &str = "bnch0123456789abcdefghijklmnopqrstuvwxyz01";
const ROWS: u64 = 100_000;

#[path = "common/quiet.rs"]
mod quiet;

fn settings(dir: &std::path::Path) -> Settings {
    quiet::settings(dir, "bench-online")
}

fn row(i: u64) -> Vec<(String, Value)> {
    (0..10)
        .map(|k| (format!("m{k}"), Value::from(i as f64 + k as f64)))
        .collect()
}

/// Resident set size in MiB, from /proc.
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1 << 20) as f64
}

/// A run logging 1M rows of 10 scalars flat out: offline, then online while nothing
/// listens at its server (the process's peak RSS only grows, so the online peak above the
/// offline one is what the upload side holds).
fn memory_while_down() {
    for online in [false, true] {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        let url = format!("http://{}", closed.local_addr().expect("addr"));
        drop(closed);
        let tmp = tempfile::tempdir().expect("temp dir");
        let s = settings(tmp.path()).finish_timeout(Duration::from_secs(2));
        let s = if online {
            s.mode(Mode::Online).base_url(url).api_key(KEY)
        } else {
            s
        };
        measure_memory(
            labbook::init(s).expect("init"),
            if online {
                "online, server down"
            } else {
                "offline"
            },
        );
    }
}

fn measure_memory(run: labbook::Run, name: &str) {
    let before = rss_mib();
    let mut peak = before;
    let started = Instant::now();
    for i in 0..1_000_000u64 {
        run.log(row(i)).expect("log");
        if i % 100_000 == 0 {
            peak = peak.max(rss_mib());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    peak = peak.max(rss_mib());
    let report = run.finish().expect("finish");
    println!(
        "{name}: 1M rows of 10 scalars logged in {secs:.2} s ({:.0} rows/s); RSS {before:.1} -> peak {peak:.1} MiB; {} rows on disk",
        1e6 / secs,
        report.rows
    );
}

fn sync_throughput(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let run = labbook::init(settings(tmp.path())).expect("init");
    for i in 0..ROWS {
        run.log(row(i)).expect("log");
    }
    let log = run.finish().expect("finish").log_path();
    let mut group = c.benchmark_group("online");
    group.sample_size(10).throughput(Throughput::Elements(ROWS));
    group.bench_function("sync_100k_rows_to_local_server", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_file(labbook::online::synced_marker(&log));
                Server::start(ServerConfig::new(KEY)).expect("server")
            },
            |server| {
                let opts = labbook::online::SyncOptions::new(server.base_url(), KEY);
                let r = labbook::online::sync_run(&log, &opts, &mut |_| {}).expect("sync");
                assert_eq!(r.rows, ROWS);
                server
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn main() {
    memory_while_down();
    let mut c = Criterion::default().configure_from_args();
    sync_throughput(&mut c);
    c.final_summary();
}
