//! GPUs: the [`GpuSource`] seam and its NVIDIA implementation through NVML
//! (`libnvidia-ml.so`, loaded at run time: a machine without the driver simply has no GPU
//! metrics).

#[cfg(feature = "system")]
use crate::wire::proto;

/// What a GPU is, read once when the run starts (→ `wandb-metadata.json`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GpuInfo {
    /// Product name, e.g. `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// Total memory in bytes.
    pub memory_total: u64,
    /// CUDA cores, when known.
    pub cuda_cores: u32,
    /// Architecture, e.g. `Hopper`.
    pub architecture: String,
    /// The GPU's UUID.
    pub uuid: String,
}

/// One reading of one GPU. Fields left `None` are not recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GpuSample {
    /// GPU utilization, % (`gpu.{i}.gpu`).
    pub utilization: Option<f64>,
    /// Memory-controller utilization, % (`gpu.{i}.memory`).
    pub memory_utilization: Option<f64>,
    /// Memory allocated on the GPU, bytes.
    pub memory_used: Option<u64>,
    /// Total memory, bytes (with `memory_used`, gives `gpu.{i}.memoryAllocated` in %).
    pub memory_total: Option<u64>,
    /// Temperature, °C.
    pub temp: Option<f64>,
    /// Power draw, W.
    pub power_watts: Option<f64>,
    /// Enforced power limit, W.
    pub power_limit_watts: Option<f64>,
    /// SM clock, MHz.
    pub sm_clock: Option<u32>,
    /// Memory clock, MHz.
    pub memory_clock: Option<u32>,
    /// GPU memory used by this process, bytes (`gpu.process.{i}.memoryAllocatedBytes`).
    pub process_memory: Option<u64>,
}

/// Where GPU figures come from. [`NvmlSource`] reads NVIDIA GPUs; tests and other
/// vendors plug in their own with
/// [`Settings::gpu_source`](crate::Settings::gpu_source).
///
/// ```
/// use labbook_core::system::{GpuInfo, GpuSample, GpuSource};
/// #[derive(Clone)]
/// struct OneFakeGpu;
/// impl GpuSource for OneFakeGpu {
///     fn devices(&mut self) -> Vec<GpuInfo> {
///         vec![GpuInfo { name: "Fake 1000".into(), memory_total: 8 << 30, ..Default::default() }]
///     }
///     fn sample(&mut self, _pid: u32) -> Vec<GpuSample> {
///         vec![GpuSample { utilization: Some(50.0), ..Default::default() }]
///     }
/// }
/// let settings = labbook_core::Settings::new("p").gpu_source(OneFakeGpu);
/// # let _ = settings;
/// ```
pub trait GpuSource: Send {
    /// The GPUs, in index order. Empty when there are none.
    fn devices(&mut self) -> Vec<GpuInfo>;

    /// The CUDA driver version, e.g. `12.4`, when known.
    fn cuda_version(&mut self) -> Option<String> {
        None
    }

    /// One reading per GPU, in the order of [`GpuSource::devices`]. `pid` is this
    /// process, for the per-process figures.
    fn sample(&mut self, pid: u32) -> Vec<GpuSample>;
}

#[cfg(feature = "system")]
/// NVIDIA GPUs through NVML. [`NvmlSource::open`] fails (and a run records no GPU
/// metrics) when `libnvidia-ml` or the driver is missing.
pub struct NvmlSource {
    nvml: nvml_wrapper::Nvml,
    count: u32,
}

#[cfg(feature = "system")]
impl std::fmt::Debug for NvmlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NvmlSource")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "system")]
impl NvmlSource {
    /// Loads NVML and counts the GPUs; the error says why there are none.
    pub fn open() -> Result<NvmlSource, String> {
        let nvml = nvml_wrapper::Nvml::init().map_err(|e| e.to_string())?;
        let count = nvml.device_count().map_err(|e| e.to_string())?;
        Ok(NvmlSource { nvml, count })
    }
}

