//! The `labbook-sampler` thread: one `StatsRecord` per interval, sent to the worker.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::gpu::{self, GpuSource, Hardware};
use super::metrics::Collector;
use super::{Sink, SysMsg, now_unix};
use crate::wire::proto;

pub(crate) struct Sampler {
    stop: Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    /// Starts the thread. `gpu` replaces NVML (tests, other vendors).
    pub(crate) fn start(
        sink: Sink,
        interval: Duration,
        gpu: Option<Box<dyn GpuSource>>,
    ) -> Option<Sampler> {
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let spawned = std::thread::Builder::new()
            .name("labbook-sampler".into())
            .spawn(move || run(sink, interval, gpu, stopped));
        match spawned {
            Ok(thread) => Some(Sampler { stop, thread }),
            Err(e) => {
                tracing::warn!(target: "labbook", "cannot start the system-metrics thread: {e}");
                None
            }
        }
    }

    /// Stops the thread and waits for it (a sample in progress finishes first).
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

fn run(sink: Sink, interval: Duration, gpu: Option<Box<dyn GpuSource>>, stopped: Receiver<()>) {
    let mut gpu = gpu.or_else(gpu::open_default);
    if let Some(g) = &mut gpu {
        let gpus = g.devices();
        if !gpus.is_empty() {
            let cuda_version = g.cuda_version();
            let mut facts = proto::EnvironmentRecord::default();
            Hardware { gpus, cuda_version }.apply(&mut facts);
            sink.send(SysMsg::Hardware(Box::new(facts)), 1024);
        }
    }
    let mut collector = Collector::new();
    let pid = std::process::id();
    let mut sampled = false;
    loop {
        let stop = !matches!(
            stopped.recv_timeout(interval),
            Err(RecvTimeoutError::Timeout)
        );
        // A run shorter than the interval still records the machine once, at its end.
        if stop && sampled {
            return;
        }
        let mut items = collector.sample();
        if let Some(g) = &mut gpu {
            gpu::items(&g.sample(pid), &mut items);
        }
        let record = stats_record(&items, now_unix());
        let bytes = 64 + items.len() * 48;
        sampled = true;
        if !sink.send(SysMsg::Stats(record), bytes) || stop {
            return;
        }
    }
}

/// One `StatsRecord` (type SYSTEM) from metric items; non-finite numbers are left out.
pub(crate) fn stats_record(items: &[(String, f64)], unix: f64) -> proto::StatsRecord {
    proto::StatsRecord {
        stats_type: 0,
        timestamp: Some(proto::timestamp(unix)),
        item: items
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| proto::StatsItem {
                key: k.clone(),
                value_json: number_json(*v),
            })
            .collect(),
    }
}

/// A number as JSON: whole numbers without a fraction, others in the shortest form.
fn number_json(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        let mut b = ryu::Buffer::new();
        b.format_finite(v).to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_system_stats_with_json_numbers() {
        let r = stats_record(
            &[
                ("cpu".into(), 12.5),
                ("proc.cpu.threads".into(), 7.0),
                ("bad".into(), f64::NAN),
            ],
            1_700_000_000.25,
        );
        assert_eq!(r.stats_type, 0);
        let got: Vec<(&str, &str)> = r
            .item
            .iter()
            .map(|i| (i.key.as_str(), i.value_json.as_str()))
            .collect();
        assert_eq!(got, [("cpu", "12.5"), ("proc.cpu.threads", "7")]);
        assert_eq!(r.timestamp.map(|t| t.seconds), Some(1_700_000_000));
    }
}
