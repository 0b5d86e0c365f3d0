//! [`EvalMetric`]: labbook's evaluation hook inside burn's validation loop.

use std::sync::{Arc, Mutex};

use burn::tensor::{Int, Tensor, TensorReadError};
use burn::train::ClassificationOutput;
use burn::train::metric::{Adaptor, Metric, MetricMetadata, MetricName, SerializedEntry};
use labbook_core::Run;
use labbook_core::media::{Image, Layout};
use labbook_core::train::{ClassScores, EpochFindings, EvalHook, EvalSettings};

use crate::logger::{Shared, lock};
use crate::media::images;

/// What [`EvalMetric`] sees of one validation batch: the model's real outputs, the targets,
/// the per-batch loss if there is one, and optionally the input images.
///
/// burn's [`ClassificationOutput`] adapts to it (without images). To log images, carry the
/// input batch in your own output type and adapt it:
///
/// ```ignore
/// pub struct VisionOutput {
///     pub cls: ClassificationOutput,
///     pub images: Tensor<4>, // [batch, 1, 28, 28], pixels in [0, 1]
/// }
/// impl ItemLazy for VisionOutput {
///     fn sync(self) -> Result<Self, ExecutionError> {
///         let cls = self.cls.sync()?;
///         Ok(VisionOutput { cls, images: self.images.without_autodiff() })
///     }
/// }
/// impl Adaptor<EvalBatch> for VisionOutput {
///     fn adapt(&self) -> EvalBatch {
///         let batch: EvalBatch = self.cls.adapt();
///         batch.with_images(self.images.clone(), Layout::Chw)
///     }
/// }
/// // and `Adaptor<LossInput>`, `Adaptor<AccuracyInput>` … by delegating to `self.cls`.
/// ```
#[derive(Clone, Debug)]
pub struct EvalBatch {
    /// Class logits or probabilities, `[batch, classes]`.
    pub output: Tensor<2>,
    /// Ground-truth class per sample, `[batch]`.
    pub targets: Tensor<1, Int>,
    /// The loss, if known (a per-batch scalar or per-sample values; its mean is logged).
    pub loss: Option<Tensor<1>>,
    /// The input images, read back only for batches that get logged.
    pub images: Option<EvalImages>,
}

/// Input images of a batch and their layout.
#[derive(Clone, Debug)]
pub struct EvalImages {
    /// `[batch, c, h, w]` or `[batch, h, w, c]`, f32 in [0, 1] (or u8 dtype).
    pub tensor: Tensor<4>,
    /// The tensor's layout.
    pub layout: Layout,
}

impl EvalBatch {
    /// A batch without loss or images.
    pub fn new(output: Tensor<2>, targets: Tensor<1, Int>) -> EvalBatch {
        EvalBatch {
            output,
            targets,
            loss: None,
            images: None,
        }
    }

    /// Adds the input images.
    pub fn with_images(mut self, tensor: Tensor<4>, layout: Layout) -> EvalBatch {
        self.images = Some(EvalImages { tensor, layout });
        self
    }
}

impl Adaptor<EvalBatch> for ClassificationOutput {
    fn adapt(&self) -> EvalBatch {
        EvalBatch {
            output: self.output.clone(),
            targets: self.targets.clone(),
            loss: Some(self.loss.clone()),
            images: None,
        }
    }
}

struct State {
    hook: EvalHook,
    index: usize,
    in_epoch: bool,
    last: EpochFindings,
    failures: u64,
}

/// A burn `Metric` (register it with `metric_valid`) that computes each validation batch's
/// `recall`, `precision` and `hmean` (macro, over the classes present), `accuracy` and `loss` from the model's real
/// predictions, and hands them to labbook's [`EvalHook`]: batches worse than the threshold
/// (or the worst K) are logged as `problematic_batch_<i>_…` with their images, misclassified
/// samples first. Batches that are fine cost their metrics and a comparison; their pixels
/// are never read back.
///
/// Make it with [`RunLogger::eval_metric`](crate::RunLogger::eval_metric) so its rows and the
/// logger's never interleave. It is not a numeric metric: burn shows its text, the logger
/// skips it.
///
/// ```
/// use labbook_core::Run;
/// use labbook_core::train::{EvalSettings, Worse};
/// let logger = labbook_burn::RunLogger::new(&Run::disabled())?;
/// let metric = logger.eval_metric(EvalSettings::default().metric("recall", Worse::Lower).threshold(Some(0.8)));
/// // SupervisedTraining::new(..).metric_valid(metric)
/// # let _ = metric;
/// # Ok::<(), labbook_burn::Error>(())
/// ```
#[derive(Clone)]
pub struct EvalMetric {
    name: MetricName,
    state: Arc<Mutex<State>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EvalMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalMetric")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl EvalMetric {
    /// A metric logging to `run` on its own (prefer [`RunLogger::eval_metric`](crate::RunLogger::eval_metric)).
    pub fn new(run: &Run, settings: EvalSettings) -> EvalMetric {
        EvalMetric::with_shared(run, settings, Arc::new(Shared::default()))
    }

