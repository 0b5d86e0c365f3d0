//! Outbound: webhook deliveries, POSTed from the queue the store keeps, off the request
//! path. A receiver that is down or answers other than 2xx is retried (doubling waits);
//! the queue is in the database, so a restart resumes it.

use std::time::Duration;

use crate::service::{Service, WebhookRetry};
use crate::store::{Delivery, now_ms};

/// How long one POST may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How often the queue is looked at when nothing wakes the worker (a queue another
/// process wrote, a clock that jumped).
const IDLE: i64 = 30_000;

/// Delivers queued webhooks until the runtime stops.
pub(crate) async fn deliver(service: Service, retry: WebhookRetry) {
    let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot make an HTTP client: webhooks will not be delivered");
            return;
        }
    };
    loop {
        let now = now_ms();
        match service.meta.due_deliveries(now, 32).await {
            Ok(due) if !due.is_empty() => {
                for delivery in due {
                    attempt(&client, &service, &retry, delivery).await;
                }
                continue;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot read the webhook queue"),
        }
        let wait = match service.meta.next_delivery_at().await {
            Ok(Some(at)) => (at - now).clamp(0, IDLE),
            _ => IDLE,
        };
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            () = service.deliveries_waiting.notified() => {}
        }
    }
}

/// Where a delivery goes, for log lines: the host only, as a webhook URL's path is often
/// its secret.
fn host(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "(not a URL)".to_owned())
}

async fn attempt(client: &reqwest::Client, service: &Service, retry: &WebhookRetry, d: Delivery) {
    let sent = client
        .post(&d.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(d.body.clone())
        .send()
        .await;
    let error = match sent {
        Ok(answer) if answer.status().is_success() => None,
        Ok(answer) => Some(format!("answered {}", answer.status())),
        Err(error) => Some(error.without_url().to_string()),
    };
    let host = host(&d.url);
    let retry_at = match error {
        None => {
            tracing::info!(%host, attempts = d.attempts + 1, "webhook delivered");
            None
        }
        Some(error) if d.attempts + 1 >= retry.attempts => {
            tracing::error!(%host, %error, attempts = d.attempts + 1, "webhook given up");
            None
        }
        Some(error) => {
            let wait = retry.wait(d.attempts);
            tracing::warn!(%host, %error, retry_in_ms = wait.as_millis() as u64, "webhook failed");
            let at = now_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
            Some((at, error))
        }
    };
    if let Err(error) = service.meta.finish_delivery(d.id, retry_at).await {
        tracing::warn!(%error, "cannot record a webhook attempt; it will be tried again");
    }
}
