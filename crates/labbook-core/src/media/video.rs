//! Videos: frames encoded as an animated GIF on the worker, or an encoded file kept as is.

use std::io::Cursor;

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, RgbaImage};

use super::MediaContext;
use super::files::write_media;
use crate::error::{Error, Result};
use crate::value::Value;

#[derive(Clone, Debug, PartialEq)]
enum Data {
    /// `frames` RGB or RGBA images, each `height` x `width`, frame after frame (THWC).
    Frames {
        frames: usize,
        height: u32,
        width: u32,
        channels: u8,
        fps: u32,
        data: Vec<u8>,
    },
    Encoded {
        format: &'static str,
        bytes: Vec<u8>,
    },
}

/// File bytes, extension, and (width, height) when known.
type Encoded = (Vec<u8>, &'static str, Option<(u32, u32)>);

/// A video, as W&B's `wandb.Video`: from frames (encoded as an animated GIF on the worker) or
/// from an encoded GIF, MP4, WebM or Ogg file.
///
/// ```
/// use labbook_core::media::Video;
/// // 10 frames of 32x32 RGB, at 4 frames per second.
/// let v = Video::from_frames(10, 32, 32, 3, vec![0u8; 10 * 32 * 32 * 3], 4)?.caption("rollout");
/// # let _ = v;
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Video {
    data: Data,
    caption: Option<String>,
}

impl Video {
    /// From `frames` frames of `height` x `width` pixels with 3 (RGB) or 4 (RGBA) channels,
    /// laid out frame by frame, row by row (THWC), played at `fps` frames per second.
    pub fn from_frames(
        frames: usize,
        height: u32,
        width: u32,
        channels: u8,
        data: Vec<u8>,
        fps: u32,
    ) -> Result<Video> {
        if frames == 0 || height == 0 || width == 0 {
            return Err(Error::InvalidMedia(format!(
                "a video must not be empty ({frames} frames of {width}x{height})"
            )));
        }
        if !matches!(channels, 3 | 4) {
            return Err(Error::InvalidMedia(format!(
                "video frames have 3 (RGB) or 4 (RGBA) channels, not {channels}"
            )));
        }
        if fps == 0 {
            return Err(Error::InvalidMedia(
                "a video needs at least 1 frame per second".into(),
            ));
        }
        let want = frames
            .checked_mul(height as usize)
            .and_then(|n| n.checked_mul(width as usize))
            .and_then(|n| n.checked_mul(channels as usize));
        if want != Some(data.len()) {
            return Err(Error::InvalidMedia(format!(
                "{frames} frames of {width}x{height} with {channels} channels need {} values, got {}",
                want.map_or_else(|| "too many".into(), |n| n.to_string()),
                data.len()
            )));
        }
        Ok(Video {
            data: Data::Frames {
                frames,
                height,
                width,
                channels,
                fps,
                data,
            },
            caption: None,
        })
    }

    /// From `frames` frames in `layout`: [`Layout::Hwc`](super::Layout::Hwc) is frame by frame, row by row
    /// (THWC, as [`from_frames`](Video::from_frames)); [`Layout::Chw`](super::Layout::Chw) is channel by channel
    /// (TCHW, the order of `wandb.Video`'s arrays and of PyTorch-style tensors). 1 (gray,
    /// shown as RGB), 3 (RGB) or 4 (RGBA) channels.
    ///
    /// ```
    /// use labbook_core::media::{Layout, Video};
    /// // 2 frames, 3 channels, 4x4 pixels, the red plane first in each frame.
    /// let v = Video::from_frames_in(Layout::Chw, 2, 3, 4, 4, vec![9u8; 2 * 3 * 4 * 4], 8)?;
    /// # let _ = v;
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn from_frames_in(
        layout: super::Layout,
        frames: usize,
        channels: u8,
        height: u32,
        width: u32,
        data: Vec<u8>,
        fps: u32,
    ) -> Result<Video> {
        let (c, h, w) = (channels as usize, height as usize, width as usize);
        let want = frames
            .checked_mul(c)
            .and_then(|n| n.checked_mul(h))
            .and_then(|n| n.checked_mul(w));
        if !matches!(channels, 1 | 3 | 4) || want != Some(data.len()) {
            // The checks of `from_frames` name what is wrong.
            return Video::from_frames(frames, height, width, channels, data, fps);
        }
        let out_c = if channels == 1 { 3 } else { c };
        let plane = h * w;
        let mut out = Vec::with_capacity(frames * plane * out_c);
        for f in 0..frames {
            let frame = &data[f * c * plane..(f + 1) * c * plane];
            for p in 0..plane {
                for k in 0..out_c {
                    let src = if channels == 1 { 0 } else { k };
                    out.push(match layout {
                        super::Layout::Chw => frame[src * plane + p],
                        super::Layout::Hwc => frame[p * c + src],
                    });
                }
            }
        }
        Video::from_frames(frames, height, width, out_c as u8, out, fps)
    }

    /// [`from_frames_in`](Video::from_frames_in) from a tensor's pixels: floats in [0, 1]
    /// (clamped) or u8. What the framework adapters' `video` helpers call.
    pub fn from_pixels(
        layout: super::Layout,
        frames: usize,
        channels: u8,
        height: u32,
        width: u32,
        pixels: super::BatchPixels,
        fps: u32,
    ) -> Result<Video> {
        let bytes = match pixels {
            super::BatchPixels::U8(v) => v,
            super::BatchPixels::F32(v) => v
                .into_iter()
                .map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect(),
        };
        Video::from_frames_in(layout, frames, channels, height, width, bytes, fps)
    }

    /// An encoded video file's bytes: `format` is `gif`, `mp4`, `webm` or `ogg`.
    pub fn from_encoded(format: &str, bytes: Vec<u8>) -> Result<Video> {
        let format = match format.to_ascii_lowercase().as_str() {
            "gif" => "gif",
            "mp4" => "mp4",
            "webm" => "webm",
            "ogg" => "ogg",
            other => {
                return Err(Error::InvalidMedia(format!(
                    "{other:?} videos are not supported; use gif, mp4, webm or ogg"
                )));
            }
        };
        if bytes.is_empty() {
            return Err(Error::InvalidMedia("the video file is empty".into()));
        }
        Ok(Video {
            data: Data::Encoded { format, bytes },
            caption: None,
        })
    }

    /// A caption shown under the video.
    pub fn caption(mut self, caption: impl Into<String>) -> Video {
        self.caption = Some(caption.into());
        self
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        match &self.data {
            Data::Frames { data, .. } => data.len(),
            Data::Encoded { bytes, .. } => bytes.len(),
        }
    }

    fn encode(&self) -> std::result::Result<Encoded, String> {
        let (frames, height, width, channels, fps, data) = match &self.data {
            Data::Encoded { format, bytes } => return Ok((bytes.clone(), format, None)),
            Data::Frames {
                frames,
                height,
                width,
                channels,
                fps,
                data,
            } => (*frames, *height, *width, *channels, *fps, data),
        };
        let mut out = Vec::new();
        {
            let mut enc = GifEncoder::new(Cursor::new(&mut out));
            enc.set_repeat(Repeat::Infinite)
                .map_err(|e| format!("could not encode a GIF: {e}"))?;
            let frame_len = height as usize * width as usize * channels as usize;
            let delay = Delay::from_numer_denom_ms(1000, fps);
            for f in 0..frames {
                let chunk = &data[f * frame_len..(f + 1) * frame_len];
                let rgba: Vec<u8> = if channels == 4 {
                    chunk.to_vec()
                } else {
                    chunk
                        .chunks_exact(3)
                        .flat_map(|p| [p[0], p[1], p[2], 255])
                        .collect()
                };
                let img =
                    RgbaImage::from_raw(width, height, rgba).ok_or("a frame has the wrong size")?;
                enc.encode_frame(Frame::from_parts(img, 0, 0, delay))
                    .map_err(|e| format!("could not encode a GIF: {e}"))?;
            }
        }
        Ok((out, "gif", Some((width, height))))
    }

    /// Writes the file; returns the `video-file` JSON.
    pub(crate) fn materialize(
        self,
        key: &str,
        ctx: &mut MediaContext<'_>,
    ) -> std::result::Result<Value, String> {
        let (bytes, ext, size) = self.encode()?;
        let w = write_media(ctx.files_dir, "media/videos", key, ctx.step, ext, &bytes)?;
        ctx.written.push(w.path.clone());
        let mut fields = w.fields("video-file");
        if let Some((width, height)) = size {
            fields.push(("width".to_owned(), Value::from(width)));
            fields.push(("height".to_owned(), Value::from(height)));
        }
        if let Some(c) = self.caption {
            fields.push(("caption".to_owned(), Value::from(c)));
        }
        Ok(Value::Map(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tchw_and_gray_frames_become_thwc_rgb() {
        // 1 frame, 3 channels, 1x2 pixels: planes R=[1,2], G=[3,4], B=[5,6].
        let v = Video::from_frames_in(
            super::super::Layout::Chw,
            1,
            3,
            1,
            2,
            vec![1, 2, 3, 4, 5, 6],
            1,
        )
        .unwrap();
        let Data::Frames { data, channels, .. } = &v.data else {
            panic!()
        };
        assert_eq!((data.as_slice(), *channels), (&[1, 3, 5, 2, 4, 6][..], 3));
        let gray =
            Video::from_frames_in(super::super::Layout::Hwc, 1, 1, 1, 2, vec![7, 9], 1).unwrap();
        let Data::Frames { data, .. } = &gray.data else {
            panic!()
        };
        assert_eq!(data.as_slice(), &[7, 7, 7, 9, 9, 9]);
        let e = Video::from_frames_in(super::super::Layout::Chw, 1, 2, 1, 2, vec![0; 4], 1)
            .unwrap_err();
        assert!(e.to_string().contains("channels"), "{e}");
        let e = Video::from_frames_in(super::super::Layout::Chw, 2, 3, 2, 2, vec![0; 5], 1)
            .unwrap_err();
        assert!(e.to_string().contains("need"), "{e}");
    }

    #[test]
    fn frames_become_an_animated_gif() {
        let d = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..3 * 4 * 5 * 3).map(|i| (i * 7 % 256) as u8).collect();
        let v = Video::from_frames(3, 4, 5, 3, data, 2)
            .unwrap()
            .caption("c");
        let mut ctx = MediaContext {
            files_dir: d.path(),
            step: Some(1),
            written: vec![],
            config: vec![],
            artifacts: Default::default(),
        };
        let json = v.materialize("roll/out", &mut ctx).unwrap().to_serde_json();
        assert_eq!(json["_type"], "video-file");
        assert_eq!(
            (json["width"].as_u64(), json["height"].as_u64()),
            (Some(5), Some(4))
        );
        let path = json["path"].as_str().unwrap();
        assert!(
            path.starts_with("media/videos/roll/out_1_") && path.ends_with(".gif"),
            "{path}"
        );
        let bytes = std::fs::read(d.path().join(path)).unwrap();
        let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(bytes)).unwrap();
        use image::AnimationDecoder;
        assert_eq!(decoder.into_frames().count(), 3);
    }

    #[test]
    fn bad_videos_say_what_is_wrong() {
        assert!(
            Video::from_frames(2, 2, 2, 3, vec![0; 23], 1)
                .unwrap_err()
                .to_string()
                .contains("need 24 values, got 23")
        );
        assert!(Video::from_frames(1, 2, 2, 1, vec![0; 4], 1).is_err());
        assert!(Video::from_encoded("avi", vec![1]).is_err());
    }
}
