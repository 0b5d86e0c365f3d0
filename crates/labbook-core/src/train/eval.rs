//! Per-batch evaluation hooks: during validation, log the batches the model gets wrong,
//! with their images, without paying for pixels of the batches that are fine.
//!
//! Policies combine: **threshold** logs every batch whose chosen metric is worse than a
//! threshold (recall below 0.8 by default), **worst-K** keeps the K worst batches of the
//! epoch and logs them when it ends, and **caps** bound how many batches and images one epoch
//! may log, so an early epoch where every batch is bad cannot flood memory or storage.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::media::{Image, Table};
use crate::run::Run;
use crate::value::Value;

/// Whether larger or smaller values of the watched metric are worse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Worse {
    /// Recall, precision, accuracy: a low value is a problem.
    Lower,
    /// Loss, error rate: a high value is a problem.
    Higher,
}

/// How problematic batches appear in the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalMode {
    /// Keys per batch: `problematic_batch_{idx}_images`, `_count`, `_<metric>`.
    Panels,
    /// One W&B Table per epoch under `problematic_batches` (a row per image: epoch, batch,
    /// metrics, image), so the dashboard does not grow a panel per batch index.
    Table,
}

/// What the hook watches and how much it may log. The defaults are W&B users' usual
/// setup: enabled, recall below 0.8, at most 8 batches of at most 8 images per epoch.
///
/// ```
/// use labbook_core::train::{EvalSettings, Worse};
/// let s = EvalSettings::default().metric("loss", Worse::Higher).threshold(Some(2.5)).worst_k(4);
/// # let _ = s;
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalSettings {
    /// Whether the hook does anything.
    pub enabled: bool,
    /// The metric that decides which batches are problematic.
    pub metric: String,
    /// Which direction of the metric is worse.
    pub worse: Worse,
    /// Log every batch worse than this (none: threshold policy off). A config may also
    /// call it `recall_threshold`, as W&B's per-batch image logging does.
    #[serde(alias = "recall_threshold")]
    pub threshold: Option<f64>,
    /// Keep the K worst batches of each epoch and log them at its end (0: off).
    pub worst_k: usize,
    /// At most this many batches logged per epoch, all policies together.
    pub max_batches: usize,
    /// At most this many images per logged batch.
    pub max_images: usize,
    /// Panels per batch, or one table-like row per epoch.
    pub mode: EvalMode,
}

impl Default for EvalSettings {
    fn default() -> EvalSettings {
        EvalSettings {
            enabled: true,
            metric: "recall".into(),
            worse: Worse::Lower,
            threshold: Some(0.8),
            worst_k: 0,
            max_batches: 8,
            max_images: 8,
            mode: EvalMode::Panels,
        }
    }
}

impl EvalSettings {
    /// Watches `metric`, where `worse` says which direction is a problem.
    pub fn metric(mut self, metric: impl Into<String>, worse: Worse) -> EvalSettings {
        self.metric = metric.into();
        self.worse = worse;
        self
    }

    /// The threshold policy: log every batch worse than `t` (`None` turns it off).
    pub fn threshold(mut self, t: Option<f64>) -> EvalSettings {
        self.threshold = t;
        self
    }

    /// The worst-K policy (0 turns it off).
    pub fn worst_k(mut self, k: usize) -> EvalSettings {
        self.worst_k = k;
        self
    }

    /// Caps per epoch: batches logged, images per batch.
    pub fn caps(mut self, max_batches: usize, max_images: usize) -> EvalSettings {
        self.max_batches = max_batches;
        self.max_images = max_images;
        self
    }

    /// Panels or table mode.
    pub fn mode(mut self, mode: EvalMode) -> EvalSettings {
        self.mode = mode;
        self
    }

    /// Turns the hook on or off.
    pub fn enabled(mut self, on: bool) -> EvalSettings {
        self.enabled = on;
        self
    }

