//! `POST /graphql`: parse the request, pick the operation, answer it. The operation table
//! is what W&B's clients send; each operation reads its variables and calls the service.

mod artifact_queries;
mod artifacts;
mod reads;
mod run_files;
mod runs;

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::access::AuthedUser;
use crate::error::ApiError;
use crate::state::{AppState, Operation};
use crate::store::Caller;

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

    /// A list of strings, `None` when absent; an error naming the operation otherwise.
    pub(crate) fn strings(
        &self,
        name: &str,
        operation: &str,
    ) -> Result<Option<Vec<String>>, ApiError> {
        match self.get(name) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|t| t.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| ApiError::bad(format!("{operation} `{name}` must be strings"))),
            Some(_) => Err(ApiError::bad(format!(
                "{operation} `{name}` must be a list"
            ))),
            None => Ok(None),
        }
    }

    /// The entity variable `name`, the caller's own when absent; 403 when the caller may
    /// not use it.
    pub(crate) fn entity(&self, name: &str, caller: &Caller) -> Result<String, ApiError> {
        let entity = self.str(name).unwrap_or_else(|| caller.user.clone());
        crate::service::allow(caller, &entity)?;
        Ok(entity)
    }

    /// The `alias` of each `{alias: ...}` in a list (artifact aliases).
    pub(crate) fn aliases(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(Value::Array(aliases)) => aliases
                .iter()
                .filter_map(|a| a.get("alias").and_then(Value::as_str).map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Handles `POST /graphql`.
pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    Extension(AuthedUser(caller)): Extension<AuthedUser>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: GraphqlRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("GraphQL body is not a JSON request: {e}")))?;
    let limit = state.limits.graphql_document;
    if request.query.len() > limit {
        return Err(ApiError::TooLarge(format!(
            "the GraphQL document is {} bytes, over the limit of {limit}",
            request.query.len()
        )));
    }
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
    #[cfg_attr(
        not(feature = "testing"),
        expect(unused_mut, reason = "pruned under testing")
    )]
    let mut data = answer(&state, &caller, &operation, &vars).await?;
    #[cfg(feature = "testing")]
    crate::testing::select(&mut data, &request.query);
    let mut response = Json(json!({ "data": data })).into_response();
    response.extensions_mut().insert(Operation(operation));
    Ok(response)
}

/// The `data` for `operation` asked by `caller`; unknown operations get `{}`.
async fn answer(
    state: &AppState,
    caller: &Caller,
    operation: &str,
    vars: &Vars,
) -> Result<Value, ApiError> {
    match operation {
        "Viewer" | "GetDefaultEntity" => Ok(runs::viewer(caller)),
        "GetViewer" => runs::viewer_full(state, caller).await,
        "GetTeamEntity" => runs::team_entity(state, caller, vars).await,
        // labbook serve has no organizations (a team is what users share runs in): every
        // one asked for is not found, which the public API reports as such.
        "FetchOrganization" => Ok(json!({"organization": null})),
        "ServerFeaturesQuery" => Ok(runs::server_features(state)),
        "UpsertBucket" => runs::upsert_bucket(state, caller, vars).await,
        "OrganizationCoreWeaveOrganizationID" => Ok(runs::organization(vars)),
        "CreateRunFiles" => runs::create_run_files(state, caller, vars).await,
        "NotifyScriptableRunAlert" => runs::alert(state, caller, vars).await,
        "RunResumeStatus" => runs::resume_status(state, caller, vars).await,
        "RunStoppedStatus" => runs::stopped_status(state, caller, vars).await,
        "DeleteRun" => runs::delete_run(state, caller, vars).await,
        "CreateArtifact" => artifacts::create(state, caller, vars).await,
        "CreateArtifactManifest" => artifacts::create_manifest(state, caller, vars).await,
        "CreateArtifactFiles" => artifacts::create_files(state, caller, vars).await,
        "CommitArtifact" => artifacts::commit(state, caller, vars).await,
        "CompleteMultipartUploadArtifact" => {
            artifacts::complete_multipart(state, caller, vars).await
        }
        "UseArtifact" => artifacts::use_artifact(state, caller, vars).await,
        "ArtifactType" => artifacts::artifact_type(state, caller, vars).await,
        "ArtifactMembershipByName" => {
            artifact_queries::membership_by_name(state, caller, vars).await
        }
        "ArtifactByID" => artifact_queries::by_id(state, caller, vars).await,
        "FetchArtifactManifest" => artifact_queries::manifest(state, caller, vars).await,
        "GetArtifactMembershipFileUrls" => artifact_queries::file_urls(state, caller, vars).await,
        "LinkArtifact" => artifact_queries::link(state, caller, vars).await,
        "Runs" => reads::runs(state, caller, vars).await,
        "GetProjects" => reads::projects(state, caller, vars).await,
        op @ ("Run" | "RunFullHistory" | "RunSampledHistory" | "SampledHistoryPage"
        | "RunHistoryKeys" | "RunParquetHistory" | "HistoryPage" | "RunFiles"
        | "RunOutputArtifacts" | "RunInputArtifacts") => {
            reads::about_run(state, caller, vars, op).await
        }
        other => {
            tracing::debug!(operation = other, "unknown GraphQL operation");
            Ok(json!({}))
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
}
