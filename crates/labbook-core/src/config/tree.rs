//! A config as a JSON tree: merging layers, and keys addressed by dotted paths.

use serde_json::{Map, Value as J};

/// Merges `top` into `base`: objects key by key, anything else replaced.
pub(super) fn merge(base: &mut J, top: J) {
    match (base, top) {
        (J::Object(b), J::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, top) => *slot = top,
    }
}

/// The value at a dotted path.
pub(super) fn get<'a>(tree: &'a J, path: &str) -> Option<&'a J> {
    path.split('.')
        .try_fold(tree, |at, part| at.as_object()?.get(part))
}

/// Sets the value at a dotted path, creating objects on the way (a non-object on the way
/// is replaced by one).
pub(super) fn set(tree: &mut J, path: &str, value: J) {
    let mut at = tree;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        if !at.is_object() {
            *at = J::Object(Map::new());
        }
        let J::Object(m) = at else { return };
        at = m
            .entry((*part).to_owned())
            .or_insert_with(|| J::Object(Map::new()));
    }
    if !at.is_object() {
        *at = J::Object(Map::new());
    }
    if let (J::Object(m), Some(last)) = (at, parts.last()) {
        m.insert((*last).to_owned(), value);
    }
}

/// Every key's dotted path, objects and leaves.
pub(super) fn paths(tree: &J) -> Vec<String> {
    fn walk(v: &J, prefix: &str, out: &mut Vec<String>) {
        if let J::Object(m) = v {
            for (k, child) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.push(p.clone());
                walk(child, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(tree, "", &mut out);
    out
}

/// A value written on a command line or in a variable: YAML's reading of it (`3` is a
/// number, `true` a boolean, `[1, 2]` a list, `~` null), else the text itself.
pub(super) fn parse_scalar(text: &str) -> J {
    serde_yaml_ng::from_str::<J>(text).unwrap_or_else(|_| J::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merging_goes_key_by_key_and_paths_reach_leaves() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge(&mut base, json!({"a": {"c": 3}, "d": [2, 3]}));
        assert_eq!(base, json!({"a": {"b": 1, "c": 3}, "d": [2, 3]}));
        assert_eq!(get(&base, "a.c"), Some(&json!(3)));
        set(&mut base, "x.y", json!("z"));
        assert_eq!(get(&base, "x.y"), Some(&json!("z")));
        assert_eq!(paths(&json!({"a": {"b": 1}})), ["a", "a.b"]);
        assert_eq!(parse_scalar("0.1"), json!(0.1));
        assert_eq!(parse_scalar("[1, 2]"), json!([1, 2]));
        assert_eq!(parse_scalar("adam"), json!("adam"));
    }
}
