//! W&B sweep configs (YAML or JSON): method, metric, parameters with their distributions,
//! early termination, run cap, program and command. An invalid config is refused with the
//! path of the bad field.

use std::collections::BTreeMap;

use serde_json::Value as J;

use crate::error::{Error, Result};

/// How the next trial's parameters are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Every combination of the listed values, in order.
    Grid,
    /// Independent draws from each parameter's distribution (seeded).
    Random,
    /// A Gaussian-process surrogate with expected improvement over the finished trials.
    Bayes,
}

/// Whether the metric should go up or down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// Smaller is better.
    Minimize,
    /// Larger is better.
    Maximize,
}

/// One parameter's search space (field names as in the W&B config).
#[allow(missing_docs)]
#[derive(Clone, Debug, PartialEq)]
pub enum Space {
    /// A fixed value (`value:`).
    Constant(J),
    /// One of these values (`values:`, or `distribution: categorical`).
    Categorical(Vec<J>),
    /// Uniform in [min, max] (`uniform`, or `min`/`max` floats).
    Uniform { min: f64, max: f64 },
    /// Uniform integers in [min, max] (`int_uniform`, or `min`/`max` integers).
    IntUniform { min: i64, max: i64 },
    /// Log-uniform between min and max given as values (`log_uniform_values`).
    LogUniform { min: f64, max: f64 },
    /// Uniform, rounded to a multiple of q (`q_uniform`).
    QUniform { min: f64, max: f64, q: f64 },
    /// Normal with mean mu and std sigma (`normal`).
    Normal { mu: f64, sigma: f64 },
    /// Nested parameters (`parameters:` inside a parameter).
    Nested(BTreeMap<String, Space>),
}

/// Hyperband early termination (`early_terminate: {type: hyperband, ...}`).
#[derive(Clone, Debug, PartialEq)]
pub struct Hyperband {
    /// The first iteration at which trials are compared.
    pub min_iter: u64,
    /// Every rung is `eta` times further than the previous one.
    pub eta: u64,
    /// How many rungs (brackets) there are.
    pub rungs: u32,
}

impl Hyperband {
    /// The iterations at which trials are compared: min_iter, min_iter·eta, ... (a parsed
    /// config's rungs all fit in a `u64`; the list stops where one would not).
    pub fn rung_iters(&self) -> Vec<u64> {
        (0..self.rungs)
            .map_while(|r| {
                self.eta
                    .checked_pow(r)
                    .and_then(|p| p.checked_mul(self.min_iter))
            })
            .collect()
    }
}

/// A parsed, validated sweep config.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepConfig {
    /// grid, random or bayes.
    pub method: Method,
    /// The summary metric trials are ranked by.
    pub metric: String,
    /// Whether it should go up or down.
    pub goal: Objective,
    /// Parameters and their spaces.
    pub parameters: BTreeMap<String, Space>,
    /// Stop trials that fall behind.
    pub early_terminate: Option<Hyperband>,
    /// At most this many trials.
    pub run_cap: Option<u64>,
    /// The program the agent runs.
    pub program: Option<String>,
    /// The command template (macros `${env}`, `${interpreter}`, `${program}`, `${args}`,
    /// `${args_no_hyphens}`, `${args_json_file}`).
    pub command: Vec<String>,
    /// The config as written, for the sweep's state.
    pub raw: J,
}

fn bad(path: &str, reason: impl Into<String>) -> Error {
    Error::InvalidSetting {
        name: format!("sweep config {path}"),
        reason: reason.into(),
    }
}

fn num(v: &J, path: &str) -> Result<f64> {
    v.as_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| bad(path, format!("{v} is not a finite number")))
}

/// A whole number of at least 1 that fits a `u64` (iterations, brackets, eta).
fn count(v: &J, path: &str) -> Result<u64> {
    let x = num(v, path)?;
    if x < 1.0 || x.fract() != 0.0 || x >= u64::MAX as f64 {
        return Err(bad(
            path,
            format!("{v} is not a whole number of at least 1"),
        ));
    }
    Ok(x as u64)
}

/// The most grid points a sweep may have: an agent walks a grid lazily, but the count is
/// still a `u64`.
const MAX_GRID_POINTS: u128 = u64::MAX as u128;

impl SweepConfig {
    /// Parses YAML (JSON is YAML too).
    ///
    /// ```
    /// use labbook_core::sweep::{Method, SweepConfig};
    /// let c = SweepConfig::parse("method: bayes\nmetric: {name: val/loss, goal: minimize}\nparameters:\n  lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}\n  layers: {values: [2, 4, 8]}\n")?;
    /// assert_eq!(c.method, Method::Bayes);
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<SweepConfig> {
        let raw: J = serde_yaml_ng::from_str(text)
            .map_err(|e| bad("", format!("is not valid YAML or JSON: {e}")))?;
        SweepConfig::from_value(raw)
    }

