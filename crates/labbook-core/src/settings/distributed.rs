//! Multi-process training: which process this is (torchrun's `RANK`/`LOCAL_RANK`/
//! `WORLD_SIZE`, or SLURM's `SLURM_PROCID`/`SLURM_LOCALID`/`SLURM_NTASKS`), and the group
//! every process of one job shares.

use crate::error::{Error, Result};

/// This process's place in a multi-process job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rank {
    /// The global rank, 0-based.
    pub rank: u32,
    /// The rank on this node.
    pub local_rank: u32,
    /// Processes in the job.
    pub world_size: u32,
    /// A name every process of the job derives alike (`TORCHELASTIC_RUN_ID`,
    /// `SLURM_JOB_ID`, or `MASTER_ADDR:MASTER_PORT`), if the environment gives one.
    pub job: Option<String>,
}

impl Rank {
    /// The rank from the environment (`env` reads a variable), if this is one process of
    /// several; `None` for a single process.
    ///
    /// ```
    /// let env = |n: &str| match n {
    ///     "RANK" => Some("2".to_owned()),
    ///     "LOCAL_RANK" => Some("0".to_owned()),
    ///     "WORLD_SIZE" => Some("4".to_owned()),
    ///     "TORCHELASTIC_RUN_ID" => Some("job7".to_owned()),
    ///     _ => None,
    /// };
    /// let r = labbook_core::Rank::from_env(env)?.unwrap();
    /// assert_eq!((r.rank, r.world_size, r.job.as_deref()), (2, 4, Some("job7")));
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Option<Rank>> {
        let num = |name: &str| -> Result<Option<u32>> {
            match env(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| Error::InvalidSetting {
                        name: name.into(),
                        reason: format!("{v:?} is not a process number"),
                    }),
            }
        };
        let (rank, local, world) = if let Some(world) = num("WORLD_SIZE")? {
            (num("RANK")?.unwrap_or(0), num("LOCAL_RANK")?, world)
        } else if let Some(world) = num("SLURM_NTASKS")? {
            (
                num("SLURM_PROCID")?.unwrap_or(0),
                num("SLURM_LOCALID")?,
                world,
            )
        } else {
            return Ok(None);
        };
        if world <= 1 {
            return Ok(None);
        }
        let job = env("TORCHELASTIC_RUN_ID")
            .filter(|v| !v.is_empty() && v != "none")
            .or_else(|| env("SLURM_JOB_ID").filter(|v| !v.is_empty()))
            .or_else(|| match (env("MASTER_ADDR"), env("MASTER_PORT")) {
                (Some(a), Some(p)) if !a.is_empty() => Some(format!("{a}:{p}")),
                _ => None,
            });
        Ok(Some(Rank {
            rank,
            local_rank: local.unwrap_or(rank),
            world_size: world,
            job,
        }))
    }

    /// The group name the processes of this job share: `ddp-<job>`.
    pub fn group(&self) -> Option<String> {
        self.job.as_ref().map(|j| {
            let clean: String = j
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            format!("ddp-{clean}")
        })
    }
}
