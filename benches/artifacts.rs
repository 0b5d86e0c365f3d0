//! Artifacts: how fast a 1 GiB checkpoint is staged (copied and hashed, `log_model` to
//! `finish`) and verified (`use_artifact` checks every byte against its digest), in MB/s,
//! and how much the process's peak memory grows while it happens (printed: the file goes
//! through a 1 MiB buffer, never whole).
//!
//! ```console
//! $ cargo bench --bench artifacts                       # 1 GiB
//! $ LABBOOK_BENCH_ARTIFACT_MIB=256 cargo bench --bench artifacts
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use criterion::{BatchSize, Criterion, Throughput};
use labbook::Settings;

#[path = "common/quiet.rs"]
mod quiet;

fn settings(dir: &std::path::Path) -> Settings {
    quiet::settings(dir, "bench-artifacts")
}

fn size_mib() -> u64 {
    std::env::var("LABBOOK_BENCH_ARTIFACT_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// A checkpoint-like file of `mib` MiB (not all zeros, so no filesystem shortcut).
fn checkpoint(dir: &Path, mib: u64) -> PathBuf {
    let path = dir.join("model.safetensors");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut block = vec![0u8; 1 << 20];
    for i in 0..mib {
        for (j, b) in block.iter_mut().enumerate() {
            *b = (i as usize * 31 + j * 7) as u8;
        }
        f.write_all(&block).unwrap();
    }
    f.flush().unwrap();
    path
}

/// Peak resident set size so far, in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Logs `file` as a model and finishes; returns how long the `log_model` call took (the
/// copy; hashing runs on its own thread until `finish`).
fn log_model(root: &Path, file: &Path) -> std::time::Duration {
    let run = labbook::init(settings(root)).unwrap();
    let t = std::time::Instant::now();
    run.log_model(file, "bench-model", ["best"]).unwrap();
    let call = t.elapsed();
    let report = run.finish().unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    call
}

fn bench(c: &mut Criterion) {
    let mib = size_mib();
    let src = tempfile::tempdir().unwrap();
    let file = checkpoint(src.path(), mib);

    // Memory: one staging and one verification, measured by the peak RSS they add.
    let before = peak_rss_mib();
    let once = tempfile::tempdir().unwrap();
    let call = log_model(once.path(), &file);
    let staged = peak_rss_mib();
    println!(
        "artifacts/log_model_call: {call:?} for {mib} MiB (the copy; hashing is off the caller's thread)"
    );
    let run = labbook::init(settings(once.path())).unwrap();
    let used = run.use_artifact("bench-model:best").unwrap();
    assert_eq!(used.files(), ["model.safetensors"]);
    run.finish().unwrap();
    let verified = peak_rss_mib();
    println!(
        "artifacts/memory: peak RSS {before:.1} MiB, +{:.1} MiB staging {mib} MiB, +{:.1} MiB verifying it",
        staged - before,
        verified - staged
    );
    drop(once);

    let mut g = c.benchmark_group("artifacts");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(mib << 20));
    g.bench_function(format!("stage_{mib}MiB"), |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                log_model(dir.path(), &file);
            },
            BatchSize::PerIteration,
        )
    });
    let logged = tempfile::tempdir().unwrap();
    log_model(logged.path(), &file);
    let run = labbook::init(settings(logged.path())).unwrap();
    g.bench_function(format!("verify_{mib}MiB"), |b| {
        b.iter(|| run.use_artifact("bench-model:best").unwrap())
    });
    g.finish();
    run.finish().unwrap();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
