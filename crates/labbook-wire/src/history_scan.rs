//! History rows read straight from a record's bytes: each item's key, nested key and value
//! as `&str`s into the bytes, with no owned string and no `Record` built. A million-row
//! export spends its time here, and prost's decoding allocated three strings an item.
//!
//! The scanner takes on only what it can read exactly as prost would: a record that is not
//! history, or that prost would read differently (a later record-type field, a group, a
//! wrong wire type), is left to prost, which then decides.

use prost::Message as _;

use crate::proto::HistoryStep;

/// Reads history records' items from their bytes; its buffers are reused from record to
/// record.
///
/// ```
/// use labbook_wire::HistoryScanner;
/// use labbook_wire::proto::{HistoryItem, HistoryRecord, Record, RecordType};
/// use prost::Message as _;
///
/// let item = HistoryItem { key: "loss".into(), value_json: "0.5".into(), ..Default::default() };
/// let row = HistoryRecord { item: vec![item], step: None };
/// let bytes = Record { num: 1, record_type: Some(RecordType::History(row)) }.encode_to_vec();
/// let mut scanner = HistoryScanner::default();
/// let items: Vec<(&str, &str)> = scanner
///     .record(&bytes)
///     .expect("a plain history record")
///     .map(|it| (it.key, it.value_json))
///     .collect();
/// assert_eq!(items, [("loss", "0.5")]);
/// ```
#[derive(Debug, Default)]
pub struct HistoryScanner {
    items: Vec<ItemRef>,
    nested: Vec<(usize, usize)>,
}

/// One history item of a scanned record, borrowing the record's bytes.
#[derive(Clone, Copy, Debug)]
pub struct ScannedItem<'a> {
    /// The item's key (empty when it has a nested key instead).
    pub key: &'a str,
    /// The item's value as JSON text.
    pub value_json: &'a str,
    nested: &'a [(usize, usize)],
    bytes: &'a [u8],
}

impl<'a> ScannedItem<'a> {
    /// The parts of the item's nested key (none for a flat key).
    pub fn nested_key(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        let bytes = self.bytes;
        self.nested.iter().map(move |r| text(bytes, *r))
    }
}

/// Where one history item lies in a record's bytes.
#[derive(Clone, Copy, Debug)]
struct ItemRef {
    key: (usize, usize),
    /// A range of `HistoryScanner::nested`.
    nested: (usize, usize),
    value: (usize, usize),
}

/// Why a record is left to prost: malformed, not history, or something this reader does
/// not take on (prost then decides, and reports a record that does not decode).
#[derive(Debug)]
struct Unsupported;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const BYTES: u8 = 2;
const FIXED32: u8 = 5;

/// The fields of `Record.record_type` (see [`RecordType`](crate::proto::RecordType); the
/// test `every_other_record_type_is_left_to_prost` holds this list to it).
const RECORD_TYPES: [u64; 16] = [2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 17, 18, 21, 23, 25, 26];

