//! Images and histograms end to end: files named and announced as the official client does,
//! JSON in the row and the summary, bad input refused with the key named.

use labbook::media::{Histogram, Image, Layout};
use labbook::{Error, Value};
use labbook_testkit::{only_run_dir, read_run, settings};
use labbook_wire::proto::RecordType;

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn images_are_written_named_and_announced_before_their_row() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    let pixels: Vec<u8> = (0..16 * 8 * 3).map(|i| (i % 251) as u8).collect();
    run.log([("loss", Value::from(1.0))]).unwrap();
    run.log([
        (
            "val/img",
            Value::from(
                Image::from_u8(16, 8, 3, Layout::Hwc, pixels.clone())
                    .unwrap()
                    .caption("c"),
            ),
        ),
        (
            "batch",
            Value::from(vec![
                Image::gray(4, 4, vec![0; 16]).unwrap(),
                Image::gray(4, 4, vec![9; 16]).unwrap(),
            ]),
        ),
        (
            "weights",
            Value::from(
                Histogram::from_f32(vec![0.0, 0.5, 1.0, 1.0])
                    .bins(2)
                    .unwrap(),
            ),
        ),
    ])
    .unwrap();
    run.set_summary("best_img", Image::gray(2, 2, vec![1, 2, 3, 4]).unwrap())
        .unwrap();
    let report = run.finish().unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    let d = read_run(&only_run_dir(tmp.path()));
    let row = &d.rows[1];
    let img = json(&row["val/img"]);
    assert_eq!(img["_type"], "image-file");
    assert_eq!(
        (
            img["width"].as_u64(),
            img["height"].as_u64(),
            img["caption"].as_str()
        ),
        (Some(16), Some(8), Some("c"))
    );
    let path = img["path"].as_str().unwrap();
    assert!(path.starts_with("media/images/val/img_1_"), "{path}");
    let file = d.dir.join("files").join(path);
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(img["size"].as_u64(), Some(bytes.len() as u64));
    let decoded = image::load_from_memory(&bytes).unwrap().into_rgb8();
    assert_eq!(decoded.into_raw(), pixels);

    let list = json(&row["batch"]);
    assert_eq!(list["_type"], "images/separated");
    assert_eq!(list["count"], 2);
    assert_eq!(
        json(&row["weights"]),
        serde_json::json!({"_type": "histogram", "values": [1, 3], "bins": [0.0, 0.5, 1.0]})
    );

    // Every file is announced by a FilesRecord that comes before the row using it.
    let row_at = d.records.iter().position(|r| matches!(&r.record_type, Some(RecordType::History(h)) if h.step.as_ref().is_some_and(|s| s.num == 1))).unwrap();
    let announced: Vec<&str> = d.records[..row_at]
        .iter()
        .filter_map(|r| match &r.record_type {
            Some(RecordType::Files(f)) => {
                Some(f.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>())
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert!(announced.contains(&path), "{announced:?}");
    for f in list["filenames"].as_array().unwrap() {
        assert!(announced.contains(&f.as_str().unwrap()));
        assert!(d.dir.join("files").join(f.as_str().unwrap()).is_file());
    }

    // The summary holds the same JSON, and a summary image is named for the summary.
    assert_eq!(json(&d.summary["val/img"]), img);
    let best = json(&d.summary["best_img"]);
    assert!(
        best["path"]
            .as_str()
            .unwrap()
            .starts_with("media/images/best_img_summary_"),
        "{best}"
    );
}

#[test]
fn bad_media_are_refused_naming_the_key_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    let e = Image::rgb(4, 4, vec![0; 10]).unwrap_err();
    assert!(matches!(e, Error::InvalidMedia(_)), "{e}");
    let e = run
        .log([
            ("ok", Value::from(1)),
            (
                "grads",
                Value::from(Histogram::from_f64(vec![1.0, f64::NAN])),
            ),
        ])
        .unwrap_err();
    match e {
        Error::InvalidValue { key, reason } => {
            assert_eq!(key, "grads");
            assert!(reason.contains("non-finite"), "{reason}");
        }
        other => panic!("{other}"),
    }
    run.log([("ok", Value::from(2))]).unwrap();
    run.finish().unwrap();
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.column("ok"), vec!["2"]);
}
