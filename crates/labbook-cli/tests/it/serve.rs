//! `labbook serve` as a user runs it: first start prints a key, `labbook sync` uploads into
//! it, SIGTERM stops it cleanly, a restart on the same data directory has everything, and
//! keys are added and revoked with `labbook serve key`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use labbook_core::Value;
use serde_json::{Value as Json, json};

/// A running `labbook serve`: the child, its URL, the banner it printed, and a thread
/// draining its stderr (a full pipe would block the server on its own request log).
pub(super) struct Serving {
    child: Child,
    pub(super) url: String,
    pub(super) banner: String,
    stderr: std::thread::JoinHandle<String>,
}

fn labbook(args: &[&str], data: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_labbook"))
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap()
}

/// `labbook serve` on `listen` (port 0: any free one), once it printed its banner.
pub(super) fn serve(data: &Path, listen: &str) -> Serving {
    serve_with(data, listen, &[])
}

/// As [`serve`], with more arguments.
pub(super) fn serve_with(data: &Path, listen: &str, args: &[&str]) -> Serving {
    let mut child = Command::new(env!("CARGO_BIN_EXE_labbook"))
        .args(["serve", "--listen", listen, "--data"])
        .arg(data)
        .args(args)
        // Everything any crate logs, to check that no key or signature is among it.
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("point a client at it") {
            break;
        }
    }
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:") || w.starts_with("https://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {banner:?}"))
        .trim_end_matches(',')
        .to_owned();
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        use std::io::Read as _;
        let _ = err.read_to_string(&mut text);
        text
    });
    Serving {
        child,
        url,
        banner,
        stderr,
    }
}

impl Serving {
    /// SIGKILL, and wait for it to be gone.
    pub(super) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status and what it said on stderr.
    pub(super) fn terminate(mut self) -> (std::process::ExitStatus, String) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.stderr.join().unwrap());
            }
            assert!(Instant::now() < deadline, "labbook serve did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub(super) fn graphql(
    url: &str,
    key: &str,
    operation: &str,
    variables: Json,
) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .post(format!("{url}/graphql"))
        .basic_auth("api", Some(key))
        .json(&json!({"query": format!("query {operation} {{ x }}"), "operationName": operation, "variables": variables}))
        .send()
        .unwrap()
}

pub(super) fn first_key(banner: &str) -> String {
    banner
        .split_whitespace()
        .find(|w| w.starts_with("local-"))
        .unwrap_or_else(|| panic!("no key in {banner:?}"))
        .to_owned()
}

