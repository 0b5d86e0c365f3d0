//! The one reader of the log's framing: [`LogReader`] reads a `.wandb` file one 32 KiB
//! block at a time, checks every chunk's CRC, joins chunks into records and hands out each
//! record's bytes undecoded. [`read_log`](crate::read_log), [`parse_log`](crate::parse_log),
//! [`LogFollower`](crate::LogFollower) and the CLI's export all read through it, so the
//! rules for torn tails and bad chunks live in one place.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::Error;
use crate::framing::{BLOCK_SIZE, CHUNK_HEADER, ChunkType, FILE_HEADER, chunk_crc};

const BLOCK: usize = BLOCK_SIZE as usize;
const HEADER: usize = CHUNK_HEADER as usize;

/// How a log ended.
///
/// ```
/// use labbook_wire::{Framer, LogEnd, parse_log};
/// let mut framer = Framer::new_file();
/// framer.append(b"\x08\x01"); // a Record with num = 1
/// let whole = framer.pending();
/// assert_eq!(parse_log(whole)?.end, LogEnd::Clean);
/// // A crash in the middle of writing the record leaves a torn tail.
/// assert_eq!(parse_log(&whole[..whole.len() - 1])?.end, LogEnd::Torn { offset: 7 });
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEnd {
    /// The file ends exactly after a whole record.
    Clean,
    /// The file ends inside a record (a crash while writing); the records before `offset`
    /// are whole.
    Torn {
        /// Where the incomplete record starts.
        offset: u64,
    },
    /// A chunk failed its check; the records before `offset` are whole.
    Corrupt {
        /// Where the bad chunk starts.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
}

/// Why a [`LogReader`] could not start: the file is not a W&B log, or reading failed.
///
/// A log that starts well and then ends torn or corrupt is not an error but a [`LogEnd`].
///
/// ```
/// use labbook_wire::{LogReader, ReadError};
/// let err = LogReader::new(&b"PK\x03\x04 a zip file"[..]).unwrap_err();
/// assert!(matches!(err, ReadError::NotALog(_)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The bytes do not start with the W&B file header; the text says what is wrong.
    #[error("{0}")]
    NotALog(String),
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ReadError {
    /// The crate's error for this, naming the file that was read.
    pub(crate) fn at(self, path: &Path) -> Error {
        match self {
            ReadError::NotALog(reason) => Error::CorruptLog {
                path: path.to_owned(),
                reason,
            },
            ReadError::Io(e) => Error::io("could not read", path)(e),
        }
    }
}

/// One whole record of a log, undecoded (see [`LogReader::next_record`]).
///
/// ```
/// use labbook_wire::{Framer, LogItem, LogReader, RawRecord};
/// let mut framer = Framer::new_file();
/// framer.append(b"abc");
/// let mut reader = LogReader::new(framer.pending())?;
/// let LogItem::Record(RawRecord { offset, bytes }) = reader.next_record()? else {
///     unreachable!("one record was written");
/// };
/// assert_eq!((offset, bytes), (7, &b"abc"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// Where the record's first chunk starts in the file.
    pub offset: u64,
    /// The record's bytes: a protobuf [`Record`](crate::proto::Record), undecoded.
    pub bytes: &'a [u8],
}

/// What [`LogReader::next_record`] found next.
///
/// ```
/// use labbook_wire::{Framer, LogEnd, LogItem, LogReader};
/// let framer = Framer::new_file();
/// let mut reader = LogReader::new(framer.pending())?;
/// assert_eq!(reader.next_record()?, LogItem::End(LogEnd::Clean));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogItem<'a> {
    /// The next whole record.
    Record(RawRecord<'a>),
    /// There are no more records, and this is why. Every later call returns it again.
    End(LogEnd),
}

