//! Reads a `.wandb` log one 32 KiB block at a time and hands each whole record's bytes to a
//! callback, undecoded.
//!
//! `labbook_core::wire::read_log` reads the whole file into memory and decodes every record
//! into owned structs: for a history of a million rows that is two strings per item and
//! most of an export's time. The export reads history records itself from the bytes (see
//! `history.rs`) and only needs the framing, which labbook-core keeps private; so the
//! framing is read here too, with the same rules and the same `LogEnd` for torn tails and
//! bad chunks (the tests compare the two readers).

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use labbook_core::wire::{BLOCK_SIZE, FILE_HEADER, LogEnd};

const BLOCK: usize = BLOCK_SIZE as usize;
/// crc (4) + length (2) + type (1).
const HEADER: usize = 7;

const FULL: u8 = 1;
const FIRST: u8 = 2;
const MIDDLE: u8 = 3;
const LAST: u8 = 4;

/// What the callback tells the reader after a record.
pub(crate) enum Next {
    /// Read on.
    More,
    /// The record did not decode: stop, and report the log as corrupt from it on.
    Corrupt(String),
}

/// Reads as many bytes as there are, up to `buf.len()`: a short count means the end of the
/// file (a plain `read` may return less in the middle of it).
fn fill(file: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn check_header(head: &[u8]) -> Result<(), String> {
    if head.len() < FILE_HEADER.len() || head[..4] != FILE_HEADER[..4] {
        return Err("not a W&B transaction log (the file does not start with \":W&B\")".into());
    }
    if head[4..6] != FILE_HEADER[4..6] {
        return Err("not a W&B transaction log (wrong magic number)".into());
    }
    if head[6] != 0 {
        return Err(format!("unsupported W&B store version {}", head[6]));
    }
    Ok(())
}

/// Calls `each(bytes)` for every whole record of the log at `path`, in file order,
/// and says how the log ended. Like `read_log`, only an unreadable file or a wrong file
/// header is an error; a torn tail or a bad chunk ends the read and is the returned
/// [`LogEnd`].
pub(crate) fn for_each_record(path: &Path, each: impl FnMut(&[u8]) -> Next) -> Result<LogEnd> {
    let file =
        std::fs::File::open(path).with_context(|| format!("could not read {}", path.display()))?;
    read_records(file, each).map_err(|e| match e {
        ReadError::Io(e) => {
            anyhow::Error::new(e).context(format!("could not read {}", path.display()))
        }
        ReadError::Header(reason) => anyhow::anyhow!("{}: {reason}", path.display()),
    })
}

#[derive(Debug)]
enum ReadError {
    Io(std::io::Error),
    Header(String),
}

fn read_records(
    mut file: impl Read,
    mut each: impl FnMut(&[u8]) -> Next,
) -> Result<LogEnd, ReadError> {
    let mut block = vec![0u8; BLOCK];
    // A record split over chunks: where it started and its bytes so far.
    let mut partial: Option<u64> = None;
    let mut joined: Vec<u8> = Vec::new();
    let mut base = 0u64;
    loop {
        let n = fill(&mut file, &mut block).map_err(ReadError::Io)?;
        let data = &block[..n];
        let mut pos = 0;
        if base == 0 {
            check_header(data).map_err(ReadError::Header)?;
            pos = FILE_HEADER.len();
        }
        // Chunks never cross a block boundary, so each block is read on its own; a block
        // shorter than BLOCK is the end of the file.
        while BLOCK - pos >= HEADER {
            let start = base + pos as u64;
            let torn = LogEnd::Torn {
                offset: partial.unwrap_or(start),
            };
            if pos >= n {
                if n < BLOCK {
                    return Ok(match partial {
                        None => LogEnd::Clean,
                        Some(_) => torn,
                    });
                }
                break;
            }
            let Some(head) = data.get(pos..pos + HEADER) else {
                return Ok(torn);
            };
            let crc = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let len = usize::from(u16::from_le_bytes([head[4], head[5]]));
            let kind = head[6];
            if crc == 0 && len == 0 && kind == 0 {
                // A zeroed block tail: the rest of the block is padding.
                break;
            }
            let corrupt = |reason: String| LogEnd::Corrupt {
                offset: start,
                reason,
            };
            if HEADER + len > BLOCK - pos {
                return Ok(corrupt(format!(
                    "chunk at offset {start} crosses a block boundary"
                )));
            }
            let Some(body) = data.get(pos + HEADER..pos + HEADER + len) else {
                return Ok(torn);
            };
            let mut h = crc32fast::Hasher::new();
            h.update(&[kind]);
            h.update(body);
            if h.finalize() != crc {
                return Ok(corrupt(format!(
                    "checksum mismatch in the chunk at offset {start}"
                )));
            }
            pos += HEADER + len;
            let whole = match (kind, partial) {
                (FULL, None) => Some((start, body)),
                (FIRST, None) => {
                    partial = Some(start);
                    joined.clear();
                    joined.extend_from_slice(body);
                    None
                }
                (MIDDLE, Some(_)) => {
                    joined.extend_from_slice(body);
                    None
                }
                (LAST, Some(first)) => {
                    partial = None;
                    joined.extend_from_slice(body);
                    Some((first, joined.as_slice()))
                }
                (FULL | FIRST | MIDDLE | LAST, _) => {
                    return Ok(corrupt(format!(
                        "unexpected {} chunk at offset {start}",
                        ["Full", "First", "Middle", "Last"][usize::from(kind - 1)]
                    )));
                }
                _ => {
                    return Ok(corrupt(format!(
                        "unknown chunk type {kind} at offset {start}"
                    )));
                }
            };
            if let Some((offset, bytes)) = whole
                && let Next::Corrupt(reason) = each(bytes)
            {
                return Ok(LogEnd::Corrupt { offset, reason });
            }
        }
        if n < BLOCK {
            return Ok(match partial {
                None => LogEnd::Clean,
                Some(offset) => LogEnd::Torn { offset },
            });
        }
        base += BLOCK as u64;
    }
}

#[cfg(test)]
mod tests {
    use labbook_core::wire::proto::{HistoryItem, HistoryRecord, Record, RecordType};
    use labbook_core::wire::{Framer, parse_log};
    use prost::Message as _;

    use super::*;

    fn record(num: i64, len: usize) -> Vec<u8> {
        Record {
            num,
            record_type: Some(RecordType::History(HistoryRecord {
                item: vec![HistoryItem {
                    key: "k".into(),
                    nested_key: vec![],
                    value_json: "x".repeat(len),
                }],
                step: None,
            })),
        }
        .encode_to_vec()
    }

    fn frame(records: &[Vec<u8>]) -> Vec<u8> {
        let mut f = Framer::new_file();
        for r in records {
            f.append(r);
        }
        f.pending().to_vec()
    }

    /// This reader and labbook-core's on the same bytes: the same records and end. The
    /// callback decodes each record as the export's does, since core's reader stops at
    /// one that does not decode.
    fn assert_same(data: &[u8]) {
        let mut got = Vec::new();
        let end = read_records(data, |b| match Record::decode(b) {
            Ok(r) => {
                got.push(r);
                Next::More
            }
            Err(e) => Next::Corrupt(format!("record does not decode: {e}")),
        });
        match parse_log(data) {
            Ok(want) => {
                // Compared without printing: records can be tens of kilobytes.
                assert!(got == want.records, "records differ, {} bytes", data.len());
                assert_eq!(end.ok(), Some(want.end), "{} bytes", data.len());
            }
            Err(_) => assert!(matches!(end, Err(ReadError::Header(_)))),
        }
    }

    #[test]
    fn reads_what_labbook_core_reads_wherever_the_file_ends() {
        // Records of many sizes: whole chunks, and records over two to four blocks.
        let records: Vec<Vec<u8>> = (1..=12)
            .map(|i| record(i, (i as usize * 7919) % 70_000))
            .collect();
        let data = frame(&records);
        assert_same(&data);
        // Every cut near block boundaries and the end, and a sample elsewhere.
        let near = |c: usize| c % BLOCK < 12 || BLOCK - c % BLOCK < 12 || data.len() - c < 100;
        for cut in (0..data.len()).filter(|&c| near(c) || c % 997 == 0) {
            assert_same(&data[..cut]);
        }
    }

    #[test]
    fn reads_records_ending_just_before_a_block_boundary() {
        for gap in 0..=8usize {
            // A first record ending `gap` bytes before the first block boundary.
            let probe = record(1, 0).len();
            let mut len = BLOCK - FILE_HEADER.len() - HEADER - gap - probe;
            let mut r1 = record(1, len);
            while FILE_HEADER.len() + HEADER + r1.len() != BLOCK - gap {
                len = len + (BLOCK - gap) - (FILE_HEADER.len() + HEADER + r1.len());
                r1 = record(1, len);
            }
            let data = frame(&[r1, record(2, 10), record(3, 40_000)]);
            assert_same(&data);
            for cut in BLOCK - gap - 2..BLOCK + 20 {
                assert_same(&data[..cut]);
            }
        }
    }

    #[test]
    fn reads_bad_chunks_as_labbook_core_does() {
        let records: Vec<Vec<u8>> = (1..=6).map(|i| record(i, 15_000 * i as usize)).collect();
        let data = frame(&records);
        for at in (0..data.len()).step_by(1999) {
            for bits in [0x01, 0x80] {
                let mut bad = data.clone();
                bad[at] ^= bits;
                assert_same(&bad);
            }
        }
        // A zeroed chunk header inside a record spread over blocks.
        let mut bad = data.clone();
        bad[BLOCK..BLOCK + HEADER].fill(0);
        assert_same(&bad);
    }
}
