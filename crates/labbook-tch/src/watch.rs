//! [`Watch`]: parameter and gradient histograms and norms of a `VarStore`, every N steps.

use labbook_core::train::{self, WatchCadence, WatchStats};
use labbook_core::{Run, Value};
use tch::nn::VarStore;

use crate::error::Result;
use crate::media::Tch;

/// Logs the histograms and L2 norms of every variable of a [`VarStore`] and of its
/// gradients every N steps, like `wandb.watch(model, log="all", log_freq=N)`.
///
/// Keys: `parameters/<name>` and `gradients/<name>` (histograms, 64 bins),
/// `parameters/<name>.norm`, `gradients/<name>.norm`, and the global `parameters/norm` and
/// `gradients/norm`. `<name>` is the variable's path in the store (`conv1.weight`).
/// Gradients are read from the variables (`Tensor::grad`), so call it after `backward` and
/// before the next `zero_grad` (after `Optimizer::backward_step` works too).
///
/// A step where it does not fire costs a counter increment and a comparison. A step where
/// it fires copies every variable and gradient to the host; choose `every` by model size.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let settings = labbook_core::Settings::new("doc").dir(dir.path()).quiet(true).system_metrics(false);
/// use tch::nn::{self, Module, OptimizerConfig};
/// let run = labbook_core::init(settings)?;
/// let vs = nn::VarStore::new(tch::Device::Cpu);
/// let fc = nn::linear(vs.root() / "fc", 4, 2, Default::default());
/// let mut opt = nn::Sgd::default().build(&vs, 0.1)?;
/// let mut watch = labbook_tch::Watch::new(&vs, 100);
/// let x = tch::Tensor::ones([8, 4], (tch::Kind::Float, tch::Device::Cpu));
/// opt.backward_step(&fc.forward(&x).sum(None));
/// assert!(watch.observe(&run)?); // the first step fires
/// assert!(!watch.observe(&run)?);
/// run.log([("train/loss", 0.5.into())])?; // the histograms join this row
/// # run.finish()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Watch {
    vars: Vec<(String, tch::Tensor)>,
    cadence: WatchCadence,
    bins: usize,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("variables", &self.vars.len())
            .field("every", &self.cadence.every())
            .field("calls", &self.cadence.steps())
            .finish()
    }
}

impl Watch {
    /// Watches the variables `store` holds now (create the model first), firing every
    /// `every` steps, the first included; 0 never fires.
    pub fn new(store: &VarStore, every: u64) -> Watch {
        let mut vars: Vec<(String, tch::Tensor)> = store.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        Watch {
            vars,
            cadence: WatchCadence::new(every),
            bins: 64,
        }
    }

    /// Histogram bins (1 to 512; default 64).
    pub fn bins(mut self, bins: usize) -> Watch {
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
    pub fn observe(&mut self, run: &Run) -> Result<bool> {
        if !self.tick() || run.is_disabled() {
            return Ok(false);
        }
        let items = self.values()?;
        run.log_at(run.step(), items)?;
        Ok(true)
    }

    /// The histograms and norms of the variables and their gradients now, sorted by name.
    #[cold]
    pub fn values(&self) -> Result<Vec<(String, Value)>> {
        let _no_grad = tch::no_grad_guard();
        let mut stats = WatchStats::new(self.bins);
        for (name, var) in &self.vars {
            stats.parameter(name, train::f32_values::<Tch>(var, "a watched variable")?);
            let grad = var.f_grad()?;
            if grad.defined() {
                stats.gradient(name, train::f32_values::<Tch>(&grad, "a watched gradient")?);
            }
        }
        Ok(stats.finish())
    }
}

#[cfg(test)]
mod tests {
    use tch::nn::{self, Module, OptimizerConfig};
    use tch::{Device, Kind, Tensor};

    use super::*;

    #[test]
    fn fires_on_the_first_step_and_every_n_after() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _fc = nn::linear(vs.root() / "fc", 3, 2, Default::default());
        let mut w = Watch::new(&vs, 3);
        let fired: Vec<bool> = (0..7).map(|_| w.tick()).collect();
        assert_eq!(fired, [true, false, false, true, false, false, true]);
        assert!(!w.observe(&labbook_core::Run::disabled()).unwrap());
        assert_eq!(w.steps(), 8);
    }

    #[test]
    fn values_cover_every_variable_and_gradient_with_norms() {
        let vs = nn::VarStore::new(Device::Cpu);
        let fc = nn::linear(vs.root() / "fc", 3, 2, Default::default());
        let w = Watch::new(&vs, 1);
        let before: Vec<String> = w.values().unwrap().into_iter().map(|(k, _)| k).collect();
        assert!(
            before.iter().all(|k| k.starts_with("parameters/")),
            "no gradients yet: {before:?}"
        );
        let mut opt = nn::Sgd::default().build(&vs, 0.0).unwrap();
        let x = Tensor::ones([4, 3], (Kind::Float, Device::Cpu));
        opt.backward_step(&fc.forward(&x).sum(None));
        let values = w.values().unwrap();
        let keys: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "parameters/fc.bias.norm",
                "parameters/fc.bias",
                "gradients/fc.bias.norm",
                "gradients/fc.bias",
                "parameters/fc.weight.norm",
                "parameters/fc.weight",
                "gradients/fc.weight.norm",
                "gradients/fc.weight",
                "parameters/norm",
                "gradients/norm",
            ]
        );
        // d(sum(xW^T + b))/db = batch size for each of the 2 outputs: norm sqrt(2 * 4^2).
        let bias = values
            .iter()
            .find(|(k, _)| k == "gradients/fc.bias.norm")
            .unwrap();
        assert_eq!(bias.1, Value::from(32f64.sqrt()));
    }
}
