//! The error type of the candle adapter.

use candle_core::DType;

/// Everything that can go wrong in labbook-candle. The messages name the tensor's shape or
/// dtype and what the helper needed.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use labbook_candle::{Error, Layout};
/// let t = Tensor::zeros((8, 8), DType::F32, &Device::Cpu)?; // rank 2: not an image
/// let err = labbook_candle::image(&t, Layout::Chw).unwrap_err();
/// assert!(matches!(err, Error::Rank { .. }));
/// assert_eq!(err.to_string(), "an image needs a tensor of rank 3 ([c, h, w] or [h, w, c]); this one has shape [8, 8]");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The run refused a value or is finished.
    #[error(transparent)]
    Labbook(#[from] labbook_core::Error),
    /// candle failed (reading a tensor back from its device, converting it, saving).
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// A tensor has a rank (or element count) the helper cannot use.
    #[error("{what} needs a tensor of {expected}; this one has shape {shape:?}")]
    Rank {
        /// What the tensor was for.
        what: &'static str,
        /// The ranks or sizes accepted.
        expected: &'static str,
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// A tensor has a dtype the helper cannot use.
    #[error("{what} cannot use a tensor of dtype {dtype:?}: {hint}")]
    DType {
        /// What the tensor was for.
        what: &'static str,
        /// The tensor's dtype.
        dtype: DType,
        /// What would work instead.
        hint: &'static str,
    },
    /// Images have 1, 3 or 4 channels.
    #[error(
        "images have 1, 3 or 4 channels; this {layout} tensor of shape {shape:?} has {channels}"
    )]
    Channels {
        /// The layout the tensor was read with.
        layout: &'static str,
        /// The tensor's shape.
        shape: Vec<usize>,
        /// The channels found.
        channels: usize,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
