//! Several processes of one torchrun-style job (RANK/LOCAL_RANK/WORLD_SIZE) streaming to
//! one server at once: one run per rank in a shared group, system metrics from local rank 0
//! only, and `rank_zero_only` leaving the other ranks disabled.

use std::process::Command;
use std::time::Duration;

use labbook::{Mode, Value};
use labbook_server::{Server, ServerConfig};

const KEY: &str = "ddp00123456789abcdefghijklmnopqrstuvwxyz01";

/// The body of one rank, run in a child process by the tests below (it does nothing when
/// run directly).
#[test]
fn rank_process() {
    let Ok(root) = std::env::var("LABBOOK_TEST_RANK_ROOT") else {
        return;
    };
    let run = labbook::init(
        labbook::Settings::new("ddp")
            .dir(&root)
            .mode(Mode::Online)
            .upload_interval(Duration::from_millis(50))
            .quiet(true)
            .handle_signals(false)
            .console(labbook::Console::Off)
            .stats_interval(Duration::from_millis(100))
            .dotenv_dir(&root),
    )
    .unwrap();
    for i in 0..100u32 {
        run.log([("loss", Value::from(f64::from(i)))]).unwrap();
        if i % 20 == 0 {
            // Long enough for several system samples (every 100 ms).
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    let report = run.finish().unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

fn spawn_ranks(
    server: &labbook_server::RunningServer,
    root: &std::path::Path,
    extra: &[(&str, &str)],
) {
    let children: Vec<_> = (0..3)
        .map(|rank| {
            let mut c = Command::new(std::env::current_exe().unwrap());
            c.args(["multiprocess::rank_process", "--exact", "--nocapture"])
                .env("LABBOOK_TEST_RANK_ROOT", root.join(format!("rank{rank}")))
                .env("WANDB_BASE_URL", server.base_url())
                .env("WANDB_API_KEY", KEY)
                .env("RANK", rank.to_string())
                .env("LOCAL_RANK", (rank % 2).to_string())
                .env("WORLD_SIZE", "3")
                .env("TORCHELASTIC_RUN_ID", "job42")
                .env_remove("WANDB_MODE")
                .env_remove("WANDB_RUN_GROUP")
                .env_remove("WANDB_NAME");
            for (k, v) in extra {
                c.env(k, v);
            }
            c.spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
}

#[test]
fn every_rank_streams_its_own_run_in_one_group() {
    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    spawn_ranks(&server, tmp.path(), &[]);
    let storage = server.storage();
    labbook_testkit::wandb::assert_offsets_continuous(storage);
    let mut runs = storage.runs();
    runs.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    let names: Vec<_> = runs
        .iter()
        .map(|r| r.display_name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, ["rank-0", "rank-1", "rank-2"]);
    for r in &runs {
        assert_eq!(r.group.as_deref(), Some("ddp-job42"));
        assert_eq!(
            r.history.len(),
            100,
            "{:?}: complete {} exit {:?}",
            r.display_name,
            r.complete,
            r.exit_code
        );
        assert!(r.complete && r.exit_code == Some(0));
    }
    // Local rank 0 (ranks 0 and 2) samples the node; rank 1 does not.
    let sampled: Vec<bool> = runs.iter().map(|r| !r.events.is_empty()).collect();
    assert_eq!(sampled, [true, false, true]);
}

#[test]
fn rank_zero_only_leaves_the_other_ranks_disabled() {
    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    spawn_ranks(&server, tmp.path(), &[("LABBOOK_RANK_ZERO_ONLY", "true")]);
    let runs = server.storage().runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].display_name.as_deref(), Some("rank-0"));
    assert!(
        !tmp.path().join("rank1/wandb").exists(),
        "a disabled rank writes nothing"
    );
}
