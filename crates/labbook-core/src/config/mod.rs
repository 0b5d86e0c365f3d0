//! Config files, layered as W&B users assemble them: the struct's defaults, then YAML/TOML
//! files composed through `defaults:` lists, then environment variables with a prefix,
//! then `a.b=v` overrides from the command line, then a sweep's parameters; `${...}`
//! interpolations are resolved last, and one that cannot be is kept as text and reported.
//!
//! `figment` layers providers well, but it has no composition (`defaults:` lists, groups
//! chosen on the command line), no interpolation and no "did you mean" for a mistyped
//! override, which are the parts users need most here; merging JSON trees is a few lines.

mod compose;
mod interpolate;
mod tree;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as J;

use crate::error::{Error, Result};

/// A loaded config: the typed value, the files it came from, the keys whose `${...}`
/// could not be resolved, and the whole resolved tree.
#[derive(Clone, Debug)]
pub struct Loaded<T> {
    /// The config, typed.
    pub value: T,
    /// The files it was composed from, in the order they were read.
    pub files: Vec<PathBuf>,
    /// The keys (dotted) whose interpolations stayed text, e.g. `paths.out` for
    /// `${hydra:runtime.cwd}/out`.
    pub unresolved: Vec<String>,
    /// Every key after every layer, as a JSON tree.
    pub tree: J,
}

/// Loads `path` (YAML or TOML) over `T::default()`, with `overrides` (`a.b=v`,
/// `+new.key=v`, `group=option`) and a sweep's parameters on top. See [`Loader`] for
/// environment variables.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # std::fs::write(dir.path().join("train.yaml"), "lr: 0.1\nout: ${env:OUT_DIR,runs}/x\n")?;
/// #[derive(serde::Serialize, serde::Deserialize, Default)]
/// struct Train { lr: f64, epochs: u32, out: String }
/// let cfg = labbook_core::config::load::<Train>(dir.path().join("train.yaml"), ["epochs=3"])?;
/// assert_eq!((cfg.value.lr, cfg.value.epochs), (0.1, 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load<T: Serialize + DeserializeOwned + Default>(
    path: impl AsRef<Path>,
    overrides: impl IntoIterator<Item = impl AsRef<str>>,
) -> Result<Loaded<T>> {
    Loader::new(path).load(overrides)
}

/// The `a.b=v` arguments of this process (for [`load`]) and the rest (for clap), the
/// program name first.
///
/// ```no_run
/// let (overrides, rest) = labbook_core::config::overrides_from_args();
/// // clap::Parser::parse_from(rest) ...
/// # let _ = (overrides, rest);
/// ```
pub fn overrides_from_args() -> (Vec<String>, Vec<String>) {
    split_args(std::env::args())
}

/// Splits arguments into overrides (`key=value`, `+key=value`, with a key of letters,
/// digits, `_`, `-`, `/` and `.`) and the rest. Everything after `--` is the rest.
///
/// ```
/// let args = ["train", "--epochs", "3", "optim.lr=0.01", "+tag=x", "--", "a=b"].map(String::from);
/// let (overrides, rest) = labbook_core::config::split_args(args);
/// assert_eq!(overrides, ["optim.lr=0.01", "+tag=x"]);
/// assert_eq!(rest, ["train", "--epochs", "3", "--", "a=b"]);
/// ```
pub fn split_args(args: impl IntoIterator<Item = String>) -> (Vec<String>, Vec<String>) {
    let (mut overrides, mut rest) = (Vec::new(), Vec::new());
    let mut after_dashes = false;
    for (i, a) in args.into_iter().enumerate() {
        after_dashes |= a == "--";
        if i > 0 && !after_dashes && parse_override(&a).is_some() {
            overrides.push(a);
        } else {
            rest.push(a);
        }
    }
    (overrides, rest)
}

/// One override: whether it adds a key (`+`), the key, the value's text.
fn parse_override(text: &str) -> Option<(bool, &str, &str)> {
    let (key, value) = text.split_once('=')?;
    let (add, key) = match key.strip_prefix('+') {
        Some(k) => (true, k),
        None => (false, key),
    };
    let ok = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/.".contains(c));
    ok.then_some((add, key, value))
}

/// [`load`] with more layers: environment variables with a prefix.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # std::fs::write(dir.path().join("c.toml"), "[optim]\nlr = 0.1\n")?;
/// #[derive(serde::Serialize, serde::Deserialize, Default)]
/// struct Optim { lr: f64 }
/// #[derive(serde::Serialize, serde::Deserialize, Default)]
/// struct Cfg { optim: Optim }
/// let cfg = labbook_core::config::Loader::new(dir.path().join("c.toml"))
///     .env_prefix("TRAIN_")
///     .env_vars([("TRAIN_OPTIM__LR", "0.5")])
///     .load::<Cfg>(Vec::<String>::new())?;
/// assert_eq!(cfg.value.optim.lr, 0.5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Loader {
    path: PathBuf,
    env_prefix: Option<String>,
    env: Option<HashMap<String, String>>,
}

