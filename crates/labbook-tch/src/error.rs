//! The error type of the tch adapter.

use tch::Kind;

/// Everything that can go wrong in labbook-tch. The messages name the tensor's shape or
/// kind and what the helper needed.
///
/// ```
/// use labbook_tch::{Error, Layout};
/// let t = tch::Tensor::zeros([8, 8], (tch::Kind::Float, tch::Device::Cpu)); // rank 2
/// let err = labbook_tch::image(&t, Layout::Chw).unwrap_err();
/// assert!(matches!(err, Error::Rank { .. }));
/// assert_eq!(err.to_string(), "an image needs a tensor of rank 3 ([c, h, w] or [h, w, c]); this one has shape [8, 8]");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The run refused a value or is finished.
    #[error(transparent)]
    Labbook(#[from] labbook_core::Error),
    /// libtorch failed (reading a tensor back from its device, converting it, saving).
    #[error("tch: {0}")]
    Tch(#[from] tch::TchError),
    /// A tensor has a rank (or element count) the helper cannot use.
    #[error("{what} needs a tensor of {expected}; this one has shape {shape:?}")]
    Rank {
        /// What the tensor was for.
        what: &'static str,
        /// The ranks or sizes accepted.
        expected: &'static str,
        /// The tensor's shape.
        shape: Vec<i64>,
    },
    /// A tensor has a kind (dtype) the helper cannot use.
    #[error("{what} cannot use a tensor of kind {kind:?}: {hint}")]
    Kind {
        /// What the tensor was for.
        what: &'static str,
        /// The tensor's kind.
        kind: Kind,
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
        shape: Vec<i64>,
        /// The channels found.
        channels: i64,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
