//! One validation batch of a framework's tensors, scored the same way for every adapter:
//! argmax of the logits against the targets, the loss if given, and the input images read
//! back only when the evaluation hook logs the batch.

use crate::media::{Image, Layout};
use crate::train::ClassScores;
use crate::train::tensor::{self, TensorBackend, TensorError};

/// One validation batch: the model's real outputs, the targets, optionally the loss and
/// the input images. The adapters name it for their framework
/// (`labbook_candle::EvalBatch`, `labbook_tch::EvalBatch`).
pub struct EvalBatch<B: TensorBackend> {
    /// Class logits or probabilities, `[batch, classes]`.
    pub logits: B::Tensor,
    /// The true class per sample, `[batch]` (any integer type).
    pub targets: B::Tensor,
    /// The batch's loss (one element), if known.
    pub loss: Option<B::Tensor>,
    /// The input images and their layout, read back only for batches that get logged.
    pub images: Option<(B::Tensor, Layout)>,
}

impl<B: TensorBackend> EvalBatch<B> {
    /// A batch without loss or images.
    pub fn new(logits: B::Tensor, targets: B::Tensor) -> EvalBatch<B> {
        EvalBatch {
            logits,
            targets,
            loss: None,
            images: None,
        }
    }

    /// Adds the batch's loss.
    pub fn with_loss(mut self, loss: B::Tensor) -> EvalBatch<B> {
        self.loss = Some(loss);
        self
    }

    /// Adds the input images: `[n, c, h, w]` ([`Layout::Chw`]) or `[n, h, w, c]`.
    pub fn with_images(mut self, images: B::Tensor, layout: Layout) -> EvalBatch<B> {
        self.images = Some((images, layout));
        self
    }

    /// The batch's class scores (argmax of the logits against the targets) and its loss.
    pub fn score(&self) -> Result<(ClassScores, Option<f64>), B::Error> {
        let shape = B::shape(&self.logits);
        if shape.len() != 2 {
            return Err(TensorError::Rank {
                what: "evaluation logits",
                expected: "rank 2 ([batch, classes])",
                shape,
            }
            .into());
        }
        let preds =
            tensor::class_indices::<B>(&B::argmax_rows(&self.logits)?, "predicted classes")?;
        let targets = tensor::class_indices::<B>(&self.targets, "evaluation targets")?;
        let loss = match &self.loss {
            Some(l) => Some(tensor::scalar_f64::<B>(l)?),
            None => None,
        };
        Ok((ClassScores::new(&preds, &targets), loss))
    }

    /// The input images, read back now; none (and a warning) when they cannot be read, so
    /// a batch is still scored and logged without them.
    pub fn images(&self) -> Vec<Image>
    where
        B::Error: std::fmt::Display,
    {
        let Some((t, layout)) = &self.images else {
            return Vec::new();
        };
        tensor::images::<B>(t, *layout, usize::MAX).unwrap_or_else(|e| {
            tracing::warn!(target: "labbook", "{}: could not read a batch's images: {e}", B::ADAPTER);
            Vec::new()
        })
    }
}

impl<B: TensorBackend> Clone for EvalBatch<B>
where
    B::Tensor: Clone,
{
    fn clone(&self) -> EvalBatch<B> {
        EvalBatch {
            logits: self.logits.clone(),
            targets: self.targets.clone(),
            loss: self.loss.clone(),
            images: self.images.clone(),
        }
    }
}

impl<B: TensorBackend> std::fmt::Debug for EvalBatch<B>
where
    B::Tensor: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalBatch")
            .field("logits", &self.logits)
            .field("targets", &self.targets)
            .field("loss", &self.loss)
            .field("images", &self.images)
            .finish()
    }
}
