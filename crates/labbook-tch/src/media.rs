//! Tensors to labbook values: scalars, histograms and images, through labbook-core's
//! shared helpers ([`labbook_core::train::TensorBackend`]) on [`Tch`].
//!
//! Each helper copies to the host only what it logs: `images` narrows the batch on the
//! device first, so logging 4 images of a CUDA batch of 256 copies 4.

use labbook_core::Value;
use labbook_core::media::{Histogram, Image, Layout};
use labbook_core::train::{self, Element, TensorBackend, TensorError};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// tch's tensors as labbook's shared tensor helpers read them (the orphan rule keeps
/// labbook-core from implementing its trait for `tch::Tensor` itself).
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

    fn shape(t: &Tensor) -> Vec<i64> {
        t.size()
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

#[cfg(test)]
mod tests {
    use labbook_core::Value;
    use labbook_core::media::Layout;
    use tch::{Device, Kind, Tensor};

    use super::*;

    fn t(shape: &[i64], kind: Kind) -> Tensor {
        Tensor::zeros(shape, (kind, Device::Cpu))
    }

    #[test]
    fn scalars_of_every_kind_and_shape_of_one_element() {
        for kind in [Kind::Half, Kind::BFloat16, Kind::Float, Kind::Double] {
            let v = scalar(&Tensor::from(1.5f64).to_kind(kind)).unwrap();
            assert_eq!(v, Value::F64(1.5), "{kind:?}");
        }
        for kind in [Kind::Uint8, Kind::Int8, Kind::Int16, Kind::Int, Kind::Int64] {
            let v = scalar(&Tensor::from_slice(&[3i64]).view([1, 1]).to_kind(kind));
            assert_eq!(v.unwrap(), Value::Int(3), "{kind:?}");
        }
        let err = scalar(&t(&[2, 3], Kind::Float)).unwrap_err();
        assert!(matches!(err, Error::Rank { shape, .. } if shape == [2, 3]));
        assert!(matches!(
            scalar(&t(&[0], Kind::Float)),
            Err(Error::Rank { .. })
        ));
        let complex = t(&[1], Kind::ComplexFloat);
        assert!(matches!(
            scalar(&complex),
            Err(Error::Kind {
                kind: Kind::ComplexFloat,
                ..
            })
        ));
    }

    #[test]
    fn histograms_take_floats_and_integers_of_any_rank() {
        let w = Tensor::arange(24, (Kind::Float, Device::Cpu)).view([2, 3, 4]);
        let values = train::f32_values::<Tch>(&w.to_kind(Kind::Double), "x").unwrap();
        assert_eq!((values.len(), values[23]), (24, 23.0));
        histogram(&w.to_kind(Kind::BFloat16)).unwrap();
        histogram(&w.to_kind(Kind::Int64)).unwrap();
        // A non-contiguous view reads in logical order.
        let transposed = train::f32_values::<Tch>(&w.view([6, 4]).tr(), "x").unwrap();
        assert_eq!(&transposed[..3], [0.0, 4.0, 8.0]);
    }

    #[test]
    fn images_in_both_layouts_kinds_and_channel_counts() {
        for (shape, layout) in [
            ([5, 1, 6, 4], Layout::Chw),
            ([5, 3, 6, 4], Layout::Chw),
            ([5, 6, 4, 4], Layout::Hwc),
        ] {
            for kind in [Kind::Float, Kind::Half, Kind::Uint8] {
                let imgs = images(&t(&shape, kind), layout, 3).unwrap();
                assert_eq!(imgs.len(), 3, "{shape:?} {kind:?}");
                assert_eq!(imgs[0].size(), (4, 6), "width 4, height 6");
            }
        }
        assert_eq!(
            images(&t(&[2, 1, 4, 4], Kind::Float), Layout::Chw, 8)
                .unwrap()
                .len(),
            2
        );
        assert!(
            images(&t(&[2, 1, 4, 4], Kind::Float), Layout::Chw, 0)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            image(&t(&[3, 6, 4], Kind::Float), Layout::Chw)
                .unwrap()
                .size(),
            (4, 6)
        );
    }

    #[test]
    fn image_errors_name_the_rank_kind_or_channels() {
        let err = images(&t(&[1, 28, 28], Kind::Float), Layout::Chw, 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a batch of images needs a tensor of rank 4 ([n, c, h, w] or [n, h, w, c]); this one has shape [1, 28, 28]"
        );
        let err = images(&t(&[2, 2, 8, 8], Kind::Float), Layout::Chw, 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "images have 1, 3 or 4 channels; this NCHW tensor of shape [2, 2, 8, 8] has 2"
        );
        let err = image(&t(&[8, 8, 5], Kind::Float), Layout::Hwc).unwrap_err();
        assert!(err.to_string().contains("this HWC tensor"), "{err}");
        let err = image(&t(&[1, 8, 8], Kind::Int64), Layout::Chw).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Kind {
                    kind: Kind::Int64,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("to_kind(Kind::Uint8)"), "{err}");
    }
}
