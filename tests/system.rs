//! System metrics, GPUs (through a fake source, and the no-driver path of this machine)
//! and console capture, read back from the transaction log. Console capture redirects the
//! process's own stdout and stderr, so it runs in a child process: this test binary again,
//! with `LABBOOK_CHILD` set.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use labbook::system::{GpuInfo, GpuSample, GpuSource};
use labbook::{Console, Value};
use labbook_testkit::{only_run_dir, read_run, settings};

fn items(s: &labbook_wire::proto::StatsRecord) -> BTreeMap<String, f64> {
    s.item
        .iter()
        .map(|i| (i.key.clone(), i.value_json.parse::<f64>().unwrap()))
        .collect()
}

/// Failed before: a run that ended before the first interval had no system metrics at all
/// (the quick tch example, 0.4 s with a 1 s interval).
#[test]
fn a_run_shorter_than_the_interval_records_the_machine_once_at_its_end() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        settings(tmp.path())
            .system_metrics(true)
            .stats_interval(Duration::from_secs(15)),
    )
    .unwrap();
    run.log([("i", Value::from(1))]).unwrap();
    run.finish().unwrap();
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.stats.len(), 1);
    assert!(items(&d.stats[0]).contains_key("memory_percent"));
}

#[test]
fn samples_every_100_ms_with_w_and_b_keys_and_sane_values() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        settings(tmp.path())
            .system_metrics(true)
            .stats_interval(Duration::from_millis(100)),
    )
    .unwrap();
    for i in 0..50 {
        run.log([("i", Value::from(i))]).unwrap();
        std::thread::sleep(Duration::from_millis(11));
    }
    run.finish().unwrap();
    let d = read_run(&only_run_dir(tmp.path()));
    assert!(d.stats.len() >= 3, "{} samples in ~0.55 s", d.stats.len());
    let first = items(&d.stats[0]);
    assert!(
        !first.contains_key("cpu"),
        "no process cpu in the first sample"
    );
    let mut last_ts = 0;
    for s in &d.stats {
        assert_eq!(s.stats_type, 0, "SYSTEM");
        let ts = s.timestamp.unwrap().seconds;
        assert!(ts >= last_ts && ts > 1_600_000_000);
        last_ts = ts;
        assert!(s.item.iter().all(|i| !i.key.starts_with("system.")));
    }
    let s = items(&d.stats[1]);
    for key in [
        "cpu",
        "cpu.0.cpu_percent",
        "memory_percent",
        "proc.memory.availableMB",
        "proc.memory.rssMB",
        "proc.memory.percent",
        "proc.cpu.threads",
        "disk./.usagePercent",
        "disk./.usageGB",
        "network.sent",
        "network.recv",
    ] {
        assert!(s.contains_key(key), "{key} missing: {s:?}");
    }
    assert!((0.0..=100.0).contains(&s["memory_percent"]));
    assert!((0.0..=100.0).contains(&s["disk./.usagePercent"]));
    assert!(s["proc.memory.rssMB"] > 1.0 && s["proc.memory.rssMB"] < 1e6);
    assert!(s["proc.memory.availableMB"] > 1.0);
    assert!(s["proc.cpu.threads"] >= 2.0, "main + worker + sampler");
    assert!(s["cpu"] >= 0.0 && s["cpu"] <= 100.0 * 1024.0);
    assert!(s["network.sent"] >= 0.0);
    assert!(
        s.keys()
            .filter(|k| k.starts_with("disk.") && !k.starts_with("disk./"))
            .all(|k| k.ends_with(".in") || k.ends_with(".out"))
    );
    // This machine has no NVIDIA driver: no GPU keys, no error.
    assert!(!s.keys().any(|k| k.starts_with("gpu.")));
    assert_eq!(d.exit.unwrap().exit_code, 0);
}

#[test]
fn the_environment_record_has_the_root_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    run.finish().unwrap();
    let d = read_run(&only_run_dir(tmp.path()));
    let disk = &d.environments[0].disk["/"];
    assert!(disk.total > 0 && disk.used <= disk.total, "{disk:?}");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.dir.join("files/wandb-metadata.json")).unwrap())
            .unwrap();
    assert!(meta["disk"]["/"]["total"].as_str().is_some(), "{meta}");
}

#[derive(Clone)]
struct FakeGpus;

