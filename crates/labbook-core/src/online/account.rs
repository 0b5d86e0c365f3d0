//! Who a key belongs to: the `Viewer` query `login`, `status` and `doctor` ask with one
//! request, so a wrong key or a server that is down is an answer in seconds, not after
//! the uploader's retries.

use std::time::Duration;

use super::{Client, RetryPolicy};
use crate::error::{Error, Result};

/// The account behind an API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The key's default entity.
    pub entity: String,
    /// The user's name.
    pub username: String,
    /// The teams (entities) the user belongs to.
    pub teams: Vec<String>,
}

impl Account {
    /// Whether runs can be written to `entity`: the user's own, or one of their teams.
    /// An empty entity means the default one.
    pub fn can_write(&self, entity: &str) -> bool {
        entity.is_empty() || entity == self.entity || self.teams.iter().any(|t| t == entity)
    }
}

/// Asks `base_url` who `key` belongs to: one attempt of at most `timeout`. A refused key
/// is [`Error::Auth`]; a server that cannot be reached is [`Error::Upload`] with the reason.
///
/// ```no_run
/// let who = labbook_core::online::viewer("http://127.0.0.1:8080", "local-0123456789abcdefghijklmnopqrstuvwxyz0123", std::time::Duration::from_secs(10))?;
/// println!("logged in as {}", who.username);
/// # Ok::<(), labbook_core::Error>(())
/// ```
pub fn viewer(base_url: &str, key: &str, timeout: Duration) -> Result<Account> {
    let retry = RetryPolicy {
        max_retries: 0,
        timeout,
        ..RetryPolicy::default()
    };
    super::on_own_thread(|| {
        let client = Client::new(base_url, key, retry)?;
        let answer = client.graphql(
            "Viewer",
            "query Viewer { viewer { id entity username teams { edges { node { name } } } } }",
            serde_json::json!({}),
        )?;
        let v = &answer["viewer"];
        if v.is_null() {
            return Err(Error::Auth(format!(
                "{} does not know this key (its Viewer is empty)",
                super::public_url(base_url)
            )));
        }
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let teams = v["teams"]["edges"]
            .as_array()
            .map(|edges| {
                edges
                    .iter()
                    .filter_map(|e| e["node"]["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Account {
            entity: text("entity"),
            username: text("username"),
            teams,
        })
    })
}
