//! Metric series: the numbers of history and system-metric rows, by key, and the buckets a
//! chart reads them in. A store keeps each key's points apart from the rows they came from,
//! so a chart of one key over a million steps reads that key only, never the rows.

use std::ops::Range;

/// The numeric top-level values of a row as (key, value); nested objects are flattened as
/// `a.b`, media (objects with a `_type`), strings, booleans and arrays are not numbers. `NaN`
/// and the infinities (bare tokens, as W&B writes them) are. A line that is not a JSON object
/// yields nothing.
///
/// ```
/// use labbook_server::store::numeric_fields;
///
/// let fields = numeric_fields(r#"{"_step":3,"loss":0.5,"opt":{"lr":NaN},"img":{"_type":"image-file","w":2}}"#);
/// assert_eq!(fields[0], ("_step".to_owned(), 3.0));
/// assert_eq!(fields[1], ("loss".to_owned(), 0.5));
/// assert_eq!(fields[2].0, "opt.lr");
/// assert!(fields[2].1.is_nan());
/// assert_eq!(fields.len(), 3);
/// ```
pub fn numeric_fields(line: &str) -> Vec<(String, f64)> {
    let mut scanner = Scanner {
        text: line,
        bytes: line.as_bytes(),
        at: 0,
    };
    let mut out = Vec::new();
    scanner.skip_space();
    if scanner.object("", &mut out).is_none() {
        return Vec::new();
    }
    out
}

/// A hand-rolled reader for the one shape ingest needs: it allocates only the keys it keeps
/// and parses nothing it skips, which costs a fraction of building a `serde_json::Value` for
/// every row the server receives.
struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// An object's numbers, keys prefixed by `prefix`; `None` on bad syntax. Media objects
    /// (a `_type` key) contribute nothing.
    fn object(&mut self, prefix: &str, out: &mut Vec<(String, f64)>) -> Option<()> {
        self.eat(b'{')?;
        let mark = out.len();
        let mut media = false;
        self.skip_space();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.skip_space();
            let key = self.string()?;
            self.eat(b':')?;
            self.skip_space();
            media |= key == "_type";
            let name = if prefix.is_empty() {
                key
            } else {
                format!("{prefix}.{key}")
            };
            match self.peek()? {
                b'{' => self.object(&name, out)?,
                b'"' => drop(self.string()?),
                b'[' => self.skip_array()?,
                _ => {
                    if let Some(value) = self.scalar()? {
                        out.push((name, value));
                    }
                }
            }
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    break;
                }
                _ => return None,
            }
        }
        if media {
            out.truncate(mark);
        }
        Some(())
    }

    /// A string, unescaped.
    fn string(&mut self) -> Option<String> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at;
        self.at += 1;
        let mut escaped = false;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.at += 2;
                }
                _ => self.at += 1,
            }
        }
        self.at += 1;
        // Both ends are ASCII quotes, so the slice is on character boundaries.
        let text = self.text.get(start..self.at)?;
        if escaped {
            serde_json::from_str(text).ok()
        } else {
            Some(text[1..text.len() - 1].to_owned())
        }
    }

    /// Skips an array, whatever it holds.
    fn skip_array(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => drop(self.string()?),
                b'[' | b'{' => {
                    depth += 1;
                    self.at += 1;
                }
                b']' | b'}' => {
                    depth -= 1;
                    self.at += 1;
                    if depth == 0 {
                        return Some(());
                    }
                }
                _ => self.at += 1,
            }
        }
    }

    /// A number, `NaN`/`Infinity`/`-Infinity` (`Some(Some(_))`), or `true`/`false`/`null`
    /// (`Some(None)`).
    fn scalar(&mut self) -> Option<Option<f64>> {
        let start = self.at;
        while matches!(self.peek(), Some(b) if !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
        let token = self.text.get(start..self.at)?;
        match token {
            "true" | "false" | "null" => Some(None),
            "NaN" => Some(Some(f64::NAN)),
            "Infinity" => Some(Some(f64::INFINITY)),
            "-Infinity" => Some(Some(f64::NEG_INFINITY)),
            number => number.parse().ok().map(Some),
        }
    }
}

