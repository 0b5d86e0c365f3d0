//! `labbook serve --watch`: how fast offline runs already on disk are imported into a data
//! directory (SQLite with the production settings), from the moment the server starts
//! watching to the moment every run is stored whole (`complete`). The runs are written by
//! labbook before the clock starts: 10 scalars a step, no system metrics.
//!
//! ```console
//! $ cargo bench -p labbook-server --bench import            # 8 runs x 100k steps
//! $ LABBOOK_BENCH_STEPS=20000 cargo bench -p labbook-server --bench import
//! ```

use std::time::{Duration, Instant};

use labbook_server::store::{MetaStore as _, RunKey};
use labbook_server::{DataDir, Recorder, Server, ServerConfig, WatchOptions};

mod support;

use support::{cpu, offline_run};

fn main() {
    let steps: usize = std::env::var("LABBOOK_BENCH_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runs = 8;
    let watched = tempfile::tempdir().expect("temp dir");
    let ids: Vec<String> = (0..runs)
        .map(|_| offline_run(watched.path(), "bench-import", steps).0)
        .collect();
    let data = tempfile::tempdir().expect("temp dir");
    let (dir, _) = DataDir::open(data.path()).expect("data dir");
    let storage = Recorder::new(dir.meta.clone(), dir.blobs.clone());
    let watch = WatchOptions {
        poll: Duration::from_millis(20),
        ..WatchOptions::new([watched.path()])
    };
    let config = ServerConfig::from_data_dir(&dir, "127.0.0.1:0".parse().expect("address"))
        .storage(storage.clone())
        .watch(watch);
    let (start, cpu_start) = (Instant::now(), cpu());
    let server = Server::start(config).expect("server");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for id in &ids {
        // The run's row only: reading its lines back would be timed too.
        let key = RunKey::new("admin", "bench-import", id.as_str());
        while !rt
            .block_on(dir.meta.run(&key))
            .expect("the store answers")
            .is_some_and(|run| run.complete)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let (elapsed, cpu_used) = (start.elapsed(), cpu() - cpu_start);
    let rows = (runs * steps) as f64;
    println!(
        "import, {runs} runs x {steps} steps of 10 scalars: {:.2} s, {:.0} rows/s, \
         {:.1} us CPU per row",
        elapsed.as_secs_f64(),
        rows / elapsed.as_secs_f64(),
        cpu_used.as_secs_f64() * 1e6 / rows
    );
    server.shutdown();
    let stored = storage
        .run("admin", "bench-import", &ids[0])
        .expect("the run");
    assert_eq!(stored.history.len(), steps, "every row imported once");
}
