//! A media-rich run: a synthetic detection task logged with images, boxes, masks,
//! histograms, a video and an HTML report.
//!
//! Each "image" holds a few bright rectangles (cars and people) on noise. A toy detector
//! thresholds the image and boxes the connected bright areas it finds; its boxes are logged
//! next to the ground truth, with per-class masks, the IoU of every prediction as a
//! histogram, and precision/recall per epoch. The detector's threshold is "trained" by a
//! small search each epoch, so the numbers move. `cargo run --example detection`.

use anyhow::Result;
use labbook::media::{BoundingBox, Boxes, Histogram, Html, Image, Mask, Video};
use labbook::{Metric, Settings, Summary, Value};

const SIZE: u32 = 48;
const CLASSES: [(i64, &str); 3] = [(0, "background"), (1, "car"), (2, "person")];

/// Deterministic xorshift noise, so the example needs no data and no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
}

struct Object {
    class: i64,
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

struct Sample {
    gray: Vec<u8>,
    objects: Vec<Object>,
}

fn make_sample(rng: &mut Rng) -> Sample {
    let mut gray: Vec<u8> = (0..SIZE * SIZE).map(|_| rng.below(90) as u8).collect();
    let mut objects = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let class = 1 + i64::from(rng.below(2));
        // Cars are wide, people are tall.
        let (w, h) = if class == 1 {
            (10 + rng.below(8), 5 + rng.below(4))
        } else {
            (4 + rng.below(3), 10 + rng.below(8))
        };
        let (x0, y0) = (rng.below(SIZE - w), rng.below(SIZE - h));
        let brightness = 150 + rng.below(100) as u8;
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                gray[(y * SIZE + x) as usize] = brightness;
            }
        }
        objects.push(Object {
            class,
            x0,
            y0,
            x1: x0 + w,
            y1: y0 + h,
        });
    }
    Sample { gray, objects }
}

/// The toy detector: threshold, then one box per 4-connected bright region.
fn detect(gray: &[u8], threshold: u8) -> Vec<Object> {
    let mut seen = vec![false; gray.len()];
    let mut found = Vec::new();
    for start in 0..gray.len() {
        if seen[start] || gray[start] < threshold {
            continue;
        }
        let (mut x0, mut y0, mut x1, mut y1) = (SIZE, SIZE, 0, 0);
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(i) = stack.pop() {
            let (x, y) = (i as u32 % SIZE, i as u32 / SIZE);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            let mut push = |j: usize| {
                if !seen[j] && gray[j] >= threshold {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                push(i - 1);
            }
            if x + 1 < SIZE {
                push(i + 1);
            }
            if y > 0 {
                push(i - SIZE as usize);
            }
            if y + 1 < SIZE {
                push(i + SIZE as usize);
            }
        }
        if (x1 - x0) * (y1 - y0) >= 12 {
            let class = if x1 - x0 >= y1 - y0 { 1 } else { 2 };
            found.push(Object {
                class,
                x0,
                y0,
                x1,
                y1,
            });
        }
    }
    found
}

fn iou(a: &Object, b: &Object) -> f64 {
    let ix = a.x1.min(b.x1).saturating_sub(a.x0.max(b.x0));
    let iy = a.y1.min(b.y1).saturating_sub(a.y0.max(b.y0));
    let inter = f64::from(ix * iy);
    let area = |o: &Object| f64::from((o.x1 - o.x0) * (o.y1 - o.y0));
    inter / (area(a) + area(b) - inter)
}

fn boxes(objects: &[Object], scores: Option<&[f64]>) -> Boxes {
    let f = f64::from(SIZE);
    Boxes::new(
        objects
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let b = BoundingBox::min_max(
                    f64::from(o.x0) / f,
                    f64::from(o.y0) / f,
                    f64::from(o.x1) / f,
                    f64::from(o.y1) / f,
                )
                .class_id(o.class)
                .caption(CLASSES[o.class as usize].1);
                match scores {
                    Some(s) => b.score("iou", s[i]),
                    None => b,
                }
            })
            .collect(),
    )
    .class_labels(CLASSES)
}

