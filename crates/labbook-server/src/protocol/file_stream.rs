//! `POST /files/{entity}/{project}/{run}/file_stream`: history, events, summary and console
//! lines at line offsets, plus `uploaded`, `preempting`, `complete` and `exitcode`.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use flate2::read::GzDecoder;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth;
use crate::error::ApiError;
use crate::server::AppState;
use crate::storage::{JsonLine, OffsetViolation, RunKey, RunState};

const HISTORY: &str = "wandb-history.jsonl";
const EVENTS: &str = "wandb-events.jsonl";
const SUMMARY: &str = "wandb-summary.json";
const OUTPUT: &str = "output.log";

/// A `file_stream` request body; every key is optional.
#[derive(Debug, Default, Deserialize)]
struct FileStreamRequest {
    #[serde(default)]
    files: BTreeMap<String, Chunk>,
    #[serde(default)]
    uploaded: Vec<String>,
    #[serde(default)]
    preempting: Option<bool>,
    #[serde(default)]
    complete: Option<bool>,
    #[serde(default)]
    exitcode: Option<i64>,
}

/// Lines of one file starting at line `offset`.
#[derive(Debug, Default, Deserialize)]
struct Chunk {
    #[serde(default)]
    offset: usize,
    #[serde(default)]
    content: Vec<String>,
}

/// An offset that did not continue at the stored line count: (file, expected, received, lines).
type Mismatch = (String, usize, usize, usize);

/// Handles one `file_stream` request; answers `{}`, or `{"stopped": true}` for a run asked
/// to stop.
pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    Path((entity, project, run)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    auth::check(&headers, &state.api_key)?;
    let body = decode_body(&headers, &body)?;
    let request: FileStreamRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("file_stream body is not a valid request: {e}")))?;
    let key = RunKey::new(entity, project, run);
    let mut request = Some(request);
    let mut mismatches = Vec::new();
    let mut stopped = false;
    state.storage.update_run(&key, &mut |run| {
        if let Some(request) = request.take() {
            mismatches = apply(run, request);
        }
        stopped = run.stop_requested;
    });
    for (file, expected, received, lines) in mismatches {
        tracing::warn!(?key, %file, expected, received, "file_stream offset violation");
        state.storage.record_violation(OffsetViolation {
            run: key.clone(),
            file,
            expected,
            received,
            lines,
        });
    }
    Ok(Json(if stopped {
        json!({"stopped": true})
    } else {
        json!({})
    }))
}

/// The body, gunzipped when `Content-Encoding: gzip`.
fn decode_body(headers: &HeaderMap, body: &Bytes) -> Result<Vec<u8>, ApiError> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if !gzip {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    GzDecoder::new(&body[..])
        .read_to_end(&mut out)
        .map_err(|e| ApiError::bad(format!("bad gzip body: {e}")))?;
    Ok(out)
}

/// Stores the request in `run`; returns the offsets that skipped or repeated lines.
fn apply(run: &mut RunState, request: FileStreamRequest) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    for (file, chunk) in request.files {
        let (lines, offset) = (chunk.content.len(), chunk.offset);
        let expected = match file.as_str() {
            HISTORY => place_json(&mut run.history, chunk),
            EVENTS => place_json(&mut run.events, chunk),
            SUMMARY => {
                if let Some(last) = chunk.content.last() {
                    run.summary = Some(JsonLine::parse(last.clone()));
                }
                (chunk.offset != 0).then_some(0)
            }
            OUTPUT => overwrite(&mut run.output, chunk),
            _ => overwrite(run.other_streams.entry(file.clone()).or_default(), chunk),
        };
        if let Some(expected) = expected {
            mismatches.push((file, expected, offset, lines));
        }
    }
    run.uploaded.extend(request.uploaded);
    if request.preempting == Some(true) {
        run.preempting = true;
    }
    if request.complete == Some(true) {
        run.complete = true;
    }
    if request.exitcode.is_some() {
        run.exit_code = request.exitcode;
    }
    mismatches
}

/// Appends JSON lines that must continue exactly at `lines.len()`. On a repeat the lines
/// replace the stored ones from the offset; on a skip they are appended at the end.
/// Returns the expected offset when the chunk did not continue exactly.
fn place_json(lines: &mut Vec<JsonLine>, chunk: Chunk) -> Option<usize> {
    let expected = lines.len();
    let parsed = chunk.content.into_iter().map(JsonLine::parse);
    if chunk.offset >= expected {
        lines.extend(parsed);
    } else {
        replace_from(lines, chunk.offset, parsed);
    }
    (chunk.offset != expected).then_some(expected)
}

/// Console lines: a chunk may start at or before the stored count and overwrites from its
/// offset. Returns the expected offset when lines were skipped.
fn overwrite(lines: &mut Vec<String>, chunk: Chunk) -> Option<usize> {
    let expected = lines.len();
    if chunk.offset > expected {
        lines.extend(chunk.content);
        return Some(expected);
    }
    replace_from(lines, chunk.offset, chunk.content);
    None
}

/// Writes `new` over `lines` starting at `offset`, growing `lines` as needed.
fn replace_from<T>(lines: &mut Vec<T>, offset: usize, new: impl IntoIterator<Item = T>) {
    for (index, line) in new.into_iter().enumerate() {
        match lines.get_mut(offset + index) {
            Some(slot) => *slot = line,
            None => lines.push(line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(file: &str, offset: usize, content: &[&str]) -> FileStreamRequest {
        let chunk = Chunk {
            offset,
            content: content.iter().map(|s| s.to_string()).collect(),
        };
        FileStreamRequest {
            files: BTreeMap::from([(file.to_owned(), chunk)]),
            ..FileStreamRequest::default()
        }
    }

    #[test]
    fn history_must_continue_exactly() {
        let mut run = RunState::default();
        assert!(apply(&mut run, request(HISTORY, 0, &["{\"a\":1}", "{\"a\":2}"])).is_empty());
        assert!(apply(&mut run, request(HISTORY, 2, &["{\"a\":3}"])).is_empty());
        // A repeat replaces from its offset, a skip appends; both are reported.
        let repeat = apply(&mut run, request(HISTORY, 1, &["{\"a\":20}"]));
        assert_eq!(repeat, vec![(HISTORY.to_owned(), 3, 1, 1)]);
        let skip = apply(&mut run, request(HISTORY, 5, &["{\"a\":4}"]));
        assert_eq!(skip, vec![(HISTORY.to_owned(), 3, 5, 1)]);
        let values: Vec<_> = run.history_values("a").into_iter().cloned().collect();
        assert_eq!(values, [1, 20, 3, 4].map(Value::from));
    }

    #[test]
    fn output_may_be_resent_and_summary_is_replaced() {
        let mut run = RunState::default();
        assert!(apply(&mut run, request(OUTPUT, 0, &["a", "b\r"])).is_empty());
        assert!(apply(&mut run, request(OUTPUT, 1, &["b2", "c"])).is_empty());
        assert_eq!(run.output, ["a", "b2", "c"]);
        apply(&mut run, request(SUMMARY, 0, &["{\"x\":1}"]));
        apply(&mut run, request(SUMMARY, 0, &["{\"x\":NaN}"]));
        assert_eq!(run.summary_json().unwrap()["x"], "NaN");
    }
}