#[test]
fn serve_keeps_runs_over_a_clean_stop_and_keys_come_and_go() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = serve(&data, "127.0.0.1:0");
    assert!(first.banner.contains("(SQLite)"), "{}", first.banner);
    let key = first_key(&first.banner);
    assert!(key.len() >= 46, "{key}");
    assert_eq!(graphql(&first.url, &key, "Viewer", json!({})).status(), 200);
    assert_eq!(
        graphql(&first.url, "local-wrong", "Viewer", json!({})).status(),
        401
    );

    // An offline run, uploaded with `labbook sync` as a user would.
    let run = labbook_core::init(labbook_testkit::project_settings(tmp.path(), "served")).unwrap();
    for i in 0..30u32 {
        run.log([("x", Value::from(i))]).unwrap();
    }
    let run_id = run.id().to_owned();
    let dir = run.dir().unwrap().to_owned();
    run.finish().unwrap();
    let sync = Command::new(env!("CARGO_BIN_EXE_labbook"))
        .arg("sync")
        .arg(&dir)
        .env("WANDB_BASE_URL", &first.url)
        .env("WANDB_API_KEY", &key)
        .env("HOME", tmp.path())
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(
        sync.status.success(),
        "{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    let (status, said) = first.terminate();
    assert!(status.success(), "SIGTERM: {status:?} {said}");
    assert!(said.contains("stopped"), "{said}");
    // One line per request, by route pattern and user; never a key or a signature.
    assert!(
        said.lines().any(
            |l| l.contains("route=/files/{entity}/{project}/{run}/file_stream")
                && l.contains("user=\"admin\"")
        ),
        "{said}"
    );
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("api:{key}"))
    };
    assert!(
        !said.contains(&key) && !said.contains(&basic),
        "a key was logged"
    );
    assert!(!said.contains("X-Amz-Signature="), "a signature was logged");
    assert!(
        !data.join("labbook.sqlite-wal").exists()
            || std::fs::metadata(data.join("labbook.sqlite-wal"))
                .unwrap()
                .len()
                == 0,
        "a clean stop leaves the database whole"
    );
    let secret = std::fs::metadata(data.join("secret")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(secret.permissions().mode() & 0o777, 0o600);

    // Restarted (logging JSON lines): no new first-start key, the old key works, the run is
    // all there.
    let second = serve_with(&data, "127.0.0.1:0", &["--log-format", "json"]);
    assert!(!second.banner.contains("first start"), "{}", second.banner);
    let resume = graphql(
        &second.url,
        &key,
        "RunResumeStatus",
        json!({"entity": "admin", "project": "served", "name": run_id}),
    );
    let body: Json = resume.json().unwrap();
    let bucket = &body["data"]["model"]["bucket"];
    assert_eq!(bucket["historyLineCount"], 30, "{body}");

    // A new key works at once; revoked, it is refused.
    let made = labbook(&["serve", "key", "new"], &data);
    assert!(made.status.success());
    let text = String::from_utf8_lossy(&made.stdout).to_string();
    let new_key = first_key(&text);
    let label = text
        .split(|c: char| c.is_whitespace() || c == '`' || c == ')')
        .find(|w| w.starts_with("key-"))
        .unwrap()
        .to_owned();
    assert_eq!(
        graphql(&second.url, &new_key, "Viewer", json!({})).status(),
        200
    );
    assert!(
        labbook(&["serve", "key", "revoke", &label], &data)
            .status
            .success()
    );
    assert_eq!(
        graphql(&second.url, &new_key, "Viewer", json!({})).status(),
        401
    );
    assert_eq!(
        graphql(&second.url, &key, "Viewer", json!({})).status(),
        200
    );
    let again = labbook(&["serve", "key", "revoke", &label], &data);
    assert!(!again.status.success());
    let bad = labbook(&["serve", "user", "add", "../evil"], &data);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use 1 to 64 letters"));
    let (status, said) = second.terminate();
    assert!(status.success());
    let logged: Vec<Json> = said
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert!(
        logged.iter().any(|l| l["fields"]["route"] == "/graphql"
            && l["fields"]["operation"] == "RunResumeStatus"
            && l["fields"]["status"] == 200
            && l["fields"]["user"] == "admin"
            && l["timestamp"].is_string()),
        "{said}"
    );
    assert!(
        !said.contains(&key) && !said.contains(&new_key),
        "a key was logged"
    );

    // Keys are kept as keyed hashes only: neither key is anywhere in the data directory.
    for entry in labbook_testkit::files_under(&data) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&key) && !text.contains(&new_key),
            "{entry:?} holds a key"
        );
    }
}

fn key_from(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    first_key(&String::from_utf8_lossy(&out.stdout))
}

