//! Run names from the config: `{model.arch}_lr{train.lr}` becomes `resnet18_lr0.001`.

use crate::error::{Error, Result};
use crate::value::Value;

/// Fills each `{dotted.key}` of `template` with that config value (`{{` and `}}` are
/// literal braces). A key the config lacks is an error naming the closest one it has.
pub(crate) fn render(template: &str, config: &[(String, Value)]) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
            out.push_str(&tail[..1]);
            rest = after;
            continue;
        }
        if tail.starts_with('}') {
            return Err(bad(
                template,
                "a `}` without its `{` (write `}}` for a brace)",
            ));
        }
        let Some(end) = tail.find('}') else {
            return Err(bad(
                template,
                "a `{` without its `}` (write `{{` for a brace)",
            ));
        };
        let key = tail[1..end].trim();
        let value = lookup(config, key).ok_or_else(|| missing(template, key, config))?;
        match value {
            Value::Str(s) => out.push_str(s),
            other => out.push_str(&other.to_json()),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup<'a>(config: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    let mut parts = key.split('.');
    let first = parts.next()?;
    let mut at = &config.iter().find(|(k, _)| k == first)?.1;
    for part in parts {
        let Value::Map(items) = at else { return None };
        at = &items.iter().find(|(k, _)| k == part)?.1;
    }
    Some(at)
}

fn bad(template: &str, reason: &str) -> Error {
    Error::InvalidSetting {
        name: format!("name_template {template:?}"),
        reason: reason.to_owned(),
    }
}

fn missing(template: &str, key: &str, config: &[(String, Value)]) -> Error {
    let mut keys = Vec::new();
    leaf_keys(config, "", &mut keys);
    let reason = match crate::value::closest(key, keys.iter().map(String::as_str)) {
        Some(near) => format!("the config has no key {key:?}; did you mean {near:?}?"),
        None => format!("the config has no key {key:?}"),
    };
    bad(template, &reason)
}

fn leaf_keys(items: &[(String, Value)], prefix: &str, out: &mut Vec<String>) {
    for (k, v) in items {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if let Value::Map(inner) = v {
            leaf_keys(inner, &path, out);
        }
        out.push(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Vec<(String, Value)> {
        vec![
            (
                "model".into(),
                Value::map([("arch", "resnet18".into()), ("depth", 18.into())]),
            ),
            ("train".into(), Value::map([("lr", 0.001.into())])),
            ("amp".into(), true.into()),
        ]
    }

    #[test]
    fn keys_are_filled_in_with_the_config_values() {
        let name = render(
            "{model.arch}_lr{ train.lr }_d{model.depth}_{amp}_SCORE_PLACEHOLDER",
            &cfg(),
        );
        assert_eq!(name.unwrap(), "resnet18_lr0.001_d18_true_SCORE_PLACEHOLDER");
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(
            render("{{x}}-{model.arch}", &cfg()).unwrap(),
            "{x}-resnet18"
        );
    }

    #[test]
    fn a_missing_key_names_the_closest_one() {
        let e = render("{model.arhc}", &cfg()).unwrap_err().to_string();
        assert!(
            e.contains("no key \"model.arhc\"") && e.contains("did you mean \"model.arch\""),
            "{e}"
        );
        let e = render("{x.y}", &cfg()).unwrap_err().to_string();
        assert!(e.contains("no key \"x.y\""), "{e}");
    }

    #[test]
    fn unbalanced_braces_are_errors() {
        assert!(
            render("{model.arch", &cfg())
                .unwrap_err()
                .to_string()
                .contains("without its `}`")
        );
        assert!(
            render("a}b", &cfg())
                .unwrap_err()
                .to_string()
                .contains("without its `{`")
        );
    }
}
