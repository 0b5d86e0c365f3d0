//! The transaction-log reader on any bytes: labbook's framing and protobuf decoding, then
//! labbook-wire's replay and what the CLI builds of the records (nested keys, W&B's JSON
//! dialect).
//! A panic, an overflow of the stack, or a hang is a bug.

#![no_main]
#![allow(dead_code)]

// The CLI's presentation of a run (JSON rows and trees over labbook-wire's replay).
#[path = "../../crates/labbook-cli/src/history.rs"]
mod history;
#[path = "../../crates/labbook-cli/src/run_log.rs"]
mod run_log;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(log) = labbook_wire::parse_log(data) else {
        return;
    };
    let mut replay = labbook_wire::RunLog::keeping_series();
    for record in &log.records {
        if let Some(r) = &record.record_type {
            replay.apply(r);
        }
    }
    let _ = (replay.summary.to_json(), replay.config.as_config().to_json());
    let mut run = run_log::RunLog::default();
    run.apply_all(log.records);
});
