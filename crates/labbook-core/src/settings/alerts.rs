//! The alert settings: where alerts go (webhooks, a command) and the built-in rules, each
//! turned on with one setting or one variable.

use std::sync::Arc;
use std::time::Duration;

use super::Settings;
use super::env::Env;
use crate::error::{Error, Result};
use crate::notify::{NotifySettings, Webhook};

/// What the program chose for alerts (each `None` is left to the environment).
#[derive(Clone, Debug, Default)]
pub(super) struct AlertChoices {
    webhooks: Vec<Webhook>,
    command: Option<String>,
    nonfinite: Option<Vec<String>>,
    stall: Option<Duration>,
    on_end: Option<bool>,
    timeout: Option<Duration>,
    clock: Option<Arc<dyn crate::online::Clock>>,
}

/// How long `finish` waits for alerts still being delivered, by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

impl Settings {
    /// Also sends every alert to this webhook (repeatable; `LABBOOK_ALERT_WEBHOOK` adds
    /// comma-separated URLs). Delivery happens on a thread of its own, with retries; it
    /// never blocks `log` and never fails the run.
    ///
    /// ```
    /// use labbook_core::{notify::Webhook, Settings};
    /// let s = Settings::new("p")
    ///     .alert_webhook(Webhook::slack("https://hooks.slack.com/services/T0/B0/X"))
    ///     .alert_on_nonfinite(["train/loss"])
    ///     .alert_on_end(true);
    /// # let _ = s;
    /// ```
    pub fn alert_webhook(mut self, hook: Webhook) -> Settings {
        self.alerts.webhooks.push(hook);
        self
    }

    /// Runs this shell command (`sh -c`) for every alert, with `LABBOOK_ALERT_TITLE`,
    /// `_TEXT`, `_LEVEL`, `_RULE`, `_RUN_ID`, `_RUN_NAME` and `_PROJECT` set and the alert as
    /// JSON on its stdin (else `LABBOOK_ALERT_COMMAND`), e.g. `notify-send "$LABBOOK_ALERT_TITLE"`.
    pub fn alert_command(mut self, command: impl Into<String>) -> Settings {
        self.alerts.command = Some(command.into());
        self
    }

    /// Raises an alert the first time one of these metrics is logged NaN or infinite (else
    /// `LABBOOK_ALERT_ON_NONFINITE`, comma-separated).
    pub fn alert_on_nonfinite<T: Into<String>>(
        mut self,
        metrics: impl IntoIterator<Item = T>,
    ) -> Settings {
        self.alerts.nonfinite = Some(metrics.into_iter().map(Into::into).collect());
        self
    }

    /// Raises an alert once no row has been logged for this long: the run may hang (else
    /// `LABBOOK_ALERT_STALL_MINUTES`).
    pub fn alert_on_stall(mut self, after: Duration) -> Settings {
        self.alerts.stall = Some(after);
        self
    }

    /// Raises an alert when the run ends: finished, failed (a panic, an error exit) or
    /// stopped by a signal (else `LABBOOK_ALERT_ON_END`). A process killed outright (`kill
    /// -9`, out of memory) cannot say so.
    pub fn alert_on_end(mut self, on: bool) -> Settings {
        self.alerts.on_end = Some(on);
        self
    }

    /// How long `finish` waits for alerts still being delivered (default 5 s).
    pub fn alert_timeout(mut self, timeout: Duration) -> Settings {
        self.alerts.timeout = Some(timeout);
        self
    }

    /// The clock the stall rule goes by (tests move a [`ManualClock`](crate::online::ManualClock)).
    pub fn alert_clock(mut self, clock: Arc<dyn crate::online::Clock>) -> Settings {
        self.alerts.clock = Some(clock);
        self
    }

