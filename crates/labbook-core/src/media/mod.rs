//! Rich values: images, histograms, ... Each is handed over by the caller as it is (the
//! pixels are moved, not copied or encoded) and turned into files and JSON on the worker,
//! named and placed as the official client does (protocol §4).

mod audio;
mod files;
mod histogram;
mod html;
mod image;
mod overlays;
pub mod plot;
mod pool;
mod table;
mod video;

use std::path::{Path, PathBuf};

use crate::value::key::Key;

pub use audio::Audio;
pub use histogram::Histogram;
pub use html::Html;
pub use image::{BatchPixels, Image, Layout};
pub use overlays::{BoundingBox, Boxes, Mask};
pub(crate) use pool::{EncodePool, Ticket};
pub use table::Table;
pub use video::Video;

use crate::value::Value;

/// A rich value; build one with [`Image`], [`Histogram`], ... and log it like any value:
/// `Value::from(image)`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Media {
    /// An image (W&B's `image-file`).
    Image(Image),
    /// A histogram (W&B's `histogram`, inline in the row).
    Histogram(Histogram),
    /// A video (W&B's `video-file`).
    Video(Video),
    /// A sound (W&B's `audio-file`).
    Audio(Audio),
    /// An HTML page (W&B's `html-file`).
    Html(Html),
    /// A table (W&B's `table-file`), also recorded as a `run_table` artifact.
    Table(Table),
    /// A custom chart (`wandb.plot.*`): a table logged under `<key>_table` and a panel in
    /// the config. Built by the functions of [`plot`].
    Chart(plot::Chart),
}

impl Media {
    /// Checks what can be checked cheaply on the caller's thread.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            Media::Image(i) => i.validate(),
            Media::Histogram(h) => h.validate(),
            Media::Audio(a) => a.validate(),
            Media::Video(_) | Media::Html(_) => Ok(()),
            Media::Table(t) => t.validate(),
            Media::Chart(c) => c.validate(),
        }
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        match self {
            Media::Image(i) => i.approx_bytes(),
            Media::Histogram(h) => h.approx_bytes(),
            Media::Video(v) => v.approx_bytes(),
            Media::Audio(a) => a.approx_bytes(),
            Media::Html(h) => h.approx_bytes(),
            Media::Table(t) => t.approx_bytes(),
            Media::Chart(c) => c.approx_bytes(),
        }
    }
}

macro_rules! media_value {
    ($($t:ident),*) => {$(
        impl From<$t> for Value {
            fn from(m: $t) -> Value {
                Value::Media(Box::new(Media::$t(m)))
            }
        }
    )*};
}
media_value!(Image, Histogram, Video, Audio, Html);

/// Where media of one logged value go, and what they produced.
pub(crate) struct MediaContext<'a> {
    /// The run's `files/` directory.
    pub files_dir: &'a Path,
    /// The history step, or `None` for a summary value.
    pub step: Option<u64>,
    /// Paths (relative to `files/`) written, for the FilesRecord before the row.
    pub written: Vec<String>,
    /// Config entries the values need (class labels, chart panels), as nested keys, e.g.
    /// `["_wandb", "visualize", "<key>"]`; written as a config record before the row.
    pub config: Vec<(Vec<String>, Value)>,
    /// Artifacts the values need (the `run_table` of a table), written before the row.
    pub artifacts: ArtifactSink<'a>,
}

/// The run an artifact belongs to, and the artifact records to write before the row.
#[derive(Default)]
pub(crate) struct ArtifactSink<'a> {
    pub run_id: &'a str,
    pub project: &'a str,
    pub records: Vec<crate::wire::proto::ArtifactRecord>,
}

/// Where a run's media go: its `files/` directory, and the run and project a table's
/// `run_table` artifact belongs to.
#[derive(Clone, Debug)]
pub(crate) struct Place {
    pub files_dir: PathBuf,
    pub run_id: String,
    pub project: String,
}

/// A logged call's items with every media value turned into its JSON, and what the
/// worker must write before the row that shows them.
#[derive(Debug, Default)]
pub(crate) struct Materialized {
    pub items: Vec<(Key, Value)>,
    /// Paths (relative to `files/`) written, for the FilesRecord before the row.
    pub written: Vec<String>,
    /// Config entries the values need, as nested keys.
    pub config: Vec<(Vec<String>, Value)>,
    /// Artifact records the values need (a table's `run_table`).
    pub artifacts: Vec<crate::wire::proto::ArtifactRecord>,
    /// Values that could not be written (they became null).
    pub warnings: Vec<String>,
    /// How long the encoding took.
    pub took: std::time::Duration,
}

