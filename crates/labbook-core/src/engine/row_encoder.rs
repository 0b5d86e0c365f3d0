//! Encodes a history row straight into protobuf bytes: the one record written per step, so
//! it skips building `HistoryRecord` with two owned strings per item.

use crate::value::key::Key;
use crate::value::{Value, write_f64};

/// Reusable buffers for encoding rows; output equals prost's encoding of the same
/// `Record { num, history: HistoryRecord { item, step } }`.
#[derive(Debug, Default)]
pub(crate) struct RowEncoder {
    body: Vec<u8>,
    record: Vec<u8>,
    json: String,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

impl RowEncoder {
    /// The bytes of the record for one row, with `_step`, `_runtime` and `_timestamp` items
    /// after the row's own.
    pub(crate) fn encode(
        &mut self,
        num: i64,
        step: u64,
        items: &[(Key, Value)],
        runtime: f64,
        unix: f64,
    ) -> &[u8] {
        self.body.clear();
        for (k, v) in items {
            self.json.clear();
            v.write_json(&mut self.json);
            self.item(k.as_str());
        }
        self.json.clear();
        self.json.push_str(itoa_u64(step, &mut [0u8; 20]));
        self.item("_step");
        self.json.clear();
        write_f64(runtime, &mut self.json);
        self.item("_runtime");
        self.json.clear();
        write_f64(unix, &mut self.json);
        self.item("_timestamp");
        // HistoryRecord.step (field 2) = HistoryStep { num (field 1) }; a zero num is omitted.
        self.body.push(0x12);
        if step == 0 {
            self.body.push(0);
        } else {
            varint(&mut self.body, 1 + varint_len(step) as u64);
            self.body.push(0x08);
            varint(&mut self.body, step);
        }
        self.record.clear();
        if num != 0 {
            self.record.push(0x08);
            varint(&mut self.record, num as u64);
        }
        // Record.history is field 2.
        self.record.push(0x12);
        varint(&mut self.record, self.body.len() as u64);
        self.record.extend_from_slice(&self.body);
        &self.record
    }

    /// HistoryItem { key (field 1), value_json (field 16) } with the value in `self.json`.
    fn item(&mut self, key: &str) {
        let (k, j) = (key.len() as u64, self.json.len() as u64);
        let len = 1 + varint_len(k) as u64 + k + 2 + varint_len(j) as u64 + j;
        self.body.push(0x0A);
        varint(&mut self.body, len);
        self.body.push(0x0A);
        varint(&mut self.body, k);
        self.body.extend_from_slice(key.as_bytes());
        self.body.extend_from_slice(&[0x82, 0x01]);
        varint(&mut self.body, j);
        self.body.extend_from_slice(self.json.as_bytes());
    }
}

fn itoa_u64(mut v: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::wire::proto::{HistoryItem, HistoryRecord, HistoryStep, Record, RecordType};

    fn prost_bytes(
        num: i64,
        step: u64,
        items: &[(Key, Value)],
        runtime: f64,
        unix: f64,
    ) -> Vec<u8> {
        let mut item: Vec<HistoryItem> = items
            .iter()
            .map(|(k, v)| HistoryItem {
                key: k.as_str().into(),
                nested_key: vec![],
                value_json: v.to_json(),
            })
            .collect();
        for (k, v) in [
            ("_step", Value::from(step)),
            ("_runtime", Value::F64(runtime)),
            ("_timestamp", Value::F64(unix)),
        ] {
            item.push(HistoryItem {
                key: k.into(),
                nested_key: vec![],
                value_json: v.to_json(),
            });
        }
        Record {
            num,
            record_type: Some(RecordType::History(HistoryRecord {
                item,
                step: Some(HistoryStep { num: step as i64 }),
            })),
        }
        .encode_to_vec()
    }

    #[test]
    fn rows_encode_exactly_as_prost_would() {
        let long = "k".repeat(200);
        let items: Vec<(Key, Value)> = vec![
            ("loss".into(), Value::from(0.5)),
            (long.into(), Value::from("v".repeat(300))),
            ("ü/ключ".into(), Value::from(f32::NAN)),
            (
                "nested".into(),
                Value::map([("a", Value::from(vec![1, 2]))]),
            ),
        ];
        let mut enc = RowEncoder::default();
        for (num, step) in [
            (1, 0),
            (2, 1),
            (300, 127),
            (70_000, 128),
            (i64::MAX, u64::MAX >> 1),
        ] {
            assert_eq!(
                enc.encode(num, step, &items, 1.25, 1.7e9),
                prost_bytes(num, step, &items, 1.25, 1.7e9),
                "{num} {step}"
            );
        }
        assert_eq!(
            enc.encode(5, 3, &[], 0.0, 0.0),
            prost_bytes(5, 3, &[], 0.0, 0.0)
        );
    }

    /// The engine's encoder and labbook-wire's scanner are two hand-written codecs of the
    /// same record: what one writes, the other reads back item for item.
    #[test]
    fn the_wire_scanner_reads_back_what_the_encoder_writes() {
        let items: Vec<(Key, Value)> = vec![
            ("loss".into(), Value::from(0.5)),
            ("ü/ключ".into(), Value::from(f64::NEG_INFINITY)),
            ("text".into(), Value::from("a \"quoted\" word")),
            ("n".into(), Value::map([("a", Value::from(vec![1, 2]))])),
        ];
        let mut enc = RowEncoder::default();
        let mut scanner = crate::wire::HistoryScanner::default();
        for step in [0, 1, 128, u64::MAX >> 1] {
            let bytes = enc.encode(7, step, &items, 1.25, 1.7e9).to_vec();
            let scanned: Vec<(String, String)> = scanner
                .record(&bytes)
                .expect("an encoded row is a history record the scanner takes")
                .map(|it| {
                    assert_eq!(it.nested_key().len(), 0);
                    (it.key.to_owned(), it.value_json.to_owned())
                })
                .collect();
            let mut want: Vec<(String, String)> = items
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_json()))
                .collect();
            want.push(("_step".into(), step.to_string()));
            want.push(("_runtime".into(), Value::F64(1.25).to_json()));
            want.push(("_timestamp".into(), Value::F64(1.7e9).to_json()));
            assert_eq!(scanned, want, "step {step}");
        }
    }

    #[test]
    fn varint_lengths() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut b = Vec::new();
            varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
        }
    }
}
