//! The synthetic vision task of the examples, framework-free: squares, discs, crosses and
//! triangles drawn into 28x28 images, a quarter of them hard (heavy noise, an occluding
//! block, faint ink). Deterministic for a seed, so every example and benchmark trains on
//! the same data without downloading any.

pub(crate) const CLASSES: [&str; 4] = ["square", "disc", "cross", "triangle"];
pub(crate) const SIDE: usize = 28;

#[derive(Clone, Debug)]
pub(crate) struct Sample {
    /// 28x28 pixels in [0, 1], row by row.
    pub pixels: Vec<f32>,
    /// The index into [`CLASSES`].
    pub label: i64,
}

pub(super) struct Rng(pub u64);
impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
}

/// One shape; a quarter of them are hard: heavy noise, an occluding block, or faint.
pub(super) fn draw(rng: &mut Rng, label: i64) -> Sample {
    let mut px = vec![0f32; SIDE * SIDE];
    let r = rng.range(4.0, 10.0);
    let (cx, cy) = (rng.range(r + 1.0, 27.0 - r), rng.range(r + 1.0, 27.0 - r));
    let hard = rng.unit() < 0.25;
    let ink = if hard && rng.unit() < 0.3 { 0.35 } else { 1.0 };
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let on = match label {
                0 => dx.abs() <= r && dy.abs() <= r,
                1 => dx * dx + dy * dy <= r * r,
                2 => {
                    (dx.abs() <= r / 3.0 && dy.abs() <= r) || (dy.abs() <= r / 3.0 && dx.abs() <= r)
                }
                _ => dy >= -r && dy <= r && dx.abs() <= (dy + r) / 2.0,
            };
            if on {
                px[y * SIDE + x] = ink;
            }
        }
    }
    if hard {
        let noise = rng.range(0.2, 0.6);
        for p in px.iter_mut() {
            *p = (*p + noise * (rng.unit() - 0.5)).clamp(0.0, 1.0);
        }
        if rng.unit() < 0.5 {
            let (ox, oy) = (rng.range(0.0, 16.0) as usize, rng.range(0.0, 16.0) as usize);
            for y in oy..oy + 12 {
                for x in ox..ox + 12 {
                    px[y * SIDE + x] = 0.0;
                }
            }
        }
    }
    Sample { pixels: px, label }
}

/// `n` samples, classes in turn, drawn from `seed`.
pub(super) fn samples(n: usize, seed: u64) -> Vec<Sample> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..n).map(|i| draw(&mut rng, (i % 4) as i64)).collect()
}
