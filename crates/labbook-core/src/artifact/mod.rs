//! Artifacts: building one ([`Artifact`]) and staging its files, and using an artifact
//! logged before ([`UsedArtifact`]). The record an artifact becomes in the log, with W&B's
//! digests, is the wire format's (`wire::artifact`); registry links are queued for the
//! uploader (`online::links`); a training loop's checkpoints as versions are in `train`.

mod builder;
mod staging;
pub(crate) mod using;

pub use builder::Artifact;
pub(crate) use builder::Snapshot;
pub(crate) use staging::Stager;
pub use using::UsedArtifact;
