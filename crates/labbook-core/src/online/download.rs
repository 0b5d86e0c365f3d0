//! What `run.use_artifact` asks a server for and gets back. The requests are `fetch`'s
//! (built with the `online` feature); without it, no `OnlineSettings` exists to ask with.

use std::path::PathBuf;

#[cfg(feature = "online")]
pub(crate) use super::fetch::{download, download_to, metadata};
#[cfg(not(feature = "online"))]
pub(crate) use super::unbuilt::{download, metadata};

/// The version wanted.
pub(crate) struct Wanted<'a> {
    /// `None`: the key's own entity (asked with Viewer).
    pub entity: Option<&'a str>,
    pub project: &'a str,
    /// The collection.
    pub name: &'a str,
    /// `name:alias`, as the server looks it up and as messages show it.
    pub shown: &'a str,
}

/// A version downloaded into `dir`.
pub(crate) struct Downloaded {
    pub id: String,
    pub kind: String,
    /// `vN`.
    pub version: String,
    pub digest: String,
    pub dir: PathBuf,
    /// Entry paths, sorted.
    pub files: Vec<String>,
}
