//! [`Watch`]: parameter and gradient histograms and norms of a `VarMap`, every N steps.

use candle_core::backprop::GradStore;
use candle_nn::VarMap;
use labbook_core::train::{self, WatchCadence, WatchStats};
use labbook_core::{Run, Value};

use crate::error::Result;
use crate::media::Candle;

/// Logs the histograms and L2 norms of every variable of a [`VarMap`] (and of its
/// gradients, when given) every N steps, like `wandb.watch(model, log="all", log_freq=N)`.
///
/// Keys: `parameters/<name>` and `gradients/<name>` (histograms, 64 bins),
/// `parameters/<name>.norm`, `gradients/<name>.norm`, and the global `parameters/norm` and
/// `gradients/norm`. `<name>` is the variable's `VarMap` path (`conv1.weight`).
///
/// A step where it does not fire costs a counter increment and a comparison. A step where
/// it fires copies every variable and gradient to the host; choose `every` by model size.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use candle_nn::{Module, VarBuilder, VarMap};
/// # let dir = tempfile::tempdir()?;
/// # let settings = labbook_core::Settings::new("doc").dir(dir.path()).quiet(true).system_metrics(false);
/// let run = labbook_core::init(settings)?;
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let fc = candle_nn::linear(4, 2, vb.pp("fc"))?;
/// let mut watch = labbook_candle::Watch::new(&varmap, 100);
/// let x = Tensor::ones((8, 4), DType::F32, &Device::Cpu)?;
/// let grads = fc.forward(&x)?.sum_all()?.backward()?;
/// assert!(watch.observe(&run, Some(&grads))?); // the first step fires
/// assert!(!watch.observe(&run, Some(&grads))?);
/// run.log([("train/loss", 0.5.into())])?; // the histograms join this row
/// # run.finish()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Watch {
    varmap: VarMap,
    cadence: WatchCadence,
    bins: usize,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("every", &self.cadence.every())
            .field("calls", &self.cadence.steps())
            .finish()
    }
}

impl Watch {
    /// Watches `varmap` (a cheap handle: variables created later are watched too), firing
    /// every `every` steps, the first included; 0 never fires.
    pub fn new(varmap: &VarMap, every: u64) -> Watch {
        Watch {
            varmap: varmap.clone(),
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
    pub fn observe(&mut self, run: &Run, grads: Option<&GradStore>) -> Result<bool> {
        if !self.tick() || run.is_disabled() {
            return Ok(false);
        }
        let items = self.values(grads)?;
        run.log_at(run.step(), items)?;
        Ok(true)
    }

    /// The histograms and norms of the variables now (and of `grads`), sorted by name.
    /// Variables whose values are not all finite get their norm but no histogram.
    #[cold]
    pub fn values(&self, grads: Option<&GradStore>) -> Result<Vec<(String, Value)>> {
        let mut vars: Vec<(String, candle_core::Var)> = {
            let data = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let mut stats = WatchStats::new(self.bins);
        for (name, var) in &vars {
            stats.parameter(
                name,
                train::f32_values::<Candle>(var.as_tensor(), "a watched variable")?,
            );
            if let Some(g) = grads.and_then(|g| g.get(var.as_tensor())) {
                stats.gradient(name, train::f32_values::<Candle>(g, "a watched gradient")?);
            }
        }
        Ok(stats.finish())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};
    use candle_nn::{Module, VarBuilder, VarMap};

    use super::*;

    fn model() -> (VarMap, candle_nn::Linear) {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let fc = candle_nn::linear(3, 2, vb.pp("fc")).unwrap();
        (varmap, fc)
    }

    #[test]
    fn fires_on_the_first_step_and_every_n_after() {
        let (varmap, _) = model();
        let mut w = Watch::new(&varmap, 3);
        let run = labbook_core::Run::disabled();
        let fired: Vec<bool> = (0..7).map(|_| w.tick()).collect();
        assert_eq!(fired, [true, false, false, true, false, false, true]);
        assert!(
            !w.observe(&run, None).unwrap(),
            "a disabled run only counts"
        );
        assert_eq!(w.steps(), 8);
        let mut never = Watch::new(&varmap, 0);
        assert!((0..5).all(|_| !never.tick()));
    }

    #[test]
    fn values_cover_every_variable_and_gradient_with_norms() {
        let (varmap, fc) = model();
        let x = Tensor::ones((4, 3), DType::F32, &Device::Cpu).unwrap();
        let grads = fc
            .forward(&x)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let w = Watch::new(&varmap, 1);
        let keys: Vec<String> = w
            .values(Some(&grads))
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
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
        let values = w.values(Some(&grads)).unwrap();
        let bias_grad = values
            .iter()
            .find(|(k, _)| k == "gradients/fc.bias.norm")
            .unwrap();
        assert_eq!(bias_grad.1, Value::from(32f64.sqrt()));
        let without: Vec<String> = w
            .values(None)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert!(
            without.iter().all(|k| k.starts_with("parameters/")),
            "{without:?}"
        );
    }
}
