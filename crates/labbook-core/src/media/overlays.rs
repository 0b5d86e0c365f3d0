//! Overlays on an image: named sets of bounding boxes and named segmentation masks, with
//! class labels, as W&B's `wandb.Image(boxes=..., masks=...)`.

use crate::error::{Error, Result};
use crate::value::Value;

/// Where a box is, in fractions of the image (the default) or in pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Position {
    MinMax {
        min_x: f64,
        min_y: f64,
        max_x: f64,
        max_y: f64,
    },
    Middle {
        x: f64,
        y: f64,
        width: f64,
        height: f64,
    },
}

/// One bounding box.
///
/// ```
/// use labbook_core::media::BoundingBox;
/// let b = BoundingBox::min_max(0.1, 0.2, 0.5, 0.6).class_id(1).caption("car 0.93").score("confidence", 0.93);
/// let p = BoundingBox::middle(32.0, 32.0, 10.0, 8.0).pixels().class_id(2);
/// # let _ = (b, p);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BoundingBox {
    position: Position,
    class_id: i64,
    caption: Option<String>,
    scores: Vec<(String, f64)>,
    pixels: bool,
}

impl BoundingBox {
    /// A box from its corners (fractions of the image unless [`BoundingBox::pixels`]).
    pub fn min_max(min_x: f64, min_y: f64, max_x: f64, max_y: f64) -> BoundingBox {
        BoundingBox::new(Position::MinMax {
            min_x,
            min_y,
            max_x,
            max_y,
        })
    }

    /// A box from its centre and size.
    pub fn middle(x: f64, y: f64, width: f64, height: f64) -> BoundingBox {
        BoundingBox::new(Position::Middle {
            x,
            y,
            width,
            height,
        })
    }

    fn new(position: Position) -> BoundingBox {
        BoundingBox {
            position,
            class_id: 0,
            caption: None,
            scores: Vec::new(),
            pixels: false,
        }
    }

    /// Coordinates are in pixels rather than fractions of the image.
    pub fn pixels(mut self) -> BoundingBox {
        self.pixels = true;
        self
    }

    /// The class of the box (a key of the set's class labels).
    pub fn class_id(mut self, id: i64) -> BoundingBox {
        self.class_id = id;
        self
    }

    /// Text shown on the box.
    pub fn caption(mut self, caption: impl Into<String>) -> BoundingBox {
        self.caption = Some(caption.into());
        self
    }

    /// A named score (confidence, IoU, ...) the dashboard can filter boxes by.
    pub fn score(mut self, name: impl Into<String>, value: f64) -> BoundingBox {
        self.scores.push((name.into(), value));
        self
    }

    /// (min_x, min_y, max_x, max_y) in the box's own units.
    fn extent(&self) -> (f64, f64, f64, f64) {
        match self.position {
            Position::MinMax {
                min_x,
                min_y,
                max_x,
                max_y,
            } => (min_x, min_y, max_x, max_y),
            Position::Middle {
                x,
                y,
                width,
                height,
            } => (
                x - width / 2.0,
                y - height / 2.0,
                x + width / 2.0,
                y + height / 2.0,
            ),
        }
    }

    fn check(&self, i: usize, width: u32, height: u32, labels: &ClassLabels) -> Result<()> {
        let (x0, y0, x1, y1) = self.extent();
        let (w, h) = if self.pixels {
            (f64::from(width), f64::from(height))
        } else {
            (1.0, 1.0)
        };
        let unit = if self.pixels {
            "pixels"
        } else {
            "fractions of the image"
        };
        if [x0, y0, x1, y1].iter().any(|v| !v.is_finite()) || x0 > x1 || y0 > y1 {
            return Err(Error::InvalidMedia(format!(
                "box {i} has invalid coordinates ({x0}, {y0})-({x1}, {y1})"
            )));
        }
        let eps = 1e-9;
        if x0 < -eps || y0 < -eps || x1 > w + eps || y1 > h + eps {
            return Err(Error::InvalidMedia(format!(
                "box {i} ({x0}, {y0})-({x1}, {y1}) lies outside the {width}x{height} image (coordinates in {unit})"
            )));
        }
        if !labels.allows(self.class_id) {
            return Err(Error::InvalidMedia(format!(
                "box {i} has class id {} that has no class label",
                self.class_id
            )));
        }
        Ok(())
    }

