//! What schema 2 derives from rows stored before it: each metrics chunk's series and each
//! run's config and summary fields.

use rusqlite::{Connection, params};

use super::{chunks, fields, series, sql};
use crate::store::{StoreResult, series_of};

/// Fills `series` and `run_fields` from the chunks and runs already stored.
pub(super) fn derive_all(c: &Connection) -> StoreResult<()> {
    chunks::each_metrics_chunk(c, |run, stream, first_line, lines| {
        series::insert(c, run, stream, first_line, &series_of(&lines, first_line))
    })?;
    let mut stmt = c
        .prepare("SELECT id, config, summary FROM runs")
        .map_err(sql)?;
    let runs: Vec<(i64, Option<String>, Option<String>)> = stmt
        .query_map(params![], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)?;
    for (run, config, summary) in runs {
        if let Some(config) = config {
            fields::set_config(c, run, &config)?;
        }
        if let Some(summary) = summary {
            fields::set_summary(c, run, &summary)?;
        }
    }
    Ok(())
}
