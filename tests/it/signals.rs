//! SIGINT and SIGTERM, in child processes (this test binary run again with
//! `LABBOOK_CHILD`): a program without a handler of its own gets its run finished as
//! preempted and dies by the signal; a program that handles the signal (installed before
//! `init` by any means, or after it through signal-hook, `tokio::signal` or `ctrlc`, or
//! with labbook told to keep out) keeps its process and finishes the run itself; a signal
//! that comes while another thread is finishing waits for the exit record.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use labbook::Value;
use labbook_testkit::{only_run_dir, read_run, settings};
use labbook_wire::LogEnd;

/// What a child does, selected by `LABBOOK_CHILD`; a no-op in the normal test run.
#[test]
fn child_main() {
    let Ok(what) = std::env::var("LABBOOK_CHILD") else {
        return;
    };
    let dir = std::env::var("LABBOOK_CHILD_DIR").unwrap();
    let dir = Path::new(&dir);
    let flag = Arc::new(AtomicBool::new(false));
    let term = signal_hook::consts::SIGTERM;
    match what.as_str() {
        "no-handler" => {
            let run = labbook::init(settings(dir).handle_signals(true)).unwrap();
            log_until(&run, &flag);
        }
        "before-init" => {
            // Any handler installed before init: here through signal-hook.
            signal_hook::flag::register(term, flag.clone()).unwrap();
            let run = labbook::init(settings(dir).handle_signals(true)).unwrap();
            log_until(&run, &flag);
            shut_down(&run);
        }
        "signal-hook-after" => {
            let run = labbook::init(settings(dir).handle_signals(true)).unwrap();
            signal_hook::flag::register(term, flag.clone()).unwrap();
            log_until(&run, &flag);
            shut_down(&run);
        }
        "tokio-after" => {
            let run = labbook::init(settings(dir).handle_signals(true)).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let logger = {
                let (run, flag) = (run.clone(), flag.clone());
                std::thread::spawn(move || log_until(&run, &flag))
            };
            rt.block_on(async {
                let mut sigterm =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .unwrap();
                sigterm.recv().await;
            });
            flag.store(true, Ordering::SeqCst);
            logger.join().unwrap();
            shut_down(&run);
        }
        "ctrlc-after" => {
            let run = labbook::init(settings(dir).handle_signals(true)).unwrap();
            let f = flag.clone();
            ctrlc::set_handler(move || f.store(true, Ordering::SeqCst)).unwrap();
            log_until(&run, &flag);
            shut_down(&run);
        }
        "kept-out" => {
            // A handler labbook could not see (say, a thread waiting in sigwait): the
            // program tells labbook to keep out of signals.
            let run = labbook::init(settings(dir).handle_signals(false)).unwrap();
            signal_hook::flag::register(term, flag.clone()).unwrap();
            log_until(&run, &flag);
            shut_down(&run);
        }
        "finishing" => {
            let run =
                labbook::init(settings(dir).handle_signals(true).queue_bytes(512 << 20)).unwrap();
            for i in 0..300_000u32 {
                run.log([("i", Value::from(i)), ("pad", Value::from("p".repeat(40)))])
                    .unwrap();
            }
            let finisher = {
                let run = run.clone();
                std::thread::spawn(move || run.finish())
            };
            std::thread::sleep(Duration::from_millis(20));
            println!("ready");
            std::thread::sleep(Duration::from_secs(30));
            let _ = finisher.join();
            println!("still alive");
        }
        "slow-finish" => {
            // An online run whose server never answers: finishing it waits the whole
            // finish_timeout for the upload.
            let run = labbook::init(
                settings(dir)
                    .handle_signals(true)
                    .mode(labbook::Mode::Online)
                    .base_url("http://127.0.0.1:9")
                    .api_key("slow0123456789abcdefghijklmnopqrstuvwxyz01")
                    .finish_timeout(Duration::from_secs(60)),
            )
            .unwrap();
            log_until(&run, &flag);
        }
        "ignored" => {
            // Started with SIGINT ignored (as `cmd &` from a script, or `trap '' INT`).
            let run = labbook::init(settings(dir).handle_signals(true)).unwrap();
            for i in 0..101u32 {
                run.log([("i", Value::from(i))]).unwrap();
            }
            run.flush().unwrap();
            println!("ready");
            std::thread::sleep(Duration::from_millis(1500));
            shut_down(&run);
        }
        other => panic!("unknown child {other}"),
    }
}

