//! Where settings come from besides the builder: the process environment (or an injected
//! map) over `.env.local` over `.env`, W&B's settings files, the sweep agent's parameter
//! file; and the checks every value from them passes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Settings;
use crate::error::{Error, Result};

/// The longest time a variable in seconds may give: a day. Longer is a typo (or a unit
/// mistake), and `Duration` itself ends somewhere: `1e20` seconds would overflow it.
const MAX_ENV_SECONDS: f64 = 86_400.0;

/// A positive number of seconds, at most a day, from variable `var`.
pub(super) fn env_seconds(var: &str, v: &str) -> Result<Duration> {
    let bad = |why: String| Error::InvalidSetting {
        name: var.into(),
        reason: format!("{v:?} {why}"),
    };
    let secs = v
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && !s.is_nan())
        .ok_or_else(|| bad("is not a positive number of seconds".into()))?;
    if secs > MAX_ENV_SECONDS {
        return Err(bad(format!(
            "seconds is more than a day ({MAX_ENV_SECONDS} s), the most it may be"
        )));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| bad(e.to_string()))
}

/// The shortest sampling interval of system metrics.
pub(super) const MIN_STATS_INTERVAL: Duration = Duration::from_millis(100);

/// `WANDB_X_STATS_SAMPLING_INTERVAL` or `WANDB__STATS_SAMPLING_INTERVAL` (seconds), else 15 s.
pub(super) fn stats_interval_from_env(env: &Env) -> Result<Duration> {
    for var in [
        "WANDB_X_STATS_SAMPLING_INTERVAL",
        "WANDB__STATS_SAMPLING_INTERVAL",
    ] {
        if let Some(v) = env.get(var).filter(|v| !v.trim().is_empty()) {
            return Ok(env_seconds(var, v)?.max(MIN_STATS_INTERVAL));
        }
    }
    Ok(Duration::from_secs(15))
}

/// The variables settings come from: the process environment (or the injected map) over
/// `.env.local` over `.env`.
pub(super) struct Env {
    vars: HashMap<String, String>,
    /// Each value with the file it came from.
    dotenv: HashMap<String, (String, PathBuf)>,
}

impl Env {
    pub(super) fn load(s: &Settings) -> Result<Env> {
        let vars = match &s.env_vars {
            Some(v) => v.clone(),
            None => std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        };
        let dir = match &s.dotenv_dir {
            Some(d) => d.clone(),
            None => std::env::current_dir().unwrap_or_default(),
        };
        let mut dotenv = HashMap::new();
        for name in [".env", ".env.local"] {
            let path = dir.join(name);
            if !path.is_file() {
                continue;
            }
            let iter = dotenvy::from_path_iter(&path).map_err(|e| Error::InvalidSetting {
                name: path.display().to_string(),
                reason: e.to_string(),
            })?;
            for item in iter {
                let (k, v) = item.map_err(|e| Error::InvalidSetting {
                    name: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                dotenv.insert(k, (v, path.clone()));
            }
        }
        Ok(Env { vars, dotenv })
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        match self.vars.get(name) {
            Some(v) => Some(v),
            None => self.dotenv.get(name).map(|(v, _)| v.as_str()),
        }
    }

    /// Where `name`'s value comes from: `WANDB_MODE` or `WANDB_MODE in /work/.env`.
    pub(super) fn origin(&self, name: &str) -> Option<String> {
        if self.vars.contains_key(name) {
            return Some(name.to_owned());
        }
        let (_, file) = self.dotenv.get(name)?;
        Some(format!("{name} in {}", file.display()))
    }

    pub(super) fn flag(&self, name: &str) -> Result<Option<bool>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" | "y" | "t" => Ok(Some(true)),
            "" | "0" | "false" | "no" | "off" | "n" | "f" => Ok(Some(false)),
            _ => Err(Error::InvalidSetting {
                name: name.into(),
                reason: format!("{v:?} is not a boolean (use true or false)"),
            }),
        }
    }
}

/// The `[default]` section of `wandb/settings` (workspace) over the global settings file
/// (`$WANDB_CONFIG_DIR/settings`, default `~/.config/wandb/settings`), as `wandb offline`
/// and `wandb online` write them.
pub(super) struct SettingsFiles {
    /// Each value with the file it came from.
    values: HashMap<String, (String, PathBuf)>,
}

impl SettingsFiles {
    pub(super) fn load(env: &Env, root: &Path) -> Result<SettingsFiles> {
        let global_dir = match env.get("WANDB_CONFIG_DIR") {
            Some(d) => Some(PathBuf::from(d)),
            None => env
                .get("HOME")
                .map(|h| Path::new(h).join(".config").join("wandb")),
        };
        let mut values = HashMap::new();
        let candidates = [
            global_dir.map(|d| d.join("settings")),
            Some(root.join("wandb").join("settings")),
        ];
        for path in candidates.into_iter().flatten() {
            if !path.is_file() {
                continue;
            }
            let ini = ini::Ini::load_from_file(&path).map_err(|e| Error::InvalidSetting {
                name: path.display().to_string(),
                reason: e.to_string(),
            })?;
            if let Some(section) = ini.section(Some("default")) {
                for (k, v) in section.iter() {
                    values.insert(k.to_ascii_lowercase(), (v.to_owned(), path.clone()));
                }
            }
        }
        Ok(SettingsFiles { values })
    }

    pub(super) fn get(&self, key: &str) -> Option<String> {
        self.values
            .get(key)
            .map(|(v, _)| v)
            .filter(|v| !v.is_empty())
            .cloned()
    }

    /// Where `key`'s value comes from: `base_url in ~/.config/wandb/settings`.
    pub(super) fn origin(&self, key: &str) -> Option<String> {
        let (v, file) = self.values.get(key)?;
        (!v.is_empty()).then(|| format!("{key} in {}", file.display()))
    }
}

pub(super) fn validate_run_id(id: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(Error::InvalidSetting {
            name: "run id".into(),
            reason: format!("{id:?} {reason}"),
        })
    };
    if id.trim().is_empty() {
        return bad("is empty");
    }
    if id.trim() != id {
        return bad("has leading or trailing whitespace");
    }
    if let Some(c) = id.chars().find(|c| ":;,#?/'".contains(*c)) {
        return bad(&format!(
            "contains {c:?}; run ids must not contain any of :;,#?/'"
        ));
    }
    if id.len() > 128 {
        return bad("is longer than 128 bytes");
    }
    Ok(())
}
