//! How far an interrupted upload got, saved beside the log as `<file>.wandb.upload`: the
//! byte offset in the log up to which every record is on the server, the line offsets of
//! the file_stream files, and how many queued registry links were applied. One unit (the
//! log's own bytes) for every writer of the file, so a live upload, a first `labbook sync`
//! and a resumed one agree on what is done.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The position file's format; a file without it was written by labbook 0.1.0, which
/// counted records in two different ways, and is not trusted.
const VERSION: u32 = 2;

/// How far an upload got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadPosition {
    /// The byte offset in the log just past the last record whose upload is complete:
    /// records ending at or before it are only replayed, for their state.
    pub log_offset: u64,
    /// Lines sent of `wandb-history.jsonl`, `wandb-events.jsonl` and `output.log`.
    pub offsets: [u64; 3],
    /// Registry links (`labbook-links.jsonl`, in order) already applied.
    #[serde(default)]
    pub links: u64,
}

/// What a log's position file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SavedPosition {
    /// No upload of this log was interrupted.
    None,
    /// An upload stopped here.
    At(UploadPosition),
    /// A file that cannot be trusted (torn, empty, from an older release): the upload asks
    /// the server what it holds instead. Says why.
    AskServer(String),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct OnDisk {
    version: u32,
    #[serde(flatten)]
    position: UploadPosition,
}

/// The file an upload's position is saved in: `<file>.wandb.upload`.
pub fn position_file(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".upload");
    PathBuf::from(name)
}

impl UploadPosition {
    /// The position saved for `log`. Only an unreadable file (permissions, I/O) is an
    /// error; one whose contents cannot be trusted is [`SavedPosition::AskServer`].
    ///
    /// ```
    /// use labbook_core::online::{SavedPosition, UploadPosition};
    /// let dir = tempfile::tempdir()?;
    /// let log = dir.path().join("run-x.wandb");
    /// assert_eq!(UploadPosition::load(&log)?, SavedPosition::None);
    /// std::fs::write(labbook_core::online::position_file(&log), b"{\"records\":")?;
    /// assert!(matches!(UploadPosition::load(&log)?, SavedPosition::AskServer(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(log: &Path) -> Result<SavedPosition> {
        let path = position_file(log);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SavedPosition::None),
            Err(e) => {
                return Err(Error::Io {
                    context: "could not read",
                    path,
                    source: e,
                });
            }
        };
        let value: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                return Ok(SavedPosition::AskServer(format!(
                    "{} is unreadable ({e})",
                    path.display()
                )));
            }
        };
        if value.get("version").and_then(serde_json::Value::as_u64) != Some(VERSION.into()) {
            return Ok(SavedPosition::AskServer(format!(
                "{} was written by an older labbook",
                path.display()
            )));
        }
        match serde_json::from_value::<OnDisk>(value) {
            Ok(d) => Ok(SavedPosition::At(d.position)),
            Err(e) => Ok(SavedPosition::AskServer(format!(
                "{} is unreadable ({e})",
                path.display()
            ))),
        }
    }

    /// Saves the position for `log`, atomically: a crash leaves the old file or the new
    /// one, never a torn one.
    pub(crate) fn save(&self, log: &Path) -> Result<()> {
        let on_disk = OnDisk {
            version: VERSION,
            position: *self,
        };
        let bytes = serde_json::to_vec(&on_disk).unwrap_or_default();
        crate::store::write_atomically(&position_file(log), &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_round_trips_and_bad_files_ask_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("run-x.wandb");
        let pos = UploadPosition {
            log_offset: 4096,
            offsets: [20, 3, 7],
            links: 1,
        };
        pos.save(&log).unwrap();
        assert_eq!(UploadPosition::load(&log).unwrap(), SavedPosition::At(pos));
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        for bad in [
            &b""[..],
            b"{\"version\":2,\"log_off",
            b"{\"records\":12,\"offsets\":[3,0,0]}",
            b"{\"version\":2}",
            b"[]",
        ] {
            std::fs::write(position_file(&log), bad).unwrap();
            let got = UploadPosition::load(&log).unwrap();
            assert!(
                matches!(got, SavedPosition::AskServer(_)),
                "{:?}: {got:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