impl GpuSource for FakeGpus {
    fn devices(&mut self) -> Vec<GpuInfo> {
        (0..2)
            .map(|i| GpuInfo {
                name: "Fake H100".into(),
                memory_total: 80 << 30,
                cuda_cores: 16896,
                architecture: "Hopper".into(),
                uuid: format!("GPU-fake-{i}"),
            })
            .collect()
    }

    fn cuda_version(&mut self) -> Option<String> {
        Some("12.4".into())
    }

    fn sample(&mut self, pid: u32) -> Vec<GpuSample> {
        assert_eq!(pid, std::process::id());
        (0..2)
            .map(|i| GpuSample {
                utilization: Some(90.0 + i as f64),
                memory_utilization: Some(30.0),
                memory_used: Some(20 << 30),
                memory_total: Some(80 << 30),
                temp: Some(65.0),
                power_watts: Some(350.0),
                power_limit_watts: Some(700.0),
                sm_clock: Some(1980),
                memory_clock: Some(2619),
                process_memory: (i == 0).then_some(10 << 30),
            })
            .collect()
    }
}

#[test]
fn a_fake_gpu_source_reaches_the_log_with_w_and_b_keys_and_units() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        settings(tmp.path())
            .system_metrics(true)
            .stats_interval(Duration::from_millis(100))
            .gpu_source(FakeGpus),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(350));
    run.finish().unwrap();
    let d = read_run(&only_run_dir(tmp.path()));
    let s = items(d.stats.last().unwrap());
    let expect = [
        ("gpu.0.gpu", 90.0),
        ("gpu.1.gpu", 91.0),
        ("gpu.0.memory", 30.0),
        ("gpu.0.memoryAllocated", 25.0),
        ("gpu.0.memoryAllocatedBytes", (20u64 << 30) as f64),
        ("gpu.0.temp", 65.0),
        ("gpu.0.powerWatts", 350.0),
        ("gpu.0.enforcedPowerLimitWatts", 700.0),
        ("gpu.0.powerPercent", 50.0),
        ("gpu.0.smClock", 1980.0),
        ("gpu.0.memoryClock", 2619.0),
        ("gpu.process.0.memoryAllocatedBytes", (10u64 << 30) as f64),
    ];
    for (k, v) in expect {
        assert_eq!(s.get(k), Some(&v), "{k}: {s:?}");
    }
    assert!(!s.contains_key("gpu.process.1.memoryAllocatedBytes"));
    // The second environment record carries the GPUs (as the official client's does).
    let env = d.environments.last().unwrap();
    assert_eq!(d.environments.len(), 2);
    assert_eq!(env.writer_id, d.environments[0].writer_id);
    assert_eq!((env.gpu_type.as_str(), env.gpu_count), ("Fake H100", 2));
    assert_eq!(env.gpu_nvidia[1].uuid, "GPU-fake-1");
    assert_eq!(env.gpu_nvidia[0].memory_total, 80 << 30);
    assert_eq!(env.cuda_version, "12.4");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.dir.join("files/wandb-metadata.json")).unwrap())
            .unwrap();
    assert_eq!(meta["gpu_count"], 2);
    assert_eq!(meta["gpu_nvidia"][0]["memoryTotal"], "85899345920");
    assert_eq!(meta["cuda_version"], "12.4");
}

#[test]
fn stats_from_the_environment_and_off() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path()).system_metrics(true).env_vars([
        ("WANDB__STATS_SAMPLING_INTERVAL", "0.1"),
        ("WANDB_CONSOLE", "off"),
    ]))
    .unwrap();
    std::thread::sleep(Duration::from_millis(350));
    run.finish().unwrap();
    assert!(read_run(&only_run_dir(tmp.path())).stats.len() >= 2);

    let tmp = tempfile::tempdir().unwrap();
    let e =
        labbook::init(settings(tmp.path()).env_vars([("WANDB_X_STATS_SAMPLING_INTERVAL", "soon")]))
            .unwrap_err();
    assert!(
        e.to_string().contains("WANDB_X_STATS_SAMPLING_INTERVAL"),
        "{e}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let run =
        labbook::init(settings(tmp.path()).stats_interval(Duration::from_millis(100))).unwrap();
    std::thread::sleep(Duration::from_millis(250));
    run.finish().unwrap();
    assert!(
        read_run(&only_run_dir(tmp.path())).stats.is_empty(),
        "off in tests::settings"
    );
}