/// One key's points from a run of consecutive rows: the x of each (the row's `_step`, or
/// its line number when it has none) and the value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Points {
    /// The x of each point, ascending as the rows were sent.
    pub steps: Vec<i64>,
    /// The values.
    pub values: Vec<f64>,
}

/// Every key's points in `lines` (rows `first_line..`), keys in first-seen order. `_step`
/// is every point's x, not a series of its own.
///
/// ```
/// use labbook_server::store::series_of;
///
/// let rows = [r#"{"_step":0,"a":1}"#.to_owned(), r#"{"_step":5,"a":2,"b":3}"#.to_owned()];
/// let series = series_of(&rows, 0);
/// assert_eq!(series[0].0, "a");
/// assert_eq!(series[0].1.steps, [0, 5]);
/// assert_eq!(series[1].1.values, [3.0]);
/// ```
pub fn series_of(lines: &[String], first_line: usize) -> Vec<(String, Points)> {
    let mut keys: Vec<(String, Points)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        let fields = numeric_fields(line);
        let step = fields
            .iter()
            .find(|(k, _)| k == "_step")
            .map_or((first_line + i) as i64, |(_, v)| *v as i64);
        for (key, value) in fields {
            if key == "_step" {
                continue;
            }
            let slot = match index.get(&key) {
                Some(&slot) => slot,
                None => {
                    index.insert(key.clone(), keys.len());
                    keys.push((key, Points::default()));
                    keys.len() - 1
                }
            };
            keys[slot].1.steps.push(step);
            keys[slot].1.values.push(value);
        }
    }
    keys
}

/// One bucket of a series read: the points whose step falls in `steps`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// The steps this bucket covers (start inclusive, end exclusive).
    pub steps: Range<i64>,
    /// How many points fell in it.
    pub count: usize,
    /// Their smallest value (`NaN` points are left out of min, max and mean).
    pub min: f64,
    /// Their largest value.
    pub max: f64,
    /// Their mean.
    pub mean: f64,
    /// The value of the point with the largest step (the last sent for that step).
    pub last: f64,
    /// That step.
    pub last_step: i64,
}

/// Folds points into `n` buckets of equal width over `range` (empty buckets left out).
///
/// ```
/// use labbook_server::store::Buckets;
///
/// let mut b = Buckets::new(0..10, 2);
/// for step in 0..10 { b.add(step, step as f64); }
/// let out = b.finish();
/// assert_eq!(out.len(), 2);
/// assert_eq!((out[0].min, out[0].max, out[0].mean, out[0].last), (0.0, 4.0, 2.0, 4.0));
/// assert_eq!(out[1].steps, 5..10);
/// ```
#[derive(Debug)]
pub struct Buckets {
    range: Range<i64>,
    width: i64,
    slots: Vec<Option<Slot>>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    count: usize,
    sum: f64,
    finite: usize,
    min: f64,
    max: f64,
    last: f64,
    last_step: i64,
}

impl Buckets {
    /// `n` (at least 1) buckets over `range`.
    pub fn new(range: Range<i64>, n: usize) -> Buckets {
        // i128: a range may span all of i64.
        let span = (i128::from(range.end) - i128::from(range.start)).max(1) as u128;
        let n = (n.max(1) as u128).min(span);
        let width = span.div_ceil(n);
        let n = span.div_ceil(width) as usize;
        let width = i64::try_from(width).unwrap_or(i64::MAX);
        Buckets {
            range,
            width,
            slots: vec![None; n],
        }
    }

