//! Images: raw pixels (gray, RGB, RGBA; HWC or CHW; u8 or f32 in [0, 1]), an
//! `image::DynamicImage`, or an encoded PNG/JPEG/GIF. Encoding and hashing happen on the
//! worker.

use std::io::Cursor;
use std::path::Path;

use image::{ExtendedColorType, ImageEncoder, ImageFormat, ImageReader};

use super::MediaContext;
use super::files::write_media;
use super::overlays::{Boxes, Mask};
use crate::error::{Error, Result};
use crate::value::Value;

/// How the pixels of a raw buffer are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Height, width, channels: `[y][x][c]` (what image files and most libraries use).
    Hwc,
    /// Channels, height, width: `[c][y][x]` (what PyTorch-style tensors use).
    Chw,
}

#[derive(Clone, Debug, PartialEq)]
enum Pixels {
    U8 {
        width: u32,
        height: u32,
        channels: u8,
        layout: Layout,
        data: Vec<u8>,
    },
    F32 {
        width: u32,
        height: u32,
        channels: u8,
        layout: Layout,
        data: Vec<f32>,
    },
    Encoded {
        format: ImageFormat,
        width: u32,
        height: u32,
        bytes: Vec<u8>,
    },
}

/// An image to log, as W&B's `wandb.Image`.
///
/// The pixels are moved in as they are; converting, PNG encoding, hashing and writing the
/// file happen on the worker thread, so logging an image costs the training loop about as
/// much as moving a `Vec`.
///
/// ```
/// use labbook_core::Value;
/// use labbook_core::media::{Image, Layout};
/// let pixels = vec![0u8; 64 * 64 * 3];
/// let img = Image::from_u8(64, 64, 3, Layout::Hwc, pixels)?.caption("epoch 1");
/// let v = Value::from(img);
/// # let _ = v;
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pixels: Pixels,
    pub(super) caption: Option<String>,
    grouping: Option<i64>,
    boxes: Vec<(String, Boxes)>,
    masks: Vec<(String, Mask)>,
}

fn bad(reason: String) -> Error {
    Error::InvalidMedia(reason)
}

fn check_shape(width: u32, height: u32, channels: u8, len: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(bad(format!(
            "an image must not be empty (got {width}x{height})"
        )));
    }
    if !matches!(channels, 1 | 3 | 4) {
        return Err(bad(format!(
            "an image has 1 (gray), 3 (RGB) or 4 (RGBA) channels, not {channels}"
        )));
    }
    let want = (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(channels as usize));
    if want != Some(len) {
        return Err(bad(format!(
            "a {width}x{height} image with {channels} channels needs {} values, got {len}",
            want.map_or_else(|| "too many".to_owned(), |n| n.to_string())
        )));
    }
    Ok(())
}

/// The pixels of a batch of images as read from a tensor: floats in [0, 1] or bytes.
#[derive(Clone, Debug, PartialEq)]
pub enum BatchPixels {
    /// Float pixels in [0, 1] (clamped when encoded).
    F32(Vec<f32>),
    /// 8-bit pixels.
    U8(Vec<u8>),
}

fn short(len: usize, n: usize, per: usize) -> crate::error::Error {
    crate::error::Error::InvalidMedia(format!(
        "{len} pixel values cannot hold {n} images of {per} values each"
    ))
}

impl Image {
    /// An image from 8-bit pixels.
    pub fn from_u8(
        width: u32,
        height: u32,
        channels: u8,
        layout: Layout,
        data: Vec<u8>,
    ) -> Result<Image> {
        check_shape(width, height, channels, data.len())?;
        Ok(Image::new(Pixels::U8 {
            width,
            height,
            channels,
            layout,
            data,
        }))
    }

