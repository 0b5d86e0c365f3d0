//! Tensors to labbook values, written once for every framework: a framework implements
//! [`TensorBackend`] on a marker type of its own (the orphan rule keeps core from
//! implementing a trait for a framework's tensor), and [`scalar`], [`histogram`],
//! [`image()`], [`images`] and [`class_indices`] check shapes and element types the same way
//! for all of them, with the same messages.

use std::fmt::Debug;

use crate::media::{BatchPixels, Histogram, Image, Layout, Video};
use crate::value::Value;

/// What a tensor's elements are, as the helpers see them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    /// Floating point of any width.
    Float,
    /// Unsigned 8-bit integers: pixels as they are stored.
    U8,
    /// Any other integer type.
    Int,
    /// Booleans: numbers (0 and 1) for scalars and histograms, not pixels or classes.
    Bool,
    /// Anything else (complex numbers, ...): refused with a hint.
    Other,
}

/// The few tensor operations the shared helpers need from a framework.
///
/// ```
/// use labbook_core::train::{Element, TensorBackend, TensorError};
///
/// /// A "framework" whose tensors are a shape and f32 values on the host.
/// #[derive(Debug)]
/// struct Host;
/// #[derive(Debug, thiserror::Error)]
/// #[error("{0}")]
/// struct HostError(String);
/// impl From<TensorError<usize, &'static str>> for HostError {
///     fn from(e: TensorError<usize, &'static str>) -> HostError { HostError(e.to_string()) }
/// }
/// impl From<labbook_core::Error> for HostError {
///     fn from(e: labbook_core::Error) -> HostError { HostError(e.to_string()) }
/// }
/// impl TensorBackend for Host {
///     type Tensor = (Vec<usize>, Vec<f32>);
///     type Dim = usize;
///     type DType = &'static str;
///     type Error = HostError;
///     const NUMBER_HINT: &'static str = "use f32";
///     const PIXEL_HINT: &'static str = "use f32";
///     const CLASS_HINT: &'static str = "use integers";
///     const ADAPTER: &'static str = "host";
///     fn shape(t: &Self::Tensor) -> Vec<usize> { t.0.clone() }
///     fn numel(t: &Self::Tensor) -> usize { t.1.len() }
///     fn dtype(_: &Self::Tensor) -> &'static str { "f32" }
///     fn element(_: &'static str) -> Element { Element::Float }
///     fn narrow_batch(t: &Self::Tensor, n: usize) -> Result<Self::Tensor, HostError> {
///         let per: usize = t.0[1..].iter().product();
///         let mut shape = t.0.clone();
///         shape[0] = n;
///         Ok((shape, t.1[..n * per].to_vec()))
///     }
///     fn to_f32(t: &Self::Tensor) -> Result<Vec<f32>, HostError> { Ok(t.1.clone()) }
///     fn to_u8(t: &Self::Tensor) -> Result<Vec<u8>, HostError> { Ok(t.1.iter().map(|v| *v as u8).collect()) }
///     fn to_i64(t: &Self::Tensor) -> Result<Vec<i64>, HostError> { Ok(t.1.iter().map(|v| *v as i64).collect()) }
///     fn first_f64(t: &Self::Tensor) -> Result<f64, HostError> { Ok(f64::from(t.1[0])) }
///     fn first_i64(t: &Self::Tensor) -> Result<i64, HostError> { Ok(t.1[0] as i64) }
///     fn argmax_rows(t: &Self::Tensor) -> Result<Self::Tensor, HostError> {
///         let classes = t.0[1];
///         let rows = t.1.chunks(classes).map(|r| {
///             (0..classes).max_by(|a, b| r[*a].total_cmp(&r[*b])).unwrap_or(0) as f32
///         });
///         Ok((vec![t.0[0]], rows.collect()))
///     }
/// }
///
/// let batch = (vec![2, 1, 2, 2], vec![0.5; 8]);
/// let imgs = labbook_core::train::images::<Host>(&batch, labbook_core::media::Layout::Chw, 1)?;
/// assert_eq!((imgs.len(), imgs[0].size()), (1, (2, 2)));
/// assert_eq!(labbook_core::train::scalar::<Host>(&(vec![], vec![0.25]))?, labbook_core::Value::F64(0.25));
/// # Ok::<(), HostError>(())
/// ```
pub trait TensorBackend: 'static {
    /// The framework's tensor.
    type Tensor;
    /// A dimension as the framework writes shapes (`usize` in candle, `i64` in tch), so
    /// errors show the shape as the user's framework prints it.
    type Dim: Copy + Debug + TryInto<usize> + TryInto<u32>;
    /// The framework's element type (`DType`, `Kind`).
    type DType: Copy + Debug;
    /// The adapter's error: it takes the helpers' errors and labbook's.
    type Error: From<TensorError<Self::Dim, Self::DType>> + From<crate::Error>;

    /// How to make a tensor numeric, in the framework's words ("convert with ...").
    const NUMBER_HINT: &'static str;
    /// How to make a tensor pixels, in the framework's words.
    const PIXEL_HINT: &'static str;
    /// How to make a tensor class indices, in the framework's words.
    const CLASS_HINT: &'static str;
    /// The adapter's name, for the warnings of what it could not log (`labbook-candle`).
    const ADAPTER: &'static str;

    /// The tensor's shape.
    fn shape(t: &Self::Tensor) -> Vec<Self::Dim>;
    /// How many elements it holds (what a scalar checks on every training step, without
    /// building its shape).
    fn numel(t: &Self::Tensor) -> usize;
    /// The tensor's element type.
    fn dtype(t: &Self::Tensor) -> Self::DType;
    /// What an element type is to the helpers.
    fn element(dtype: Self::DType) -> Element;
    /// The first `n` entries of the first dimension, on the tensor's device.
    fn narrow_batch(t: &Self::Tensor, n: usize) -> Result<Self::Tensor, Self::Error>;
    /// Every element as f32, flattened and on the host (floats and integers).
    fn to_f32(t: &Self::Tensor) -> Result<Vec<f32>, Self::Error>;
    /// Every element of a u8 tensor, flattened and on the host.
    fn to_u8(t: &Self::Tensor) -> Result<Vec<u8>, Self::Error>;
    /// Every element of an integer tensor as i64, flattened and on the host.
    fn to_i64(t: &Self::Tensor) -> Result<Vec<i64>, Self::Error>;
    /// The one element of a float tensor of one element, on the host.
    fn first_f64(t: &Self::Tensor) -> Result<f64, Self::Error>;
    /// The one element of an integer tensor of one element, on the host.
    fn first_i64(t: &Self::Tensor) -> Result<i64, Self::Error>;
    /// The index of the largest value of each row of a `[batch, classes]` tensor.
    fn argmax_rows(t: &Self::Tensor) -> Result<Self::Tensor, Self::Error>;
}