/// Reads the records of a `.wandb` log in file order, one 32 KiB block in memory at a time.
///
/// Each record's bytes are lent out until the next call (a record that fits one chunk is
/// not copied; one spread over several is joined into a buffer the reader reuses), so
/// reading a log of any size costs two blocks' worth of memory plus its largest record. A
/// torn tail or a chunk that fails its check ends the records with a [`LogEnd`]; only a
/// wrong file header or a failed read is an error. The records themselves are left to the
/// caller to decode, or to skip.
///
/// ```no_run
/// use labbook_wire::{LogItem, LogReader, proto::Record};
/// use prost::Message as _;
///
/// let mut reader = LogReader::open("wandb/latest-run/run-abc12345.wandb")?;
/// let end = loop {
///     match reader.next_record()? {
///         LogItem::Record(raw) => {
///             let record = Record::decode(raw.bytes)?;
///             println!("record {} at offset {}", record.num, raw.offset);
///         }
///         LogItem::End(end) => break end,
///     }
/// };
/// println!("the log ended {end:?}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LogReader<R> {
    src: R,
    /// The block being read.
    block: Box<[u8]>,
    /// How much of `block` the file filled: less than a whole block only at the end of the
    /// file.
    filled: usize,
    /// Where the next chunk header is in `block`.
    pos: usize,
    /// The file offset of `block[0]`.
    base: u64,
    /// A record spread over chunks, joined.
    joined: Vec<u8>,
    /// Set once the records are over, so later calls neither read nor change the answer.
    end: Option<LogEnd>,
    /// A read failed part-way through a block or a record; going on would misread the rest.
    failed: bool,
}

/// What one step of reading found: where its bytes are, so that the borrow of the reader's
/// buffers starts only once the reading loop is done.
enum Found {
    /// A record in one chunk: its bytes are `block[bytes]`.
    Chunk {
        offset: u64,
        bytes: std::ops::Range<usize>,
    },
    /// A record joined from several chunks into `joined`.
    Joined {
        offset: u64,
    },
    End(LogEnd),
}

impl LogReader<File> {
    /// Opens the log at `path` and checks its file header.
    ///
    /// A missing or unreadable file is [`Error::Io`]; a file that is not a W&B log is
    /// [`Error::CorruptLog`], both naming `path`.
    ///
    /// ```no_run
    /// let mut reader = labbook_wire::LogReader::open("run-abc12345.wandb")?;
    /// # Ok::<(), labbook_wire::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> crate::Result<LogReader<File>> {
        let path = path.as_ref();
        let file = File::open(path).map_err(Error::io("could not read", path))?;
        LogReader::new(file).map_err(|e| e.at(path))
    }
}

impl<R: Read> LogReader<R> {
    /// Reads the first block of `src` and checks the W&B file header.
    ///
    /// `src` is read in whole blocks, so it needs no buffering of its own.
    ///
    /// ```
    /// use labbook_wire::{Framer, LogReader};
    /// let mut framer = Framer::new_file();
    /// framer.append(b"a record");
    /// let reader = LogReader::new(std::io::Cursor::new(framer.pending().to_vec()))?;
    /// assert_eq!(reader.position(), 7);
    /// # Ok::<(), labbook_wire::ReadError>(())
    /// ```
    pub fn new(mut src: R) -> Result<LogReader<R>, ReadError> {
        let mut block = vec![0; BLOCK].into_boxed_slice();
        let filled = fill(&mut src, &mut block)?;
        check_file_header(&block[..filled]).map_err(ReadError::NotALog)?;
        Ok(LogReader {
            src,
            block,
            filled,
            pos: FILE_HEADER.len(),
            base: 0,
            joined: Vec::new(),
            end: None,
            failed: false,
        })
    }

