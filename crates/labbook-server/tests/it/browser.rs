//! A real browser (Debian's Chromium, headless) opens the one-time sign-in link: the
//! server's redirect sets the session cookie, the dashboard's script asks `/api/v1/me` with
//! it, and the page says who is signed in. A second browser on the used link is sent to
//! the sign-in page. Needs `LABBOOK_CHROMIUM` (scripts/test.sh installs Chromium); it
//! fails rather than skips without it.

use std::path::PathBuf;
use std::process::Command;

use labbook_server::{DataDir, Server, ServerConfig};

fn chromium() -> PathBuf {
    let path = std::env::var_os("LABBOOK_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join("chromium"))
                .find(|p| p.exists())
        });
    path.expect("no Chromium: scripts/test.sh installs it and sets LABBOOK_CHROMIUM")
}

/// What Chromium renders at `url` once the page's scripts ran: the DOM, or a screenshot.
fn browse(url: &str, profile: &std::path::Path, output: &[&str]) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1000,500",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(output)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn a_headless_browser_signs_in_with_the_one_time_link() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _) = DataDir::open(&tmp.path().join("data")).unwrap();
    let server = Server::start(ServerConfig::from_data_dir(
        &data,
        "127.0.0.1:0".parse().unwrap(),
    ))
    .unwrap();
    let link = format!(
        "{}/login?token={}",
        server.base_url(),
        data.signin_token("admin").unwrap()
    );
    let dom = browse(&link, &tmp.path().join("profile"), &["--dump-dom"]);
    assert!(dom.contains("Signed in as admin"), "{dom}");
    // The link is used up: another browser lands on the sign-in page, told why.
    let again = browse(&link, &tmp.path().join("profile2"), &["--dump-dom"]);
    assert!(again.contains("used already"), "{again}");
    assert!(!again.contains("Signed in as"), "{again}");
    // A picture of the signed-in page, for a person to look at (LABBOOK_SCREENSHOTS=DIR).
    if let Some(dir) = std::env::var_os("LABBOOK_SCREENSHOTS") {
        let shot = PathBuf::from(dir).join("signed-in.png");
        let link = format!(
            "{}/login?token={}",
            server.base_url(),
            data.signin_token("admin").unwrap()
        );
        browse(
            &link,
            &tmp.path().join("profile3"),
            &[&format!("--screenshot={}", shot.display())],
        );
        assert!(shot.exists());
    }
    server.shutdown();
}
