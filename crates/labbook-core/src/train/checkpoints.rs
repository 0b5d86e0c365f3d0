//! [`ModelCheckpoints`]: each checkpoint a training loop saves becomes a version of a
//! `model` artifact, `latest` always and `best` when it beats every earlier one by a chosen
//! metric. The framework adapters' checkpoint hooks use it.

use std::path::Path;

use serde_json::json;

use crate::artifact::Artifact;
use crate::engine::metric::Goal;
use crate::error::Result;
use crate::run::Run;

/// Logs checkpoints as versions of one `model` artifact. Every version gets the aliases
/// `latest` and `epoch-<n>`; with [`best_by`](ModelCheckpoints::best_by), one whose score
/// beats every earlier one also gets `best`, so `run.use_artifact("name:best")` finds it.
/// The metadata holds the epoch and the score; a resumed run picks up the best score from
/// the earlier `best` version, so a worse checkpoint after a restart is not marked best.
///
/// ```no_run
/// use labbook_core::Goal;
/// use labbook_core::train::ModelCheckpoints;
/// # let run = labbook_core::Run::disabled();
/// let mut models = ModelCheckpoints::new(&run, "shapes-cnn")?.best_by("valid/accuracy", Goal::Maximize);
/// // after saving epoch 3's weights, with its validation accuracy:
/// let best = models.log("ckpt/epoch-3.safetensors", 3, Some(0.91))?;
/// # let _ = best;
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ModelCheckpoints {
    run: Run,
    name: String,
    best_by: Option<(String, Goal)>,
    best: Option<f64>,
    /// Whether `best` was looked up in a resumed run's earlier versions yet.
    seeded: bool,
}

impl ModelCheckpoints {
    /// Versions of the artifact `name` (letters, digits, `-`, `_`, `.`) in `run`.
    pub fn new(run: &Run, name: &str) -> Result<ModelCheckpoints> {
        // The name is checked now rather than at the first checkpoint.
        Artifact::new(name, "model")?;
        Ok(ModelCheckpoints {
            run: run.clone(),
            name: name.to_owned(),
            best_by: None,
            best: None,
            seeded: false,
        })
    }

    /// Marks `best` the checkpoint with the best score of `metric` so far (`goal` says
    /// whether larger or smaller is better).
    pub fn best_by(mut self, metric: impl Into<String>, goal: Goal) -> ModelCheckpoints {
        self.best_by = Some((metric.into(), goal));
        self
    }

    /// The metric `best` is judged by, if any.
    pub fn metric(&self) -> Option<&str> {
        self.best_by.as_ref().map(|(m, _)| m.as_str())
    }

    /// The artifact's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Logs the checkpoint at `path` (a file or a directory) as the next version. `score`
    /// is the chosen metric's value for it (a missing or non-finite one is never best).
    /// Returns whether it became `best`. The files are copied and hashed on a thread of
    /// their own; the call returns at once.
    pub fn log(
        &mut self,
        path: impl AsRef<Path>,
        epoch: usize,
        score: Option<f64>,
    ) -> Result<bool> {
        let path = path.as_ref();
        let score = score.filter(|s| s.is_finite());
        // A resumed run goes on from the score of the version that was best before it.
        if !self.seeded {
            self.seeded = true;
            if let Some((metric, _)) = &self.best_by {
                self.best = self
                    .run
                    .resumed_artifact_metadata(&format!("{}:best", self.name))
                    .and_then(|m| m[metric.as_str()].as_f64());
            }
        }
        let is_best = match (&self.best_by, score) {
            (Some((_, goal)), Some(s)) => self.best.is_none_or(|b| match goal {
                Goal::Maximize => s > b,
                Goal::Minimize => s < b,
            }),
            _ => false,
        };
        let mut aliases = vec![format!("epoch-{epoch}")];
        if is_best {
            aliases.push("best".to_owned());
        }
        let mut metadata = json!({"epoch": epoch});
        if let (Some((metric, _)), Some(s)) = (&self.best_by, score) {
            metadata[metric] = json!(s);
        }
        let mut artifact = Artifact::new(&self.name, "model")?
            .aliases(aliases)
            .metadata(&metadata);
        if path.is_dir() {
            artifact.add_dir(path, None)?;
        } else {
            artifact.add_file(path, None)?;
        }
        self.run.log_artifact(artifact)?;
        if is_best {
            self.best = score;
        }
        Ok(is_best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_follows_the_goal_and_ignores_missing_scores() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("w.bin");
        std::fs::write(&file, [1u8]).unwrap();
        let run = Run::disabled();
        let mut max = ModelCheckpoints::new(&run, "m")
            .unwrap()
            .best_by("acc", Goal::Maximize);
        let marks: Vec<bool> = [Some(0.5), Some(0.4), None, Some(f64::NAN), Some(0.7)]
            .into_iter()
            .enumerate()
            .map(|(e, s)| max.log(&file, e, s).unwrap())
            .collect();
        assert_eq!(marks, [true, false, false, false, true]);
        let mut min = ModelCheckpoints::new(&run, "m")
            .unwrap()
            .best_by("loss", Goal::Minimize);
        assert!(min.log(&file, 0, Some(2.0)).unwrap());
        assert!(min.log(&file, 1, Some(1.0)).unwrap());
        assert!(!min.log(&file, 2, Some(1.5)).unwrap());
        let mut none = ModelCheckpoints::new(&run, "m").unwrap();
        assert!(!none.log(&file, 0, Some(1.0)).unwrap());
        assert!(ModelCheckpoints::new(&run, "bad name").is_err());
        assert!(none.log(d.path().join("missing"), 1, None).is_err());
    }
}
