//! What a run is called while it runs: its name, tags and notes can change after `init`
//! (each change is a run record update, which `wandb sync` and the live uploader send as
//! the official client does), and its getters.

use crate::engine::queue::{Msg, Names};
use crate::error::{Error, Result};

use super::handle::{Kind, Run};

/// The longest tag W&B accepts (its server refuses longer ones).
const MAX_TAG: usize = 64;

fn check_tag(tag: &str) -> Result<()> {
    if tag.trim().is_empty() || tag.chars().count() > MAX_TAG {
        return Err(Error::InvalidSetting {
            name: format!("tag {tag:?}"),
            reason: format!("a tag has 1 to {MAX_TAG} characters, not only spaces"),
        });
    }
    Ok(())
}

impl Run {
    /// The run's display name as last set (empty when the server is to choose one).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let run = labbook_core::init(labbook_core::Settings::new("p").name("base").dir(dir.path()).quiet(true))?;
    /// run.set_name("base-lr0.1")?;
    /// assert_eq!(run.name(), "base-lr0.1");
    /// run.finish()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> String {
        match &self.kind {
            Kind::Disabled(d) => d.names.lock().name.clone(),
            Kind::Active(i) => i.names.lock().name.clone(),
        }
    }

    /// The run's tags as last set.
    pub fn tags(&self) -> Vec<String> {
        match &self.kind {
            Kind::Disabled(d) => d.names.lock().tags.clone(),
            Kind::Active(i) => i.names.lock().tags.clone(),
        }
    }

    /// The run's notes as last set.
    pub fn notes(&self) -> String {
        match &self.kind {
            Kind::Disabled(d) => d.names.lock().notes.clone(),
            Kind::Active(i) => i.names.lock().notes.clone(),
        }
    }

    /// The project the run belongs to.
    pub fn project(&self) -> &str {
        match &self.kind {
            Kind::Disabled(d) => &d.project,
            Kind::Active(i) => &i.artifacts.project,
        }
    }

    /// Renames the run (W&B's `run.name = ...`). A name containing
    /// [`SCORE_PLACEHOLDER`](crate::Settings::SCORE_PLACEHOLDER) is still completed at
    /// `finish`.
    pub fn set_name(&self, name: impl Into<String>) -> Result<()> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(Error::InvalidSetting {
                name: "run name".into(),
                reason: "a name cannot be empty or only spaces".into(),
            });
        }
        self.change(|n| n.name = name)
    }

    /// Replaces the run's tags (W&B's `run.tags = (...)`); duplicates are kept once.
    ///
    /// ```
    /// let run = labbook_core::Run::disabled();
    /// run.set_tags(["baseline", "resnet"])?;
    /// run.add_tags(["resnet", "fp16"])?;
    /// assert_eq!(run.tags(), ["baseline", "resnet", "fp16"]);
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn set_tags<T: Into<String>>(&self, tags: impl IntoIterator<Item = T>) -> Result<()> {
        let tags = checked_tags(tags)?;
        self.change(|n| {
            n.tags.clear();
            push_new(&mut n.tags, tags);
        })
    }

    /// Adds tags to the run's, keeping the ones it has.
    pub fn add_tags<T: Into<String>>(&self, tags: impl IntoIterator<Item = T>) -> Result<()> {
        let tags = checked_tags(tags)?;
        self.change(|n| push_new(&mut n.tags, tags))
    }

    /// Replaces the run's notes (W&B's `run.notes = ...`).
    pub fn set_notes(&self, notes: impl Into<String>) -> Result<()> {
        let notes = notes.into();
        self.change(|n| n.notes = notes)
    }

    /// Tells the run that `key` is logged in percent (burn's accuracy is), so a final-score
    /// name shows it as a fraction like every other metric: `accuracy0.912`, not
    /// `accuracy91.200`. What is logged keeps its percent.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use labbook_core::{Settings, Value};
    /// let run = labbook_core::init(
    ///     Settings::new("p").dir(dir.path()).quiet(true).name("cnn").score_metrics(["valid/accuracy"]),
    /// )?;
    /// run.score_in_percent("valid/accuracy")?;
    /// run.log([("valid/accuracy", Value::from(91.2))])?;
    /// assert_eq!(run.finish()?.name, "cnn_accuracy0.912");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn score_in_percent(&self, key: impl Into<String>) -> Result<()> {
        let Kind::Active(i) = &self.kind else {
            return Ok(());
        };
        let key = key.into();
        let bytes = 64 + key.len();
        i.send(Msg::Percent(key), bytes)
    }

    /// Applies a change and, for a recording run, queues the run record update. Changes
    /// that change nothing send nothing.
    fn change(&self, f: impl FnOnce(&mut Names)) -> Result<()> {
        match &self.kind {
            Kind::Disabled(d) => {
                f(&mut d.names.lock());
                Ok(())
            }
            Kind::Active(i) => {
                // Held across the send so that two threads' changes reach the log in the
                // order their names were set.
                let mut names = i.names.lock();
                let mut next = names.clone();
                f(&mut next);
                if next == *names {
                    return Ok(());
                }
                let bytes = 64
                    + next.name.len()
                    + next.notes.len()
                    + next.tags.iter().map(String::len).sum::<usize>();
                i.send(Msg::Names(next.clone()), bytes)?;
                *names = next;
                Ok(())
            }
        }
    }
}

fn checked_tags<T: Into<String>>(tags: impl IntoIterator<Item = T>) -> Result<Vec<String>> {
    let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
    for t in &tags {
        check_tag(t)?;
    }
    Ok(tags)
}

fn push_new(have: &mut Vec<String>, tags: Vec<String>) {
    for t in tags {
        if !have.contains(&t) {
            have.push(t);
        }
    }
}