    /// The settings under `key` of a run's config (e.g. `eval` in `{"eval": {"threshold":
    /// 0.7}}`), missing fields at their defaults.
    ///
    /// ```
    /// # use labbook_core::{Mode, Settings};
    /// # use labbook_core::train::EvalSettings;
    /// let run = labbook_core::init(Settings::new("p").mode(Mode::Disabled)
    ///     .config(&serde_json::json!({"eval": {"metric": "hmean", "worst_k": 3}})))?;
    /// let s = EvalSettings::from_run_config(&run, "eval")?;
    /// assert_eq!((s.metric.as_str(), s.worst_k), ("hmean", 3));
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn from_run_config(run: &Run, key: &str) -> Result<EvalSettings> {
        let config: serde_json::Value = run.config_as()?;
        match config.get(key) {
            None => Ok(EvalSettings::default()),
            // serde's message names the unknown key and lists the known ones.
            Some(v) => EvalSettings::deserialize(v).map_err(|e| Error::InvalidSetting {
                name: format!("evaluation settings (config key {key:?})"),
                reason: e.to_string(),
            }),
        }
    }

    /// Applies `LABBOOK_EVAL_{ENABLED,METRIC,WORSE,THRESHOLD,WORST_K,MAX_BATCHES,MAX_IMAGES,MODE}`
    /// from `vars` (pass `std::env::vars()`); a bad value is an error naming the variable.
    pub fn with_env(
        mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<EvalSettings> {
        for (k, v) in vars {
            let Some(name) = k.strip_prefix("LABBOOK_EVAL_") else {
                continue;
            };
            let bad = |what: &str| Error::InvalidSetting {
                name: k.clone(),
                reason: format!("{v:?} is not {what}"),
            };
            let v = v.trim();
            match name {
                "ENABLED" => {
                    self.enabled =
                        matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
                }
                "METRIC" => self.metric = v.to_owned(),
                "WORSE" => {
                    self.worse = match v {
                        "lower" => Worse::Lower,
                        "higher" => Worse::Higher,
                        _ => return Err(bad("lower or higher")),
                    }
                }
                "THRESHOLD" | "RECALL_THRESHOLD" => {
                    self.threshold = if v.is_empty() || v == "none" {
                        None
                    } else {
                        let t: f64 = v.parse().map_err(|_| bad("a number"))?;
                        if !t.is_finite() {
                            return Err(bad("a finite number"));
                        }
                        Some(t)
                    }
                }
                "WORST_K" => self.worst_k = v.parse().map_err(|_| bad("a count"))?,
                "MAX_BATCHES" => self.max_batches = v.parse().map_err(|_| bad("a count"))?,
                "MAX_IMAGES" => self.max_images = v.parse().map_err(|_| bad("a count"))?,
                "MODE" => {
                    self.mode = match v {
                        "panels" => EvalMode::Panels,
                        "table" => EvalMode::Table,
                        _ => return Err(bad("panels or table")),
                    }
                }
                _ => {
                    return Err(Error::InvalidSetting {
                        name: k.clone(),
                        reason: "is not one of LABBOOK_EVAL_ENABLED, _METRIC, _WORSE, _THRESHOLD (or _RECALL_THRESHOLD), _WORST_K, _MAX_BATCHES, _MAX_IMAGES, _MODE".into(),
                    });
                }
            }
        }
        Ok(self)
    }

    fn is_worse(&self, a: f64, b: f64) -> bool {
        match self.worse {
            Worse::Lower => a < b,
            Worse::Higher => a > b,
        }
    }
}

struct Kept {
    index: usize,
    metrics: Vec<(String, f64)>,
    score: f64,
    images: Vec<Image>,
}

/// What one epoch's evaluation found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochFindings {
    /// Batches seen.
    pub batches: usize,
    /// Batches worse than the threshold.
    pub below_threshold: usize,
    /// Batch indices logged, in the order they were logged.
    pub logged: Vec<usize>,
    /// Problematic batches not logged because of the caps.
    pub capped: usize,
}

