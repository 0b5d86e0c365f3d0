//! A stream's lines kept as compressed chunks, one row per request's worth of lines: a
//! row per line cost more CPU to insert than everything else a request does, and as much
//! disk as the client's own log. Chunks never overlap and cover lines `0..count` without a
//! gap; a resend that overlaps stored lines replaces them (its chunks are rewritten), so a
//! line is stored once however often it is sent.

use std::io::Read as _;

use flate2::read::DeflateDecoder;
use rusqlite::{Connection, OptionalExtension, params};

use super::{series, sql};
use crate::store::{Points, StoreError, StoreResult, series_of};

/// Chunks written by schema 1: deflate.
const DEFLATE: i64 = 0;
/// Chunks written since: an LZ4 block with its size in front, several times cheaper to
/// write and read than deflate for a little more disk.
const LZ4: i64 = 1;

/// Lines as stored: each one's length (u32, little-endian) and bytes, then compressed.
fn encode(lines: &[String]) -> StoreResult<Vec<u8>> {
    let mut raw = Vec::with_capacity(lines.iter().map(|l| l.len() + 4).sum());
    for line in lines {
        let len = u32::try_from(line.len())
            .map_err(|_| StoreError::Conflict("a line over 4 GiB".into()))?;
        raw.extend_from_slice(&len.to_le_bytes());
        raw.extend_from_slice(line.as_bytes());
    }
    Ok(lz4_flex::compress_prepend_size(&raw))
}

fn decode(codec: i64, blob: &[u8]) -> StoreResult<Vec<String>> {
    decode_lines(codec, blob, 0..usize::MAX)
}

/// Lines `wanted` (counted from the chunk's first) of a chunk: the lines before them are
/// stepped over, not copied, and reading stops after them (a page of `scan_history`
/// takes 1,000 lines of chunks that hold tens of thousands).
fn decode_lines(
    codec: i64,
    blob: &[u8],
    wanted: std::ops::Range<usize>,
) -> StoreResult<Vec<String>> {
    let corrupt =
        |what: &str| StoreError::Unavailable(format!("a stored chunk is corrupt: {what}"));
    let bytes = match codec {
        LZ4 => lz4_flex::decompress_size_prepended(blob).map_err(|e| corrupt(&e.to_string()))?,
        DEFLATE => {
            let mut bytes = Vec::new();
            DeflateDecoder::new(blob)
                .read_to_end(&mut bytes)
                .map_err(|e| corrupt(&e.to_string()))?;
            bytes
        }
        other => return Err(corrupt(&format!("unknown codec {other}"))),
    };
    let mut lines = Vec::new();
    let mut rest = &bytes[..];
    let mut at = 0;
    while !rest.is_empty() && at < wanted.end {
        let (len, tail) = rest
            .split_at_checked(4)
            .ok_or_else(|| corrupt("a cut length"))?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (line, tail) = tail
            .split_at_checked(len)
            .ok_or_else(|| corrupt("a cut line"))?;
        if at >= wanted.start {
            lines.push(String::from_utf8(line.to_vec()).map_err(|_| corrupt("not UTF-8"))?);
        }
        at += 1;
        rest = tail;
    }
    Ok(lines)
}

/// Whether a stream's rows are metrics, kept as series too.
pub(super) fn has_series(stream: &str) -> bool {
    matches!(stream, "wandb-history.jsonl" | "wandb-events.jsonl")
}

/// A chunk made ready to store (compressed, its series drawn out) before it reaches the
/// writer, so that work runs on the request's thread and not in the one writer every
/// request waits for. Valid while the chunk lands as a chunk of its own at `first_line`.
#[derive(Debug)]
pub(super) struct Prepared {
    first_line: usize,
    content: Vec<u8>,
    series: Vec<(String, Points)>,
}