/// Turns the media values among `items` into files and JSON. A value that cannot be
/// written becomes null, with a warning naming its key; the other items are kept.
pub(crate) fn materialize_items(
    place: &Place,
    step: Option<u64>,
    items: Vec<(Key, Value)>,
) -> Materialized {
    let mut ctx = MediaContext {
        files_dir: &place.files_dir,
        step,
        written: Vec::new(),
        config: Vec::new(),
        artifacts: ArtifactSink {
            run_id: &place.run_id,
            project: &place.project,
            records: Vec::new(),
        },
    };
    let mut out = Vec::with_capacity(items.len());
    let mut warnings = Vec::new();
    for (k, v) in items {
        if !contains_media(&v) {
            out.push((k, v));
            continue;
        }
        let k = row_key(k, &v);
        match materialize(k.as_str(), v, &mut ctx) {
            Ok(v) => out.push((k, v)),
            Err(e) => {
                warnings.push(format!("{k}: {e}"));
                out.push((k, Value::Null));
            }
        }
    }
    Materialized {
        items: out,
        written: ctx.written,
        config: ctx.config,
        artifacts: ctx.artifacts.records,
        warnings,
        took: std::time::Duration::ZERO,
    }
}

/// Whether any of a call's values holds media (so its encoding goes to the pool).
pub(crate) fn any_media(items: &[(Key, Value)]) -> bool {
    items.iter().any(|(_, v)| contains_media(v))
}

/// Whether any of a call's values holds media that are encoded into files (all but
/// histograms, which stay inline in the row and cost next to nothing).
pub(crate) fn encodes_files(items: &[(Key, Value)]) -> bool {
    items.iter().any(|(_, v)| value_encodes_files(v))
}

/// Whether `value` holds media encoded into files (see [`encodes_files`]).
pub(crate) fn value_encodes_files(value: &Value) -> bool {
    match value {
        Value::Media(m) => !matches!(**m, Media::Histogram(_)),
        Value::List(items) => items.iter().any(value_encodes_files),
        Value::Map(items) => items.iter().any(|(_, v)| value_encodes_files(v)),
        _ => false,
    }
}

/// Replaces every media value inside `value` (top level, in lists and in maps) with its
/// JSON form, writing its files. A list of images becomes W&B's `images/separated`.
pub(crate) fn materialize(
    key: &str,
    value: Value,
    ctx: &mut MediaContext<'_>,
) -> Result<Value, String> {
    match value {
        Value::Media(m) => match *m {
            Media::Image(i) => i.materialize(key, ctx),
            Media::Histogram(h) => Ok(h.to_value()),
            Media::Video(v) => v.materialize(key, ctx),
            Media::Audio(a) => a.materialize(key, ctx),
            Media::Html(h) => h.materialize(key, ctx),
            Media::Table(t) => t.materialize(key, ctx),
            Media::Chart(c) => c.materialize(key, ctx),
        },
        Value::List(items)
            if !items.is_empty()
                && items
                    .iter()
                    .all(|v| matches!(v, Value::Media(m) if matches!(**m, Media::Image(_)))) =>
        {
            let images = items
                .into_iter()
                .filter_map(|v| match v {
                    Value::Media(m) => match *m {
                        Media::Image(i) => Some(i),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            image::materialize_list(key, images, ctx)
        }
        Value::List(items) => Ok(Value::List(
            items
                .into_iter()
                .map(|v| materialize(key, v, ctx))
                .collect::<Result<_, _>>()?,
        )),
        Value::Map(items) => Ok(Value::Map(
            items
                .into_iter()
                .map(|(k, v)| {
                    let nested = format!("{key}.{k}");
                    materialize(&nested, v, ctx).map(|v| (k, v))
                })
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(other),
    }
}

/// The key a value is written under: a chart's table goes under `<key>_table`, as the
/// official client writes it.
pub(crate) fn row_key(key: crate::value::key::Key, value: &Value) -> crate::value::key::Key {
    match value {
        Value::Media(m) if matches!(**m, Media::Chart(_)) => {
            crate::value::key::Key::from(format!("{}_table", key.as_str()))
        }
        _ => key,
    }
}

/// Whether `value` holds media anywhere (so plain rows skip the walk).
pub(crate) fn contains_media(value: &Value) -> bool {
    match value {
        Value::Media(_) => true,
        Value::List(items) => items.iter().any(contains_media),
        Value::Map(items) => items.iter().any(|(_, v)| contains_media(v)),
        _ => false,
    }
}

/// Checks every media value inside `value`.
pub(crate) fn validate(value: &Value) -> Result<(), String> {
    match value {
        Value::Media(m) => m.validate(),
        Value::List(items) => items.iter().try_for_each(validate),
        Value::Map(items) => items.iter().try_for_each(|(_, v)| validate(v)),
        _ => Ok(()),
    }
}
