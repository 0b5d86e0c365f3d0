//! Browser sign-in: a one-time link, a password or an API key gives an HttpOnly,
//! SameSite=Strict session cookie; a state change on a session needs its CSRF token; the
//! session ends on sign-out; nothing of it is in the database in clear.

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// The session cookie a sign-in answer sets (`labbook_session=...`), checked for its
/// attributes.
fn session_cookie(answer: &Response) -> String {
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()[LOCATION], "/");
    let set = answer.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=604800"] {
        assert!(set.contains(attribute), "{set} lacks {attribute}");
    }
    set.split(';').next().unwrap().to_owned()
}

#[test]
fn a_browser_signs_in_three_ways_and_state_changes_need_the_csrf_token() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, key, server) = super::data_server(tmp.path());
    data.set_password("admin", PASSWORD).unwrap();
    assert!(data.set_password("admin", "short").is_err());
    data.add_user("bob").unwrap();
    let base = server.base_url();
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(format!("{base}/login")).send().unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("'self'")
    );
    assert!(page.text().unwrap().contains("name=\"password\""));
    let me = |cookie: &str| {
        client
            .get(format!("{base}/api/v1/me"))
            .header(COOKIE, cookie)
            .send()
            .unwrap()
    };
    assert_eq!(
        client
            .get(format!("{base}/api/v1/me"))
            .send()
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // A one-time link: works once.
    let token = data.signin_token("admin").unwrap();
    let link = format!("{base}/login?token={token}");
    let cookie = session_cookie(&client.get(&link).send().unwrap());
    let again = client.get(&link).send().unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert!(again.text().unwrap().contains("used already"));
    let who: Value = me(&cookie).json().unwrap();
    assert_eq!(who["user"], "admin");
    let csrf = who["csrf"].as_str().unwrap().to_owned();

    // A state change on the session needs its CSRF token; a key needs none.
    let stream = client
        .post(format!("{base}/files/admin/p/r/file_stream"))
        .basic_auth("api", Some(&key))
        .json(&json!({"files": {"wandb-history.jsonl": {"offset": 0, "content": ["{\"x\":1}"]}}}))
        .send()
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let stop = |csrf: Option<&str>| {
        let request = client
            .post(format!("{base}/api/v1/runs/admin/p/r/stop"))
            .header(COOKIE, &cookie);
        match csrf {
            Some(token) => request.header("X-CSRF-Token", token),
            None => request,
        }
        .send()
        .unwrap()
        .status()
    };
    assert_eq!(stop(None), StatusCode::FORBIDDEN);
    assert_eq!(stop(Some("forged")), StatusCode::FORBIDDEN);
    assert_eq!(stop(Some(&csrf)), StatusCode::OK);
    let by_key = client
        .post(format!("{base}/api/v1/runs/admin/p/r/stop"))
        .basic_auth("api", Some(&key))
        .send()
        .unwrap();
    assert_eq!(by_key.status(), StatusCode::OK);
    let runs: Value = client
        .get(format!("{base}/api/v1/runs/admin/p"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(runs["runs"], json!(["r"]));

    // A password, and an API key, typed into the page.
    let form = |fields: &[(&str, &str)]| {
        client
            .post(format!("{base}/login"))
            .form(fields)
            .send()
            .unwrap()
    };
    for wrong in [
        vec![("user", "admin"), ("password", "not the password")],
        vec![("user", "nobody"), ("password", PASSWORD)],
        vec![("api_key", "local-wrong")],
        vec![],
    ] {
        let refused = form(&wrong);
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{wrong:?}");
        assert!(refused.headers().get(SET_COOKIE).is_none());
        assert!(
            refused
                .text()
                .unwrap()
                .contains("Wrong user, password or API key.")
        );
    }
    let by_password = session_cookie(&form(&[("user", "admin"), ("password", PASSWORD)]));
    assert_eq!(me(&by_password).status(), StatusCode::OK);
    let by_key = session_cookie(&form(&[("api_key", &key)]));
    assert_eq!(me(&by_key).status(), StatusCode::OK);

    // Bob's session reaches his entity only.
    let bob = session_cookie(
        &client
            .get(format!(
                "{base}/login?token={}",
                data.signin_token("bob").unwrap()
            ))
            .send()
            .unwrap(),
    );
    let theirs = client
        .get(format!("{base}/api/v1/runs/admin/p"))
        .header(COOKIE, &bob)
        .send()
        .unwrap();
    assert_eq!(theirs.status(), StatusCode::FORBIDDEN);

    // Signing out needs the token too, then ends the session.
    let out = |csrf: &str| {
        client
            .post(format!("{base}/logout"))
            .header(COOKIE, &cookie)
            .header("X-CSRF-Token", csrf)
            .send()
            .unwrap()
    };
    assert_eq!(out("forged").status(), StatusCode::FORBIDDEN);
    let done = out(&csrf);
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(
        done.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(me(&cookie).status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        me(&by_password).status(),
        StatusCode::OK,
        "other sessions go on"
    );
    server.shutdown();

    // Session and link tokens, and the password, are nowhere in clear.
    data.checkpoint().unwrap();
    let session_token = by_password.split_once('=').unwrap().1;
    for file in labbook_testkit::files_under(tmp.path()) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in [session_token, token.as_str(), PASSWORD] {
            assert!(!text.contains(secret), "{file:?} holds a secret in clear");
        }
    }
}
