//! The `series` table: each metrics chunk's points by key, so a chart reads one key's
//! bytes (9 or so per point) and never a row of JSON.

use rusqlite::{Connection, params};

use super::sql;
use crate::store::series::query_range;
use crate::store::{Bucket, Buckets, Points, SeriesQuery, StoreError, StoreResult};

/// Steps as zigzag varint deltas from the previous one (1 byte for consecutive steps), then
/// the values as little-endian f64: decoding is a loop over bytes, no decompression.
fn encode(points: &Points) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.steps.len() * 9 + 8);
    let mut previous = 0i64;
    for &step in &points.steps {
        let delta = step.wrapping_sub(previous);
        previous = step;
        let mut zigzag = ((delta << 1) ^ (delta >> 63)) as u64;
        loop {
            let byte = (zigzag & 0x7f) as u8;
            zigzag >>= 7;
            if zigzag == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    for value in &points.values {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out
}

/// Calls `f` with each of the `n` points in `data`.
fn each_point(data: &[u8], n: usize, mut f: impl FnMut(i64, f64)) -> StoreResult<()> {
    let corrupt = || StoreError::Unavailable("a stored series is corrupt".into());
    let values_at = data.len().checked_sub(n * 8).ok_or_else(corrupt)?;
    let (steps, values) = data.split_at(values_at);
    let (mut at, mut step) = (0usize, 0i64);
    for value in values.chunks_exact(8) {
        let mut zigzag = 0u64;
        let mut shift = 0;
        loop {
            let byte = *steps.get(at).ok_or_else(corrupt)?;
            at += 1;
            zigzag |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(corrupt());
            }
        }
        let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        step = step.wrapping_add(delta);
        let bytes: [u8; 8] = value.try_into().map_err(|_| corrupt())?;
        f(step, f64::from_le_bytes(bytes));
    }
    if at == steps.len() {
        Ok(())
    } else {
        Err(corrupt())
    }
}

/// Stores the points of the chunk at `first_line`.
pub(super) fn insert(
    c: &Connection,
    run: i64,
    stream: &str,
    first_line: usize,
    series: &[(String, Points)],
) -> StoreResult<()> {
    let mut stmt = c
        .prepare_cached(
            "INSERT INTO series (run, stream, key, first_line, points, min_step, max_step, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(sql)?;
    for (key, points) in series {
        let (Some(&min), Some(&max)) = (points.steps.iter().min(), points.steps.iter().max())
        else {
            continue;
        };
        stmt.execute(params![
            run,
            stream,
            key,
            first_line as i64,
            points.steps.len() as i64,
            min,
            max,
            encode(points)
        ])
        .map_err(sql)?;
    }
    Ok(())
}

/// Forgets the points of the chunks starting in `from..to` (they are being rewritten).
pub(super) fn delete(
    c: &Connection,
    run: i64,
    stream: &str,
    from: usize,
    to: usize,
) -> StoreResult<()> {
    c.prepare_cached(
        "DELETE FROM series WHERE run = ?1 AND stream = ?2 AND first_line >= ?3
         AND first_line < ?4",
    )
    .map_err(sql)?
    .execute(params![run, stream, from as i64, to as i64])
    .map_err(sql)?;
    Ok(())
}

/// The query's points folded into its buckets.
pub(super) fn read(c: &Connection, run: i64, query: &SeriesQuery) -> StoreResult<Vec<Bucket>> {
    let stream = query.stream.file_name();
    let extent: (Option<i64>, Option<i64>) = c
        .prepare_cached(
            "SELECT MIN(min_step), MAX(max_step) FROM series
             WHERE run = ?1 AND stream = ?2 AND key = ?3",
        )
        .map_err(sql)?
        .query_row(params![run, stream, query.key], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(sql)?;
    let (Some(lo), Some(hi)) = extent else {
        return Ok(Vec::new());
    };
    let range = query_range(query, lo, hi);
    let mut buckets = Buckets::new(range.clone(), query.buckets);
    let mut stmt = c
        .prepare_cached(
            "SELECT points, data FROM series WHERE run = ?1 AND stream = ?2 AND key = ?3
             AND max_step >= ?4 AND min_step < ?5 ORDER BY first_line",
        )
        .map_err(sql)?;
    let mut rows = stmt
        .query(params![run, stream, query.key, range.start, range.end])
        .map_err(sql)?;
    while let Some(row) = rows.next().map_err(sql)? {
        let n: i64 = row.get(0).map_err(sql)?;
        let data =
            row.get_ref(1).map_err(sql)?.as_blob().map_err(|e| {
                StoreError::Unavailable(format!("a stored series is not a blob: {e}"))
            })?;
        each_point(data, n as usize, |step, value| buckets.add(step, value))?;
    }
    Ok(buckets.finish())
}

/// The keys a run's stream has points for, sorted.
pub(super) fn keys(c: &Connection, run: i64, stream: &str) -> StoreResult<Vec<String>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT DISTINCT key FROM series WHERE run = ?1 AND stream = ?2 ORDER BY key",
        )
        .map_err(sql)?;
    stmt.query_map(params![run, stream], |r| r.get(0))
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_survive_the_encoding_whatever_their_steps() {
        let points = Points {
            steps: vec![0, 1, 2, 1_000_000, -5, i64::MAX, i64::MIN, 3],
            values: vec![0.5, f64::NAN, -1.0, 1e300, 0.0, 1.0, 2.0, f64::INFINITY],
        };
        let data = encode(&points);
        let mut back = Points::default();
        each_point(&data, points.steps.len(), |s, v| {
            back.steps.push(s);
            back.values.push(v);
        })
        .unwrap();
        assert_eq!(back.steps, points.steps);
        assert!(back.values[1].is_nan());
        assert_eq!(back.values[7], f64::INFINITY);
        // Consecutive steps take one byte each.
        let dense = Points {
            steps: (0..1000).collect(),
            values: vec![0.0; 1000],
        };
        assert_eq!(encode(&dense).len(), 1000 * 9);
        // A cut or padded blob is refused, never misread.
        assert!(each_point(&data[..data.len() - 1], 8, |_, _| ()).is_err());
        assert!(each_point(&data, 9, |_, _| ()).is_err());
        assert!(each_point(&[0xff; 20], 1, |_, _| ()).is_err());
    }
}
