//! Tensors to labbook media: images (NCHW/NHWC, f32 in [0, 1] or u8) and histograms.

use burn::tensor::{DType, Int, Tensor, TensorData};
use labbook_core::media::{BatchPixels, Histogram, Image, Layout, Video};

use crate::error::{Error, Result};

fn vec<E: burn::tensor::Element>(data: TensorData) -> Result<Vec<E>> {
    data.try_into_vec::<E>().map_err(|e| Error::Data {
        to: std::any::type_name::<E>(),
        reason: format!("{e:?}"),
    })
}

fn read<const D: usize>(tensor: Tensor<D>) -> Result<BatchPixels> {
    Ok(if tensor.dtype() == DType::U8 {
        BatchPixels::U8(vec(tensor.try_into_data_as::<u8>()?)?)
    } else {
        BatchPixels::F32(vec(tensor.try_into_data_as::<f32>()?)?)
    })
}

/// Channels, width and height of the images of a batch of `dims` read as `layout`.
fn geometry(dims: [usize; 4], layout: Layout) -> Result<(u8, u32, u32)> {
    let [_, a, b, c] = dims;
    let (channels, height, width, name) = match layout {
        Layout::Chw => (a, b, c, "NCHW"),
        Layout::Hwc => (c, a, b, "NHWC"),
    };
    if !matches!(channels, 1 | 3 | 4) {
        return Err(Error::Channels {
            layout: name,
            shape: dims.to_vec(),
            channels,
        });
    }
    let side = |v: usize| {
        u32::try_from(v).map_err(|_| Error::Rank {
            what: "an image",
            expected: "sides below 2^32 pixels",
            shape: dims.to_vec(),
        })
    };
    Ok((channels as u8, side(width)?, side(height)?))
}

fn split_batch(
    pixels: BatchPixels,
    dims: [usize; 4],
    layout: Layout,
    n: usize,
) -> Result<Vec<Image>> {
    let (channels, width, height) = geometry(dims, layout)?;
    Ok(Image::split_batch(
        &pixels, n, channels, width, height, layout,
    )?)
}

/// A video from a rank-4 tensor of frames, `[t, c, h, w]` ([`Layout::Chw`]) or
/// `[t, h, w, c]` ([`Layout::Hwc`]), with 1, 3 or 4 channels: f32 pixels in [0, 1]
/// (clamped) or u8; played at `fps` frames per second.
///
/// ```
/// # let device = burn::tensor::Device::default();
/// let frames = burn::tensor::Tensor::<4>::zeros([8, 3, 16, 16], &device);
/// let v = labbook_burn::video(frames, labbook_burn::Layout::Chw, 4)?;
/// # let _ = v;
/// # Ok::<(), labbook_burn::Error>(())
/// ```
pub fn video(tensor: Tensor<4>, layout: Layout, fps: u32) -> Result<Video> {
    let dims = tensor.dims();
    let (channels, width, height) = geometry(dims, layout)?;
    let px = read(tensor)?;
    Ok(Video::from_pixels(
        layout, dims[0], channels, height, width, px, fps,
    )?)
}

/// The first `max` images of a batch tensor: f32 pixels in [0, 1] (clamped) or, for a tensor
/// of dtype u8, 0..=255. Reads the tensor back from its device (only the images taken are
/// copied into the result).
///
/// ```
/// use labbook_burn::{Layout, images};
/// # let device = burn::tensor::Device::default();
/// let batch = burn::tensor::Tensor::<4>::zeros([8, 1, 28, 28], &device);
/// let imgs = images(batch, Layout::Chw, 4)?;
/// assert_eq!((imgs.len(), imgs[0].size()), (4, (28, 28)));
/// # Ok::<(), labbook_burn::Error>(())
/// ```
pub fn images(tensor: Tensor<4>, layout: Layout, max: usize) -> Result<Vec<Image>> {
    let dims = tensor.dims();
    // Checked before anything is read back from the device.
    geometry(dims, layout)?;
    let n = dims[0].min(max);
    if n == 0 {
        return Ok(Vec::new());
    }
    let tensor = if n < dims[0] {
        tensor.narrow(0, 0, n)
    } else {
        tensor
    };
    split_batch(read(tensor)?, dims, layout, n)
}

/// [`images`] for an integer tensor holding 0..=255 pixels (values outside are clamped).
///
/// ```
/// use labbook_burn::{Layout, images_u8};
/// # let device = burn::tensor::Device::default();
/// let batch = burn::tensor::Tensor::<4, burn::tensor::Int>::zeros([2, 8, 8, 3], &device);
/// assert_eq!(images_u8(batch, Layout::Hwc, 8)?.len(), 2);
/// # Ok::<(), labbook_burn::Error>(())
/// ```
pub fn images_u8(tensor: Tensor<4, Int>, layout: Layout, max: usize) -> Result<Vec<Image>> {
    let dims = tensor.dims();
    geometry(dims, layout)?;
    let n = dims[0].min(max);
    if n == 0 {
        return Ok(Vec::new());
    }
    let tensor = tensor.narrow(0, 0, n).clamp(0, 255);
    let values: Vec<u8> = vec::<i32>(tensor.try_into_data_as::<i32>()?)?
        .into_iter()
        .map(|v| v as u8)
        .collect();
    split_batch(BatchPixels::U8(values), dims, layout, n)
}

/// One image from a 3-D tensor, `[c, h, w]` ([`Layout::Chw`]) or `[h, w, c]`
/// ([`Layout::Hwc`]).
///
/// ```
/// # let device = burn::tensor::Device::default();
/// let t = burn::tensor::Tensor::<3>::ones([3, 16, 16], &device);
/// let img = labbook_burn::image(t, labbook_burn::Layout::Chw)?;
/// assert_eq!(img.size(), (16, 16));
/// # Ok::<(), labbook_burn::Error>(())
/// ```
pub fn image(tensor: Tensor<3>, layout: Layout) -> Result<Image> {
    let shape = tensor.dims().to_vec();
    let mut v = images(tensor.unsqueeze_dim(0), layout, 1)?;
    v.pop().ok_or(Error::Rank {
        what: "an image",
        expected: "at least one pixel",
        shape,
    })
}

/// A histogram of every value of a tensor (64 bins, as `wandb.Histogram`); the values are
/// read back now and binned on labbook's worker thread.
///
/// ```
/// # let device = burn::tensor::Device::default();
/// let w = burn::tensor::Tensor::<2>::ones([4, 4], &device);
/// let h = labbook_burn::histogram(w)?;
/// # let _ = h;
/// # Ok::<(), labbook_burn::Error>(())
/// ```
pub fn histogram<const D: usize>(tensor: Tensor<D>) -> Result<Histogram> {
    Ok(Histogram::from_f32(f32_values(tensor)?))
}

pub(crate) fn f32_values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    vec(tensor.try_into_data_as::<f32>()?)
}