/// A key acts for its user and the user's teams: another entity is 403, in GraphQL and in
/// `file_stream`; the first user administers the server and may use every entity.
#[test]
fn a_key_reaches_its_user_and_teams_only() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = serve(&data, "127.0.0.1:0");
    let admin = first_key(&server.banner);
    assert!(
        labbook(&["serve", "user", "add", "bob"], &data)
            .status
            .success()
    );
    let bob = key_from(&labbook(&["serve", "key", "new", "--user", "bob"], &data));
    let viewer: Json = graphql(&server.url, &bob, "Viewer", json!({}))
        .json()
        .unwrap();
    assert_eq!(viewer["data"]["viewer"]["entity"], "bob");
    let upsert = |key: &str, entity: &str| {
        graphql(
            &server.url,
            key,
            "UpsertBucket",
            json!({"entity": entity, "project": "p", "name": format!("r-{entity}")}),
        )
        .status()
    };
    assert_eq!(upsert(&bob, "bob"), 200);
    assert_eq!(upsert(&bob, "admin"), 403);
    assert_eq!(
        upsert(&admin, "bob"),
        200,
        "the first user administers the server"
    );
    let stream = reqwest::blocking::Client::new()
        .post(format!("{}/files/admin/p/r-admin/file_stream", server.url))
        .basic_auth("api", Some(&bob))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(stream.status(), 403);
    let read = graphql(
        &server.url,
        &bob,
        "RunResumeStatus",
        json!({"entity": "admin", "project": "p", "name": "r-bob"}),
    );
    assert_eq!(read.status(), 403);
    assert!(read.text().unwrap().contains("may not use entity `admin`"));
    // A team: bob may use it once he is a member.
    assert!(
        labbook(&["serve", "team", "add", "vision"], &data)
            .status
            .success()
    );
    assert_eq!(upsert(&bob, "vision"), 403);
    let joined = labbook(&["serve", "team", "add-member", "vision", "bob"], &data);
    assert!(
        joined.status.success(),
        "{}",
        String::from_utf8_lossy(&joined.stderr)
    );
    assert_eq!(upsert(&bob, "vision"), 200);
    let viewer: Json = graphql(&server.url, &bob, "Viewer", json!({}))
        .json()
        .unwrap();
    assert_eq!(
        viewer["data"]["viewer"]["teams"]["edges"][0]["node"]["name"],
        "vision"
    );
    let clash = labbook(&["serve", "team", "add", "bob"], &data);
    assert!(!clash.status.success(), "a team cannot take a user's name");
    assert!(server.terminate().0.success());
}

