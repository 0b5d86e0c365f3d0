//! GraphQL field selection, strictly: an answer keeps only the fields its document asks for.

use std::collections::HashSet;

use serde_json::Value;

/// Answers only the fields the document asks for, as a GraphQL server does, so a client
/// that reads a field it did not select fails here as it would against W&B. The test is
/// by name (a field, alias or fragment field anywhere in the document), below each
/// top-level field the document names; a bare document (`mutation X { x }`, as some tests
/// send) gets the whole answer.
pub(crate) fn select(data: &mut Value, query: &str) {
    fn prune(v: &mut Value, words: &HashSet<&str>) {
        match v {
            Value::Object(map) => {
                map.retain(|k, _| words.contains(k.as_str()));
                map.values_mut().for_each(|v| prune(v, words));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| prune(v, words)),
            _ => {}
        }
    }
    let words: HashSet<&str> = query
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    if let Value::Object(top) = data {
        for (field, v) in top.iter_mut() {
            if words.contains(field.as_str()) {
                prune(v, &words);
            }
        }
    }
}
