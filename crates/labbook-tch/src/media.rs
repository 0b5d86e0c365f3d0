//! Tensors to labbook values: scalars, histograms and images, through labbook-core's
//! shared helpers ([`labbook_core::train::TensorBackend`]) on [`Tch`].
//!
//! Each helper copies to the host only what it logs: `images` narrows the batch on the
//! device first, so logging 4 images of a CUDA batch of 256 copies 4.

use labbook_core::Value;
use labbook_core::media::{Histogram, Image, Layout, Video};
use labbook_core::train::{self, Element, TensorBackend, TensorError, WatchBackend};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// tch's tensors and `VarStore`s as labbook's shared helpers read them (the orphan rule
/// keeps labbook-core from implementing its traits for tch's types itself).
#[derive(Clone, Copy, Debug)]
pub struct Tch;

impl TensorBackend for Tch {
    type Tensor = Tensor;
    type Dim = i64;
    type DType = Kind;
    type Error = Error;

    const NUMBER_HINT: &'static str =
        "use a real float or integer tensor (convert with to_kind(Kind::Float))";
    const PIXEL_HINT: &'static str =
        "pixels are floats in [0, 1] or uint8 in 0..=255 (convert with to_kind(Kind::Uint8))";
    const CLASS_HINT: &'static str = "class indices are integers (Kind::Int64)";
    const ADAPTER: &'static str = "labbook-tch";

    fn shape(t: &Tensor) -> Vec<i64> {
        t.size()
    }

    fn numel(t: &Tensor) -> usize {
        t.numel()
    }

    fn dtype(t: &Tensor) -> Kind {
        t.kind()
    }

    fn element(kind: Kind) -> Element {
        match kind {
            Kind::Half | Kind::Float | Kind::Double | Kind::BFloat16 => Element::Float,
            Kind::Uint8 => Element::U8,
            Kind::Int8 | Kind::Int16 | Kind::Int | Kind::Int64 => Element::Int,
            Kind::Bool => Element::Bool,
            _ => Element::Other,
        }
    }

    fn narrow_batch(t: &Tensor, n: usize) -> Result<Tensor> {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        Ok(t.f_narrow(0, 0, n)?)
    }

    fn to_f32(t: &Tensor) -> Result<Vec<f32>> {
        Ok(Vec::<f32>::try_from(&host_flat(t)?)?)
    }

    fn to_u8(t: &Tensor) -> Result<Vec<u8>> {
        Ok(Vec::<u8>::try_from(&host_flat(t)?)?)
    }

    fn to_i64(t: &Tensor) -> Result<Vec<i64>> {
        Ok(Vec::<i64>::try_from(&host_flat(t)?)?)
    }

    fn first_f64(t: &Tensor) -> Result<f64> {
        Ok(t.f_reshape([1])?.f_double_value(&[0])?)
    }

    fn first_i64(t: &Tensor) -> Result<i64> {
        Ok(t.f_reshape([1])?.f_int64_value(&[0])?)
    }

    fn argmax_rows(t: &Tensor) -> Result<Tensor> {
        Ok(t.f_argmax(1, false)?)
    }
}

impl WatchBackend for Tch {
    type Params = VarStore;
    // The variables the store holds when the watch is made (create the model first).
    type Watched = Vec<(String, Tensor)>;
    // Gradients live on the variables (`Tensor::grad`).
    type Grads = ();

    fn watched(store: &VarStore) -> Vec<(String, Tensor)> {
        store.variables().into_iter().collect()
    }

    fn variables(vars: &Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
        vars.iter()
            .map(|(name, t)| (name.clone(), t.shallow_clone()))
            .collect()
    }

    fn gradient(_: Option<&()>, var: &Tensor) -> Result<Option<Tensor>> {
        let grad = var.f_grad()?;
        Ok(grad.defined().then_some(grad))
    }

    fn without_grad<R>(f: impl FnOnce() -> R) -> R {
        let _no_grad = tch::no_grad_guard();
        f()
    }
}

/// The tensor flattened and on the host (a no-op for a contiguous CPU tensor).
fn host_flat(tensor: &Tensor) -> Result<Tensor> {
    let flat = tensor.f_flatten(0, -1)?;
    Ok(if flat.device() == Device::Cpu {
        flat
    } else {
        flat.f_to_device(Device::Cpu)?
    })
}

