//! CPU, memory, disk, network and process figures (through `sysinfo` and `/proc`), under
//! W&B's key names and units (wandb-protocol.md §7).

use std::collections::{HashMap, HashSet};

use sysinfo::{
    CpuRefreshKind, Disks, MemoryRefreshKind, Networks, Pid, ProcessRefreshKind, ProcessesToUpdate,
    System,
};

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// One metric: a W&B key (without the `system.` prefix) and its number.
pub(crate) type Item = (String, f64);

/// Reads the machine; remembers the counters at the start so disk and network figures
/// are "since the run started".
pub(crate) struct Collector {
    sys: Option<System>,
    disks: Option<Disks>,
    networks: Option<Networks>,
    pid: Pid,
    cores: f64,
    net_start: Option<(u64, u64)>,
    diskstats_start: HashMap<String, (u64, u64)>,
    first: bool,
}

impl Collector {
    pub(crate) fn new() -> Collector {
        let sys = System::new().ok();
        let cores = System::physical_core_count()
            .ok()
            .filter(|&n| n > 0)
            .or_else(|| sys.as_ref().map(|s| s.cpus().len()).filter(|&n| n > 0))
            .unwrap_or(1) as f64;
        let networks = Networks::new_with_refreshed_list().ok();
        let net_start = networks.as_ref().map(net_totals);
        let mut c = Collector {
            sys,
            disks: Disks::new_with_refreshed_list().ok(),
            networks,
            pid: Pid::from_u32(std::process::id()),
            cores,
            net_start,
            diskstats_start: read_diskstats(),
            first: true,
        };
        // Prime the CPU counters: usage is a difference between two refreshes.
        if let Some(s) = &mut c.sys {
            s.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
        }
        c.refresh_processes();
        c
    }

    fn refresh_processes(&mut self) {
        if let Some(s) = &mut self.sys {
            s.refresh_processes_specifics(
                ProcessesToUpdate::All,
                true,
                ProcessRefreshKind::nothing()
                    .with_cpu()
                    .with_memory()
                    .with_tasks(),
            );
        }
    }

    /// One sample. The process-tree `cpu` is missing from the first one (it needs two
    /// readings), as in the official client.
    pub(crate) fn sample(&mut self) -> Vec<Item> {
        let mut out: Vec<Item> = Vec::with_capacity(32);
        self.refresh_processes();
        let first = std::mem::replace(&mut self.first, false);
        if let Some(sys) = &mut self.sys {
            sys.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
            sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
            let tree = process_tree(sys, self.pid);
            let (mut cpu, mut rss, mut threads) = (0.0f64, 0u64, 0u64);
            for pid in &tree {
                if let Some(p) = sys.process(*pid) {
                    cpu += f64::from(p.cpu_usage());
                    rss += p.memory();
                    threads += p.tasks().map_or(1, |t| t.len().max(1) as u64);
                }
            }
            if !first {
                out.push(("cpu".into(), cpu / self.cores));
            }
            for (i, c) in sys.cpus().iter().enumerate() {
                out.push((format!("cpu.{i}.cpu_percent"), f64::from(c.usage())));
            }
            let (total, available) = match sys.cgroup_limits() {
                Some(l) if l.total_memory > 0 && l.total_memory < sys.total_memory() => {
                    (l.total_memory, l.free_memory)
                }
                _ => (sys.total_memory(), sys.available_memory()),
            };
            if total > 0 {
                let used = total.saturating_sub(available);
                out.push(("memory_percent".into(), used as f64 / total as f64 * 100.0));
                out.push((
                    "proc.memory.percent".into(),
                    rss as f64 / total as f64 * 100.0,
                ));
            }
            out.push(("proc.memory.availableMB".into(), available as f64 / MIB));
            out.push(("proc.memory.rssMB".into(), rss as f64 / MIB));
            out.push(("proc.cpu.threads".into(), threads as f64));
        }
        if let Some(disks) = &mut self.disks {
            disks.refresh(true);
            if let Some(root) = disks
                .iter()
                .find(|d| d.mount_point() == std::path::Path::new("/"))
            {
                let total = root.total_space();
                let used = total.saturating_sub(root.available_space());
                if total > 0 {
                    out.push((
                        "disk./.usagePercent".into(),
                        used as f64 / total as f64 * 100.0,
                    ));
                }
                out.push(("disk./.usageGB".into(), used as f64 / GIB));
            }
        }
        for (dev, (read, written)) in read_diskstats() {
            let (r0, w0) = self.diskstats_start.get(&dev).copied().unwrap_or((0, 0));
            out.push((
                format!("disk.{dev}.in"),
                read.saturating_sub(r0) as f64 / MIB,
            ));
            out.push((
                format!("disk.{dev}.out"),
                written.saturating_sub(w0) as f64 / MIB,
            ));
        }
        if let Some(nets) = &mut self.networks {
            nets.refresh(true);
            let (sent, recv) = net_totals(nets);
            let (s0, r0) = self.net_start.unwrap_or((0, 0));
            out.push(("network.sent".into(), sent.saturating_sub(s0) as f64));
            out.push(("network.recv".into(), recv.saturating_sub(r0) as f64));
        }
        out
    }
}

