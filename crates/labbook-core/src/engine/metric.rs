//! `define_metric`: how a metric is summarized and which metric is its x-axis.

use crate::error::{Error, Result};
use crate::value::key::validate_key;
use crate::wire::proto;

/// A summary a metric keeps, as W&B's `define_metric(summary=...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Summary {
    /// The smallest finite value.
    Min,
    /// The largest finite value.
    Max,
    /// The mean of the finite values.
    Mean,
    /// The best finite value by the metric's [`Goal`] (required with `Best`).
    Best,
    /// The first value logged.
    First,
    /// The latest value, as `{"last": v}`.
    Last,
    /// No summary at all for this metric.
    None,
}

/// Whether smaller or larger values of a metric are better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Goal {
    /// Smaller is better (a loss).
    Minimize,
    /// Larger is better (an accuracy).
    Maximize,
}

/// A metric definition for [`Run::define_metric`](crate::Run::define_metric).
///
/// A name ending in `*` is a glob: `val/*` applies to every key starting with `val/`.
///
/// ```
/// use labbook_core::{Goal, Metric, Summary};
/// let m = Metric::new("val/*").step_metric("epoch").summary(Summary::Min);
/// let acc = Metric::new("val/acc").summary(Summary::Best).goal(Goal::Maximize);
/// # let _ = (m, acc);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub(crate) name: String,
    pub(crate) step_metric: Option<String>,
    pub(crate) summaries: Vec<Summary>,
    pub(crate) goal: Option<Goal>,
    pub(crate) hidden: bool,
    pub(crate) step_sync: Option<bool>,
}

impl Metric {
    /// A metric (or glob, ending in `*`) with default settings: its summary is its latest
    /// value.
    pub fn new(name: impl Into<String>) -> Metric {
        Metric {
            name: name.into(),
            step_metric: None,
            summaries: Vec::new(),
            goal: None,
            hidden: false,
            step_sync: None,
        }
    }

    /// Plots this metric against another metric (e.g. `epoch`) instead of `_step`. Rows that
    /// lack the step metric get its latest value copied in, unless `step_sync(false)`.
    pub fn step_metric(mut self, name: impl Into<String>) -> Metric {
        self.step_metric = Some(name.into());
        self
    }

    /// Adds a summary; call it several times for several (`Min` and `Max`, say).
    pub fn summary(mut self, summary: Summary) -> Metric {
        if !self.summaries.contains(&summary) {
            self.summaries.push(summary);
        }
        self
    }

    /// Which direction is better; needed for [`Summary::Best`].
    pub fn goal(mut self, goal: Goal) -> Metric {
        self.goal = Some(goal);
        self
    }

    /// Hides the metric from the W&B dashboard's automatic panels.
    pub fn hidden(mut self, hidden: bool) -> Metric {
        self.hidden = hidden;
        self
    }

    /// Whether rows lacking the step metric get its latest value (default: on when a step
    /// metric is set).
    pub fn step_sync(mut self, on: bool) -> Metric {
        self.step_sync = Some(on);
        self
    }

    pub(crate) fn is_glob(&self) -> bool {
        self.name.ends_with('*')
    }

    pub(crate) fn glob_prefix(&self) -> &str {
        self.name.trim_end_matches('*')
    }

    pub(crate) fn syncs_step(&self) -> bool {
        self.step_metric.is_some() && self.step_sync.unwrap_or(true)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        validate_key(&self.name)?;
        let bad = |reason: String| Error::InvalidSetting {
            name: format!("metric {:?}", self.name),
            reason,
        };
        if self.glob_prefix().contains('*') {
            return Err(bad("`*` may only end a glob, as in `val/*`".into()));
        }
        if let Some(step) = &self.step_metric {
            validate_key(step)?;
            if step.contains('*') {
                return Err(bad(format!("the step metric {step:?} must not be a glob")));
            }
        }
        if self.summaries.contains(&Summary::Best) && self.goal.is_none() {
            return Err(bad(
                "Summary::Best needs a goal: add .goal(Goal::Minimize) or .goal(Goal::Maximize)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The metric record written to the log. `expanded` marks a concrete key a glob matched.
    pub(crate) fn to_record(&self, expanded_name: Option<&str>) -> proto::MetricRecord {
        let has = |s: Summary| self.summaries.contains(&s);
        let (name, glob_name) = match expanded_name {
            Some(key) => (key.to_owned(), String::new()),
            None if self.is_glob() => (String::new(), self.name.clone()),
            None => (self.name.clone(), String::new()),
        };
        proto::MetricRecord {
            name,
            glob_name,
            step_metric: self.step_metric.clone().unwrap_or_default(),
            step_metric_index: 0,
            options: Some(proto::MetricOptions {
                step_sync: self.syncs_step(),
                hidden: self.hidden,
                defined: expanded_name.is_none() && !self.is_glob(),
            }),
            summary: Some(proto::MetricSummary {
                min: has(Summary::Min),
                max: has(Summary::Max),
                mean: has(Summary::Mean),
                best: has(Summary::Best),
                last: has(Summary::Last),
                none: has(Summary::None),
                copy: false,
                first: has(Summary::First),
            }),
            goal: match self.goal {
                None => 0,
                Some(Goal::Minimize) => 1,
                Some(Goal::Maximize) => 2,
            },
            control: expanded_name.map(|_| proto::MetricControl { overwrite: true }),
            expanded_from_glob: expanded_name.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_without_a_goal_is_refused() {
        let e = Metric::new("acc")
            .summary(Summary::Best)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("needs a goal"), "{e}");
    }

    #[test]
    fn a_star_inside_a_name_is_refused() {
        assert!(Metric::new("val/*/x").validate().is_err());
        assert!(Metric::new("val/*").validate().is_ok());
        assert!(Metric::new("").validate().is_err());
    }

    #[test]
    fn records_match_what_the_official_client_writes() {
        let r = Metric::new("acc").summary(Summary::Max).to_record(None);
        assert_eq!(r.name, "acc");
        assert!(r.options.unwrap().defined);
        assert!(r.summary.unwrap().max);
        let g = Metric::new("val/*").step_metric("epoch").to_record(None);
        assert_eq!(g.glob_name, "val/*");
        assert_eq!(g.step_metric, "epoch");
        let o = g.options.unwrap();
        assert!(o.step_sync && !o.defined);
        let e = Metric::new("val/*")
            .step_metric("epoch")
            .to_record(Some("val/loss"));
        assert_eq!((e.name.as_str(), e.expanded_from_glob), ("val/loss", true));
    }
}
