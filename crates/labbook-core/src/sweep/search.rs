//! Choosing the next trial: grid (complete, in order), random (seeded), bayes (a Gaussian
//! process over the finished trials, maximizing expected improvement), and hyperband early
//! termination.

use std::collections::BTreeMap;

use serde_json::{Map, Value as J};

use super::config::{Method, Objective, Space, SweepConfig};

/// A finished (or stopped) trial, as the search sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The parameters it ran with.
    pub params: Map<String, J>,
    /// Its final metric, if it reported one.
    pub metric: Option<f64>,
}

/// One searchable dimension: its path in the (possibly nested) parameters and its space.
struct Dim<'a> {
    path: Vec<String>,
    space: &'a Space,
}

fn dims<'a>(params: &'a BTreeMap<String, Space>, prefix: &[String], out: &mut Vec<Dim<'a>>) {
    for (k, s) in params {
        let mut path = prefix.to_vec();
        path.push(k.clone());
        match s {
            Space::Nested(n) => dims(n, &path, out),
            other => out.push(Dim { path, space: other }),
        }
    }
}

fn set(map: &mut Map<String, J>, path: &[String], v: J) {
    match path {
        [] => {}
        [k] => {
            map.insert(k.clone(), v);
        }
        [k, rest @ ..] => {
            let slot = map
                .entry(k.clone())
                .or_insert_with(|| J::Object(Map::new()));
            if let J::Object(m) = slot {
                set(m, rest, v);
            }
        }
    }
}

fn get<'a>(map: &'a Map<String, J>, path: &[String]) -> Option<&'a J> {
    let (first, rest) = path.split_first()?;
    let v = map.get(first)?;
    if rest.is_empty() {
        Some(v)
    } else {
        get(v.as_object()?, rest)
    }
}

/// A small deterministic generator (splitmix64), so a seed gives the same trials on every
/// machine.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-300), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// A value of `space` from a point `u` in [0, 1) (how random and bayes both sample).
fn decode(space: &Space, u: f64) -> J {
    match space {
        Space::Constant(v) => v.clone(),
        Space::Categorical(values) => {
            values[((u * values.len() as f64) as usize).min(values.len() - 1)].clone()
        }
        // Weighted, not `min + u * (max - min)`: the span of a wide range overflows.
        Space::Uniform { min, max } => J::from(u * max + (1.0 - u) * min),
        Space::IntUniform { min, max } => {
            // In i128: the span of a range across the whole i64 does not fit in one.
            let span = i128::from(*max) - i128::from(*min) + 1;
            let k = ((u * span as f64) as i128).clamp(0, span - 1);
            J::from((i128::from(*min) + k) as i64)
        }
        Space::LogUniform { min, max } => J::from((min.ln() + u * (max.ln() - min.ln())).exp()),
        Space::QUniform { min, max, q } => J::from(((min + u * (max - min)) / q).round() * q),
        Space::Normal { mu, sigma } => J::from(mu + sigma * probit(u.clamp(1e-9, 1.0 - 1e-9))),
        Space::Nested(_) => J::Null,
    }
}

/// Where a value sits in [0, 1] for the surrogate model.
fn encode(space: &Space, v: &J) -> f64 {
    let x = v.as_f64().unwrap_or(0.0);
    let u = match space {
        Space::Constant(_) | Space::Nested(_) => 0.5,
        Space::Categorical(values) => {
            let i = values.iter().position(|c| c == v).unwrap_or(0);
            if values.len() > 1 {
                i as f64 / (values.len() - 1) as f64
            } else {
                0.5
            }
        }
        Space::Uniform { min, max } | Space::QUniform { min, max, .. } => (x - min) / (max - min),
        Space::IntUniform { min, max } => (x - *min as f64) / (*max as f64 - *min as f64).max(1.0),
        Space::LogUniform { min, max } => (x.max(*min).ln() - min.ln()) / (max.ln() - min.ln()),
        Space::Normal { mu, sigma } => normal_cdf((x - mu) / sigma),
    };
    u.clamp(0.0, 1.0)
}

fn erf(x: f64) -> f64 {
    // Abramowitz and Stegun 7.1.26: |error| < 1.5e-7, plenty for an acquisition function.
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    if x >= 0.0 { y } else { -y }
}

fn normal_cdf(z: f64) -> f64 {
    0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2))
}

fn normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (std::f64::consts::TAU).sqrt()
}