#[cfg(feature = "system")]
impl GpuSource for NvmlSource {
    fn devices(&mut self) -> Vec<GpuInfo> {
        (0..self.count)
            .filter_map(|i| self.nvml.device_by_index(i).ok())
            .map(|d| GpuInfo {
                name: d.name().unwrap_or_default(),
                memory_total: d.memory_info().map(|m| m.total).unwrap_or_default(),
                cuda_cores: d.num_cores().unwrap_or_default(),
                architecture: d
                    .architecture()
                    .map(|a| format!("{a:?}"))
                    .unwrap_or_default(),
                uuid: d.uuid().unwrap_or_default(),
            })
            .collect()
    }

    fn cuda_version(&mut self) -> Option<String> {
        let v = self.nvml.sys_cuda_driver_version().ok()?;
        Some(format!(
            "{}.{}",
            nvml_wrapper::cuda_driver_version_major(v),
            nvml_wrapper::cuda_driver_version_minor(v)
        ))
    }

    fn sample(&mut self, pid: u32) -> Vec<GpuSample> {
        use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
        use nvml_wrapper::enums::device::UsedGpuMemory;
        let mut out = Vec::with_capacity(self.count as usize);
        for i in 0..self.count {
            let Ok(d) = self.nvml.device_by_index(i) else {
                out.push(GpuSample::default());
                continue;
            };
            let util = d.utilization_rates().ok();
            let mem = d.memory_info().ok();
            let process_memory = d.running_compute_processes().ok().and_then(|ps| {
                ps.iter()
                    .filter(|p| p.pid == pid)
                    .map(|p| match p.used_gpu_memory {
                        UsedGpuMemory::Used(b) => b,
                        UsedGpuMemory::Unavailable => 0,
                    })
                    .reduce(|a, b| a + b)
            });
            out.push(GpuSample {
                utilization: util.as_ref().map(|u| f64::from(u.gpu)),
                memory_utilization: util.as_ref().map(|u| f64::from(u.memory)),
                memory_used: mem.as_ref().map(|m| m.used),
                memory_total: mem.as_ref().map(|m| m.total),
                temp: d.temperature(TemperatureSensor::Gpu).ok().map(f64::from),
                power_watts: d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
                power_limit_watts: d
                    .enforced_power_limit()
                    .ok()
                    .map(|mw| f64::from(mw) / 1000.0),
                sm_clock: d.clock_info(Clock::SM).ok(),
                memory_clock: d.clock_info(Clock::Memory).ok(),
                process_memory,
            });
        }
        out
    }
}

#[cfg(feature = "system")]
/// Opens NVML, or says (once, at info level) why this run has no GPU metrics.
pub(crate) fn open_default() -> Option<Box<dyn GpuSource>> {
    match NvmlSource::open() {
        Ok(s) if s.count > 0 => Some(Box::new(s)),
        Ok(_) => {
            tracing::info!(target: "labbook::system", "NVML found no GPU; no GPU metrics for this run");
            None
        }
        Err(e) => {
            tracing::info!(target: "labbook::system", "no NVIDIA driver (NVML: {e}); no GPU metrics for this run");
            None
        }
    }
}

#[cfg(feature = "system")]
/// Static GPU facts for the environment record.
pub(crate) struct Hardware {
    pub gpus: Vec<GpuInfo>,
    pub cuda_version: Option<String>,
}

#[cfg(feature = "system")]
impl Hardware {
    pub(crate) fn apply(self, env: &mut proto::EnvironmentRecord) {
        if let Some(first) = self.gpus.first() {
            env.gpu_type = first.name.clone();
        }
        env.gpu_count = self.gpus.len() as u32;
        env.gpu_nvidia = self
            .gpus
            .into_iter()
            .map(|g| proto::GpuNvidiaInfo {
                name: g.name,
                memory_total: g.memory_total,
                cuda_cores: g.cuda_cores,
                architecture: g.architecture,
                uuid: g.uuid,
            })
            .collect();
        env.cuda_version = self.cuda_version.unwrap_or_default();
    }
}

