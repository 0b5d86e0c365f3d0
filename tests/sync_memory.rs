//! `labbook sync` keeps its memory flat: the log is read as a stream and files go up from
//! disk, so neither a long history nor a big saved file is ever held whole. The sync runs in
//! a child process (this test binary again) whose peak resident memory is measured.
//! `LABBOOK_SYNC_ROWS` and `LABBOOK_SYNC_FILE_MB` size the run (200,000 rows and 256 MiB
//! here; 5,000,000 rows and 1 GiB in scripts/soak.sh).

use std::path::Path;
use std::time::Instant;

use labbook::{SavePolicy, Value};
use labbook_server::{Server, ServerConfig};

const KEY: &str = "memo0123456789abcdefghijklmnopqrstuvwxyz01";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The child: syncs the log it is given and exits.
#[test]
fn child_main() {
    let (Ok(log), Ok(url)) = (
        std::env::var("LABBOOK_SYNC_LOG"),
        std::env::var("LABBOOK_SYNC_URL"),
    ) else {
        return;
    };
    let mut opts = labbook::online::SyncOptions::new(url, KEY);
    opts.retry.max_retries = 2;
    let r = labbook::online::sync_run(Path::new(&log), &opts, &mut |_| {}).unwrap();
    println!(
        "synced {} rows, {} files, {} bytes",
        r.rows, r.files, r.bytes
    );
    // The high-water mark of this process since it started (not getrusage of the
    // parent's children, which counts the parent's pages shared at fork).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB");
    println!("peak resident KiB: {hwm}");
}

/// Syncs `log` in a child process; returns its peak resident memory in MiB and what it
/// printed.
fn sync_in_child(log: &Path, url: &str) -> (f64, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["child_main", "--exact", "--nocapture", "--test-threads=1"])
        .env("LABBOOK_SYNC_LOG", log)
        .env("LABBOOK_SYNC_URL", url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak_kib: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("peak resident KiB: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak in {stdout}"));
    (peak_kib / 1024.0, stdout)
}

#[test]
#[ignore = "minutes at full size; scripts/test.sh runs it small, scripts/soak.sh at full size"]
fn sync_memory_stays_flat_for_long_histories_and_big_files() {
    let rows = env_u64("LABBOOK_SYNC_ROWS", 200_000);
    let file_mb = env_u64("LABBOOK_SYNC_FILE_MB", 256);
    let tmp = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(KEY);
    // The server takes each upload in one body: room for the big file.
    config.limits.body = config.limits.body.max(((file_mb + 16) << 20) as usize);
    let server = Server::start(config).unwrap();

    // A long history, and a big saved file, each in a run of its own.
    let t = Instant::now();
    let run = labbook::init(labbook_testkit::settings(&tmp.path().join("long"))).unwrap();
    for i in 0..rows {
        run.log([
            ("loss", Value::from(1.0 / (i + 1) as f64)),
            ("acc", Value::from(i as f64 / rows as f64)),
            ("lr", Value::from(1e-3)),
        ])
        .unwrap();
    }
    let long = run.finish().unwrap().log_path();
    let wrote = t.elapsed();
    let (peak, said) = sync_in_child(&long, &server.base_url());
    eprintln!(
        "{rows} rows: written in {:.1} s, synced with a peak of {peak:.0} MiB resident",
        wrote.as_secs_f64()
    );
    assert!(said.contains(&format!("synced {rows} rows")), "{said}");
    assert!(peak < 200.0, "syncing {rows} rows peaked at {peak:.0} MiB");
    assert_eq!(server.storage().runs()[0].history.len() as u64, rows);

    let big_dir = tmp.path().join("big");
    std::fs::create_dir_all(&big_dir).unwrap();
    let big = big_dir.join("checkpoint.bin");
    {
        use std::io::Write as _;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let block: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        for _ in 0..file_mb {
            f.write_all(&block).unwrap();
        }
    }
    let run = labbook::init(labbook_testkit::settings(&big_dir)).unwrap();
    run.save(&big.to_string_lossy(), SavePolicy::Now).unwrap();
    run.log([("x", Value::from(1))]).unwrap();
    let log = run.finish().unwrap().log_path();
    std::fs::remove_file(&big).unwrap(); // the run keeps its copy
    let (peak, said) = sync_in_child(&log, &server.base_url());
    eprintln!("a {file_mb} MiB saved file: synced with a peak of {peak:.0} MiB resident");
    // Resident memory well under the file: it goes up from disk, never read whole.
    assert!(
        peak < (file_mb as f64 / 2.0).max(200.0),
        "a {file_mb} MiB file peaked at {peak:.0} MiB: {said}"
    );
    let stored = server
        .storage()
        .runs()
        .iter()
        .find_map(|r| r.files.get("checkpoint.bin").map(Vec::len))
        .unwrap();
    assert_eq!(stored as u64, file_mb << 20);
}