    /// An image from float pixels in [0, 1] (scaled to 0..=255; values outside are clamped
    /// and NaN becomes 0).
    pub fn from_f32(
        width: u32,
        height: u32,
        channels: u8,
        layout: Layout,
        data: Vec<f32>,
    ) -> Result<Image> {
        check_shape(width, height, channels, data.len())?;
        Ok(Image::new(Pixels::F32 {
            width,
            height,
            channels,
            layout,
            data,
        }))
    }

    /// The first `n` images of a batch whose pixels lie one image after the other (a
    /// tensor's `[n, c, h, w]` or `[n, h, w, c]` data), each `width` × `height` with
    /// `channels` channels in `layout`. The framework adapters read a tensor and call this.
    ///
    /// ```
    /// use labbook_core::media::{BatchPixels, Image, Layout};
    /// let px = BatchPixels::U8(vec![0; 2 * 3 * 4 * 4]);
    /// let imgs = Image::split_batch(&px, 2, 3, 4, 4, Layout::Chw)?;
    /// assert_eq!((imgs.len(), imgs[1].size()), (2, (4, 4)));
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn split_batch(
        pixels: &BatchPixels,
        n: usize,
        channels: u8,
        width: u32,
        height: u32,
        layout: Layout,
    ) -> Result<Vec<Image>> {
        let per = usize::from(channels) * width as usize * height as usize;
        (0..n)
            .map(|i| {
                let range = i * per..(i + 1) * per;
                match pixels {
                    BatchPixels::F32(v) => {
                        let data = v.get(range).ok_or_else(|| short(v.len(), n, per))?;
                        Image::from_f32(width, height, channels, layout, data.to_vec())
                    }
                    BatchPixels::U8(v) => {
                        let data = v.get(range).ok_or_else(|| short(v.len(), n, per))?;
                        Image::from_u8(width, height, channels, layout, data.to_vec())
                    }
                }
            })
            .collect()
    }

    /// An RGB image, `[y][x][rgb]`.
    pub fn rgb(width: u32, height: u32, data: Vec<u8>) -> Result<Image> {
        Image::from_u8(width, height, 3, Layout::Hwc, data)
    }

    /// A grayscale image.
    pub fn gray(width: u32, height: u32, data: Vec<u8>) -> Result<Image> {
        Image::from_u8(width, height, 1, Layout::Hwc, data)
    }

    /// An image from the `image` crate; 8-bit gray, RGB and RGBA are moved without a copy.
    pub fn from_dynamic(img: image::DynamicImage) -> Image {
        let (w, h) = (img.width(), img.height());
        let (channels, data) = match img {
            image::DynamicImage::ImageLuma8(b) => (1, b.into_raw()),
            image::DynamicImage::ImageRgb8(b) => (3, b.into_raw()),
            image::DynamicImage::ImageRgba8(b) => (4, b.into_raw()),
            other => (4, other.into_rgba8().into_raw()),
        };
        Image::new(Pixels::U8 {
            width: w,
            height: h,
            channels,
            layout: Layout::Hwc,
            data,
        })
    }

