//! GraphQL field selection, strictly: an answer keeps only the fields its document asks for.

use std::collections::HashSet;

use serde_json::Value;

/// Answers only the fields the document asks for, as a GraphQL server does, so a client
/// that reads a field it did not select fails here as it would against W&B. The test is
/// by name (a field, alias or fragment field anywhere in the document), below each
/// top-level field the document names; a bare document (`mutation X { x }`, as some tests
/// send) gets the whole answer.
pub(crate) fn select(data: &mut Value, query: &str) {
    // Below a field without a selection set of its own (a JSON scalar such as
    // `historyKeys` or `sampledHistory`) the value is answered whole.
    fn prune(v: &mut Value, words: &HashSet<&str>, nested: &HashSet<&str>) {
        match v {
            Value::Object(map) => {
                map.retain(|k, _| words.contains(k.as_str()));
                for (k, v) in map.iter_mut() {
                    if nested.contains(k.as_str()) {
                        prune(v, words, nested);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| prune(v, words, nested)),
            _ => {}
        }
    }
    let words: HashSet<&str> = query
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let nested = with_selection(query);
    if let Value::Object(top) = data {
        for (field, v) in top.iter_mut() {
            if words.contains(field.as_str()) {
                prune(v, &words, &nested);
            }
        }
    }
}

/// The names in `query` followed by a selection set (`name { ...`, or `name(args) {`):
/// the fields whose values are objects to select from.
fn with_selection(query: &str) -> HashSet<&str> {
    let bytes = query.as_bytes();
    let mut out = HashSet::new();
    let mut i = 0;
    while i < bytes.len() {
        if !(bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        let name = &query[start..i];
        let mut j = i;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if j < bytes.len() && bytes[j] == b'(' {
            let mut depth = 0;
            while j < bytes.len() {
                match bytes[j] {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            j += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
        }
        if j < bytes.len() && bytes[j] == b'{' {
            out.insert(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn fields_are_selected_but_json_scalars_are_answered_whole() {
        let query = "query RunHistoryKeys($name: String!) { project(name: $p) { run(name: $name) { historyKeys } } }";
        let mut data = json!({"project": {"internalId": "1", "run": {
            "historyKeys": {"lastStep": 9, "keys": {}}, "state": "finished"}}});
        super::select(&mut data, query);
        assert_eq!(
            data,
            json!({"project": {"run": {"historyKeys": {"lastStep": 9, "keys": {}}}}})
        );
    }
}
