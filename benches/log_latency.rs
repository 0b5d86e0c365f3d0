//! Per-call latency of `Run::log`, as an HDR histogram (criterion cannot resolve a
//! sub-microsecond call one call at a time).
//!
//! `cargo bench --bench log_latency` prints p50/p99/p99.9/max for `log` with 1, 10 and 100
//! scalars from one thread, 10 scalars from 4 threads, Disabled mode, and the floor: pushing
//! a 10-value row into a bounded channel; and the paced 10-scalar loop with system metrics
//! sampled every 100 ms and console capture on, against both off (3 interleaved rounds).
//! Set `LABBOOK_BENCH_CALLS` to change the number of
//! measured calls per case (default 1,000,000).

use std::sync::{Arc, Barrier};
use std::time::Instant;

use hdrhistogram::Histogram;
use labbook::{Key, Mode, Run, Settings, Value};

fn keys(n: usize) -> Vec<Key> {
    (0..n)
        .map(|i| Key::from_static(Box::leak(format!("train/metric_{i}").into_boxed_str())))
        .collect()
}

fn row(keys: &[Key], x: f64) -> impl Iterator<Item = (Key, Value)> + '_ {
    keys.iter()
        .enumerate()
        .map(move |(i, k)| (k.clone(), Value::from(x + i as f64)))
}

fn run(dir: &std::path::Path, mode: Mode) -> Run {
    run_with(dir, mode, false)
}

/// `system`: system metrics every 100 ms and console capture; otherwise both off.
fn run_with(dir: &std::path::Path, mode: Mode, system: bool) -> Run {
    let console = if system {
        labbook::Console::Redirect
    } else {
        labbook::Console::Off
    };
    labbook::init(
        Settings::new("bench")
            .system_metrics(system)
            .stats_interval(std::time::Duration::from_millis(100))
            .console(console)
            .dir(dir)
            .mode(mode)
            .quiet(true)
            .handle_signals(false)
            .env_vars(Vec::<(String, String)>::new())
            .dotenv_dir(dir),
    )
    .expect("init")
}

fn measure(calls: u64, mut f: impl FnMut(u64)) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    for i in 0..calls / 10 {
        f(i);
    }
    for i in 0..calls {
        let t = Instant::now();
        f(i);
        h.saturating_record(t.elapsed().as_nanos() as u64);
    }
    h
}

fn report(name: &str, h: &Histogram<u64>) {
    println!(
        "{name:<34} p50 {:>7} ns   p99 {:>7} ns   p99.9 {:>8} ns   max {:>10} ns   ({} calls)",
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        h.len()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing we need.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let calls: u64 = std::env::var("LABBOOK_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().expect("tempdir");

    // The clock itself: an empty timed region.
    report("timer overhead (subtract)", &measure(calls, |_| {}));

    let k10 = keys(10);
    let (tx, rx) = crossbeam_channel::bounded::<Vec<(Key, Value)>>(1 << 16);
    let drain = std::thread::spawn(move || for _ in rx {});
    report(
        "floor: bounded channel push, 10",
        &measure(calls, |i| {
            tx.send(row(&k10, i as f64).collect()).expect("send");
        }),
    );
    drop(tx);
    drain.join().expect("drain");

    let disabled = run(tmp.path(), Mode::Disabled);
    report(
        "log, Disabled mode, 10 scalars",
        &measure(calls, |i| {
            disabled.log(row(&k10, i as f64)).expect("log");
        }),
    );

    for n in [1usize, 10, 100] {
        let k = keys(n);
        let r = run(tmp.path(), Mode::Offline);
        let calls = if n == 100 { calls / 10 } else { calls };
        let h = measure(calls, |i| r.log(row(&k, i as f64)).expect("log"));
        let rep = r.finish().expect("finish");
        report(&format!("log, offline, {n} scalars"), &h);
        println!(
            "{:<34} blocked {:?} in total, {} bytes on disk",
            "", rep.blocked, rep.bytes
        );
    }

    // A training loop logs at a pace, not flat out: 10 scalars every 20 µs (50k rows/s,
    // 500k scalars/s), well within what the worker sustains, so no call waits for room.
    let r = run(tmp.path(), Mode::Offline);
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let mut next = Instant::now();
    for i in 0..calls / 10 {
        while Instant::now() < next {
            std::hint::spin_loop();
        }
        next += std::time::Duration::from_micros(20);
        let t = Instant::now();
        r.log(row(&k10, i as f64)).expect("log");
        h.saturating_record(t.elapsed().as_nanos() as u64);
    }
    let rep = r.finish().expect("finish");
    report("log, offline, 10 scalars, paced", &h);
    println!("{:<34} blocked {:?} in total", "", rep.blocked);

    // 10 scalars from 4 threads at once.
    let r = run(tmp.path(), Mode::Offline);
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (r, k, b) = (r.clone(), k10.clone(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                measure(calls / 4, |i| r.log(row(&k, i as f64)).expect("log"))
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    for h in handles {
        all.add(h.join().expect("thread")).expect("merge");
    }
    let rep = r.finish().expect("finish");
    report("log, offline, 10 scalars, 4 threads", &all);
    println!("{:<34} blocked {:?} in total", "", rep.blocked);

    // System metrics every 100 ms and console capture on, against both off: the same paced
    // loop, interleaved so drift of the machine hits both alike.
    for round in 1..=3 {
        for system in [false, true] {
            let r = run_with(tmp.path(), Mode::Offline, system);
            let h = paced(&r, &k10, calls / 10);
            let rep = r.finish().expect("finish");
            let name = if system {
                "paced 10, stats 100ms + console"
            } else {
                "paced 10, stats + console off"
            };
            report(&format!("{name} r{round}"), &h);
            println!("{:<34} blocked {:?} in total", "", rep.blocked);
        }
    }
}

/// 10 scalars every 20 µs, timed per call.
fn paced(r: &Run, k: &[Key], calls: u64) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let mut next = Instant::now();
    for i in 0..calls {
        while Instant::now() < next {
            std::hint::spin_loop();
        }
        next += std::time::Duration::from_micros(20);
        let t = Instant::now();
        r.log(row(k, i as f64)).expect("log");
        h.saturating_record(t.elapsed().as_nanos() as u64);
    }
    h
}