/// A tensor a helper cannot use; the messages name the shape or element type at fault and
/// what would work. `D` and `K` are the framework's dimension and element types.
///
/// ```
/// let e = labbook_core::train::TensorError::<usize, &str>::Rank {
///     what: "an image",
///     expected: "rank 3 ([c, h, w] or [h, w, c])",
///     shape: vec![8, 8],
/// };
/// assert_eq!(e.to_string(), "an image needs a tensor of rank 3 ([c, h, w] or [h, w, c]); this one has shape [8, 8]");
/// ```
// Exhaustive on purpose: each adapter maps every variant to its own error's.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TensorError<D: Debug, K: Debug> {
    /// A tensor has a rank (or element count) the helper cannot use.
    #[error("{what} needs a tensor of {expected}; this one has shape {shape:?}")]
    Rank {
        /// What the tensor was for.
        what: &'static str,
        /// The ranks or sizes accepted.
        expected: &'static str,
        /// The tensor's shape.
        shape: Vec<D>,
    },
    /// A tensor has an element type the helper cannot use.
    #[error("{what} cannot use a tensor of {dtype:?}: {hint}")]
    DType {
        /// What the tensor was for.
        what: &'static str,
        /// The tensor's element type.
        dtype: K,
        /// What would work instead.
        hint: &'static str,
    },
    /// Images have 1, 3 or 4 channels.
    #[error(
        "images have 1, 3 or 4 channels; this {layout} tensor of shape {shape:?} has {channels:?}"
    )]
    Channels {
        /// The layout the tensor was read with.
        layout: &'static str,
        /// The tensor's shape.
        shape: Vec<D>,
        /// The channels found.
        channels: D,
    },
}

type Failed<B> = TensorError<<B as TensorBackend>::Dim, <B as TensorBackend>::DType>;

fn refuse<B: TensorBackend>(what: &'static str, t: &B::Tensor, hint: &'static str) -> B::Error {
    Failed::<B>::DType {
        what,
        dtype: B::dtype(t),
        hint,
    }
    .into()
}

