//! Reading JSON as W&B writes it: bare `NaN`, `Infinity` and `-Infinity` tokens are
//! allowed (the official client and labbook both write them).

/// Parses W&B JSON. Bare `NaN`, `Infinity` and `-Infinity` outside strings become the
/// JSON strings `"NaN"`, `"Infinity"` and `"-Infinity"` (serde_json has no non-finite
/// numbers); everything else is standard JSON.
///
/// ```
/// let v = labbook_wire::json::parse(r#"{"loss": NaN, "hi": -Infinity, "s": "NaN"}"#).unwrap();
/// assert_eq!(v["loss"], "NaN");
/// assert_eq!(v["hi"], "-Infinity");
/// ```
pub fn parse(text: &str) -> serde_json::Result<serde_json::Value> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(_) => serde_json::from_str(&quote_non_finite(text)),
    }
}

/// Rewrites the non-finite tokens outside strings as quoted strings.
fn quote_non_finite(text: &str) -> String {
    const TOKENS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some(token) = TOKENS.iter().find(|t| rest.starts_with(**t)) {
            out.push('"');
            out.push_str(token);
            out.push('"');
            rest = &rest[token.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_outside_strings() {
        let v = parse(r#"{"a":NaN,"b":[Infinity,-Infinity,1],"c":"x\"NaN"}"#).unwrap();
        assert_eq!(v["a"], "NaN");
        assert_eq!(v["b"][0], "Infinity");
        assert_eq!(v["b"][1], "-Infinity");
        assert_eq!(v["b"][2], 1);
        assert_eq!(v["c"], "x\"NaN");
    }

    #[test]
    fn rejects_broken_json() {
        assert!(parse("{\"a\":").is_err());
    }
}