/// Logs a row every few milliseconds until `flag` is set; says "ready" after the first
/// hundred (flushed), so the parent signals a run with rows on disk.
fn log_until(run: &labbook::Run, flag: &AtomicBool) {
    for i in 0u64.. {
        if flag.load(Ordering::SeqCst) {
            return;
        }
        match run.log([("i", Value::from(i))]) {
            Ok(()) => {}
            // Finished by the signal handler, which is about to end the process.
            Err(_) => loop {
                std::thread::sleep(Duration::from_millis(10));
            },
        }
        if i == 100 {
            run.flush().unwrap();
            println!("ready");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// What a program that handles the signal does: logs on while it shuts down, then
/// finishes the run itself.
fn shut_down(run: &labbook::Run) {
    for _ in 0..10 {
        run.log([("after_signal", Value::from(1))]).unwrap();
    }
    let report = run.finish().unwrap();
    println!("finished: exit code {}", report.exit_code);
}

/// Runs child `what`, sends `signal` once it is ready, and returns its exit status, what it
/// printed, and its run.
fn signal_child(
    what: &str,
    signal: &str,
) -> (std::process::ExitStatus, String, labbook_testkit::RunData) {
    signal_child_with(what, &[signal], Duration::ZERO)
}

/// [`signal_child`] with several signals, `gap` apart.
fn signal_child_with(
    what: &str,
    signals: &[&str],
    gap: Duration,
) -> (std::process::ExitStatus, String, labbook_testkit::RunData) {
    let tmp = tempfile::tempdir().unwrap();
    // SIGINT ignored before the program starts; exec keeps it ignored.
    let prefix = (what == "ignored").then_some("trap '' INT;");
    let mut c = labbook_testkit::child_command("signals::child_main", what, tmp.path(), prefix)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("ready") {
            break;
        }
    }
    assert!(
        printed.contains("ready"),
        "{what}: the child never got ready: {printed}"
    );
    for (i, signal) in signals.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(gap);
        }
        let kill = Command::new("kill")
            .args([&format!("-{signal}"), &c.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
    }
    for line in lines {
        printed.push_str(&line.unwrap());
        printed.push('\n');
    }
    let status = c.wait().unwrap();
    let d = read_run(&only_run_dir(tmp.path()));
    (status, printed, d)
}

#[test]
fn without_a_handler_of_its_own_the_run_is_preempted_and_the_process_dies_by_the_signal() {
    for (signal, n) in [("TERM", 15), ("INT", 2)] {
        let (status, _, d) = signal_child("no-handler", signal);
        assert_eq!(status.signal(), Some(n), "{signal}: {status:?}");
        assert_eq!(d.end, LogEnd::Clean);
        assert!(d.preempted, "{signal}");
        assert_eq!(d.exit.map(|e| e.exit_code), Some(128 + n));
        assert!(d.rows.len() > 100);
    }
}

/// The program keeps its process: it logs after the signal and finishes the run itself.
fn assert_program_kept_control(what: &str, signal: &str) {
    let (status, printed, d) = signal_child(what, signal);
    assert!(status.success(), "{what}: {status:?}\n{printed}");
    assert!(
        printed.contains("finished: exit code 0"),
        "{what}: {printed}"
    );
    assert_eq!(d.end, LogEnd::Clean, "{what}");
    assert!(!d.preempted, "{what}: labbook finished the run itself");
    assert_eq!(d.exit.as_ref().map(|e| e.exit_code), Some(0), "{what}");
    assert_eq!(
        d.column("after_signal").len(),
        10,
        "{what}: rows logged after the signal"
    );
}

#[test]
fn a_handler_installed_before_init_keeps_the_process() {
    // Failed before: labbook finished the run and killed the process from under the
    // program's own handler.
    assert_program_kept_control("before-init", "TERM");
}

#[test]
fn signal_hook_tokio_or_ctrlc_after_init_keep_the_process() {
    // Failed before (signal-hook, tokio): labbook's handler, registered beside theirs,
    // finished the run and emulated the default action.
    assert_program_kept_control("signal-hook-after", "TERM");
    assert_program_kept_control("tokio-after", "TERM");
    assert_program_kept_control("ctrlc-after", "INT");
}

#[test]
fn handle_signals_false_leaves_signals_to_the_program() {
    assert_program_kept_control("kept-out", "TERM");
}

#[test]
fn a_signal_while_another_thread_finishes_waits_for_the_exit_record() {
    // Failed before: a run being finished was skipped by the signal thread, which ended the
    // process while the worker was still writing; the log had no exit record.
    let (status, printed, d) = signal_child("finishing", "TERM");
    assert_eq!(status.signal(), Some(15), "{status:?}: {printed}");
    assert!(!printed.contains("still alive"));
    assert_eq!(d.end, LogEnd::Clean);
    assert!(
        d.exit.is_some(),
        "the exit record was written before the process died"
    );
    assert_eq!(d.rows.len(), 300_000);
}

#[test]
fn a_second_signal_while_the_runs_finish_ends_the_process_at_once() {
    // Failed before: the second Ctrl-C waited behind the first, whose finish waited the
    // whole finish_timeout (a minute here) for a server that never answered.
    let started = std::time::Instant::now();
    let (status, _, d) =
        signal_child_with("slow-finish", &["TERM", "TERM"], Duration::from_millis(500));
    assert_eq!(status.signal(), Some(15), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the second signal took {:?} to end the process",
        started.elapsed()
    );
    assert!(d.rows.len() > 100, "the flushed rows are on disk");
}

#[test]
fn a_signal_the_program_started_with_ignored_stays_ignored() {
    // Failed before: labbook installed its handler over SIG_IGN, and a background job's
    // SIGINT finished its run and killed it.
    let (status, printed, d) = signal_child("ignored", "INT");
    assert!(status.success(), "{status:?}: {printed}");
    assert!(printed.contains("finished: exit code 0"), "{printed}");
    assert!(!d.preempted);
    assert_eq!(d.column("after_signal").len(), 10);
}
