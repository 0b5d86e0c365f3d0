//! Resuming runs: offline from the local run directories, online from the server
//! (RunResumeStatus), and the resumed run's second log uploaded after the first by
//! `labbook sync` and by the official `wandb sync`, history continuing without a gap.

use std::time::Duration;

use labbook::{Error, Mode, Resume, Value};
use labbook_server::{Server, ServerConfig};
use labbook_testkit::read_run;

const KEY: &str = "rsme0123456789abcdefghijklmnopqrstuvwxyz01";
const ID: &str = "resume01";

fn log_rows(run: &labbook::Run, from: u32, to: u32) {
    for i in from..to {
        run.log([("x", Value::from(i))]).unwrap();
    }
}

#[test]
fn an_offline_run_resumes_where_its_last_directory_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let s = || labbook_testkit::settings(tmp.path()).run_id(ID);
    let first = labbook::init(s()).unwrap();
    log_rows(&first, 0, 10);
    first.set_summary("best", 7).unwrap();
    first.log([("only_first", Value::from(1.5))]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let first_dir = first.dir().unwrap().to_owned();
    first.finish().unwrap();
    std::thread::sleep(Duration::from_millis(1100)); // run directories are named to the second

    let second = labbook::init(s().resume(Resume::Allow)).unwrap();
    log_rows(&second, 11, 15);
    let second_dir = second.dir().unwrap().to_owned();
    second.finish().unwrap();
    assert_ne!(first_dir, second_dir);
    let a = read_run(&first_dir);
    let b = read_run(&second_dir);
    assert_eq!(b.steps(), (11..15).collect::<Vec<u64>>());
    assert!(b.run().resumed && b.run().starting_step == 11);
    // The earlier summary stands until a key is logged again, in the log and the file.
    assert_eq!(b.summary["best"], "7");
    assert_eq!(b.summary["only_first"], "1.5");
    assert_eq!(b.summary["x"], "14");
    let file: serde_json::Value = serde_json::from_slice(
        &std::fs::read(second_dir.join("files/wandb-summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (file["best"].clone(), file["x"].clone()),
        (7.into(), 14.into())
    );
    let last_a: f64 = a.column("_runtime").last().unwrap().parse().unwrap();
    let first_b: f64 = b.column("_runtime")[0].parse().unwrap();
    assert!(
        first_b >= last_a,
        "runtime goes on: {first_b} after {last_a}"
    );

    let must = labbook::init(
        labbook_testkit::settings(tmp.path())
            .run_id("nosuchid")
            .resume(Resume::Must),
    );
    assert!(
        matches!(must, Err(Error::InvalidSetting { .. })),
        "{:?}",
        must.err()
    );
    let never = labbook::init(s().resume(Resume::Never)).unwrap_err();
    assert!(never.to_string().contains("exists"), "{never}");
    let no_id =
        labbook::init(labbook_testkit::settings(tmp.path()).env_vars([("WANDB_RESUME", "must")]))
            .unwrap_err();
    assert!(no_id.to_string().contains("needs the id"), "{no_id}");
}

#[test]
fn an_online_run_resumes_from_the_server() {
    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    let online = |dir: &std::path::Path| {
        labbook_testkit::settings(dir)
            .run_id(ID)
            .mode(Mode::Online)
            .base_url(server.base_url())
            .api_key(KEY)
            .upload_interval(Duration::from_millis(50))
    };
    // Two machines: the second has no local copy, only the server's.
    let (m1, m2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = labbook::init(online(m1.path())).unwrap();
    log_rows(&first, 0, 10);
    first.set_summary("best", 7).unwrap();
    first.finish().unwrap();
    let second = labbook::init(online(m2.path()).resume(Resume::Must)).unwrap();
    log_rows(&second, 10, 15);
    let report = second.finish().unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let storage = server.storage();
    labbook_testkit::wandb::assert_offsets_continuous(storage);
    let up = &storage.runs()[0];
    let steps: Vec<i64> = up
        .history
        .iter()
        .map(|l| l.get("_step").unwrap().as_i64().unwrap())
        .collect();
    assert_eq!(steps, (0..15).collect::<Vec<_>>());
    assert!(up.complete);
    let summary = up.summary_json().unwrap();
    assert_eq!(
        (summary["best"].clone(), summary["x"].clone()),
        (7.into(), 14.into())
    );
}

fn two_offline_dirs(root: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let s = || labbook_testkit::settings(root).run_id(ID);
    let first = labbook::init(s()).unwrap();
    log_rows(&first, 0, 10);
    let a = first.dir().unwrap().to_owned();
    first.finish().unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let second = labbook::init(s().resume(Resume::Allow)).unwrap();
    log_rows(&second, 10, 15);
    let b = second.dir().unwrap().to_owned();
    second.finish().unwrap();
    (a, b)
}

fn steps_at(server: &labbook_server::RunningServer) -> Vec<i64> {
    let storage = server.storage();
    labbook_testkit::wandb::assert_offsets_continuous(storage);
    let runs = storage.runs();
    assert_eq!(runs.len(), 1);
    runs[0]
        .history
        .iter()
        .map(|l| l.get("_step").unwrap().as_i64().unwrap())
        .collect()
}

#[test]
fn labbook_sync_uploads_a_resumed_run_after_its_first_part() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = two_offline_dirs(tmp.path());
    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    let opts = labbook::online::SyncOptions::new(server.base_url(), KEY);
    for dir in [&a, &b] {
        let log = dir.join(format!("run-{ID}.wandb"));
        labbook::online::sync_run(&log, &opts, &mut |_| {}).unwrap();
    }
    assert_eq!(steps_at(&server), (0..15).collect::<Vec<_>>());
    // As wandb-core: the step offset each log was first uploaded with.
    for (dir, step) in [(&a, 0), (&b, 10)] {
        let state = std::fs::read_to_string(dir.join(format!("run-{ID}.wandb.syncstate"))).unwrap();
        assert_eq!(state, format!("{{\"starting_step\":{step}}}"));
    }
}

/// The official client accepts labbook's resumed log: `wandb sync` of both directories
/// gives the same continuous history.
#[test]
#[ignore = "needs the wandb 0.31.0 virtualenv; scripts/test.sh runs it"]
fn wandb_sync_uploads_a_resumed_labbook_run_after_its_first_part() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = two_offline_dirs(tmp.path());
    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    for dir in [&a, &b] {
        labbook_testkit::wandb::wandb_sync_into(&server, KEY, dir);
    }
    assert_eq!(steps_at(&server), (0..15).collect::<Vec<_>>());
}
