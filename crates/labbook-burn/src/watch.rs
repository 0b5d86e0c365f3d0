//! [`Watch`]: parameter and gradient histograms and norms from `TrainStep::step`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use labbook_core::train::WatchStats;

use crate::logger::{Shared, lock};
use crate::media::f32_values;

/// Logs parameter and gradient histograms and norms every N training steps, like
/// `wandb.watch(model, log="all", log_freq=N)`.
///
/// burn's `MetricLogger` never sees the model, so call [`Watch::observe`] from your
/// `TrainStep::step`, after the backward pass. A call that does not fire costs one atomic
/// increment; one that fires reads every parameter and gradient back from the device and
/// hands the values to the logger, which adds them to the row of that training step:
/// `parameters/<path>` and `gradients/<path>` (histograms), `parameters/<path>.norm`,
/// `gradients/<path>.norm`, and the global `gradients/norm` and `parameters/norm` (L2).
///
/// The step is counted by the calls, so one call per training step (single device) keeps
/// the values on the right row. A `Watch` is `Clone + Send + Sync`; keep it in the model
/// with `#[module(skip)]`, or in a `static`.
///
/// ```ignore
/// #[derive(Module, Debug)]
/// pub struct Cnn {
///     conv: Conv2d,
///     fc: Linear,
///     #[module(skip)]
///     watch: Option<labbook_burn::Watch>,
/// }
///
/// impl TrainStep for Cnn {
///     type Input = Batch;
///     type Output = ClassificationOutput;
///     fn step(&self, batch: Batch) -> TrainOutput<ClassificationOutput> {
///         let out = self.forward_classification(batch);
///         let grads = GradientsParams::from_grads(out.loss.backward(), self);
///         if let Some(w) = &self.watch {
///             w.observe(self, &grads);
///         }
///         TrainOutput { grads, item: out }
///     }
/// }
/// ```
#[derive(Clone)]
pub struct Watch {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    every: u64,
    calls: AtomicU64,
    bins: usize,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("every", &self.inner.every)
            .field("calls", &self.inner.calls.load(Ordering::Relaxed))
            .finish()
    }
}

impl Watch {
    pub(crate) fn new(shared: Arc<Shared>, every: u64) -> Watch {
        Watch {
            inner: Arc::new(Inner {
                shared,
                every,
                calls: AtomicU64::new(0),
                bins: 64,
            }),
        }
    }

    /// Counts one training step; every `every` steps (the first included) records the
    /// model's parameters and `grads`. Returns whether it fired.
    #[inline]
    pub fn observe<M: Module>(&self, model: &M, grads: &GradientsParams) -> bool {
        let step = self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let every = self.inner.every;
        if every == 0 || !step.is_multiple_of(every) {
            return false;
        }
        self.record(step, model, grads);
        true
    }

    /// How many steps were observed.
    pub fn steps(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    #[cold]
    fn record<M: Module>(&self, step: u64, model: &M, grads: &GradientsParams) {
        let mut v = Collect {
            grads,
            path: Vec::new(),
            stats: WatchStats::new(self.inner.bins),
            failed: 0,
        };
        model.visit(&mut v);
        if v.failed > 0 {
            tracing::warn!(target: "labbook", "labbook-burn watch: {} tensors could not be read at step {step}", v.failed);
        }
        lock(&self.inner.shared.pending).push((step, v.stats.finish()));
    }
}

struct Collect<'a> {
    grads: &'a GradientsParams,
    path: Vec<String>,
    stats: WatchStats,
    failed: usize,
}

impl ModuleVisitor for Collect<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let name = if self.path.is_empty() {
            "param".to_owned()
        } else {
            self.path.join(".")
        };
        match f32_values(param.val()) {
            Ok(values) => self.stats.parameter(&name, values),
            Err(_) => self.failed += 1,
        }
        if let Some(g) = self.grads.get::<D>(param.id) {
            match f32_values(g) {
                Ok(values) => self.stats.gradient(&name, values),
                Err(_) => self.failed += 1,
            }
        }
    }
}
