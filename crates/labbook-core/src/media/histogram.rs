//! Histograms, binned as `numpy.histogram` bins them (what `wandb.Histogram` uses), so the
//! same values give the same bins as the official client.

use crate::error::{Error, Result};
use crate::value::Value;

/// The most bins W&B accepts.
pub(super) const MAX_BINS: usize = 512;

#[derive(Clone, Debug, PartialEq)]
enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    Binned { counts: Vec<f64>, edges: Vec<f64> },
}

/// A histogram, as W&B's `wandb.Histogram`: from raw values (64 bins by default, at most
/// 512) or from precomputed bins. Raw values are binned on the worker thread.
///
/// ```
/// use labbook_core::Value;
/// use labbook_core::media::Histogram;
/// let weights = vec![0.1f32, -0.3, 0.25, 0.0];
/// let h = Histogram::from_f32(weights).bins(16)?;
/// let v = Value::from(h);
/// # let _ = v;
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    data: Data,
    bins: usize,
}

impl Histogram {
    /// From f32 values (weights, gradients), moved in.
    pub fn from_f32(values: Vec<f32>) -> Histogram {
        Histogram {
            data: Data::F32(values),
            bins: 64,
        }
    }

    /// From f64 values, moved in.
    pub fn from_f64(values: Vec<f64>) -> Histogram {
        Histogram {
            data: Data::F64(values),
            bins: 64,
        }
    }

    /// From precomputed bins: `counts[i]` values fell in `[edges[i], edges[i + 1])`.
    pub fn from_bins(counts: Vec<f64>, edges: Vec<f64>) -> Result<Histogram> {
        if counts.is_empty() || counts.len() > MAX_BINS {
            return Err(Error::InvalidMedia(format!(
                "a histogram has 1 to {MAX_BINS} bins, not {}",
                counts.len()
            )));
        }
        if edges.len() != counts.len() + 1 {
            return Err(Error::InvalidMedia(format!(
                "{} bins need {} edges, got {}",
                counts.len(),
                counts.len() + 1,
                edges.len()
            )));
        }
        if edges.windows(2).any(|w| w[0] > w[1])
            || edges.iter().chain(&counts).any(|x| !x.is_finite())
        {
            return Err(Error::InvalidMedia(
                "histogram edges must be finite and increasing, counts finite".into(),
            ));
        }
        let bins = counts.len();
        Ok(Histogram {
            data: Data::Binned { counts, edges },
            bins,
        })
    }

    /// The number of bins for raw values (1 to 512; default 64).
    pub fn bins(mut self, bins: usize) -> Result<Histogram> {
        if bins == 0 || bins > MAX_BINS {
            return Err(Error::InvalidMedia(format!(
                "a histogram has 1 to {MAX_BINS} bins, not {bins}"
            )));
        }
        self.bins = bins;
        Ok(self)
    }

    /// Empty or non-finite values are refused: a NaN would make every bin meaningless.
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        let bad = match &self.data {
            Data::F32(v) if v.is_empty() => Some("has no values".to_owned()),
            Data::F64(v) if v.is_empty() => Some("has no values".to_owned()),
            Data::F32(v) => v
                .iter()
                .position(|x| !x.is_finite())
                .map(|i| format!("has a non-finite value ({}) at index {i}", v[i])),
            Data::F64(v) => v
                .iter()
                .position(|x| !x.is_finite())
                .map(|i| format!("has a non-finite value ({}) at index {i}", v[i])),
            Data::Binned { .. } => None,
        };
        bad.map_or(Ok(()), |b| Err(format!("the histogram {b}")))
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len() * 4,
            Data::F64(v) => v.len() * 8,
            Data::Binned { counts, .. } => counts.len() * 16,
        }
    }

    /// `{"_type": "histogram", "values": [counts], "bins": [edges]}`.
    pub(crate) fn to_value(&self) -> Value {
        let (counts, edges) = match &self.data {
            Data::Binned { counts, edges } => (
                counts.iter().map(|&c| Value::from(c)).collect(),
                edges.clone(),
            ),
            Data::F32(v) => {
                let (c, e) = numpy_histogram(v.iter().map(|&x| f64::from(x)), self.bins);
                (c.into_iter().map(Value::from).collect(), e)
            }
            Data::F64(v) => {
                let (c, e) = numpy_histogram(v.iter().copied(), self.bins);
                (c.into_iter().map(Value::from).collect(), e)
            }
        };
        Value::map([
            ("_type", Value::from("histogram")),
            ("values", Value::List(counts)),
            (
                "bins",
                Value::List(edges.into_iter().map(Value::from).collect()),
            ),
        ])
    }
}