    fn to_value(&self) -> Value {
        let position = match self.position {
            Position::MinMax {
                min_x,
                min_y,
                max_x,
                max_y,
            } => Value::map([
                ("minX", Value::from(min_x)),
                ("maxX", Value::from(max_x)),
                ("minY", Value::from(min_y)),
                ("maxY", Value::from(max_y)),
            ]),
            Position::Middle {
                x,
                y,
                width,
                height,
            } => Value::map([
                ("middle", Value::from(vec![x, y])),
                ("width", Value::from(width)),
                ("height", Value::from(height)),
            ]),
        };
        let mut fields = vec![
            ("position".to_owned(), position),
            ("class_id".to_owned(), Value::from(self.class_id)),
        ];
        if let Some(c) = &self.caption {
            fields.push(("box_caption".to_owned(), Value::from(c.as_str())));
        }
        if !self.scores.is_empty() {
            fields.push((
                "scores".to_owned(),
                Value::Map(
                    self.scores
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::from(*v)))
                        .collect(),
                ),
            ));
        }
        if self.pixels {
            fields.push(("domain".to_owned(), Value::from("pixel")));
        }
        Value::Map(fields)
    }
}

/// Names of class ids, shared by box sets and masks.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ClassLabels(Vec<(i64, String)>);

impl ClassLabels {
    fn from_pairs<S: Into<String>>(labels: impl IntoIterator<Item = (i64, S)>) -> ClassLabels {
        ClassLabels(labels.into_iter().map(|(id, s)| (id, s.into())).collect())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `id` has a label (always true when there are no labels at all).
    fn allows(&self, id: i64) -> bool {
        self.0.is_empty() || self.0.iter().any(|(l, _)| *l == id)
    }

    /// `{"<id>": "<name>", ...}`, as W&B writes class labels.
    pub(crate) fn value(&self) -> Value {
        Value::Map(
            self.0
                .iter()
                .map(|(id, s)| (id.to_string(), Value::from(s.as_str())))
                .collect(),
        )
    }
}

/// A named set of boxes on one image, with the labels of their classes.
///
/// ```
/// use labbook_core::media::{BoundingBox, Boxes};
/// let pred = Boxes::new(vec![BoundingBox::min_max(0.1, 0.1, 0.4, 0.5).class_id(1)])
///     .class_labels([(1, "car"), (2, "person")]);
/// # let _ = pred;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Boxes {
    boxes: Vec<BoundingBox>,
    pub(crate) labels: ClassLabels,
}

impl Boxes {
    /// A set of boxes.
    pub fn new(boxes: Vec<BoundingBox>) -> Boxes {
        Boxes {
            boxes,
            labels: ClassLabels::default(),
        }
    }

    /// Names of the class ids; with labels set, every box's class must have one.
    pub fn class_labels<S: Into<String>>(
        mut self,
        labels: impl IntoIterator<Item = (i64, S)>,
    ) -> Boxes {
        self.labels = ClassLabels::from_pairs(labels);
        self
    }

    pub(crate) fn check(&self, width: u32, height: u32) -> Result<()> {
        self.boxes
            .iter()
            .enumerate()
            .try_for_each(|(i, b)| b.check(i, width, height, &self.labels))
    }

    /// The `.boxes2D.json` file: `{"box_data": [...], "class_labels": {...}}`.
    pub(crate) fn file_json(&self) -> String {
        Value::map([
            (
                "box_data",
                Value::List(self.boxes.iter().map(BoundingBox::to_value).collect()),
            ),
            ("class_labels", self.labels.value()),
        ])
        .to_json()
    }
}

/// A named segmentation mask: one class id per pixel, the size of its image.
///
/// ```
/// use labbook_core::media::Mask;
/// let m = Mask::new(4, 2, vec![0, 0, 1, 1, 0, 2, 2, 0])?.class_labels([(0, "background"), (1, "road"), (2, "car")]);
/// # let _ = m;
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) class_ids: Vec<u8>,
    pub(crate) labels: ClassLabels,
}

