//! How far `serve --watch` has imported each log, and a run's crash flag.

use rusqlite::{Connection, OptionalExtension, params};

use super::sql;
use crate::store::{ImportPosition, RunKey, StoreResult};

pub(super) fn get(c: &Connection, log: &str) -> StoreResult<Option<ImportPosition>> {
    c.query_row(
        "SELECT entity, project, run, log_offset, history, events, output, done
         FROM imports WHERE log = ?1",
        [log],
        |r| {
            let n = |i| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
            Ok(ImportPosition {
                key: RunKey::new(
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ),
                log_offset: n(3)?,
                offsets: [n(4)?, n(5)?, n(6)?],
                done: r.get(7)?,
            })
        },
    )
    .optional()
    .map_err(sql)
}

pub(super) fn save(c: &Connection, log: &str, p: &ImportPosition) -> StoreResult<()> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    c.execute(
        "INSERT OR REPLACE INTO imports
             (log, entity, project, run, log_offset, history, events, output, done)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            log,
            p.key.entity,
            p.key.project,
            p.key.run,
            n(p.log_offset),
            n(p.offsets[0]),
            n(p.offsets[1]),
            n(p.offsets[2]),
            p.done
        ],
    )
    .map_err(sql)?;
    Ok(())
}
