//! `Settings::resolve`: the builder's choices over the environment over the defaults, one
//! concern at a time (identity, output, system, config, secrets, resume, online), each
//! error naming the setting or variable at fault.

use crate::engine::worker::WriterSettings;
use crate::system::SystemSettings;
use std::path::PathBuf;

use super::env::{Env, SettingsFiles, env_seconds, stats_interval_from_env, validate_run_id};
use super::{Console, Mode, Resolved, Resume, Settings};
use crate::error::{Error, Result};
use crate::online::{OnlineChoices, OnlineSettings};
use crate::settings::distributed::Rank;
use crate::value::Value;
use crate::value::config;
use crate::value::secrets::Scrubber;

/// Who the run is: its names and where it sits.
struct Identity {
    project: String,
    entity: String,
    run_id: String,
    name: String,
    notes: String,
    tags: Vec<String>,
    group: String,
    job_type: String,
}

/// The config as the run records it: builder, overrides and sweep values, secrets out.
struct ResolvedConfig {
    items: Vec<(String, Value)>,
    sweep_names: Vec<(String, Value)>,
    sweep_id: String,
    scrubber: Scrubber,
}

impl Settings {
    /// Resolves every setting. Errors name the setting or variable at fault.
    pub(crate) fn resolve(&self) -> Result<Resolved> {
        let env = Env::load(self)?;
        let rank = Rank::from_env(|n| env.get(n).map(str::to_owned))?;
        let mode = self.mode_for(&env, rank.as_ref())?;
        let root = self.root_dir(&env)?;
        let files = SettingsFiles::load(&env, &root)?;
        let mut id = self.identity(&env, &files, rank.as_ref())?;
        let (base_url, _) = base_url_and_origin(self, &env, &files);
        let config = self.config_from(&env, &base_url)?;
        if let (None, Some(t)) = (&self.name, &self.name_template) {
            id.name = super::name_template::render(t, &config.items)?;
        }
        let resume = self.resume_policy(&env)?;
        let online = match mode {
            Mode::Online => Some(self.online_settings(&env, base_url)?),
            Mode::Offline | Mode::Disabled => None,
        };
        Ok(Resolved {
            resume,
            online,
            mode,
            root,
            writer: WriterSettings {
                project: id.project,
                entity: id.entity,
                run_id: id.run_id,
                name: id.name,
                notes: id.notes,
                tags: id.tags,
                group: id.group,
                job_type: id.job_type,
                username: ["WANDB_USERNAME", "WANDB_USER", "USER"]
                    .iter()
                    .find_map(|v| env.get(v).filter(|u| !u.is_empty()))
                    .unwrap_or_default()
                    .to_owned(),
                sweep_id: config.sweep_id,
                disable_git: match self.disable_git {
                    Some(d) => d,
                    None => env.flag("WANDB_DISABLE_GIT")?.unwrap_or(false),
                },
                config: config.items,
                sweep_names: config.sweep_names,
                scrubber: config.scrubber,
                score_metrics: self.score_metrics.clone(),
                score_precision: self.score_precision,
                flush_interval: self.flush_interval,
                features: self.features.clone(),
                notify: self.alerts_from(&env)?,
                config_sources: self.config_sources.clone(),
                config_unresolved: self.config_unresolved.clone(),
                git_diff: self.git_diff.unwrap_or(true),
                home: if self.private_paths_from(&env)? {
                    crate::engine::private_paths::Home::new(env.get("HOME"))
                } else {
                    crate::engine::private_paths::Home::default()
                },
            },
            system: SystemSettings {
                console: self.console_from(&env)?,
                metrics: self.system_metrics_from(&env, rank.as_ref())?,
                interval: match self.stats_interval {
                    Some(d) => d,
                    None => stats_interval_from_env(&env)?,
                },
                gpu_source: self.gpu_source.clone(),
            },
            quiet: self.quiet_from(&env)?,
            config_warnings: self.config.warnings.clone(),
            redact_secrets: self.redact_secrets,
            on_error: self.on_error,
            backpressure: self.backpressure,
            queue_bytes: self.queue_bytes,
            handle_signals: self.handle_signals,
            finish_timeout: self.finish_timeout,
        })
    }

