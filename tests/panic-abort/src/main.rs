//! A training loop that panics in a program built with `panic = "abort"`, where no
//! destructor runs: labbook's panic hook still finishes the run with exit code 1.
//!
//! `scripts/test.sh` builds it with `--profile panic-abort` and checks the run it leaves:
//! `cargo run --profile panic-abort -p panic-abort-check -- <dir>`.

use anyhow::{Context, Result};
use labbook::{Settings, Value};

fn main() -> Result<()> {
    let dir = std::env::args()
        .nth(1)
        .context("usage: panic-abort-check <dir>")?;
    let run = labbook::init(Settings::new("panic-abort").dir(dir).quiet(true))?;
    for step in 0..100u32 {
        run.log([("loss", Value::from(1.0 / f64::from(step + 1)))])?;
    }
    if cfg!(panic = "abort") {
        panic!("the training loop blew up");
    }
    anyhow::bail!("build this check with --profile panic-abort");
}