impl Loader {
    /// A loader of the config file at `path`.
    pub fn new(path: impl AsRef<Path>) -> Loader {
        Loader {
            path: path.as_ref().to_owned(),
            env_prefix: None,
            env: None,
        }
    }

    /// Reads variables starting with `prefix` as a layer between the files and the
    /// overrides: `TRAIN_OPTIM__LR=0.5` sets `optim.lr` (lowercased, `__` between keys).
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Loader {
        self.env_prefix = Some(prefix.into());
        self
    }

    /// Reads these variables instead of the process environment (for tests).
    pub fn env_vars<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Loader {
        self.env = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    fn var(&self, name: &str) -> Option<String> {
        match &self.env {
            Some(m) => m.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }

    /// Loads the config: every layer, then the interpolations.
    pub fn load<T: Serialize + DeserializeOwned + Default>(
        &self,
        overrides: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<Loaded<T>> {
        let overrides: Vec<String> = overrides
            .into_iter()
            .map(|o| o.as_ref().to_owned())
            .collect();
        let mut parsed = Vec::new();
        for o in &overrides {
            let (add, key, value) = parse_override(o).ok_or_else(|| Error::InvalidSetting {
                name: format!("override {o:?}"),
                reason: "an override looks like `a.b=value`, `+new.key=value` or `group=option`"
                    .into(),
            })?;
            parsed.push((add, key, value, o));
        }
        let choices: BTreeMap<String, String> = parsed
            .iter()
            .filter(|(add, key, ..)| !add && !key.contains('.'))
            .map(|(_, k, v, _)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let composed = compose::compose(&self.path, &choices)?;
        let mut tree = serde_json::to_value(T::default()).map_err(|e| Error::InvalidSetting {
            name: "config defaults".into(),
            reason: e.to_string(),
        })?;
        if !tree.is_object() {
            tree = J::Object(serde_json::Map::new());
        }
        tree::merge(&mut tree, composed.tree);
        self.apply_env(&mut tree)?;
        for (add, key, value, text) in parsed {
            if !add && composed.groups.contains(key) {
                continue;
            }
            if !add && tree::get(&tree, key).is_none() {
                return Err(unknown_key(&format!("override {text:?}"), key, &tree, "+"));
            }
            tree::set(&mut tree, key, tree::parse_scalar(value));
        }
        if let Some(p) = self.var("WANDB_SWEEP_PARAM_PATH").filter(|p| !p.is_empty()) {
            for (k, v) in crate::value::config::read_sweep_params(Path::new(&p))? {
                tree::set(&mut tree, &k, v.to_serde_json());
            }
        }
        let unresolved = interpolate::resolve_all(&mut tree, &|n| self.var(n));
        for (key, why) in &unresolved {
            tracing::warn!(target: "labbook", "config key {key}: {why}; its text is kept as it is");
        }
        let value =
            serde_path_to_error::deserialize(tree.clone()).map_err(|e| Error::InvalidSetting {
                name: format!("config key {}", e.path()),
                reason: e.inner().to_string(),
            })?;
        Ok(Loaded {
            value,
            files: composed.files,
            unresolved: unresolved.into_iter().map(|(k, _)| k).collect(),
            tree,
        })
    }

    fn apply_env(&self, tree: &mut J) -> Result<()> {
        let Some(prefix) = &self.env_prefix else {
            return Ok(());
        };
        let mut vars: Vec<(String, String)> = match &self.env {
            Some(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            None => std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        };
        vars.sort();
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix(prefix.as_str()) else {
                continue;
            };
            let key = rest.to_ascii_lowercase().replace("__", ".");
            if tree::get(tree, &key).is_none() {
                return Err(unknown_key(&format!("variable {name}"), &key, tree, ""));
            }
            tree::set(tree, &key, tree::parse_scalar(&value));
        }
        Ok(())
    }
}

fn unknown_key(name: &str, key: &str, tree: &J, add_hint: &str) -> Error {
    let paths = tree::paths(tree);
    let near = crate::value::closest(key, paths.iter().map(String::as_str));
    let mut reason = format!("the config has no key {key:?}");
    if let Some(n) = near {
        reason.push_str(&format!("; did you mean {n:?}?"));
    }
    if !add_hint.is_empty() {
        reason.push_str(&format!(" (write `{add_hint}{key}=...` to add it)"));
    }
    Error::InvalidSetting {
        name: name.to_owned(),
        reason,
    }
}
