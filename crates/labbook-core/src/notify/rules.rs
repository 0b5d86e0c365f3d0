//! The worker's side of alerts: the built-in rules, checked on the worker thread as rows
//! are committed (never on the training thread), each firing once per run per condition,
//! and the hand-off of every alert to the delivery thread.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::payload::Notice;
use super::{Delivery, NotifySettings};
use crate::online::{Clock, SystemClock};
use crate::value::{Key, Value};
use crate::wire::proto;

pub(crate) struct Notifier {
    s: NotifySettings,
    delivery: Option<Delivery>,
    clock: Arc<dyn Clock>,
    /// Metrics whose non-finite value has already raised its alert.
    nonfinite_fired: HashSet<String>,
    stall_fired: bool,
    end_fired: bool,
    /// When the last row was committed (by `clock`).
    last_row: Duration,
    /// When each title was last delivered, for `alert_with_wait`.
    delivered: HashMap<String, Duration>,
    warnings: Vec<String>,
}

impl Notifier {
    /// A notifier, if there is anything to deliver or a rule to check.
    pub(crate) fn new(s: NotifySettings) -> Option<Notifier> {
        let rules = !s.nonfinite.is_empty() || s.stall.is_some() || s.on_end;
        if !rules && !s.delivers() {
            return None;
        }
        let mut warnings = Vec::new();
        let delivery = if s.delivers() {
            match Delivery::start(&s) {
                Ok(d) => Some(d),
                Err(e) => {
                    warnings.push(format!(
                        "alerts will not be delivered: no thread for them ({e})"
                    ));
                    None
                }
            }
        } else {
            None
        };
        let clock = s
            .clock
            .clone()
            .unwrap_or_else(|| Arc::new(SystemClock::new()));
        Some(Notifier {
            last_row: clock.now(),
            clock,
            s,
            delivery,
            nonfinite_fired: HashSet::new(),
            stall_fired: false,
            end_fired: false,
            delivered: HashMap::new(),
            warnings,
        })
    }

    /// An alert the program raised: delivered, unless one of the same title was delivered
    /// less than its `wait_duration` ago.
    pub(crate) fn program_alert(&mut self, a: &proto::AlertRecord, who: &proto::RunRecord) {
        let now = self.clock.now();
        let wait = Duration::from_millis(a.wait_duration.max(0) as u64);
        if self
            .delivered
            .get(&a.title)
            .is_some_and(|at| now.saturating_sub(*at) < wait)
        {
            return;
        }
        self.delivered.insert(a.title.clone(), now);
        self.deliver(a, None, who);
    }

    /// Checks a committed row; returns the alerts its rules raise (to be recorded).
    pub(crate) fn row(
        &mut self,
        step: u64,
        items: &[(Key, Value)],
        who: &proto::RunRecord,
    ) -> Vec<proto::AlertRecord> {
        self.last_row = self.clock.now();
        if self.s.nonfinite.is_empty() {
            return Vec::new();
        }
        let mut raised = Vec::new();
        for (k, v) in items {
            let x = match v {
                Value::F64(x) => *x,
                Value::F32(x) => f64::from(*x),
                _ => continue,
            };
            if x.is_finite()
                || !self.s.nonfinite.iter().any(|m| m == k.as_str())
                || self.nonfinite_fired.contains(k.as_str())
            {
                continue;
            }
            self.nonfinite_fired.insert(k.as_str().to_owned());
            let a = record(
                &format!("{} is {x}", k.as_str()),
                &format!(
                    "{} became {x} at step {step}; the run goes on logging.",
                    k.as_str()
                ),
                "WARN",
            );
            self.deliver(&a, Some("nonfinite"), who);
            raised.push(a);
        }
        raised
    }

    /// The stall rule: an alert once no row has come for its time.
    pub(crate) fn tick(&mut self, who: &proto::RunRecord) -> Option<proto::AlertRecord> {
        let stall = self.s.stall?;
        if self.stall_fired || self.clock.now().saturating_sub(self.last_row) < stall {
            return None;
        }
        self.stall_fired = true;
        let minutes = stall.as_secs_f64() / 60.0;
        let a = record(
            &format!("no step for {minutes:.0} min"),
            &format!(
                "The run has logged no row for {minutes:.1} minutes: it may hang (a deadlock, a stuck data loader, a dead node)."
            ),
            "WARN",
        );
        self.deliver(&a, Some("stall"), who);
        Some(a)
    }

    /// The end rule: an alert that the run finished, failed or was stopped.
    pub(crate) fn end(
        &mut self,
        exit_code: i32,
        preempted: bool,
        who: &proto::RunRecord,
    ) -> Option<proto::AlertRecord> {
        if !self.s.on_end || self.end_fired {
            return None;
        }
        self.end_fired = true;
        let (title, level) = match (exit_code, preempted) {
            (_, true) => (
                format!("run stopped by a signal (exit code {exit_code})"),
                "WARN",
            ),
            (0, false) => ("run finished".to_owned(), "INFO"),
            (_, false) => (format!("run failed (exit code {exit_code})"), "ERROR"),
        };
        let a = record(&title, &title, level);
        self.deliver(&a, Some("end"), who);
        Some(a)
    }

    /// Waits for the deliveries in flight (at most the bound); what went wrong.
    pub(crate) fn finish(mut self) -> Vec<String> {
        if let Some(d) = self.delivery.take() {
            self.warnings.extend(d.finish());
        }
        self.warnings
    }

    fn deliver(
        &mut self,
        a: &proto::AlertRecord,
        rule: Option<&'static str>,
        who: &proto::RunRecord,
    ) {
        let Some(d) = &mut self.delivery else { return };
        d.send(Notice {
            title: a.title.clone(),
            text: a.text.clone(),
            level: a.level.clone(),
            rule,
            run_id: who.run_id.clone(),
            run_name: who.display_name.clone(),
            project: who.project.clone(),
            entity: who.entity.clone(),
            unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        });
    }
}

fn record(title: &str, text: &str, level: &str) -> proto::AlertRecord {
    proto::AlertRecord {
        title: title.to_owned(),
        text: text.to_owned(),
        level: level.to_owned(),
        // The rules fire once per run: the server need not hold any back.
        wait_duration: 0,
    }
}
