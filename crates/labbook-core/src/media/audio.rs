//! Audio: samples written as a 16-bit PCM WAV file on the worker.

use std::io::Cursor;

use super::MediaContext;
use super::files::write_media;
use crate::error::{Error, Result};
use crate::value::Value;

/// A sound, as W&B's `wandb.Audio`: mono f32 samples in [-1, 1] at a sample rate.
///
/// ```
/// use labbook_core::media::Audio;
/// let tone: Vec<f32> = (0..16_000).map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin() * 0.5).collect();
/// let a = Audio::from_f32(tone, 16_000)?.caption("440 Hz");
/// # let _ = a;
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    samples: Vec<f32>,
    sample_rate: u32,
    caption: Option<String>,
}

impl Audio {
    /// Mono samples in [-1, 1] (clamped; NaN is refused when logged).
    pub fn from_f32(samples: Vec<f32>, sample_rate: u32) -> Result<Audio> {
        if samples.is_empty() {
            return Err(Error::InvalidMedia(
                "an audio clip needs at least one sample".into(),
            ));
        }
        if sample_rate == 0 {
            return Err(Error::InvalidMedia(
                "the sample rate must be positive".into(),
            ));
        }
        Ok(Audio {
            samples,
            sample_rate,
            caption: None,
        })
    }

    /// A caption shown with the clip.
    pub fn caption(mut self, caption: impl Into<String>) -> Audio {
        self.caption = Some(caption.into());
        self
    }

    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        match self.samples.iter().position(|x| !x.is_finite()) {
            Some(i) => Err(format!("the audio has a non-finite sample at index {i}")),
            None => Ok(()),
        }
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        self.samples.len() * 4
    }

    /// Writes the WAV file; returns the `audio-file` JSON.
    pub(crate) fn materialize(
        self,
        key: &str,
        ctx: &mut MediaContext<'_>,
    ) -> std::result::Result<Value, String> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: self.sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut bytes = Vec::new();
        {
            let mut w = hound::WavWriter::new(Cursor::new(&mut bytes), spec)
                .map_err(|e| format!("could not write a WAV: {e}"))?;
            for s in &self.samples {
                w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
                    .map_err(|e| format!("could not write a WAV: {e}"))?;
            }
            w.finalize()
                .map_err(|e| format!("could not write a WAV: {e}"))?;
        }
        let w = write_media(ctx.files_dir, "media/audio", key, ctx.step, "wav", &bytes)?;
        ctx.written.push(w.path.clone());
        let mut fields = w.fields("audio-file");
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
    fn samples_become_a_wav_file() {
        let d = tempfile::tempdir().unwrap();
        let a = Audio::from_f32(vec![0.0, 0.5, -1.0, 2.0], 8000).unwrap();
        let mut ctx = MediaContext {
            files_dir: d.path(),
            step: Some(0),
            written: vec![],
            config: vec![],
            artifacts: Default::default(),
        };
        let json = a.materialize("sound", &mut ctx).unwrap().to_serde_json();
        assert_eq!(json["_type"], "audio-file");
        let path = d.path().join(json["path"].as_str().unwrap());
        let mut r = hound::WavReader::open(path).unwrap();
        assert_eq!(r.spec().sample_rate, 8000);
        let s: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(s, vec![0, 16384, -32767, 32767]);
    }

    #[test]
    fn bad_audio_is_refused() {
        assert!(Audio::from_f32(vec![], 8000).is_err());
        assert!(Audio::from_f32(vec![0.0], 0).is_err());
        assert!(
            Audio::from_f32(vec![0.0, f32::NAN], 8000)
                .unwrap()
                .validate()
                .unwrap_err()
                .contains("index 1")
        );
    }
}