/// Prepares `lines` to be stored as lines `first_line..` of `stream`.
pub(super) fn prepare(stream: &str, first_line: usize, lines: &[String]) -> StoreResult<Prepared> {
    Ok(Prepared {
        first_line,
        content: encode(lines)?,
        series: if has_series(stream) {
            series_of(lines, first_line)
        } else {
            Vec::new()
        },
    })
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
    overlapping_blobs(c, run, stream, from, to)?
        .into_iter()
        .map(|(first, codec, blob)| Ok((first, decode(codec, &blob)?)))
        .collect()
}

/// The chunks holding any of lines `from..to`, still encoded: (first line, codec, bytes).
fn overlapping_blobs(
    c: &Connection,
    run: i64,
    stream: &str,
    from: usize,
    to: usize,
) -> StoreResult<Vec<(usize, i64, Vec<u8>)>> {
    let first = chunk_at(c, run, stream, from)?.unwrap_or(0);
    let mut stmt = c
        .prepare_cached(
            "SELECT first_line, codec, content FROM chunks WHERE run = ?1 AND stream = ?2
             AND first_line >= ?3 AND first_line < ?4 AND first_line + lines > ?5
             ORDER BY first_line",
        )
        .map_err(sql)?;
    let to = i64::try_from(to).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![run, stream, first, to, from as i64], |r| {
            Ok((
                r.get::<_, i64>(0)? as usize,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    Ok(rows)
}

/// Writes `lines` as lines `start..`: a chunk of its own after the stored ones (from
/// `prepared` when it was prepared for that place), or merged with the chunks it overlaps
/// (a resend), which it replaces with their series.
pub(super) fn write(
    c: &Connection,
    run: i64,
    stream: &str,
    start: usize,
    lines: &[String],
    prepared: Option<Prepared>,
) -> StoreResult<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let end = start + lines.len();
    let old = overlapping(c, run, stream, start, end)?;
    let chunk = match (old.first(), old.last()) {
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
            series::delete(c, run, stream, lo, hi)?;
            let prepared = prepare(stream, lo, &merged)?;
            (merged.len(), prepared)
        }
        _ => match prepared {
            Some(p) if p.first_line == start => (lines.len(), p),
            _ => (lines.len(), prepare(stream, start, lines)?),
        },
    };
    insert(c, run, stream, chunk.0, chunk.1)
}

fn insert(c: &Connection, run: i64, stream: &str, lines: usize, p: Prepared) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO chunks (run, stream, first_line, lines, codec, content)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .map_err(sql)?
    .execute(params![
        run,
        stream,
        p.first_line as i64,
        lines as i64,
        LZ4,
        p.content
    ])
    .map_err(sql)?;
    series::insert(c, run, stream, p.first_line, &p.series)
}

/// Every chunk of every metrics stream, as (run, stream, first line, lines): what a
/// migration derives series from.
pub(super) fn each_metrics_chunk(
    c: &Connection,
    mut f: impl FnMut(i64, &str, usize, Vec<String>) -> StoreResult<()>,
) -> StoreResult<()> {
    let mut stmt = c
        .prepare(
            "SELECT run, stream, first_line, codec, content FROM chunks
             WHERE stream IN ('wandb-history.jsonl', 'wandb-events.jsonl')",
        )
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let (run, stream, first): (i64, String, i64) = (
            r.get(0).map_err(sql)?,
            r.get(1).map_err(sql)?,
            r.get(2).map_err(sql)?,
        );
        let blob: Vec<u8> = r.get(4).map_err(sql)?;
        f(
            run,
            &stream,
            first as usize,
            decode(r.get(3).map_err(sql)?, &blob)?,
        )?;
    }
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
    for (first, codec, blob) in overlapping_blobs(c, run, stream, from, to)? {
        let skip = from.saturating_sub(first);
        let end = to.saturating_sub(first);
        out.extend(decode_lines(codec, &blob, skip..end)?);
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
        assert_eq!(decode(LZ4, &encode(&lines).unwrap()).unwrap(), lines);
        assert!(decode(LZ4, b"not lz4").is_err());
        assert!(decode(DEFLATE, b"not deflate").is_err());
        assert!(decode(7, b"").is_err());
    }
}
