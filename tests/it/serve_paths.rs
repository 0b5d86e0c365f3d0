//! Every client path into one server on a SQLite data directory, as `labbook serve` keeps
//! it, then a restart: labbook online (live, resumed, stopped with the Stop button), a
//! labbook offline run through `wandb sync`, the official client online (rows, an
//! artifact with aliases, a resume that uses and downloads it) and offline through `wandb
//! sync`. After the restart every run and artifact reads back equal. And `serve --watch`
//! imports labbook's and the official client's offline runs as `labbook sync` stores them.
//!
//! Needs the wandb 0.31.0 virtualenv that `scripts/test.sh` sets up.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use labbook::{Mode, Resume, Value};
use labbook_server::{DataDir, Recorder, RunKey, Server, ServerConfig, WatchOptions};

const KEY: &str = "pths0123456789abcdefghijklmnopqrstuvwxyz01";

fn online(dir: &Path, base_url: &str) -> labbook::Settings {
    labbook_testkit::project_settings(dir, "paths")
        .mode(Mode::Online)
        .base_url(base_url)
        .api_key(KEY)
        .entity("ent1")
        .upload_interval(Duration::from_millis(50))
}

fn log_rows(settings: labbook::Settings, rows: std::ops::Range<u64>) -> String {
    let run = labbook::init(settings).unwrap();
    for i in rows {
        run.log([("x", Value::from(i))]).unwrap();
    }
    let id = run.id().to_owned();
    run.finish().unwrap();
    id
}

