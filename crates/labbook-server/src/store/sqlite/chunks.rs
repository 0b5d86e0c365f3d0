//! A stream's lines kept as compressed chunks, one row per request's worth of lines: a
//! row per line cost more CPU to insert than everything else a request does, and as much
//! disk as the client's own log. Chunks never overlap and cover lines `0..count` without a
//! gap; a resend that overlaps stored lines replaces them (its chunks are rewritten), so a
//! line is stored once however often it is sent.

use std::io::{Read as _, Write as _};

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use rusqlite::{Connection, OptionalExtension, params};

use super::sql;
use crate::store::{StoreError, StoreResult};

/// Lines as stored: each one's length (u32, little-endian) and bytes, deflated.
fn encode(lines: &[String]) -> StoreResult<Vec<u8>> {
    let mut out = DeflateEncoder::new(Vec::new(), Compression::fast());
    let failed = |e: std::io::Error| StoreError::Unavailable(format!("cannot compress lines: {e}"));
    for line in lines {
        let len = u32::try_from(line.len())
            .map_err(|_| StoreError::Conflict("a line over 4 GiB".into()))?;
        out.write_all(&len.to_le_bytes()).map_err(failed)?;
        out.write_all(line.as_bytes()).map_err(failed)?;
    }
    out.finish().map_err(failed)
}

fn decode(blob: &[u8]) -> StoreResult<Vec<String>> {
    let corrupt =
        |what: &str| StoreError::Unavailable(format!("a stored chunk is corrupt: {what}"));
    let mut bytes = Vec::new();
    DeflateDecoder::new(blob)
        .read_to_end(&mut bytes)
        .map_err(|e| corrupt(&e.to_string()))?;
    let mut lines = Vec::new();
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_at_checked(4)
            .ok_or_else(|| corrupt("a cut length"))?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (line, tail) = tail
            .split_at_checked(len)
            .ok_or_else(|| corrupt("a cut line"))?;
        lines.push(String::from_utf8(line.to_vec()).map_err(|_| corrupt("not UTF-8"))?);
        rest = tail;
    }
    Ok(lines)
}

/// The first line of the chunk holding line `at` (or the last chunk before it).
fn chunk_at(c: &Connection, run: i64, stream: &str, at: usize) -> StoreResult<Option<i64>> {
    c.query_row(
        "SELECT first_line FROM chunks WHERE run = ?1 AND stream = ?2 AND first_line <= ?3
         ORDER BY first_line DESC LIMIT 1",
        params![run, stream, at as i64],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql)
}

/// The chunks holding any of lines `from..to`: (first line, lines).
fn overlapping(
    c: &Connection,
    run: i64,
    stream: &str,
    from: usize,
    to: usize,
) -> StoreResult<Vec<(usize, Vec<String>)>> {
    let first = chunk_at(c, run, stream, from)?.unwrap_or(0);
    let mut stmt = c
        .prepare_cached(
            "SELECT first_line, content FROM chunks WHERE run = ?1 AND stream = ?2
             AND first_line >= ?3 AND first_line < ?4 AND first_line + lines > ?5
             ORDER BY first_line",
        )
        .map_err(sql)?;
    let to = i64::try_from(to).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![run, stream, first, to, from as i64], |r| {
            Ok((r.get::<_, i64>(0)? as usize, r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    rows.into_iter()
        .map(|(first, blob)| Ok((first, decode(&blob)?)))
        .collect()
}

/// Writes `lines` as lines `start..`: a chunk of its own after the stored ones, or merged
/// with the chunks it overlaps (a resend), which it replaces.
pub(super) fn write(
    c: &Connection,
    run: i64,
    stream: &str,
    start: usize,
    lines: &[String],
) -> StoreResult<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let end = start + lines.len();
    let old = overlapping(c, run, stream, start, end)?;
    let (first, merged) = match (old.first(), old.last()) {
        (Some((lo, _)), Some((last, last_lines))) => {
            let lo = (*lo).min(start);
            let hi = (last + last_lines.len()).max(end);
            let mut merged: Vec<String> = vec![String::new(); hi - lo];
            for (first, chunk) in &old {
                for (i, line) in chunk.iter().enumerate() {
                    merged[first + i - lo].clone_from(line);
                }
            }
            for (i, line) in lines.iter().enumerate() {
                merged[start + i - lo].clone_from(line);
            }
            c.execute(
                "DELETE FROM chunks WHERE run = ?1 AND stream = ?2 AND first_line >= ?3
                 AND first_line < ?4",
                params![run, stream, lo as i64, hi as i64],
            )
            .map_err(sql)?;
            (lo, merged)
        }
        _ => (start, lines.to_vec()),
    };
    c.prepare_cached(
        "INSERT INTO chunks (run, stream, first_line, lines, content) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(sql)?
    .execute(params![
        run,
        stream,
        first as i64,
        merged.len() as i64,
        encode(&merged)?
    ])
    .map_err(sql)?;
    Ok(())
}

/// Lines `from..from + limit` of a stream.
pub(super) fn read(
    c: &Connection,
    run: i64,
    stream: &str,
    from: usize,
    limit: usize,
) -> StoreResult<Vec<String>> {
    let to = from.saturating_add(limit);
    let mut out = Vec::new();
    for (first, lines) in overlapping(c, run, stream, from, to)? {
        let skip = from.saturating_sub(first);
        let want = to - (first + skip).max(from);
        out.extend(lines.into_iter().skip(skip).take(want));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_survive_the_encoding_whatever_they_hold() {
        let lines = vec![
            String::new(),
            "a\nb".into(),
            "é\r".into(),
            "x".repeat(70_000),
        ];
        assert_eq!(decode(&encode(&lines).unwrap()).unwrap(), lines);
        assert!(decode(b"not deflate").is_err());
    }
}
