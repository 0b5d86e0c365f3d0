//! Composing a config from files: a file's `defaults:` list names other files (`base.yaml`)
//! and group options (`model: resnet` = `model/resnet.yaml`, placed under `model`), merged
//! in order with the file's own content where `_self_` stands (at the end when it is not
//! listed, as Hydra 1.1 does). A `group=option` on the command line picks the option.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as J};

use super::tree::merge;
use crate::error::{Error, Result};

/// How deep `defaults:` lists may include each other (a cycle stops here).
const MAX_DEPTH: usize = 32;

/// The composed tree and the files it came from, in the order they were read.
pub(super) struct Composed {
    pub tree: J,
    pub files: Vec<PathBuf>,
    /// The groups the `defaults:` lists name; a command-line `group=option` picks one.
    pub groups: BTreeSet<String>,
}

fn bad(file: &Path, reason: impl Into<String>) -> Error {
    Error::InvalidSetting {
        name: format!("config file {}", file.display()),
        reason: reason.into(),
    }
}

/// Reads a YAML, JSON or TOML file into a tree.
pub(super) fn read_file(path: &Path) -> Result<J> {
    let text =
        std::fs::read_to_string(path).map_err(Error::io("could not read the config file", path))?;
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    let tree = if is_toml {
        let v: toml::Value = toml::from_str(&text).map_err(|e| bad(path, e.to_string()))?;
        serde_json::to_value(v).map_err(|e| bad(path, e.to_string()))?
    } else {
        serde_yaml_ng::from_str::<J>(&text).map_err(|e| bad(path, e.to_string()))?
    };
    match tree {
        J::Object(_) => Ok(tree),
        J::Null => Ok(J::Object(Map::new())),
        _ => Err(bad(path, "the file is not a mapping of keys")),
    }
}

/// A file named in a defaults list, with or without its extension.
fn find(dir: &Path, name: &str, from: &Path) -> Result<PathBuf> {
    let p = dir.join(name);
    if p.extension().is_some() && p.is_file() {
        return Ok(p);
    }
    for ext in ["yaml", "yml", "toml", "json"] {
        let with = dir.join(format!("{name}.{ext}"));
        if with.is_file() {
            return Ok(with);
        }
    }
    Err(bad(
        from,
        format!(
            "its defaults list names {name:?}, but there is no {} (.yaml, .yml, .toml or .json)",
            p.display()
        ),
    ))
}

/// Composes `primary`; `choices` are the command line's `key=value` pairs that may pick a
/// group's option.
pub(super) fn compose(primary: &Path, choices: &BTreeMap<String, String>) -> Result<Composed> {
    let root = primary.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut c = Composer {
        root,
        choices,
        files: Vec::new(),
        groups: BTreeSet::new(),
    };
    let tree = c.file(primary, 0)?;
    Ok(Composed {
        tree,
        files: c.files,
        groups: c.groups,
    })
}

struct Composer<'a> {
    /// Where defaults entries are looked up: the primary file's directory.
    root: PathBuf,
    choices: &'a BTreeMap<String, String>,
    files: Vec<PathBuf>,
    groups: BTreeSet<String>,
}

/// One entry of a defaults list, read.
enum Entry {
    SelfHere,
    File(PathBuf),
    /// A group's option, placed under the group's path.
    Group {
        package: String,
        file: PathBuf,
    },
}

impl Composer<'_> {
    fn file(&mut self, path: &Path, depth: usize) -> Result<J> {
        if depth > MAX_DEPTH {
            return Err(bad(
                path,
                format!("defaults lists include each other more than {MAX_DEPTH} deep (a cycle?)"),
            ));
        }
        self.files.push(path.to_owned());
        let mut own = read_file(path)?;
        let defaults = match own.as_object_mut().and_then(|m| m.remove("defaults")) {
            None => return Ok(own),
            Some(J::Array(list)) => list,
            Some(_) => return Err(bad(path, "`defaults` is a list")),
        };
        let mut entries = Vec::new();
        for item in &defaults {
            entries.extend(self.entry(path, item)?);
        }
        if !entries.iter().any(|e| matches!(e, Entry::SelfHere)) {
            entries.push(Entry::SelfHere);
        }
        let mut out = J::Object(Map::new());
        for e in entries {
            match e {
                Entry::SelfHere => merge(&mut out, std::mem::take(&mut own)),
                Entry::File(f) => {
                    let t = self.file(&f, depth + 1)?;
                    merge(&mut out, t);
                }
                Entry::Group { package, file } => {
                    let t = self.file(&file, depth + 1)?;
                    let mut placed = J::Object(Map::new());
                    super::tree::set(&mut placed, &package, t);
                    merge(&mut out, placed);
                }
            }
        }
        Ok(out)
    }

    fn entry(&mut self, from: &Path, item: &J) -> Result<Option<Entry>> {
        match item {
            J::String(s) if s == "_self_" => Ok(Some(Entry::SelfHere)),
            J::String(s) => Ok(Some(Entry::File(find(&self.root, s, from)?))),
            J::Object(m) if m.len() == 1 => {
                let (group, option) = m
                    .iter()
                    .next()
                    .map(|(k, v)| (k.trim_start_matches("override ").to_owned(), v))
                    .unwrap_or_default();
                self.groups.insert(group.clone());
                let option = match self.choices.get(&group) {
                    Some(chosen) => chosen.clone(),
                    None => match option {
                        J::String(o) => o.clone(),
                        J::Null => return Ok(None),
                        other => {
                            return Err(bad(
                                from,
                                format!("the option of group {group:?} is {other}, not a name"),
                            ));
                        }
                    },
                };
                let file = find(&self.root.join(&group), &option, from).map_err(|_| {
                    let options = list_options(&self.root.join(&group));
                    bad(
                        from,
                        format!(
                            "group {group:?} has no option {option:?}; it has: {}",
                            options.join(", ")
                        ),
                    )
                })?;
                Ok(Some(Entry::Group {
                    package: group.replace('/', "."),
                    file,
                }))
            }
            other => Err(bad(
                from,
                format!(
                    "a defaults entry is a file name, `_self_` or `group: option`, not {other}"
                ),
            )),
        }
    }
}

/// The options of a group: its directory's config files, without extensions.
fn list_options(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            let ext = p.extension()?.to_str()?;
            ["yaml", "yml", "toml", "json"]
                .contains(&ext)
                .then(|| p.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    v.sort();
    v
}
