//! The rules of the server, apart from how they are asked for (W&B's protocol, labbook's
//! own API) and how they are kept (the stores): which entity and project a run falls in
//! when a request names none, what a run is called, how a `file_stream` request is split
//! into streams, how an artifact name resolves to a version, when a multipart upload is
//! whole. No HTTP and no SQL here.

mod artifacts;
mod runs;

use std::sync::Arc;

pub(crate) use artifacts::{Membership, MultipartEnd};
pub(crate) use runs::UpsertInput;

use crate::store::{BlobStore, MetaStore, StoreError};

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
        }
    }
}
