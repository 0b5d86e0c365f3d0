//! `labbook serve --watch`: how fast offline runs already on disk are imported into a data
//! directory (SQLite with the production settings), from the moment the server starts
//! watching to the moment every run is stored whole (`complete`). The runs are written by
//! labbook before the clock starts: 10 scalars a step, no system metrics.
//!
//! ```console
//! $ cargo bench -p labbook-server --bench import            # 8 runs x 100k steps
//! $ LABBOOK_BENCH_STEPS=20000 cargo bench -p labbook-server --bench import
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use labbook_server::store::{MetaStore as _, RunKey};
use labbook_server::{DataDir, Recorder, Server, ServerConfig, WatchOptions};

/// User plus system CPU time of this process (server and writer threads alike).
fn cpu() -> Duration {
    // SAFETY: getrusage fills the struct we own.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// One offline run of `steps` rows of 10 scalars under `dir`.
fn write_run(dir: &Path, steps: usize) -> String {
    let settings = labbook::Settings::new("bench-import")
        .dir(dir)
        .quiet(true)
        .handle_signals(false)
        .system_metrics(false)
        .console(labbook::Console::Off)
        .git_diff(false);
    let run = labbook::init(settings).expect("init");
    for step in 0..steps {
        let row: Vec<(String, labbook::Value)> = (0..10)
            .map(|k| {
                let v = (step as f64 * 0.001 + k as f64).sin();
                (format!("m{k}"), labbook::Value::from(v))
            })
            .collect();
        run.log(row).expect("log");
    }
    let id = run.id().to_owned();
    run.finish().expect("finish");
    id
}

fn main() {
    let steps: usize = std::env::var("LABBOOK_BENCH_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runs = 8;
    let watched = tempfile::tempdir().expect("temp dir");
    let ids: Vec<String> = (0..runs)
        .map(|_| write_run(watched.path(), steps))
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
