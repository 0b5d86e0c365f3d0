//! Alerts: stored with the run, and told to the project's webhooks (each a POST queued in
//! the same transaction, delivered off the request path by [`crate::notify`]).

use std::time::Duration;

use serde_json::json;

use super::{Service, ServiceResult};
use crate::store::{Alert, Delivery, HookFormat, RunKey, Webhook};

/// How webhook deliveries are retried: waits double from `first` up to `longest`, and
/// after `attempts` failed attempts the delivery is given up (and logged).
///
/// ```
/// use std::time::Duration;
/// use labbook_server::WebhookRetry;
/// let retry = WebhookRetry::default();
/// assert_eq!(retry.wait(0), Duration::from_secs(1));
/// assert_eq!(retry.wait(30), Duration::from_secs(600));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookRetry {
    /// The wait after the first failure.
    pub first: Duration,
    /// The longest wait.
    pub longest: Duration,
    /// Attempts before giving up.
    pub attempts: u32,
}

impl Default for WebhookRetry {
    /// 1 s doubling to 10 min, 12 attempts: about an hour of a receiver being down.
    fn default() -> WebhookRetry {
        WebhookRetry {
            first: Duration::from_secs(1),
            longest: Duration::from_secs(600),
            attempts: 12,
        }
    }
}

impl WebhookRetry {
    /// The wait after `failures` failed attempts (0: after the first).
    pub fn wait(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.min(31));
        self.first.saturating_mul(factor).min(self.longest)
    }
}

/// The body a webhook gets for an alert.
fn body(hook: &Webhook, key: &RunKey, alert: &Alert) -> String {
    let severity = alert.severity.as_deref().unwrap_or("INFO");
    let run = format!("{}/{}/{}", key.entity, key.project, key.run);
    match hook.format {
        HookFormat::Slack => json!({
            "text": format!("*[{severity}] {}*\n{}\n_run {run}_", alert.title, alert.text),
        }),
        HookFormat::Json => json!({
            "event": "alert",
            "entity": key.entity,
            "project": key.project,
            "run": key.run,
            "title": alert.title,
            "text": alert.text,
            "severity": severity,
            "wait_duration": alert.wait_duration,
        }),
    }
    .to_string()
}

impl Service {
    /// Stores the alert and queues a delivery to each of its project's webhooks, at once.
    pub(crate) async fn alert(&self, key: &RunKey, alert: Alert) -> ServiceResult<()> {
        super::names::check_key(key)?;
        let deliveries: Vec<Delivery> = self
            .meta
            .webhooks()
            .await?
            .iter()
            .filter(|h| h.entity == key.entity && h.project == key.project)
            .map(|hook| Delivery {
                id: 0,
                url: hook.url.clone(),
                body: body(hook, key, &alert),
                attempts: 0,
            })
            .collect();
        let queued = !deliveries.is_empty();
        self.meta.add_alert(key, alert, deliveries).await?;
        if queued {
            self.deliveries_waiting.notify_one();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_says_what_and_where() {
        let key = RunKey::new("lab", "vision", "r1");
        let alert = Alert {
            title: "loss is NaN".into(),
            text: "at step 7".into(),
            severity: Some("ERROR".into()),
            wait_duration: None,
        };
        let slack = Webhook::new("lab", "vision", "http://x", HookFormat::Slack);
        let text: serde_json::Value = serde_json::from_str(&body(&slack, &key, &alert)).unwrap();
        assert_eq!(
            text["text"],
            "*[ERROR] loss is NaN*\nat step 7\n_run lab/vision/r1_"
        );
        let generic = Webhook::new("lab", "vision", "http://x", HookFormat::Json);
        let json: serde_json::Value = serde_json::from_str(&body(&generic, &key, &alert)).unwrap();
        assert_eq!(
            (&json["run"], &json["severity"], &json["title"]),
            (&"r1".into(), &"ERROR".into(), &"loss is NaN".into())
        );
    }
}