    pub(super) fn alerts_from(&self, env: &Env) -> Result<NotifySettings> {
        let c = &self.alerts;
        let mut webhooks = c.webhooks.clone();
        if let Some(list) = env.get("LABBOOK_ALERT_WEBHOOK") {
            let format = env.get("LABBOOK_ALERT_FORMAT").filter(|f| !f.is_empty());
            if let Some(f) =
                format.filter(|f| !["slack", "json"].contains(&f.to_ascii_lowercase().as_str()))
            {
                return Err(Error::InvalidSetting {
                    name: "LABBOOK_ALERT_FORMAT".into(),
                    reason: format!("{f:?} is not slack or json"),
                });
            }
            for url in list.split(',').map(str::trim).filter(|u| !u.is_empty()) {
                webhooks.push(Webhook::from_env(url, format));
            }
        }
        for hook in &webhooks {
            if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
                return Err(Error::InvalidSetting {
                    name: format!("alert webhook {hook:?}"),
                    reason: "a webhook URL starts with http:// or https://".into(),
                });
            }
        }
        if !webhooks.is_empty() && !cfg!(feature = "online") {
            return Err(Error::NotBuiltWith {
                feature: "online",
                needed_for: "alert webhooks (LABBOOK_ALERT_WEBHOOK or Settings::alert_webhook)",
            });
        }
        let list = |var: &str| -> Vec<String> {
            env.get(var)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let stall = match c.stall {
            Some(d) => Some(d),
            None => match env
                .get("LABBOOK_ALERT_STALL_MINUTES")
                .filter(|v| !v.trim().is_empty())
            {
                Some(v) => Some(super::env::env_seconds(
                    "LABBOOK_ALERT_STALL_MINUTES",
                    &minutes_as_seconds(v)?,
                )?),
                None => None,
            },
        };
        Ok(NotifySettings {
            webhooks,
            command: c.command.clone().or_else(|| {
                env.get("LABBOOK_ALERT_COMMAND")
                    .filter(|v| !v.trim().is_empty())
                    .map(str::to_owned)
            }),
            nonfinite: c
                .nonfinite
                .clone()
                .unwrap_or_else(|| list("LABBOOK_ALERT_ON_NONFINITE")),
            stall,
            on_end: match c.on_end {
                Some(on) => on,
                None => env.flag("LABBOOK_ALERT_ON_END")?.unwrap_or(false),
            },
            timeout: c.timeout.unwrap_or(DEFAULT_TIMEOUT),
            clock: c.clock.clone(),
        })
    }
}

/// `30` (minutes) as `1800` (seconds), for the checks seconds pass.
fn minutes_as_seconds(v: &str) -> Result<String> {
    let minutes: f64 = v.trim().parse().map_err(|_| Error::InvalidSetting {
        name: "LABBOOK_ALERT_STALL_MINUTES".into(),
        reason: format!("{v:?} is not a number of minutes"),
    })?;
    Ok((minutes * 60.0).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(vars: &[(&str, &str)]) -> Result<NotifySettings> {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::new("p")
            .dotenv_dir(dir.path())
            .env_vars(vars.iter().copied());
        s.alerts_from(&Env::load(&s)?)
    }

    #[test]
    #[cfg(not(feature = "online"))]
    fn webhooks_need_the_online_feature() {
        let e = resolve(&[("LABBOOK_ALERT_WEBHOOK", "http://127.0.0.1:9/hook")]).unwrap_err();
        assert!(
            matches!(
                e,
                Error::NotBuiltWith {
                    feature: "online",
                    ..
                }
            ),
            "{e}"
        );
        let n = resolve(&[
            ("LABBOOK_ALERT_COMMAND", "true"),
            ("LABBOOK_ALERT_ON_END", "1"),
        ])
        .unwrap();
        assert!(
            n.on_end && n.command.is_some(),
            "a command needs no network"
        );
    }

    #[test]
    #[cfg(feature = "online")]
    fn each_rule_and_target_comes_from_one_variable() {
        let n = resolve(&[
            (
                "LABBOOK_ALERT_WEBHOOK",
                "https://hooks.slack.com/services/x, http://127.0.0.1:9/hook",
            ),
            ("LABBOOK_ALERT_COMMAND", "true"),
            ("LABBOOK_ALERT_ON_NONFINITE", "loss, val/loss"),
            ("LABBOOK_ALERT_STALL_MINUTES", "30"),
            ("LABBOOK_ALERT_ON_END", "1"),
        ])
        .unwrap();
        assert_eq!(
            n.webhooks,
            [
                Webhook::slack("https://hooks.slack.com/services/x"),
                Webhook::json("http://127.0.0.1:9/hook")
            ]
        );
        assert_eq!(n.command.as_deref(), Some("true"));
        assert_eq!(n.nonfinite, ["loss", "val/loss"]);
        assert_eq!(n.stall, Some(Duration::from_secs(1800)));
        assert!(n.on_end);
        assert!(
            !format!("{:?}", n.webhooks[0]).contains("services"),
            "a webhook's secret path is not shown"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let e = resolve(&[("LABBOOK_ALERT_STALL_MINUTES", "soon")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("LABBOOK_ALERT_STALL_MINUTES"), "{e}");
        let e = resolve(&[("LABBOOK_ALERT_WEBHOOK", "ftp://x")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("http:// or https://"), "{e}");
        let e = resolve(&[
            ("LABBOOK_ALERT_WEBHOOK", "http://x"),
            ("LABBOOK_ALERT_FORMAT", "xml"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("LABBOOK_ALERT_FORMAT"), "{e}");
    }
}
