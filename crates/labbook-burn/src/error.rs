//! The error type of the burn adapter.

/// Everything that can go wrong in labbook-burn.
///
/// ```
/// use labbook_burn::{Error, Layout};
/// # let device = burn::tensor::Device::default();
/// let t = burn::tensor::Tensor::<4>::zeros([1, 2, 8, 8], &device); // 2 channels
/// let err = labbook_burn::images(t, Layout::Chw, 4).unwrap_err();
/// assert!(matches!(err, Error::Channels { channels: 2, .. }));
/// assert_eq!(err.to_string(), "images have 1, 3 or 4 channels; this NCHW tensor of shape [1, 2, 8, 8] has 2");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The run refused a value or is finished.
    #[error(transparent)]
    Labbook(#[from] labbook_core::Error),
    /// A tensor could not be read back from its device.
    #[error("could not read a tensor: {0}")]
    TensorRead(#[from] burn::tensor::TensorReadError),
    /// Tensor data could not be converted to the element type asked for.
    #[error("could not convert tensor data to {to}: {reason}")]
    Data {
        /// The element type asked for.
        to: &'static str,
        /// What burn said.
        reason: String,
    },
    /// A tensor has a size the helper cannot use.
    #[error("{what} needs a tensor of {expected}; this one has shape {shape:?}")]
    Rank {
        /// What the tensor was for.
        what: &'static str,
        /// The sizes accepted.
        expected: &'static str,
        /// The tensor's shape.
        shape: Vec<usize>,
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
