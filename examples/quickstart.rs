//! A small synthetic training run, logged offline.
//!
//! Trains a logistic-regression classifier with plain SGD on two noisy Gaussian blobs it
//! generates itself, and logs config, per-step and per-epoch metrics, a summary and an
//! alert. Run it with `cargo run --example quickstart`; it prints where the run is and how
//! to upload it with `wandb sync`.

use anyhow::Result;
use labbook::{Goal, Metric, Settings, Summary, Value};
use serde::Serialize;

#[derive(Serialize)]
enum Schedule {
    Constant,
    Cosine { min_lr: f64 },
}

#[derive(Serialize)]
struct Config {
    epochs: u32,
    batch_size: usize,
    lr: f64,
    schedule: Schedule,
    features: usize,
    train_samples: usize,
    val_samples: usize,
    seed: u64,
}

/// A tiny deterministic random source (xorshift), so the example needs no data and no crate.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal sample (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next_f64().max(1e-12), self.next_f64());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Two blobs, one per class, whose means differ along every feature.
fn make_data(rng: &mut Rng, n: usize, features: usize) -> Vec<(Vec<f64>, f64)> {
    (0..n)
        .map(|i| {
            let label = (i % 2) as f64;
            let x = (0..features)
                .map(|f| {
                    rng.normal() * 1.5
                        + if label > 0.5 { 0.6 } else { -0.6 } * (1.0 + f as f64 * 0.1)
                })
                .collect();
            (x, label)
        })
        .collect()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn evaluate(w: &[f64], b: f64, data: &[(Vec<f64>, f64)]) -> (f64, f64) {
    let (mut loss, mut correct) = (0.0, 0usize);
    for (x, y) in data {
        let p =
            sigmoid(w.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + b).clamp(1e-9, 1.0 - 1e-9);
        loss -= y * p.ln() + (1.0 - y) * (1.0 - p).ln();
        correct += usize::from((p > 0.5) == (*y > 0.5));
    }
    (loss / data.len() as f64, correct as f64 / data.len() as f64)
}

fn main() -> Result<()> {
    let cfg = Config {
        epochs: 8,
        batch_size: 32,
        lr: 0.1,
        schedule: if std::env::args().any(|a| a == "--constant-lr") {
            Schedule::Constant
        } else {
            Schedule::Cosine { min_lr: 0.005 }
        },
        features: 16,
        train_samples: 4096,
        val_samples: 1024,
        seed: 7,
    };
    let run = labbook::init(
        Settings::new("labbook-quickstart")
            .name("logreg_SCORE_PLACEHOLDER")
            .score_metrics(["val/acc"])
            .tags(["synthetic", "quickstart"])
            .job_type("train")
            .notes("logistic regression on two Gaussian blobs")
            .config(&cfg),
    )?;
    run.define_metric(Metric::new("val/*").step_metric("epoch"))?;
    run.define_metric(
        Metric::new("val/acc")
            .step_metric("epoch")
            .summary(Summary::Best)
            .goal(Goal::Maximize),
    )?;
    run.define_metric(
        Metric::new("train/loss")
            .summary(Summary::Min)
            .summary(Summary::Last),
    )?;

    let mut rng = Rng(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let train = make_data(&mut rng, cfg.train_samples, cfg.features);
    let val = make_data(&mut rng, cfg.val_samples, cfg.features);
    let (mut w, mut b) = (vec![0.0; cfg.features], 0.0);
    let steps_per_epoch = train.len() / cfg.batch_size;
    let total_steps = (steps_per_epoch * cfg.epochs as usize) as f64;

    for epoch in 0..cfg.epochs {
        for (i, batch) in train.chunks(cfg.batch_size).enumerate() {
            let progress = (epoch as usize * steps_per_epoch + i) as f64 / total_steps;
            let lr = match cfg.schedule {
                Schedule::Constant => cfg.lr,
                Schedule::Cosine { min_lr } => {
                    min_lr
                        + 0.5 * (cfg.lr - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
                }
            };
            let started = std::time::Instant::now();
            let (mut gw, mut gb, mut loss, mut correct) =
                (vec![0.0; cfg.features], 0.0, 0.0, 0usize);
            for (x, y) in batch {
                let p = sigmoid(w.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + b)
                    .clamp(1e-9, 1.0 - 1e-9);
                loss -= y * p.ln() + (1.0 - y) * (1.0 - p).ln();
                correct += usize::from((p > 0.5) == (*y > 0.5));
                for (g, xi) in gw.iter_mut().zip(x) {
                    *g += (p - y) * xi;
                }
                gb += p - y;
            }
            let n = batch.len() as f64;
            for (wi, g) in w.iter_mut().zip(&gw) {
                *wi -= lr * g / n;
            }
            b -= lr * gb / n;
            let step_us = started.elapsed().as_secs_f64() * 1e6;
            labbook::log!(run,
                "train/loss" => loss / n,
                "train/acc" => correct as f64 / n,
                "lr" => lr,
                "step_time_us" => step_us,
                "epoch" => epoch,
            )?;
        }
        let (val_loss, val_acc) = evaluate(&w, b, &val);
        run.log([
            ("val/loss", Value::from(val_loss)),
            ("val/acc", Value::from(val_acc)),
            ("epoch", Value::from(epoch + 1)),
        ])?;
        if !val_loss.is_finite() {
            run.alert(
                "diverged",
                &format!("val/loss is {val_loss} at epoch {epoch}"),
                labbook::AlertLevel::Error,
            )?;
        }
    }
    let weight_norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
    run.set_summary("final/weight_norm", weight_norm)?;

    // `finish` prints the run's banner (rows, where it is, the sync command) once; the
    // report is for the program. Here: the score the run ended with.
    let report = run.finish()?;
    let (_, val_acc) = evaluate(&w, b, &val);
    println!("{}: final val/acc {val_acc:.3}", report.name);
    Ok(())
}
