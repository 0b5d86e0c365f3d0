//! Tensors to labbook values: scalars, histograms and images, through labbook-core's
//! shared helpers ([`labbook_core::train::TensorBackend`]) on [`Candle`].
//!
//! Each helper reads back from the tensor's device only what it logs: `images` narrows the
//! batch on the device before copying, so logging 4 images of a CUDA batch of 256 copies 4.

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor};
use candle_nn::VarMap;
use labbook_core::Value;
use labbook_core::media::{Histogram, Image, Layout, Video};
use labbook_core::train::{self, Element, TensorBackend, TensorError, WatchBackend};

use crate::error::{Error, Result};

/// candle's tensors and `VarMap`s as labbook's shared helpers read them (the orphan rule
/// keeps labbook-core from implementing its traits for candle's types itself).
#[derive(Clone, Copy, Debug)]
pub struct Candle;

impl TensorBackend for Candle {
    type Tensor = Tensor;
    type Dim = usize;
    type DType = DType;
    type Error = Error;

    const NUMBER_HINT: &'static str =
        "use a float or integer tensor (convert with to_dtype(DType::F32))";
    const PIXEL_HINT: &'static str =
        "pixels are floats in [0, 1] or u8 in 0..=255 (convert with to_dtype(DType::U8))";
    const CLASS_HINT: &'static str = "class indices are integers (u8, u32 or i64)";
    const ADAPTER: &'static str = "labbook-candle";

    fn shape(t: &Tensor) -> Vec<usize> {
        t.dims().to_vec()
    }

    fn numel(t: &Tensor) -> usize {
        t.elem_count()
    }

    fn dtype(t: &Tensor) -> DType {
        t.dtype()
    }

    fn element(dtype: DType) -> Element {
        match dtype {
            DType::F16 | DType::BF16 | DType::F32 | DType::F64 => Element::Float,
            DType::U8 => Element::U8,
            DType::U32 | DType::I16 | DType::I32 | DType::I64 => Element::Int,
            _ => Element::Other,
        }
    }

    fn narrow_batch(t: &Tensor, n: usize) -> Result<Tensor> {
        Ok(if n < t.dims().first().copied().unwrap_or(0) {
            t.narrow(0, 0, n)?
        } else {
            t.clone()
        })
    }

    fn to_f32(t: &Tensor) -> Result<Vec<f32>> {
        let flat = t.flatten_all()?;
        let flat = if t.dtype() == DType::F32 {
            flat
        } else {
            flat.to_dtype(DType::F32)?
        };
        Ok(flat.to_vec1::<f32>()?)
    }

    fn to_u8(t: &Tensor) -> Result<Vec<u8>> {
        Ok(t.flatten_all()?.to_vec1::<u8>()?)
    }

    fn to_i64(t: &Tensor) -> Result<Vec<i64>> {
        Ok(t.flatten_all()?.to_dtype(DType::I64)?.to_vec1::<i64>()?)
    }

    fn first_f64(t: &Tensor) -> Result<f64> {
        first(t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?, t)
    }

    fn first_i64(t: &Tensor) -> Result<i64> {
        first(Self::to_i64(t)?, t)
    }

    fn argmax_rows(t: &Tensor) -> Result<Tensor> {
        Ok(t.argmax(1)?)
    }
}

impl WatchBackend for Candle {
    type Params = VarMap;
    // A cheap handle: variables created after the watch are watched too.
    type Watched = VarMap;
    type Grads = GradStore;

    fn watched(varmap: &VarMap) -> VarMap {
        varmap.clone()
    }

    fn variables(varmap: &VarMap) -> Vec<(String, Tensor)> {
        let data = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        data.iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect()
    }

    fn gradient(grads: Option<&GradStore>, var: &Tensor) -> Result<Option<Tensor>> {
        Ok(grads.and_then(|g| g.get(var)).cloned())
    }
}

fn first<T: Copy>(values: Vec<T>, t: &Tensor) -> Result<T> {
    values.first().copied().ok_or_else(|| Error::Rank {
        what: "a scalar",
        expected: "exactly one element",
        shape: t.dims().to_vec(),
    })
}

impl From<TensorError<usize, DType>> for Error {
    fn from(e: TensorError<usize, DType>) -> Error {
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
            TensorError::DType { what, dtype, hint } => Error::DType { what, dtype, hint },
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
/// floats become `F64`, integers `Int`. Reads the element back from the device.
///
/// ```
/// use candle_core::{Device, Tensor};
/// let loss = Tensor::new(0.25f32, &Device::Cpu)?;
/// assert_eq!(labbook_candle::scalar(&loss)?, labbook_core::Value::F64(0.25));
/// let count = Tensor::new(&[7u32], &Device::Cpu)?;
/// assert_eq!(labbook_candle::scalar(&count)?, labbook_core::Value::Int(7));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn scalar(tensor: &Tensor) -> Result<Value> {
    train::scalar::<Candle>(tensor)
}

/// A histogram of every value of a tensor of any rank (64 bins, as `wandb.Histogram`);
/// the values are read back now and binned on labbook's worker thread.
///
/// ```
/// use candle_core::{Device, Tensor};
/// let w = Tensor::randn(0f32, 1.0, (64, 32), &Device::Cpu)?;
/// let h = labbook_candle::histogram(&w)?;
/// # let _ = h;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn histogram(tensor: &Tensor) -> Result<Histogram> {
    train::histogram::<Candle>(tensor)
}

/// A video from a rank-4 tensor of frames, `[t, c, h, w]` ([`Layout::Chw`]) or
/// `[t, h, w, c]` ([`Layout::Hwc`]), with 1, 3 or 4 channels; float pixels in [0, 1]
/// (clamped) or u8; played at `fps` frames per second.
///
/// ```
/// let frames = candle_core::Tensor::zeros((8, 3, 16, 16), candle_core::DType::F32, &candle_core::Device::Cpu)?;
/// let v = labbook_candle::video(&frames, labbook_candle::Layout::Chw, 4)?;
/// # let _ = v;
/// # Ok::<(), labbook_candle::Error>(())
/// ```
pub fn video(tensor: &Tensor, layout: Layout, fps: u32) -> Result<Video> {
    train::video::<Candle>(tensor, layout, fps)
}

/// The first `max` images of a batch: a rank-4 tensor, `[n, c, h, w]` for [`Layout::Chw`]
/// or `[n, h, w, c]` for [`Layout::Hwc`], with 1, 3 or 4 channels; float pixels in [0, 1]
/// (clamped) or u8. Only the images taken are copied from the device.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use labbook_candle::Layout;
/// let batch = Tensor::zeros((8, 1, 28, 28), DType::F32, &Device::Cpu)?;
/// let imgs = labbook_candle::images(&batch, Layout::Chw, 4)?;
/// assert_eq!((imgs.len(), imgs[0].size()), (4, (28, 28)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn images(tensor: &Tensor, layout: Layout, max: usize) -> Result<Vec<Image>> {
    train::images::<Candle>(tensor, layout, max)
}

/// One image from a rank-3 tensor, `[c, h, w]` ([`Layout::Chw`]) or `[h, w, c]`
/// ([`Layout::Hwc`]); float pixels in [0, 1] (clamped) or u8.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// let t = Tensor::ones((16, 16, 3), DType::U8, &Device::Cpu)?;
/// let img = labbook_candle::image(&t, labbook_candle::Layout::Hwc)?;
/// assert_eq!(img.size(), (16, 16));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn image(tensor: &Tensor, layout: Layout) -> Result<Image> {
    train::image::<Candle>(tensor, layout)
}