/// The value of a tensor holding exactly one element (rank 0, or any shape of size 1):
/// floats become `F64`, integers `Int`. Reads the element back from its device.
pub fn scalar<B: TensorBackend>(t: &B::Tensor) -> Result<Value, B::Error> {
    if B::numel(t) != 1 {
        return Err(Failed::<B>::Rank {
            what: "a scalar",
            expected: "exactly one element",
            shape: B::shape(t),
        }
        .into());
    }
    match B::element(B::dtype(t)) {
        Element::Float => Ok(Value::F64(B::first_f64(t)?)),
        Element::U8 | Element::Int | Element::Bool => Ok(Value::Int(B::first_i64(t)?)),
        Element::Other => Err(refuse::<B>("a scalar", t, B::NUMBER_HINT)),
    }
}

/// A one-element tensor as f64 (a loss), integers converted.
pub fn scalar_f64<B: TensorBackend>(t: &B::Tensor) -> Result<f64, B::Error> {
    Ok(match scalar::<B>(t)? {
        Value::Int(v) => v as f64,
        Value::F64(v) => v,
        _ => f64::NAN,
    })
}

/// Every value of a tensor of any rank as f32, read back from its device (floats and
/// integers); `what` names the tensor in the error.
pub fn f32_values<B: TensorBackend>(
    t: &B::Tensor,
    what: &'static str,
) -> Result<Vec<f32>, B::Error> {
    match B::element(B::dtype(t)) {
        Element::Float | Element::U8 | Element::Int | Element::Bool => B::to_f32(t),
        Element::Other => Err(refuse::<B>(what, t, B::NUMBER_HINT)),
    }
}

/// A histogram of every value of a tensor of any rank (64 bins, as `wandb.Histogram`); the
/// values are read back now and binned on labbook's worker thread.
pub fn histogram<B: TensorBackend>(t: &B::Tensor) -> Result<Histogram, B::Error> {
    Ok(Histogram::from_f32(f32_values::<B>(t, "a histogram")?))
}

fn pixels<B: TensorBackend>(t: &B::Tensor, what: &'static str) -> Result<BatchPixels, B::Error> {
    match B::element(B::dtype(t)) {
        Element::U8 => Ok(BatchPixels::U8(B::to_u8(t)?)),
        Element::Float => Ok(BatchPixels::F32(B::to_f32(t)?)),
        Element::Int | Element::Bool | Element::Other => Err(refuse::<B>(what, t, B::PIXEL_HINT)),
    }
}

/// Channels, width and height of one image of `shape` (a batch's if `batch`).
fn geometry<B: TensorBackend>(
    shape: &[B::Dim],
    layout: Layout,
    batch: bool,
) -> Result<(u8, u32, u32), B::Error> {
    let dims = if batch { &shape[1..] } else { shape };
    let (channels, height, width) = match layout {
        Layout::Chw => (dims[0], dims[1], dims[2]),
        Layout::Hwc => (dims[2], dims[0], dims[1]),
    };
    let Some(c @ (1 | 3 | 4)) = TryInto::<usize>::try_into(channels).ok() else {
        let name = match (batch, layout) {
            (true, Layout::Chw) => "NCHW",
            (true, Layout::Hwc) => "NHWC",
            (false, Layout::Chw) => "CHW",
            (false, Layout::Hwc) => "HWC",
        };
        return Err(Failed::<B>::Channels {
            layout: name,
            shape: shape.to_vec(),
            channels,
        }
        .into());
    };
    let side = |v: B::Dim| -> Result<u32, B::Error> {
        v.try_into().map_err(|_| {
            Failed::<B>::Rank {
                what: "an image",
                expected: "sides below 2^32 pixels",
                shape: shape.to_vec(),
            }
            .into()
        })
    };
    Ok((c as u8, side(width)?, side(height)?))
}