    /// Counts one point (ignored outside the range).
    pub fn add(&mut self, step: i64, value: f64) {
        if !self.range.contains(&step) {
            return;
        }
        let i =
            ((i128::from(step) - i128::from(self.range.start)) / i128::from(self.width)) as usize;
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let s = slot.get_or_insert(Slot {
            count: 0,
            sum: 0.0,
            finite: 0,
            min: f64::NAN,
            max: f64::NAN,
            last: value,
            last_step: step,
        });
        s.count += 1;
        if step >= s.last_step {
            s.last = value;
            s.last_step = step;
        }
        if !value.is_nan() {
            s.finite += 1;
            s.sum += value;
            s.min = s.min.min(value);
            s.max = s.max.max(value);
        }
    }

    /// The buckets that got a point, in step order.
    pub fn finish(self) -> Vec<Bucket> {
        let (start, width, end) = (self.range.start, self.width, self.range.end);
        self.slots
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s?;
                let lo = start.saturating_add((i as i64).saturating_mul(width));
                Some(Bucket {
                    steps: lo..lo.saturating_add(width).min(end),
                    count: s.count,
                    min: s.min,
                    max: s.max,
                    mean: if s.finite == 0 {
                        f64::NAN
                    } else {
                        s.sum / s.finite as f64
                    },
                    last: s.last,
                    last_step: s.last_step,
                })
            })
            .collect()
    }
}

/// Which points a series read takes and how finely.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesQuery {
    /// `History` or `Events` (system metrics).
    pub stream: super::Stream,
    /// The key (`loss`, `system.cpu`, `opt.lr`).
    pub key: String,
    /// The steps to read; `None`: all of them.
    pub steps: Option<Range<i64>>,
    /// How many buckets to fold them into (a chart's width in points).
    pub buckets: usize,
}

/// The range a query covers once the series' own extent (`lo..=hi`) is known.
pub(crate) fn query_range(query: &SeriesQuery, lo: i64, hi: i64) -> Range<i64> {
    query.steps.clone().unwrap_or(lo..hi.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scanner_reads_what_w_and_b_writes_and_rejects_the_rest() {
        let f = numeric_fields(
            r#" { "a" : -1.5e3 , "s":"x,}\"{", "t":true, "n":null, "arr":[1,[2],{"z":3}],
                "esc\"k": 2, "inf": -Infinity, "deep":{"x":{"y":4}} } "#,
        );
        assert_eq!(
            f,
            [
                ("a".to_owned(), -1500.0),
                ("esc\"k".to_owned(), 2.0),
                ("inf".to_owned(), f64::NEG_INFINITY),
                ("deep.x.y".to_owned(), 4.0),
            ]
        );
        for bad in [
            "",
            "[1]",
            "{\"a\":1",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "{\"a\":zz}",
            "\"",
            "{\"a",
        ] {
            assert!(numeric_fields(bad).is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn rows_without_a_step_are_placed_by_line_number() {
        let rows = [r#"{"cpu":1}"#.to_owned(), r#"{"cpu":2}"#.to_owned()];
        let s = series_of(&rows, 10);
        assert_eq!(s[0].1.steps, [10, 11]);
    }

    #[test]
    fn buckets_cover_the_range_evenly_and_skip_nan_in_aggregates() {
        let mut b = Buckets::new(0..1_000_000, 1000);
        for step in 0..1_000_000 {
            b.add(step, if step == 5 { f64::NAN } else { 1.0 });
        }
        b.add(-1, 100.0);
        let out = b.finish();
        assert_eq!(out.len(), 1000);
        assert_eq!(out[0].count, 1000);
        assert_eq!((out[0].min, out[0].max, out[0].mean), (1.0, 1.0, 1.0));
        assert_eq!(out[999].steps, 999_000..1_000_000);
        // A range narrower than the buckets asked for gets one bucket per step.
        assert_eq!(Buckets::new(0..3, 1000).finish().len(), 0);
        let mut b = Buckets::new(0..3, 1000);
        (0..3).for_each(|s| b.add(s, 0.0));
        assert_eq!(b.finish().len(), 3);
    }
}
