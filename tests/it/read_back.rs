//! `labbook::api` reads a directory of runs and the server they were synced to, and both
//! give the same runs, values, rows, files and artifacts.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use labbook::Value;
use labbook::api::{Api, Query, Row, RunInfo, RunState};
use labbook_server::{Server, ServerConfig};

const KEY: &str = "read0123456789abcdefghijklmnopqrstuvwxyz01";

/// Four finished runs and a failed one: groups, tags, config, nested and non-finite
/// values, a media row, system metrics, a saved file and a logged artifact.
fn write_runs(root: &Path) {
    let data = root.join("dataset");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("a.txt"), "alpha").unwrap();
    std::fs::write(data.join("sub/b.bin"), [1u8, 2, 3]).unwrap();
    for i in 0..5u32 {
        let lr = 0.1 * f64::from(i + 1);
        let settings = labbook_testkit::project_settings(&root.join("runs"), "reads")
            .entity("ent1")
            .name(format!("trial-{i}"))
            .group(if i < 4 { "ablation-1" } else { "other" })
            .tags(["all".to_owned(), format!("i{i}")])
            .config(&serde_json::json!({"lr": lr, "opt": {"name": "adam", "beta": 0.9}}))
            .system_metrics(i == 0)
            .stats_interval(Duration::from_millis(100));
        let run = labbook::init(settings).unwrap();
        for step in 0..30u32 {
            let acc = 0.5 + f64::from(i) * 0.1 + f64::from(step) / 1000.0;
            let mut row = vec![
                ("val/acc", Value::from(acc)),
                ("loss", Value::from(1.0 / f64::from(step + 1))),
            ];
            if step % 10 == 0 {
                row.push(("eval/nested.x", Value::from(f64::from(step))));
                row.push(("weird", Value::from(f64::NAN)));
            }
            run.log(row).unwrap();
        }
        if i == 0 {
            let img = labbook::media::Image::gray(4, 4, vec![7; 16]).unwrap();
            run.log([("sample", Value::from(img))]).unwrap();
            std::fs::write(root.join("notes.txt"), "saved").unwrap();
            run.save(
                &root.join("notes.txt").to_string_lossy(),
                labbook::SavePolicy::Now,
            )
            .unwrap();
            let mut a = labbook::artifact::Artifact::new("shapes", "dataset").unwrap();
            a.add_dir(&data, None).unwrap();
            run.log_artifact(a).unwrap();
            std::thread::sleep(Duration::from_millis(350));
        }
        if i == 4 {
            run.finish_with_exit_code(3).unwrap();
        } else {
            run.finish().unwrap();
        }
    }
}

fn sync_all(root: &Path, base_url: &str) {
    let opts = labbook::online::SyncOptions::new(base_url, KEY);
    for dir in labbook::api::run_dirs(&root.join("runs")).unwrap() {
        let log = labbook::api::log_file(&dir).unwrap();
        labbook::online::sync_run(&log, &opts, &mut |_| {}).unwrap();
    }
}

fn all_rows(api: &Api, run: &RunInfo, keys: &[&str]) -> Vec<Row> {
    api.history(run, keys)
        .unwrap()
        .collect::<labbook::Result<_>>()
        .unwrap()
}

/// What two sources must agree on for a run (its creation time on the server is when the
/// server first saw it).
fn same_run(local: &RunInfo, remote: &RunInfo) {
    assert_eq!(local.id, remote.id);
    assert_eq!(
        (&local.name, &local.group, &local.tags, local.state),
        (&remote.name, &remote.group, &remote.tags, remote.state)
    );
    assert_eq!(local.config, remote.config, "{}", local.id);
    assert_eq!(local.summary, remote.summary, "{}", local.id);
    assert_eq!(local.last_step, remote.last_step);
    assert!(local.created_at.is_some() && remote.created_at.is_some());
}

