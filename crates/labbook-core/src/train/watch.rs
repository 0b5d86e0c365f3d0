//! The framework-free half of `wandb.watch`: when to fire, and parameter/gradient values
//! to histograms and norms. The framework adapters read their tensors and hand the values
//! here, so burn, candle and tch log the same keys.

use crate::media::Histogram;
use crate::run::Run;
use crate::train::tensor::{TensorBackend, f32_values};
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

/// What a [`Watch`] needs from a framework besides reading tensors: the variables of what
/// it watches, and their gradients.
pub trait WatchBackend: TensorBackend {
    /// What a watch is given (`VarMap`, `VarStore`).
    type Params: ?Sized;
    /// What a watch keeps of it to find the variables each time it fires.
    type Watched;
    /// Gradients a loop passes at each step, where the framework keeps them apart from the
    /// variables (candle's `GradStore`); `()` where they live on the variables (tch).
    type Grads: ?Sized;

    /// What to keep of `params`.
    fn watched(params: &Self::Params) -> Self::Watched;
    /// The watched variables with their names, in any order.
    fn variables(watched: &Self::Watched) -> Vec<(String, Self::Tensor)>;
    /// A variable's gradient, if it has one.
    fn gradient(
        grads: Option<&Self::Grads>,
        variable: &Self::Tensor,
    ) -> Result<Option<Self::Tensor>, Self::Error>;
    /// Runs `f` with the framework recording no gradients (tch); by default just runs it.
    fn without_grad<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}

/// Logs the histograms and L2 norms of every watched variable (and of its gradient) every
/// N steps, like `wandb.watch(model, log="all", log_freq=N)`, for any framework with a
/// [`WatchBackend`]; the adapters name it for theirs (`labbook_candle::Watch`).
///
/// Keys: `parameters/<name>` and `gradients/<name>` (histograms, 64 bins),
/// `parameters/<name>.norm`, `gradients/<name>.norm`, and the global `parameters/norm` and
/// `gradients/norm`. A step where it does not fire costs a counter increment and a
/// comparison; a step where it fires copies every variable and gradient to the host.
pub struct Watch<B: WatchBackend> {
    watched: B::Watched,
    cadence: WatchCadence,
    bins: usize,
}

impl<B: WatchBackend> std::fmt::Debug for Watch<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("every", &self.cadence.every())
            .field("calls", &self.cadence.steps())
            .finish()
    }
}

impl<B: WatchBackend> Clone for Watch<B>
where
    B::Watched: Clone,
{
    fn clone(&self) -> Watch<B> {
        Watch {
            watched: self.watched.clone(),
            cadence: self.cadence,
            bins: self.bins,
        }
    }
}

impl<B: WatchBackend> Watch<B> {
    /// Watches `params`, firing every `every` steps, the first included; 0 never fires.
    pub fn new(params: &B::Params, every: u64) -> Watch<B> {
        Watch {
            watched: B::watched(params),
            cadence: WatchCadence::new(every),
            bins: 64,
        }
    }

    /// Histogram bins (1 to 512; default 64).
    pub fn bins(mut self, bins: usize) -> Watch<B> {
        self.bins = bins.clamp(1, 512);
        self
    }

    /// How many steps were counted.
    pub fn steps(&self) -> u64 {
        self.cadence.steps()
    }

    /// Counts one step; says whether this step fires.
    #[inline]
    pub fn tick(&mut self) -> bool {
        self.cadence.tick()
    }

    /// Counts one step and, when it fires, adds the histograms and norms to the run's
    /// current row (they join the values the step logs next, through `Run::log`). Returns
    /// whether it fired. Does nothing on a disabled run but count.
    #[inline]
    pub fn observe(&mut self, run: &Run, grads: Option<&B::Grads>) -> Result<bool, B::Error> {
        if !self.tick() || run.is_disabled() {
            return Ok(false);
        }
        let items = self.values(grads)?;
        run.log_at(run.step(), items)?;
        Ok(true)
    }

    /// The histograms and norms of the variables now (and of their gradients), sorted by
    /// name. Variables whose values are not all finite get their norm but no histogram.
    #[cold]
    pub fn values(&self, grads: Option<&B::Grads>) -> Result<Vec<(String, Value)>, B::Error> {
        B::without_grad(|| {
            let mut vars = B::variables(&self.watched);
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            let mut stats = WatchStats::new(self.bins);
            for (name, var) in &vars {
                stats.parameter(name, f32_values::<B>(var, "a watched variable")?);
                if let Some(g) = B::gradient(grads, var)? {
                    stats.gradient(name, f32_values::<B>(&g, "a watched gradient")?);
                }
            }
            Ok(stats.finish())
        })
    }
}
