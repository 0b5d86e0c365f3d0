//! The per-batch evaluation hook on a real run: problematic batches land as W&B users'
//! keys, with their images; the caps hold; table mode writes one row per epoch.

use labbook::Value;
use labbook::media::Image;
use labbook::train::{EvalHook, EvalMode, EvalSettings};
use labbook_testkit::{only_run_dir, read_run, settings};

/// A toy "validation": batch i has recall falling off for odd batches.
fn recall_of(epoch: u32, batch: usize) -> f64 {
    if batch % 2 == 1 {
        0.3 + 0.1 * f64::from(epoch)
    } else {
        0.95
    }
}

fn images(batch: usize) -> Vec<Image> {
    (0..12)
        .map(|i| Image::gray(4, 4, vec![(batch * 10 + i) as u8; 16]).unwrap())
        .collect()
}

#[test]
fn problematic_batches_are_logged_with_their_images_within_the_caps() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    let mut hook = EvalHook::new(&run, EvalSettings::default().caps(3, 2));
    for epoch in 1..=2u32 {
        run.log([("train/loss", Value::from(1.0 / f64::from(epoch)))])
            .unwrap();
        hook.start_epoch();
        for b in 0..10 {
            let r = recall_of(epoch, b);
            hook.batch(
                b,
                &[
                    ("recall", r),
                    ("precision", 0.9),
                    ("hmean", 2.0 * r * 0.9 / (r + 0.9)),
                ],
                || images(b),
            )
            .unwrap();
        }
        let found = hook.end_epoch().unwrap();
        assert_eq!(
            (found.below_threshold, found.logged.clone(), found.capped),
            (5, vec![1, 3, 5], 2)
        );
    }
    run.finish().unwrap();
    let d = read_run(&only_run_dir(tmp.path()));
    // The hook's keys join the current step's row.
    let row = d
        .rows
        .iter()
        .find(|r| r.contains_key("problematic_batch_1_images"))
        .unwrap();
    assert_eq!(row["problematic_batch_1_count"], "2");
    assert_eq!(row["problematic_batch_1_recall"], "0.4");
    assert!(row.contains_key("problematic_batch_5_hmean"));
    assert!(
        !row.contains_key("problematic_batch_7_images"),
        "capped at 3 batches"
    );
    let imgs: serde_json::Value = serde_json::from_str(&row["problematic_batch_3_images"]).unwrap();
    assert_eq!(imgs["_type"], "images/separated");
    assert_eq!(imgs["count"], 2);
    assert_eq!(imgs["captions"][0], "batch 3 #0: recall=0.400");
    for f in imgs["filenames"].as_array().unwrap() {
        assert!(d.dir.join("files").join(f.as_str().unwrap()).is_file());
    }
}

#[test]
fn table_mode_writes_one_table_per_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    let mut hook = EvalHook::new(
        &run,
        EvalSettings::default()
            .mode(EvalMode::Table)
            .threshold(None)
            .worst_k(2)
            .caps(8, 2),
    );
    hook.start_epoch();
    for b in 0..6 {
        hook.batch(b, &[("recall", [0.9, 0.2, 0.8, 0.1, 0.95, 0.5][b])], || {
            images(b)
        })
        .unwrap();
    }
    assert_eq!(hook.end_epoch().unwrap().logged, vec![3, 1]);
    run.finish().unwrap();
    let d = read_run(&only_run_dir(tmp.path()));
    let v: serde_json::Value = serde_json::from_str(&d.rows[0]["problematic_batches"]).unwrap();
    assert_eq!(v["_type"], "table-file");
    assert_eq!(v["nrows"], 4, "2 batches x 2 images");
    assert_eq!(v["ncols"], 5);
    let file =
        std::fs::read_to_string(d.dir.join("files").join(v["path"].as_str().unwrap())).unwrap();
    let t: serde_json::Value = serde_json::from_str(&file).unwrap();
    assert_eq!(
        t["columns"],
        serde_json::json!(["epoch", "batch", "image_index", "recall", "image"])
    );
    assert_eq!(t["data"][0][1], 3);
    assert_eq!(t["data"][0][3], 0.1);
    assert!(
        !d.rows
            .iter()
            .any(|r| r.keys().any(|k| k.starts_with("problematic_batch_")))
    );
}
