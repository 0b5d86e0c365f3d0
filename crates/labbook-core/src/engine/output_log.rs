//! `files/output.log`: the run's console text, for people and for the uploader, appended
//! by the worker as the console lines arrive.

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;

/// The output log, opened on the first line. A failure to open or write it is warned about
/// once; the lines stay in the transaction log.
pub(crate) struct OutputLog {
    path: PathBuf,
    file: Option<File>,
    failed: bool,
}

impl OutputLog {
    pub(crate) fn new(path: PathBuf) -> OutputLog {
        OutputLog {
            path,
            file: None,
            failed: false,
        }
    }

    pub(crate) fn append(&mut self, line: &str) {
        if self.failed {
            return;
        }
        if self.file.is_none() {
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
            {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    self.failed = true;
                    tracing::warn!(target: "labbook", "could not open {}: {e}; console output is only in the transaction log", self.path.display());
                    return;
                }
            }
        }
        if let Some(f) = &mut self.file
            && let Err(e) = f.write_all(line.as_bytes())
        {
            self.failed = true;
            tracing::warn!(target: "labbook", "could not write {}: {e}", self.path.display());
        }
    }
}
