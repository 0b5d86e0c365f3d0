//! Tensors to labbook values: scalars, histograms and images, through labbook-core's
//! shared helpers ([`labbook_core::train::TensorBackend`]) on [`Candle`].
//!
//! Each helper reads back from the tensor's device only what it logs: `images` narrows the
//! batch on the device before copying, so logging 4 images of a CUDA batch of 256 copies 4.

use candle_core::{DType, Tensor};
use labbook_core::Value;
use labbook_core::media::{Histogram, Image, Layout};
use labbook_core::train::{self, Element, TensorBackend, TensorError};

use crate::error::{Error, Result};

/// candle's tensors as labbook's shared tensor helpers read them (the orphan rule keeps
/// labbook-core from implementing its trait for `candle_core::Tensor` itself).
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

    fn shape(t: &Tensor) -> Vec<usize> {
        t.dims().to_vec()
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

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};
    use labbook_core::Value;
    use labbook_core::media::Layout;

    use super::*;

    fn t(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::zeros(shape, dtype, &Device::Cpu).unwrap()
    }

    #[test]
    fn scalars_of_every_dtype_and_shape_of_one_element() {
        let dev = Device::Cpu;
        let half = Tensor::new(1.5f32, &dev).unwrap();
        for dtype in [DType::F16, DType::BF16, DType::F32, DType::F64] {
            let v = scalar(&half.to_dtype(dtype).unwrap()).unwrap();
            assert_eq!(v, Value::F64(1.5), "{dtype:?}");
        }
        for dtype in [DType::U8, DType::U32, DType::I16, DType::I32, DType::I64] {
            let v = scalar(
                &Tensor::new(&[[3u32]], &dev)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap(),
            );
            assert_eq!(v.unwrap(), Value::Int(3), "{dtype:?}");
        }
        let err = scalar(&t(&[2, 3], DType::F32)).unwrap_err();
        assert!(matches!(err, Error::Rank { shape, .. } if shape == [2, 3]));
        assert!(matches!(
            scalar(&t(&[0], DType::F32)),
            Err(Error::Rank { .. })
        ));
    }

    #[test]
    fn histograms_take_floats_and_integers_of_any_rank() {
        let w = Tensor::arange(0f32, 24.0, &Device::Cpu)
            .unwrap()
            .reshape((2, 3, 4))
            .unwrap();
        assert_eq!(train::f32_values::<Candle>(&w, "x").unwrap().len(), 24);
        histogram(&w.to_dtype(DType::BF16).unwrap()).unwrap();
        histogram(&w.to_dtype(DType::I64).unwrap()).unwrap();
        assert_eq!(
            train::f32_values::<Candle>(&w.to_dtype(DType::F64).unwrap(), "x").unwrap()[23],
            23.0
        );
    }

    #[test]
    fn images_in_both_layouts_dtypes_and_channel_counts() {
        for (shape, layout) in [
            ([5, 1, 6, 4], Layout::Chw),
            ([5, 3, 6, 4], Layout::Chw),
            ([5, 6, 4, 4], Layout::Hwc),
        ] {
            for dtype in [DType::F32, DType::F16, DType::U8] {
                let imgs = images(&t(&shape, dtype), layout, 3).unwrap();
                assert_eq!(imgs.len(), 3, "{shape:?} {dtype:?}");
                assert_eq!(imgs[0].size(), (4, 6), "width 4, height 6");
            }
        }
        assert_eq!(
            images(&t(&[2, 1, 4, 4], DType::F32), Layout::Chw, 8)
                .unwrap()
                .len(),
            2
        );
        assert!(
            images(&t(&[2, 1, 4, 4], DType::F32), Layout::Chw, 0)
                .unwrap()
                .is_empty()
        );
        let one = image(&t(&[3, 6, 4], DType::F32), Layout::Chw).unwrap();
        assert_eq!(one.size(), (4, 6));
    }

    #[test]
    fn image_errors_name_the_rank_dtype_or_channels() {
        let err = images(&t(&[1, 28, 28], DType::F32), Layout::Chw, 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a batch of images needs a tensor of rank 4 ([n, c, h, w] or [n, h, w, c]); this one has shape [1, 28, 28]"
        );
        let err = images(&t(&[2, 2, 8, 8], DType::F32), Layout::Chw, 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "images have 1, 3 or 4 channels; this NCHW tensor of shape [2, 2, 8, 8] has 2"
        );
        let err = image(&t(&[8, 8, 5], DType::F32), Layout::Hwc).unwrap_err();
        assert!(err.to_string().contains("this HWC tensor"), "{err}");
        let err = image(&t(&[1, 8, 8], DType::I64), Layout::Chw).unwrap_err();
        assert!(
            matches!(
                err,
                Error::DType {
                    dtype: DType::I64,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("to_dtype(DType::U8)"), "{err}");
    }

    #[test]
    fn float_pixels_are_clamped_u8_pixels_kept() {
        let dev = Device::Cpu;
        let px = Tensor::new(&[[[-1f32, 0.5], [2.0, 1.0]]], &dev).unwrap();
        let img = image(&px, Layout::Chw).unwrap();
        assert_eq!(img.size(), (2, 2));
        let raw = Tensor::new(&[[[0u8, 7], [200, 255]]], &dev).unwrap();
        assert_eq!(image(&raw, Layout::Chw).unwrap().size(), (2, 2));
    }
}
