//! Disabled mode costs nearly nothing: no thread, no file, no allocation per call. This
//! binary counts allocations with its own global allocator, so it holds only these tests.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use labbook::{Mode, Settings, Value};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_on_this_thread() -> u64 {
    ALLOCS.with(|a| a.get())
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn a_disabled_run_starts_no_thread_writes_no_file_and_allocates_nothing_per_call() {
    let tmp = tempfile::tempdir().unwrap();
    let before = threads();
    let run = labbook::init(
        Settings::new("p")
            .dir(tmp.path())
            .quiet(true)
            .env_vars([("WANDB_MODE", "disabled")])
            .dotenv_dir(tmp.path()),
    )
    .unwrap();
    assert!(run.is_disabled());
    assert_eq!(threads(), before, "no worker thread");

    let start = allocations_on_this_thread();
    for i in 0..10_000u64 {
        run.log([
            ("train/loss", Value::from(0.5)),
            ("train/acc", Value::from(i)),
        ])
        .unwrap();
        run.log_at(i, [("x", Value::from(1.0f32))]).unwrap();
        labbook::log!(run, lr = 0.01, epoch = 3).unwrap();
    }
    assert_eq!(
        allocations_on_this_thread() - start,
        0,
        "allocations in 30,000 disabled calls"
    );

    run.finish().unwrap();
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "no file or directory written"
    );

    // The builder's mode does the same. (One test in this binary, so the thread count is
    // not disturbed by a test running beside it.)
    let run = labbook::init(Settings::new("p").dir(tmp.path()).mode(Mode::Disabled)).unwrap();
    assert!(run.is_disabled() && run.dir().is_none());
    assert_eq!(threads(), before);
}