#[cfg(feature = "system")]
/// The W&B items of one sample of every GPU.
pub(crate) fn items(samples: &[GpuSample], out: &mut Vec<(String, f64)>) {
    for (i, s) in samples.iter().enumerate() {
        let mut put = |name: &str, v: Option<f64>| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                out.push((format!("gpu.{i}.{name}"), v));
            }
        };
        put("gpu", s.utilization);
        put("memory", s.memory_utilization);
        let allocated = match (s.memory_used, s.memory_total) {
            (Some(u), Some(t)) if t > 0 => Some(u as f64 / t as f64 * 100.0),
            _ => None,
        };
        put("memoryAllocated", allocated);
        put("memoryAllocatedBytes", s.memory_used.map(|b| b as f64));
        put("temp", s.temp);
        put("powerWatts", s.power_watts);
        put("enforcedPowerLimitWatts", s.power_limit_watts);
        let percent = match (s.power_watts, s.power_limit_watts) {
            (Some(p), Some(l)) if l > 0.0 => Some(p / l * 100.0),
            _ => None,
        };
        put("powerPercent", percent);
        put("smClock", s.sm_clock.map(f64::from));
        put("memoryClock", s.memory_clock.map(f64::from));
        if let Some(b) = s.process_memory {
            out.push((format!("gpu.process.{i}.memoryAllocatedBytes"), b as f64));
        }
    }
}

#[cfg(all(test, feature = "system"))]
mod tests {
    use super::*;

    #[test]
    fn items_use_w_and_b_names_and_units() {
        let s = GpuSample {
            utilization: Some(40.0),
            memory_utilization: Some(10.0),
            memory_used: Some(2 << 30),
            memory_total: Some(8 << 30),
            temp: Some(60.0),
            power_watts: Some(150.0),
            power_limit_watts: Some(300.0),
            sm_clock: Some(1500),
            memory_clock: Some(2600),
            process_memory: Some(1 << 30),
        };
        let mut out = Vec::new();
        items(&[GpuSample::default(), s], &mut out);
        let get = |k: &str| out.iter().find(|(key, _)| key == k).map(|(_, v)| *v);
        assert_eq!(get("gpu.1.memoryAllocated"), Some(25.0));
        assert_eq!(get("gpu.1.powerPercent"), Some(50.0));
        assert_eq!(get("gpu.1.memoryAllocatedBytes"), Some((2u64 << 30) as f64));
        assert_eq!(get("gpu.1.smClock"), Some(1500.0));
        assert_eq!(
            get("gpu.process.1.memoryAllocatedBytes"),
            Some((1u64 << 30) as f64)
        );
        assert!(
            !out.iter().any(|(k, _)| k.starts_with("gpu.0.")),
            "an empty sample records nothing"
        );
    }

    #[test]
    fn no_driver_gives_no_source_one_info_line_and_no_panic() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tracing_subscriber::layer::SubscriberExt as _;
        static INFO: AtomicUsize = AtomicUsize::new(0);
        static OTHER: AtomicUsize = AtomicUsize::new(0);
        struct Count;
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Count {
            fn on_event(
                &self,
                e: &tracing::Event<'_>,
                _: tracing_subscriber::layer::Context<'_, S>,
            ) {
                if *e.metadata().level() == tracing::Level::INFO {
                    INFO.fetch_add(1, Ordering::SeqCst);
                } else {
                    OTHER.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        let subscriber = tracing_subscriber::registry().with(Count);
        let source = tracing::subscriber::with_default(subscriber, open_default);
        if nvml_wrapper::Nvml::init().is_err() {
            // This machine (no NVIDIA driver): no source, one info line, nothing louder.
            assert!(source.is_none());
            assert_eq!(INFO.load(Ordering::SeqCst), 1);
            assert_eq!(OTHER.load(Ordering::SeqCst), 0);
        }
    }

    #[test]
    fn hardware_fills_the_environment_record() {
        let mut env = proto::EnvironmentRecord::default();
        Hardware {
            gpus: vec![GpuInfo {
                name: "Fake".into(),
                memory_total: 42,
                ..Default::default()
            }],
            cuda_version: Some("12.4".into()),
        }
        .apply(&mut env);
        assert_eq!((env.gpu_type.as_str(), env.gpu_count), ("Fake", 1));
        assert_eq!(env.gpu_nvidia[0].memory_total, 42);
        assert_eq!(env.cuda_version, "12.4");
    }
}
