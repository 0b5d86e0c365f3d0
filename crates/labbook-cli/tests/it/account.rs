//! `labbook login`, `logout`, `status` and `doctor` against labbook-server, each in an
//! environment of its own (a fresh HOME, no inherited W&B variables), and every error path
//! a new user meets: no key, a wrong key, a server that is not there, a runs directory that
//! cannot be written.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use labbook_server::{RunningServer, Server, ServerConfig};

const KEY: &str = "acct0123456789abcdefghijklmnopqrstuvwxyz01";
const WRONG: &str = "xxxx0123456789abcdefghijklmnopqrstuvwxyz01";

fn server() -> RunningServer {
    Server::start(ServerConfig::new(KEY)).unwrap()
}

/// `labbook ARGS` in `home` (also its working directory) with only `vars` set.
fn cmd(args: &[&str], home: &Path, vars: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_labbook"));
    c.args(args)
        .current_dir(home)
        .env_clear()
        .env("HOME", home)
        .envs(vars.iter().copied());
    c
}

fn run_with_stdin(mut c: Command, input: &str) -> Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn status_json(home: &Path, vars: &[(&str, &str)]) -> serde_json::Value {
    let o = cmd(&["status", "--json"], home, vars).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn login_checks_the_key_keeps_it_in_netrc_and_the_host_for_later_commands() {
    let server = server();
    let home = tempfile::tempdir().unwrap();
    let url = server.base_url();
    let o = run_with_stdin(
        cmd(&["login", "--host", &url], home.path(), &[]),
        &format!("{KEY}\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("logged in to"), "{}", text(&o));
    let netrc = home.path().join(".netrc");
    assert_eq!(
        std::fs::metadata(&netrc).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let machine = url.trim_start_matches("http://");
    assert!(
        std::fs::read_to_string(&netrc)
            .unwrap()
            .contains(&format!("machine {machine}"))
    );
    let settings = std::fs::read_to_string(home.path().join(".config/wandb/settings")).unwrap();
    assert!(settings.contains(&format!("base_url={url}")), "{settings}");

    // Later commands find the server in the settings file and the key in netrc.
    let s = status_json(home.path(), &[]);
    assert_eq!(s["base_url"]["value"], url.as_str());
    assert!(
        s["base_url"]["from"]
            .as_str()
            .unwrap()
            .starts_with("base_url in "),
        "{s}"
    );
    assert_eq!(s["api_key"]["state"], "works", "{s}");
    assert_eq!(s["api_key"]["last4"], "yz01");
    assert!(
        s["api_key"]["from"].as_str().unwrap().contains(".netrc"),
        "{s}"
    );
    assert!(
        !s.to_string().contains(KEY),
        "status shows only the last 4 characters"
    );

    // A second login with a working key asks for nothing.
    let o = run_with_stdin(cmd(&["login"], home.path(), &[]), "");
    assert!(
        o.status.success() && text(&o).contains("already logged in"),
        "{}",
        text(&o)
    );

    let o = cmd(&["logout"], home.path(), &[]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!std::fs::read_to_string(&netrc).unwrap().contains(machine));
    let s = status_json(home.path(), &[]);
    assert_eq!(s["api_key"]["state"], "missing", "{s}");
}

#[test]
fn login_refuses_no_key_a_malformed_key_a_wrong_key_and_a_missing_server() {
    let server = server();
    let home = tempfile::tempdir().unwrap();
    let url = server.base_url();
    let login = |input: &str, host: &str| {
        run_with_stdin(
            cmd(&["login", "--host", host, "--relogin"], home.path(), &[]),
            input,
        )
    };
    for (input, host, expect) in [
        ("\n", url.as_str(), "no key given"),
        ("abc\n", url.as_str(), "too short"),
        (
            &format!("{WRONG}\n")[..],
            url.as_str(),
            "refused the API key",
        ),
        (
            &format!("{KEY}\n")[..],
            "http://127.0.0.1:9",
            "was not stored",
        ),
    ] {
        let o = login(input, host);
        let t = text(&o);
        assert!(
            !o.status.success() && t.contains(expect),
            "{input:?} {host}: {t}"
        );
        assert!(
            !t.contains(WRONG) && !t.contains(KEY),
            "a key is never shown: {t}"
        );
        assert!(
            !home.path().join(".netrc").exists(),
            "nothing is stored after {expect}"
        );
    }
}

/// Opens a pseudo-terminal: (controller, terminal) descriptors.
fn openpty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd as _;
    let (mut main, mut term) = (0, 0);
    // SAFETY: openpty fills two descriptors, which are then owned by the Files.
    let rc = unsafe {
        libc::openpty(
            &mut main,
            &mut term,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty failed");
    unsafe {
        (
            std::fs::File::from_raw_fd(main),
            std::fs::File::from_raw_fd(term),
        )
    }
}

#[test]
fn on_a_terminal_login_asks_for_the_key_without_echoing_it() {
    let server = server();
    let home = tempfile::tempdir().unwrap();
    let (mut main, term) = openpty();
    let mut c = cmd(&["login", "--host", &server.base_url()], home.path(), &[]);
    let mut child = c
        .stdin(Stdio::from(term.try_clone().unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::from(term))
        .spawn()
        .unwrap();
    drop(c);
    // Wait for the prompt, then type the key.
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !String::from_utf8_lossy(&seen).contains("input is hidden") {
        let n = main.read(&mut buf).unwrap();
        assert!(n > 0, "no prompt");
        seen.extend_from_slice(&buf[..n]);
    }
    main.write_all(format!("{KEY}\n").as_bytes()).unwrap();
    let status = child.wait().unwrap();
    // Everything the terminal showed, the prompt to the end.
    let mut rest = Vec::new();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&main);
    // SAFETY: fcntl on a descriptor this test owns.
    unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
    loop {
        match main.read(&mut buf) {
            Ok(n) if n > 0 => rest.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    seen.extend(rest);
    let shown = String::from_utf8_lossy(&seen);
    assert!(status.success(), "{shown}");
    assert!(shown.contains("logged in to"), "{shown}");
    assert!(!shown.contains(KEY), "the key was echoed: {shown}");
    assert!(
        std::fs::read_to_string(home.path().join(".netrc"))
            .unwrap()
            .contains(KEY)
    );
}

#[test]
fn status_reads_dotenv_and_names_each_source() {
    let server = server();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join(".env"),
        format!("WANDB_API_KEY={KEY}\nWANDB_MODE=online\nWANDB_PROJECT=fromdotenv\n"),
    )
    .unwrap();
    std::fs::write(home.path().join(".env.local"), "WANDB_PROJECT=fromlocal\n").unwrap();
    let url = server.base_url();
    let vars = [("WANDB_BASE_URL", url.as_str()), ("WANDB_USER", "ada")];
    let s = status_json(home.path(), &vars);
    assert_eq!(s["mode"]["value"], "online");
    assert!(
        s["mode"]["from"].as_str().unwrap().ends_with("/.env"),
        "{s}"
    );
    assert_eq!(s["project"]["value"], "fromlocal", "{s}");
    assert_eq!(s["base_url"]["from"], "WANDB_BASE_URL");
    assert_eq!(s["api_key"]["state"], "works", "{s}");
    assert_eq!(s["api_key"]["detail"]["entity"], "labbook");
    assert_eq!(s["username"]["value"], "ada");
    assert_eq!(s["unsynced"]["runs"], 0);

    // One offline run not synced yet, counted with its size.
    let run = labbook_core::init(
        labbook_core::Settings::new("p")
            .dir(home.path())
            .quiet(true)
            .mode(labbook_core::Mode::Offline)
            .system_metrics(false)
            .console(labbook_core::Console::Off)
            .handle_signals(false)
            .env_vars(Vec::<(String, String)>::new()),
    )
    .unwrap();
    run.log([("x", labbook_core::Value::from(1))]).unwrap();
    run.finish().unwrap();
    let s = status_json(home.path(), &[("WANDB_ENABLED", "false")]);
    assert_eq!(s["mode"]["value"], "disabled");
    assert_eq!(s["mode"]["from"], "WANDB_ENABLED");
    assert_eq!(s["unsynced"]["runs"], 1);
    assert!(s["unsynced"]["bytes"].as_u64().unwrap() > 0);

    // A wrong key is reported, not fatal; --offline does not ask.
    let wrong = [("WANDB_BASE_URL", url.as_str()), ("WANDB_API_KEY", WRONG)];
    assert_eq!(
        status_json(home.path(), &wrong)["api_key"]["state"],
        "refused"
    );
    let o = cmd(&["status", "--offline"], home.path(), &wrong)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("not checked") && !t.contains(WRONG),
        "{t}"
    );
}

#[test]
fn doctor_passes_a_good_setup_and_names_each_fault_with_its_fix() {
    let server = server();
    let home = tempfile::tempdir().unwrap();
    let url = server.base_url();
    let good = [
        ("WANDB_BASE_URL", url.as_str()),
        ("WANDB_API_KEY", KEY),
        ("WANDB_PROJECT", "p"),
    ];
    let o = cmd(&["doctor"], home.path(), &good).output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for line in [
        "[ok  ] runs directory",
        "[ok  ] connection",
        "[ok  ] clock",
        "[ok  ] api key",
        "[ok  ] entity",
        "[ok  ] project",
    ] {
        assert!(t.contains(line), "no {line:?} in:\n{t}");
    }

    let file = home.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let not_a_dir = file.join("runs");
    let faults: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("WANDB_BASE_URL", &url),
                ("WANDB_API_KEY", KEY),
                ("WANDB_DIR", not_a_dir.to_str().unwrap()),
            ],
            "[FAIL] runs directory",
        ),
        (
            &[("WANDB_BASE_URL", &url), ("WANDB_API_KEY", WRONG)],
            "[FAIL] api key",
        ),
        (
            &[
                ("WANDB_BASE_URL", &url),
                ("WANDB_API_KEY", KEY),
                ("WANDB_ENTITY", "someone-else"),
            ],
            "set WANDB_ENTITY to one of: labbook",
        ),
        (
            &[
                ("WANDB_BASE_URL", "http://127.0.0.1:9"),
                ("WANDB_API_KEY", KEY),
            ],
            "[FAIL] connection",
        ),
    ];
    for (vars, expect) in faults {
        let o = cmd(&["doctor"], home.path(), vars).output().unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{t}");
        assert!(
            t.contains(expect) && t.contains("->"),
            "no {expect:?} with a fix in:\n{t}"
        );
        assert!(!t.contains(WRONG) && !t.contains(KEY));
    }
    let o = cmd(&["doctor"], home.path(), &[("WANDB_BASE_URL", &url)])
        .output()
        .unwrap();
    assert!(text(&o).contains("labbook login"), "{}", text(&o));
}
