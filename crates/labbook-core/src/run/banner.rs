//! The start and finish lines on stderr: the one place the library prints. Silenced by
//! `WANDB_SILENT` or `Settings::quiet`.

use std::path::Path;

use crate::report::RunReport;

/// `online`: the server an online run streams to.
pub(crate) fn started(run_id: &str, name: &str, dir: &Path, online: Option<&str>) {
    let name = if name.is_empty() {
        String::new()
    } else {
        format!(" \"{name}\"")
    };
    match online {
        Some(server) => eprintln!(
            "labbook: online run {run_id}{name} -> {}, streaming to {server}",
            dir.display()
        ),
        None => eprintln!("labbook: offline run {run_id}{name} -> {}", dir.display()),
    }
}

/// `uploaded`: the run's page when an online run's upload finished.
pub(crate) fn finished(r: &RunReport, uploaded: Option<&str>) {
    let mut line = format!(
        "labbook: run {} finished: {} rows, {}",
        r.run_id,
        r.rows,
        human_bytes(r.bytes)
    );
    if r.steps_refused > 0 {
        line.push_str(&format!(", {} backward steps refused", r.steps_refused));
    }
    if r.dropped > 0 {
        line.push_str(&format!(", {} calls dropped", r.dropped));
    }
    if !r.blocked.is_zero() {
        line.push_str(&format!(
            ", logging blocked {:.1} ms",
            r.blocked.as_secs_f64() * 1e3
        ));
    }
    if r.exit_code != 0 {
        line.push_str(&format!(", exit code {}", r.exit_code));
    }
    eprintln!("{line}");
    for e in &r.errors {
        eprintln!("labbook: error: {e}");
    }
    match uploaded {
        Some(url) => eprintln!("labbook: uploaded: {url}"),
        None => eprintln!("labbook: upload it with: {}", r.sync_command()),
    }
}

fn human_bytes(b: u64) -> String {
    match b {
        0..1024 => format!("{b} B"),
        1024..1_048_576 => format!("{:.1} KiB", b as f64 / 1024.0),
        _ => format!("{:.1} MiB", b as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_well() {
        assert_eq!(super::human_bytes(512), "512 B");
        assert_eq!(super::human_bytes(2048), "2.0 KiB");
        assert_eq!(super::human_bytes(3 << 20), "3.0 MiB");
    }
}