impl HistoryScanner {
    /// The items of a `Record`'s bytes that hold a history record (prost merges a repeated
    /// one into one, and so does this); `None` leaves the record to prost: any other
    /// record, or one this scanner does not take on.
    pub fn record<'s>(
        &'s mut self,
        bytes: &'s [u8],
    ) -> Option<impl Iterator<Item = ScannedItem<'s>> + 's> {
        self.scan_record(bytes).ok()?;
        Some(self.items_of(bytes))
    }

    /// The items of a `HistoryRecord`'s own bytes (as prost encodes one); `None` as for
    /// [`HistoryScanner::record`].
    pub fn history<'s>(
        &'s mut self,
        bytes: &'s [u8],
    ) -> Option<impl Iterator<Item = ScannedItem<'s>> + 's> {
        self.items.clear();
        self.nested.clear();
        self.scan_history(bytes, 0, bytes.len()).ok()?;
        Some(self.items_of(bytes))
    }

    fn items_of<'s>(&'s self, bytes: &'s [u8]) -> impl Iterator<Item = ScannedItem<'s>> + 's {
        self.items.iter().map(move |item| ScannedItem {
            key: text(bytes, item.key),
            value_json: text(bytes, item.value),
            nested: &self.nested[item.nested.0..item.nested.1],
            bytes,
        })
    }

    fn scan_record(&mut self, b: &[u8]) -> Result<(), Unsupported> {
        self.items.clear();
        self.nested.clear();
        let mut pos = 0;
        let mut history = false;
        while pos < b.len() {
            match field(b, &mut pos)? {
                (1, VARINT, _) => {}
                (2, BYTES, (s, e)) => {
                    self.scan_history(b, s, e)?;
                    history = true;
                }
                (1 | 2, _, _) => return Err(Unsupported),
                (tag, _, _) if RECORD_TYPES.contains(&tag) => return Err(Unsupported),
                _ => {}
            }
        }
        if history { Ok(()) } else { Err(Unsupported) }
    }

    /// Scans a `HistoryRecord`'s fields in `b[start..end]`, adding its items.
    fn scan_history(&mut self, b: &[u8], start: usize, end: usize) -> Result<(), Unsupported> {
        let body = &b[..end];
        let mut pos = start;
        while pos < end {
            match field(body, &mut pos)? {
                (1, BYTES, (s, e)) => self.scan_item(body, s, e)?,
                (2, BYTES, (s, e)) => {
                    // The step is not part of the row; only check it decodes, as prost would.
                    HistoryStep::decode(&body[s..e]).map_err(|_| Unsupported)?;
                }
                (1 | 2, _, _) => return Err(Unsupported),
                _ => {}
            }
        }
        Ok(())
    }

    fn scan_item(&mut self, b: &[u8], start: usize, end: usize) -> Result<(), Unsupported> {
        let body = &b[..end];
        let mut pos = start;
        let nested_from = self.nested.len();
        // Absent strings are empty, as in prost; a repeated one keeps its last value.
        let mut item = ItemRef {
            key: (start, start),
            nested: (0, 0),
            value: (start, start),
        };
        while pos < end {
            match field(body, &mut pos)? {
                (1, BYTES, r) => item.key = utf8(body, r)?,
                (2, BYTES, r) => self.nested.push(utf8(body, r)?),
                (16, BYTES, r) => item.value = utf8(body, r)?,
                (1 | 2 | 16, _, _) => return Err(Unsupported),
                _ => {}
            }
        }
        item.nested = (nested_from, self.nested.len());
        self.items.push(item);
        Ok(())
    }
}

/// A scanned range as text: checked to be UTF-8 by the scan, so nothing is lost here.
fn text(bytes: &[u8], r: (usize, usize)) -> &str {
    std::str::from_utf8(&bytes[r.0..r.1]).unwrap_or_default()
}

fn varint(b: &[u8], pos: &mut usize) -> Result<u64, Unsupported> {
    let mut v = 0u64;
    for i in 0..10 {
        let byte = *b.get(*pos).ok_or(Unsupported)?;
        *pos += 1;
        // The tenth byte may only hold the top bit of 64 (prost rejects more).
        if i == 9 && byte > 1 {
            return Err(Unsupported);
        }
        v |= u64::from(byte & 0x7F) << (7 * i);
        if byte < 0x80 {
            return Ok(v);
        }
    }
    Err(Unsupported)
}

/// The next field's number, wire type and (for length-delimited fields) body range, with
/// `pos` moved past it. Groups are not taken on.
fn field(b: &[u8], pos: &mut usize) -> Result<(u64, u8, (usize, usize)), Unsupported> {
    let key = varint(b, pos)?;
    let (tag, wire) = (key >> 3, (key & 7) as u8);
    if tag == 0 || tag > u64::from(u32::MAX >> 3) {
        return Err(Unsupported);
    }
    let start = *pos;
    match wire {
        VARINT => {
            varint(b, pos)?;
        }
        FIXED64 => *pos += 8,
        FIXED32 => *pos += 4,
        BYTES => {
            let len = usize::try_from(varint(b, pos)?).map_err(|_| Unsupported)?;
            let start = *pos;
            *pos = start.checked_add(len).ok_or(Unsupported)?;
            if *pos > b.len() {
                return Err(Unsupported);
            }
            return Ok((tag, wire, (start, *pos)));
        }
        _ => return Err(Unsupported),
    }
    if *pos > b.len() {
        return Err(Unsupported);
    }
    Ok((tag, wire, (start, *pos)))
}