/// `pid` and every process below it (threads are not processes here).
fn process_tree(sys: &System, pid: Pid) -> Vec<Pid> {
    let mut children: HashMap<Pid, Vec<Pid>> = HashMap::new();
    for (p, proc_) in sys.processes() {
        if proc_.thread_kind().is_some() {
            continue;
        }
        if let Some(parent) = proc_.parent() {
            children.entry(parent).or_default().push(*p);
        }
    }
    let mut seen = HashSet::new();
    let mut stack = vec![pid];
    let mut out = Vec::new();
    while let Some(p) = stack.pop() {
        if !seen.insert(p) {
            continue;
        }
        out.push(p);
        if let Some(c) = children.get(&p) {
            stack.extend(c.iter().copied());
        }
    }
    out
}

fn net_totals(n: &Networks) -> (u64, u64) {
    n.iter()
        .filter(|(name, _)| name.as_os_str() != "lo")
        .fold((0, 0), |(s, r), (_, d)| {
            (s + d.total_transmitted(), r + d.total_received())
        })
}

/// Bytes read and written per whole block device, from `/proc/diskstats` (partitions,
/// loop and ram devices left out).
fn read_diskstats() -> HashMap<String, (u64, u64)> {
    let text = std::fs::read_to_string("/proc/diskstats").unwrap_or_default();
    parse_diskstats(&text)
}

fn parse_diskstats(text: &str) -> HashMap<String, (u64, u64)> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 {
            continue;
        }
        let name = f[2];
        if name.starts_with("loop") || name.starts_with("ram") || is_partition(name) {
            continue;
        }
        let (Ok(read), Ok(written)) = (f[5].parse::<u64>(), f[9].parse::<u64>()) else {
            continue;
        };
        // Sectors are 512 bytes in /proc/diskstats whatever the device's sector size.
        out.insert(name.to_owned(), (read * 512, written * 512));
    }
    out
}

/// Whether a block device is a partition (`/sys/class/block/<name>/partition` exists).
fn is_partition(name: &str) -> bool {
    std::path::Path::new("/sys/class/block")
        .join(name)
        .join("partition")
        .exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diskstats_keep_whole_devices_in_bytes() {
        let text = "   7       0 loop0 10 0 100 0 0 0 0 0 0 0 0\n \
                    253       0 zzvda 100 0 2048 0 50 0 4096 0 0 0 0\n";
        let d = parse_diskstats(text);
        assert_eq!(d.get("zzvda"), Some(&(2048 * 512, 4096 * 512)));
        assert!(!d.contains_key("loop0"));
    }

    #[test]
    fn samples_have_w_and_b_keys_and_sane_values() {
        let mut c = Collector::new();
        let first = c.sample();
        assert!(
            !first.iter().any(|(k, _)| k == "cpu"),
            "no cpu in the first sample"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
        let s: HashMap<String, f64> = c.sample().into_iter().collect();
        for key in [
            "cpu",
            "cpu.0.cpu_percent",
            "memory_percent",
            "proc.memory.availableMB",
            "proc.memory.rssMB",
            "proc.memory.percent",
            "proc.cpu.threads",
            "network.sent",
            "network.recv",
        ] {
            assert!(s.contains_key(key), "{key} missing from {s:?}");
        }
        assert!(s["proc.memory.rssMB"] > 1.0 && s["proc.memory.rssMB"] < 1e6);
        assert!((0.0..=100.0).contains(&s["memory_percent"]));
        assert!(s["proc.cpu.threads"] >= 1.0);
        assert!(s["cpu"] >= 0.0);
        if let Some(p) = s.get("disk./.usagePercent") {
            assert!((0.0..=100.0).contains(p));
        }
    }
}