/// A program of the wandb virtualenv (`python`, `wandb`) run against the server from `home`;
/// its stdout.
fn wandb(program: &Path, home: &Path, base: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("WANDB_BASE_URL", base)
        .env("WANDB_API_KEY", KEY)
        .env("HOME", home)
        .env("WANDB_DIR", home)
        .current_dir(home)
        .env_remove("WANDB_ENTITY")
        .env_remove("WANDB_PROJECT")
        .env_remove("WANDB_MODE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn line_with<'a>(out: &'a str, tag: &str) -> Vec<&'a str> {
    out.lines()
        .find(|l| l.starts_with(tag))
        .unwrap_or_else(|| panic!("no {tag} in {out}"))
        .split_whitespace()
        .collect()
}

#[test]
#[ignore = "needs the wandb 0.31.0 virtualenv; scripts/test.sh runs it"]
fn every_client_path_lands_in_one_sqlite_server_and_survives_a_restart() {
    let venv = labbook_testkit::wandb::venv();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let open = || {
        let (dir, _) = DataDir::open(&data).unwrap();
        Recorder::new(dir.meta.clone(), dir.blobs.clone())
    };
    let server = Server::start(ServerConfig::new(KEY).entity("ent1").storage(open())).unwrap();
    let base = server.base_url();

    // labbook online, live, then resumed.
    let lb = tmp.path().join("lb");
    let first = log_rows(online(&lb, &base).run_id("lbres001"), 0..10);
    // From another directory, as on another machine: the server is what holds the run.
    log_rows(
        online(&lb.join("elsewhere"), &base)
            .run_id(&first)
            .resume(Resume::Must),
        10..15,
    );
    // labbook online, stopped from the server.
    let run = labbook::init(online(&lb, &base).run_id("lbstop01")).unwrap();
    run.log([("x", Value::from(0u64))]).unwrap();
    // The uploader makes the run on the server soon after init; Stop is pressed on it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.storage().run("ent1", "paths", "lbstop01").is_none() {
        assert!(
            Instant::now() < deadline,
            "the run never reached the server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
        .storage()
        .request_stop(&RunKey::new("ent1", "paths", "lbstop01"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !run.should_stop() {
        assert!(Instant::now() < deadline, "the stop never reached the run");
        std::thread::sleep(Duration::from_millis(20));
    }
    run.finish().unwrap();
    // labbook offline, uploaded by `wandb sync`.
    let offline =
        labbook::init(labbook_testkit::project_settings(&lb, "paths").run_id("lboff001")).unwrap();
    offline.log([("x", Value::from(7u64))]).unwrap();
    let offline_dir = offline.dir().unwrap().to_owned();
    offline.finish().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (python, wandb_bin) = (venv.join("bin/python"), venv.join("bin/wandb"));
    let sync = |dir: &Path| wandb(&wandb_bin, &home, &base, &["sync", dir.to_str().unwrap()]);
    sync(&offline_dir);
    // The official client: online with an artifact and a resume, and offline then synced.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/official_paths.py");
    let script = script.to_str().unwrap();
    let out = wandb(&python, &home, &base, &[script, "online", "paths"]);
    let online_line = line_with(&out, "ONLINE");
    let (official, downloaded) = (online_line[1].to_owned(), online_line[2].to_owned());
    assert_eq!(
        downloaded, "weights_v1",
        "the resumed run downloaded the artifact"
    );
    let out = wandb(&python, &home, &base, &[script, "offline", "paths"]);
    let offline_line = line_with(&out, "OFFLINE");
    let official_offline = offline_line[1].to_owned();
    sync(Path::new(offline_line[2]));

    let storage = server.storage();
    let (runs, artifacts) = (storage.runs(), storage.artifacts());
    let get = |id: &str| {
        storage
            .run("ent1", "paths", id)
            .unwrap_or_else(|| panic!("no run {id}"))
    };
    let xs = |id: &str| -> Vec<u64> {
        get(id)
            .history_values("x")
            .iter()
            .filter_map(|v| v.as_u64())
            .collect()
    };
    assert_eq!(
        xs(&first),
        (0..15).collect::<Vec<_>>(),
        "live, then resumed"
    );
    assert!(get("lbstop01").stop_requested);
    assert_eq!(xs("lboff001"), [7]);
    assert_eq!(get("lboff001").exit_code, Some(0));
    let official_run = get(&official);
    assert_eq!(
        official_run.history_values("loss").len(),
        8,
        "both sessions' rows"
    );
    assert!(official_run.complete);
    let model = artifacts
        .iter()
        .find(|a| a.collection.as_deref() == Some("paths-model"))
        .expect("the official artifact");
    assert!(
        model.aliases.iter().any(|a| a == "best"),
        "{:?}",
        model.aliases
    );
    assert_eq!(
        get(&official_offline).summary_json().unwrap()["final"],
        "done"
    );
    watch_equals_labbook_sync(
        tmp.path(),
        &[
            (offline_dir.as_path(), "lboff001"),
            (Path::new(offline_line[2]), official_offline.as_str()),
        ],
    );
    server.shutdown();

    // Restarted on the same data directory: all of it reads back equal.
    let again = Server::start(ServerConfig::new(KEY).entity("ent1").storage(open())).unwrap();
    assert_eq!(again.storage().runs(), runs);
    assert_eq!(again.storage().artifacts(), artifacts);
}

/// A server watching the offline runs `runs` (run directory, run id) stores each as
/// `labbook sync` (of a copy: sync writes beside the log) stores it in another server,
/// but for the count of UpsertBucket calls and the display name a server makes up.
fn watch_equals_labbook_sync(tmp: &Path, runs: &[(&Path, &str)]) {
    let watch = WatchOptions {
        poll: Duration::from_millis(50),
        ..WatchOptions::new(runs.iter().map(|(dir, _)| dir.to_path_buf()))
    };
    let watcher = Server::start(ServerConfig::new(KEY).entity("ent1").watch(watch)).unwrap();
    let synced = Server::start(ServerConfig::new(KEY).entity("ent1")).unwrap();
    for (dir, id) in runs {
        let copy = tmp.join("copies").join(id);
        labbook_testkit::copy_dir(dir, &copy);
        let log = copy.join(format!("run-{id}.wandb"));
        let opts = labbook::online::SyncOptions::new(synced.base_url(), KEY);
        labbook::online::sync_run(&log, &opts, &mut |_| {}).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let imported = loop {
            match watcher.storage().run("ent1", "paths", id) {
                Some(run) if run.complete => break run,
                _ => assert!(Instant::now() < deadline, "{id} was never imported whole"),
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut from_sync = synced.storage().run("ent1", "paths", id).unwrap();
        // Neither log names the run for display: each server made up a name of its own.
        from_sync.upserts = imported.upserts;
        from_sync.display_name.clone_from(&imported.display_name);
        if imported != from_sync {
            let (a, b) = (format!("{imported:#?}"), format!("{from_sync:#?}"));
            let differ: Vec<(&str, &str)> = a
                .lines()
                .zip(b.lines())
                .filter(|(x, y)| x != y)
                .take(10)
                .collect();
            panic!("{id}: imported vs labbook sync differ: {differ:#?}");
        }
        assert!(!imported.history.is_empty() && imported.exit_code == Some(0));
    }
}
