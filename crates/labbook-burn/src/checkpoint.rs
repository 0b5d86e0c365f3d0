//! [`RecordedCheckpointer`]: burn's file checkpointer, recording each save in the run.

use std::path::{Path, PathBuf};

use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError, FileCheckpointer};
use labbook_core::train::ModelCheckpoints;
use labbook_core::{Run, SavePolicy, Value};

use crate::logger::EpochScores;

/// burn's `FileCheckpointer` (same files: `<dir>/<name>-<epoch>.bpk`) that records every
/// checkpoint it saves in the run: the file is kept with the run (`Run::save`, copied into
/// its `files/` now, so `wandb sync` uploads it) and the summary says
/// `checkpoint/<name>/epoch`, `checkpoint/<name>/file` and `checkpoint/<name>/epochs` (the
/// epochs whose files are still on disk). With [`log_models`](RecordedCheckpointer::log_models)
/// each saved checkpoint is also a version of a `model` artifact.
///
/// ```no_run
/// # fn docs(run: &labbook_core::Run) {
/// use labbook_burn::RecordedCheckpointer;
/// let dir = std::path::Path::new("artifacts/checkpoint");
/// // SupervisedTraining::new(..).with_custom_checkpointers(
/// //     RecordedCheckpointer::new(run, dir, "model"),
/// //     RecordedCheckpointer::new(run, dir, "optim").quiet(),
/// //     RecordedCheckpointer::new(run, dir, "scheduler").quiet())
/// # let _ = RecordedCheckpointer::new(run, dir, "model"); }
/// ```
pub struct RecordedCheckpointer {
    inner: FileCheckpointer,
    dir: PathBuf,
    name: String,
    run: Run,
    record: bool,
    kept: std::sync::Mutex<Vec<usize>>,
    models: Option<std::sync::Mutex<(ModelCheckpoints, EpochScores)>>,
}

impl std::fmt::Debug for RecordedCheckpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordedCheckpointer")
            .field("dir", &self.dir)
            .field("name", &self.name)
            .field("run", &self.run)
            .field("record", &self.record)
            .field("models", &self.models.is_some())
            .finish_non_exhaustive()
    }
}

impl RecordedCheckpointer {
    /// Saves to `<dir>/<name>-<epoch>.bpk` (creating `dir`) and records each save in `run`.
    pub fn new(run: &Run, dir: impl AsRef<Path>, name: &str) -> RecordedCheckpointer {
        RecordedCheckpointer {
            inner: FileCheckpointer::new(dir.as_ref(), name),
            dir: dir.as_ref().to_path_buf(),
            name: name.to_owned(),
            run: run.clone(),
            record: true,
            kept: std::sync::Mutex::new(Vec::new()),
            models: None,
        }
    }

    /// Logs each checkpoint saved as a version of a `model` artifact: `latest`,
    /// `epoch-<n>`, and `best` when its epoch's value of the models' metric (from `scores`,
    /// e.g. `valid/accuracy`) beats every earlier one.
    ///
    /// ```no_run
    /// # fn docs(run: &labbook_core::Run, logger: &labbook_burn::RunLogger) -> labbook_core::Result<()> {
    /// use labbook_core::Goal;
    /// use labbook_core::train::ModelCheckpoints;
    /// let models = ModelCheckpoints::new(run, "shapes-cnn")?.best_by("valid/accuracy", Goal::Maximize);
    /// let ckpt = labbook_burn::RecordedCheckpointer::new(run, "artifacts/checkpoint", "model")
    ///     .log_models(models, logger.epoch_scores());
    /// # let _ = ckpt; Ok(()) }
    /// ```
    pub fn log_models(
        mut self,
        models: ModelCheckpoints,
        scores: EpochScores,
    ) -> RecordedCheckpointer {
        self.models = Some(std::sync::Mutex::new((models, scores)));
        self
    }

    /// Saves without recording (for the optimizer and scheduler states, say).
    pub fn quiet(mut self) -> RecordedCheckpointer {
        self.record = false;
        self
    }

    /// The file of an epoch's checkpoint.
    pub fn path(&self, epoch: usize) -> PathBuf {
        self.dir.join(format!("{}-{}.bpk", self.name, epoch))
    }

    fn note(&self, epoch: usize, saved: bool) {
        if !self.record {
            return;
        }
        let kept = {
            let mut k = crate::logger::lock(&self.kept);
            k.retain(|e| *e != epoch);
            if saved {
                k.push(epoch);
            }
            k.sort_unstable();
            k.clone()
        };
        let n = &self.name;
        let mut r = self.run.set_summary(
            format!("checkpoint/{n}/epochs"),
            Value::List(kept.into_iter().map(Value::from).collect()),
        );
        if saved {
            let path = self.path(epoch);
            r = r
                .and(self.run.set_summary(format!("checkpoint/{n}/epoch"), epoch))
                .and(
                    self.run
                        .set_summary(format!("checkpoint/{n}/file"), path.display().to_string()),
                )
                .and(self.run.save(
                    &glob::Pattern::escape(&path.to_string_lossy()),
                    SavePolicy::Now,
                ));
        }
        if saved && let Some(models) = &self.models {
            let mut m = crate::logger::lock(models);
            let (models, scores) = &mut *m;
            let score = models.metric().and_then(|metric| scores.get(metric, epoch));
            r = r.and(models.log(self.path(epoch), epoch, score).map(|_| ()));
        }
        if let Err(e) = r {
            tracing::warn!(target: "labbook", "labbook-burn could not record checkpoint {n} of epoch {epoch}: {e}");
        }
    }
}

impl<R: Checkpoint> Checkpointer<R> for RecordedCheckpointer {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        Checkpointer::<R>::save(&self.inner, epoch, record)?;
        self.note(epoch, true);
        Ok(())
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        Checkpointer::<R>::delete(&self.inner, epoch)?;
        self.note(epoch, false);
        Ok(())
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        self.inner.restore(epoch)
    }
}
