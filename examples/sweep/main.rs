//! The trainer a local sweep tunes: `examples/sweep/sweep.yaml` searches its learning rate
//! and momentum with bayes and stops bad trials with hyperband.
//!
//! ```console
//! $ cargo build --example sweep
//! $ labbook sweep examples/sweep/sweep.yaml        # prints the sweep id
//! $ labbook agent <id> --count 8
//! $ labbook sweep show <id>
//! ```
//!
//! Inside a trial, `config_as` returns the sweep's values (the agent passes them through
//! WANDB_SWEEP_PARAM_PATH, as W&B agents do); run alone, it uses the defaults below.

use anyhow::Result;
use labbook::{Metric, Settings, Summary, Value};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Config {
    lr: f64,
    momentum: f64,
    epochs: u32,
}

fn main() -> Result<()> {
    let defaults = Config {
        lr: 0.05,
        momentum: 0.5,
        epochs: 9,
    };
    let run = labbook::init(Settings::new("labbook-sweep").config(&defaults))?;
    let cfg: Config = run.config_as()?;
    run.define_metric(
        Metric::new("val/loss")
            .step_metric("epoch")
            .summary(Summary::Min),
    )?;
    // SGD with momentum on an ill-conditioned quadratic bowl: too small a learning rate
    // crawls, too large diverges, momentum helps in between.
    let scales = [1.0, 8.0, 25.0];
    let (mut w, mut v) = ([2.0f64, -1.5, 1.0], [0.0f64; 3]);
    for epoch in 1..=cfg.epochs {
        for _ in 0..20 {
            for i in 0..3 {
                let grad = scales[i] * w[i];
                v[i] = cfg.momentum * v[i] - cfg.lr * grad;
                w[i] += v[i];
            }
            let loss: f64 = (0..3).map(|i| 0.5 * scales[i] * w[i] * w[i]).sum();
            run.log([("train/loss", Value::from(loss.min(1e6)))])?;
        }
        let val: f64 = (0..3)
            .map(|i| 0.5 * scales[i] * w[i] * w[i])
            .sum::<f64>()
            .min(1e6);
        run.log([
            ("val/loss", Value::from(val)),
            ("epoch", Value::from(epoch)),
        ])?;
    }
    let report = run.finish()?;
    println!("trial {} done: {} rows", report.run_id, report.rows);
    Ok(())
}
