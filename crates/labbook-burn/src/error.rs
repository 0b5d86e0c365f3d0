//! The error type of the burn adapter.

/// Everything that can go wrong in labbook-burn.
///
/// ```
/// use labbook_burn::{BatchLayout, Error};
/// # let device = burn::tensor::Device::default();
/// let t = burn::tensor::Tensor::<4>::zeros([1, 2, 8, 8], &device); // 2 channels
/// assert!(matches!(labbook_burn::images(t, BatchLayout::Nchw, 4), Err(Error::Shape(_))));
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
    #[error("could not convert tensor data: {0}")]
    Data(String),
    /// A tensor has a shape the helper cannot use (named in the message).
    #[error("unusable tensor shape: {0}")]
    Shape(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
