//! The candle example's model and batches, shared with `benches/candle_step.rs` so the
//! benchmark measures the step the example runs.

use labbook::candle::candle_core::{self, Device, Tensor};
use labbook::candle::candle_nn::{self as nn, Conv2d, Linear, Module, VarBuilder};

use crate::shapes;

pub(crate) struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    fc1: Linear,
    fc2: Linear,
}

impl Cnn {
    pub(crate) fn new(vb: VarBuilder) -> candle_core::Result<Cnn> {
        Ok(Cnn {
            conv1: nn::conv2d(1, 8, 3, Default::default(), vb.pp("conv1"))?,
            conv2: nn::conv2d(8, 16, 3, Default::default(), vb.pp("conv2"))?,
            fc1: nn::linear(16 * 5 * 5, 64, vb.pp("fc1"))?,
            fc2: nn::linear(64, shapes::CLASSES.len(), vb.pp("fc2"))?,
        })
    }
}

impl Module for Cnn {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = self.conv1.forward(x)?.relu()?.max_pool2d(2)?;
        let x = self.conv2.forward(&x)?.relu()?.max_pool2d(2)?;
        let x = self.fc1.forward(&x.flatten_from(1)?)?.relu()?;
        self.fc2.forward(&x)
    }
}

/// The samples as batches of `[n, 1, 28, 28]` images and `[n]` u32 labels.
pub(crate) fn batches(
    samples: Vec<shapes::Sample>,
    size: usize,
    dev: &Device,
) -> anyhow::Result<Vec<(Tensor, Tensor)>> {
    samples
        .chunks(size)
        .map(|chunk| {
            let n = chunk.len();
            let pixels: Vec<f32> = chunk
                .iter()
                .flat_map(|s| s.pixels.iter().copied())
                .collect();
            let labels: Vec<u32> = chunk.iter().map(|s| s.label as u32).collect();
            let x = Tensor::from_vec(pixels, (n, 1, shapes::SIDE, shapes::SIDE), dev)?;
            let y = Tensor::from_vec(labels, n, dev)?;
            Ok((x, y))
        })
        .collect()
}