/// The first `max` images of a batch: a rank-4 tensor, `[n, c, h, w]` for [`Layout::Chw`]
/// or `[n, h, w, c]` for [`Layout::Hwc`], with 1, 3 or 4 channels; float pixels in [0, 1]
/// (clamped) or u8. Only the images taken leave the device.
pub fn images<B: TensorBackend>(
    t: &B::Tensor,
    layout: Layout,
    max: usize,
) -> Result<Vec<Image>, B::Error> {
    let shape = B::shape(t);
    if shape.len() != 4 {
        return Err(Failed::<B>::Rank {
            what: "a batch of images",
            expected: "rank 4 ([n, c, h, w] or [n, h, w, c])",
            shape,
        }
        .into());
    }
    let (channels, width, height) = geometry::<B>(&shape, layout, true)?;
    let n = TryInto::<usize>::try_into(shape[0]).unwrap_or(0).min(max);
    if n == 0 {
        return Ok(Vec::new());
    }
    let px = pixels::<B>(&B::narrow_batch(t, n)?, "images")?;
    Ok(Image::split_batch(&px, n, channels, width, height, layout)?)
}

/// A video from a rank-4 tensor of frames: `[t, c, h, w]` for [`Layout::Chw`] or
/// `[t, h, w, c]` for [`Layout::Hwc`], with 1, 3 or 4 channels; float pixels in [0, 1]
/// (clamped) or u8; played at `fps` frames per second.
pub fn video<B: TensorBackend>(t: &B::Tensor, layout: Layout, fps: u32) -> Result<Video, B::Error> {
    let shape = B::shape(t);
    if shape.len() != 4 {
        return Err(Failed::<B>::Rank {
            what: "a video",
            expected: "rank 4 ([t, c, h, w] or [t, h, w, c])",
            shape,
        }
        .into());
    }
    let (channels, width, height) = geometry::<B>(&shape, layout, true)?;
    let frames = TryInto::<usize>::try_into(shape[0]).unwrap_or(0);
    let px = pixels::<B>(t, "a video")?;
    Ok(Video::from_pixels(
        layout, frames, channels, height, width, px, fps,
    )?)
}

/// One image from a rank-3 tensor, `[c, h, w]` ([`Layout::Chw`]) or `[h, w, c]`
/// ([`Layout::Hwc`]); float pixels in [0, 1] (clamped) or u8.
pub fn image<B: TensorBackend>(t: &B::Tensor, layout: Layout) -> Result<Image, B::Error> {
    let shape = B::shape(t);
    if shape.len() != 3 {
        return Err(Failed::<B>::Rank {
            what: "an image",
            expected: "rank 3 ([c, h, w] or [h, w, c])",
            shape,
        }
        .into());
    }
    let (channels, width, height) = geometry::<B>(&shape, layout, false)?;
    let px = pixels::<B>(t, "an image")?;
    let mut one = Image::split_batch(&px, 1, channels, width, height, layout)?;
    one.pop().ok_or_else(|| {
        Failed::<B>::Rank {
            what: "an image",
            expected: "at least one pixel",
            shape,
        }
        .into()
    })
}