#[test]
fn a_directory_and_the_server_it_was_synced_to_read_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    write_runs(tmp.path());
    let server = Server::start(ServerConfig::new(KEY).entity("ent1")).unwrap();
    sync_all(tmp.path(), &server.base_url());
    let local = Api::dir(tmp.path().join("runs")).unwrap();
    let remote = Api::server(&server.base_url(), Some(KEY)).unwrap();

    let query = Query::new()
        .project("ent1/reads")
        .group("ablation-1")
        .filter("summary.val/acc>0.6")
        .unwrap()
        .filter("config.lr<=0.35")
        .unwrap()
        .order("-summary.val/acc")
        .unwrap();
    let (l, r) = (local.runs(&query).unwrap(), remote.runs(&query).unwrap());
    let accs: Vec<f64> = l
        .iter()
        .map(|r| {
            r.summary_value("val/acc")
                .and_then(labbook::api::number)
                .unwrap()
        })
        .collect();
    assert_eq!(accs.len(), 2, "runs 1 and 2 pass: {accs:?}");
    assert!(accs[0] > accs[1], "largest first: {accs:?}");
    assert_eq!(l.len(), r.len());
    for (a, b) in l.iter().zip(&r) {
        same_run(a, b);
    }
    for q in [
        Query::new().project("ent1/reads"),
        Query::new().project("ent1/reads").tag("i3").tag("all"),
        Query::new().project("ent1/reads").state(RunState::Failed),
        Query::new()
            .project("ent1/reads")
            .filter("config.opt.name=adam")
            .unwrap(),
        Query::new()
            .project("ent1/reads")
            .filter("config.lr!=0.1")
            .unwrap(),
    ] {
        // Without an order both sort by creation, which on the server is when it first
        // saw the run: the same set, maybe not the same order.
        let ids = |runs: Vec<RunInfo>| {
            let mut ids: Vec<String> = runs.into_iter().map(|r| r.id).collect();
            ids.sort();
            ids
        };
        assert_eq!(
            ids(local.runs(&q).unwrap()),
            ids(remote.runs(&q).unwrap()),
            "{q:?}"
        );
    }
    assert_eq!(
        local
            .runs(&Query::new().state(RunState::Failed))
            .unwrap()
            .len(),
        1
    );

    for run in local.runs(&Query::new()).unwrap() {
        let on_server = remote.run(&format!("ent1/reads/{}", run.id)).unwrap();
        same_run(&run, &on_server);
        let rows = all_rows(&local, &run, &[]);
        assert!(rows.len() >= 30, "{}", rows.len());
        assert_eq!(rows, all_rows(&remote, &on_server, &[]), "{}", run.id);
        assert_eq!(rows[0].f64("eval/nested.x"), Some(0.0), "{:?}", rows[0]);
        assert!(rows[0].f64("weird").is_some_and(f64::is_nan));
        let keyed = all_rows(&local, &run, &["eval/nested.x", "loss"]);
        assert_eq!(keyed.len(), 3, "{keyed:?}");
        assert_eq!(
            keyed[1].values().len(),
            3,
            "_step and the two keys: {keyed:?}"
        );
        assert_eq!(
            keyed,
            all_rows(&remote, &on_server, &["eval/nested.x", "loss"])
        );
        let system = |api: &Api, r: &RunInfo| -> Vec<Row> {
            api.system_metrics(r)
                .unwrap()
                .collect::<labbook::Result<_>>()
                .unwrap()
        };
        assert_eq!(system(&local, &run), system(&remote, &on_server));
        let remote_files: BTreeMap<String, u64> = remote
            .files(&on_server)
            .unwrap()
            .into_iter()
            .map(|f| (f.name, f.size))
            .collect();
        for f in local.files(&run).unwrap() {
            assert_eq!(remote_files.get(&f.name), Some(&f.size), "{}", f.name);
        }
    }

    let first = &local.runs(&Query::new().tag("i0")).unwrap()[0];
    assert!(
        !all_rows(&local, first, &["sample"]).is_empty(),
        "the media row"
    );
    assert!(
        local.system_metrics(first).unwrap().next().is_some(),
        "system metrics were sampled"
    );
    let on_server = remote.run(&format!("ent1/reads/{}", first.id)).unwrap();
    for api_run in [(&local, first), (&remote, &on_server)] {
        let (api, run) = api_run;
        let got = tmp.path().join(format!(
            "file-{}",
            api.runs(&Query::new().project("ent1/reads")).unwrap().len()
        ));
        api.download_file(run, "notes.txt", &got).unwrap();
        assert_eq!(std::fs::read_to_string(&got).unwrap(), "saved");
    }
    let (la, ra) = (
        local.logged_artifacts(first).unwrap(),
        remote.logged_artifacts(&on_server).unwrap(),
    );
    assert_eq!(la.len(), 1);
    assert_eq!(
        (&la[0].name, &la[0].kind, &la[0].digest),
        (&ra[0].name, &ra[0].kind, &ra[0].digest)
    );
    assert_eq!(ra[0].version, "v0");
    for (i, (api, run, art)) in [(&local, first, &la[0]), (&remote, &on_server, &ra[0])]
        .into_iter()
        .enumerate()
    {
        let dest = tmp.path().join(format!("art{i}"));
        let files = api.download_artifact(run, art, &dest).unwrap();
        assert_eq!(files, [dest.join("a.txt"), dest.join("sub/b.bin")]);
        assert_eq!(std::fs::read(dest.join("sub/b.bin")).unwrap(), [1, 2, 3]);
    }
    assert!(
        local
            .download_file(first, "../runs", &tmp.path().join("x"))
            .is_err(),
        "a name leading out of the run is refused"
    );
}

