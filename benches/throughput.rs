//! Throughput and fixed costs, with criterion: sustained rows/s of 10 scalars to the
//! transaction log (logged, encoded, written, fsynced at finish), `init` and `finish`
//! times, and bytes on disk per 100k steps.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use labbook::{Key, Run, Settings, Value};

const ROWS: u64 = 100_000;

fn keys() -> Vec<Key> {
    (0..10)
        .map(|i| Key::from_static(Box::leak(format!("train/metric_{i}").into_boxed_str())))
        .collect()
}

fn start(dir: &std::path::Path) -> Run {
    labbook::init(
        Settings::new("bench")
            .dir(dir)
            .quiet(true)
            .handle_signals(false)
            .env_vars(Vec::<(String, String)>::new())
            .dotenv_dir(dir),
    )
    .expect("init")
}

/// Logs ROWS rows of 10 scalars and finishes; returns the bytes on disk.
fn rows_to_disk(dir: &std::path::Path, keys: &[Key]) -> u64 {
    let run = start(dir);
    for i in 0..ROWS {
        let x = i as f64 * 1e-3;
        run.log(
            keys.iter()
                .enumerate()
                .map(|(j, k)| (k.clone(), Value::from(x + j as f64))),
        )
        .expect("log");
    }
    let report = run.finish().expect("finish");
    assert_eq!(report.rows, ROWS);
    report.bytes
}

fn throughput(c: &mut Criterion) {
    let keys = keys();
    let tmp = tempfile::tempdir().expect("tempdir");
    let bytes = rows_to_disk(tmp.path(), &keys);
    println!(
        "bytes on disk per 100k steps of 10 scalars: {bytes} ({:.1} MB; {:.0} bytes/step)",
        bytes as f64 / 1e6,
        bytes as f64 / ROWS as f64
    );
    let mut g = c.benchmark_group("to_disk");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(ROWS));
    g.bench_function("100k_rows_of_10_scalars", |b| {
        b.iter(|| {
            let d = tempfile::tempdir().expect("tempdir");
            black_box(rows_to_disk(d.path(), &keys))
        })
    });
    g.finish();
}

fn lifecycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("lifecycle");
    g.sample_size(30);
    let tmp = tempfile::tempdir().expect("tempdir");
    g.bench_function("init", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = std::time::Instant::now();
                let run = start(tmp.path());
                total += t.elapsed();
                run.finish().expect("finish");
            }
            total
        })
    });
    g.bench_function("finish_after_1k_rows", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let run = start(tmp.path());
                for i in 0..1000u64 {
                    run.log([("loss", Value::from(i as f64))]).expect("log");
                }
                let t = std::time::Instant::now();
                run.finish().expect("finish");
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, throughput, lifecycle);
criterion_main!(benches);
