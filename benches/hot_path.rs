//! A fixed workload for instruction counting under callgrind (`scripts/bench-callgrind.sh`):
//! `hot_path <case> <calls>` makes `calls` `log` calls on the main thread and exits. The
//! script runs each case with 0 and N calls and divides the difference of the main thread's
//! instruction counts by N, which is repeatable where a clock is not.

use labbook::{Key, Mode, Settings, Value};

fn main() {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_default();
    let calls: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    if case.is_empty() || case == "--bench" {
        // `cargo bench` runs every bench target; this one only makes sense under callgrind.
        return;
    }
    let (mode, width) = match case.as_str() {
        "disabled_10" => (Mode::Disabled, 10),
        "offline_1" => (Mode::Offline, 1),
        "offline_10" => (Mode::Offline, 10),
        "offline_100" => (Mode::Offline, 100),
        other => panic!("unknown case {other}"),
    };
    let keys: Vec<Key> = (0..width)
        .map(|i| Key::from_static(Box::leak(format!("metric_{i}").into_boxed_str())))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let run = labbook::init(
        Settings::new("callgrind")
            .dir(dir.path())
            .mode(mode)
            .quiet(true)
            .handle_signals(false)
            // Big enough that no call waits for room, which would make counts timing-dependent.
            .queue_bytes(1 << 30)
            .env_vars(Vec::<(String, String)>::new())
            .dotenv_dir(dir.path()),
    )
    .expect("init");
    for i in 0..calls {
        run.log(keys.iter().map(|k| (k.clone(), Value::from(i as f64))))
            .expect("log");
    }
    run.finish().expect("finish");
}
