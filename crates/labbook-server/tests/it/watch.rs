//! `serve --watch`: offline runs under a watched directory are imported while they are
//! written, end up equal to what `labbook sync` stores for them, crashed runs are stored
//! as crashed, a restart goes on from the position kept in the database, and nothing is
//! ever written into the watched directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use labbook::{AlertLevel, Settings, Value};
use labbook_server::{Recorder, RunState, Server, ServerConfig, WatchOptions};
use labbook_wire::Framer;
use labbook_wire::proto::{self, Record, RecordType};
use prost::Message as _;
use serde_json::json;

const KEY: &str = "labbook0123456789abcdefghijklmnopqrstuvwxyz";

fn watching(dir: &Path, idle: Duration) -> WatchOptions {
    WatchOptions {
        dirs: vec![dir.to_owned()],
        poll: Duration::from_millis(50),
        idle,
    }
}

/// A server with its stores in memory, importing the runs under `dir`.
fn watching_server(dir: &Path) -> labbook_server::RunningServer {
    let config = ServerConfig::new(KEY)
        .entity("ent1")
        .watch(watching(dir, Duration::from_secs(600)));
    Server::start(config).unwrap()
}

/// Waits up to 30 s for `done` to hold of the storage.
fn wait_for(storage: &Recorder, what: &str, done: impl Fn(&Recorder) -> bool) {
    let start = Instant::now();
    while !done(storage) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting until {what}; the server has {:#?}",
            storage.runs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every file under `dir` with its bytes and modification time: what a reader must leave
/// as it found it.
fn tree(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
    labbook_testkit::files_under(dir)
        .into_iter()
        .map(|path| {
            let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
            (path.clone(), (std::fs::read(&path).unwrap(), modified))
        })
        .collect()
}

/// Every artifact version, without the ids each server makes up.
fn artifacts(storage: &Recorder) -> Vec<labbook_server::ArtifactState> {
    storage
        .artifacts()
        .into_iter()
        .map(|mut a| {
            a.manifest = a
                .manifest
                .map(|m| labbook_server::JsonLine::parse(m.raw.replace(&a.id, "ID")));
            a.id.clear();
            a
        })
        .collect()
}

/// What two servers keep of a run, but the count of UpsertBucket calls (the importer
/// makes fewer: it needs none to learn the run's server id).
fn comparable(mut run: RunState) -> RunState {
    run.upserts = 0;
    run
}

#[test]
fn a_watched_run_shows_up_live_and_ends_as_labbook_sync_stores_it() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let server = watching_server(&runs);
    let storage = server.storage();

    let run = labbook::init(
        Settings::new("proj-watch")
            .dir(&runs)
            .quiet(true)
            .handle_signals(false)
            .env_vars(Vec::<(String, String)>::new())
            .dotenv_dir(tmp.path())
            .name("watched")
            .tags(["a", "b"])
            .system_metrics(true)
            .stats_interval(Duration::from_millis(100))
            .config(&json!({"lr": 0.01, "model": {"depth": 3}})),
    )
    .unwrap();
    let run_id = run.id().to_owned();
    let run_dir = run.dir().unwrap().to_owned();
    for step in 0..20u64 {
        run.log([("loss", Value::from(1.0 / (step as f64 + 1.0)))])
            .unwrap();
    }
    run.flush().unwrap();
    wait_for(storage, "the live run's rows are in", |s| {
        s.run("ent1", "proj-watch", &run_id)
            .is_some_and(|r| r.history.len() == 20 && !r.complete)
    });
    let pixels: Vec<u8> = (0..8 * 8 * 3).map(|i| (i % 251) as u8).collect();
    run.log([(
        "sample",
        Value::from(
            labbook::media::Image::from_u8(8, 8, 3, labbook::media::Layout::Hwc, pixels).unwrap(),
        ),
    )])
    .unwrap();
    run.alert("halfway", "loss went down", AlertLevel::Warn)
        .unwrap();
    for step in 20..60u64 {
        run.log([
            ("loss", Value::from(1.0 / (step as f64 + 1.0))),
            ("acc", Value::from(step)),
        ])
        .unwrap();
    }
    run.update_config(&json!({"batch_size": 16})).unwrap();
    run.set_summary("best", 0.75).unwrap();
    let weights = tmp.path().join("weights.bin");
    std::fs::write(&weights, b"weights v1").unwrap();
    run.log_model(&weights, "watch-model", ["best"]).unwrap();
    std::fs::write(&weights, b"weights v2").unwrap();
    run.link_model(&weights, "watch-model", "watch-registry", ["staging"])
        .unwrap();
    run.finish().unwrap();
    let written = tree(&runs);

    wait_for(storage, "the finished run is imported", |s| {
        s.run("ent1", "proj-watch", &run_id)
            .is_some_and(|r| r.complete)
    });
    let imported = storage.run("ent1", "proj-watch", &run_id).unwrap();
    assert_eq!(imported.history.len(), 61);
    assert_eq!((imported.exit_code, imported.crashed), (Some(0), false));
    assert_eq!(imported.alerts.len(), 1);
    assert!(!imported.events.is_empty(), "system metrics are imported");
    assert!(
        imported
            .files
            .keys()
            .any(|f| f.starts_with("media/images/")),
        "{:?}",
        imported.files.keys()
    );
    labbook_testkit::wandb::assert_offsets_continuous(storage);
    // A few more looks change nothing: the run is imported once.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        storage.run("ent1", "proj-watch", &run_id),
        Some(imported.clone())
    );
    assert_eq!(
        tree(&runs),
        written,
        "nothing was written into the watched directory"
    );

    // `labbook sync` of a copy (sync writes its markers beside the log) to a second server.
    let copy = tmp.path().join("copy");
    labbook_testkit::copy_dir(&run_dir, &copy);
    let other = Server::start(ServerConfig::new(KEY).entity("ent1")).unwrap();
    let log = copy.join(format!("run-{run_id}.wandb"));
    let opts = labbook::online::SyncOptions::new(other.base_url(), KEY);
    labbook::online::sync_run(&log, &opts, &mut |_| {}).unwrap();
    let synced = other.storage().run("ent1", "proj-watch", &run_id).unwrap();
    assert_eq!(comparable(imported.clone()), comparable(synced));
    let versions = artifacts(storage);
    assert_eq!(versions.len(), 2, "{versions:#?}");
    assert_eq!(versions[1].links.len(), 1, "the queued link is applied");
    assert_eq!(versions, artifacts(other.storage()));

    // And a sync of the same run into the watching server stores nothing twice.
    std::fs::remove_file(copy.join(format!("run-{run_id}.wandb.synced"))).unwrap();
    let _ = std::fs::remove_file(copy.join(format!("run-{run_id}.wandb.position")));
    let opts = labbook::online::SyncOptions::new(server.base_url(), KEY);
    labbook::online::sync_run(&log, &opts, &mut |_| {}).unwrap();
    let again = storage.run("ent1", "proj-watch", &run_id).unwrap();
    assert_eq!(again.history, imported.history);
    assert_eq!(again.events, imported.events);
    assert_eq!(again.files, imported.files);
}

