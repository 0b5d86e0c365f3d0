//! The transaction-log reader on any bytes: labbook's framing and protobuf decoding, then
//! what the CLI and the uploader build of the records (nested keys, W&B's JSON dialect).
//! A panic, an overflow of the stack, or a hang is a bug.

#![no_main]
#![allow(dead_code)]

// The CLI's reader, until it moves into a library crate of its own.
#[path = "../../crates/labbook-cli/src/history.rs"]
mod history;
#[path = "../../crates/labbook-cli/src/run_log.rs"]
mod run_log;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(log) = labbook_core::wire::parse_log(data) else {
        return;
    };
    let mut run = run_log::RunLog::default();
    for record in log.records {
        run.apply(record);
    }
});
