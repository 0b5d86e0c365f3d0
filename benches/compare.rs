//! labbook's side of `scripts/bench-compare.sh`: the workloads that
//! `scripts/bench_wandb.py` runs through the official client, printed as JSON lines.
//!
//! `cargo bench --bench compare -- [--steps N] [--paced-steps N]`
//!
//! Workloads (each in a fresh run directory):
//! - `log10_flat`: `log` of 10 scalars, as fast as the loop can go: per-call latency,
//!   steps/s to disk (until `finish` returns), CPU per step, peak RSS, bytes per step.
//! - `log10_paced`: the same at 1,000 steps/s, a realistic training loop: per-call latency.
//! - `init` and `finish`: wall time of each.
//! - `rss_1m`: resident memory every 100k steps over 1M steps (must stay flat).

use std::path::Path;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use labbook::{Key, Run, Settings, Value};

fn keys() -> Vec<Key> {
    (0..10)
        .map(|i| Key::from_static(Box::leak(format!("metric_{i}").into_boxed_str())))
        .collect()
}

fn start(dir: &Path) -> Run {
    labbook::init(
        Settings::new("bench-compare")
            .dir(dir)
            .quiet(true)
            .handle_signals(false)
            .env_vars(Vec::<(String, String)>::new())
            .dotenv_dir(dir),
    )
    .expect("init")
}

/// User + system CPU seconds of this process, all threads.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn latency_json(h: &Histogram<u64>) -> String {
    format!(
        r#""p50_ns":{},"p99_ns":{},"p999_ns":{},"max_ns":{}"#,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    )
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram")
}

fn log10(run: &Run, keys: &[Key], i: u64) {
    let x = i as f64 * 1e-3;
    run.log(
        keys.iter()
            .enumerate()
            .map(|(j, k)| (k.clone(), Value::from(x + j as f64))),
    )
    .expect("log");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let steps = arg("--steps", 100_000);
    let paced_steps = arg("--paced-steps", 5_000);
    let keys = keys();

    // log10_flat
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = start(tmp.path());
    // From the first `log` to the end of `finish`, as the Python side measures.
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let mut h = new_hist();
    for i in 0..steps {
        let t = Instant::now();
        log10(&run, &keys, i);
        h.saturating_record(t.elapsed().as_nanos() as u64);
    }
    let report = run.finish().expect("finish");
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    println!(
        r#"{{"tool":"labbook","workload":"log10_flat","steps":{steps},{},"steps_per_s":{:.1},"cpu_us_per_step":{:.3},"peak_rss_mb":{:.1},"bytes_per_step":{:.1}}}"#,
        latency_json(&h),
        steps as f64 / wall,
        cpu * 1e6 / steps as f64,
        status_kb("VmHWM:") as f64 / 1024.0,
        report.bytes as f64 / steps as f64,
    );

    // log10_paced at 1,000 steps/s
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = start(tmp.path());
    let mut h = new_hist();
    let mut next = Instant::now();
    for i in 0..paced_steps {
        while Instant::now() < next {
            std::thread::sleep(next - Instant::now());
        }
        next += Duration::from_millis(1);
        let t = Instant::now();
        log10(&run, &keys, i);
        h.saturating_record(t.elapsed().as_nanos() as u64);
    }
    run.finish().expect("finish");
    println!(
        r#"{{"tool":"labbook","workload":"log10_paced","steps":{paced_steps},"rate_per_s":1000,{}}}"#,
        latency_json(&h)
    );

    // init and finish, 20 runs each
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut init, mut finish) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let t = Instant::now();
        let run = start(tmp.path());
        init.push(t.elapsed().as_secs_f64());
        for i in 0..100 {
            log10(&run, &keys, i);
        }
        let t = Instant::now();
        run.finish().expect("finish");
        finish.push(t.elapsed().as_secs_f64());
    }
    init.sort_by(f64::total_cmp);
    finish.sort_by(f64::total_cmp);
    println!(
        r#"{{"tool":"labbook","workload":"init_finish","runs":20,"init_median_s":{:.6},"finish_median_s":{:.6}}}"#,
        init[10], finish[10]
    );

    // rss_1m: resident memory every 100k steps
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = start(tmp.path());
    let mut rss = Vec::new();
    for i in 0..1_000_000u64 {
        log10(&run, &keys, i);
        if i % 100_000 == 99_999 {
            run.flush().expect("flush");
            rss.push(format!("{:.1}", status_kb("VmRSS:") as f64 / 1024.0));
        }
    }
    run.finish().expect("finish");
    println!(
        r#"{{"tool":"labbook","workload":"rss_1m","rss_mb_every_100k":[{}]}}"#,
        rss.join(",")
    );
}
