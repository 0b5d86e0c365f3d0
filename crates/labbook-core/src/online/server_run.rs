//! What the server holds of a run being resumed: how many lines of each stream it has, and
//! where the run goes on.

use super::client::Client;
use crate::error::Result;

/// What the server holds of a run that is being resumed.
pub(crate) struct ServerRun {
    /// Lines of history, events and output already there.
    pub lines: [u64; 3],
    /// Where the run goes on.
    pub from: crate::wire::ResumeFrom,
}

/// Asks the server about run `name` (RunResumeStatus); `None` if it has no such run.
pub(crate) fn resume_status(
    client: &Client,
    entity: Option<&str>,
    project: Option<&str>,
    name: &str,
) -> Result<Option<ServerRun>> {
    let data = client.call(&super::graphql::RunResumeStatus {
        entity,
        project,
        name,
    })?;
    let bucket = &data["model"]["bucket"];
    if bucket.is_null() {
        return Ok(None);
    }
    let count = |k: &str| bucket[k].as_u64().unwrap_or(0);
    let mut from = crate::wire::ResumeFrom::default();
    let mut see = |row: &serde_json::Value| {
        if let Some(s) = row["_step"].as_u64() {
            from.step = from.step.max(s.saturating_add(1));
        }
        if let Some(t) = row["_runtime"].as_f64() {
            from.runtime = from.runtime.max(t);
        }
    };
    let parse = |v: &serde_json::Value| -> Option<serde_json::Value> {
        v.as_str().and_then(|t| crate::wire::json::parse(t).ok())
    };
    let summary = parse(&bucket["summaryMetrics"]);
    if let Some(summary) = &summary {
        see(summary);
    }
    if let Some(serde_json::Value::Array(tail)) = parse(&bucket["historyTail"]) {
        for line in tail
            .iter()
            .filter_map(|l| l.as_str().and_then(|t| crate::wire::json::parse(t).ok()))
        {
            see(&line);
        }
    }
    if let Some(serde_json::Value::Object(items)) = summary {
        for (k, v) in items {
            from.seed_summary(&k, &v.to_string());
        }
    }
    Ok(Some(ServerRun {
        lines: [
            count("historyLineCount"),
            count("eventsLineCount"),
            count("logLineCount"),
        ],
        from,
    }))
}
