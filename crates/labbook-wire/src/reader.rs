//! Reads whole `.wandb` transaction logs into decoded records, and follows one that is still
//! being written; both through [`LogReader`], which checks every CRC, joins chunks, and
//! stops cleanly at a tail torn by a crash.

use std::io::Read;
use std::path::Path;

use prost::Message as _;

use crate::error::{Error, Result};
use crate::framing::FILE_HEADER;
use crate::log_reader::{LogEnd, LogItem, LogReader};
use crate::proto::Record;

/// The records of a log and how it ended.
#[derive(Clone, Debug)]
pub struct LogContents {
    /// Every whole record, in file order.
    pub records: Vec<Record>,
    /// How the file ended.
    pub end: LogEnd,
}

/// Reads a whole `.wandb` file.
///
/// A torn tail or a corrupt chunk ends the read and is reported in [`LogContents::end`];
/// only a missing file, an unreadable file or a wrong file header is an `Err`. The file is
/// read a block at a time (see [`LogReader`]); only the decoded records are kept.
///
/// ```no_run
/// let log = labbook_wire::read_log("wandb/latest-run/run-abc12345.wandb")?;
/// println!("{} records, ended {:?}", log.records.len(), log.end);
/// # Ok::<(), labbook_wire::Error>(())
/// ```
pub fn read_log(path: impl AsRef<Path>) -> Result<LogContents> {
    let path = path.as_ref();
    let reader = LogReader::open(path)?;
    decode_all(reader).map_err(Error::io("could not read", path))
}

/// Parses the bytes of a `.wandb` file (see [`read_log`]).
///
/// ```
/// use labbook_wire::{Framer, LogEnd, parse_log, proto::Record};
/// use prost::Message as _;
///
/// let mut framer = Framer::new_file();
/// framer.append(&Record { num: 1, record_type: None }.encode_to_vec());
/// let log = parse_log(framer.pending())?;
/// assert_eq!((log.records.len(), log.end), (1, LogEnd::Clean));
/// assert!(parse_log(b"not a log").is_err());
/// # Ok::<(), String>(())
/// ```
pub fn parse_log(data: &[u8]) -> Result<LogContents, String> {
    let reader = LogReader::new(data).map_err(|e| e.to_string())?;
    // Reading from a slice does not fail; the error is passed on all the same.
    decode_all(reader).map_err(|e| e.to_string())
}

/// Decodes every record; one that does not decode ends the log as corrupt from it on.
fn decode_all<R: Read>(mut reader: LogReader<R>) -> std::io::Result<LogContents> {
    let mut records = Vec::new();
    let end = loop {
        match reader.next_record()? {
            LogItem::Record(raw) => match Record::decode(raw.bytes) {
                Ok(r) => records.push(r),
                Err(e) => {
                    break LogEnd::Corrupt {
                        offset: raw.offset,
                        reason: format!("record does not decode: {e}"),
                    };
                }
            },
            LogItem::End(end) => break end,
        }
    };
    Ok(LogContents { records, end })
}

/// Follows a log that is still being written: each [`LogFollower::poll`] returns the
/// whole records added since the last one, and leaves a record still being written for the
/// next poll.
///
/// ```no_run
/// let mut f = labbook_wire::LogFollower::new("wandb/latest-run/run-abc12345.wandb");
/// loop {
///     for record in f.poll()? {
///         println!("{:?}", record.record_type.is_some());
///     }
///     std::thread::sleep(std::time::Duration::from_secs(1));
/// }
/// # Ok::<(), labbook_wire::Error>(())
/// ```
#[derive(Debug)]
pub struct LogFollower {
    path: std::path::PathBuf,
    /// Where the record after the last one returned starts.
    pos: u64,
    /// A call returns once its records hold this many bytes.
    batch_bytes: u64,
}

impl LogFollower {
    /// Follows the log at `path` (which may not exist yet).
    pub fn new(path: impl Into<std::path::PathBuf>) -> LogFollower {
        LogFollower {
            path: path.into(),
            pos: FILE_HEADER.len() as u64,
            batch_bytes: u64::MAX,
        }
    }

    /// Returns at most about `bytes` of records per [`poll`](LogFollower::poll) (at least
    /// one record), so a reader far behind a big log holds a slice of it at a time.
    ///
    /// ```
    /// let f = labbook_wire::LogFollower::new("run.wandb").batch_bytes(1 << 20);
    /// # let _ = f;
    /// ```
    pub fn batch_bytes(mut self, bytes: u64) -> LogFollower {
        self.batch_bytes = bytes.max(1);
        self
    }