/// The inverse of the normal CDF, by bisection (only used to sample `normal` parameters).
fn probit(p: f64) -> f64 {
    let (mut lo, mut hi) = (-10.0, 10.0);
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Picks the parameters of the next trial. `None` when a grid is exhausted.
///
/// `trial` is the index of the trial being created (it seeds random choices together with
/// `seed`), `seen` the trials so far (finished ones with their metric).
pub fn suggest(
    config: &SweepConfig,
    seen: &[Observation],
    trial: u64,
    seed: u64,
) -> Option<Map<String, J>> {
    let mut ds = Vec::new();
    dims(&config.parameters, &[], &mut ds);
    match config.method {
        Method::Grid => grid_point(&ds, trial),
        Method::Random => Some(random_point(
            &ds,
            &mut Rng::new(seed.wrapping_mul(31).wrapping_add(trial)),
        )),
        Method::Bayes => Some(bayes_point(config, &ds, seen, trial, seed)),
    }
}

/// How many trials a grid has (`None` when it is not a grid).
pub fn grid_size(config: &SweepConfig) -> Option<u64> {
    if config.method != Method::Grid {
        return None;
    }
    // A parsed grid's size fits in a u64 (the config refuses larger ones).
    Some(u64::try_from(super::config::grid_points(&config.parameters)).unwrap_or(u64::MAX))
}

/// The `i`-th grid value of a dimension, without listing the others (an `int_uniform`
/// range may be huge).
fn grid_value(space: &Space, i: u128) -> J {
    match space {
        Space::Constant(v) => v.clone(),
        Space::Categorical(v) => v.get(i as usize).cloned().unwrap_or(J::Null),
        Space::IntUniform { min, .. } => J::from((i128::from(*min) + i as i128) as i64),
        _ => J::Null,
    }
}

fn grid_point(ds: &[Dim<'_>], trial: u64) -> Option<Map<String, J>> {
    let mut rest = u128::from(trial);
    let mut out = Map::new();
    // The last parameter varies fastest, like nested loops in key order.
    let mut values: Vec<J> = Vec::with_capacity(ds.len());
    for d in ds.iter().rev() {
        let n = super::config::grid_len(d.space).max(1);
        values.push(grid_value(d.space, rest % n));
        rest /= n;
    }
    if rest > 0 {
        return None;
    }
    for (d, v) in ds.iter().zip(values.into_iter().rev()) {
        set(&mut out, &d.path, v);
    }
    Some(out)
}

fn random_point(ds: &[Dim<'_>], rng: &mut Rng) -> Map<String, J> {
    let mut out = Map::new();
    for d in ds {
        let v = match d.space {
            Space::Normal { mu, sigma } => J::from(mu + sigma * rng.normal()),
            s => decode(s, rng.unit()),
        };
        set(&mut out, &d.path, v);
    }
    out
}

/// Expected improvement (for minimization) of a prediction over the best value so far.
fn expected_improvement(mu: f64, sigma: f64, best: f64) -> f64 {
    if sigma <= 1e-12 {
        return (best - mu).max(0.0);
    }
    let z = (best - mu) / sigma;
    (best - mu) * normal_cdf(z) + sigma * normal_pdf(z)
}

fn bayes_point(
    config: &SweepConfig,
    ds: &[Dim<'_>],
    seen: &[Observation],
    trial: u64,
    seed: u64,
) -> Map<String, J> {
    let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(trial));
    let free: Vec<&Dim<'_>> = ds
        .iter()
        .filter(|d| !matches!(d.space, Space::Constant(_)))
        .collect();
    let data: Vec<(Vec<f64>, f64)> = seen
        .iter()
        .filter_map(|o| {
            let y = o.metric.filter(|m| m.is_finite())?;
            let x = free
                .iter()
                .map(|d| get(&o.params, &d.path).map_or(0.5, |v| encode(d.space, v)))
                .collect();
            // The model minimizes.
            Some((x, if config.better(1.0, 0.0) { -y } else { y }))
        })
        .collect();
    // A few random trials first: a surrogate needs something to fit.
    if data.len() < (free.len() + 1).max(3) {
        return random_point(ds, &mut rng);
    }
    let gp = Gp::fit(&data);
    let best = data.iter().map(|d| d.1).fold(f64::INFINITY, f64::min);
    let mut best_u: Vec<f64> = vec![0.5; free.len()];
    let mut best_ei = f64::NEG_INFINITY;
    for _ in 0..2000 {
        let u: Vec<f64> = (0..free.len()).map(|_| rng.unit()).collect();
        let (mu, var) = gp.predict(&u);
        let ei = expected_improvement(mu, var.sqrt(), best);
        if ei > best_ei {
            best_ei = ei;
            best_u = u;
        }
    }
    let mut out = Map::new();
    let mut free_i = 0;
    for d in ds {
        let v = match d.space {
            Space::Constant(v) => v.clone(),
            s => {
                let v = decode(s, best_u[free_i]);
                free_i += 1;
                v
            }
        };
        set(&mut out, &d.path, v);
    }
    out
}

/// A Gaussian process with an RBF kernel on [0, 1]^d; targets standardized; the length
/// scale chosen by marginal likelihood from a few candidates.
struct Gp {
    xs: Vec<Vec<f64>>,
    alpha: Vec<f64>,
    chol: Vec<Vec<f64>>,
    length: f64,
    mean: f64,
    scale: f64,
}

fn rbf(a: &[f64], b: &[f64], length: f64) -> f64 {
    let d2: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    (-0.5 * d2 / (length * length)).exp()
}

fn cholesky(k: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = k.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|p| l[i][p] * l[j][p]).sum();
            if i == j {
                let d = k[i][i] - s;
                if d <= 0.0 {
                    return None;
                }
                l[i][j] = d.sqrt();
            } else {
                l[i][j] = (k[i][j] - s) / l[j][j];
            }
        }
    }
    Some(l)
}

