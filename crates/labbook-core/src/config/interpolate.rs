//! `${...}` in config values: `${a.b}` (another key, resolved after every layer),
//! `${env:VAR}` / `${env:VAR,default}`, `${now:%Y-%m-%d}`, `${cwd}`. One that cannot be
//! resolved (an unknown resolver such as `${hydra:runtime.cwd}`, a missing key or
//! variable, a cycle) is kept as text and reported, never an error.

use serde_json::Value as J;

/// How deep `${a}` may lead to `${b}` and on (a cycle ends here).
const MAX_DEPTH: usize = 16;

/// Resolves every interpolation in `tree`; returns each key left unresolved, with why.
pub(super) fn resolve_all(
    tree: &mut J,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let snapshot = tree.clone();
    let mut unresolved = Vec::new();
    walk(tree, "", &mut |path, v| {
        let J::String(s) = v else { return };
        if !s.contains("${") {
            return;
        }
        match resolve_str(s, &snapshot, env, 0) {
            Ok(new) => *v = new,
            Err(why) => unresolved.push((path.to_owned(), why)),
        }
    });
    unresolved
}

fn walk(v: &mut J, path: &str, f: &mut dyn FnMut(&str, &mut J)) {
    match v {
        J::Object(m) => {
            for (k, child) in m.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(child, &p, f);
            }
        }
        J::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                walk(child, &format!("{path}.{i}"), f);
            }
        }
        leaf => f(path, leaf),
    }
}

/// A string with interpolations: a string that is one interpolation whole takes the
/// value's type (`lr: ${base.lr}` stays a number); otherwise each is put in as text.
fn resolve_str(
    s: &str,
    tree: &J,
    env: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) -> Result<J, String> {
    if depth > MAX_DEPTH {
        return Err("the interpolations refer to each other in a cycle".into());
    }
    let mut out = String::new();
    let mut rest = s;
    let mut whole: Option<J> = None;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            return Err(format!("{:?} has a `${{` without its `}}`", s));
        };
        let expr = &rest[start + 2..start + len];
        let value = one(expr, tree, env, depth)?;
        if start == 0 && len + 1 == rest.len() && out.is_empty() {
            whole = Some(value.clone());
        }
        out.push_str(&rest[..start]);
        match &value {
            J::String(t) => out.push_str(t),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(whole.unwrap_or(J::String(out)))
}

fn one(
    expr: &str,
    tree: &J,
    env: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) -> Result<J, String> {
    let expr = expr.trim();
    if let Some(var) = expr.strip_prefix("env:") {
        let (name, default) = match var.split_once(',') {
            Some((n, d)) => (n.trim(), Some(d.trim())),
            None => (var.trim(), None),
        };
        return match (env(name), default) {
            (Some(v), _) => Ok(J::String(v)),
            (None, Some(d)) => Ok(super::tree::parse_scalar(d)),
            (None, None) => Err(format!(
                "the variable {name} is not set and `${{env:{name}}}` has no default"
            )),
        };
    }
    if let Some(format) = expr.strip_prefix("now:") {
        use chrono::format::{Item, StrftimeItems};
        if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
            return Err(format!("{format:?} is not a strftime format"));
        }
        return Ok(J::String(chrono::Local::now().format(format).to_string()));
    }
    if expr == "cwd" {
        return std::env::current_dir()
            .map(|d| J::String(d.display().to_string()))
            .map_err(|e| format!("the working directory cannot be read: {e}"));
    }
    if let Some((resolver, _)) = expr.split_once(':') {
        return Err(format!(
            "no resolver {resolver:?} here (labbook knows env, now and cwd)"
        ));
    }
    let value = super::tree::get(tree, expr)
        .ok_or_else(|| format!("`${{{expr}}}` names no key of the config"))?;
    match value {
        J::String(s) if s.contains("${") => resolve_str(s, tree, env, depth + 1),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        (name == "DATA").then(|| "/data".to_owned())
    }

    #[test]
    fn keys_variables_time_and_cwd_are_resolved_and_the_rest_is_kept() {
        let mut t = json!({
            "base": {"lr": 0.1, "name": "run-${base.lr}"},
            "lr": "${base.lr}",
            "alias": "${base.name}",
            "data": "${env:DATA}/train",
            "cache": "${env:CACHE,/tmp/cache}",
            "day": "${now:%Y}",
            "here": "${cwd}",
            "out": "${hydra:runtime.cwd}/out",
            "missing": "${nope.key}",
            "loop_a": "${loop_b}",
            "loop_b": "${loop_a}",
        });
        let unresolved = resolve_all(&mut t, &env);
        assert_eq!(t["lr"], json!(0.1), "a whole interpolation keeps the type");
        assert_eq!(t["base"]["name"], "run-0.1");
        assert_eq!(t["alias"], "run-0.1");
        assert_eq!(t["data"], "/data/train");
        assert_eq!(t["cache"], "/tmp/cache");
        assert_eq!(t["day"].as_str().unwrap().len(), 4);
        assert!(!t["here"].as_str().unwrap().is_empty());
        assert_eq!(t["out"], "${hydra:runtime.cwd}/out", "kept as text");
        let keys: Vec<&str> = unresolved.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["loop_a", "loop_b", "missing", "out"]);
        assert!(unresolved[3].1.contains("hydra"), "{unresolved:?}");
    }
}