/// `numpy.histogram(values, bins=n)`: equal-width bins from min to max (min ± 0.5 when all
/// values are equal), the last bin closed, with numpy's edge corrections.
///
/// Where numpy gives up, this does not: a range too narrow for `n` distinct edges (values
/// a few subnormals apart) gets as many bins as it can hold, a range wider than `f64` can
/// subtract is binned without overflowing, and equal values too large for ± 0.5 to move
/// get one bin.
fn numpy_histogram(values: impl Iterator<Item = f64> + Clone, n: usize) -> (Vec<u64>, Vec<f64>) {
    let (mut lo, mut hi) = values
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| {
            (l.min(x), h.max(x))
        });
    if lo == hi {
        lo -= 0.5;
        hi += 0.5;
    }
    let total = values.clone().count() as u64;
    if lo >= hi || lo.is_nan() || hi.is_nan() {
        return (vec![total], vec![lo, hi]);
    }
    let mut n = n.max(1);
    while n > 1 && !distinct_edges(lo, hi, n) {
        n /= 2;
    }
    let edges = linspace(lo, hi, n);
    let mut counts = vec![0u64; n];
    for x in values {
        // numpy: ((x - lo) / (hi - lo)) * n, truncated; halves where the range overflows.
        let frac = if (hi - lo).is_finite() {
            (x - lo) / (hi - lo)
        } else {
            (x / 2.0 - lo / 2.0) / (hi / 2.0 - lo / 2.0)
        };
        // `as` saturates (NaN gives 0), and the clamp keeps the index in range.
        let mut i = ((frac * n as f64) as usize).min(n - 1);
        if x < edges[i] {
            i = i.saturating_sub(1);
        } else if i + 1 < n && x >= edges[i + 1] {
            i += 1;
        }
        counts[i] += 1;
    }
    (counts, edges)
}

/// `numpy.linspace(lo, hi, n + 1)`: `i * step + lo`, the last edge exactly `hi`. A range
/// wider than `f64` can subtract is stepped in halves.
fn linspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let mut edges: Vec<f64> = if (hi - lo).is_finite() {
        let step = (hi - lo) / n as f64;
        (0..=n).map(|i| i as f64 * step + lo).collect()
    } else {
        let half_step = hi / (2 * n) as f64 - lo / (2 * n) as f64;
        (0..=n)
            .map(|i| (i as f64 * half_step + lo / 2.0) * 2.0)
            .collect()
    };
    edges[n] = hi;
    edges
}

