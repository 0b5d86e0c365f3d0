//! `Settings::explain`: what a run started now would use, and where each value came from
//! (the program, a variable, a `.env` file, a settings file, netrc, a default), for
//! `labbook status` and `labbook doctor`.

use std::path::PathBuf;

use super::env::{Env, SettingsFiles};
use super::resolve::{base_url_and_origin, mode_and_origin};
use super::{Mode, Settings};
use crate::error::Result;
use crate::online::Secret;

/// A value and where it came from (`WANDB_PROJECT`, `WANDB_MODE in /work/.env`,
/// `base_url in ~/.config/wandb/settings`, `the default`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub from: String,
}

/// The API key a run would send.
#[derive(Clone, Debug)]
pub struct KeyInfo {
    /// The key (prints as `<redacted>`).
    pub key: Secret,
    /// Where it was found.
    pub from: String,
}

impl KeyInfo {
    /// The key's last 4 characters, which tell keys apart without showing them.
    pub fn last4(&self) -> String {
        let k = self.key.expose();
        let start = k.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
        k[start..].to_owned()
    }
}

/// What a run started now would use, each value with its source. See
/// [`Settings::explain`].
#[derive(Clone, Debug)]
pub struct Explained {
    /// Online, offline or disabled.
    pub mode: Sourced<Mode>,
    /// The project (empty: none chosen; W&B then uses `uncategorized`).
    pub project: Sourced<String>,
    /// The entity (empty: the key's default entity).
    pub entity: Sourced<String>,
    /// The server online runs and `labbook sync` talk to.
    pub base_url: Sourced<String>,
    /// The key for `base_url`, or why there is none usable.
    pub api_key: std::result::Result<KeyInfo, String>,
    /// Who runs it (`WANDB_USERNAME`, `WANDB_USER`, `USER`).
    pub username: Sourced<String>,
    /// Where runs are written: `<root>/wandb`.
    pub runs_dir: Sourced<PathBuf>,
}

fn sourced<T>(value: T, from: impl Into<String>) -> Sourced<T> {
    Sourced {
        value,
        from: from.into(),
    }
}

impl Settings {
    /// What a run started with these settings now would use, and where each value came
    /// from. Reads what `init` reads (variables, `.env.local`, `.env`, the settings files,
    /// netrc) and writes nothing. A setting that `init` would refuse is the same error here.
    ///
    /// ```
    /// use labbook_core::{Mode, Settings};
    /// let s = Settings::new("demo").env_vars([("WANDB_MODE", "offline")]);
    /// let e = s.explain()?;
    /// assert_eq!((e.mode.value, e.mode.from.as_str()), (Mode::Offline, "WANDB_MODE"));
    /// assert_eq!(e.project.value, "demo");
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn explain(&self) -> Result<Explained> {
        let env = Env::load(self)?;
        let root = self.root_dir(&env)?;
        let files = SettingsFiles::load(&env, &root)?;
        let (mode, mode_from) = mode_and_origin(self, &env)?;
        let pick = |own: &Option<String>, what: &str, var: &str, file_key: &str| {
            if let Some(v) = own {
                return sourced(v.clone(), format!("the program (Settings::{what})"));
            }
            if let (Some(v), Some(from)) = (env.get(var), env.origin(var)) {
                return sourced(v.to_owned(), from);
            }
            match (files.get(file_key), files.origin(file_key)) {
                (Some(v), Some(from)) => sourced(v, from),
                _ => sourced(String::new(), "not set"),
            }
        };
        let (base_url, base_url_from) = base_url_and_origin(self, &env, &files);
        let api_key = crate::online::api_key_and_source(
            self.api_key.as_ref().map(Secret::expose),
            &base_url,
            |n| env.get(n).map(str::to_owned),
        )
        .map(|(key, from)| KeyInfo {
            key: Secret::new(key),
            from: match from.as_str() {
                "WANDB_API_KEY" => env.origin("WANDB_API_KEY").unwrap_or(from),
                _ => from,
            },
        })
        .map_err(|e| e.to_string());
        let username = ["WANDB_USERNAME", "WANDB_USER", "USER"]
            .iter()
            .find_map(|v| {
                let u = env.get(v).filter(|u| !u.is_empty())?;
                Some(sourced(u.to_owned(), env.origin(v)?))
            })
            .unwrap_or_else(|| sourced(String::new(), "not set"));
        let root_from = match (&self.dir, env.origin("WANDB_DIR")) {
            (Some(_), _) => "the program (Settings::dir)".to_owned(),
            (None, Some(from)) => from,
            (None, None) => "the working directory".to_owned(),
        };
        Ok(Explained {
            mode: sourced(mode, mode_from),
            project: pick(&self.project, "new", "WANDB_PROJECT", "project"),
            entity: pick(&self.entity, "entity", "WANDB_ENTITY", "entity"),
            base_url: sourced(base_url, base_url_from),
            api_key,
            username,
            runs_dir: sourced(root.join("wandb"), root_from),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "expl0123456789abcdefghijklmnopqrstuvwxyz0123";

    #[test]
    fn each_value_names_where_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            format!("WANDB_API_KEY={KEY}\nWANDB_ENTITY=fromdotenv\n"),
        )
        .unwrap();
        let config = dir.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(
            config.join("settings"),
            "[default]\nbase_url = http://example.test:8080/\nproject = fromfile\n",
        )
        .unwrap();
        let e = Settings::default()
            .dir(dir.path())
            .dotenv_dir(dir.path())
            .env_vars([
                ("WANDB_CONFIG_DIR", config.to_str().unwrap()),
                ("WANDB_ENABLED", "false"),
                ("WANDB_USERNAME", "ada"),
            ])
            .explain()
            .unwrap();
        assert_eq!(
            (e.mode.value, e.mode.from.as_str()),
            (Mode::Disabled, "WANDB_ENABLED")
        );
        assert_eq!(e.project.value, "fromfile");
        assert!(e.project.from.starts_with("project in ") && e.project.from.ends_with("settings"));
        assert_eq!(e.entity.value, "fromdotenv");
        assert!(e.entity.from.starts_with("WANDB_ENTITY in ") && e.entity.from.ends_with(".env"));
        assert_eq!(e.base_url.value, "http://example.test:8080");
        let key = e.api_key.unwrap();
        assert_eq!(key.last4(), "0123");
        assert!(key.from.starts_with("WANDB_API_KEY in "), "{}", key.from);
        assert!(!format!("{key:?}").contains(KEY));
        assert_eq!(
            (e.username.value.as_str(), e.username.from.as_str()),
            ("ada", "WANDB_USERNAME")
        );
        assert_eq!(e.runs_dir.value, dir.path().join("wandb"));
    }

    #[test]
    fn a_missing_key_is_explained_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Settings::new("p")
            .dir(dir.path())
            .dotenv_dir(dir.path())
            .env_vars([("HOME", dir.path().to_str().unwrap())])
            .explain()
            .unwrap();
        assert_eq!(
            (e.mode.value, e.mode.from.as_str()),
            (Mode::Offline, "the default")
        );
        assert!(e.api_key.unwrap_err().contains("no API key"));
        assert_eq!(e.base_url.from, "the default");
    }
}
