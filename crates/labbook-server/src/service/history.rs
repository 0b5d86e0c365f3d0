//! Reading a run back: its state, its history by step range (the pages of `scan_history`),
//! sampled rows (`history(samples=...)`), rows of chosen keys, its last step.
//!
//! History lines are stored in the order they were logged, and a run's `_step` only grows
//! (every client sends it so), so a step is found by a binary search over line numbers,
//! reading a line at a time: a page of a million-step run reads the chunks around it only.

use serde_json::{Map, Value};

use super::{Service, ServiceResult};
use crate::store::{RunRecord, Stream, parse_lenient};

/// What W&B calls a run's state, from what the server stored of it.
pub(crate) fn state(run: &RunRecord) -> &'static str {
    match (run.complete, run.crashed, run.exit_code) {
        (true, true, _) => "crashed",
        (true, false, Some(0) | None) => "finished",
        (true, false, Some(_)) => "failed",
        (false, ..) => "running",
    }
}

/// A row's `_step`, if it has a whole number there.
fn step_of(row: &Value) -> Option<i64> {
    let step = row.get("_step")?;
    step.as_i64().or_else(|| step.as_f64().map(|f| f as i64))
}

fn parse(line: &str) -> Value {
    parse_lenient(line).unwrap_or(Value::Null)
}

/// What a sampled read asks for: rows holding every key in `keys`, with `_step` in
/// `min..=max`, at most `samples` of them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistorySpec {
    pub(crate) keys: Vec<String>,
    pub(crate) min: Option<i64>,
    pub(crate) max: Option<i64>,
    pub(crate) samples: usize,
}

impl HistorySpec {
    /// A spec as W&B's clients send one: `{"keys": [...], "samples": N, "minStep": a,
    /// "maxStep": b}` (a JSON string), `maxStep` inclusive.
    pub(crate) fn parse(text: &str) -> Result<HistorySpec, String> {
        let spec: Value =
            serde_json::from_str(text).map_err(|e| format!("a history spec is not JSON: {e}"))?;
        let mut keys: Vec<String> = Vec::new();
        for key in spec["keys"].as_array().into_iter().flatten() {
            let key = key.as_str().ok_or("history spec keys must be strings")?;
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_owned());
            }
        }
        Ok(HistorySpec {
            keys,
            min: spec["minStep"].as_i64(),
            max: spec["maxStep"].as_i64(),
            samples: spec["samples"]
                .as_u64()
                .map_or(500, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        })
    }
}

/// Which of `points` (a row's step, and the value of the key that drives the choice) a
/// sampled read keeps: all of them when they are `samples` or fewer; else the first and
/// the last, and in each of `(samples - 2) / 2` equal step ranges the rows holding the
/// smallest and the largest value, so the sampled line keeps the full one's envelope. The
/// same rows always give the same choice. Answers indices, in order.
pub(crate) fn envelope(points: &[(i64, Option<f64>)], samples: usize) -> Vec<usize> {
    let n = points.len();
    if n <= samples {
        return (0..n).collect();
    }
    if samples < 2 {
        return (0..samples.min(n)).collect();
    }
    let buckets = ((samples - 2) / 2).max(1);
    let (first, last) = (points[0].0, points[n - 1].0);
    let span = (i128::from(last) - i128::from(first)).max(1);
    let mut chosen: Vec<Option<(usize, f64, usize, f64)>> = vec![None; buckets];
    for (i, (step, value)) in points.iter().enumerate() {
        let Some(v) = value.filter(|v| !v.is_nan()) else {
            continue;
        };
        let at = (i128::from(*step) - i128::from(first)).max(0);
        let bucket = usize::try_from(at * buckets as i128 / (span + 1))
            .unwrap_or(buckets - 1)
            .min(buckets - 1);
        let slot = &mut chosen[bucket];
        match slot {
            None => *slot = Some((i, v, i, v)),
            Some((lo, lo_v, hi, hi_v)) => {
                if v < *lo_v {
                    (*lo, *lo_v) = (i, v);
                }
                if v > *hi_v {
                    (*hi, *hi_v) = (i, v);
                }
            }
        }
    }
    let mut keep: Vec<usize> = vec![0, n - 1];
    for (lo, _, hi, _) in chosen.into_iter().flatten() {
        keep.extend([lo, hi]);
    }
    keep.sort_unstable();
    keep.dedup();
    keep.truncate(samples);
    keep
}

/// At most `samples` of `n` rows, evenly spaced, the first and the last among them.
fn evenly(n: usize, samples: usize) -> Vec<usize> {
    if n <= samples {
        return (0..n).collect();
    }
    if samples < 2 {
        return (0..samples).collect();
    }
    let mut keep: Vec<usize> = (0..samples).map(|i| i * (n - 1) / (samples - 1)).collect();
    keep.dedup();
    keep
}

