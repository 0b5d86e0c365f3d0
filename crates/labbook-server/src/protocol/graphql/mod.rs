//! `POST /graphql`: parse the request, pick the operation, answer it.

mod artifact_queries;
mod artifacts;
mod runs;

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth;
use crate::error::ApiError;
use crate::server::{AppState, Operation};

/// A GraphQL request body.
#[derive(Debug, Deserialize)]
struct GraphqlRequest {
    #[serde(default)]
    query: String,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

/// The variables of one request, with typed getters.
pub(crate) struct Vars(Map<String, Value>);

impl Vars {
    /// A string variable, `None` when absent or null.
    pub(crate) fn str(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(Value::as_str).map(str::to_owned)
    }

    /// A required string variable.
    pub(crate) fn require(&self, name: &str) -> Result<String, ApiError> {
        self.str(name)
            .ok_or_else(|| ApiError::bad(format!("variable `{name}` must be a string")))
    }

    /// Any variable, `None` when absent or null.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// The `input` object if the operation takes one, else the variables themselves.
    pub(crate) fn input(&self) -> Vars {
        match self.0.get("input") {
            Some(Value::Object(input)) => Vars(input.clone()),
            _ => Vars(self.0.clone()),
        }
    }
}

/// Handles `POST /graphql`.
pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth::check(&headers, &state.api_key)?;
    let request: GraphqlRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("GraphQL body is not a JSON request: {e}")))?;
    let sniffed = sniff_operation(&request.query);
    // As a GraphQL server: the operation named must be one the document defines.
    if let (Some(given), Some(found)) = (
        request.operation_name.as_deref().filter(|n| !n.is_empty()),
        sniffed.as_deref(),
    ) && !operations(&request.query).any(|o| o == given)
    {
        return Err(ApiError::bad(format!(
            "operationName `{given}` is not in the document, which defines `{found}`"
        )));
    }
    let operation = request
        .operation_name
        .filter(|name| !name.is_empty())
        .or(sniffed)
        .unwrap_or_default();
    let vars = Vars(request.variables.unwrap_or_default());
    let mut data = answer(&state, &operation, &vars)?;
    select(&mut data, &request.query);
    let mut response = Json(json!({ "data": data })).into_response();
    response.extensions_mut().insert(Operation(operation));
    Ok(response)
}

/// The `data` for `operation`; unknown operations get `{}`.
fn answer(state: &AppState, operation: &str, vars: &Vars) -> Result<Value, ApiError> {
    match operation {
        "Viewer" => Ok(runs::viewer(state)),
        "ServerFeaturesQuery" => Ok(runs::server_features(state)),
        "UpsertBucket" => runs::upsert_bucket(state, vars),
        "OrganizationCoreWeaveOrganizationID" => Ok(runs::organization(vars)),
        "CreateRunFiles" => runs::create_run_files(state, vars),
        "NotifyScriptableRunAlert" => runs::alert(state, vars),
        "RunResumeStatus" => runs::resume_status(state, vars),
        "RunStoppedStatus" => runs::stopped_status(state, vars),
        "CreateArtifact" => artifacts::create(state, vars),
        "CreateArtifactManifest" => artifacts::create_manifest(state, vars),
        "CreateArtifactFiles" => artifacts::create_files(state, vars),
        "CommitArtifact" => artifacts::commit(state, vars),
        "CompleteMultipartUploadArtifact" => artifacts::complete_multipart(state, vars),
        "UseArtifact" => artifacts::use_artifact(state, vars),
        "ArtifactType" => artifacts::artifact_type(state, vars),
        "GetDefaultEntity" => Ok(runs::viewer(state)),
        "ArtifactMembershipByName" => artifact_queries::membership_by_name(state, vars),
        "ArtifactByID" => artifact_queries::by_id(state, vars),
        "FetchArtifactManifest" => artifact_queries::manifest(state, vars),
        "GetArtifactMembershipFileUrls" => artifact_queries::file_urls(state, vars),
        "LinkArtifact" => artifact_queries::link(state, vars),
        other => {
            tracing::debug!(operation = other, "unknown GraphQL operation");
            Ok(json!({}))
        }
    }
}

/// Answers only the fields the document asks for, as a GraphQL server does, so a client
/// that reads a field it did not select fails here as it would against W&B. The test is
/// by name (a field, alias or fragment field anywhere in the document), below each
/// top-level field the document names; a bare document (`mutation X { x }`, as some tests
/// send) gets the whole answer.
fn select(data: &mut Value, query: &str) {
    fn prune(v: &mut Value, words: &std::collections::HashSet<&str>) {
        match v {
            Value::Object(map) => {
                map.retain(|k, _| words.contains(k.as_str()));
                map.values_mut().for_each(|v| prune(v, words));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| prune(v, words)),
            _ => {}
        }
    }
    let words: std::collections::HashSet<&str> = query
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

/// The names of the operations a document defines (after `query`, `mutation` or
/// `subscription`).
fn operations(query: &str) -> impl Iterator<Item = &str> {
    // Words at the top level of the document only (not field names inside selections),
    // with comments and strings left out.
    let mut top = Vec::new();
    let (mut depth, mut start, mut chars) =
        (0usize, None::<usize>, query.char_indices().peekable());
    while let Some((i, c)) = chars.next() {
        let word = c.is_alphanumeric() || c == '_';
        if !word
            && let Some(s) = start.take()
            && depth == 0
        {
            top.push(&query[s..i]);
        }
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '#' => {
                while chars.peek().is_some_and(|(_, c)| *c != '\n') {
                    chars.next();
                }
            }
            '"' => {
                for (_, c) in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                }
            }
            _ if word && start.is_none() => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start
        && depth == 0
    {
        top.push(&query[s..]);
    }
    let mut words = top.into_iter();
    std::iter::from_fn(move || {
        while let Some(word) = words.next() {
            if matches!(word, "query" | "mutation" | "subscription") {
                return words.next();
            }
        }
        None
    })
}

/// The name after the first `query` or `mutation` keyword, if the body gave none.
fn sniff_operation(query: &str) -> Option<String> {
    let mut words = query.split(|c: char| !(c.is_alphanumeric() || c == '_'));
    while let Some(word) = words.next() {
        if word == "query" || word == "mutation" {
            return words.find(|w| !w.is_empty()).map(str::to_owned);
        }
    }
    None
}

/// Percent-encodes what cannot stand in a URL path as is (keeps `/`).
pub(crate) fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_of_a_document_is_found() {
        let doc = "fragment F on Artifact { id } query A($x: ID) { a } mutation B { b }";
        assert_eq!(operations(doc).collect::<Vec<_>>(), ["A", "B"]);
        // Field names and comments are not operations.
        let doc = "fragment F on T { query } # mutation Fake\n mutation Real { b(s: \"query X\") }";
        assert_eq!(operations(doc).collect::<Vec<_>>(), ["Real"]);
    }

    #[test]
    fn sniffs_the_operation_name() {
        assert_eq!(
            sniff_operation("mutation UpsertBucket($id: String) { x }").as_deref(),
            Some("UpsertBucket")
        );
        assert_eq!(
            sniff_operation("query  Viewer { viewer { id } }").as_deref(),
            Some("Viewer")
        );
        assert_eq!(sniff_operation("{ viewer { id } }"), None);
    }

    #[test]
    fn encodes_odd_characters_only() {
        assert_eq!(encode_path("media/a b%.png"), "media/a%20b%25.png");
    }
}