/// A log written by hand, a few records at a time: the run record first (`rows` starting
/// at 0), history rows, and an exit record when `exit` is given.
fn write_log(
    framer: &mut Framer,
    path: &Path,
    run_id: &str,
    rows: std::ops::Range<u64>,
    exit: Option<i32>,
) {
    let mut records = Vec::new();
    if rows.start == 0 {
        records.push(RecordType::Run(proto::RunRecord {
            run_id: run_id.into(),
            project: "proj-crash".into(),
            ..Default::default()
        }));
    }
    let item = |key: &str, value: u64| proto::HistoryItem {
        key: key.into(),
        value_json: value.to_string(),
        ..Default::default()
    };
    for step in rows {
        records.push(RecordType::History(proto::HistoryRecord {
            item: vec![item("_step", step), item("x", step)],
            step: None,
        }));
    }
    if let Some(code) = exit {
        records.push(RecordType::Exit(proto::RunExitRecord {
            exit_code: code,
            ..Default::default()
        }));
    }
    for record in records {
        let record = Record {
            num: 0,
            record_type: Some(record),
        };
        framer.append(&record.encode_to_vec());
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    std::io::Write::write_all(&mut file, framer.pending()).unwrap();
    framer.clear_pending();
}

#[test]
fn a_run_whose_writer_let_go_without_an_exit_record_is_stored_as_crashed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp
        .path()
        .join("wandb")
        .join("offline-run-20261203_120000-crash1");
    std::fs::create_dir_all(dir.join("files")).unwrap();
    // The writer's lock, as labbook holds it, taken before the log exists.
    let lock = std::fs::File::open(&dir).unwrap();
    lock.lock().unwrap();
    let log = dir.join("run-crash1.wandb");
    let mut framer = Framer::new_file();
    write_log(&mut framer, &log, "crash1", 0..5, None);
    let server = watching_server(tmp.path());
    let storage = server.storage();
    wait_for(storage, "the live rows are in", |s| {
        s.run("ent1", "proj-crash", "crash1")
            .is_some_and(|r| r.history.len() == 5)
    });
    write_log(&mut framer, &log, "crash1", 5..8, None);
    drop(lock);
    wait_for(storage, "the run ends", |s| {
        s.run("ent1", "proj-crash", "crash1")
            .is_some_and(|r| r.complete)
    });
    let run = storage.run("ent1", "proj-crash", "crash1").unwrap();
    assert_eq!(
        run.history.len(),
        8,
        "rows written before the writer let go are in"
    );
    assert_eq!((run.crashed, run.exit_code), (true, Some(1)));

    // A log with no lock (as the official client writes) and no exit record is crashed
    // once it has been quiet for the idle time.
    let quiet = tmp
        .path()
        .join("wandb")
        .join("offline-run-20261203_120001-quiet1");
    std::fs::create_dir_all(&quiet).unwrap();
    let quiet_log = quiet.join("run-quiet1.wandb");
    write_log(&mut Framer::new_file(), &quiet_log, "quiet1", 0..3, None);
    wait_for(storage, "the quiet run is imported", |s| {
        s.run("ent1", "proj-crash", "quiet1")
            .is_some_and(|r| r.history.len() == 3)
    });
    assert!(
        !storage
            .run("ent1", "proj-crash", "quiet1")
            .unwrap()
            .complete,
        "not quiet long enough yet"
    );
}