#[test]
fn the_tracing_layer_writes_events_into_the_console_log_but_not_labbooks_own() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    let subscriber = tracing_subscriber::registry().with(run.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(epoch = 3, "validation done");
        tracing::warn!(target: "labbook::worker", "internal");
        run.finish().unwrap();
        tracing::info!("after finish");
    });
    let d = read_run(&only_run_dir(tmp.path()));
    let lines: Vec<&str> = d.output.iter().map(|o| o.line.as_str()).collect();
    assert_eq!(lines, ["INFO system: validation done epoch=3\n"]);
    assert_eq!(d.output[0].output_type, 0, "STDERR");
    let log = std::fs::read_to_string(d.dir.join("files/output.log")).unwrap();
    assert_eq!(log, "INFO system: validation done epoch=3\n");
}

/// What a child does, selected by `LABBOOK_CHILD`; a no-op in the normal test run.
#[test]
fn child_main() {
    use std::io::Write as _;
    let Ok(what) = std::env::var("LABBOOK_CHILD") else {
        return;
    };
    let dir = std::env::var("LABBOOK_CHILD_DIR").unwrap();
    match what.as_str() {
        "console" => {}
        "console-busy" => return console_busy(Path::new(&dir)),
        "console-children" => return console_children(Path::new(&dir)),
        other => panic!("unknown child {other}"),
    }
    let run = labbook::init(settings(Path::new(&dir)).console(Console::Redirect)).unwrap();
    // A second run at the same time does not capture.
    let second_dir = Path::new(&dir).join("second");
    let second = labbook::init(settings(&second_dir).console(Console::Redirect)).unwrap();
    println!("hello stdout");
    eprintln!("hello stderr");
    print!("no newline at the end");
    std::io::stdout().flush().unwrap();
    run.log([("x", Value::from(1))]).unwrap();
    second.finish().unwrap();
    run.finish().unwrap();
    println!("after finish");
}

/// The worker writes to the captured stderr (a subscriber printing labbook's debug events)
/// while the queue is full and another thread floods stderr.
fn console_busy(dir: &Path) {
    use std::io::Write as _;
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let run = labbook::init(
        settings(dir)
            .console(Console::Redirect)
            .queue_bytes(4096)
            .flush_interval(std::time::Duration::from_millis(1)),
    )
    .unwrap();
    let flood = std::thread::spawn(|| {
        let line = "x".repeat(1000);
        for _ in 0..4000 {
            eprintln!("{line}");
        }
    });
    for i in 0..30_000u32 {
        run.log([("i", Value::from(i))]).unwrap();
    }
    flood.join().unwrap();
    let report = run.finish().unwrap();
    println!("finished {} rows", report.rows);
    std::io::stdout().flush().unwrap();
}

/// A child process inherits the captured stdout and stderr and writes after `finish`.
fn console_children(dir: &Path) {
    let run = labbook::init(settings(dir).console(Console::Redirect)).unwrap();
    let mut child = Command::new("sh")
        .args([
            "-c",
            "sleep 1; echo hi from the child; head -c 50000 /dev/zero | tr '\\0' x >&2; echo and on stderr >&2",
        ])
        .spawn()
        .unwrap();
    run.log([("x", Value::from(1))]).unwrap();
    run.finish().unwrap();
    let status = child.wait().unwrap();
    println!(
        "child status: {:?} {:?}",
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status)
    );
    // At once, as a program whose last act was waiting for its child.
    std::process::exit(0);
}

fn run_child(what: &str, dir: &Path) -> std::process::Output {
    let c = Command::new(std::env::current_exe().unwrap())
        .args(["child_main", "--exact", "--nocapture", "--test-threads=1"])
        .env("LABBOOK_CHILD", what)
        .env("LABBOOK_CHILD_DIR", dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A deadlocked child is killed rather than hanging the suite.
    let pid = c.id();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if wait
            .recv_timeout(std::time::Duration::from_secs(60))
            .is_err()
        {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    });
    let out = c.wait_with_output().unwrap();
    let _ = done.send(());
    watchdog.join().unwrap();
    out
}

