//! A full disk: a data directory on a small tmpfs is filled up while a run streams. Every
//! request is answered 200 (stored) or 503 (not stored), never 200 for what was lost; the
//! database stays readable while full; once space returns, the client's resend is stored
//! and ingest goes on, each row once.
//!
//! Mounting a tmpfs needs root, as `scripts/test.sh` runs; elsewhere this test fails and
//! says so rather than pass without checking anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use labbook_server::store::{MetaStore, RunKey, Stream};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

/// `program` as root: itself when the tests run as root (as CI does), else through
/// `sudo -n`.
fn privileged(program: &str) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        Command::new(program)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", program]);
        sudo
    }
}

/// A tmpfs of `mib` MiB at a new temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(mib: u64) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = privileged("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "cannot mount a tmpfs at {} ({status}): this test needs root (or sudo without a \
             password), as scripts/test.sh has; it does not skip",
            dir.path().display()
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn free(&self) -> u64 {
        let path = std::ffi::CString::new(self.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: statvfs fills the struct we own from a NUL-terminated path.
        let stat = unsafe {
            let mut stat = std::mem::zeroed::<libc::statvfs>();
            assert_eq!(libc::statvfs(path.as_ptr(), &mut stat), 0);
            stat
        };
        stat.f_bavail * stat.f_frsize
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = privileged("umount").arg("-l").arg(self.dir.path()).status();
    }
}

fn history(offset: usize, rows: usize) -> Value {
    let lines: Vec<String> = (offset..offset + rows)
        .map(|s| {
            let mut row = format!("{{\"_step\":{s}");
            for k in 0..10 {
                row.push_str(&format!(",\"m{k}\":{}", (s as f64 * 0.37 + k as f64).sin()));
            }
            row + "}"
        })
        .collect();
    json!({"files": {"wandb-history.jsonl": {"offset": offset, "content": lines}}})
}

#[test]
fn a_full_disk_is_503_never_a_lost_200_and_ingest_resumes_when_space_returns() {
    let disk = Tmpfs::mount(24);
    let (data, key, server) = super::data_server(&disk.path().join("data"));
    let base = server.base_url();
    let auth = format!("Basic {}", STANDARD.encode(format!("api:{key}")));
    let client = Client::new();
    let send = |offset: usize, rows: usize| {
        client
            .post(format!("{base}/files/admin/proj/run/file_stream"))
            .header("Authorization", &auth)
            .json(&history(offset, rows))
            .send()
            .unwrap()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let run_key = RunKey::new("admin", "proj", "run");
    let stored = || {
        rt.block_on(data.meta.run(&run_key))
            .unwrap()
            .map_or(0, |r| r.history_lines)
    };

    // An upload URL, asked for while there is room (asking writes the run's row).
    let upload = client
        .post(format!("{base}/graphql"))
        .header("Authorization", &auth)
        .json(&json!({"query": "mutation CreateRunFiles { x }", "operationName": "CreateRunFiles",
            "variables": {"entity": "admin", "project": "proj", "run": "run", "files": ["big.bin"]}}))
        .send()
        .unwrap();
    assert_eq!(upload.status(), StatusCode::OK);
    let url = upload.json::<Value>().unwrap()["data"]["createRunFiles"]["files"][0]["uploadUrl"]
        .as_str()
        .unwrap()
        .to_owned();

    // Leave about 3 MiB: a few requests fit, then the disk is full.
    let ballast: PathBuf = disk.path().join("ballast");
    let keep = 3 << 20;
    std::fs::write(&ballast, vec![7u8; (disk.free() - keep) as usize]).unwrap();
    const ROWS: usize = 500;
    let mut acked = 0;
    let full_answer = loop {
        let answer = send(acked, ROWS);
        match answer.status() {
            StatusCode::OK => {
                acked += ROWS;
                assert_eq!(stored(), acked, "a 200 means the rows are stored");
            }
            StatusCode::SERVICE_UNAVAILABLE => break answer.text().unwrap(),
            other => panic!("a write on a full disk answered {other}"),
        }
        assert!(acked < 1_000_000, "the disk never filled up");
    };
    assert!(acked > 0, "some requests fit before the disk was full");
    assert!(
        full_answer.contains("full"),
        "the 503 says why: {full_answer}"
    );
    // Full, and still readable: what was acknowledged is there, what was refused is not.
    assert_eq!(stored(), acked);
    let lines = rt
        .block_on(data.meta.lines(&run_key, &Stream::History, 0, usize::MAX))
        .unwrap();
    assert_eq!(lines.len(), acked);
    // A run file upload is refused too, and leaves no half-written file behind.
    let put = client.put(&url).body(vec![1u8; 4 << 20]).send().unwrap();
    assert_eq!(put.status(), StatusCode::SERVICE_UNAVAILABLE);
    let tmp = std::fs::read_dir(data.path.join("blobs").join("tmp"))
        .unwrap()
        .count();
    assert_eq!(tmp, 0, "a failed blob write removes its temp file");

    // Space returns: the client's resend of the refused request is stored, then more.
    std::fs::remove_file(&ballast).unwrap();
    assert_eq!(send(acked, ROWS).status(), StatusCode::OK);
    acked += ROWS;
    assert_eq!(send(acked, ROWS).status(), StatusCode::OK);
    acked += ROWS;
    assert_eq!(
        client
            .put(&url)
            .body(vec![1u8; 4 << 20])
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );
    server.shutdown();
    let lines = rt
        .block_on(data.meta.lines(&run_key, &Stream::History, 0, usize::MAX))
        .unwrap();
    let steps: Vec<usize> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["_step"]
                .as_u64()
                .unwrap() as usize
        })
        .collect();
    assert_eq!(
        steps,
        (0..acked).collect::<Vec<_>>(),
        "every row once, in order"
    );
}
