//! The network half as labbook is built without its `online` feature. Online mode is
//! refused when settings are resolved, so no [`OnlineSettings`] (and so no uploader) can
//! exist; the functions a run calls on them are here so the run compiles the same either
//! way, and each is an empty `match` on a value that cannot exist.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::download::{Downloaded, Wanted};
use super::{OnlineSettings, SyncReport};
use crate::error::Result;
use crate::store::RunLock;

/// A type with no values.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Never {}

/// An online run's uploader: none exists in this build.
#[derive(Debug)]
pub(crate) enum Live {}

impl Live {
    pub(crate) fn start(
        o: &OnlineSettings,
        _log: PathBuf,
        _files: PathBuf,
        _lock: Arc<RunLock>,
    ) -> Result<Live> {
        match o.unbuilt {}
    }

    pub(crate) fn should_stop(&self) -> bool {
        match *self {}
    }

    pub(crate) fn url(&self) -> Option<String> {
        match *self {}
    }

    pub(crate) fn finish(&self, _timeout: Duration) -> std::result::Result<SyncReport, String> {
        match *self {}
    }
}

pub(crate) fn remote_resume(
    o: &OnlineSettings,
    _entity: &str,
    _project: &str,
    _id: &str,
) -> Result<Option<crate::wire::ResumeFrom>> {
    match o.unbuilt {}
}

/// `use_artifact` from a server.
pub(crate) fn download(
    o: &OnlineSettings,
    _wanted: &Wanted<'_>,
    _download_dir: &Path,
) -> Result<Downloaded> {
    match o.unbuilt {}
}

/// An artifact version's metadata from a server.
pub(crate) fn metadata(o: &OnlineSettings, _wanted: &Wanted<'_>) -> Result<Option<String>> {
    match o.unbuilt {}
}