/// `labbook serve backup` while a run streams: a server started on the copy has every row
/// acknowledged before the backup began (as a contiguous prefix: nothing half-copied), the
/// files, and the keys.
#[test]
fn a_backup_taken_during_ingest_holds_everything_acknowledged_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, copy) = (tmp.path().join("data"), tmp.path().join("copy"));
    let server = serve(&data, "127.0.0.1:0");
    let key = first_key(&server.banner);
    let client = reqwest::blocking::Client::new();
    let files = graphql(
        &server.url,
        &key,
        "CreateRunFiles",
        json!({"entity": "admin", "project": "p", "run": "r", "files": ["model.bin"]}),
    );
    let body: Json = files.json().unwrap();
    let url = body["data"]["createRunFiles"]["files"][0]["uploadUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let put = client.put(url).body(vec![9u8; 100_000]).send().unwrap();
    assert_eq!(put.status(), 200);

    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let streamer = {
        let (url, key, acked, stop) =
            (server.url.clone(), key.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            let mut offset = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let rows: Vec<String> = (offset..offset + 200)
                    .map(|s| format!("{{\"_step\":{s},\"loss\":{}}}", 1.0 / (s + 1) as f64))
                    .collect();
                let sent = client
                    .post(format!("{url}/files/admin/p/r/file_stream"))
                    .basic_auth("api", Some(&key))
                    .json(&json!({"files": {"wandb-history.jsonl": {"offset": offset, "content": rows}}}))
                    .send()
                    .unwrap();
                assert_eq!(sent.status(), 200);
                offset += 200;
                acked.store(offset, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    while acked.load(std::sync::atomic::Ordering::SeqCst) < 2_000 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = acked.load(std::sync::atomic::Ordering::SeqCst);
    let backup = labbook(&["serve", "backup", copy.to_str().unwrap()], &data);
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert!(String::from_utf8_lossy(&backup.stdout).contains("1 blobs"));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    streamer.join().unwrap();
    assert!(server.terminate().0.success());
    // A second backup into the same place is refused: it would mix two moments.
    let again = labbook(&["serve", "backup", copy.to_str().unwrap()], &data);
    assert!(String::from_utf8_lossy(&again.stderr).contains("new or empty directory"));

    let restored = serve(&copy, "127.0.0.1:0");
    assert!(
        !restored.banner.contains("first start"),
        "the copy has its users"
    );
    let resume = graphql(
        &restored.url,
        &key,
        "RunResumeStatus",
        json!({"entity": "admin", "project": "p", "name": "r"}),
    );
    assert_eq!(resume.status(), 200, "the key works on the copy");
    let body: Json = resume.json().unwrap();
    let lines = body["data"]["model"]["bucket"]["historyLineCount"]
        .as_u64()
        .unwrap() as usize;
    assert!(
        lines >= before,
        "{lines} rows in the copy, {before} acknowledged before it"
    );
    assert_eq!(lines % 200, 0, "whole requests only");
    assert!(restored.terminate().0.success());
    let blobs = labbook_testkit::files_under(&copy.join("blobs"));
    assert!(
        blobs
            .iter()
            .any(|f| std::fs::read(f).unwrap() == vec![9u8; 100_000]),
        "the uploaded file is in the copy"
    );
}

/// `serve webhook add` on the data directory of a running server: the next alert of that
/// project is POSTed there; `list` shows hosts, never the secret path; bad input is named.
#[test]
fn a_webhook_added_while_serving_gets_the_next_alert() {
    use std::io::{BufRead as _, Read as _, Write as _};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = serve(&data, "127.0.0.1:0");
    let key = first_key(&server.banner);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/services/T0/B0/s3cret",
        listener.local_addr().unwrap()
    );
    let receiver = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        write!(stream, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").unwrap();
        String::from_utf8(body).unwrap()
    });
    let added = labbook(&["serve", "webhook", "add", "admin/vision", &url], &data);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let again = labbook(&["serve", "webhook", "add", "admin/vision", &url], &data);
    assert!(String::from_utf8_lossy(&again.stdout).contains("exists"));
    let listed =
        String::from_utf8_lossy(&labbook(&["serve", "webhook", "list"], &data).stdout).to_string();
    assert!(
        listed.contains("admin/vision") && listed.contains("slack"),
        "{listed}"
    );
    assert!(
        !listed.contains("s3cret"),
        "list shows no secret path: {listed}"
    );
    for (args, says) in [
        (
            vec!["serve", "webhook", "add", "vision", url.as_str()],
            "ENTITY/PROJECT",
        ),
        (
            vec!["serve", "webhook", "add", "a/b", "ftp://x/y"],
            "http:// or https://",
        ),
        (
            vec![
                "serve",
                "webhook",
                "add",
                "a/b",
                "http://x/y",
                "--format",
                "xml",
            ],
            "`slack` or `json`",
        ),
    ] {
        let bad = labbook(&args, &data);
        assert!(!bad.status.success());
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains(says),
            "{args:?}"
        );
    }

    let answer = graphql(
        &server.url,
        &key,
        "NotifyScriptableRunAlert",
        json!({"entityName": "admin", "projectName": "vision", "runName": "r",
            "title": "accuracy dropped", "text": "below 0.5", "severity": "WARN"}),
    );
    assert_eq!(answer.status(), 200);
    let body: Json = serde_json::from_str(&receiver.join().unwrap()).unwrap();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("*[WARN] accuracy dropped*"),
        "{body}"
    );
    let removed = labbook(&["serve", "webhook", "remove", "admin/vision", &url], &data);
    assert!(removed.status.success());
    let gone = labbook(&["serve", "webhook", "remove", "admin/vision", &url], &data);
    assert!(!gone.status.success());
    let (status, said) = server.terminate();
    assert!(status.success());
    assert!(
        said.contains("webhook delivered") && !said.contains("s3cret"),
        "{said}"
    );
}