#[test]
fn bad_queries_and_missing_runs_are_errors_that_say_what() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(ServerConfig::new(KEY).entity("ent1")).unwrap();
    let remote = Api::server(&server.base_url(), Some(KEY)).unwrap();
    let e = remote.runs(&Query::new()).unwrap_err().to_string();
    assert!(e.contains("needs the project"), "{e}");
    let e = remote
        .runs(&Query::new().project("reads"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("entity/project"), "{e}");
    let e = remote.run("ent1/reads/nope").unwrap_err().to_string();
    assert!(e.contains("no run ent1/reads/nope"), "{e}");
    let e = Api::dir(tmp.path().join("missing"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing"), "{e}");
    let local = Api::dir(tmp.path()).unwrap();
    let e = local.run("abc").unwrap_err().to_string();
    assert!(e.contains("no run \"abc\""), "{e}");
    let e = Query::new().filter("val/acc >> 1").unwrap_err().to_string();
    assert!(e.contains("val/acc >> 1"), "{e}");
    let bad_key = Api::server(
        &server.base_url(),
        Some("zzzz0123456789abcdefghijklmnopqrstuvwxyz99"),
    )
    .unwrap()
    .runs(&Query::new().project("ent1/reads"));
    assert!(
        bad_key.is_err(),
        "a key the server does not know is refused"
    );
}

#[test]
fn following_a_live_run_returns_each_row_once() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(ServerConfig::new(KEY).entity("ent1")).unwrap();
    let settings = labbook_testkit::project_settings(tmp.path(), "live")
        .entity("ent1")
        .mode(labbook::Mode::Online)
        .base_url(server.base_url())
        .api_key(KEY)
        .upload_interval(Duration::from_millis(50));
    let run = labbook::init(settings).unwrap();
    let local = Api::dir(tmp.path()).unwrap();
    let remote = Api::server(&server.base_url(), Some(KEY)).unwrap();
    for i in 0..5 {
        run.log([("x", Value::from(i))]).unwrap();
    }
    run.flush().unwrap();
    let info = local.run(run.id()).unwrap();
    assert_eq!(info.state, RunState::Running, "the writer holds the lock");
    let mut follow_local = local.follow(&info).unwrap();
    let wait_for = |f: &mut labbook::api::Follow<'_>, n: usize| -> Vec<i64> {
        let mut seen = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while seen.len() < n && std::time::Instant::now() < deadline {
            seen.extend(f.poll().unwrap().iter().map(|r| r.step().unwrap()));
            std::thread::sleep(Duration::from_millis(50));
        }
        seen
    };
    assert_eq!(wait_for(&mut follow_local, 5), [0, 1, 2, 3, 4]);
    let remote_info = {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match remote.run(&format!("ent1/live/{}", run.id())) {
                Ok(r) => break r,
                Err(e) if std::time::Instant::now() > deadline => panic!("{e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    };
    let mut follow_remote = remote.follow(&remote_info).unwrap();
    assert_eq!(wait_for(&mut follow_remote, 5), [0, 1, 2, 3, 4]);
    for i in 5..8 {
        run.log([("x", Value::from(i))]).unwrap();
    }
    assert_eq!(wait_for(&mut follow_local, 3), [5, 6, 7]);
    assert_eq!(wait_for(&mut follow_remote, 3), [5, 6, 7]);
    assert_eq!(follow_remote.cursor(), 8);
    let mut later = remote.follow_from(&remote_info, 6).unwrap();
    assert_eq!(wait_for(&mut later, 2), [6, 7]);
    assert!(follow_local.poll().unwrap().is_empty(), "nothing new");
    run.finish().unwrap();
    assert_eq!(local.run(run.id()).unwrap().state, RunState::Finished);
}

#[test]
fn the_server_and_key_are_found_where_init_finds_them() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(ServerConfig::new(KEY).entity("ent1")).unwrap();
    let none = Vec::<(String, String)>::new();
    std::fs::write(
        tmp.path().join(".env"),
        format!(
            "WANDB_API_KEY={KEY}\nWANDB_BASE_URL={}\n",
            server.base_url()
        ),
    )
    .unwrap();
    let from_dotenv = labbook::Settings::default()
        .env_vars(none.clone())
        .dotenv_dir(tmp.path());
    let api = Api::from_settings(&from_dotenv).unwrap();
    assert!(
        api.runs(&Query::new().project("ent1/nothing"))
            .unwrap()
            .is_empty()
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let nowhere = labbook::Settings::default()
        .base_url(server.base_url())
        .env_vars(none)
        .dotenv_dir(&empty);
    let e = Api::from_settings(&nowhere).unwrap_err().to_string();
    assert!(e.contains("WANDB_API_KEY"), "{e}");
}
