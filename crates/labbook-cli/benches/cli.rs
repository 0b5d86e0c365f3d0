//! `cargo bench -p labbook-cli`: `labbook ls` over 1,000 runs of 10k steps (target under
//! 1 s once indexed) and `labbook export` of a 1M-row run (target at least 500k rows/s).
//! Set `LABBOOK_BENCH_RUNS` / `LABBOOK_BENCH_STEPS` / `LABBOOK_BENCH_ROWS` for other sizes.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use labbook_core::{Settings, Value};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write_run(root: &Path, steps: u64, i: u64) {
    let run = labbook_core::init(
        Settings::new("bench")
            .dir(root)
            .run_id(format!("r{i:07}"))
            .quiet(true)
            .handle_signals(false)
            .system_metrics(false)
            .console(labbook_core::Console::Off)
            .env_vars(Vec::<(String, String)>::new())
            .dotenv_dir(root),
    )
    .expect("init");
    for s in 0..steps {
        let x = s as f64;
        run.log([
            ("loss", Value::from(1.0 / (x + 1.0))),
            ("acc", Value::from(x / steps as f64)),
            ("lr", Value::from(0.001)),
        ])
        .expect("log");
    }
    run.finish().expect("finish");
}

fn time(args: &[&str], cwd: &Path) -> f64 {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_labbook"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("labbook");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (runs, steps, rows) = (
        env("LABBOOK_BENCH_RUNS", 1000),
        env("LABBOOK_BENCH_STEPS", 10_000),
        env("LABBOOK_BENCH_ROWS", 1_000_000),
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = Instant::now();
    for i in 0..runs {
        write_run(tmp.path(), steps, i);
    }
    println!(
        "wrote {runs} runs of {steps} steps in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let cold = time(&["ls", "--json"], tmp.path());
    let warm = time(&["ls"], tmp.path());
    println!(
        "labbook ls, {runs} runs of {steps} steps: {cold:.2} s first (builds the index), {warm:.3} s after (target under 1 s)"
    );

    let big = tempfile::tempdir().expect("tempdir");
    write_run(big.path(), rows, 0);
    let out = big.path().join("out");
    let csv = time(
        &[
            "export",
            "r0000000",
            "--format",
            "csv",
            "--out",
            out.to_str().expect("utf8"),
        ],
        big.path(),
    );
    let json = time(
        &[
            "export",
            "r0000000",
            "--format",
            "json",
            "--out",
            out.to_str().expect("utf8"),
        ],
        big.path(),
    );
    let parquet = time(
        &[
            "export",
            "r0000000",
            "--format",
            "parquet",
            "--out",
            out.to_str().expect("utf8"),
        ],
        big.path(),
    );
    println!(
        "labbook export of {rows} rows: csv {:.0} rows/s ({csv:.2} s), json {:.0} rows/s ({json:.2} s), parquet {:.0} rows/s ({parquet:.2} s) (target at least 500k rows/s)",
        rows as f64 / csv,
        rows as f64 / json,
        rows as f64 / parquet
    );
}