/// Solves L z = b, then Lᵀ x = z.
fn chol_solve(l: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let mut z = vec![0.0; n];
    for i in 0..n {
        z[i] = (b[i] - (0..i).map(|p| l[i][p] * z[p]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (z[i] - ((i + 1)..n).map(|p| l[p][i] * x[p]).sum::<f64>()) / l[i][i];
    }
    x
}

impl Gp {
    fn fit(data: &[(Vec<f64>, f64)]) -> Gp {
        let n = data.len() as f64;
        let mean = data.iter().map(|d| d.1).sum::<f64>() / n;
        let scale = (data.iter().map(|d| (d.1 - mean).powi(2)).sum::<f64>() / n)
            .sqrt()
            .max(1e-12);
        let ys: Vec<f64> = data.iter().map(|d| (d.1 - mean) / scale).collect();
        let xs: Vec<Vec<f64>> = data.iter().map(|d| d.0.clone()).collect();
        let mut best: Option<(f64, Gp)> = None;
        for length in [0.05, 0.1, 0.2, 0.3, 0.5, 0.8] {
            let k: Vec<Vec<f64>> = xs
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    xs.iter()
                        .enumerate()
                        .map(|(j, b)| rbf(a, b, length) + if i == j { 1e-4 } else { 0.0 })
                        .collect()
                })
                .collect();
            let Some(chol) = cholesky(&k) else { continue };
            let alpha = chol_solve(&chol, &ys);
            let fit: f64 = ys.iter().zip(&alpha).map(|(y, a)| y * a).sum();
            let log_det: f64 = chol.iter().enumerate().map(|(i, r)| r[i].ln()).sum::<f64>() * 2.0;
            let lml = -0.5 * fit - 0.5 * log_det;
            if best.as_ref().is_none_or(|(b, _)| lml > *b) {
                best = Some((
                    lml,
                    Gp {
                        xs: xs.clone(),
                        alpha,
                        chol,
                        length,
                        mean,
                        scale,
                    },
                ));
            }
        }
        best.map(|b| b.1).unwrap_or(Gp {
            xs: Vec::new(),
            alpha: Vec::new(),
            chol: Vec::new(),
            length: 0.2,
            mean,
            scale,
        })
    }

    /// Mean and variance at `u`, in the original units.
    fn predict(&self, u: &[f64]) -> (f64, f64) {
        if self.xs.is_empty() {
            return (self.mean, self.scale * self.scale);
        }
        let k: Vec<f64> = self.xs.iter().map(|x| rbf(x, u, self.length)).collect();
        let mu: f64 = k.iter().zip(&self.alpha).map(|(a, b)| a * b).sum();
        let v = chol_solve(&self.chol, &k);
        let var = (1.0 - k.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>()).max(1e-12);
        (self.mean + mu * self.scale, var * self.scale * self.scale)
    }
}

