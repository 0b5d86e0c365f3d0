//! [`Watch`]: parameter and gradient histograms and norms of a `VarMap`, every N steps.

use crate::media::Candle;

/// Logs the histograms and L2 norms of every variable of a `VarMap` (and of its
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
pub type Watch = labbook_core::train::Watch<Candle>;
