//! The `run_fields` table: a run's config and summary flattened, kept in step with the
//! run's row, and the runs query that filters and sorts by them.

use rusqlite::{Connection, params, params_from_iter, types::Value as SqlValue};

use super::sql;
use crate::store::{
    FieldValue, RunQuery, StoreResult, config_fields, parse_lenient, summary_fields,
};

/// Replaces the fields under `prefix` (`config.` or `summary.`) with `fields`.
fn replace(
    c: &Connection,
    run: i64,
    prefix: &str,
    fields: &[(String, FieldValue)],
) -> StoreResult<()> {
    // `field >= 'config.' AND field < 'config/'`: the prefix as a key range ('/' follows
    // '.'), which the primary key answers without a scan.
    let end = format!("{}/", &prefix[..prefix.len() - 1]);
    c.prepare_cached("DELETE FROM run_fields WHERE run = ?1 AND field >= ?2 AND field < ?3")
        .map_err(sql)?
        .execute(params![run, prefix, end])
        .map_err(sql)?;
    let mut insert = c
        .prepare_cached(
            "INSERT OR REPLACE INTO run_fields (run, field, num, text) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(sql)?;
    for (field, value) in fields {
        let (num, text) = match value {
            FieldValue::Num(n) => (Some(*n), None),
            FieldValue::Text(t) => (None, Some(t.as_str())),
        };
        insert
            .execute(params![run, field, num, text])
            .map_err(sql)?;
    }
    Ok(())
}

/// Keeps the config fields in step with the run's config (W&B JSON text).
pub(super) fn set_config(c: &Connection, run: i64, config: &str) -> StoreResult<()> {
    let fields = parse_lenient(config)
        .map(|v| config_fields(&v))
        .unwrap_or_default();
    replace(c, run, "config.", &fields)
}

/// Keeps the summary fields in step with the run's summary (W&B JSON text).
pub(super) fn set_summary(c: &Connection, run: i64, summary: &str) -> StoreResult<()> {
    let fields = parse_lenient(summary)
        .map(|v| summary_fields(&v))
        .unwrap_or_default();
    replace(c, run, "summary.", &fields)
}

/// The names of the runs `query` selects, in its order.
pub(super) fn find(c: &Connection, query: &RunQuery) -> StoreResult<Vec<String>> {
    let mut sql_text = String::from("SELECT r.name FROM runs r");
    let mut args: Vec<SqlValue> = Vec::new();
    for (i, (field, op, value)) in query.filters.iter().enumerate() {
        let column = match value {
            FieldValue::Num(n) => {
                args.push(SqlValue::Text(field.clone()));
                args.push(SqlValue::Real(*n));
                "num"
            }
            FieldValue::Text(t) => {
                args.push(SqlValue::Text(field.clone()));
                args.push(SqlValue::Text(t.clone()));
                "text"
            }
        };
        sql_text.push_str(&format!(
            " JOIN run_fields f{i} ON f{i}.run = r.id AND f{i}.field = ? AND f{i}.{column} {} ?",
            op.sql()
        ));
    }
    if let Some((field, _)) = &query.order {
        sql_text.push_str(" LEFT JOIN run_fields o ON o.run = r.id AND o.field = ?");
        args.push(SqlValue::Text(field.clone()));
    }
    sql_text.push_str(" WHERE r.entity = ? AND r.project = ?");
    args.push(SqlValue::Text(query.entity.clone()));
    args.push(SqlValue::Text(query.project.clone()));
    match &query.order {
        // Numbers, then text, then runs without the field; ties in creation order.
        Some((_, descending)) => {
            let dir = if *descending { "DESC" } else { "ASC" };
            sql_text.push_str(&format!(
                " ORDER BY CASE WHEN o.num IS NOT NULL THEN 0 WHEN o.text IS NOT NULL THEN 1 \
                 ELSE 2 END, o.num {dir}, o.text {dir}, r.id"
            ));
        }
        None => sql_text.push_str(" ORDER BY r.id"),
    }
    if let Some(limit) = query.limit {
        sql_text.push_str(" LIMIT ?");
        args.push(SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    }
    let mut stmt = c.prepare_cached(&sql_text).map_err(sql)?;
    stmt.query_map(params_from_iter(args), |r| r.get(0))
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)
}
