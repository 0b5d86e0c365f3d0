//! The tch example's model and batches, shared with `benches/tch_step.rs` so the benchmark
//! measures the step the example runs.

use labbook::tch::tch::nn::{self, Module};
use labbook::tch::tch::{Device, Tensor};

use crate::shapes;

/// Two convolutions and two linear layers, as the burn and candle examples.
pub(crate) fn cnn(vs: &nn::Path) -> impl Module + use<> {
    nn::seq()
        .add(nn::conv2d(vs / "conv1", 1, 8, 3, Default::default()))
        .add_fn(|x| x.relu().max_pool2d_default(2))
        .add(nn::conv2d(vs / "conv2", 8, 16, 3, Default::default()))
        .add_fn(|x| x.relu().max_pool2d_default(2).flatten(1, -1))
        .add(nn::linear(vs / "fc1", 16 * 5 * 5, 64, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(
            vs / "fc2",
            64,
            shapes::CLASSES.len() as i64,
            Default::default(),
        ))
}

/// The samples as batches of `[n, 1, 28, 28]` images and `[n]` int64 labels.
pub(crate) fn batches(
    samples: Vec<shapes::Sample>,
    size: usize,
    dev: Device,
) -> Vec<(Tensor, Tensor)> {
    samples
        .chunks(size)
        .map(|chunk| {
            let n = chunk.len() as i64;
            let side = shapes::SIDE as i64;
            let pixels: Vec<f32> = chunk
                .iter()
                .flat_map(|s| s.pixels.iter().copied())
                .collect();
            let labels: Vec<i64> = chunk.iter().map(|s| s.label).collect();
            let x = Tensor::from_slice(&pixels)
                .view([n, 1, side, side])
                .to_device(dev);
            let y = Tensor::from_slice(&labels).to_device(dev);
            (x, y)
        })
        .collect()
}