/// Hyperband's verdict on a running trial: stop it when, at a rung it has reached, its metric
/// is outside the best 1/eta of all trials that reached that rung.
///
/// `mine` and each of `others` are the metric values a trial logged, in order (the i-th
/// value is iteration i + 1).
pub fn hyperband_stops(config: &SweepConfig, mine: &[f64], others: &[Vec<f64>]) -> bool {
    let Some(hb) = &config.early_terminate else {
        return false;
    };
    for rung in hb.rung_iters() {
        let at = rung as usize;
        if mine.len() < at {
            break;
        }
        let value = mine[at - 1];
        let mut peers: Vec<f64> = others
            .iter()
            .filter(|o| o.len() >= at)
            .map(|o| o[at - 1])
            .collect();
        if peers.len() + 1 < hb.eta as usize {
            continue;
        }
        peers.push(value);
        // Best first: a total order, as `sort_by` requires.
        peers.sort_by(|a, b| match config.goal {
            Objective::Minimize => a.total_cmp(b),
            Objective::Maximize => b.total_cmp(a),
        });
        let keep = peers.len().div_ceil(hb.eta as usize);
        let cutoff = peers[keep - 1];
        if config.better(cutoff, value) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::config::SweepConfig;

    #[test]
    fn a_grid_is_complete_and_in_order() {
        let c = SweepConfig::parse("method: grid\nparameters:\n  a: {values: [1, 2]}\n  b: {values: [x, y, z]}\n  c: {value: 0}\n").unwrap();
        assert_eq!(grid_size(&c), Some(6));
        let all: Vec<String> = (0..6)
            .map(|i| J::Object(suggest(&c, &[], i, 0).unwrap()).to_string())
            .collect();
        assert_eq!(all[0], r#"{"a":1,"b":"x","c":0}"#);
        assert_eq!(all[1], r#"{"a":1,"b":"y","c":0}"#);
        assert_eq!(all[5], r#"{"a":2,"b":"z","c":0}"#);
        assert!(suggest(&c, &[], 6, 0).is_none());
    }

    #[test]
    fn random_is_reproducible_by_seed_and_stays_in_range() {
        let c = SweepConfig::parse("method: random\nparameters:\n  lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}\n  n: {min: 1, max: 3}\n  opt: {values: [a, b]}\n  m: {parameters: {w: {distribution: q_uniform, min: 0, max: 1, q: 0.25}}}\n").unwrap();
        let a: Vec<_> = (0..50).map(|i| suggest(&c, &[], i, 7).unwrap()).collect();
        let b: Vec<_> = (0..50).map(|i| suggest(&c, &[], i, 7).unwrap()).collect();
        assert_eq!(a, b);
        assert_ne!(
            a,
            (0..50)
                .map(|i| suggest(&c, &[], i, 8).unwrap())
                .collect::<Vec<_>>()
        );
        for p in &a {
            let lr = p["lr"].as_f64().unwrap();
            assert!((0.0001..=0.1).contains(&lr));
            assert!((1..=3).contains(&p["n"].as_i64().unwrap()));
            let w = p["m"]["w"].as_f64().unwrap();
            assert!([0.0, 0.25, 0.5, 0.75, 1.0].contains(&w), "{w}");
        }
    }

    /// A known 2-D function: (x - 0.7)^2 + (y - 0.2)^2, minimum 0 at (0.7, 0.2).
    fn objective(p: &Map<String, J>) -> f64 {
        let (x, y) = (p["x"].as_f64().unwrap(), p["y"].as_f64().unwrap());
        (x - 0.7).powi(2) + (y - 0.2).powi(2)
    }

    /// Trials until a value within 0.005 of the optimum (capped at 60).
    fn trials_to_optimum(method: &str, seed: u64) -> u64 {
        let c = SweepConfig::parse(&format!(
            "method: {method}\nmetric: {{name: f, goal: minimize}}\nparameters:\n  x: {{min: 0.0, max: 1.0}}\n  y: {{min: 0.0, max: 1.0}}\n"
        ))
        .unwrap();
        let mut seen = Vec::new();
        for t in 0..60 {
            let p = suggest(&c, &seen, t, seed).unwrap();
            let f = objective(&p);
            if f < 0.005 {
                return t + 1;
            }
            seen.push(Observation {
                params: p,
                metric: Some(f),
            });
        }
        60
    }

    #[test]
    fn bayes_finds_the_optimum_in_fewer_trials_than_random() {
        let seeds = 0..12u64;
        let bayes: u64 = seeds.clone().map(|s| trials_to_optimum("bayes", s)).sum();
        let random: u64 = seeds.map(|s| trials_to_optimum("random", s)).sum();
        eprintln!(
            "mean trials to within 0.005 of the optimum: bayes {:.1}, random {:.1}",
            bayes as f64 / 12.0,
            random as f64 / 12.0
        );
        assert!(bayes < random, "bayes {bayes} vs random {random}");
    }

    #[test]
    fn hyperband_stops_trials_outside_the_best_third() {
        let c = SweepConfig::parse(
            "method: random\nmetric: {name: loss, goal: minimize}\nearly_terminate: {type: hyperband, min_iter: 2, eta: 3, s: 2}\nparameters:\n  a: {values: [1]}\n",
        )
        .unwrap();
        let others = vec![
            vec![1.0, 0.5, 0.4],
            vec![1.0, 0.6],
            vec![1.0, 0.9, 0.8, 0.7, 0.6, 0.5],
        ];
        assert!(
            hyperband_stops(&c, &[1.0, 0.95], &others),
            "worst at rung 2"
        );
        assert!(
            !hyperband_stops(&c, &[1.0, 0.45], &others),
            "best at rung 2"
        );
        assert!(!hyperband_stops(&c, &[1.0], &others), "not at a rung yet");
        // Too few peers at a rung: nothing to compare with.
        assert!(!hyperband_stops(&c, &[1.0, 0.95], &[vec![1.0, 0.5]]));
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::testing::{CASES, edge_f64};

    /// A parameter space as a config writes it: sometimes sensible, often not.
    fn space() -> impl Strategy<Value = J> {
        prop_oneof![
            prop::collection::vec(edge_f64(), 0..4).prop_map(|v| json!({"values": v})),
            (edge_f64(), edge_f64()).prop_map(|(a, b)| json!({"min": a, "max": b})),
            (any::<i64>(), any::<i64>()).prop_map(|(a, b)| json!({"min": a, "max": b})),
            (-100i64..100, -100i64..100)
                .prop_map(|(a, b)| json!({"distribution": "int_uniform", "min": a, "max": b})),
            (edge_f64(), edge_f64()).prop_map(|(a, b)| {
                json!({"distribution": "log_uniform_values", "min": a, "max": b})
            }),
            (edge_f64(), edge_f64(), edge_f64()).prop_map(|(a, b, q)| {
                json!({"distribution": "q_uniform", "min": a, "max": b, "q": q})
            }),
            (edge_f64(), edge_f64())
                .prop_map(|(m, s)| json!({"distribution": "normal", "mu": m, "sigma": s})),
            edge_f64().prop_map(|v| json!({"value": v})),
            Just(json!({"parameters": {"inner": {"values": [1, 2]}}})),
            Just(json!({"distribution": "gamma"})),
            Just(json!("not a mapping")),
        ]
    }

    fn config() -> impl Strategy<Value = J> {
        (
            prop::sample::select(vec!["grid", "random", "bayes", "other"]),
            prop::collection::btree_map("[a-z.]{1,6}", space(), 0..4),
            prop::option::of((edge_f64(), edge_f64(), edge_f64(), edge_f64())),
        )
            .prop_map(|(method, params, hb)| {
                let mut c = json!({
                    "method": method,
                    "metric": {"name": "loss", "goal": "minimize"},
                    "parameters": params,
                });
                if let Some((min_iter, max_iter, eta, s)) = hb {
                    c["early_terminate"] = json!({"type": "hyperband", "min_iter": min_iter, "max_iter": max_iter, "eta": eta, "s": s});
                }
                c
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Any config is a sweep or an error naming its field; a sweep suggests trials at
        /// any index (a grid ends with `None`) and judges any metric values without a panic.
        #[test]
        fn configs_parse_or_name_the_field_and_sweeps_never_panic(
            raw in config(),
            trial in prop_oneof![0u64..20, Just(u64::MAX), any::<u64>()],
            seed in any::<u64>(),
            metrics in prop::collection::vec(prop::collection::vec(edge_f64(), 0..6), 0..4),
        ) {
            let c = match SweepConfig::from_value(raw) {
                Ok(c) => c,
                Err(e) => {
                    prop_assert!(e.to_string().contains("sweep config"), "{e}");
                    return Ok(());
                }
            };
            let seen: Vec<Observation> = metrics
                .iter()
                .filter_map(|m| {
                    Some(Observation { params: suggest(&c, &[], 0, seed)?, metric: m.first().copied() })
                })
                .collect();
            let p = suggest(&c, &seen, trial, seed);
            if let Some(size) = grid_size(&c) {
                prop_assert_eq!(p.is_some(), trial < size);
            }
            if let (Some(mine), others) = (metrics.first(), metrics.get(1..).unwrap_or_default()) {
                let _ = hyperband_stops(&c, mine, others);
            }
        }
    }
}
