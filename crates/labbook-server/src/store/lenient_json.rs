//! JSON as W&B writes it, with bare `NaN`, `Infinity` and `-Infinity` tokens.

/// Parses W&B JSON; see [`labbook_wire::json::parse`].
///
/// ```
/// use labbook_server::store::parse_lenient;
///
/// let v = parse_lenient(r#"{"loss": NaN, "hi": -Infinity, "s": "NaN"}"#).unwrap();
/// assert_eq!(v["loss"], "NaN");
/// assert_eq!(v["hi"], "-Infinity");
/// ```
pub fn parse_lenient(text: &str) -> serde_json::Result<serde_json::Value> {
    labbook_wire::json::parse(text)
}
