//! What a run records of its checkout (dirty or not, `diff.patch`) and of the machine's
//! paths (the home directory as `~`). The run starts in a child process whose working
//! directory is a scratch checkout, as a training program starts in its repository.

use std::path::Path;
use std::process::Command;

use labbook_testkit::{child_command, only_run_dir, read_run};

/// The child: one run in the working directory, with the variant's settings.
#[test]
fn child_main() {
    let Ok(what) = std::env::var("LABBOOK_CHILD") else {
        return;
    };
    let dir = std::env::var("LABBOOK_CHILD_DIR").unwrap();
    let home = Path::new(&dir)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    // The test kit turns the diff off for other tests; here it is the subject.
    let mut s = labbook_testkit::settings(Path::new(&dir))
        .env_vars([("HOME", home.as_str())])
        .git_diff(true);
    s = match what.as_str() {
        "default" => s,
        "no_diff" => s.git_diff(false),
        "no_git" => s.disable_git(true),
        "public" => s.private_paths(false),
        other => panic!("{other}"),
    };
    let run = labbook::init(s).unwrap();
    run.log([("x", labbook::Value::from(1))]).unwrap();
    run.finish().unwrap();
}

fn git(dir: &Path, args: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("git {args}"))
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args}");
}

/// Runs the variant in a dirty checkout under a home directory; returns the run's dir.
fn run_in_checkout(what: &str, home: &Path) -> std::path::PathBuf {
    let repo = home.join(what);
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("train.rs"), "fn main() {}\n").unwrap();
    git(&repo, "init -q && git add train.rs && git commit -qm one");
    std::fs::write(repo.join("train.rs"), "fn main() { let lr = 0.1; }\n").unwrap();
    let out = child_command("git_and_paths::child_main", what, &repo, None)
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    only_run_dir(&repo)
}

fn labbook_info(dir: &Path) -> serde_json::Value {
    let d = read_run(dir);
    serde_json::from_str::<serde_json::Value>(&d.config["_wandb"]).unwrap()["labbook"].clone()
}

#[test]
fn a_dirty_checkout_is_recorded_with_its_patch_and_home_paths_become_a_tilde() {
    let home = tempfile::tempdir().unwrap();
    let dir = run_in_checkout("default", home.path());
    assert_eq!(labbook_info(&dir)["git_dirty"], true);
    let patch = std::fs::read_to_string(dir.join("files/diff.patch")).unwrap();
    assert!(patch.contains("+fn main() { let lr = 0.1; }"), "{patch}");
    let d = read_run(&dir);
    assert!(d.files.iter().any(|f| f.path == "diff.patch"));
    let env = &d.environments[0];
    assert_eq!(
        env.root, "~/default",
        "the working directory under HOME is ~/..."
    );
    assert!(
        !env.args
            .iter()
            .any(|a| a.contains(home.path().to_str().unwrap())),
        "{:?}",
        env.args
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("files/wandb-metadata.json")).unwrap())
            .unwrap();
    assert_eq!(meta["root"], "~/default");
}

#[test]
fn each_switch_turns_off_its_part() {
    let home = tempfile::tempdir().unwrap();
    let dir = run_in_checkout("no_diff", home.path());
    assert_eq!(labbook_info(&dir)["git_dirty"], true);
    assert!(!dir.join("files/diff.patch").exists());

    let dir = run_in_checkout("no_git", home.path());
    assert!(labbook_info(&dir).get("git_dirty").is_none());
    assert!(!dir.join("files/diff.patch").exists());
    assert!(read_run(&dir).environments[0].git.is_none());

    let dir = run_in_checkout("public", home.path());
    let root = &read_run(&dir).environments[0].root;
    assert!(
        root.starts_with('/') && root.ends_with("/public"),
        "kept as it is: {root}"
    );
}