    /// `--dir`, else `WANDB_DIR`, else the working directory.
    pub(super) fn root_dir(&self, env: &Env) -> Result<PathBuf> {
        match (&self.dir, env.get("WANDB_DIR")) {
            (Some(d), _) => Ok(d.clone()),
            (None, Some(d)) if !d.is_empty() => Ok(PathBuf::from(d)),
            _ => std::env::current_dir()
                .map_err(Error::io("could not read", "the working directory")),
        }
    }

    /// The mode; a rank other than 0 is disabled when only rank 0 records.
    fn mode_for(&self, env: &Env, rank: Option<&Rank>) -> Result<Mode> {
        let rank_zero_only = match self.rank_zero_only {
            Some(on) => on,
            None => env.flag("LABBOOK_RANK_ZERO_ONLY")?.unwrap_or(false),
        };
        if rank_zero_only && rank.is_some_and(|r| r.rank != 0) {
            return Ok(Mode::Disabled);
        }
        resolve_mode(self, env)
    }

    fn identity(&self, env: &Env, files: &SettingsFiles, rank: Option<&Rank>) -> Result<Identity> {
        let pick = |own: &Option<String>, var: &str, file_key: Option<&str>| -> String {
            own.clone()
                .or_else(|| env.get(var).map(str::to_owned))
                .or_else(|| file_key.and_then(|k| files.get(k)))
                .unwrap_or_default()
        };
        let run_id = match self
            .run_id
            .clone()
            .or_else(|| env.get("WANDB_RUN_ID").map(str::to_owned))
        {
            Some(id) => {
                validate_run_id(&id)?;
                id
            }
            None => crate::store::random_run_id(),
        };
        Ok(Identity {
            project: pick(&self.project, "WANDB_PROJECT", Some("project")),
            entity: pick(&self.entity, "WANDB_ENTITY", Some("entity")),
            run_id,
            name: match (pick(&self.name, "WANDB_NAME", None), rank) {
                (n, Some(r)) if n.is_empty() => format!("rank-{}", r.rank),
                (n, _) => n,
            },
            notes: pick(&self.notes, "WANDB_NOTES", None),
            tags: self.tags_from(env)?,
            group: match (pick(&self.group, "WANDB_RUN_GROUP", None), rank) {
                (g, Some(r)) if g.is_empty() => r.group().unwrap_or_default(),
                (g, _) => g,
            },
            job_type: pick(&self.job_type, "WANDB_JOB_TYPE", None),
        })
    }

    fn private_paths_from(&self, env: &Env) -> Result<bool> {
        Ok(match self.private_paths {
            Some(p) => p,
            None => env.flag("LABBOOK_PRIVATE_PATHS")?.unwrap_or(true),
        })
    }

