//! What a run records about where it ran: host, OS, program, CPU, memory, git, the Rust
//! toolchain, and the program's `Cargo.lock` as its requirements file. Collected on the
//! worker thread so `init` stays fast.

use std::path::{Path, PathBuf};

use crate::engine::git::{self, GitInfo};
use crate::value::Value;
use crate::wire::proto::{self, EnvironmentRecord, GitRepoRecord};

/// The machine's hostname, from the kernel.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

pub(crate) fn git_info(disabled: bool) -> Option<GitInfo> {
    if disabled {
        return None;
    }
    git::discover(&std::env::current_dir().ok()?)
}

pub(crate) fn git_record(info: &GitInfo) -> GitRepoRecord {
    GitRepoRecord {
        remote_url: info.remote.clone(),
        commit: info.commit.clone(),
    }
}

/// Who records an environment record: the user's name, and the home directory its paths
/// hide.
pub(crate) struct Recorder<'a> {
    pub username: &'a str,
    pub home: &'a crate::engine::private_paths::Home,
}

/// The environment record (→ `wandb-metadata.json`).
pub(crate) fn environment_record(
    started_unix: f64,
    host: &str,
    git: Option<&GitInfo>,
    writer_id: &str,
    who: &Recorder<'_>,
    scrubber: &crate::value::secrets::Scrubber,
) -> EnvironmentRecord {
    let home = who.home;
    let mut args = std::env::args();
    let program = args.next().unwrap_or_default();
    let args: Vec<String> = args.collect();
    let (physical, logical, model) = cpu_info();
    let memory = mem_total_bytes().map(|total| proto::MemoryInfo { total });
    EnvironmentRecord {
        os: os_string(),
        started_at: Some(proto::timestamp(started_unix)),
        args: scrubber.args(&args).iter().map(|a| home.tilde(a)).collect(),
        program: home.tilde(&program),
        code_path: String::new(),
        code_path_local: String::new(),
        git: git.map(git_record),
        root: std::env::current_dir()
            .map(|d| home.tilde(&d.display().to_string()))
            .unwrap_or_default(),
        host: host.to_owned(),
        username: who.username.to_owned(),
        executable: std::env::current_exe()
            .map(|p| home.tilde(&p.display().to_string()))
            .unwrap_or_default(),
        cpu_count: physical,
        cpu_count_logical: logical,
        disk: root_disk().into_iter().collect(),
        memory,
        cpu: Some(proto::CpuInfo {
            count: physical,
            count_logical: logical,
            model,
        }),
        slurm: std::env::vars()
            .filter_map(|(k, v)| {
                k.strip_prefix("SLURM_")
                    .map(|s| (s.to_ascii_lowercase(), v))
            })
            .collect(),
        writer_id: writer_id.to_owned(),
        ..Default::default()
    }
}

/// Total and used bytes of the filesystem at `/`, keyed `/` as in W&B's metadata.
fn root_disk() -> Option<(String, proto::DiskInfo)> {
    let path = c"/";
    // SAFETY: statvfs fills the zeroed struct it is given.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut st) != 0 {
            return None;
        }
        st
    };
    let frsize = st.f_frsize as u64;
    let total = st.f_blocks as u64 * frsize;
    let used = total.saturating_sub(st.f_bfree as u64 * frsize);
    Some(("/".into(), proto::DiskInfo { total, used }))
}

/// `Linux-<kernel release>-<arch>`, in the shape of Python's `platform.platform()`.
fn os_string() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{}-{}-{}",
        capitalized(std::env::consts::OS),
        release.trim(),
        std::env::consts::ARCH
    )
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// (physical cores, logical CPUs, model name) from `/proc/cpuinfo`.
fn cpu_info() -> (u32, u32, String) {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let mut logical = 0u32;
    let mut model = String::new();
    let mut cores = std::collections::HashSet::new();
    let mut physical_id = String::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" => logical += 1,
            "model name" if model.is_empty() => model = v.to_owned(),
            "physical id" => physical_id = v.to_owned(),
            "core id" => {
                cores.insert((physical_id.clone(), v.to_owned()));
            }
            _ => {}
        }
    }
    if logical == 0 {
        logical = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    }
    let physical = if cores.is_empty() {
        logical
    } else {
        cores.len() as u32
    };
    (physical, logical, model)
}

