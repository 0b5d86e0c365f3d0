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
use labbook::media::Image;
use labbook::train::{EvalHook, EvalSettings};
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

    // The evaluation hook on a batch that is fine: a comparison, no pixels. Once with the
    // default threshold policy, once with a full worst-K (its first K batches of an epoch
    // are always candidates, so it is filled first).
    let r = run(tmp.path(), Mode::Offline);
    for (name, settings) in [
        ("eval hook, fine batch, threshold", EvalSettings::default()),
        (
            "eval hook, fine batch, full worst-K",
            EvalSettings::default().threshold(None).worst_k(4),
        ),
    ] {
        let mut hook = EvalHook::new(&r, settings);
        hook.start_epoch();
        for i in 0..4 {
            hook.batch(i, &[("recall", 0.0)], Vec::new).expect("batch");
        }
        report(
            name,
            &measure(calls, |i| {
                hook.batch(
                    i as usize + 4,
                    &[("recall", 0.95), ("precision", 0.9), ("hmean", 0.92)],
                    || unreachable!("no pixels"),
                )
                .expect("batch");
            }),
        );
    }
    r.finish().expect("finish");

    // Images: the caller's cost of handing one over (building it is not timed), and
    // end-to-end images per second (PNG encoding, hashing and writing on the worker).
    for (side, n) in [(64u32, 2_000u64), (512, 200)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = labbook::init(
            Settings::new("bench")
                .dir(dir.path())
                .quiet(true)
                .handle_signals(false)
                .queue_bytes(1 << 30)
                .env_vars(Vec::<(String, String)>::new())
                .dotenv_dir(dir.path()),
        )
        .expect("init");
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
        let started = Instant::now();
        for i in 0..n {
            let pixels: Vec<u8> = (0..side * side * 3).map(|p| (p as u64 + i) as u8).collect();
            let img = Image::rgb(side, side, pixels).expect("image");
            let t = Instant::now();
            r.log([("img", Value::from(img))]).expect("log");
            h.saturating_record(t.elapsed().as_nanos() as u64);
        }
        r.finish().expect("finish");
        let per_s = n as f64 / started.elapsed().as_secs_f64();
        report(&format!("log, one {side}x{side} RGB image"), &h);
        println!("{:<34} {per_s:.0} images/s end to end", "");
    }

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

    // Online (streaming every second to labbook-server, running in this process) against
    // offline: the same paced loop, interleaved. `log` must not notice the network.
    let server = labbook_server::Server::start(labbook_server::ServerConfig::new(ONLINE_KEY))
        .expect("server");
    for round in 1..=3 {
        for online in [false, true] {
            let r = if online {
                run_online(tmp.path(), &server.base_url())
            } else {
                run(tmp.path(), Mode::Offline)
            };
            let h = paced(&r, &k10, calls / 10);
            let rep = r.finish().expect("finish");
            let name = if online {
                "paced 10, online"
            } else {
                "paced 10, offline"
            };
            report(&format!("{name} r{round}"), &h);
            println!("{:<34} blocked {:?} in total", "", rep.blocked);
        }
    }
    let rows: usize = server
        .storage()
        .runs()
        .iter()
        .map(|r| r.history.len())
        .sum();
    println!("{:<34} {rows} rows arrived at the server", "");
}

/// An online run streaming to `base_url` every second.
fn run_online(dir: &std::path::Path, base_url: &str) -> Run {
    labbook::init(
        Settings::new("bench")
            .system_metrics(false)
            .console(labbook::Console::Off)
            .dir(dir)
            .mode(Mode::Online)
            .base_url(base_url)
            .api_key(ONLINE_KEY)
            .upload_interval(std::time::Duration::from_secs(1))
            .quiet(true)
            .handle_signals(false)
            .env_vars(Vec::<(String, String)>::new())
            .dotenv_dir(dir),
    )
    .expect("init online")
}

const ONLINE_KEY: &str = "bench0123456789abcdefghijklmnopqrstuvwxyz01";

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