fn distinct_edges(lo: f64, hi: f64, n: usize) -> bool {
    linspace(lo, hi, n)
        .windows(2)
        .all(|w| w[0] < w[1] && w[1].is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_match_numpy() {
        // numpy.histogram([1, 2, 2, 3, 10], bins=3) -> ([4, 0, 1], [1, 4, 7, 10])
        let (c, e) = numpy_histogram([1.0, 2.0, 2.0, 3.0, 10.0].into_iter(), 3);
        assert_eq!(c, vec![4, 0, 1]);
        assert_eq!(e, vec![1.0, 4.0, 7.0, 10.0]);
        // numpy.histogram([5, 5], bins=2) -> ([0, 2], [4.5, 5.0, 5.5])
        let (c, e) = numpy_histogram([5.0, 5.0].into_iter(), 2);
        assert_eq!(c, vec![0, 2]);
        assert_eq!(e, vec![4.5, 5.0, 5.5]);
        // A value on an inner edge goes to the bin it opens: histogram([0, 0.5, 1], bins=2) -> [1, 2]
        let (c, _) = numpy_histogram([0.0, 0.5, 1.0].into_iter(), 2);
        assert_eq!(c, vec![1, 2]);
    }

    #[test]
    fn tiny_huge_and_equal_ranges_bin_without_panicking() {
        // Failed before: the bin scale overflowed to infinity and the index ran past the end.
        let (c, e) = numpy_histogram([0.0, 1e-307].into_iter(), 64);
        assert_eq!(c.iter().sum::<u64>(), 2);
        assert_eq!((c[0], c[c.len() - 1]), (1, 1));
        assert!(e.windows(2).all(|w| w[0] < w[1]), "{e:?}");
        // Two subnormals apart: fewer bins, still distinct edges.
        let tiny = f64::from_bits(1);
        let (c, e) = numpy_histogram([0.0, tiny, 2.0 * tiny].into_iter(), 64);
        assert_eq!(c.iter().sum::<u64>(), 3);
        assert_eq!(e.len(), c.len() + 1);
        assert!(e.windows(2).all(|w| w[0] < w[1]), "{e:?}");
        // The whole f64 range.
        let (c, e) = numpy_histogram([-f64::MAX, 0.0, f64::MAX].into_iter(), 4);
        assert_eq!(c, vec![1, 0, 1, 1]);
        assert!(e.iter().all(|x| x.is_finite()), "{e:?}");
        // Equal values too large for ± 0.5.
        let (c, e) = numpy_histogram([1e300, 1e300].into_iter(), 8);
        assert_eq!((c, e), (vec![2], vec![1e300, 1e300]));
        // Through the public type, as the worker calls it.
        let v = Histogram::from_f64(vec![0.0, 1e-307]).to_value().to_json();
        assert!(v.contains("\"values\""), "{v}");
    }

    #[test]
    fn bad_histograms_say_what_is_wrong() {
        assert!(
            Histogram::from_f64(vec![])
                .validate()
                .unwrap_err()
                .contains("no values")
        );
        let e = Histogram::from_f32(vec![1.0, f32::NAN])
            .validate()
            .unwrap_err();
        assert!(e.contains("non-finite") && e.contains("index 1"), "{e}");
        assert!(Histogram::from_f64(vec![1.0]).bins(513).is_err());
        assert!(Histogram::from_bins(vec![1.0, 2.0], vec![0.0, 1.0]).is_err());
        assert!(Histogram::from_bins(vec![1.0], vec![1.0, 0.0]).is_err());
    }

    #[test]
    fn the_json_has_values_and_bins() {
        let v = Histogram::from_f64(vec![0.0, 1.0])
            .bins(2)
            .unwrap()
            .to_value()
            .to_serde_json();
        assert_eq!(
            v,
            serde_json::json!({"_type": "histogram", "values": [1, 1], "bins": [0.0, 0.5, 1.0]})
        );
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::testing::{CASES, finite_f64};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Any finite values in any number of bins: every value counted once, edges finite
        /// and in order, never a panic.
        #[test]
        fn any_values_bin_into_ordered_finite_edges(
            values in prop::collection::vec(finite_f64(), 1..64),
            bins in 1usize..=MAX_BINS,
        ) {
            let (counts, edges) = numpy_histogram(values.iter().copied(), bins);
            prop_assert_eq!(counts.iter().sum::<u64>(), values.len() as u64);
            prop_assert!(counts.len() <= bins && edges.len() == counts.len() + 1);
            prop_assert!(edges.iter().all(|e| e.is_finite()), "{:?}", edges);
            prop_assert!(edges.windows(2).all(|w| w[0] <= w[1]), "{:?}", edges);
            let h = Histogram::from_f64(values).bins(bins).unwrap();
            prop_assert!(h.validate().is_ok());
            let json = h.to_value().to_json();
            prop_assert!(json.starts_with(r#"{"_type":"histogram""#), "{}", json);
        }

        /// Non-finite values, and no values, are refused before the worker sees them.
        #[test]
        fn non_finite_values_are_refused_at_the_call(
            mut values in prop::collection::vec(finite_f64(), 0..8),
            bad in prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
            at in any::<prop::sample::Index>(),
        ) {
            let i = at.index(values.len() + 1);
            values.insert(i, bad);
            prop_assert!(Histogram::from_f64(values).validate().is_err());
            prop_assert!(Histogram::from_f64(vec![]).validate().is_err());
        }

        /// Precomputed bins are taken or refused with a reason.
        #[test]
        fn precomputed_bins_are_checked(
            counts in prop::collection::vec(crate::testing::edge_f64(), 0..8),
            edges in prop::collection::vec(crate::testing::edge_f64(), 0..9),
        ) {
            if let Ok(h) = Histogram::from_bins(counts, edges) {
                prop_assert!(h.to_value().to_json().contains("\"bins\""));
            }
        }
    }
}
