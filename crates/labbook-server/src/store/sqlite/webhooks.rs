//! The `webhooks` table and the `deliveries` queue.

use rusqlite::{Connection, OptionalExtension, params};

use super::sql;
use crate::store::{Delivery, HookFormat, StoreError, StoreResult, Webhook};

/// Queues `deliveries`, due now (`now_ms`).
pub(super) fn queue(c: &Connection, deliveries: &[Delivery], now_ms: i64) -> StoreResult<()> {
    let mut stmt = c
        .prepare_cached("INSERT INTO deliveries (url, body, next_at) VALUES (?1, ?2, ?3)")
        .map_err(sql)?;
    for d in deliveries {
        stmt.execute(params![d.url, d.body, now_ms]).map_err(sql)?;
    }
    Ok(())
}

pub(super) fn add(c: &Connection, hook: &Webhook) -> StoreResult<bool> {
    let added = c
        .execute(
            "INSERT OR IGNORE INTO webhooks (entity, project, url, format) VALUES (?1, ?2, ?3, ?4)",
            params![hook.entity, hook.project, hook.url, hook.format.as_str()],
        )
        .map_err(sql)?;
    Ok(added == 1)
}

pub(super) fn remove(c: &Connection, hook: &Webhook) -> StoreResult<bool> {
    let removed = c
        .execute(
            "DELETE FROM webhooks WHERE entity = ?1 AND project = ?2 AND url = ?3",
            params![hook.entity, hook.project, hook.url],
        )
        .map_err(sql)?;
    Ok(removed == 1)
}

pub(super) fn all(c: &Connection) -> StoreResult<Vec<Webhook>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT entity, project, url, format FROM webhooks ORDER BY entity, project, url",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?))
        })
        .map_err(sql)?;
    let mut hooks = Vec::new();
    for row in rows {
        let (entity, project, url, format): (String, String, String, String) = row.map_err(sql)?;
        let format = HookFormat::parse(&format).ok_or_else(|| {
            StoreError::Unavailable(format!("a stored webhook has an unknown format `{format}`"))
        })?;
        hooks.push(Webhook::new(entity, project, url, format));
    }
    Ok(hooks)
}

pub(super) fn due(c: &Connection, now_ms: i64, limit: usize) -> StoreResult<Vec<Delivery>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT id, url, body, attempts FROM deliveries WHERE next_at <= ?1
             ORDER BY next_at, id LIMIT ?2",
        )
        .map_err(sql)?;
    stmt.query_map(params![now_ms, limit as i64], |r| {
        Ok(Delivery {
            id: r.get::<_, i64>(0)? as u64,
            url: r.get(1)?,
            body: r.get(2)?,
            attempts: r.get::<_, i64>(3)? as u32,
        })
    })
    .map_err(sql)?
    .collect::<Result<_, _>>()
    .map_err(sql)
}

pub(super) fn next_at(c: &Connection) -> StoreResult<Option<i64>> {
    c.query_row("SELECT MIN(next_at) FROM deliveries", [], |r| r.get(0))
        .optional()
        .map(Option::flatten)
        .map_err(sql)
}

pub(super) fn finish(c: &Connection, id: u64, retry: Option<(i64, String)>) -> StoreResult<()> {
    match retry {
        None => c.execute("DELETE FROM deliveries WHERE id = ?1", [id as i64]),
        Some((at, error)) => c.execute(
            "UPDATE deliveries SET attempts = attempts + 1, next_at = ?2, last_error = ?3
             WHERE id = ?1",
            params![id as i64, at, error],
        ),
    }
    .map_err(sql)?;
    Ok(())
}
