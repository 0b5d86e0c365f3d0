//! Where and how an online run uploads: the server, the key, the upload interval and retry
//! policy, and the clock they wait by, resolved from what the program chose and the
//! `WANDB_*` variables.

use std::sync::Arc;
use std::time::Duration;

use super::{Clock, RetryPolicy, Secret};
#[cfg(feature = "online")]
use super::{DEFAULT_BASE_URL, SystemClock, api_key};
use crate::error::Result;

/// Where and how an online run uploads.
#[derive(Clone, Debug)]
pub(crate) struct OnlineSettings {
    pub base_url: String,
    pub api_key: Secret,
    pub upload_interval: Duration,
    pub retry: RetryPolicy,
    pub clock: Arc<dyn Clock>,
    /// Without the `online` feature no `OnlineSettings` can exist: this field's type has no
    /// values, and the compiler proves the network half unreachable.
    #[cfg(not(feature = "online"))]
    pub unbuilt: super::unbuilt::Never,
}

/// What the program chose for online mode (each `None` is left to the environment or the
/// default).
pub(crate) struct OnlineChoices {
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub upload_interval: Duration,
    pub retry: RetryPolicy,
    /// `WANDB_HTTP_TIMEOUT`, already checked by the settings.
    pub http_timeout: Option<Duration>,
    pub clock: Option<Arc<dyn Clock>>,
}

impl OnlineSettings {
    /// The server from the choice, `WANDB_BASE_URL` or W&B's; the key from the choice,
    /// `WANDB_API_KEY`, `.env` or netrc (`env` looks variables up).
    pub(crate) fn resolve(
        c: OnlineChoices,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<OnlineSettings> {
        #[cfg(not(feature = "online"))]
        {
            let _ = (c, env);
            Err(crate::error::Error::NotBuiltWith {
                feature: "online",
                needed_for: "online mode (WANDB_MODE=online or Mode::Online)",
            })
        }
        #[cfg(feature = "online")]
        Self::resolve_online(c, env)
    }

    #[cfg(feature = "online")]
    fn resolve_online(
        c: OnlineChoices,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<OnlineSettings> {
        let base_url = c
            .base_url
            .or_else(|| env("WANDB_BASE_URL").filter(|u| !u.is_empty()))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let key = api_key(c.api_key.as_deref(), &base_url, &env)?;
        let mut retry = c.retry;
        if let Some(t) = c.http_timeout {
            retry.timeout = t;
        }
        Ok(OnlineSettings {
            base_url,
            api_key: Secret::new(key),
            upload_interval: c.upload_interval,
            retry,
            clock: c.clock.unwrap_or_else(|| Arc::new(SystemClock::new())),
        })
    }

    /// Retries for calls the program waits on (resuming a run in `init`, `use_artifact`):
    /// the upload policy's, cut to at most 5 retries at most 30 s apart (about a minute), so
    /// a server that is down is an error soon rather than after the uploader's week.
    #[cfg(feature = "online")]
    pub(crate) fn interactive_retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.retry.max_retries.min(5),
            wait_max: self.retry.wait_max.min(Duration::from_secs(30)),
            ..self.retry.clone()
        }
    }

    /// A client for calls the program waits on, with [`interactive_retry`](Self::interactive_retry).
    #[cfg(feature = "online")]
    pub(crate) fn interactive_client(&self) -> Result<super::Client> {
        Ok(super::Client::new(
            &self.base_url,
            self.api_key.expose(),
            self.interactive_retry(),
        )?
        .with_clock(self.clock.clone()))
    }
}
