//! What can go wrong reading a log: the file cannot be read, or it is not a W&B log.

use std::path::PathBuf;

/// A log could not be read.
///
/// ```
/// let err = labbook_wire::read_log("/no/such/run.wandb").unwrap_err();
/// assert!(matches!(err, labbook_wire::Error::Io { .. }));
/// assert!(err.to_string().contains("/no/such/run.wandb"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{context} {path}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a W&B log, or is corrupt where a reader cannot stop cleanly.
    #[error("{path}: {reason}")]
    CorruptLog {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the byte offset.
        reason: String,
    },
}

impl Error {
    /// Wraps an I/O error with what was being done and the file it was done to.
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            context,
            path,
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