    /// The file offset the reader has got to: after a [`LogItem::Record`], where the next
    /// record starts, which [`LogReader::resume`] can start from later.
    ///
    /// ```
    /// use labbook_wire::{Framer, LogReader};
    /// let mut framer = Framer::new_file();
    /// framer.append(b"abc");
    /// let mut reader = LogReader::new(framer.pending())?;
    /// reader.next_record()?;
    /// assert_eq!(reader.position(), 7 + 7 + 3); // file header, chunk header, payload
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn position(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The next whole record, or how the log ended.
    ///
    /// The record's bytes are valid until the next call. An `Err` is a failed read of the
    /// source; after one, every call is an error, since the place in the file is lost.
    ///
    /// ```
    /// use labbook_wire::{Framer, LogEnd, LogItem, LogReader};
    /// let mut framer = Framer::new_file();
    /// framer.append(b"first");
    /// framer.append(b"second");
    /// let bytes = framer.pending();
    /// // Cut the file inside the second record, as a crash while writing would.
    /// let mut reader = LogReader::new(&bytes[..bytes.len() - 2])?;
    /// let mut records = Vec::new();
    /// let end = loop {
    ///     match reader.next_record()? {
    ///         LogItem::Record(raw) => records.push(raw.bytes.to_vec()),
    ///         LogItem::End(end) => break end,
    ///     }
    /// };
    /// assert_eq!(records, [b"first".to_vec()]);
    /// assert_eq!(end, LogEnd::Torn { offset: 7 + 7 + 5 });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_record(&mut self) -> std::io::Result<LogItem<'_>> {
        if let Some(end) = &self.end {
            return Ok(LogItem::End(end.clone()));
        }
        if self.failed {
            return Err(std::io::Error::other(
                "an earlier read of this log failed part-way",
            ));
        }
        match self.find_record() {
            Ok(Found::Chunk { offset, bytes }) => Ok(LogItem::Record(RawRecord {
                offset,
                bytes: &self.block[bytes],
            })),
            Ok(Found::Joined { offset }) => Ok(LogItem::Record(RawRecord {
                offset,
                bytes: &self.joined,
            })),
            Ok(Found::End(end)) => {
                self.end = Some(end.clone());
                Ok(LogItem::End(end))
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Reads chunks up to the end of the next record.
    #[expect(
        clippy::too_many_lines,
        reason = "one state machine over the log's block format"
    )]
    fn find_record(&mut self) -> std::io::Result<Found> {
        // Where the record being joined started, once its First chunk is read.
        let mut first: Option<u64> = None;
        // The file ran out: a clean end between records, a torn tail inside one.
        let ran_out = |first: Option<u64>| {
            Found::End(first.map_or(LogEnd::Clean, |offset| LogEnd::Torn { offset }))
        };
        loop {
            if BLOCK - self.pos < HEADER {
                // Too little of the block is left for a chunk header: it is padding, and
                // the next chunk starts the next block. A short block is the end of the
                // file.
                if self.filled < BLOCK {
                    return Ok(ran_out(first));
                }
                self.next_block()?;
                continue;
            }
            // Here pos < filled unless the block is short, i.e. the file ended.
            let data = &self.block[..self.filled];
            if self.pos >= data.len() {
                return Ok(ran_out(first));
            }
            let start = self.base + self.pos as u64;
            let torn = || {
                Found::End(LogEnd::Torn {
                    offset: first.unwrap_or(start),
                })
            };
            let Some(head) = data.get(self.pos..self.pos + HEADER) else {
                return Ok(torn());
            };
            let crc = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let len = usize::from(u16::from_le_bytes([head[4], head[5]]));
            let kind = head[6];
            if crc == 0 && len == 0 && kind == 0 {
                // A zeroed chunk header: the rest of the block is padding, and W&B's own
                // reader goes on at the next block.
                self.pos = BLOCK;
                continue;
            }
            let corrupt = |reason: String| {
                Found::End(LogEnd::Corrupt {
                    offset: start,
                    reason,
                })
            };
            if HEADER + len > BLOCK - self.pos {
                return Ok(corrupt(format!(
                    "chunk at offset {start} crosses a block boundary"
                )));
            }
            let body_at = self.pos + HEADER;
            let Some(body) = data.get(body_at..body_at + len) else {
                return Ok(torn());
            };
            if chunk_crc(kind, body) != crc {
                return Ok(corrupt(format!(
                    "checksum mismatch in the chunk at offset {start}"
                )));
            }
            let Some(kind) = ChunkType::from_byte(kind) else {
                return Ok(corrupt(format!(
                    "unknown chunk type {kind} at offset {start}"
                )));
            };
            self.pos = body_at + len;
            match (kind, first) {
                (ChunkType::Full, None) => {
                    return Ok(Found::Chunk {
                        offset: start,
                        bytes: body_at..body_at + len,
                    });
                }
                (ChunkType::First, None) => {
                    first = Some(start);
                    self.joined.clear();
                    self.joined.extend_from_slice(body);
                }
                (ChunkType::Middle, Some(_)) => self.joined.extend_from_slice(body),
                (ChunkType::Last, Some(offset)) => {
                    self.joined.extend_from_slice(body);
                    return Ok(Found::Joined { offset });
                }
                (kind, _) => {
                    return Ok(corrupt(format!(
                        "unexpected {kind:?} chunk at offset {start}"
                    )));
                }
            }
        }
    }

    /// Moves on to the next block of the file.
    fn next_block(&mut self) -> std::io::Result<()> {
        self.base += BLOCK_SIZE;
        self.pos = 0;
        // Marks the block empty first, so a failed read leaves nothing stale in it.
        self.filled = 0;
        self.filled = fill(&mut self.src, &mut self.block)?;
        Ok(())
    }
}

impl<R: Read + Seek> LogReader<R> {
    /// Goes on reading a log from `offset`, a [`LogReader::position`] reached after a
    /// record by an earlier reader of the same file; reads only from the block holding
    /// `offset` on. At offset 7 or less it starts from the top, as [`LogReader::new`] does,
    /// header check included; further on, the header is taken as checked by that earlier
    /// reader.
    ///
    /// This is how a log still being written is followed: read to the end, keep the
    /// position after the last whole record, and resume from it when the file has grown.
    ///
    /// ```
    /// use std::io::Cursor;
    /// use labbook_wire::{Framer, LogEnd, LogItem, LogReader};
    /// let mut framer = Framer::new_file();
    /// framer.append(b"one");
    /// let mut file = framer.pending().to_vec();
    /// let mut reader = LogReader::new(Cursor::new(&file))?;
    /// assert!(matches!(reader.next_record()?, LogItem::Record(_)));
    /// let at = reader.position();
    ///
    /// framer.clear_pending();
    /// framer.append(b"two");
    /// file.extend_from_slice(framer.pending());
    /// let mut reader = LogReader::resume(Cursor::new(&file), at)?;
    /// let LogItem::Record(raw) = reader.next_record()? else { unreachable!() };
    /// assert_eq!(raw.bytes, b"two");
    /// assert_eq!(reader.next_record()?, LogItem::End(LogEnd::Clean));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resume(mut src: R, offset: u64) -> Result<LogReader<R>, ReadError> {
        if offset <= FILE_HEADER.len() as u64 {
            src.seek(SeekFrom::Start(0))?;
            return LogReader::new(src);
        }
        let base = offset - offset % BLOCK_SIZE;
        src.seek(SeekFrom::Start(base))?;
        let mut block = vec![0; BLOCK].into_boxed_slice();
        let filled = fill(&mut src, &mut block)?;
        Ok(LogReader {
            src,
            block,
            filled,
            // Less than BLOCK: the remainder of a division by it.
            pos: (offset - base) as usize,
            base,
            joined: Vec::new(),
            end: None,
            failed: false,
        })
    }
}

