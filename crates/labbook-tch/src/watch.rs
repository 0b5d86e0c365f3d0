//! [`Watch`]: parameter and gradient histograms and norms of a `VarStore`, every N steps.

use labbook_core::train;
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
#[derive(Debug)]
pub struct Watch(train::Watch<Tch>);

impl Watch {
    /// Watches the variables `store` holds now (create the model first), firing every
    /// `every` steps, the first included; 0 never fires.
    pub fn new(store: &VarStore, every: u64) -> Watch {
        Watch(train::Watch::new(store, every))
    }

    /// Histogram bins (1 to 512; default 64).
    pub fn bins(self, bins: usize) -> Watch {
        Watch(self.0.bins(bins))
    }

    /// How many steps were counted.
    pub fn steps(&self) -> u64 {
        self.0.steps()
    }

    /// Counts one step; says whether this step fires.
    #[inline]
    pub fn tick(&mut self) -> bool {
        self.0.tick()
    }

    /// Counts one step and, when it fires, adds the histograms and norms to the run's
    /// current row (they join the values the step logs next, through `Run::log`). Returns
    /// whether it fired. Does nothing on a disabled run but count.
    #[inline]
    pub fn observe(&mut self, run: &Run) -> Result<bool> {
        self.0.observe(run, None)
    }

    /// The histograms and norms of the variables and their gradients now, sorted by name.
    pub fn values(&self) -> Result<Vec<(String, Value)>> {
        self.0.values(None)
    }
}