/// The hook a validation loop calls once per batch.
///
/// ```
/// use labbook_core::Run;
/// use labbook_core::media::Image;
/// use labbook_core::train::{EvalHook, EvalSettings};
/// let run = Run::disabled();
/// let mut hook = EvalHook::new(&run, EvalSettings::default().worst_k(2));
/// hook.start_epoch();
/// for (i, recall) in [0.95, 0.42, 0.88].into_iter().enumerate() {
///     // The closure runs only for batches that get logged: the others cost no pixels.
///     hook.batch(i, &[("recall", recall), ("precision", 0.9)], || vec![Image::gray(8, 8, vec![0; 64]).unwrap()])?;
/// }
/// let found = hook.end_epoch()?;
/// assert_eq!(found.below_threshold, 1);
/// # Ok::<(), labbook_core::Error>(())
/// ```
pub struct EvalHook {
    run: Run,
    s: EvalSettings,
    epoch: u64,
    found: EpochFindings,
    worst: Vec<Kept>,
    table_rows: Vec<Kept>,
}

impl std::fmt::Debug for EvalHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalHook")
            .field("settings", &self.s)
            .field("epoch", &self.epoch)
            .field("found", &self.found)
            .field("worst_kept", &self.worst.len())
            .field("table_rows", &self.table_rows.len())
            .finish_non_exhaustive()
    }
}

