//! The floor plan of labbook-core, checked: its top-level parts (the folders under
//! `crates/labbook-core/src/`, and the few files beside them) import each other without a
//! circle, so each part can be read, tested and changed from its own imports down.
//!
//! An import is any `crate::<part>` path in a part's source, in a `use` or inline. The one
//! circle allowed is `value` ↔ `media` (a value may hold media, and encoded media are
//! values: a recursive data type, as `value/mod.rs` says).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Circles between two parts that are allowed, with the reason in the part's docs.
const ALLOWED: &[(&str, &str)] = &[("media", "value")];

/// Files at the crate root that are not parts: the facade and the test-only strategies.
const NOT_PARTS: &[&str] = &["lib", "testing"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The part a file belongs to: its first folder under `src/`, or its own stem.
fn part_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_str()
        .unwrap();
    first.trim_end_matches(".rs").to_owned()
}

/// The source without comments and without its `#[cfg(test)]` module (tests may reach
/// anywhere), so a path named in prose or a test is not an import.
fn code_of(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod "))
        .unwrap_or(lines.len());
    strip_comments(&lines[..end])
}

fn strip_comments(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The part behind each name the crate root re-exports (`crate::Run` is the `run` part),
/// read from lib.rs's `pub use <part>::...` lines; `init` is the run's.
fn root_names(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([("init".to_owned(), "run".to_owned())]);
    let code = strip_comments(&lib.lines().collect::<Vec<_>>());
    for stmt in code.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let part: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let names = match (rest.find('{'), rest.rfind('}')) {
            (Some(a), Some(b)) => rest[a + 1..b].to_owned(),
            _ => rest.rsplit("::").next().unwrap_or_default().to_owned(),
        };
        for name in names.split(',') {
            let name = name.rsplit(" as ").next().unwrap_or_default();
            let name = name.rsplit("::").next().unwrap_or_default().trim();
            if !name.is_empty() {
                out.insert(name.to_owned(), part.clone());
            }
        }
    }
    out
}

/// The parts `code` names as `crate::<part>`, including inside `crate::{a, b::c}`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        // `labbook_core::` or a longer identifier ending in `crate` is not this crate.
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(group.len(), |(j, _)| j);
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group[..end].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_alphanumeric() || c == '_') => {
                        let name: String = group[j..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        out.insert(name);
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

/// Every edge between two different parts, with a file that makes it.
fn edges(src: &Path) -> BTreeMap<(String, String), PathBuf> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let parts: BTreeSet<String> = files.iter().map(|f| part_of(src, f)).collect();
    let root = root_names(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut out = BTreeMap::new();
    for file in files {
        let from = part_of(src, &file);
        if NOT_PARTS.contains(&from.as_str()) {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        for name in imports(&code) {
            let to = root.get(&name).cloned().unwrap_or(name);
            if to != from && parts.contains(&to) && !NOT_PARTS.contains(&to.as_str()) {
                out.entry((from.clone(), to))
                    .or_insert_with(|| file.clone());
            }
        }
    }
    out
}

/// The circles: for each edge a → b, a path from b back to a (if any), as a list of parts.
fn circles(edges: &BTreeMap<(String, String), PathBuf>) -> Vec<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        next.entry(a).or_default().push(b);
    }
    let mut found = BTreeSet::new();
    for (a, b) in edges.keys() {
        // Breadth-first from b to a.
        let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([b.as_str()]);
        let mut seen = BTreeSet::from([b.as_str()]);
        while let Some(n) = queue.pop_front() {
            if n == a {
                let mut path = vec![a.clone()];
                let mut at = n;
                while at != b {
                    at = prev[at];
                    path.push(at.to_owned());
                }
                path.reverse();
                // One spelling per circle: rotated to start at its smallest part.
                let min = (0..path.len()).min_by_key(|&i| &path[i]).unwrap();
                path.rotate_left(min);
                found.insert(path);
                break;
            }
            for &m in next.get(n).map_or(&[][..], Vec::as_slice) {
                if seen.insert(m) {
                    prev.insert(m, n);
                    queue.push_back(m);
                }
            }
        }
    }
    found
        .into_iter()
        .filter(|c| {
            !(c.len() == 2
                && ALLOWED
                    .iter()
                    .any(|(x, y)| (c[0] == *x && c[1] == *y) || (c[0] == *y && c[1] == *x)))
        })
        .collect()
}

#[test]
fn labbook_core_parts_import_each_other_without_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/labbook-core/src");
    let edges = edges(&src);
    let circles = circles(&edges);
    let shown: Vec<String> = circles
        .iter()
        .map(|c| {
            let hops: Vec<String> = c
                .iter()
                .zip(c.iter().cycle().skip(1))
                .map(|(a, b)| {
                    let file = &edges[&(a.clone(), b.clone())];
                    format!(
                        "{a} -> {b} ({})",
                        file.strip_prefix(&src).unwrap().display()
                    )
                })
                .collect();
            hops.join(", ")
        })
        .collect();
    assert!(
        circles.is_empty(),
        "{} import circles between labbook-core's parts:\n{}",
        circles.len(),
        shown.join("\n")
    );
}

#[test]
fn the_import_scanner_reads_groups_and_skips_comments() {
    let code = code_of(
        "use crate::{engine::{Queue, Msg}, value::Value};\n\
         // crate::online is only named here\n\
         let x = crate::media::encode(labbook_core::run::x);",
    );
    let got: Vec<String> = imports(&code).into_iter().collect();
    assert_eq!(got, ["engine", "media", "value"]);
    let root = root_names("pub use run::{AlertLevel, Run};\npub use wire::json as wandb_json;");
    assert_eq!(root["Run"], "run");
    assert_eq!(root["wandb_json"], "wire");
}