    /// An already encoded PNG, JPEG or GIF, kept byte for byte.
    pub fn from_encoded(bytes: Vec<u8>) -> Result<Image> {
        let reader = ImageReader::new(Cursor::new(&bytes))
            .with_guessed_format()
            .map_err(|e| bad(format!("cannot read the image: {e}")))?;
        let format = match reader.format() {
            Some(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif)) => f,
            Some(other) => {
                return Err(bad(format!(
                    "{other:?} images are not supported; use PNG, JPEG or GIF"
                )));
            }
            None => return Err(bad("the bytes are not a PNG, JPEG or GIF image".into())),
        };
        let (width, height) = reader
            .into_dimensions()
            .map_err(|e| bad(format!("cannot read the image size: {e}")))?;
        Ok(Image::new(Pixels::Encoded {
            format,
            width,
            height,
            bytes,
        }))
    }

    /// An image file (PNG, JPEG or GIF), kept byte for byte.
    pub fn open(path: impl AsRef<Path>) -> Result<Image> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(Error::io("could not read the image", path))?;
        Image::from_encoded(bytes)
    }

    /// An image file (PNG, JPEG or GIF) decoded and converted to 8-bit RGB: gray is
    /// spread over the three channels, alpha and palettes are dropped, 16-bit channels are
    /// narrowed (W&B's `wandb.Image(path, mode="RGB")`). Re-encoded as PNG when logged.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.png");
    /// # image::RgbaImage::new(4, 2).save(&path)?;
    /// let img = labbook_core::media::Image::open_rgb(&path)?;
    /// assert_eq!(img.size(), (4, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_rgb(path: impl AsRef<Path>) -> Result<Image> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(Error::io("could not read the image", path))?;
        Image::from_encoded(bytes.clone())?;
        let decoded = image::load_from_memory(&bytes)
            .map_err(|e| bad(format!("cannot decode {}: {e}", path.display())))?;
        Ok(Image::from_dynamic(image::DynamicImage::ImageRgb8(
            decoded.into_rgb8(),
        )))
    }

    fn new(pixels: Pixels) -> Image {
        Image {
            pixels,
            caption: None,
            grouping: None,
            boxes: Vec::new(),
            masks: Vec::new(),
        }
    }

    /// A caption shown under the image.
    pub fn caption(mut self, caption: impl Into<String>) -> Image {
        self.caption = Some(caption.into());
        self
    }

    /// W&B's `grouping`: how many consecutive images of a list belong together.
    pub fn grouping(mut self, n: i64) -> Image {
        self.grouping = Some(n);
        self
    }

    /// Adds a named set of bounding boxes (`"predictions"`, `"ground_truth"`, ...). Boxes
    /// outside the image, or of a class without a label, are refused.
    ///
    /// ```
    /// use labbook_core::media::{BoundingBox, Boxes, Image};
    /// let img = Image::gray(64, 64, vec![0; 64 * 64])?
    ///     .boxes("predictions", Boxes::new(vec![BoundingBox::min_max(0.1, 0.1, 0.5, 0.5).class_id(1)]).class_labels([(1, "cat")]))?;
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn boxes(mut self, name: impl Into<String>, boxes: Boxes) -> Result<Image> {
        let (w, h) = self.size();
        boxes.check(w, h)?;
        self.boxes.push((name.into(), boxes));
        Ok(self)
    }

    /// Adds a named segmentation mask of class ids, the size of the image.
    pub fn mask(mut self, name: impl Into<String>, mask: Mask) -> Result<Image> {
        let (w, h) = self.size();
        mask.check(w, h)?;
        self.masks.push((name.into(), mask));
        Ok(self)
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        match &self.pixels {
            Pixels::U8 { width, height, .. }
            | Pixels::F32 { width, height, .. }
            | Pixels::Encoded { width, height, .. } => (*width, *height),
        }
    }

    /// Builders check their pixels; an image from `from_dynamic` or a decoded file may
    /// still be empty, which no encoder takes.
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        match self.size() {
            (0, _) | (_, 0) => {
                let (w, h) = self.size();
                Err(format!("an image must not be empty (got {w}x{h})"))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        match &self.pixels {
            Pixels::U8 { data, .. } => data.len(),
            Pixels::F32 { data, .. } => data.len() * 4,
            Pixels::Encoded { bytes, .. } => bytes.len(),
        }
    }

    /// The file bytes and format name (`png`, `jpg`, `gif`).
    pub(super) fn encode(&self) -> std::result::Result<(Vec<u8>, &'static str), String> {
        let (width, height, channels, hwc) = match &self.pixels {
            Pixels::Encoded { format, bytes, .. } => {
                let name = match format {
                    ImageFormat::Jpeg => "jpg",
                    ImageFormat::Gif => "gif",
                    _ => "png",
                };
                return Ok((bytes.clone(), name));
            }
            Pixels::U8 {
                width,
                height,
                channels,
                layout,
                data,
            } => (
                *width,
                *height,
                *channels,
                to_hwc(data, *width, *height, *channels, *layout),
            ),
            Pixels::F32 {
                width,
                height,
                channels,
                layout,
                data,
            } => {
                let bytes: Vec<u8> = data
                    .iter()
                    .map(|&x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
                    .collect();
                (
                    *width,
                    *height,
                    *channels,
                    to_hwc(&bytes, *width, *height, *channels, *layout),
                )
            }
        };
        let color = match channels {
            1 => ExtendedColorType::L8,
            3 => ExtendedColorType::Rgb8,
            _ => ExtendedColorType::Rgba8,
        };
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(&hwc, width, height, color)
            .map_err(|e| format!("could not encode a PNG: {e}"))?;
        Ok((out, "png"))
    }

    /// Writes the image file and returns its `image-file` JSON.
    pub(crate) fn materialize(
        self,
        key: &str,
        ctx: &mut MediaContext<'_>,
    ) -> std::result::Result<Value, String> {
        let (bytes, format) = self.encode()?;
        let written = write_media(ctx.files_dir, "media/images", key, ctx.step, format, &bytes)?;
        ctx.written.push(written.path.clone());
        let (width, height) = self.size();
        let mut fields = written.fields("image-file");
        fields.extend([
            ("format".to_owned(), Value::from(format)),
            ("width".to_owned(), Value::from(width)),
            ("height".to_owned(), Value::from(height)),
        ]);
        if let Some(c) = self.caption {
            fields.push(("caption".to_owned(), Value::from(c)));
        }
        if let Some(g) = self.grouping {
            fields.push(("grouping".to_owned(), Value::from(g)));
        }
        let (boxes, masks) = overlays(key, &self.boxes, &self.masks, ctx)?;
        fields.extend(boxes.map(|b| ("boxes".to_owned(), b)));
        fields.extend(masks.map(|m| ("masks".to_owned(), m)));
        Ok(Value::Map(fields))
    }
}

/// Writes an image's box sets and masks; returns the `boxes` and `masks` JSON and records
/// their class labels in the config, as the official client does.
fn overlays(
    key: &str,
    boxes: &[(String, Boxes)],
    masks: &[(String, Mask)],
    ctx: &mut MediaContext<'_>,
) -> std::result::Result<(Option<Value>, Option<Value>), String> {
    let file_ref = |kind: &str, w: super::files::Written| Value::Map(w.fields(kind));
    let labels_entry = |kind: &str, name: &str, labels: Value| {
        let k = format!("{key}_wandb_delimeter_{name}");
        (
            vec!["_wandb".to_owned(), kind.to_owned(), k.clone()],
            Value::map([
                ("type", Value::from(kind)),
                ("key", Value::from(k)),
                ("value", labels),
            ]),
        )
    };
    let mut box_fields = Vec::new();
    for (name, b) in boxes {
        let w = write_media(
            ctx.files_dir,
            "media/metadata/boxes2D",
            key,
            ctx.step,
            "boxes2D.json",
            b.file_json().as_bytes(),
        )?;
        ctx.written.push(w.path.clone());
        box_fields.push((name.clone(), file_ref("boxes2D", w)));
        if !b.labels.is_empty() {
            ctx.config.push(labels_entry(
                "bounding_box/class_labels",
                name,
                b.labels.value(),
            ));
        }
    }
    let mut mask_fields = Vec::new();
    for (name, m) in masks {
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&m.class_ids, m.width, m.height, ExtendedColorType::L8)
            .map_err(|e| format!("could not encode a mask: {e}"))?;
        let w = write_media(
            ctx.files_dir,
            "media/images/mask",
            key,
            ctx.step,
            "mask.png",
            &png,
        )?;
        ctx.written.push(w.path.clone());
        mask_fields.push((name.clone(), file_ref("mask", w)));
        if !m.labels.is_empty() {
            ctx.config
                .push(labels_entry("mask/class_labels", name, m.labels.value()));
        }
    }
    let wrap = |f: Vec<(String, Value)>| (!f.is_empty()).then_some(Value::Map(f));
    Ok((wrap(box_fields), wrap(mask_fields)))
}