fn mem_total_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// What labbook adds under the config's `_wandb.labbook`: the toolchain and build of the
/// program, which W&B's environment record has no fields for.
pub(crate) fn labbook_info(features: &[String]) -> Value {
    Value::map([
        ("version", Value::from(env!("CARGO_PKG_VERSION"))),
        ("rustc", Value::from(env!("LABBOOK_RUSTC_VERSION"))),
        ("target", Value::from(env!("LABBOOK_TARGET"))),
        (
            "profile",
            Value::from(if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }),
        ),
        ("features", Value::from(features.to_vec())),
    ])
}

/// Finds the program's `Cargo.lock`: next to the crate being run (`CARGO_MANIFEST_DIR`
/// under `cargo run`/`cargo test`) or above the executable or the working directory.
pub(crate) fn find_cargo_lock() -> Option<PathBuf> {
    let mut starts: Vec<PathBuf> = Vec::new();
    if let Ok(d) = std::env::var("CARGO_MANIFEST_DIR") {
        starts.push(d.into());
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(parent) = exe.parent()
    {
        starts.push(parent.to_owned());
    }
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    starts.iter().find_map(|s| {
        s.ancestors()
            .map(|a| a.join("Cargo.lock"))
            .find(|p| p.is_file())
    })
}

/// `name==version` lines from a `Cargo.lock`, the shape of a pip requirements file.
pub(crate) fn requirements_from_lock(path: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Lock {
        #[serde(default)]
        package: Vec<Package>,
    }
    #[derive(serde::Deserialize)]
    struct Package {
        name: String,
        version: String,
    }
    let text = std::fs::read_to_string(path).ok()?;
    let lock: Lock = toml::from_str(&text).ok()?;
    let mut lines: Vec<String> = lock
        .package
        .iter()
        .map(|p| format!("{}=={}", p.name, p.version))
        .collect();
    lines.sort();
    lines.dedup();
    Some(lines.join("\n") + "\n")
}

/// Adds the disk and GPU facts of the environment record to `wandb-metadata.json`, in
/// protojson's shape (u64 as strings).
pub(crate) fn metadata_json(e: &proto::EnvironmentRecord, m: &mut serde_json::Value) {
    if !e.disk.is_empty() {
        let disk: serde_json::Map<String, serde_json::Value> = e
            .disk
            .iter()
            .map(|(k, d)| {
                (
                    k.clone(),
                    serde_json::json!({"total": d.total.to_string(), "used": d.used.to_string()}),
                )
            })
            .collect();
        m["disk"] = serde_json::Value::Object(disk);
    }
    if e.gpu_count > 0 {
        m["gpu"] = serde_json::json!(e.gpu_type);
        m["gpu_count"] = serde_json::json!(e.gpu_count);
        m["gpu_nvidia"] = e
            .gpu_nvidia
            .iter()
            .map(|g| {
                serde_json::json!({
                    "name": g.name,
                    "memoryTotal": g.memory_total.to_string(),
                    "cudaCores": g.cuda_cores,
                    "architecture": g.architecture,
                    "uuid": g.uuid,
                })
            })
            .collect();
    }
    if !e.cuda_version.is_empty() {
        m["cuda_version"] = serde_json::json!(e.cuda_version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_lock_becomes_requirements_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("Cargo.lock");
        std::fs::write(
            &p,
            "version = 4\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\nsource = \"x\"\n\n[[package]]\nname = \"anyhow\"\nversion = \"1.0.1\"\n",
        )
        .unwrap();
        assert_eq!(
            requirements_from_lock(&p).unwrap(),
            "anyhow==1.0.1\nserde==1.0.200\n"
        );
    }

    #[test]
    fn this_crate_finds_its_workspace_lock() {
        assert!(find_cargo_lock().is_some());
    }

    #[test]
    fn the_environment_record_describes_this_machine() {
        let r = environment_record(
            1.7e9,
            "h",
            None,
            "w",
            &Recorder {
                username: "me",
                home: &crate::engine::private_paths::Home::new(
                    std::env::current_dir()
                        .ok()
                        .and_then(|d| d.parent().map(|p| p.display().to_string()))
                        .as_deref(),
                ),
            },
            &crate::value::secrets::Scrubber::default(),
        );
        assert!(r.os.starts_with("Linux-"), "{}", r.os);
        assert_eq!(r.username, "me");
        assert!(
            r.root.starts_with("~/"),
            "the home directory is hidden: {}",
            r.root
        );
        assert!(r.cpu_count_logical >= 1 && r.cpu_count >= 1);
        assert!(r.memory.unwrap().total > 0);
    }
}