/// A string field's range, checked to be UTF-8 as prost checks it.
fn utf8(b: &[u8], r: (usize, usize)) -> Result<(usize, usize), Unsupported> {
    let s = &b[r.0..r.1];
    // Keys and values are nearly always ASCII, which is quicker to check than UTF-8.
    if !s.is_ascii() {
        std::str::from_utf8(s).map_err(|_| Unsupported)?;
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{self, Record, RecordType};

    /// Found by the fuzzer (fuzz/history_scanner): the list lacked `use_artifact` (25), so a
    /// history record followed by one, which prost reads as the use, was taken as a row.
    #[test]
    fn every_other_record_type_is_left_to_prost() {
        let history = Record {
            num: 1,
            record_type: Some(RecordType::History(proto::HistoryRecord::default())),
        }
        .encode_to_vec();
        let others = [
            RecordType::Summary(Default::default()),
            RecordType::Config(Default::default()),
            RecordType::Files(Default::default()),
            RecordType::Stats(Default::default()),
            RecordType::Artifact(Default::default()),
            RecordType::Alert(Default::default()),
            RecordType::Telemetry(Default::default()),
            RecordType::Metric(Default::default()),
            RecordType::OutputRaw(Default::default()),
            RecordType::Run(Default::default()),
            RecordType::Exit(Default::default()),
            RecordType::Header(Default::default()),
            RecordType::Preempting(Default::default()),
            RecordType::UseArtifact(Default::default()),
            RecordType::Environment(Default::default()),
        ];
        assert_eq!(others.len() + 1, RECORD_TYPES.len());
        let mut scanner = HistoryScanner::default();
        for other in others {
            let other = Record {
                num: 2,
                record_type: Some(other),
            }
            .encode_to_vec();
            // A history field, then another record type: prost keeps the last one.
            let both = [history.clone(), other.clone()].concat();
            let decoded = Record::decode(&both[..]).unwrap();
            assert!(!matches!(decoded.record_type, Some(RecordType::History(_))));
            assert!(scanner.record(&both).is_none(), "{:?}", decoded.record_type);
            assert!(scanner.record(&other).is_none());
        }
        // A known record type's field with another wire type: prost refuses the record.
        let mut bad = history.clone();
        bad.extend([25 << 3 | 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(Record::decode(&bad[..]).is_err());
        assert!(scanner.record(&bad).is_none());
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::proto::{HistoryItem, HistoryRecord, Record, RecordType};

    fn history() -> impl Strategy<Value = HistoryRecord> {
        (
            prop::collection::vec(
                (
                    "\\PC{0,6}",
                    prop::collection::vec("[a-z]{0,3}", 0..4),
                    "\\PC{0,12}",
                ),
                0..8,
            ),
            prop::option::of(any::<i64>()),
        )
            .prop_map(|(items, step)| HistoryRecord {
                item: items
                    .into_iter()
                    .map(|(key, nested_key, value_json)| HistoryItem {
                        key,
                        nested_key,
                        value_json,
                    })
                    .collect(),
                step: step.map(|num| HistoryStep { num }),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any bytes are a row the scanner takes, or left to prost: never a panic, and
        /// never a row where prost reads no history record.
        #[test]
        fn any_bytes_are_scanned_or_left_to_prost(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let mut scanner = HistoryScanner::default();
            if scanner.record(&bytes).is_some() {
                let decoded = Record::decode(&bytes[..]);
                let is_history = matches!(decoded, Ok(Record { record_type: Some(RecordType::History(_)), .. }));
                prop_assert!(is_history, "the scanner took bytes prost does not read as history");
            }
        }

        /// The scanner reads any history record's items exactly as prost decodes them.
        #[test]
        fn the_scanner_reads_any_history_record_as_prost_does(h in history()) {
            let bytes = Record { num: 1, record_type: Some(RecordType::History(h.clone())) }.encode_to_vec();
            let mut scanner = HistoryScanner::default();
            let scanned: Vec<HistoryItem> = scanner
                .record(&bytes)
                .expect("prost's own encoding is taken on")
                .map(|it| HistoryItem {
                    key: it.key.to_owned(),
                    nested_key: it.nested_key().map(str::to_owned).collect(),
                    value_json: it.value_json.to_owned(),
                })
                .collect();
            prop_assert_eq!(scanned, h.item);
        }
    }
}