    pub(crate) fn with_shared(
        run: &Run,
        settings: EvalSettings,
        shared: Arc<Shared>,
    ) -> EvalMetric {
        EvalMetric {
            name: Arc::new("Problematic Batches".to_owned()),
            state: Arc::new(Mutex::new(State {
                hook: EvalHook::new(run, settings),
                index: 0,
                in_epoch: false,
                last: EpochFindings::default(),
                failures: 0,
            })),
            shared,
        }
    }

    /// What the last finished validation epoch found.
    pub fn last_findings(&self) -> EpochFindings {
        lock(&self.state).last.clone()
    }
}

fn ints(t: Tensor<1, Int>) -> Result<Vec<i64>, TensorReadError> {
    Ok(t.try_into_data_as::<i64>()?.try_into_vec::<i64>()?)
}

/// The batch scored from the model's predictions, and its loss.
fn score(item: &EvalBatch) -> Result<(ClassScores, Option<f64>), TensorReadError> {
    let preds = ints(item.output.clone().argmax(1).flatten::<1>(0, 1))?;
    let targets = ints(item.targets.clone())?;
    let loss = match &item.loss {
        Some(l) => Some(l.clone().mean().try_into_scalar::<f64>()?),
        None => None,
    };
    Ok((ClassScores::new(&preds, &targets), loss))
}

fn batch_images(item: &EvalBatch, scores: &ClassScores) -> Vec<Image> {
    let Some(imgs) = &item.images else {
        return Vec::new();
    };
    match images(imgs.tensor.clone(), imgs.layout, usize::MAX) {
        Ok(v) => scores.misclassified_first(v),
        Err(e) => {
            tracing::warn!(target: "labbook", "labbook-burn: could not read a batch's images: {e}");
            Vec::new()
        }
    }
}

impl Metric for EvalMetric {
    type Input = EvalBatch;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn description(&self) -> Option<String> {
        Some("labbook: validation batches below the threshold, logged with their images".into())
    }

    fn update(
        &mut self,
        item: &EvalBatch,
        _metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let (scores, loss) = score(item)?;
        let metrics = scores.metrics(loss);
        let mut st = lock(&self.state);
        if !st.in_epoch {
            st.hook.start_epoch();
            st.in_epoch = true;
            st.index = 0;
        }
        let index = st.index;
        st.index += 1;
        let result = {
            let _rows = lock(&self.shared.rows);
            st.hook
                .batch(index, &metrics, || batch_images(item, &scores))
        };
        if let Err(e) = result {
            st.failures += 1;
            if st.failures == 1 {
                tracing::warn!(target: "labbook", "labbook-burn evaluation hook: {e}");
            }
        }
        let shown = metrics
            .iter()
            .map(|(k, v)| format!("{k} {v:.3}"))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(SerializedEntry::new(
            format!("batch {index}: {shown}"),
            String::new(),
        ))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        let mut st = lock(&self.state);
        if st.in_epoch {
            st.in_epoch = false;
            let found = {
                let _rows = lock(&self.shared.rows);
                st.hook.end_epoch()
            };
            match found {
                Ok(f) => st.last = f,
                Err(e) => tracing::warn!(target: "labbook", "labbook-burn evaluation hook: {e}"),
            }
        }
        let f = &st.last;
        Ok(SerializedEntry::new(
            format!(
                "{} of {} batches below threshold, {} logged",
                f.below_threshold,
                f.batches,
                f.logged.len()
            ),
            String::new(),
        ))
    }

    fn clear(&mut self) {
        let mut st = lock(&self.state);
        st.in_epoch = false;
        st.index = 0;
    }
}
