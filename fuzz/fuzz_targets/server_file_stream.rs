//! labbook serve's `file_stream` bodies (any bytes, sent plain), through the whole server in-process (router, service, memory
//! stores): every answer is a 2xx or a 4xx. A panic, a 5xx or a hang is a bug.

#![no_main]

use std::cell::RefCell;

use labbook_server::testing::FuzzTarget;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static SERVER: RefCell<FuzzTarget> = RefCell::new(FuzzTarget::new());
}

fuzz_target!(|data: &[u8]| {
    let status = SERVER.with(|s| s.borrow_mut().post("/files/ent1/proj/run1/file_stream", data, false));
    assert!(status < 500, "answered {status}");
});