/// Several images under one key: W&B's `images/separated`.
pub(crate) fn materialize_list(
    key: &str,
    images: Vec<Image>,
    ctx: &mut MediaContext<'_>,
) -> std::result::Result<Value, String> {
    let (width, height) = images[0].size();
    let mut filenames = Vec::with_capacity(images.len());
    let mut captions = Vec::with_capacity(images.len());
    let mut format = "png";
    let count = images.len();
    let (mut all_boxes, mut all_masks) = (Vec::new(), Vec::new());
    for img in images {
        let caption = img.caption.clone();
        let (b, m) = overlays(key, &img.boxes, &img.masks, ctx)?;
        all_boxes.push(b.unwrap_or(Value::Null));
        all_masks.push(m.unwrap_or(Value::Null));
        let (bytes, f) = img.encode()?;
        format = f;
        let written = write_media(ctx.files_dir, "media/images", key, ctx.step, f, &bytes)?;
        ctx.written.push(written.path.clone());
        filenames.push(Value::from(written.path));
        captions.push(caption);
    }
    let mut fields = vec![
        ("_type".to_owned(), Value::from("images/separated")),
        ("width".to_owned(), Value::from(width)),
        ("height".to_owned(), Value::from(height)),
        ("format".to_owned(), Value::from(format)),
        ("count".to_owned(), Value::from(count)),
        ("filenames".to_owned(), Value::List(filenames)),
    ];
    if all_masks.iter().any(|m| *m != Value::Null) {
        fields.push(("all_masks".to_owned(), Value::List(all_masks)));
    }
    if all_boxes.iter().any(|b| *b != Value::Null) {
        fields.push(("all_boxes".to_owned(), Value::List(all_boxes)));
    }
    // As the official client: captions when the first image has one, null where one lacks it.
    if captions.first().is_some_and(Option::is_some) {
        let captions = captions.into_iter().map(Value::from).collect();
        fields.push(("captions".to_owned(), Value::List(captions)));
    }
    Ok(Value::Map(fields))
}