    fn tags_from(&self, env: &Env) -> Result<Vec<String>> {
        let tags: Vec<String> = match &self.tags {
            Some(t) => t.clone(),
            None => env
                .get("WANDB_TAGS")
                .map(|t| {
                    t.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        };
        if let Some(t) = tags.iter().find(|t| t.chars().count() > 64 || t.is_empty()) {
            return Err(Error::InvalidSetting {
                name: "tags".into(),
                reason: format!("tag {t:?} must be 1 to 64 characters long"),
            });
        }
        Ok(tags)
    }

    fn quiet_from(&self, env: &Env) -> Result<bool> {
        Ok(match self.quiet {
            Some(q) => q,
            None => {
                env.flag("WANDB_SILENT")?.unwrap_or(false)
                    || env.flag("WANDB_QUIET")?.unwrap_or(false)
            }
        })
    }

    fn console_from(&self, env: &Env) -> Result<Console> {
        Ok(match self.console {
            Some(c) => c,
            None => match env.get("WANDB_CONSOLE").map(|s| s.to_ascii_lowercase()) {
                None => Console::Auto,
                Some(v) => match v.as_str() {
                    "" | "auto" => Console::Auto,
                    "off" => Console::Off,
                    "wrap" | "wrap_raw" | "wrap_emu" => Console::Wrap,
                    "redirect" => Console::Redirect,
                    _ => {
                        return Err(Error::InvalidSetting {
                            name: "WANDB_CONSOLE".into(),
                            reason: format!(
                                "{v:?} is not one of auto, off, wrap, redirect, wrap_raw, wrap_emu"
                            ),
                        });
                    }
                },
            },
        })
    }

    fn system_metrics_from(&self, env: &Env, rank: Option<&Rank>) -> Result<bool> {
        Ok(match self.system_metrics {
            Some(on) => on,
            // One sampler per node: the node's other ranks would report the same machine.
            None if rank.is_some_and(|r| r.local_rank != 0) => false,
            None => {
                let off = match env.flag("WANDB_X_DISABLE_STATS")? {
                    Some(f) => Some(f),
                    None => env.flag("WANDB__DISABLE_STATS")?,
                };
                !off.unwrap_or(false)
            }
        })
    }

    /// The config: the builder's, overrides in their nested places, the sweep's values;
    /// the key in use and secret names scrubbed.
    fn config_from(&self, env: &Env, base_url: &str) -> Result<ResolvedConfig> {
        let mut config_items = self.config.items.clone();
        for o in &self.overrides {
            let (path, value) = config::parse_override(o).ok_or_else(|| Error::InvalidSetting {
                name: format!("override {o:?}"),
                reason: "an override must look like `a.b=value`".into(),
            })?;
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            config::set_path(&mut config_items, &path, value);
        }
        let (sweep_id, param_path) = match &self.sweep_trial {
            Some((id, file)) => (id.clone(), Some(file.clone())),
            None => (
                env.get("WANDB_SWEEP_ID").unwrap_or_default().to_owned(),
                env.get("WANDB_SWEEP_PARAM_PATH")
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from),
            ),
        };
        // The typed config gets the sweep's values in their nested places; the logged one
        // also keeps dotted parameter names as the agent wrote them.
        let mut sweep_names = Vec::new();
        if let Some(p) = param_path {
            let params = config::read_sweep_params(&p)?;
            sweep_names = config::apply_sweep_params(&mut config_items, params);
        }
        // The key this process could send is scrubbed from everything the run records,
        // even offline, and even where secret names are kept (`redact_secrets(false)`).
        let scrubber = Scrubber::new(crate::online::known_keys(
            self.api_key.as_ref().map(|k| k.expose()),
            base_url,
            |n| env.get(n).map(str::to_owned),
        ));
        scrubber.config(&mut config_items, self.redact_secrets);
        scrubber.config(&mut sweep_names, self.redact_secrets);
        Ok(ResolvedConfig {
            items: config_items,
            sweep_names,
            sweep_id,
            scrubber,
        })
    }

    fn resume_policy(&self, env: &Env) -> Result<Option<Resume>> {
        let resume = match self.resume {
            Some(r) => Some(r),
            None => match env
                .get("WANDB_RESUME")
                .map(|v| v.trim().to_ascii_lowercase())
            {
                None => None,
                Some(v) => match v.as_str() {
                    "" | "false" | "0" => None,
                    "allow" | "auto" | "true" | "1" => Some(Resume::Allow),
                    "must" => Some(Resume::Must),
                    "never" => Some(Resume::Never),
                    other => {
                        return Err(Error::InvalidSetting {
                            name: "WANDB_RESUME".into(),
                            reason: format!("{other:?} is not one of allow, must, never, auto"),
                        });
                    }
                },
            },
        };
        if resume == Some(Resume::Must)
            && self.run_id.is_none()
            && env.get("WANDB_RUN_ID").is_none()
        {
            return Err(Error::InvalidSetting {
                name: "resume".into(),
                reason: "resume=must needs the id of the run to continue (run_id or WANDB_RUN_ID)"
                    .into(),
            });
        }
        Ok(resume)
    }

    fn online_settings(&self, env: &Env, base_url: String) -> Result<OnlineSettings> {
        let http_timeout = env
            .get("WANDB_HTTP_TIMEOUT")
            .filter(|v| !v.trim().is_empty())
            .map(|v| env_seconds("WANDB_HTTP_TIMEOUT", v))
            .transpose()?;
        OnlineSettings::resolve(
            OnlineChoices {
                base_url: Some(base_url),
                api_key: self.api_key.as_ref().map(|k| k.expose().to_owned()),
                upload_interval: self.upload_interval,
                retry: self.upload_retry.clone(),
                http_timeout,
                clock: self.upload_clock.clone(),
            },
            |n| env.get(n).map(str::to_owned),
        )
    }
}

fn resolve_mode(s: &Settings, env: &Env) -> Result<Mode> {
    mode_and_origin(s, env).map(|(m, _)| m)
}

/// The mode and what chose it: the builder, `WANDB_ENABLED=false`, `WANDB_DISABLED`,
/// `WANDB_MODE` (or the settings file's `mode`), else offline.
pub(super) fn mode_and_origin(s: &Settings, env: &Env) -> Result<(Mode, String)> {
    if let Some(m) = s.mode {
        return Ok((m, "the program (Settings::mode)".into()));
    }
    for (var, off_when) in [("WANDB_ENABLED", false), ("WANDB_DISABLED", true)] {
        if env.flag(var)? == Some(off_when) {
            let from = env.origin(var).unwrap_or_else(|| var.to_owned());
            return Ok((Mode::Disabled, from));
        }
    }
    let (text, source, origin) = match env.get("WANDB_MODE") {
        Some(m) => (
            m.to_owned(),
            "WANDB_MODE",
            env.origin("WANDB_MODE").unwrap_or_default(),
        ),
        None => {
            let files = SettingsFiles::load(env, &s.root_dir(env)?)?;
            match files.get("mode") {
                Some(m) => (
                    m,
                    "mode in the wandb settings file",
                    files.origin("mode").unwrap_or_default(),
                ),
                None => return Ok((Mode::Offline, "the default".into())),
            }
        }
    };
    let mode = match text.trim().to_ascii_lowercase().as_str() {
        "" | "offline" | "dryrun" => Mode::Offline,
        "online" | "run" => Mode::Online,
        "disabled" => Mode::Disabled,
        other => {
            return Err(Error::InvalidSetting {
                name: source.into(),
                reason: format!("{other:?} is not one of online, offline, disabled, dryrun"),
            });
        }
    };
    Ok((mode, origin))
}

/// The server: the builder's, `WANDB_BASE_URL`, the settings files' `base_url` (which
/// `wandb login --host` and `labbook login --host` write), else W&B's; and what chose it.
pub(super) fn base_url_and_origin(
    s: &Settings,
    env: &Env,
    files: &SettingsFiles,
) -> (String, String) {
    if let Some(u) = &s.base_url {
        return (u.clone(), "the program (Settings::base_url)".into());
    }
    if let Some(u) = env.get("WANDB_BASE_URL").filter(|u| !u.is_empty()) {
        let from = env.origin("WANDB_BASE_URL").unwrap_or_default();
        return (u.trim_end_matches('/').to_owned(), from);
    }
    if let Some(u) = files.get("base_url") {
        let from = files.origin("base_url").unwrap_or_default();
        return (u.trim_end_matches('/').to_owned(), from);
    }
    (
        crate::online::DEFAULT_BASE_URL.to_owned(),
        "the default".into(),
    )
}