impl EvalHook {
    /// A hook logging to `run`.
    pub fn new(run: &Run, settings: EvalSettings) -> EvalHook {
        EvalHook {
            run: run.clone(),
            s: settings,
            epoch: 0,
            found: EpochFindings::default(),
            worst: Vec::new(),
            table_rows: Vec::new(),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &EvalSettings {
        &self.s
    }

    /// Starts an epoch: forgets the previous epoch's worst batches and caps.
    pub fn start_epoch(&mut self) {
        self.epoch += 1;
        self.found = EpochFindings::default();
        self.worst.clear();
        self.table_rows.clear();
    }

    /// One validation batch: its index, its metrics (which must include the watched one),
    /// and a closure giving its images with overlays, called only if the batch is logged or
    /// kept among the worst. Costs a comparison when the batch is fine.
    pub fn batch<F>(&mut self, index: usize, metrics: &[(&str, f64)], images: F) -> Result<()>
    where
        F: FnOnce() -> Vec<Image>,
    {
        if !self.s.enabled {
            return Ok(());
        }
        self.found.batches += 1;
        let Some(score) = metrics
            .iter()
            .find(|(k, _)| *k == self.s.metric)
            .map(|(_, v)| *v)
        else {
            return Err(Error::InvalidValue {
                key: self.s.metric.clone(),
                reason: format!(
                    "batch {index} has no {:?} metric for the evaluation hook",
                    self.s.metric
                ),
            });
        };
        let below = self
            .s
            .threshold
            .is_some_and(|t| score.is_nan() || self.s.is_worse(score, t));
        let worst_slot = self.s.worst_k > 0
            && (self.worst.len() < self.s.worst_k
                || self.worst.iter().any(|k| self.s.is_worse(score, k.score)));
        if below {
            self.found.below_threshold += 1;
        }
        if !below && !worst_slot {
            return Ok(());
        }
        let owned: Vec<(String, f64)> =
            metrics.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        if below {
            if self.found.logged.len() >= self.s.max_batches {
                self.found.capped += 1;
                return Ok(());
            }
            let imgs = self.take_images(images);
            self.emit(index, owned, imgs)?;
            return Ok(());
        }
        // Worst-K: keep the batch, evicting the least bad one when full.
        let imgs = self.take_images(images);
        if self.worst.len() == self.s.worst_k {
            let s = &self.s;
            let least_bad = (0..self.worst.len()).reduce(|a, b| {
                if s.is_worse(self.worst[a].score, self.worst[b].score) {
                    b
                } else {
                    a
                }
            });
            if let Some(i) = least_bad {
                self.worst.swap_remove(i);
            }
        }
        self.worst.push(Kept {
            index,
            metrics: owned,
            score,
            images: imgs,
        });
        Ok(())
    }

    /// Ends the epoch: logs the worst-K batches (within the caps) and, in table mode, the
    /// epoch's table. Returns what the epoch found.
    pub fn end_epoch(&mut self) -> Result<EpochFindings> {
        let mut worst = std::mem::take(&mut self.worst);
        let s = self.s.clone();
        // Worst first, ties in batch order: a total order, as `sort_by` requires.
        worst.sort_by(|a, b| {
            let by_score = match s.worse {
                Worse::Lower => a.score.total_cmp(&b.score),
                Worse::Higher => b.score.total_cmp(&a.score),
            };
            by_score.then(a.index.cmp(&b.index))
        });
        for k in worst {
            if self.found.logged.contains(&k.index) {
                continue;
            }
            if self.found.logged.len() >= self.s.max_batches {
                self.found.capped += 1;
                continue;
            }
            self.emit(k.index, k.metrics, k.images)?;
        }
        if self.s.mode == EvalMode::Table && !self.table_rows.is_empty() {
            self.log_table()?;
        }
        Ok(std::mem::take(&mut self.found))
    }

    fn take_images<F: FnOnce() -> Vec<Image>>(&self, images: F) -> Vec<Image> {
        let mut imgs = images();
        imgs.truncate(self.s.max_images);
        imgs
    }

    fn captioned(
        index: usize,
        metric: &str,
        metrics: &[(String, f64)],
        images: Vec<Image>,
    ) -> Vec<Image> {
        let score = metrics
            .iter()
            .find(|(k, _)| k == metric)
            .map_or(f64::NAN, |(_, v)| *v);
        images
            .into_iter()
            .enumerate()
            .map(|(i, img)| img.caption(format!("batch {index} #{i}: {metric}={score:.3}")))
            .collect()
    }

    fn emit(
        &mut self,
        index: usize,
        metrics: Vec<(String, f64)>,
        images: Vec<Image>,
    ) -> Result<()> {
        self.found.logged.push(index);
        let images = Self::captioned(index, &self.s.metric, &metrics, images);
        if self.s.mode == EvalMode::Table {
            self.table_rows.push(Kept {
                index,
                metrics,
                score: f64::NAN,
                images,
            });
            return Ok(());
        }
        let mut row: Vec<(String, Value)> = Vec::with_capacity(metrics.len() + 2);
        row.push((
            format!("problematic_batch_{index}_count"),
            Value::from(images.len()),
        ));
        if !images.is_empty() {
            row.push((
                format!("problematic_batch_{index}_images"),
                Value::from(images),
            ));
        }
        for (k, v) in metrics {
            row.push((format!("problematic_batch_{index}_{k}"), Value::from(v)));
        }
        self.run.log_at(self.run.step(), row)
    }

    /// Table mode: one W&B Table per epoch under `problematic_batches`, a row per logged
    /// image (epoch, batch index, image index, the batch's metrics, the image), so the
    /// dashboard shows one panel however many batches are bad.
    fn log_table(&mut self) -> Result<()> {
        let rows = std::mem::take(&mut self.table_rows);
        let mut metric_names: Vec<String> = Vec::new();
        for k in &rows {
            for (m, _) in &k.metrics {
                if !metric_names.contains(m) {
                    metric_names.push(m.clone());
                }
            }
        }
        let mut columns: Vec<String> = vec!["epoch".into(), "batch".into(), "image_index".into()];
        columns.extend(metric_names.iter().cloned());
        columns.push("image".into());
        let mut table = Table::new(columns);
        for k in rows {
            let metrics: Vec<Value> = metric_names
                .iter()
                .map(|m| {
                    k.metrics
                        .iter()
                        .find(|(n, _)| n == m)
                        .map_or(Value::Null, |(_, v)| Value::from(*v))
                })
                .collect();
            let images: Vec<Option<Image>> = if k.images.is_empty() {
                vec![None]
            } else {
                k.images.into_iter().map(Some).collect()
            };
            for (i, img) in images.into_iter().enumerate() {
                let mut row = vec![
                    Value::from(self.epoch),
                    Value::from(k.index),
                    Value::from(i),
                ];
                row.extend(metrics.iter().cloned());
                row.push(img.map_or(Value::Null, Value::from));
                table.add_row(row)?;
            }
        }
        self.run.log_at(
            self.run.step(),
            [("problematic_batches", Value::from(table))],
        )
    }
}

/// One classification batch scored from its predicted and true classes: what the
/// framework adapters hand to [`EvalHook::batch`].
#[derive(Clone, Debug, PartialEq)]
pub struct ClassScores {
    /// Share of samples predicted right (NaN for an empty batch).
    pub accuracy: f64,
    /// Macro recall over the classes present in the batch (NaN for an empty batch):
    /// a batch where one class is always missed scores low even if it is rare.
    pub recall: f64,
    /// Macro precision over the same classes: of the samples predicted as a class, the
    /// share that are (0 for a present class never predicted).
    pub precision: f64,
    /// Macro F1 (`hmean`, the harmonic mean of each class's precision and recall) over the
    /// same classes.
    pub hmean: f64,
    /// Per sample, whether its prediction is wrong.
    pub wrong: Vec<bool>,
}

impl ClassScores {
    /// Scores `preds` against `targets` (class indices, paired by position; extra entries
    /// of the longer slice are ignored).
    ///
    /// ```
    /// let s = labbook_core::train::ClassScores::new(&[0, 1, 1, 2], &[0, 1, 2, 2]);
    /// assert_eq!(s.accuracy, 0.75);
    /// assert_eq!(s.recall, (1.0 + 1.0 + 0.5) / 3.0);
    /// assert_eq!(s.precision, (1.0 + 0.5 + 1.0) / 3.0);
    /// assert!((s.hmean - (1.0 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    /// assert_eq!(s.wrong, [false, false, true, false]);
    /// ```
    pub fn new(preds: &[i64], targets: &[i64]) -> ClassScores {
        let n = preds.len().min(targets.len());
        let wrong: Vec<bool> = (0..n).map(|i| preds[i] != targets[i]).collect();
        let correct = wrong.iter().filter(|w| !**w).count();
        let accuracy = if n == 0 {
            f64::NAN
        } else {
            correct as f64 / n as f64
        };
        let mut classes: Vec<i64> = targets[..n].to_vec();
        classes.sort_unstable();
        classes.dedup();
        let (mut recall, mut precision, mut hmean) = (0.0, 0.0, 0.0);
        for &c in &classes {
            let actual = (0..n).filter(|&i| targets[i] == c).count();
            let predicted = (0..n).filter(|&i| preds[i] == c).count();
            let hit = (0..n).filter(|&i| targets[i] == c && preds[i] == c).count();
            let r = hit as f64 / actual as f64;
            let p = if predicted == 0 {
                0.0
            } else {
                hit as f64 / predicted as f64
            };
            recall += r;
            precision += p;
            hmean += if p + r == 0.0 {
                0.0
            } else {
                2.0 * p * r / (p + r)
            };
        }
        let k = classes.len() as f64;
        let mean = |sum: f64| {
            if classes.is_empty() {
                f64::NAN
            } else {
                sum / k
            }
        };
        ClassScores {
            accuracy,
            recall: mean(recall),
            precision: mean(precision),
            hmean: mean(hmean),
            wrong,
        }
    }

    /// The batch's metrics for [`EvalHook::batch`]: `recall`, `precision`, `hmean`,
    /// `accuracy`, and `loss` when given.
    pub fn metrics(&self, loss: Option<f64>) -> Vec<(&'static str, f64)> {
        let mut m = vec![
            ("recall", self.recall),
            ("precision", self.precision),
            ("hmean", self.hmean),
            ("accuracy", self.accuracy),
        ];
        if let Some(l) = loss {
            m.push(("loss", l));
        }
        m
    }

    /// Reorders a batch's images so the misclassified samples come first (so the caps on
    /// images keep the interesting ones); images past the scored samples keep their place
    /// among the right ones.
    pub fn misclassified_first(&self, images: Vec<Image>) -> Vec<Image> {
        let (mut bad, mut good): (Vec<_>, Vec<_>) = images
            .into_iter()
            .enumerate()
            .partition(|(i, _)| self.wrong.get(*i).copied().unwrap_or(false));
        bad.append(&mut good);
        bad.into_iter().map(|(_, img)| img).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img() -> Vec<Image> {
        vec![Image::gray(2, 2, vec![0; 4]).unwrap(); 3]
    }

    fn from_config(eval: serde_json::Value) -> Result<EvalSettings> {
        let run = crate::init(
            crate::Settings::new("p")
                .mode(crate::Mode::Disabled)
                .config(&serde_json::json!({ "eval": eval })),
        )?;
        EvalSettings::from_run_config(&run, "eval")
    }

    #[test]
    fn recall_threshold_is_read_and_unknown_keys_are_refused() {
        // Failed before: `recall_threshold` was ignored and the threshold stayed at 0.8.
        let s = from_config(serde_json::json!({"recall_threshold": 0.7})).unwrap();
        assert_eq!(s.threshold, Some(0.7));
        let e = from_config(serde_json::json!({"treshold": 0.7}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("treshold")
                && e.contains("threshold")
                && e.contains("worst_k")
                && e.contains("\"eval\""),
            "{e}"
        );
        let vars = [("LABBOOK_EVAL_TRESHOLD".to_owned(), "0.7".to_owned())];
        let e = EvalSettings::default()
            .with_env(vars)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("LABBOOK_EVAL_TRESHOLD") && e.contains("_THRESHOLD"),
            "{e}"
        );
        let vars = [("LABBOOK_EVAL_THRESHOLD".to_owned(), "NaN".to_owned())];
        assert!(EvalSettings::default().with_env(vars).is_err());
    }

    #[test]
    fn precision_and_hmean_score_each_batch_so_a_hmean_threshold_works() {
        // Class 1 is never predicted: its precision is 0, and so is its F1.
        let s = ClassScores::new(&[0, 0, 2, 2], &[0, 1, 2, 2]);
        assert_eq!(
            (s.recall, s.precision),
            ((1.0 + 0.0 + 1.0) / 3.0, (0.5 + 0.0 + 1.0) / 3.0)
        );
        assert!((s.hmean - (2.0 / 3.0 + 0.0 + 1.0) / 3.0).abs() < 1e-12);
        let keys: Vec<&str> = s.metrics(Some(0.3)).iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["recall", "precision", "hmean", "accuracy", "loss"]);
        assert!(ClassScores::new(&[], &[]).hmean.is_nan());

        let settings =
            from_config(serde_json::json!({"metric": "hmean", "threshold": 0.6})).unwrap();
        let mut hook = EvalHook::new(&Run::disabled(), settings);
        hook.start_epoch();
        hook.batch(0, &s.metrics(None), Vec::new).unwrap();
        let perfect = ClassScores::new(&[0, 1], &[0, 1]);
        hook.batch(1, &perfect.metrics(None), Vec::new).unwrap();
        let f = hook.end_epoch().unwrap();
        assert_eq!((f.batches, f.below_threshold), (2, 1));
    }

    #[test]
    fn fine_batches_never_build_images() {
        let mut hook = EvalHook::new(&Run::disabled(), EvalSettings::default());
        hook.start_epoch();
        for i in 0..100 {
            hook.batch(i, &[("recall", 0.95)], || panic!("pixels for a fine batch"))
                .unwrap();
        }
        let f = hook.end_epoch().unwrap();
        assert_eq!((f.batches, f.below_threshold, f.logged.len()), (100, 0, 0));
    }

    #[test]
    fn threshold_logs_below_and_caps_the_rest() {
        let mut hook = EvalHook::new(&Run::disabled(), EvalSettings::default().caps(2, 1));
        hook.start_epoch();
        for (i, r) in [0.9, 0.5, 0.7, 0.1, 0.85].into_iter().enumerate() {
            hook.batch(i, &[("recall", r)], img).unwrap();
        }
        let f = hook.end_epoch().unwrap();
        assert_eq!(f.below_threshold, 3);
        assert_eq!(f.logged, vec![1, 2]);
        assert_eq!(f.capped, 1);
    }

    #[test]
    fn worst_k_keeps_the_k_worst_and_logs_them_worst_first() {
        let s = EvalSettings::default()
            .threshold(None)
            .worst_k(2)
            .metric("loss", Worse::Higher);
        let mut hook = EvalHook::new(&Run::disabled(), s);
        hook.start_epoch();
        let mut built = 0;
        for (i, l) in [1.0, 5.0, 2.0, 9.0, 0.5].into_iter().enumerate() {
            hook.batch(i, &[("loss", l)], || {
                built += 1;
                img()
            })
            .unwrap();
        }
        let f = hook.end_epoch().unwrap();
        assert_eq!(f.logged, vec![3, 1]);
        assert_eq!(
            built, 4,
            "only batches that entered the worst-K built images (not the 0.5)"
        );
    }

    #[test]
    fn equal_scores_are_logged_in_batch_order() {
        let s = EvalSettings::default()
            .threshold(None)
            .worst_k(40)
            .caps(100, 1);
        let mut hook = EvalHook::new(&Run::disabled(), s);
        hook.start_epoch();
        for i in 0..40 {
            hook.batch(i, &[("recall", 0.5)], Vec::new).unwrap();
        }
        hook.batch(40, &[("recall", 0.1)], Vec::new).unwrap();
        let f = hook.end_epoch().unwrap();
        assert_eq!(f.logged[0], 40, "the worst first");
        assert_eq!(f.logged.len(), 40);
        assert!(
            f.logged[1..].windows(2).all(|w| w[0] < w[1]),
            "{:?}",
            f.logged
        );
    }

    #[test]
    fn a_missing_metric_is_an_error_naming_it() {
        let mut hook = EvalHook::new(&Run::disabled(), EvalSettings::default());
        hook.start_epoch();
        let e = hook.batch(0, &[("precision", 0.5)], Vec::new).unwrap_err();
        assert!(e.to_string().contains("no \"recall\" metric"), "{e}");
    }

    #[test]
    fn settings_come_from_the_environment() {
        let s = EvalSettings::default()
            .with_env([
                ("LABBOOK_EVAL_METRIC".to_owned(), "hmean".to_owned()),
                ("LABBOOK_EVAL_THRESHOLD".to_owned(), "0.6".to_owned()),
                ("LABBOOK_EVAL_WORST_K".to_owned(), "3".to_owned()),
                ("LABBOOK_EVAL_MODE".to_owned(), "table".to_owned()),
                ("OTHER".to_owned(), "x".to_owned()),
            ])
            .unwrap();
        assert_eq!(
            (s.metric.as_str(), s.threshold, s.worst_k, s.mode),
            ("hmean", Some(0.6), 3, EvalMode::Table)
        );
        let e = EvalSettings::default()
            .with_env([("LABBOOK_EVAL_THRESHOLD".to_owned(), "high".to_owned())])
            .unwrap_err();
        assert!(e.to_string().contains("LABBOOK_EVAL_THRESHOLD"), "{e}");
    }
}