/// A rank-1 tensor of class indices (`[batch]`, any integer type) on the host; `what` names
/// it in the error.
pub fn class_indices<B: TensorBackend>(
    t: &B::Tensor,
    what: &'static str,
) -> Result<Vec<i64>, B::Error> {
    let shape = B::shape(t);
    if shape.len() != 1 {
        return Err(Failed::<B>::Rank {
            what,
            expected: "rank 1 ([batch])",
            shape,
        }
        .into());
    }
    match B::element(B::dtype(t)) {
        Element::U8 | Element::Int => B::to_i64(t),
        Element::Float | Element::Bool | Element::Other => Err(refuse::<B>(what, t, B::CLASS_HINT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tensors as a shape, an element type and values on the host.
    struct Host;
    type T = (Vec<usize>, &'static str, Vec<f32>);

    #[derive(Debug, PartialEq)]
    enum HostError {
        Tensor(TensorError<usize, &'static str>),
        Labbook(String),
    }
    impl From<TensorError<usize, &'static str>> for HostError {
        fn from(e: TensorError<usize, &'static str>) -> HostError {
            HostError::Tensor(e)
        }
    }
    impl From<crate::Error> for HostError {
        fn from(e: crate::Error) -> HostError {
            HostError::Labbook(e.to_string())
        }
    }

    impl TensorBackend for Host {
        type Tensor = T;
        type Dim = usize;
        type DType = &'static str;
        type Error = HostError;
        const NUMBER_HINT: &'static str = "numbers";
        const PIXEL_HINT: &'static str = "pixels";
        const CLASS_HINT: &'static str = "classes";
        const ADAPTER: &'static str = "host";
        fn shape(t: &T) -> Vec<usize> {
            t.0.clone()
        }
        fn numel(t: &T) -> usize {
            t.0.iter().product()
        }
        fn dtype(t: &T) -> &'static str {
            t.1
        }
        fn element(d: &'static str) -> Element {
            match d {
                "f32" => Element::Float,
                "u8" => Element::U8,
                "i64" => Element::Int,
                "bool" => Element::Bool,
                _ => Element::Other,
            }
        }
        fn narrow_batch(t: &T, n: usize) -> Result<T, HostError> {
            let per: usize = t.0[1..].iter().product();
            let mut shape = t.0.clone();
            shape[0] = n;
            Ok((shape, t.1, t.2[..n * per].to_vec()))
        }
        fn to_f32(t: &T) -> Result<Vec<f32>, HostError> {
            Ok(t.2.clone())
        }
        fn to_u8(t: &T) -> Result<Vec<u8>, HostError> {
            Ok(t.2.iter().map(|v| *v as u8).collect())
        }
        fn to_i64(t: &T) -> Result<Vec<i64>, HostError> {
            Ok(t.2.iter().map(|v| *v as i64).collect())
        }
        fn first_f64(t: &T) -> Result<f64, HostError> {
            Ok(f64::from(t.2[0]))
        }
        fn first_i64(t: &T) -> Result<i64, HostError> {
            Ok(t.2[0] as i64)
        }
        fn argmax_rows(t: &T) -> Result<T, HostError> {
            let classes = t.0[1];
            let rows = t.2.chunks(classes).map(|r| {
                (0..classes)
                    .max_by(|a, b| r[*a].total_cmp(&r[*b]))
                    .unwrap_or(0) as f32
            });
            Ok((vec![t.0[0]], "i64", rows.collect()))
        }
    }

    fn t(shape: &[usize], dtype: &'static str) -> T {
        (shape.to_vec(), dtype, vec![1.0; shape.iter().product()])
    }

    fn err(r: Result<impl std::fmt::Debug, HostError>) -> String {
        match r.unwrap_err() {
            HostError::Tensor(e) => e.to_string(),
            HostError::Labbook(e) => e,
        }
    }

    #[test]
    fn every_refusal_names_the_shape_or_element_type_and_the_hint() {
        assert_eq!(
            err(scalar::<Host>(&t(&[2, 3], "f32"))),
            "a scalar needs a tensor of exactly one element; this one has shape [2, 3]"
        );
        assert_eq!(
            err(scalar::<Host>(&t(&[1], "c64"))),
            "a scalar cannot use a tensor of \"c64\": numbers"
        );
        assert_eq!(
            err(image::<Host>(&t(&[1, 8, 8], "i64"), Layout::Chw)),
            "an image cannot use a tensor of \"i64\": pixels"
        );
        assert_eq!(
            err(images::<Host>(&t(&[2, 8, 8, 2], "f32"), Layout::Hwc, 1)),
            "images have 1, 3 or 4 channels; this NHWC tensor of shape [2, 8, 8, 2] has 2"
        );
        assert_eq!(
            err(images::<Host>(&t(&[8, 8], "f32"), Layout::Chw, 1)),
            "a batch of images needs a tensor of rank 4 ([n, c, h, w] or [n, h, w, c]); this one has shape [8, 8]"
        );
        assert_eq!(
            err(class_indices::<Host>(&t(&[4], "bool"), "targets")),
            "targets cannot use a tensor of \"bool\": classes"
        );
        assert_eq!(
            err(class_indices::<Host>(&t(&[4, 1], "i64"), "targets")),
            "targets needs a tensor of rank 1 ([batch]); this one has shape [4, 1]"
        );
    }

    #[test]
    fn what_each_element_type_may_become() {
        assert_eq!(scalar::<Host>(&t(&[], "bool")), Ok(Value::Int(1)));
        assert_eq!(scalar_f64::<Host>(&t(&[1, 1], "i64")), Ok(1.0));
        assert_eq!(
            f32_values::<Host>(&t(&[2, 2], "bool"), "x").map(|v| v.len()),
            Ok(4)
        );
        assert_eq!(
            class_indices::<Host>(&t(&[3], "u8"), "x"),
            Ok(vec![1, 1, 1])
        );
        let imgs = images::<Host>(&t(&[5, 1, 2, 3], "u8"), Layout::Chw, 2).unwrap();
        assert_eq!((imgs.len(), imgs[0].size()), (2, (3, 2)));
        assert!(
            images::<Host>(&t(&[0, 1, 2, 3], "f32"), Layout::Chw, 2)
                .unwrap()
                .is_empty()
        );
    }
}
