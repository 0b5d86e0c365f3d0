//! Alerts that reach a person even offline: each `run.alert(...)`, and the built-in rules a
//! user turns on with one setting (a metric went NaN, no step for a while, the run ended),
//! go to webhooks (Slack's form or a generic JSON form) and/or a command, delivered on a
//! thread of their own with retries. Delivery never blocks `log` and never fails the run;
//! `finish` waits for it at most `Settings::alert_timeout`.

mod delivery;
mod payload;
mod rules;

use std::sync::Arc;
use std::time::Duration;

pub(crate) use delivery::Delivery;
pub(crate) use rules::Notifier;

/// Where an alert goes: an HTTP endpoint taking a JSON POST.
///
/// ```
/// use labbook_core::notify::Webhook;
/// let slack = Webhook::slack("https://hooks.slack.com/services/T000/B000/XXXX");
/// let mine = Webhook::json("http://alerts.lab.internal/hook");
/// # let _ = (slack, mine);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub(crate) url: String,
    pub(crate) form: Form,
}

/// The body a webhook is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// `{"text": "..."}`, as Slack's incoming webhooks (and Mattermost, Discord's
    /// `/slack` endpoints, Teams' connectors) take it.
    Slack,
    /// Every field by name: title, text, level, rule, run id and name, project, entity, time.
    Json,
}

impl Webhook {
    /// A Slack incoming webhook (or any endpoint that takes Slack's `{"text": ...}`).
    pub fn slack(url: impl Into<String>) -> Webhook {
        Webhook {
            url: url.into(),
            form: Form::Slack,
        }
    }

    /// An endpoint that takes the alert's fields as JSON.
    pub fn json(url: impl Into<String>) -> Webhook {
        Webhook {
            url: url.into(),
            form: Form::Json,
        }
    }

    /// From `LABBOOK_ALERT_WEBHOOK`: Slack's form for `hooks.slack.com` (or when
    /// `LABBOOK_ALERT_FORMAT=slack`), the JSON form otherwise.
    pub(crate) fn from_env(url: &str, format: Option<&str>) -> Webhook {
        let slack = match format {
            Some(f) => f.eq_ignore_ascii_case("slack"),
            None => crate::online::netrc_machine(url) == "hooks.slack.com",
        };
        if slack {
            Webhook::slack(url)
        } else {
            Webhook::json(url)
        }
    }
}

impl std::fmt::Debug for Webhook {
    /// The URL's path can hold a secret (Slack's does): only the host is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Webhook({:?} to {})",
            self.form,
            crate::online::netrc_machine(&self.url)
        )
    }
}

/// Where alerts go and which rules raise them, resolved from the settings.
#[derive(Clone, Debug, Default)]
pub(crate) struct NotifySettings {
    pub webhooks: Vec<Webhook>,
    /// A shell command run for each alert (`sh -c`), with the alert in `LABBOOK_ALERT_*`
    /// variables and as JSON on its stdin.
    pub command: Option<String>,
    /// Metrics whose non-finite value raises an alert.
    pub nonfinite: Vec<String>,
    /// No row for this long raises an alert.
    pub stall: Option<Duration>,
    /// The end of the run (finished, failed, crashed, stopped) raises an alert.
    pub on_end: bool,
    /// How long `finish` waits for alerts still being delivered.
    pub timeout: Duration,
    /// The stall rule's clock.
    pub clock: Option<Arc<dyn crate::online::Clock>>,
}

impl NotifySettings {
    /// Whether anything is to be delivered.
    pub(crate) fn delivers(&self) -> bool {
        !self.webhooks.is_empty() || self.command.is_some()
    }
}
