//! Where an earlier run stopped, as a resumed run needs it: its last step, its runtime and
//! its summary; folded from a local log ([`RunLog::resume_from`](crate::RunLog::resume_from)) or read from a server.

/// Where a resumed run goes on: its first step, the runtime already spent, and the summary
/// it had (which stands in the resumed run until a key is logged or set again).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResumeFrom {
    /// The first step the resumed run logs.
    pub step: u64,
    /// Seconds the earlier run already ran.
    pub runtime: f64,
    /// As W&B reads it (JSON), so the wire format needs no run values.
    pub summary: Vec<(String, serde_json::Value)>,
}

impl ResumeFrom {
    /// The later of two earlier runs' ends; the summary of the one that got further (a
    /// resumed run's log holds the summary it was seeded with, so the last part has all).
    pub fn max(self, other: ResumeFrom) -> ResumeFrom {
        let summary = if (other.step, other.runtime) > (self.step, self.runtime) {
            other.summary
        } else {
            self.summary
        };
        ResumeFrom {
            step: self.step.max(other.step),
            runtime: self.runtime.max(other.runtime),
            summary,
        }
    }

    /// Adds a summary key from its JSON text, leaving out the keys every run computes
    /// itself (`_step`, `_runtime`, `_timestamp`, `_wandb`).
    pub fn seed_summary(&mut self, key: &str, json: &str) {
        if key.starts_with('_') {
            return;
        }
        let Ok(v) = crate::json::parse(json) else {
            return;
        };
        match self.summary.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = v,
            None => self.summary.push((key.to_owned(), v)),
        }
    }
}