#[test]
fn console_capture_never_deadlocks_when_the_worker_writes_to_stderr_under_load() {
    // Failed before: the console reader waited for queue room while the worker, the one
    // to make room, waited for the reader to empty the stderr pipe.
    let tmp = tempfile::tempdir().unwrap();
    let out = run_child("console-busy", tmp.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("finished 30000 rows"),
        "{:?}: {stdout}",
        out.status
    );
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.rows.len(), 30_000);
    let flooded = d
        .output
        .iter()
        .filter(|o| o.line.starts_with("xxxx"))
        .count();
    let dropped_note = d
        .output
        .iter()
        .any(|o| o.line.contains("console lines were dropped"));
    assert!(
        flooded == 4000 || dropped_note,
        "{flooded} of 4000 lines, and no note of the rest"
    );
}

#[test]
fn children_writing_after_finish_still_reach_the_terminal() {
    // Failed before: the reader closed the pipe at `finish`, and the child's later echo got
    // SIGPIPE.
    let tmp = tempfile::tempdir().unwrap();
    let out = run_child("console-children", tmp.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("child status: Some(0) None"), "{stdout}");
    assert!(stdout.contains("hi from the child"), "{stdout}");
    assert!(
        stderr.contains(&format!("{}and on stderr", "x".repeat(50_000))),
        "{} bytes on stderr",
        stderr.len()
    );
}

#[test]
fn console_capture_tees_stdout_and_stderr_into_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child_main", "--exact", "--nocapture", "--test-threads=1"])
        .env("LABBOOK_CHILD", "console")
        .env("LABBOOK_CHILD_DIR", tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // Still on the terminal (the original fds).
    assert!(stdout.contains("hello stdout\n"), "{stdout}");
    assert!(stdout.contains("no newline at the end"), "{stdout}");
    assert!(stdout.contains("after finish"), "{stdout}");
    assert!(stderr.contains("hello stderr\n"), "{stderr}");
    // And in the run.
    let d = read_run(&only_run_dir(tmp.path()));
    let find = |text: &str| d.output.iter().find(|o| o.line == text);
    assert_eq!(find("hello stdout\n").map(|o| o.output_type), Some(1));
    assert_eq!(find("hello stderr\n").map(|o| o.output_type), Some(0));
    assert_eq!(
        find("no newline at the end").map(|o| o.output_type),
        Some(1)
    );
    assert!(d.output.iter().all(|o| o.timestamp.is_some()));
    assert!(!d.output.iter().any(|o| o.line.contains("after finish")));
    let log = std::fs::read_to_string(d.dir.join("files/output.log")).unwrap();
    assert!(
        log.contains("hello stdout\n") && log.contains("hello stderr\n"),
        "{log}"
    );
    assert!(!log.contains("after finish"));
    // The second run did not capture.
    let second = read_run(&only_run_dir(&tmp.path().join("second")));
    assert!(second.output.is_empty(), "{:?}", second.output);
}

/// A run with system metrics and console lines, for the official tools.
fn stats_and_console_run(root: &Path) -> std::path::PathBuf {
    use tracing_subscriber::layer::SubscriberExt as _;
    let run = labbook::init(
        settings(root)
            .system_metrics(true)
            .stats_interval(Duration::from_millis(100)),
    )
    .unwrap();
    let subscriber = tracing_subscriber::registry().with(run.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        for epoch in 0..3 {
            run.log([("loss", Value::from(1.0 / (epoch + 1) as f64))])
                .unwrap();
            tracing::info!(epoch, "epoch done");
            std::thread::sleep(Duration::from_millis(120));
        }
    });
    run.finish().unwrap();
    only_run_dir(root)
}

#[test]
#[ignore = "needs the wandb 0.31.0 virtualenv; scripts/test.sh runs it"]
fn wandb_leet_inspect_reads_stats_and_console_lines() {
    let venv = labbook_testkit::wandb::venv();
    let tmp = tempfile::tempdir().unwrap();
    let dir = stats_and_console_run(tmp.path());
    assert!(!read_run(&dir).stats.is_empty());
    let out = Command::new(venv.join("bin/wandb"))
        .args(["leet", "inspect", "--summary", "--json"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(s["state"], "finished", "{s}");
    assert!(
        text.contains("epoch done"),
        "console lines in the summary: {s}"
    );
    let out = Command::new(venv.join("bin/wandb"))
        .args(["leet", "inspect", "--json"])
        .arg(&dir)
        .output()
        .unwrap();
    let records = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        records.contains("proc.memory.rssMB"),
        "stats records are read"
    );
}