    /// Validates an already parsed config.
    #[expect(
        clippy::too_many_lines,
        reason = "one parser: an arm per field of the sweep config"
    )]
    pub fn from_value(raw: J) -> Result<SweepConfig> {
        let obj = raw
            .as_object()
            .ok_or_else(|| bad("", "must be a mapping"))?;
        let method = match obj.get("method").and_then(J::as_str) {
            Some("grid") => Method::Grid,
            Some("random") => Method::Random,
            Some("bayes") => Method::Bayes,
            Some(other) => {
                return Err(bad(
                    "method",
                    format!("{other:?} is not grid, random or bayes"),
                ));
            }
            None => return Err(bad("method", "is missing (grid, random or bayes)")),
        };
        let (metric, goal) = match obj.get("metric") {
            Some(J::Object(m)) => {
                let name = m
                    .get("name")
                    .and_then(J::as_str)
                    .ok_or_else(|| bad("metric.name", "is missing"))?;
                let goal = match m.get("goal").and_then(J::as_str).unwrap_or("minimize") {
                    "minimize" => Objective::Minimize,
                    "maximize" => Objective::Maximize,
                    other => {
                        return Err(bad(
                            "metric.goal",
                            format!("{other:?} is not minimize or maximize"),
                        ));
                    }
                };
                (name.to_owned(), goal)
            }
            None if method != Method::Bayes => (String::new(), Objective::Minimize),
            _ => {
                return Err(bad(
                    "metric",
                    "needs a name (and goal); bayes cannot search without one",
                ));
            }
        };
        let params = obj
            .get("parameters")
            .and_then(J::as_object)
            .ok_or_else(|| bad("parameters", "is missing or not a mapping"))?;
        let mut parameters = BTreeMap::new();
        for (k, v) in params {
            parameters.insert(k.clone(), parse_space(v, &format!("parameters.{k}"))?);
        }
        if method == Method::Grid {
            check_grid(&parameters, "parameters")?;
        }
        let early_terminate = match obj.get("early_terminate") {
            None => None,
            Some(J::Object(e)) => {
                if e.get("type").and_then(J::as_str) != Some("hyperband") {
                    return Err(bad("early_terminate.type", "only hyperband is supported"));
                }
                let eta = match e.get("eta") {
                    Some(v) => count(v, "early_terminate.eta")?,
                    None => 3,
                };
                if eta < 2 {
                    return Err(bad("early_terminate.eta", "must be at least 2"));
                }
                let s = match e.get("s") {
                    Some(v) => count(v, "early_terminate.s")?,
                    None => 3,
                };
                let rungs = u32::try_from(s)
                    .ok()
                    .filter(|&r| eta.checked_pow(r).is_some())
                    .ok_or_else(|| {
                        bad(
                            "early_terminate.s",
                            format!("{s} brackets of eta {eta} reach past the largest iteration count (eta^s must fit in 64 bits)"),
                        )
                    })?;
                let min_iter = match (e.get("min_iter"), e.get("max_iter")) {
                    (Some(min), _) => count(min, "early_terminate.min_iter")?,
                    (None, Some(max)) => {
                        let max = count(max, "early_terminate.max_iter")?;
                        (max / eta.pow(rungs)).max(1)
                    }
                    (None, None) => {
                        return Err(bad("early_terminate", "needs min_iter or max_iter"));
                    }
                };
                if eta
                    .checked_pow(rungs - 1)
                    .and_then(|p| p.checked_mul(min_iter))
                    .is_none()
                {
                    return Err(bad(
                        "early_terminate.min_iter",
                        format!("{min_iter} times eta^(s-1) does not fit in 64 bits"),
                    ));
                }
                Some(Hyperband {
                    min_iter,
                    eta,
                    rungs,
                })
            }
            Some(_) => return Err(bad("early_terminate", "must be a mapping")),
        };
        let run_cap = obj
            .get("run_cap")
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| bad("run_cap", "must be a positive integer"))
            })
            .transpose()?;
        let program = obj.get("program").and_then(J::as_str).map(str::to_owned);
        let command = match obj.get("command") {
            None => vec![
                "${env}".into(),
                "${interpreter}".into(),
                "${program}".into(),
                "${args}".into(),
            ],
            Some(J::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| bad(&format!("command[{i}]"), "must be text"))
                })
                .collect::<Result<_>>()?,
            Some(_) => return Err(bad("command", "must be a list")),
        };
        Ok(SweepConfig {
            method,
            metric,
            goal,
            parameters,
            early_terminate,
            run_cap,
            program,
            command,
            raw,
        })
    }

    /// Whether `a` is a better metric value than `b`.
    pub fn better(&self, a: f64, b: f64) -> bool {
        match self.goal {
            Objective::Minimize => a < b,
            Objective::Maximize => a > b,
        }
    }
}

