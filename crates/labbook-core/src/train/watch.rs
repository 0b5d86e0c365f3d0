//! The framework-free half of `wandb.watch`: when to fire, and parameter/gradient values
//! to histograms and norms. The framework adapters read their tensors and hand the values
//! here, so burn, candle and tch log the same keys.

use crate::media::Histogram;
use crate::value::Value;

/// Counts training steps and says which ones a watch fires on: the first, then every
/// `every` (0 never fires).
///
/// ```
/// let mut c = labbook_core::train::WatchCadence::new(3);
/// let fired: Vec<bool> = (0..7).map(|_| c.tick()).collect();
/// assert_eq!(fired, [true, false, false, true, false, false, true]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct WatchCadence {
    every: u64,
    calls: u64,
}

impl WatchCadence {
    /// Fires every `every` steps, the first included; 0 never fires.
    pub fn new(every: u64) -> WatchCadence {
        WatchCadence { every, calls: 0 }
    }

    /// Counts one step; says whether it fires.
    #[inline]
    pub fn tick(&mut self) -> bool {
        let step = self.calls;
        self.calls += 1;
        self.every != 0 && step.is_multiple_of(self.every)
    }

    /// Steps counted.
    pub fn steps(&self) -> u64 {
        self.calls
    }

    /// The interval.
    pub fn every(&self) -> u64 {
        self.every
    }
}

/// The values one firing of a watch logs: `parameters/<name>` and `gradients/<name>`
/// (histograms), `<kind>/<name>.norm`, and the global `parameters/norm` and
/// `gradients/norm` (L2 over every value). Values that are not all finite get their norm
/// but no histogram (a histogram of NaN has no range).
///
/// ```
/// let mut s = labbook_core::train::WatchStats::new(64);
/// s.parameter("fc.weight", vec![3.0, 4.0]);
/// s.gradient("fc.weight", vec![0.0, 1.0]);
/// let items = s.finish();
/// let keys: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
/// assert_eq!(keys, ["parameters/fc.weight.norm", "parameters/fc.weight", "gradients/fc.weight.norm",
///                   "gradients/fc.weight", "parameters/norm", "gradients/norm"]);
/// assert_eq!(items[0].1, labbook_core::Value::F64(5.0));
/// ```
#[derive(Debug)]
pub struct WatchStats {
    items: Vec<(String, crate::value::Value)>,
    param_sq: f64,
    grad_sq: f64,
    grads: bool,
    bins: usize,
}

impl WatchStats {
    /// Histograms of `bins` bins (clamped to 1..=512).
    pub fn new(bins: usize) -> WatchStats {
        WatchStats {
            items: Vec::new(),
            param_sq: 0.0,
            grad_sq: 0.0,
            grads: false,
            bins: bins.clamp(1, 512),
        }
    }

    /// A parameter's values.
    pub fn parameter(&mut self, name: &str, values: Vec<f32>) {
        self.param_sq += self.add("parameters", name, values);
    }

    /// A gradient's values.
    pub fn gradient(&mut self, name: &str, values: Vec<f32>) {
        self.grads = true;
        self.grad_sq += self.add("gradients", name, values);
    }

    fn add(&mut self, kind: &str, name: &str, values: Vec<f32>) -> f64 {
        let sq: f64 = values.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        self.items
            .push((format!("{kind}/{name}.norm"), Value::from(sq.sqrt())));
        if values.iter().all(|x| x.is_finite())
            && let Ok(h) = Histogram::from_f32(values).bins(self.bins)
        {
            self.items.push((format!("{kind}/{name}"), Value::from(h)));
        }
        sq
    }

    /// The row's values, with the global norms (`gradients/norm` only if a gradient was
    /// given).
    pub fn finish(mut self) -> Vec<(String, Value)> {
        self.items
            .push(("parameters/norm".into(), Value::from(self.param_sq.sqrt())));
        if self.grads {
            self.items
                .push(("gradients/norm".into(), Value::from(self.grad_sq.sqrt())));
        }
        self.items
    }
}
