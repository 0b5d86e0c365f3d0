//! What the server's benches share: the CPU clock and offline runs written by labbook.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// User plus system CPU time of this process.
pub(crate) fn cpu() -> Duration {
    // SAFETY: getrusage fills the struct we own.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// An offline run of `project` under `dir` with `steps` rows of 10 scalars (`m0`..`m9`),
/// no system metrics or console: its id and run directory.
pub(crate) fn offline_run(dir: &Path, project: &str, steps: usize) -> (String, PathBuf) {
    let settings = labbook::Settings::new(project)
        .dir(dir)
        .quiet(true)
        .handle_signals(false)
        .system_metrics(false)
        .console(labbook::Console::Off)
        .git_diff(false);
    let run = labbook::init(settings).expect("init");
    for step in 0..steps {
        let row: Vec<(String, labbook::Value)> = (0..10)
            .map(|k| {
                let v = (step as f64 * 0.001 + k as f64).sin();
                (format!("m{k}"), labbook::Value::from(v))
            })
            .collect();
        run.log(row).expect("log");
    }
    let id = run.id().to_owned();
    let run_dir = run.dir().expect("dir").to_owned();
    run.finish().expect("finish");
    (id, run_dir)
}