/// CHW to HWC (the only layout PNG knows); HWC is returned as is.
fn to_hwc(data: &[u8], width: u32, height: u32, channels: u8, layout: Layout) -> Vec<u8> {
    if layout == Layout::Hwc || channels == 1 {
        return data.to_vec();
    }
    let (w, h, c) = (width as usize, height as usize, channels as usize);
    let plane = w * h;
    let mut out = vec![0u8; data.len()];
    for (i, px) in out.chunks_exact_mut(c).enumerate() {
        for (ch, v) in px.iter_mut().enumerate() {
            *v = data[ch * plane + i];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(dir: &Path) -> MediaContext<'_> {
        MediaContext {
            files_dir: dir,
            step: Some(4),
            written: Vec::new(),
            config: Vec::new(),
            artifacts: Default::default(),
        }
    }

    fn decode(path: &Path) -> image::DynamicImage {
        image::open(path).unwrap()
    }

    #[test]
    fn an_empty_image_from_the_image_crate_is_refused_before_the_worker() {
        // Failed before: accepted at `log`, and only the worker's encoder refused it.
        let img = Image::from_dynamic(image::DynamicImage::new_rgb8(0, 0));
        let e = img.validate().unwrap_err();
        assert!(e.contains("must not be empty") && e.contains("0x0"), "{e}");
        let img = Image::from_dynamic(image::DynamicImage::new_luma8(5, 0));
        assert!(img.validate().unwrap_err().contains("5x0"));
        assert!(
            Image::from_dynamic(image::DynamicImage::new_luma8(1, 1))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn wrong_sizes_and_channel_counts_are_refused_with_the_numbers() {
        let e = Image::from_u8(4, 4, 3, Layout::Hwc, vec![0; 47]).unwrap_err();
        assert!(e.to_string().contains("needs 48 values, got 47"), "{e}");
        let e = Image::from_u8(0, 4, 3, Layout::Hwc, vec![]).unwrap_err();
        assert!(e.to_string().contains("must not be empty"), "{e}");
        let e = Image::from_u8(2, 2, 2, Layout::Hwc, vec![0; 8]).unwrap_err();
        assert!(
            e.to_string().contains("1 (gray), 3 (RGB) or 4 (RGBA)"),
            "{e}"
        );
        assert!(Image::from_encoded(b"not an image".to_vec()).is_err());
    }

    #[test]
    fn chw_f32_and_hwc_u8_give_the_same_pixels() {
        let d = tempfile::tempdir().unwrap();
        let (w, h) = (3u32, 2u32);
        let hwc: Vec<u8> = (0..w * h * 3).map(|i| (i * 10) as u8).collect();
        let mut chw = vec![0f32; hwc.len()];
        for y in 0..h as usize {
            for x in 0..w as usize {
                for c in 0..3 {
                    chw[c * 6 + y * 3 + x] = hwc[(y * 3 + x) * 3 + c] as f32 / 255.0;
                }
            }
        }
        let mut c = ctx(d.path());
        let a = Image::rgb(w, h, hwc.clone())
            .unwrap()
            .materialize("a", &mut c)
            .unwrap();
        let b = Image::from_f32(w, h, 3, Layout::Chw, chw)
            .unwrap()
            .materialize("b", &mut c)
            .unwrap();
        let pa = decode(&d.path().join(&c.written[0])).into_rgb8().into_raw();
        let pb = decode(&d.path().join(&c.written[1])).into_rgb8().into_raw();
        assert_eq!(pa, hwc);
        assert_eq!(pb, hwc);
        let json = a.to_serde_json();
        assert_eq!(json["_type"], "image-file");
        assert_eq!(
            (json["width"].as_u64(), json["height"].as_u64()),
            (Some(3), Some(2))
        );
        assert_eq!(json["format"], "png");
        let path = json["path"].as_str().unwrap();
        assert!(
            path.starts_with("media/images/a_4_") && path.ends_with(".png"),
            "{path}"
        );
        assert_eq!(
            json["sha256"].as_str().unwrap()[..20],
            path[path.len() - 24..path.len() - 4]
        );
        assert_eq!(
            b.to_serde_json()["path"].as_str().unwrap()[..17],
            *"media/images/b_4_"
        );
    }

    #[test]
    fn open_rgb_turns_gray_and_rgba_files_into_rgb() {
        let d = tempfile::tempdir().unwrap();
        let gray = d.path().join("g.png");
        image::GrayImage::from_raw(2, 1, vec![10, 200])
            .unwrap()
            .save(&gray)
            .unwrap();
        let rgba = d.path().join("c.png");
        image::RgbaImage::from_raw(1, 1, vec![1, 2, 3, 0])
            .unwrap()
            .save(&rgba)
            .unwrap();
        for (path, want) in [
            (&gray, vec![10, 10, 10, 200, 200, 200]),
            (&rgba, vec![1, 2, 3]),
        ] {
            let img = Image::open_rgb(path).unwrap();
            let Pixels::U8 { channels, data, .. } = &img.pixels else {
                panic!("decoded")
            };
            assert_eq!((*channels, data), (3, &want));
        }
        std::fs::write(d.path().join("x.png"), b"not an image").unwrap();
        assert!(Image::open_rgb(d.path().join("x.png")).is_err());
    }

    #[test]
    fn encoded_images_are_kept_byte_for_byte() {
        let d = tempfile::tempdir().unwrap();
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&[1, 2, 3, 4], 2, 2, ExtendedColorType::L8)
            .unwrap();
        let img = Image::from_encoded(png.clone()).unwrap().caption("c");
        assert_eq!(img.size(), (2, 2));
        let mut c = ctx(d.path());
        let v = img.materialize("k", &mut c).unwrap().to_serde_json();
        assert_eq!(std::fs::read(d.path().join(&c.written[0])).unwrap(), png);
        assert_eq!(v["caption"], "c");
    }

    #[test]
    fn a_list_becomes_images_separated() {
        let d = tempfile::tempdir().unwrap();
        let imgs = vec![
            Image::gray(2, 2, vec![0; 4]).unwrap().caption("first"),
            Image::gray(2, 2, vec![255; 4]).unwrap(),
        ];
        let mut c = ctx(d.path());
        let v = materialize_list("batch", imgs, &mut c)
            .unwrap()
            .to_serde_json();
        assert_eq!(v["_type"], "images/separated");
        assert_eq!(v["count"], 2);
        assert_eq!(v["filenames"].as_array().unwrap().len(), 2);
        assert_eq!(v["captions"], serde_json::json!(["first", null]));
        assert_eq!(c.written.len(), 2);
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::media::{BoundingBox, Boxes, Mask};
    use crate::testing::{CASES, edge_f64};

    fn dim() -> impl Strategy<Value = u32> {
        prop_oneof![Just(0u32), 1u32..6, Just(u32::MAX), any::<u32>()]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Any shape and any number of pixels: an image exactly when they agree, never a
        /// panic, never an allocation of the claimed size.
        #[test]
        fn shapes_are_checked_not_trusted(
            w in dim(), h in dim(), c in any::<u8>(), len in 0usize..200, f32_pixels in any::<bool>(),
        ) {
            let fits = w > 0 && h > 0 && matches!(c, 1 | 3 | 4)
                && (w as usize).checked_mul(h as usize).and_then(|n| n.checked_mul(c as usize)) == Some(len);
            let made = if f32_pixels {
                Image::from_f32(w, h, c, Layout::Chw, vec![0.5; len])
            } else {
                Image::from_u8(w, h, c, Layout::Hwc, vec![7; len])
            };
            prop_assert_eq!(made.is_ok(), fits);
            if let Ok(img) = made {
                prop_assert!(img.validate().is_ok());
                let (bytes, format) = img.encode().map_err(TestCaseError::fail)?;
                prop_assert_eq!(format, "png");
                prop_assert!(image::load_from_memory(&bytes).is_ok());
            }
        }

        /// Boxes anywhere (non-finite, inverted, outside, unlabelled) are taken or refused
        /// with a reason.
        #[test]
        fn boxes_are_checked(
            coords in prop::collection::vec(edge_f64(), 4),
            pixels in any::<bool>(), class in any::<i64>(), labelled in any::<bool>(),
        ) {
            let img = Image::gray(4, 3, vec![0; 12]).unwrap();
            let mut b = BoundingBox::min_max(coords[0], coords[1], coords[2], coords[3]).class_id(class);
            if pixels {
                b = b.pixels();
            }
            let mut boxes = Boxes::new(vec![b]);
            if labelled {
                boxes = boxes.class_labels([(1, "one")]);
            }
            let _ = img.boxes("p", boxes);
        }

        /// Masks of any size and ids are taken or refused with a reason.
        #[test]
        fn masks_are_checked(
            w in dim(), h in dim(), ids in prop::collection::vec(any::<u8>(), 0..16), labelled in any::<bool>(),
        ) {
            if let Ok(mut m) = Mask::new(w, h, ids) {
                if labelled {
                    m = m.class_labels([(0, "bg")]);
                }
                let img = Image::gray(w.min(4), h.min(4), vec![0; (w.min(4) * h.min(4)) as usize]).unwrap();
                let _ = img.mask("m", m);
            }
        }
    }
}