#[test]
fn a_restarted_server_goes_on_from_the_position_in_its_database() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("offline-run-20261203_120000-resume1");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::open(&dir).unwrap();
    lock.lock().unwrap();
    let log = dir.join("run-resume1.wandb");
    let mut framer = Framer::new_file();
    write_log(&mut framer, &log, "resume1", 0..10, None);
    let data = tempfile::tempdir().unwrap();
    let start = || {
        let (data, _) = labbook_server::DataDir::open(data.path()).unwrap();
        let config = ServerConfig::from_data_dir(&data, "127.0.0.1:0".parse().unwrap())
            .watch(watching(&dir, Duration::from_secs(600)));
        Server::start(config).unwrap()
    };
    let server = start();
    let entity = labbook_server::FIRST_USER;
    wait_for(server.storage(), "the first rows are in", |s| {
        s.run(entity, "proj-crash", "resume1")
            .is_some_and(|r| r.history.len() == 10)
    });
    let upserts = server
        .storage()
        .run(entity, "proj-crash", "resume1")
        .unwrap()
        .upserts;
    server.shutdown();

    write_log(&mut framer, &log, "resume1", 10..25, Some(0));
    drop(lock);
    let server = start();
    let storage = server.storage();
    wait_for(storage, "the rest is in", |s| {
        s.run(entity, "proj-crash", "resume1")
            .is_some_and(|r| r.complete)
    });
    let run = storage.run(entity, "proj-crash", "resume1").unwrap();
    let steps: Vec<i64> = run
        .history
        .iter()
        .map(|row| {
            row.get("_step")
                .and_then(serde_json::Value::as_i64)
                .unwrap()
        })
        .collect();
    assert_eq!(
        steps,
        (0..25).collect::<Vec<_>>(),
        "each row once, in order"
    );
    assert_eq!((run.exit_code, run.crashed), (Some(0), false));
    labbook_testkit::wandb::assert_offsets_continuous(storage);
    server.shutdown();

    // Imported whole: a third start finds it done and stores nothing again.
    let server = start();
    std::thread::sleep(Duration::from_millis(500));
    let after = server
        .storage()
        .run(entity, "proj-crash", "resume1")
        .unwrap();
    assert_eq!(after.upserts, run.upserts, "not upserted again");
    assert!(run.upserts > upserts);
    assert_eq!(after.history, run.history);
}

#[test]
fn a_watched_directory_that_is_not_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let e = Server::start(ServerConfig::new(KEY).watch(WatchOptions::new([&missing]))).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn a_run_named_as_a_path_is_skipped_and_no_link_out_of_a_run_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = tempfile::tempdir().unwrap();
    std::fs::write(secret.path().join("secret"), b"the server's own").unwrap();
    for (dir, run_id) in [
        ("offline-run-1-evil", "../evil"),
        ("offline-run-2-good", "good1"),
    ] {
        let dir = tmp.path().join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        write_log(
            &mut Framer::new_file(),
            &dir.join("run-x.wandb"),
            run_id,
            0..3,
            Some(0),
        );
        // A link in the run's files to a file of the server's: never read.
        std::fs::create_dir_all(dir.join("files")).unwrap();
        std::os::unix::fs::symlink(secret.path().join("secret"), dir.join("files/leak")).unwrap();
        std::fs::write(dir.join("files/kept.txt"), b"a run file").unwrap();
    }
    let server = watching_server(tmp.path());
    let storage = server.storage();
    wait_for(storage, "the good run is in", |s| {
        s.run("ent1", "proj-crash", "good1")
            .is_some_and(|r| r.complete)
    });
    std::thread::sleep(Duration::from_millis(200));
    let names: Vec<String> = storage.runs().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["good1"]);
    let files = storage.run("ent1", "proj-crash", "good1").unwrap().files;
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["kept.txt", "wandb-summary.json"],
        "the link out of the run directory is not followed"
    );
}