/// Settings from `labbook-serve.toml` in the data directory (HTTPS, a small GraphQL limit),
/// a flag overriding one of them, and a file with an unknown key refused by name.
#[test]
fn serve_reads_its_settings_file_and_serves_https() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    std::fs::write(tmp.path().join("cert.pem"), made.cert.pem()).unwrap();
    std::fs::write(tmp.path().join("key.pem"), made.key_pair.serialize_pem()).unwrap();
    let settings = format!(
        "tls_cert = {:?}\ntls_key = {:?}\ngraphql_limit_kib = 1\n",
        tmp.path().join("cert.pem"),
        tmp.path().join("key.pem")
    );
    std::fs::write(data.join("labbook-serve.toml"), settings).unwrap();
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(made.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let viewer = |url: &str, key: &str, padding: usize| {
        client
            .post(format!("{url}/graphql"))
            .basic_auth("api", Some(key))
            .json(
                &json!({"query": format!("query Viewer {{ x }} #{}", "p".repeat(padding)),
                "operationName": "Viewer", "variables": {}}),
            )
            .send()
            .unwrap()
            .status()
    };
    let server = serve(&data, "127.0.0.1:0");
    assert!(server.url.starts_with("https://"), "{}", server.banner);
    let key = first_key(&server.banner);
    assert_eq!(viewer(&server.url, &key, 10), 200);
    assert_eq!(
        viewer(&server.url, &key, 4096),
        413,
        "the file's 1 KiB limit"
    );
    assert!(server.terminate().0.success());
    // A flag wins over the file.
    let server = serve_with(&data, "127.0.0.1:0", &["--graphql-limit-kib", "64"]);
    assert_eq!(viewer(&server.url, &key, 4096), 200);
    assert!(server.terminate().0.success());

    std::fs::write(data.join("labbook-serve.toml"), "lisen = \"0.0.0.0:1\"\n").unwrap();
    let refused = labbook(&["serve"], &data);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("labbook-serve.toml") && said.contains("lisen"),
        "{said}"
    );
}

/// The banner's one-time link signs a browser in; `serve signin-link` makes another, and
/// `serve user password` (from stdin) lets the form sign in.
#[test]
fn the_banner_link_signs_a_browser_in_and_passwords_can_be_set() {
    use std::io::Write as _;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = serve(&data, "127.0.0.1:0");
    let link = server
        .banner
        .lines()
        .find_map(|l| l.strip_prefix("open the dashboard: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no sign-in link in {}", server.banner))
        .to_owned();
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = |answer: reqwest::blocking::Response| {
        assert_eq!(answer.status(), 303, "{:?}", answer.headers());
        let cookie = answer.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let me: Json = client
            .get(format!("{}/api/v1/me", server.url))
            .header("cookie", cookie)
            .send()
            .unwrap()
            .json()
            .unwrap();
        me["user"].as_str().unwrap().to_owned()
    };
    assert_eq!(signed_in(client.get(&link).send().unwrap()), "admin");
    assert_eq!(client.get(&link).send().unwrap().status(), 401, "once only");

    let made = labbook(&["serve", "signin-link"], &data);
    let text = String::from_utf8_lossy(&made.stdout).to_string();
    let another = text
        .split_whitespace()
        .find(|w| w.contains("/login?token="))
        .unwrap();
    // The command knows the configured address, not the port a test server chose.
    let path = &another[another.find("/login").unwrap()..];
    assert_eq!(
        signed_in(client.get(format!("{}{path}", server.url)).send().unwrap()),
        "admin"
    );

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_labbook"))
        .args(["serve", "user", "password", "admin", "--data"])
        .arg(&data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "a long enough password").unwrap();
    let set = child.wait_with_output().unwrap();
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let form = client
        .post(format!("{}/login", server.url))
        .form(&[("user", "admin"), ("password", "a long enough password")])
        .send()
        .unwrap();
    assert_eq!(signed_in(form), "admin");
    let short = labbook(&["serve", "user", "password", "admin"], &data);
    assert!(!short.status.success(), "an empty password is refused");
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 10 characters"));
    assert!(server.terminate().0.success());
}