impl Mask {
    /// A mask of `width` x `height` class ids, row by row.
    pub fn new(width: u32, height: u32, class_ids: Vec<u8>) -> Result<Mask> {
        if (width as usize).checked_mul(height as usize) != Some(class_ids.len())
            || width == 0
            || height == 0
        {
            return Err(Error::InvalidMedia(format!(
                "a {width}x{height} mask needs {} class ids, got {}",
                width as usize * height as usize,
                class_ids.len()
            )));
        }
        Ok(Mask {
            width,
            height,
            class_ids,
            labels: ClassLabels::default(),
        })
    }

    /// Names of the class ids; with labels set, every id in the mask must have one.
    pub fn class_labels<S: Into<String>>(
        mut self,
        labels: impl IntoIterator<Item = (i64, S)>,
    ) -> Mask {
        self.labels = ClassLabels::from_pairs(labels);
        self
    }

    pub(crate) fn check(&self, width: u32, height: u32) -> Result<()> {
        if (self.width, self.height) != (width, height) {
            return Err(Error::InvalidMedia(format!(
                "the mask is {}x{} but its image is {width}x{height}",
                self.width, self.height
            )));
        }
        if !self.labels.is_empty() {
            let mut seen = [false; 256];
            for &c in &self.class_ids {
                seen[c as usize] = true;
            }
            if let Some(id) = (0..256).find(|&i| seen[i] && !self.labels.allows(i as i64)) {
                return Err(Error::InvalidMedia(format!(
                    "the mask has class id {id} that has no class label"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_outside_the_image_or_with_unknown_classes_are_refused() {
        let b = Boxes::new(vec![BoundingBox::min_max(0.1, 0.1, 1.2, 0.5)]);
        assert!(
            b.check(10, 10)
                .unwrap_err()
                .to_string()
                .contains("outside the 10x10 image")
        );
        let b = Boxes::new(vec![
            BoundingBox::middle(5.0, 5.0, 4.0, 4.0).pixels().class_id(3),
        ])
        .class_labels([(1, "a")]);
        assert!(
            b.check(10, 10)
                .unwrap_err()
                .to_string()
                .contains("class id 3")
        );
        let ok = Boxes::new(vec![
            BoundingBox::middle(5.0, 5.0, 4.0, 4.0).pixels().class_id(1),
        ])
        .class_labels([(1, "a")]);
        assert!(ok.check(10, 10).is_ok());
        assert!(ok.check(4, 4).is_err());
    }

    #[test]
    fn masks_must_match_their_image_and_labels() {
        assert!(Mask::new(2, 2, vec![0; 3]).is_err());
        let m = Mask::new(2, 2, vec![0, 1, 1, 7])
            .unwrap()
            .class_labels([(0, "bg"), (1, "fg")]);
        assert!(
            m.check(2, 2)
                .unwrap_err()
                .to_string()
                .contains("class id 7")
        );
        assert!(
            m.check(3, 2)
                .unwrap_err()
                .to_string()
                .contains("2x2 but its image is 3x2")
        );
    }

    #[test]
    fn the_box_file_is_what_wandb_reads() {
        let b = Boxes::new(vec![
            BoundingBox::min_max(0.1, 0.2, 0.3, 0.4)
                .class_id(1)
                .caption("car")
                .score("conf", 0.5),
            BoundingBox::middle(5.0, 6.0, 2.0, 2.0).pixels().class_id(1),
        ])
        .class_labels([(1, "car")]);
        let v: serde_json::Value = serde_json::from_str(&b.file_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"box_data": [
                {"position": {"minX": 0.1, "maxX": 0.3, "minY": 0.2, "maxY": 0.4}, "class_id": 1, "box_caption": "car", "scores": {"conf": 0.5}},
                {"position": {"middle": [5.0, 6.0], "width": 2.0, "height": 2.0}, "class_id": 1, "domain": "pixel"}
            ], "class_labels": {"1": "car"}})
        );
    }
}
