//! The rules of the server, apart from how they are asked for (W&B's protocol, labbook's
//! own API) and how they are kept (the stores): which entity and project a run falls in
//! when a request names none, what a run is called, how a `file_stream` request is split
//! into streams, how an artifact name resolves to a version, when a multipart upload is
//! whole. No HTTP and no SQL here.

mod alerts;
mod artifacts;
mod history;
mod names;
mod probe;
mod run_filter;
mod runs;

use std::sync::Arc;

pub use alerts::WebhookRetry;
pub(crate) use artifacts::{Membership, MultipartEnd};
pub(crate) use history::{HistorySpec, state as run_state};
pub(crate) use run_filter::{RunFilter, RunOrder};
pub(crate) use runs::{StreamFlags, UpsertInput};

use crate::store::{BlobStore, MetaStore, StoreError};

/// Bytes to keep: a request's body, or a file to stream in (an import from a watched
/// directory; a checkpoint of gigabytes never sits in memory).
#[derive(Debug)]
pub(crate) enum Content {
    Bytes(bytes::Bytes),
    File(std::path::PathBuf),
}

impl From<bytes::Bytes> for Content {
    fn from(bytes: bytes::Bytes) -> Content {
        Content::Bytes(bytes)
    }
}

/// Why a request could not be done.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServiceError {
    /// The request is wrong (names something that does not exist, contradicts itself).
    #[error("{0}")]
    Invalid(String),
    /// The caller may not use the entity named.
    #[error("{0}")]
    Forbidden(String),
    /// The store cannot take it now; the client should retry.
    #[error("{0}")]
    Unavailable(String),
}

/// Refuses a caller who may not use `entity` (not theirs, not one of their teams').
pub(crate) fn allow(caller: &crate::store::Caller, entity: &str) -> ServiceResult<()> {
    if caller.may_use(entity) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(format!(
            "user `{}` may not use entity `{entity}`",
            caller.user
        )))
    }
}

impl ServiceError {
    pub(crate) fn invalid(message: impl Into<String>) -> ServiceError {
        ServiceError::Invalid(message.into())
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> ServiceError {
        match error {
            StoreError::NotFound(m) | StoreError::Conflict(m) => ServiceError::Invalid(m),
            StoreError::Unavailable(_) => ServiceError::Unavailable(error.to_string()),
        }
    }
}

pub(crate) type ServiceResult<T> = Result<T, ServiceError>;

/// The stores and what the server answers for a request that names no entity.
#[derive(Clone, Debug)]
pub(crate) struct Service {
    pub(crate) meta: Arc<dyn MetaStore>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    /// The viewer's entity, for runs whose request names none.
    pub(crate) entity: String,
    /// Shared by every "put bytes, then the row naming them", exclusive for collecting
    /// orphan blobs: a collection never removes bytes whose row is about to be committed
    /// (the same content uploaded again finds the file there and writes nothing). This
    /// holds within one server process, which owns its data directory; blobs shared by
    /// several servers would need a grace period instead.
    blob_rows: Arc<tokio::sync::RwLock<()>>,
    /// Woken when an alert queued deliveries.
    pub(crate) deliveries_waiting: Arc<tokio::sync::Notify>,
}

impl Service {
    pub(crate) fn new(
        meta: Arc<dyn MetaStore>,
        blobs: Arc<dyn BlobStore>,
        entity: String,
    ) -> Service {
        Service {
            meta,
            blobs,
            entity,
            blob_rows: Arc::default(),
            deliveries_waiting: Arc::default(),
        }
    }

    /// Keeps `content` in `scope`.
    pub(crate) async fn put_blob(
        &self,
        scope: &str,
        content: Content,
    ) -> ServiceResult<crate::store::BlobId> {
        Ok(match content {
            Content::Bytes(bytes) => self.blobs.put(scope, bytes).await?,
            Content::File(path) => self.blobs.put_file(scope, &path).await?,
        })
    }

    /// Held while bytes are put and the row naming them is written.
    pub(crate) async fn putting(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.blob_rows.read().await
    }

    /// Removes the bytes of orphan blobs (named by no row any more) and forgets them;
    /// answers how many were removed. Runs after a deletion and when the server starts
    /// (collecting what a crash left).
    pub(crate) async fn collect_orphans(&self) -> ServiceResult<usize> {
        let _exclusive = self.blob_rows.write().await;
        let orphans = self.meta.orphan_blobs().await?;
        for blob in &orphans.unreferenced {
            self.blobs.delete(blob).await?;
        }
        let mut done = orphans.unreferenced;
        let removed = done.len();
        done.extend(orphans.named_again);
        if !done.is_empty() {
            self.meta.forget_orphans(&done).await?;
        }
        Ok(removed)
    }
}