impl<R> std::fmt::Debug for LogReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the block: 32 KiB of bytes says nothing useful.
        f.debug_struct("LogReader")
            .field("position", &(self.base + self.pos as u64))
            .field("end", &self.end)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Why `head` is not the start of a W&B log, if it is not.
fn check_file_header(head: &[u8]) -> Result<(), String> {
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

/// Reads until `buf` is full or the source ends: a short count means the end of the file,
/// which a single `read` does not promise.
fn fill(src: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::framing::Framer;

    /// Bytes that differ from record to record, so a record read from the wrong place shows.
    fn payload(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
    }

    /// The framed file, and where each record starts and ends in it.
    fn frame(records: &[Vec<u8>]) -> (Vec<u8>, Vec<(u64, u64)>) {
        let mut f = Framer::new_file();
        let mut spans = Vec::new();
        for r in records {
            let at = f.position();
            let left = BLOCK_SIZE - at % BLOCK_SIZE;
            // Too little of the block left for a chunk header: the record starts the next.
            let start = if left < CHUNK_HEADER { at + left } else { at };
            f.append(r);
            spans.push((start, f.position()));
        }
        (f.pending().to_vec(), spans)
    }

    type Outcome = (Vec<(u64, Vec<u8>)>, LogEnd);

    fn read_all(src: impl std::io::Read) -> Result<Outcome, ReadError> {
        let mut reader = LogReader::new(src)?;
        let mut got = Vec::new();
        loop {
            match reader.next_record()? {
                LogItem::Record(r) => got.push((r.offset, r.bytes.to_vec())),
                LogItem::End(end) => {
                    // And it stays ended.
                    assert_eq!(reader.next_record()?, LogItem::End(end.clone()));
                    return Ok((got, end));
                }
            }
        }
    }

    /// What a file of `records` cut at `cut` must read as: the records that end by the cut,
    /// then a clean end if the cut falls between records (padding included), else a torn
    /// one at the start of the record it cuts.
    fn expected(records: &[Vec<u8>], spans: &[(u64, u64)], cut: u64) -> Outcome {
        let whole = spans.iter().take_while(|s| s.1 <= cut).count();
        let got = spans
            .iter()
            .zip(records)
            .take(whole)
            .map(|(s, r)| (s.0, r.clone()))
            .collect();
        let end = match spans.get(whole) {
            Some(&(start, _)) if cut > start => LogEnd::Torn { offset: start },
            _ => LogEnd::Clean,
        };
        (got, end)
    }

    /// A source that hands out a few bytes per read and is sometimes interrupted, as a
    /// pipe or a slow disk may.
    struct Trickle<'a> {
        data: &'a [u8],
        calls: usize,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(5) {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            let n = (self.calls * 37 % 4099 + 1)
                .min(buf.len())
                .min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Compared without printing on failure: records are tens of kilobytes.
    fn assert_reads(got: Outcome, want: Outcome, what: &str) {
        let offsets = |r: &Outcome| r.0.iter().map(|x| x.0).collect::<Vec<_>>();
        assert_eq!(offsets(&got), offsets(&want), "{what}");
        assert!(got.0 == want.0, "record bytes differ, {what}");
        assert_eq!(got.1, want.1, "{what}");
    }

    #[test]
    fn a_file_cut_anywhere_reads_its_whole_records_then_a_torn_or_clean_end() {
        // Whole chunks, and records over two to four blocks.
        let records: Vec<Vec<u8>> = (1..=12).map(|i| payload(i, i * 7919 % 100_000)).collect();
        let (data, spans) = frame(&records);
        assert!(spans.iter().any(|s| s.1 - s.0 > 2 * BLOCK_SIZE));
        let block = |c: usize| c % BLOCK;
        let near = |c: usize| block(c) < 16 || BLOCK - block(c) < 16 || data.len() - c < 100;
        for cut in (7..=data.len()).filter(|&c| near(c) || c.is_multiple_of(997)) {
            let want = || expected(&records, &spans, cut as u64);
            let got = read_all(&data[..cut]).unwrap();
            assert_reads(got, want(), &format!("cut at {cut}"));
            if cut.is_multiple_of(5) {
                let src = Trickle {
                    data: &data[..cut],
                    calls: 0,
                };
                let got = read_all(src).unwrap();
                assert_reads(got, want(), &format!("cut at {cut}, read in pieces"));
            }
        }
    }

    #[test]
    fn records_ending_0_to_8_bytes_before_a_block_boundary_read_back() {
        for gap in 0..=8usize {
            // The first record ends `gap` bytes before the first block boundary.
            let first = payload(1, BLOCK - FILE_HEADER.len() - HEADER - gap);
            let records = vec![first, payload(2, 10), payload(3, 40_000)];
            let (data, spans) = frame(&records);
            assert_eq!(spans[0].1, (BLOCK - gap) as u64);
            for cut in BLOCK - gap - 2..BLOCK + 30 {
                let got = read_all(&data[..cut]).unwrap();
                let want = expected(&records, &spans, cut as u64);
                assert_reads(got, want, &format!("gap {gap}, cut at {cut}"));
            }
            let got = read_all(&data[..]).unwrap();
            assert_reads(got, expected(&records, &spans, data.len() as u64), "whole");
        }
    }

    #[test]
    fn a_flipped_bit_ends_the_read_at_the_record_it_hits() {
        let records: Vec<Vec<u8>> = (1..=6).map(|i| payload(i, 15_000 * i)).collect();
        let (data, spans) = frame(&records);
        for at in (0..data.len()).step_by(1999).chain([3, 6, 7, 13, 14]) {
            for bit in [0x01, 0x80] {
                let mut bad = data.clone();
                bad[at] ^= bit;
                let what = format!("bit {bit:#x} at {at}");
                if at < FILE_HEADER.len() {
                    assert!(
                        matches!(read_all(&bad[..]), Err(ReadError::NotALog(_))),
                        "{what}"
                    );
                    continue;
                }
                let (got, end) = read_all(&bad[..]).unwrap();
                let Some(hit) = spans
                    .iter()
                    .position(|s| s.0 <= at as u64 && (at as u64) < s.1)
                else {
                    // Block padding: never read.
                    assert_reads(
                        (got, end),
                        expected(&records, &spans, data.len() as u64),
                        &what,
                    );
                    continue;
                };
                let start = spans[hit].0;
                let (want, _) = expected(&records, &spans, start);
                assert_reads((got, LogEnd::Clean), (want, LogEnd::Clean), &what);
                match end {
                    // The bad chunk is the record's first or a later one.
                    LogEnd::Corrupt { offset, .. } => {
                        assert!((start..=at as u64).contains(&offset), "{what}: {offset}")
                    }
                    // A length made longer than what is left of the file.
                    LogEnd::Torn { offset } => assert_eq!(offset, start, "{what}"),
                    LogEnd::Clean => panic!("{what}: read as clean"),
                }
            }
        }
    }

    #[test]
    fn a_bad_payload_byte_is_a_checksum_mismatch_at_its_chunk() {
        let (mut data, spans) = frame(&[payload(1, 10), payload(2, 10)]);
        let last = data.len() - 3;
        data[last] ^= 0x40;
        let (got, end) = read_all(&data[..]).unwrap();
        assert_eq!(got.len(), 1);
        let offset = spans[1].0;
        let reason = format!("checksum mismatch in the chunk at offset {offset}");
        assert_eq!(end, LogEnd::Corrupt { offset, reason });
    }

    #[test]
    fn a_chunk_longer_than_its_block_is_corrupt() {
        let (mut data, _) = frame(&[payload(1, 10)]);
        // Chunk length, after the CRC: reaching past the first block boundary.
        data[11..13].copy_from_slice(&(BLOCK as u16 - 10).to_le_bytes());
        let (got, end) = read_all(&data[..]).unwrap();
        assert!(got.is_empty());
        let reason = "chunk at offset 7 crosses a block boundary".to_owned();
        assert_eq!(end, LogEnd::Corrupt { offset: 7, reason });
    }

    #[test]
    fn an_unknown_chunk_type_is_corrupt() {
        let (mut data, _) = frame(&[payload(1, 10)]);
        data[13] = 9;
        let crc = crate::framing::chunk_crc(9, &data[14..24]);
        data[7..11].copy_from_slice(&crc.to_le_bytes());
        let (_, end) = read_all(&data[..]).unwrap();
        let reason = "unknown chunk type 9 at offset 7".to_owned();
        assert_eq!(end, LogEnd::Corrupt { offset: 7, reason });
    }

    #[test]
    fn a_zeroed_chunk_header_skips_the_rest_of_its_block() {
        // Block 0 is exactly one record; block 1 holds a small one and the start of a
        // record whose last chunk opens block 2.
        let first = payload(1, BLOCK - FILE_HEADER.len() - HEADER);
        let records = vec![first, payload(2, 100), payload(3, 40_000)];
        let (mut data, spans) = frame(&records);
        assert_eq!(spans[1].0, BLOCK_SIZE);
        data[BLOCK..BLOCK + HEADER].fill(0);
        let (got, end) = read_all(&data[..]).unwrap();
        assert_eq!(got.len(), 1);
        let offset = 2 * BLOCK_SIZE;
        let reason = format!("unexpected Last chunk at offset {offset}");
        assert_eq!(end, LogEnd::Corrupt { offset, reason });
    }

    #[test]
    fn a_zeroed_chunk_header_inside_a_record_drops_that_chunk() {
        // Today's rule, kept from the first reader: the zeroed header is taken for block
        // padding even in the middle of a record, and the record is joined without that
        // block's chunk (its decoding then usually fails). LevelDB would drop the record.
        let records = vec![payload(1, 3 * BLOCK)];
        let (mut data, _) = frame(&records);
        data[BLOCK..BLOCK + HEADER].fill(0);
        let (got, end) = read_all(&data[..]).unwrap();
        assert_eq!(end, LogEnd::Clean);
        let first_chunk = BLOCK - FILE_HEADER.len() - HEADER;
        let middle_chunk = BLOCK - HEADER;
        let mut want = records[0][..first_chunk].to_vec();
        want.extend_from_slice(&records[0][first_chunk + middle_chunk..]);
        assert!(got.len() == 1 && got[0].1 == want);
    }

    #[test]
    fn a_wrong_file_header_is_not_a_log() {
        let not_a_log = |bytes: &[u8]| match read_all(bytes) {
            Err(ReadError::NotALog(reason)) => reason,
            other => panic!("{:?}", other.map(|r| r.1)),
        };
        assert!(not_a_log(b"not a log").contains(":W&B"));
        assert!(not_a_log(b"").contains(":W&B"));
        assert!(not_a_log(&FILE_HEADER[..6]).contains(":W&B"));
        assert!(not_a_log(&[0x3A, 0x57, 0x26, 0x42, 0xE1, 0xBF, 0x00]).contains("magic"));
        assert_eq!(
            not_a_log(&[0x3A, 0x57, 0x26, 0x42, 0xE1, 0xBE, 0x01]),
            "unsupported W&B store version 1"
        );
        let (got, end) = read_all(&FILE_HEADER[..]).unwrap();
        assert!(got.is_empty());
        assert_eq!(end, LogEnd::Clean);
    }

    #[test]
    fn resuming_at_any_record_boundary_reads_the_rest() {
        let records: Vec<Vec<u8>> = (1..=8).map(|i| payload(i, i * 9001 % 50_000)).collect();
        let (data, spans) = frame(&records);
        let whole = expected(&records, &spans, data.len() as u64);
        let mut reader = LogReader::new(&data[..]).unwrap();
        let mut positions = vec![reader.position()];
        while let LogItem::Record(_) = reader.next_record().unwrap() {
            positions.push(reader.position());
        }
        assert_eq!(positions.len(), records.len() + 1);
        for (n, &at) in positions.iter().enumerate() {
            let mut reader = LogReader::resume(Cursor::new(&data), at).unwrap();
            let mut got = Vec::new();
            let end = loop {
                match reader.next_record().unwrap() {
                    LogItem::Record(r) => got.push((r.offset, r.bytes.to_vec())),
                    LogItem::End(end) => break end,
                }
            };
            let want = (whole.0[n..].to_vec(), whole.1.clone());
            assert_reads((got, end), want, &format!("resumed at {at}"));
        }
        // From the top, the header is checked.
        let bad = Cursor::new(b"not a log at all".to_vec());
        assert!(matches!(
            LogReader::resume(bad, 7),
            Err(ReadError::NotALog(_))
        ));
    }

    #[test]
    fn a_failed_read_is_an_error_and_the_reader_stays_failed() {
        struct Failing<'a>(&'a [u8]);
        impl std::io::Read for Failing<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Err(std::io::Error::other("disk on fire"));
                }
                let n = buf.len().min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let (data, _) = frame(&[payload(1, 50_000)]);
        assert!(matches!(
            LogReader::new(Failing(&data[..100])),
            Err(ReadError::Io(_))
        ));
        let mut reader = LogReader::new(Failing(&data[..BLOCK])).unwrap();
        assert!(reader.next_record().is_err());
        assert!(reader.next_record().is_err());
    }
}