    /// The whole records written since the last call (up to the batch size). A record cut
    /// by the end of the file waits for the next call; a corrupt one is an error naming its
    /// offset, once the records before it have been returned.
    ///
    /// Each call reads only from the block holding the end of the last record returned.
    pub fn poll(&mut self) -> Result<Vec<Record>> {
        Ok(self.poll_with_ends()?.into_iter().map(|(r, _)| r).collect())
    }

    /// [`poll`](LogFollower::poll), with the byte offset where each record ends: the unit
    /// an upload's saved position counts in.
    ///
    /// ```no_run
    /// let mut f = labbook_wire::LogFollower::new("run-abc12345.wandb");
    /// for (record, end) in f.poll_with_ends()? {
    ///     println!("record {} ends at byte {end}", record.num);
    /// }
    /// # Ok::<(), labbook_wire::Error>(())
    /// ```
    pub fn poll_with_ends(&mut self) -> Result<Vec<(Record, u64)>> {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("could not read", &self.path)(e)),
        };
        let len = file
            .metadata()
            .map_err(Error::io("could not read", &self.path))?
            .len();
        if len < FILE_HEADER.len() as u64 {
            // The writer has not got through the file header yet.
            return Ok(Vec::new());
        }
        let mut reader = LogReader::resume(file, self.pos).map_err(|e| e.at(&self.path))?;
        let corrupt = |reason: String| Error::CorruptLog {
            path: self.path.clone(),
            reason,
        };
        let mut records = Vec::new();
        let mut taken = 0u64;
        while taken < self.batch_bytes {
            let item = reader
                .next_record()
                .map_err(Error::io("could not read", &self.path))?;
            // A bad record or chunk: the whole records before it are returned first, and
            // the next poll, which starts at it, is the error. Returning the error now
            // would lose those records, as the position has moved past them.
            match item {
                LogItem::Record(raw) => match Record::decode(raw.bytes) {
                    Ok(r) => {
                        taken += raw.bytes.len() as u64;
                        records.push((r, reader.position()));
                    }
                    Err(_) if !records.is_empty() => break,
                    Err(e) => {
                        return Err(corrupt(format!(
                            "the record at offset {} does not decode: {e}",
                            raw.offset
                        )));
                    }
                },
                // A torn tail is a record still being written: it is read next time.
                LogItem::End(LogEnd::Clean | LogEnd::Torn { .. }) => break,
                LogItem::End(LogEnd::Corrupt { .. }) if !records.is_empty() => break,
                LogItem::End(LogEnd::Corrupt { reason, .. }) => return Err(corrupt(reason)),
            }
            self.pos = reader.position();
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{BLOCK_SIZE, Framer};
    use crate::proto::{HistoryRecord, HistoryStep, RecordType};

    fn record(num: i64, payload_len: usize) -> Record {
        Record {
            num,
            record_type: Some(RecordType::History(HistoryRecord {
                item: vec![crate::proto::HistoryItem {
                    key: "k".into(),
                    nested_key: vec![],
                    value_json: "x".repeat(payload_len),
                }],
                step: Some(HistoryStep { num }),
            })),
        }
    }

    fn write(records: &[Record]) -> Vec<u8> {
        let mut f = Framer::new_file();
        for r in records {
            f.append(&r.encode_to_vec());
        }
        f.pending().to_vec()
    }

    #[test]
    fn records_round_trip_across_blocks() {
        let recs: Vec<Record> = (1..=40)
            .map(|i| record(i, (i as usize * 7919) % 100_000))
            .collect();
        let data = write(&recs);
        let got = parse_log(&data).unwrap();
        assert_eq!(got.end, LogEnd::Clean);
        assert_eq!(got.records, recs);
    }

    #[test]
    fn records_ending_0_to_6_bytes_before_a_block_boundary_read_back() {
        for gap in 0..=7u64 {
            // Size the first record so it ends `gap` bytes before the boundary.
            let mut f = Framer::new_file();
            let probe = record(1, 0).encode_to_vec().len() as u64;
            let want_payload = BLOCK_SIZE - 7 - 7 - gap;
            let pad = (want_payload - probe) as usize;
            // The varint length prefix grows with the payload; adjust until it fits exactly.
            let mut r1 = record(1, pad);
            let mut extra = r1.encoded_len() as i64 - want_payload as i64;
            while extra != 0 {
                r1 = record(1, (pad as i64 - extra) as usize);
                extra = r1.encoded_len() as i64 - want_payload as i64;
            }
            f.append(&r1.encode_to_vec());
            assert_eq!(f.position(), BLOCK_SIZE - gap, "gap {gap}");
            let r2 = record(2, 10);
            f.append(&r2.encode_to_vec());
            let got = parse_log(f.pending()).unwrap();
            assert_eq!(got.end, LogEnd::Clean, "gap {gap}");
            assert_eq!(got.records, vec![r1, r2], "gap {gap}");
        }
    }

    #[test]
    fn a_file_truncated_anywhere_reads_back_whole_records_before_the_cut() {
        let recs: Vec<Record> = (1..=6).map(|i| record(i, 20_000 + i as usize)).collect();
        let data = write(&recs);
        // Offsets where each record ends, from re-framing prefixes.
        let ends: Vec<usize> = (1..=recs.len()).map(|n| write(&recs[..n]).len()).collect();
        let from = data.len().saturating_sub(3 * BLOCK_SIZE as usize);
        for cut in from..=data.len() {
            let got = parse_log(&data[..cut]).unwrap();
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(got.records, recs[..whole], "cut at {cut}");
            let clean = ends.contains(&cut) || (whole == 0 && cut == 7);
            match got.end {
                LogEnd::Clean => {
                    assert!(clean || trailing_padding(&data, cut, &ends), "cut at {cut}")
                }
                LogEnd::Torn { .. } => assert!(!clean, "cut at {cut}"),
                LogEnd::Corrupt { .. } => panic!("truncation read as corruption at {cut}"),
            }
        }
    }

    /// A cut inside the zero padding after a record that ended less than 7 bytes before a
    /// block boundary is a clean end too.
    fn trailing_padding(data: &[u8], cut: usize, ends: &[usize]) -> bool {
        ends.iter()
            .any(|&e| e < cut && data[e..cut].iter().all(|&b| b == 0))
    }

    #[test]
    fn a_flipped_bit_is_reported_as_corruption_with_its_offset() {
        let recs = vec![record(1, 10), record(2, 10)];
        let mut data = write(&recs);
        let last = data.len() - 3;
        data[last] ^= 0x40;
        let got = parse_log(&data).unwrap();
        assert_eq!(got.records, recs[..1]);
        assert!(matches!(got.end, LogEnd::Corrupt { .. }), "{:?}", got.end);
    }

    #[test]
    fn a_follower_returns_each_record_once_as_the_file_grows() {
        let recs: Vec<Record> = (1..=5).map(|i| record(i, 30_000)).collect();
        let data = write(&recs);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.wandb");
        let mut f = LogFollower::new(&path);
        assert!(f.poll().unwrap().is_empty(), "no file yet");
        let mut seen = Vec::new();
        // Grow the file in uneven steps, cutting records anywhere.
        for cut in [3, 7, 100, 40_000, 40_001, 90_000, data.len()] {
            std::fs::write(&path, &data[..cut]).unwrap();
            seen.extend(f.poll().unwrap());
        }
        assert_eq!(seen, recs);
        assert!(f.poll().unwrap().is_empty());
    }

    #[test]
    fn a_follower_with_a_batch_size_returns_a_big_backlog_a_slice_at_a_time() {
        let recs: Vec<Record> = (1..=40).map(|i| record(i, 1000)).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.wandb");
        std::fs::write(&path, write(&recs)).unwrap();
        let mut f = LogFollower::new(&path).batch_bytes(5000);
        let mut seen = Vec::new();
        loop {
            let batch = f.poll().unwrap();
            if batch.is_empty() {
                break;
            }
            assert!(
                batch.len() <= 5,
                "{} records of ~1 kB in one batch",
                batch.len()
            );
            seen.extend(batch);
        }
        assert_eq!(seen, recs);
    }

    #[test]
    fn a_follower_reads_a_file_grown_a_little_at_a_time() {
        // Records of many sizes, so that polls stop in padding, in chunk headers and in
        // records spread over blocks.
        let recs: Vec<Record> = (1..=20)
            .map(|i| record(i, i as usize * 4801 % 45_000))
            .collect();
        let data = write(&recs);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.wandb");
        let mut f = LogFollower::new(&path);
        let mut seen = Vec::new();
        for cut in (0..data.len()).step_by(1733).chain([data.len()]) {
            std::fs::write(&path, &data[..cut]).unwrap();
            seen.extend(f.poll().unwrap());
        }
        assert_eq!(seen, recs);
    }

    #[test]
    fn a_follower_returns_the_records_before_a_corrupt_chunk_then_reports_it() {
        let recs = vec![record(1, 10), record(2, 10)];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.wandb");
        let mut data = write(&recs);
        let last = data.len() - 3;
        data[last] ^= 0x40;
        std::fs::write(&path, &data).unwrap();
        let mut f = LogFollower::new(&path);
        // The record before the bad chunk first, then the error, every time.
        assert_eq!(f.poll().unwrap(), recs[..1]);
        for _ in 0..2 {
            let e = f.poll().unwrap_err().to_string();
            assert!(e.contains("checksum mismatch"), "{e}");
        }
        // A chunk that is fine but holds no protobuf record (wire type 7 does not exist).
        let mut framer = Framer::new_file();
        framer.append(&recs[0].encode_to_vec());
        framer.append(&[0xFF, 0xFF]);
        framer.append(&recs[1].encode_to_vec());
        std::fs::write(&path, framer.pending()).unwrap();
        let mut f = LogFollower::new(&path);
        assert_eq!(f.poll().unwrap(), recs[..1]);
        let e = f.poll().unwrap_err().to_string();
        assert!(e.contains("does not decode"), "{e}");
        std::fs::write(&path, b"garbage").unwrap();
        let e = LogFollower::new(&path).poll().unwrap_err().to_string();
        assert!(e.contains("not a W&B transaction log"), "{e}");
    }

    #[test]
    fn a_wrong_header_is_an_error() {
        assert!(parse_log(b"not a log").is_err());
        assert!(parse_log(&[0x3A, 0x57, 0x26, 0x42, 0xE1, 0xBE, 0x01]).is_err());
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::framing::Framer;
    use crate::log_reader::LogReader;
    use crate::proto::{HistoryItem, HistoryRecord, HistoryStep, RecordType};
    const CASES: u32 = 256;

    fn record() -> impl Strategy<Value = Record> {
        (
            any::<i64>(),
            prop::collection::vec(
                (
                    "\\PC{0,8}",
                    prop::collection::vec("\\PC{0,4}", 0..3),
                    "\\PC{0,40}",
                ),
                0..6,
            ),
            any::<i64>(),
            0usize..70_000,
        )
            .prop_map(|(num, items, step, pad)| Record {
                num,
                record_type: Some(RecordType::History(HistoryRecord {
                    item: items
                        .into_iter()
                        .map(|(key, nested_key, value_json)| HistoryItem {
                            key,
                            nested_key,
                            value_json,
                        })
                        .chain([HistoryItem {
                            key: "pad".into(),
                            nested_key: vec![],
                            value_json: "x".repeat(pad),
                        }])
                        .collect(),
                    step: Some(HistoryStep { num: step }),
                })),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Any bytes after the file header are whole records, a torn tail or corruption,
        /// never a panic; from any offset too.
        #[test]
        fn any_bytes_read_as_records_or_a_defined_end(
            body in prop::collection::vec(any::<u8>(), 0..4096),
            offset in 0u64..5000,
        ) {
            let mut data = crate::FILE_HEADER.to_vec();
            data.extend(&body);
            let _ = parse_log(&data);
            let _ = parse_log(&body);
            if let Ok(mut r) = LogReader::resume(std::io::Cursor::new(&data), offset) {
                while let Ok(LogItem::Record(_)) = r.next_record() {}
            }
        }

        /// Records framed by the writer read back whole and equal, however they fall across
        /// blocks; cut anywhere, the whole ones before the cut read back.
        #[test]
        fn framed_records_round_trip_and_survive_any_cut(
            records in prop::collection::vec(record(), 1..5),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut f = Framer::new_file();
            for r in &records {
                f.append(&r.encode_to_vec());
            }
            let data = f.pending().to_vec();
            let all = parse_log(&data).map_err(TestCaseError::fail)?;
            prop_assert_eq!(&all.records, &records);
            prop_assert_eq!(all.end, LogEnd::Clean);
            let cut = cut.index(data.len() + 1);
            if let Ok(part) = parse_log(&data[..cut]) {
                prop_assert!(part.records.len() <= records.len());
                prop_assert_eq!(&part.records[..], &records[..part.records.len()]);
                prop_assert!(!matches!(part.end, LogEnd::Corrupt { .. }), "a cut read as corruption");
            }
        }
    }
}
