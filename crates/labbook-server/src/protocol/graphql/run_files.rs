//! `RunFiles` (`run.files()`, `run.file(name)`): a run's files by pages, each with a
//! signed download URL.

use serde_json::{Value, json};

use super::Vars;
use super::reads::{cursor, file_id, iso, offset_of, page_size};
use crate::access::urls::signed_url;
use crate::error::ApiError;
use crate::protocol::encode_path;
use crate::state::AppState;
use crate::store::RunRecord;

/// Whether `name` matches an SQL `LIKE` pattern (`%` any run of characters, `_` one).
fn like(name: &str, pattern: &str) -> bool {
    let mut re = String::from("(?s)^");
    for c in pattern.chars() {
        match c {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).is_ok_and(|r| r.is_match(name))
}

/// `RunFiles`: the files named (`fileNames`), or matching `pattern`, or all, in pages of
/// `fileLimit` after `fileCursor`.
pub(crate) async fn run_files(
    state: &AppState,
    run: &RunRecord,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let names = vars.strings("fileNames", "RunFiles")?.unwrap_or_default();
    let pattern = vars.str("pattern");
    let mut files = state.service.run_files(&run.key).await?;
    files.sort();
    files.retain(|(name, _)| {
        (names.is_empty() || names.contains(name))
            && pattern.as_deref().is_none_or(|p| like(name, p))
    });
    let limit = page_size(vars, "fileLimit", 50);
    let from = offset_of("files", vars.str("fileCursor"))?;
    let key = &run.key;
    let edges: Vec<Value> = files
        .iter()
        .enumerate()
        .skip(from)
        .take(limit)
        .map(|(i, (name, size))| {
            let path = format!(
                "/run-files/{}/{}/{}/{}",
                encode_path(&key.entity),
                encode_path(&key.project),
                encode_path(&key.run),
                encode_path(name)
            );
            let url = signed_url(state, "GET", &path);
            json!({"node": {
                "id": file_id(&run.storage_id, name),
                "name": name,
                "url": url,
                "directUrl": url,
                "sizeBytes": size,
                "mimetype": null,
                "updatedAt": iso(run.heartbeat_ms.or(run.created_ms)),
                "md5": null,
            }, "cursor": cursor("files", i + 1)})
        })
        .collect();
    let end = from + edges.len();
    Ok(json!({
        "fileCount": files.len(),
        "files": {
            "edges": edges,
            "pageInfo": {"endCursor": cursor("files", end), "hasNextPage": end < files.len()},
        },
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_match_as_sql_does() {
        assert!(super::like("media/images/a.png", "media/%"));
        assert!(super::like("a.txt", "_.txt"));
        assert!(!super::like("ab.txt", "_.txt"));
        assert!(super::like("x(1).log", "x(1)%"));
        assert!(!super::like("output.log", "%.json"));
    }
}
