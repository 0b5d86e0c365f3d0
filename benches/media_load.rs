//! Media load: a training thread logging 1-megapixel images and scalars flat out, to disk.
//! Measures rows and images per second, how far the newest row on disk trails the newest
//! row logged (sampled every 20 ms by a reader that follows the log, as a crash would find
//! it), how stale the summary on disk gets, and what one image costs to encode.
//!
//! ```console
//! $ cargo bench --bench media_load                  # 10 s of load
//! $ LABBOOK_BENCH_MEDIA_SECS=30 cargo bench --bench media_load
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use labbook::Value;
use labbook::media::Image;
use labbook_wire::LogFollower;
use labbook_wire::proto::RecordType;

#[path = "common/quiet.rs"]
mod quiet;

const SIDE: u32 = 1000;
const SCALARS_PER_IMAGE: u64 = 20;

fn noise() -> Vec<u8> {
    (0..u64::from(SIDE * SIDE * 3))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let secs: u64 = std::env::var("LABBOOK_BENCH_MEDIA_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let noise = noise();

    // One item's encoding, alone: the part of the bound that is not the flush interval.
    let encode = encode_alone(|| Value::from(Image::rgb(SIDE, SIDE, noise.clone()).unwrap()));
    // The slowest common item: a GIF of 32 frames of 256x256 noise (quantized per frame).
    let gif = encode_alone(|| {
        let frames: Vec<u8> = noise
            .iter()
            .copied()
            .cycle()
            .take(32 * 256 * 256 * 3)
            .collect();
        Value::from(labbook::media::Video::from_frames(32, 256, 256, 3, frames, 8).unwrap())
    });

    let dir = tempfile::tempdir().unwrap();
    let run = labbook::init(quiet::settings(dir.path(), "bench-media")).unwrap();
    let log = run.dir().unwrap().join(format!("run-{}.wandb", run.id()));
    let start = Instant::now();
    // Logged steps by time (ms since start), written by the training thread.
    let logged: Arc<std::sync::Mutex<Vec<(f64, u64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let follower = {
        let (logged, stop) = (logged.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut f = LogFollower::new(&log);
            let (mut on_disk, mut lags, mut last_summary, mut summary_gaps) =
                (None::<u64>, Vec::new(), 0.0f64, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
                let now = start.elapsed().as_secs_f64();
                for r in f.poll().unwrap() {
                    match r.record_type {
                        Some(RecordType::History(h)) => {
                            let step = h.step.map_or(0, |s| s.num as u64);
                            on_disk = Some(on_disk.map_or(step, |d: u64| d.max(step)));
                        }
                        Some(RecordType::Summary(_)) => {
                            summary_gaps.push(now - last_summary);
                            last_summary = now;
                        }
                        _ => {}
                    }
                }
                // The lag: how long ago the newest step on disk was logged, against the
                // newest step logged now.
                let l = logged.lock().unwrap();
                if let (Some(disk), Some(&(_, newest))) = (on_disk, l.last()) {
                    let when = l.iter().find(|(_, s)| *s >= disk).map_or(now, |(t, _)| *t);
                    if newest > disk {
                        lags.push(now - when);
                    } else {
                        lags.push(0.0);
                    }
                }
            }
            (lags, summary_gaps)
        })
    };
    let mut step = 0u64;
    let mut images = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        let mut px = noise.clone();
        let shift = (images as usize * 4099) % px.len();
        px.rotate_left(shift);
        let img = Image::rgb(SIDE, SIDE, px).unwrap();
        run.log([
            ("img", Value::from(img)),
            ("loss", Value::from(1.0 / (step + 1) as f64)),
        ])
        .unwrap();
        images += 1;
        for i in 0..SCALARS_PER_IMAGE {
            run.log([("scalar", Value::from(i))]).unwrap();
        }
        step = run.step() - 1;
        logged
            .lock()
            .unwrap()
            .push((start.elapsed().as_secs_f64(), step));
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (mut lags, mut gaps) = follower.join().unwrap();
    let report = run.finish().unwrap();
    lags.sort_by(f64::total_cmp);
    gaps.sort_by(f64::total_cmp);
    println!(
        "media load, {secs} s: {:.0} rows/s, {:.1} images/s ({SIDE}x{SIDE} RGB + {SCALARS_PER_IMAGE} scalar rows each), blocked {:.1} s",
        report.rows as f64 / elapsed,
        images as f64 / elapsed,
        report.blocked.as_secs_f64()
    );
    println!(
        "on-disk lag behind the newest row logged: p50 {:.2} s, p99 {:.2} s, max {:.2} s ({} samples)",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN),
        lags.len()
    );
    println!(
        "summary records on disk every: p50 {:.2} s, max {:.2} s; encoded and written alone: one image {:.0} ms, a 32-frame 256x256 GIF {:.0} ms",
        percentile(&gaps, 0.5),
        gaps.last().copied().unwrap_or(f64::NAN),
        encode * 1e3,
        gif * 1e3
    );
}

/// Seconds to log one value made by `make` and flush it, alone (the mean of 5).
fn encode_alone(make: impl Fn() -> Value) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let run = labbook::init(quiet::settings(dir.path(), "bench-media-encode")).unwrap();
    let mut spent = Duration::ZERO;
    for _ in 0..5 {
        let v = make();
        let t = Instant::now();
        run.log([("item", v)]).unwrap();
        run.flush().unwrap();
        spent += t.elapsed();
    }
    run.finish().unwrap();
    spent.as_secs_f64() / 5.0
}