#[test]
fn serve_watch_imports_offline_runs_and_refuses_a_missing_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let runs = tmp.path().join("runs");
    let run = labbook_core::init(labbook_testkit::project_settings(&runs, "watched")).unwrap();
    for i in 0..12u32 {
        run.log([("x", Value::from(i))]).unwrap();
    }
    let run_id = run.id().to_owned();
    run.finish().unwrap();

    let serving = serve_with(&data, "127.0.0.1:0", &["--watch", runs.to_str().unwrap()]);
    assert!(
        serving.banner.contains("importing offline runs under"),
        "{}",
        serving.banner
    );
    let key = first_key(&serving.banner);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body: Json = graphql(
            &serving.url,
            &key,
            "RunResumeStatus",
            json!({"entity": "admin", "project": "watched", "name": run_id}),
        )
        .json()
        .unwrap();
        if body["data"]["model"]["bucket"]["historyLineCount"] == 12 {
            break;
        }
        assert!(Instant::now() < deadline, "never imported: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = serving.terminate();
    assert!(status.success());

    let missing = tmp.path().join("no-such-dir");
    let out = Command::new(env!("CARGO_BIN_EXE_labbook"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .arg("--watch")
        .arg(&missing)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("no-such-dir") && said.contains("not a directory"),
        "{said}"
    );
}

#[test]
fn the_test_fixture_service_makes_users_whose_name_is_their_key() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let serving = serve_with(
        &data,
        "127.0.0.1:0",
        &["--test-fixtures", &port.to_string()],
    );
    let fixtures = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    assert_eq!(
        client
            .get(format!("{fixtures}/health"))
            .send()
            .unwrap()
            .status(),
        200
    );
    let user = "fixture-user-0123456789abcdefghijklmnopqrstuvwxyz";
    let command = |body: Json| {
        client
            .post(format!("{fixtures}/db/user"))
            .json(&body)
            .send()
            .unwrap()
            .status()
    };
    // Before `up`, the name is no key.
    assert_eq!(
        graphql(&serving.url, user, "Viewer", json!({})).status(),
        401
    );
    assert_eq!(
        command(json!({"command": "up", "username": user, "admin": false})),
        200
    );
    let viewer: Json = graphql(&serving.url, user, "Viewer", json!({}))
        .json()
        .unwrap();
    assert_eq!(viewer["data"]["viewer"]["username"], user, "{viewer}");
    // GetViewer as W&B's harness reads it: not an admin, their own entity among their
    // teams, one key whose id is a prefix of the key (the name).
    let full: Json = graphql(&serving.url, user, "GetViewer", json!({}))
        .json()
        .unwrap();
    let full = &full["data"]["viewer"];
    assert_eq!(full["admin"], false, "{full}");
    assert_eq!(full["teams"]["edges"][0]["node"]["name"], user);
    let keys = full["apiKeys"]["edges"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{full}");
    assert!(user.starts_with(keys[0]["node"]["id"].as_str().unwrap()));
    // api.team(name) of their own entity: a team of one, them (W&B's test_query_team).
    let team: Json = graphql(&serving.url, user, "GetTeamEntity", json!({"name": user}))
        .json()
        .unwrap();
    let members = &team["data"]["entity"]["members"];
    assert_eq!(members[0]["username"], user, "{team}");
    assert_eq!(members[0]["accountType"], "USER");
    let other: Json = graphql(
        &serving.url,
        user,
        "GetTeamEntity",
        json!({"name": "admin"}),
    )
    .json()
    .unwrap();
    assert!(other["data"]["entity"].is_null(), "not theirs: {other}");
    // No organizations here: any asked for is not found (W&B's
    // test_organization_not_found_raises).
    let org: Json = graphql(&serving.url, user, "FetchOrganization", json!({"org": "x"}))
        .json()
        .unwrap();
    assert_eq!(org["data"], json!({"organization": null}), "{org}");
    let upsert = graphql(
        &serving.url,
        user,
        "UpsertBucket",
        json!({"name": "r1", "project": "fixtures"}),
    );
    assert_eq!(upsert.status(), 200);
    assert_eq!(
        command(json!({"command": "password", "username": user, "password": "a long password 1"})),
        200
    );
    assert_eq!(command(json!({"command": "down", "username": user})), 200);
    assert_eq!(
        graphql(&serving.url, user, "Viewer", json!({})).status(),
        401,
        "down: refused"
    );
    assert_eq!(
        command(json!({"command": "sideways", "username": user})),
        400
    );
    assert_eq!(command(json!({"command": "up", "username": "../x"})), 400);
    let (status, _) = serving.terminate();
    assert!(status.success());

    // Beside a server that others can reach, it is refused.
    let out = Command::new(env!("CARGO_BIN_EXE_labbook"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data"])
        .arg(&data)
        .args(["--test-fixtures", &port.to_string()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("loopback"), "{said}");
}