fn main() -> Result<()> {
    let run = labbook::init(
        Settings::new("labbook-detection")
            .name("toy-detector_SCORE_PLACEHOLDER")
            .score_metrics(["val/f1"])
            .tags(["synthetic", "media"])
            .config(
                &serde_json::json!({"image_size": SIZE, "classes": ["car", "person"], "epochs": 4}),
            ),
    )?;
    run.define_metric(Metric::new("val/*").step_metric("epoch"))?;
    run.define_metric(Metric::new("val/f1").summary(Summary::Max))?;
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let val: Vec<Sample> = (0..64).map(|_| make_sample(&mut rng)).collect();
    let mut threshold = 100u8;
    let mut frames = Vec::new();

    for epoch in 1..=4u32 {
        // "Training": try thresholds around the current one on fresh samples, keep the best.
        let train: Vec<Sample> = (0..32).map(|_| make_sample(&mut rng)).collect();
        let score = |t: u8| -> f64 {
            train
                .iter()
                .map(|s| {
                    detect(&s.gray, t)
                        .iter()
                        .filter(|d| s.objects.iter().any(|o| iou(d, o) > 0.5))
                        .count() as f64
                })
                .sum()
        };
        threshold = [
            threshold.saturating_sub(15),
            threshold,
            threshold.saturating_add(15),
        ]
        .into_iter()
        .max_by(|a, b| score(*a).total_cmp(&score(*b)))
        .unwrap_or(threshold);
        run.log([
            ("train/threshold", Value::from(threshold)),
            ("epoch", Value::from(epoch)),
        ])?;

        let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
        let mut ious = Vec::new();
        let mut shown = Vec::new();
        for (i, s) in val.iter().enumerate() {
            let found = detect(&s.gray, threshold);
            let scores: Vec<f64> = found
                .iter()
                .map(|d| s.objects.iter().map(|o| iou(d, o)).fold(0.0, f64::max))
                .collect();
            tp += scores.iter().filter(|&&x| x > 0.5).count();
            fp += scores.iter().filter(|&&x| x <= 0.5).count();
            fn_ += s
                .objects
                .iter()
                .filter(|o| !found.iter().any(|d| iou(d, o) > 0.5))
                .count();
            ious.extend(&scores);
            if i < 4 {
                let mask: Vec<u8> = (0..SIZE * SIZE)
                    .map(|p| {
                        let (x, y) = (p % SIZE, p / SIZE);
                        s.objects
                            .iter()
                            .find(|o| x >= o.x0 && x < o.x1 && y >= o.y0 && y < o.y1)
                            .map_or(0, |o| o.class as u8)
                    })
                    .collect();
                let img = Image::gray(SIZE, SIZE, s.gray.clone())?
                    .caption(format!(
                        "sample {i}: {} objects, {} found",
                        s.objects.len(),
                        found.len()
                    ))
                    .boxes("ground_truth", boxes(&s.objects, None))?
                    .boxes("predictions", boxes(&found, Some(&scores)))?
                    .mask(
                        "segmentation",
                        Mask::new(SIZE, SIZE, mask)?.class_labels(CLASSES),
                    )?;
                shown.push(img);
            }
            if i == 0 {
                frames.extend(s.gray.iter().flat_map(|&g| [g, g, g]));
            }
        }
        let precision = tp as f64 / (tp + fp).max(1) as f64;
        let recall = tp as f64 / (tp + fn_).max(1) as f64;
        let f1 = 2.0 * precision * recall / (precision + recall).max(1e-9);
        run.log([
            ("val/precision", Value::from(precision)),
            ("val/recall", Value::from(recall)),
            ("val/f1", Value::from(f1)),
            ("val/iou", Value::from(Histogram::from_f64(ious).bins(20)?)),
            ("val/examples", Value::from(shown)),
            ("epoch", Value::from(epoch)),
        ])?;
    }
    run.log([
        (
            "val/first_sample_by_epoch",
            Value::from(
                Video::from_frames(4, SIZE, SIZE, 3, frames, 2)?
                    .caption("sample 0, one frame per epoch"),
            ),
        ),
        (
            "report",
            Value::from(Html::new(format!(
                "<h2>Toy detector</h2><p>final threshold {threshold}</p>"
            ))),
        ),
    ])?;
    // The banner says where the run is and how to upload it.
    let report = run.finish()?;
    println!("{}: {} rows logged", report.name, report.rows);
    Ok(())
}
