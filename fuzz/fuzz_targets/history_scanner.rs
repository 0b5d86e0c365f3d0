//! labbook-wire's zero-copy history-row scanner (through the CLI's export table) on any
//! record bytes: it takes the record or
//! leaves it to prost, and what it takes it reads exactly as prost and `RunLog` do. A
//! panic, or a row that differs, is a bug.

#![no_main]
#![allow(dead_code)]

#[path = "../../crates/labbook-cli/src/history.rs"]
mod history;
#[path = "../../crates/labbook-cli/src/run_log.rs"]
mod run_log;

use labbook_wire::proto::{Record, RecordType};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;

fuzz_target!(|data: &[u8]| {
    let mut scanned = history::Table::default();
    if !scanned.push_history_bytes(data) {
        return;
    }
    // Taken by the scanner: prost must read the same record, and `RunLog` the same row.
    let record = Record::decode(data).expect("the scanner took bytes prost refuses");
    let Some(RecordType::History(_)) = record.record_type else {
        panic!("the scanner took a record that is not history");
    };
    let mut log = run_log::RunLog::default();
    log.apply_all([record]);
    assert_eq!(scanned.to_maps(), log.rows, "the scanner and RunLog disagree");
});
