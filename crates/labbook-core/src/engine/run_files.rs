//! The files a run directory holds for people, written at `finish`: `config.yaml`,
//! `wandb-summary.json` and `wandb-metadata.json` (`wandb sync` writes its own from the
//! log), and the run's final name when it carries a score.

use crate::value::Value;
use crate::wire::proto;

/// The text in a run name that `finish` replaces with the run's score (see
/// `Settings::score_metrics`).
pub(crate) const SCORE_PLACEHOLDER: &str = "SCORE_PLACEHOLDER";

/// The run's name at `finish`: the chosen summary metrics replace [`SCORE_PLACEHOLDER`]
/// or, when the name has none, follow it after a `_`: `resnet_SCORE_PLACEHOLDER` and
/// `resnet` both become `resnet_hmean0.812`. Without score metrics the name stays as it is
/// but for a placeholder, which is dropped; an empty name (the server names the run) stays
/// empty.
pub(crate) fn final_name(
    name: &str,
    score_metrics: &[String],
    precision: usize,
    percent: &std::collections::HashSet<String>,
    summary: &[(String, Value)],
) -> String {
    let score: Vec<String> = score_metrics
        .iter()
        .filter_map(|key| {
            let v = summary.iter().find(|(k, _)| k == key)?.1.clone();
            let x = score_of(&v)? / if percent.contains(key) { 100.0 } else { 1.0 };
            let short = key.rsplit('/').next().unwrap_or(key);
            // `hmean0.812`, but `f1-0.902` rather than the unreadable `f10.902`.
            let sep = if short.ends_with(|c: char| c.is_ascii_digit()) {
                "-"
            } else {
                ""
            };
            Some(format!("{short}{sep}{x:.precision$}"))
        })
        .collect();
    let score = score.join("_");
    if name.contains(SCORE_PLACEHOLDER) {
        if score.is_empty() {
            // No finite score: drop the placeholder and the separator before it.
            let cut = name.replace(SCORE_PLACEHOLDER, "");
            return cut.trim_end_matches(['_', '-', ' ']).to_owned();
        }
        return name.replace(SCORE_PLACEHOLDER, &score);
    }
    if score.is_empty() || name.is_empty() {
        return name.to_owned();
    }
    format!("{name}_{score}")
}

/// The number a summary value stands for: itself, or best/last/max/min/mean/first of an
/// aggregate; only finite numbers count.
fn score_of(v: &Value) -> Option<f64> {
    match v {
        Value::Map(items) => ["best", "last", "max", "min", "mean", "first"]
            .iter()
            .find_map(|want| {
                items
                    .iter()
                    .find(|(k, _)| k == want)
                    .and_then(|(_, v)| v.as_f64())
            }),
        other => other.as_f64(),
    }
    .filter(|x| x.is_finite())
}

/// What the human-readable files are made of.
pub(crate) struct HumanFiles<'a> {
    pub config: &'a [(String, Value)],
    pub sweep_names: &'a [(String, Value)],
    /// `labbook_info`: the `_wandb.labbook` entry of the config.
    pub labbook: Value,
    pub summary: &'a [(String, Value)],
    pub runtime_secs: u64,
    pub environment: Option<&'a proto::EnvironmentRecord>,
}

impl HumanFiles<'_> {
    /// The files, by name, with their bytes.
    pub(crate) fn render(&self) -> [(&'static str, Vec<u8>); 3] {
        let mut config = serde_json::Map::new();
        for (k, v) in self.config.iter().chain(self.sweep_names) {
            config.insert(k.clone(), serde_json::json!({ "value": v.to_serde_json() }));
        }
        config.insert(
            "_wandb".into(),
            serde_json::json!({"value": {"labbook": self.labbook.to_serde_json()}}),
        );
        let yaml = serde_yaml_ng::to_string(&serde_json::Value::Object(config)).unwrap_or_default();
        let mut summary_json = String::new();
        let mut all = self.summary.to_vec();
        all.push((
            "_wandb".into(),
            Value::map([("runtime", Value::from(self.runtime_secs))]),
        ));
        Value::Map(all).write_json(&mut summary_json);
        let metadata = self.environment.map(metadata_json).unwrap_or_default();
        [
            ("config.yaml", yaml.into_bytes()),
            ("wandb-summary.json", summary_json.into_bytes()),
            ("wandb-metadata.json", metadata.into_bytes()),
        ]
    }
}

/// `wandb-metadata.json` for people reading the run directory; `wandb sync` writes its
/// own from the environment record.
pub(crate) fn metadata_json(e: &proto::EnvironmentRecord) -> String {
    let mut m = serde_json::json!({
        "os": e.os,
        "host": e.host,
        "program": e.program,
        "args": e.args,
        "executable": e.executable,
        "root": e.root,
        "username": e.username,
        "cpu_count": e.cpu_count,
        "cpu_count_logical": e.cpu_count_logical,
        "writerId": e.writer_id,
    });
    if let Some(mem) = &e.memory {
        m["memory"] = serde_json::json!({ "total": mem.total.to_string() });
    }
    if let Some(cpu) = &e.cpu {
        m["cpu"] = serde_json::json!({ "count": cpu.count, "countLogical": cpu.count_logical, "model": cpu.model });
    }
    if let Some(g) = &e.git {
        m["git"] = serde_json::json!({ "remote": g.remote_url, "commit": g.commit });
    }
    if !e.slurm.is_empty() {
        m["slurm"] = serde_json::json!(e.slurm);
    }
    super::environment::metadata_json(e, &mut m);
    serde_json::to_string_pretty(&m).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_come_from_finite_summaries() {
        assert_eq!(score_of(&Value::from(0.8123)), Some(0.8123));
        assert_eq!(
            score_of(&Value::map([("min", 0.2.into()), ("best", 0.9.into())])),
            Some(0.9)
        );
        assert_eq!(score_of(&Value::from(f64::NAN)), None);
        assert_eq!(score_of(&Value::from("x")), None);
    }
}
