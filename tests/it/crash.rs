//! Runs that end badly, in child processes: a panic, SIGKILL after `flush`, SIGTERM, and a
//! disk that fills up. The child is this test binary run again with `LABBOOK_CHILD` set.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;

use labbook::Value;
use labbook_testkit::{only_run_dir, read_run, settings};
use labbook_wire::LogEnd;

const ROWS: u64 = 1_000;

/// What a child does, selected by `LABBOOK_CHILD`; a no-op in the normal test run.
#[test]
fn child_main() {
    let Ok(what) = std::env::var("LABBOOK_CHILD") else {
        return;
    };
    let dir = std::env::var("LABBOOK_CHILD_DIR").unwrap();
    let handle_signals = what == "sigterm";
    let run = labbook::init(settings(Path::new(&dir)).handle_signals(handle_signals)).unwrap();
    for i in 0..ROWS {
        run.log([("i", Value::from(i))]).unwrap();
    }
    match what.as_str() {
        "panic" => panic!("the training loop blew up"),
        "sigkill" | "sigterm" => {
            run.flush().unwrap();
            println!("flushed");
            // Keep logging until killed: the tail may be torn, the flushed rows may not.
            for i in ROWS.. {
                if run.log([("i", Value::from(i))]).is_err() {
                    // Finished by the signal handler, which is about to end the process.
                    loop {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                }
                if i % 1000 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
        "fulldisk" => {
            let mut failed_at = None;
            for i in ROWS..2_000_000 {
                if let Err(e) =
                    run.log([("i", Value::from(i)), ("pad", Value::from("y".repeat(100)))])
                {
                    assert!(matches!(e, labbook::Error::WorkerFailed(_)), "{e}");
                    failed_at = Some(i);
                    break;
                }
            }
            assert!(failed_at.is_some(), "the size limit was never hit");
            let e = run.finish().unwrap_err();
            assert!(e.to_string().contains("could not write"), "{e}");
            println!("finish-error: {e}");
        }
        other => panic!("unknown child {other}"),
    }
}

fn child(what: &str, dir: &Path) -> Command {
    // A file-size limit makes writes fail with EFBIG, as a full disk fails with ENOSPC;
    // SIGXFSZ is ignored so the write returns the error instead of killing the process.
    let limits = (what == "fulldisk").then_some("trap '' XFSZ; ulimit -f 256;");
    labbook_testkit::child_command("crash::child_main", what, dir, limits)
}

#[test]
fn a_panic_keeps_every_row_and_marks_the_run_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = child("panic", tmp.path()).output().unwrap();
    assert!(!out.status.success());
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.end, LogEnd::Clean);
    assert_eq!(d.rows.len() as u64, ROWS);
    assert_eq!(d.exit.map(|e| e.exit_code), Some(1));
}

fn kill_after_flush(signal: &str) -> labbook_testkit::RunData {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = child(signal, tmp.path()).spawn().unwrap();
    let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap().contains("flushed")),
        "child never flushed"
    );
    let sig = if signal == "sigkill" { "KILL" } else { "TERM" };
    let status = Command::new("kill")
        .args(["-s", sig, &c.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = c.wait().unwrap();
    assert!(!exit.success());
    let d = read_run(&only_run_dir(tmp.path()));
    // Keep the directory alive long enough to read it.
    drop(tmp);
    d
}

#[test]
fn sigkill_after_flush_keeps_every_flushed_row() {
    let d = kill_after_flush("sigkill");
    assert!(
        matches!(d.end, LogEnd::Clean | LogEnd::Torn { .. }),
        "{:?}",
        d.end
    );
    assert!(
        d.rows.len() as u64 >= ROWS,
        "only {} rows survived",
        d.rows.len()
    );
    for (i, row) in d.rows.iter().enumerate() {
        assert_eq!(row["i"], i.to_string());
    }
    assert!(
        d.exit.is_none(),
        "a killed run has no exit record (sync marks it failed)"
    );
}

#[test]
fn sigterm_finishes_the_run_as_preempted_and_the_process_still_dies() {
    let d = kill_after_flush("sigterm");
    assert_eq!(d.end, LogEnd::Clean);
    assert!(d.preempted);
    assert_eq!(d.exit.map(|e| e.exit_code), Some(128 + 15));
    assert!(d.rows.len() as u64 >= ROWS);
}

#[test]
fn a_full_disk_stops_the_writer_and_leaves_a_readable_log() {
    let tmp = tempfile::tempdir().unwrap();
    let out = child("fulldisk", tmp.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("finish-error"), "{stdout}");
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(
        d.end,
        LogEnd::Clean,
        "the log was cut back to whole records"
    );
    assert!(d.rows.len() as u64 >= ROWS, "{} rows", d.rows.len());
    for (i, row) in d.rows.iter().enumerate() {
        assert_eq!(row["i"], i.to_string());
    }
}