#[expect(clippy::too_many_lines, reason = "one parser: an arm per distribution")]
fn parse_space(v: &J, path: &str) -> Result<Space> {
    let Some(m) = v.as_object() else {
        return Err(bad(path, "must be a mapping such as {values: [...]}"));
    };
    if let Some(p) = m.get("parameters") {
        let p = p
            .as_object()
            .ok_or_else(|| bad(&format!("{path}.parameters"), "must be a mapping"))?;
        let mut nested = BTreeMap::new();
        for (k, v) in p {
            nested.insert(
                k.clone(),
                parse_space(v, &format!("{path}.parameters.{k}"))?,
            );
        }
        return Ok(Space::Nested(nested));
    }
    if let Some(v) = m.get("value") {
        return Ok(Space::Constant(v.clone()));
    }
    let dist = m.get("distribution").and_then(J::as_str);
    let get = |k: &str| m.get(k).map(|v| num(v, &format!("{path}.{k}"))).transpose();
    let need = |k: &str| get(k)?.ok_or_else(|| bad(&format!("{path}.{k}"), "is missing"));
    let range = |min: f64, max: f64| {
        if min < max {
            Ok(())
        } else {
            Err(bad(path, format!("min {min} must be below max {max}")))
        }
    };
    let space = match (dist, m.get("values")) {
        (None | Some("categorical"), Some(J::Array(values))) => {
            if values.is_empty() {
                return Err(bad(&format!("{path}.values"), "must not be empty"));
            }
            Space::Categorical(values.clone())
        }
        (None | Some("categorical"), Some(_)) => {
            return Err(bad(&format!("{path}.values"), "must be a list"));
        }
        (Some("uniform"), _) => {
            let (min, max) = (need("min")?, need("max")?);
            range(min, max)?;
            Space::Uniform { min, max }
        }
        (Some("int_uniform"), _) => {
            let (min, max) = (need("min")?, need("max")?);
            range(min, max)?;
            Space::IntUniform {
                min: min as i64,
                max: max as i64,
            }
        }
        (Some("log_uniform_values"), _) => {
            let (min, max) = (need("min")?, need("max")?);
            range(min, max)?;
            if min <= 0.0 {
                return Err(bad(
                    &format!("{path}.min"),
                    "must be positive for log_uniform_values",
                ));
            }
            Space::LogUniform { min, max }
        }
        (Some("q_uniform"), _) => {
            let (min, max) = (need("min")?, need("max")?);
            range(min, max)?;
            let q = get("q")?.unwrap_or(1.0);
            if q <= 0.0 {
                return Err(bad(&format!("{path}.q"), "must be positive"));
            }
            Space::QUniform { min, max, q }
        }
        (Some("normal"), _) => {
            let sigma = get("sigma")?.unwrap_or(1.0);
            if sigma <= 0.0 {
                return Err(bad(&format!("{path}.sigma"), "must be positive"));
            }
            Space::Normal {
                mu: get("mu")?.unwrap_or(0.0),
                sigma,
            }
        }
        (Some(other), _) => {
            return Err(bad(
                &format!("{path}.distribution"),
                format!(
                    "{other:?} is not one of categorical, uniform, int_uniform, log_uniform_values, q_uniform, normal"
                ),
            ));
        }
        (None, None) => match (m.get("min"), m.get("max")) {
            (Some(a), Some(b)) if a.is_i64() && b.is_i64() => {
                let (min, max) = (need("min")?, need("max")?);
                range(min, max)?;
                Space::IntUniform {
                    min: min as i64,
                    max: max as i64,
                }
            }
            (Some(_), Some(_)) => {
                let (min, max) = (need("min")?, need("max")?);
                range(min, max)?;
                Space::Uniform { min, max }
            }
            _ => return Err(bad(path, "needs value, values, min/max, or a distribution")),
        },
    };
    Ok(space)
}

fn check_grid(params: &BTreeMap<String, Space>, path: &str) -> Result<()> {
    check_grid_spaces(params, path)?;
    let points = grid_points(params);
    if points > MAX_GRID_POINTS {
        return Err(bad(
            path,
            format!("the grid has {points} points, more than any agent could count"),
        ));
    }
    Ok(())
}

/// How many points a grid has (as `u128`, saturating: ranges of `i64` multiply past it).
pub(crate) fn grid_points(params: &BTreeMap<String, Space>) -> u128 {
    params
        .values()
        .map(|s| match s {
            Space::Nested(n) => grid_points(n),
            other => grid_len(other),
        })
        .fold(1u128, u128::saturating_mul)
}