impl Service {
    /// Every line of a run's stream.
    async fn all_lines(&self, run: &RunRecord, stream: &Stream) -> ServiceResult<Vec<String>> {
        Ok(self.meta.lines(&run.key, stream, 0, usize::MAX).await?)
    }

    /// The `_step` of history line `index`.
    async fn step_at(&self, run: &RunRecord, index: usize) -> ServiceResult<Option<i64>> {
        let line = self
            .meta
            .lines(&run.key, &Stream::History, index, 1)
            .await?;
        Ok(line.first().and_then(|l| step_of(&parse(l))))
    }

    /// The number of the first history line whose `_step` is `step` or more.
    async fn first_line_from(&self, run: &RunRecord, step: i64) -> ServiceResult<usize> {
        // Most runs log a row every step from their first: then the line is the step's
        // distance from the first, and two reads confirm it (each read decodes the chunk
        // holding the line, which may hold tens of thousands).
        if let Some(first) = self.step_at(run, 0).await? {
            let guess = usize::try_from(step.saturating_sub(first)).unwrap_or(0);
            if guess == 0 && step <= first {
                return Ok(0);
            }
            if guess < run.history_lines
                && self.step_at(run, guess).await? == Some(step)
                && self
                    .step_at(run, guess - 1)
                    .await?
                    .is_some_and(|s| s < step)
            {
                return Ok(guess);
            }
        }
        let (mut lo, mut hi) = (0, run.history_lines);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.step_at(run, mid).await? {
                Some(s) if s < step => lo = mid + 1,
                _ => hi = mid,
            }
        }
        Ok(lo)
    }

    /// The run's last `_step` (from its last history line).
    pub(crate) async fn last_step(&self, run: &RunRecord) -> ServiceResult<Option<i64>> {
        match run.history_lines {
            0 => Ok(None),
            n => self.step_at(run, n - 1).await,
        }
    }

    /// History lines with `min <= _step < max`, at most `limit`, as stored: a page of
    /// `scan_history`.
    pub(crate) async fn history_page(
        &self,
        run: &RunRecord,
        min: i64,
        max: i64,
        limit: usize,
    ) -> ServiceResult<Vec<String>> {
        if max <= min || limit == 0 {
            return Ok(Vec::new());
        }
        let from = self.first_line_from(run, min).await?;
        let want = usize::try_from(max - min).unwrap_or(usize::MAX).min(limit);
        let lines = self
            .meta
            .lines(&run.key, &Stream::History, from, want)
            .await?;
        Ok(lines
            .into_iter()
            .filter(|l| step_of(&parse(l)).is_some_and(|s| s >= min && s < max))
            .collect())
    }

    /// At most `samples` lines of the run's history or system metrics, evenly spaced, the
    /// first and the last among them (`history()` without keys reads every column).
    pub(crate) async fn sampled_lines(
        &self,
        run: &RunRecord,
        stream: &Stream,
        samples: usize,
    ) -> ServiceResult<Vec<String>> {
        let mut lines = self.all_lines(run, stream).await?;
        let keep = evenly(lines.len(), samples);
        if keep.len() == lines.len() {
            return Ok(lines);
        }
        Ok(keep
            .into_iter()
            .map(|i| std::mem::take(&mut lines[i]))
            .collect())
    }

    /// The rows of `spec`: those holding every key asked for (with only those keys), in
    /// its step range, at most `spec.samples` of them chosen by [`envelope`], driven by
    /// the first key asked for other than `_step`.
    ///
    /// The range's lines are read a chunk at a time and each only probed (its step, its
    /// keys, the driving value); the chosen rows are read again and parsed, so memory
    /// holds a chunk and one point per row, not the rows.
    pub(crate) async fn sampled_history(
        &self,
        run: &RunRecord,
        spec: &HistorySpec,
    ) -> ServiceResult<Vec<Value>> {
        const CHUNK: usize = 20_000;
        let from = match spec.min {
            Some(min) => self.first_line_from(run, min).await?,
            None => 0,
        };
        let to = match spec.max {
            Some(max) => self.first_line_from(run, max.saturating_add(1)).await?,
            None => run.history_lines,
        };
        let driver = spec.keys.iter().find(|k| *k != "_step").map(String::as_str);
        let (mut at, mut points) = (Vec::new(), Vec::new());
        for start in (from..to).step_by(CHUNK) {
            let lines = self
                .meta
                .lines(&run.key, &Stream::History, start, CHUNK.min(to - start))
                .await?;
            for (i, line) in lines.iter().enumerate() {
                let p = super::probe::probe(line, &spec.keys, driver);
                let step = p.step.unwrap_or(0);
                let in_range =
                    spec.min.is_none_or(|m| step >= m) && spec.max.is_none_or(|m| step <= m);
                if p.has_all && in_range {
                    at.push(start + i);
                    points.push((step, p.value));
                }
            }
        }
        let mut out = Vec::new();
        let mut window: (usize, Vec<String>) = (usize::MAX, Vec::new());
        for i in envelope(&points, spec.samples) {
            let line = at[i];
            let chunk = line - (line - from) % CHUNK;
            if window.0 != chunk {
                let n = CHUNK.min(to - chunk);
                window = (
                    chunk,
                    self.meta
                        .lines(&run.key, &Stream::History, chunk, n)
                        .await?,
                );
            }
            let Some(Value::Object(row)) = window.1.get(line - chunk).map(|l| parse(l)) else {
                continue;
            };
            let picked: Map<String, Value> = spec
                .keys
                .iter()
                .filter_map(|k| row.get(k).map(|v| (k.clone(), v.clone())))
                .collect();
            out.push(Value::Object(picked));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_keeps_the_ends_and_each_buckets_extremes() {
        // A noisy line over 1,000 steps with one spike: sampled to 20 rows, the spike and
        // the ends are kept.
        let points: Vec<(i64, Option<f64>)> = (0..1000)
            .map(|s| {
                let v = if s == 637 { 100.0 } else { (s % 7) as f64 };
                (s, Some(v))
            })
            .collect();
        let keep = envelope(&points, 20);
        assert!(keep.len() <= 20, "{keep:?}");
        assert_eq!((keep[0], *keep.last().unwrap()), (0, 999));
        assert!(
            keep.contains(&637),
            "the spike is in the envelope: {keep:?}"
        );
        assert!(keep.windows(2).all(|w| w[0] < w[1]), "in order, once each");
        assert_eq!(envelope(&points, 20), keep, "the same choice every time");
        assert_eq!(envelope(&points[..10], 20).len(), 10, "all when they fit");
    }

    #[test]
    fn pages_find_their_steps_with_and_without_gaps() {
        use std::sync::Arc;

        use crate::store::{Chunk, MemoryBlobs, MemoryStore, MetaStore, RunKey, StreamBatch};
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let meta = Arc::new(MemoryStore::default());
        let service = Service::new(meta.clone(), Arc::new(MemoryBlobs::default()), "e".into());
        let steps_of = |lines: Vec<String>| -> Vec<i64> {
            lines.iter().filter_map(|l| step_of(&parse(l))).collect()
        };
        rt.block_on(async {
            for (name, steps) in [
                ("every", (5..105).collect::<Vec<i64>>()),
                ("gaps", (0..100).map(|s| s * 10).collect()),
            ] {
                let key = RunKey::new("e", "p", name);
                let lines = steps
                    .iter()
                    .map(|s| format!("{{\"_step\":{s},\"x\":1}}"))
                    .collect();
                let batch = StreamBatch {
                    chunks: vec![(Stream::History, Chunk { offset: 0, lines })],
                    ..StreamBatch::default()
                };
                meta.append_stream(&key, batch).await.unwrap();
                let run = service.run(&key).await.unwrap().unwrap();
                let page = |min, max| service.history_page(&run, min, max, 1000);
                let want: Vec<i64> = steps
                    .iter()
                    .copied()
                    .filter(|s| (15..35).contains(s))
                    .collect();
                assert_eq!(steps_of(page(15, 35).await.unwrap()), want, "{name}");
                assert_eq!(steps_of(page(-5, 0).await.unwrap()), Vec::<i64>::new());
                assert_eq!(
                    steps_of(page(0, 1_000_000).await.unwrap()),
                    steps,
                    "{name}: all"
                );
                assert_eq!(
                    service.last_step(&run).await.unwrap(),
                    steps.last().copied()
                );
            }
        });
    }

    #[test]
    fn even_spacing_keeps_the_ends() {
        assert_eq!(evenly(10, 4), [0, 3, 6, 9]);
        assert_eq!(evenly(3, 10), [0, 1, 2]);
        assert_eq!(evenly(5, 1), [0]);
    }

    #[test]
    fn specs_are_read_as_the_clients_send_them() {
        let spec = HistorySpec::parse(
            r#"{"keys":["_step","loss","_step"],"minStep":10,"maxStep":19,"samples":10}"#,
        )
        .unwrap();
        assert_eq!(spec.keys, ["_step", "loss"]);
        assert_eq!((spec.min, spec.max, spec.samples), (Some(10), Some(19), 10));
        assert!(HistorySpec::parse("{").is_err());
        assert!(HistorySpec::parse(r#"{"keys":[1]}"#).is_err());
    }

    #[test]
    fn a_state_follows_what_the_run_sent() {
        let mut run = RunRecord::default();
        assert_eq!(state(&run), "running");
        run.complete = true;
        run.exit_code = Some(0);
        assert_eq!(state(&run), "finished");
        run.exit_code = Some(3);
        assert_eq!(state(&run), "failed");
        run.crashed = true;
        assert_eq!(state(&run), "crashed");
    }
}