impl From<TensorError<i64, Kind>> for Error {
    fn from(e: TensorError<i64, Kind>) -> Error {
        match e {
            TensorError::Rank {
                what,
                expected,
                shape,
            } => Error::Rank {
                what,
                expected,
                shape,
            },
            TensorError::DType { what, dtype, hint } => Error::Kind {
                what,
                kind: dtype,
                hint,
            },
            TensorError::Channels {
                layout,
                shape,
                channels,
            } => Error::Channels {
                layout,
                shape,
                channels,
            },
        }
    }
}

/// The value of a tensor holding exactly one element (rank 0, or any shape of size 1):
/// floats become `F64`, integers and booleans `Int`. Reads the element back from the
/// device.
///
/// ```
/// let loss = tch::Tensor::from(0.25f32);
/// assert_eq!(labbook_tch::scalar(&loss)?, labbook_core::Value::F64(0.25));
/// let count = tch::Tensor::from_slice(&[7i64]);
/// assert_eq!(labbook_tch::scalar(&count)?, labbook_core::Value::Int(7));
/// # Ok::<(), labbook_tch::Error>(())
/// ```
pub fn scalar(tensor: &Tensor) -> Result<Value> {
    train::scalar::<Tch>(tensor)
}

/// A histogram of every value of a tensor of any rank (64 bins, as `wandb.Histogram`); the
/// values are read back now and binned on labbook's worker thread.
///
/// ```
/// let w = tch::Tensor::randn([64, 32], (tch::Kind::Float, tch::Device::Cpu));
/// let h = labbook_tch::histogram(&w)?;
/// # let _ = h;
/// # Ok::<(), labbook_tch::Error>(())
/// ```
pub fn histogram(tensor: &Tensor) -> Result<Histogram> {
    train::histogram::<Tch>(tensor)
}

/// A video from a rank-4 tensor of frames, `[t, c, h, w]` ([`Layout::Chw`]) or
/// `[t, h, w, c]` ([`Layout::Hwc`]), with 1, 3 or 4 channels; float pixels in [0, 1]
/// (clamped) or u8; played at `fps` frames per second.
///
/// ```
/// let frames = tch::Tensor::zeros([8, 3, 16, 16], (tch::Kind::Float, tch::Device::Cpu));
/// let v = labbook_tch::video(&frames, labbook_tch::Layout::Chw, 4)?;
/// # let _ = v;
/// # Ok::<(), labbook_tch::Error>(())
/// ```
pub fn video(tensor: &Tensor, layout: Layout, fps: u32) -> Result<Video> {
    train::video::<Tch>(tensor, layout, fps)
}

/// The first `max` images of a batch: a rank-4 tensor, `[n, c, h, w]` for [`Layout::Chw`]
/// (PyTorch's layout) or `[n, h, w, c]` for [`Layout::Hwc`], with 1, 3 or 4 channels;
/// float pixels in [0, 1] (clamped) or uint8. Only the images taken leave the device.
///
/// ```
/// let batch = tch::Tensor::zeros([8, 1, 28, 28], (tch::Kind::Float, tch::Device::Cpu));
/// let imgs = labbook_tch::images(&batch, labbook_tch::Layout::Chw, 4)?;
/// assert_eq!((imgs.len(), imgs[0].size()), (4, (28, 28)));
/// # Ok::<(), labbook_tch::Error>(())
/// ```
pub fn images(tensor: &Tensor, layout: Layout, max: usize) -> Result<Vec<Image>> {
    train::images::<Tch>(tensor, layout, max)
}

/// One image from a rank-3 tensor, `[c, h, w]` ([`Layout::Chw`]) or `[h, w, c]`
/// ([`Layout::Hwc`]); float pixels in [0, 1] (clamped) or uint8.
///
/// ```
/// let t = tch::Tensor::ones([16, 16, 3], (tch::Kind::Uint8, tch::Device::Cpu));
/// let img = labbook_tch::image(&t, labbook_tch::Layout::Hwc)?;
/// assert_eq!(img.size(), (16, 16));
/// # Ok::<(), labbook_tch::Error>(())
/// ```
pub fn image(tensor: &Tensor, layout: Layout) -> Result<Image> {
    train::image::<Tch>(tensor, layout)
}