/// How many values one dimension takes in a grid.
pub(crate) fn grid_len(space: &Space) -> u128 {
    match space {
        Space::Categorical(v) => v.len() as u128,
        Space::IntUniform { min, max } => (i128::from(*max) - i128::from(*min) + 1) as u128,
        _ => 1,
    }
}

fn check_grid_spaces(params: &BTreeMap<String, Space>, path: &str) -> Result<()> {
    for (k, s) in params {
        match s {
            Space::Constant(_) | Space::Categorical(_) | Space::IntUniform { .. } => {}
            Space::Nested(n) => check_grid_spaces(n, &format!("{path}.{k}.parameters"))?,
            _ => {
                return Err(bad(
                    &format!("{path}.{k}"),
                    "a grid search needs values (or an int_uniform range), not a continuous distribution",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_config_parses() {
        let c = SweepConfig::parse(
            r#"
program: train
method: random
metric: {name: val/acc, goal: maximize}
run_cap: 20
early_terminate: {type: hyperband, min_iter: 3, eta: 2, s: 2}
parameters:
  lr: {distribution: log_uniform_values, min: 1.0e-5, max: 1.0e-1}
  dropout: {min: 0.0, max: 0.5}
  layers: {min: 1, max: 4}
  opt: {values: [sgd, adam]}
  batch: {value: 32}
  wd: {distribution: q_uniform, min: 0, max: 1, q: 0.25}
  noise: {distribution: normal, mu: 0, sigma: 2}
  model:
    parameters:
      width: {values: [32, 64]}
command: ["${env}", "${program}", "--fast", "${args}"]
"#,
        )
        .unwrap();
        assert_eq!(
            (c.method, c.goal, c.run_cap),
            (Method::Random, Objective::Maximize, Some(20))
        );
        assert_eq!(c.parameters["layers"], Space::IntUniform { min: 1, max: 4 });
        assert_eq!(
            c.parameters["dropout"],
            Space::Uniform { min: 0.0, max: 0.5 }
        );
        assert!(matches!(c.parameters["model"], Space::Nested(_)));
        assert_eq!(c.early_terminate.unwrap().rung_iters(), vec![3, 6]);
        assert_eq!(c.command[2], "--fast");
    }

    #[test]
    fn bad_configs_name_the_field() {
        for (text, field) in [
            ("method: sometimes\nparameters: {}", "method"),
            (
                "method: grid\nparameters:\n  lr: {distribution: uniform, min: 0, max: 1}",
                "parameters.lr",
            ),
            (
                "method: random\nparameters:\n  lr: {distribution: log_uniform_values, min: 0, max: 1}",
                "parameters.lr.min",
            ),
            (
                "method: random\nparameters:\n  lr: {distribution: gamma}",
                "parameters.lr.distribution",
            ),
            (
                "method: random\nparameters:\n  lr: {min: 2, max: 1}",
                "parameters.lr",
            ),
            (
                "method: bayes\nparameters:\n  lr: {min: 0.1, max: 1.0}",
                "metric",
            ),
            (
                "method: random\nmetric: {name: x, goal: up}\nparameters: {}",
                "metric.goal",
            ),
            (
                "method: random\nparameters:\n  a: {values: []}",
                "parameters.a.values",
            ),
            // Failed before: eta^s overflowed and the division by it panicked.
            (
                "method: random\nparameters:\n  a: {values: [1]}\nearly_terminate: {type: hyperband, max_iter: 27, eta: 2, s: 64}",
                "early_terminate.s",
            ),
            (
                "method: random\nparameters:\n  a: {values: [1]}\nearly_terminate: {type: hyperband, min_iter: 9000000000000000000, eta: 3, s: 3}",
                "early_terminate.min_iter",
            ),
            (
                "method: random\nparameters:\n  a: {values: [1]}\nearly_terminate: {type: hyperband, min_iter: 1, eta: .nan}",
                "early_terminate.eta",
            ),
            (
                "method: random\nparameters:\n  a: {min: -.inf, max: 1.0}",
                "parameters.a.min",
            ),
            // Three int ranges of the whole i64: more points than a u64 counts.
            (
                "method: grid\nparameters:\n  a: {min: -9000000000000000000, max: 9000000000000000000}\n  b: {min: -9000000000000000000, max: 9000000000000000000}",
                "parameters",
            ),
        ] {
            let e = SweepConfig::parse(text).unwrap_err().to_string();
            assert!(
                e.contains(&format!("sweep config {field}:")),
                "{field}: {e}"
            );
        }
    }
}
