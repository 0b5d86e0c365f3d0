//! Tables and custom charts end to end: the table file, its `run_table` artifact record and
//! private copies, the chart panels in the config, all before their row; bad input refused.

use labbook::media::{Image, Table, plot};
use labbook::{Error, Value};
use labbook_testkit::{only_run_dir, read_run, settings};
use labbook_wire::proto::{self, RecordType};

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

fn artifacts(d: &labbook_testkit::RunData) -> Vec<(usize, proto::ArtifactRecord)> {
    d.records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.record_type {
            Some(RecordType::Artifact(a)) => Some((i, a.clone())),
            _ => None,
        })
        .collect()
}

fn row_index(d: &labbook_testkit::RunData, step: i64) -> usize {
    d.records
        .iter()
        .position(|r| matches!(&r.record_type, Some(RecordType::History(h)) if h.step.as_ref().map_or(0, |s| s.num) == step))
        .unwrap()
}

#[test]
fn a_table_with_an_image_cell_is_written_with_its_run_table_artifact() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    let rgb: Vec<u8> = (0..16 * 8 * 3).map(|i| (i % 251) as u8).collect();
    let t = Table::from_rows(
        ["a", "b", "img"],
        [
            vec![1.into(), "x".into(), Image::rgb(16, 8, rgb).unwrap().into()],
            vec![2.5.into(), "y".into(), Value::Null],
        ],
    )
    .unwrap();
    run.log([("tbl", Value::from(t))]).unwrap();
    let run_id = run.id().to_owned();
    let report = run.finish().unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    let d = read_run(&only_run_dir(tmp.path()));
    let v = json(&d.rows[0]["tbl"]);
    assert_eq!(v["_type"], "table-file");
    assert_eq!(
        (v["ncols"].as_u64(), v["nrows"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(v["log_mode"], "IMMUTABLE");
    let path = v["path"].as_str().unwrap();
    assert!(
        path.starts_with("media/table/tbl_0_") && path.ends_with(".table.json"),
        "{path}"
    );
    let file = std::fs::read_to_string(d.dir.join("files").join(path)).unwrap();
    assert_eq!(
        file,
        r#"{"columns":["a","b","img"],"data":[[1,"x","Image"],[2.5,"y",null]]}"#
    );
    assert_eq!(v["size"].as_u64(), Some(file.len() as u64));
    assert!(d.files.iter().any(|f| f.path == path));

    let arts = artifacts(&d);
    assert_eq!(arts.len(), 1);
    let (at, a) = &arts[0];
    assert!(*at < row_index(&d, 0), "the artifact comes before its row");
    assert_eq!(a.name, format!("run-{run_id}-tbl"));
    assert_eq!(
        (a.r#type.as_str(), a.run_id.as_str()),
        ("run_table", run_id.as_str())
    );
    assert!(a.finalize);
    assert_eq!(a.aliases, ["latest"]);
    assert_eq!(a.digest_algorithm, "MANIFEST_MD5");
    assert_eq!((a.client_id.len(), a.sequence_client_id.len()), (128, 128));
    assert_eq!(
        v["artifact_path"],
        format!("wandb-client-artifact://{}/tbl.table.json", a.client_id)
    );
    assert_eq!(
        v["_latest_artifact_path"],
        format!(
            "wandb-client-artifact://{}:latest/tbl.table.json",
            a.sequence_client_id
        )
    );
    let m = a.manifest.as_ref().unwrap();
    assert_eq!(m.storage_policy, "wandb-storage-policy-v1");
    let paths: Vec<&str> = m.contents.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths.len(), 2);
    assert!(paths[0].starts_with("media/images/") && paths[0].ends_with(".png"));
    assert_eq!(paths[1], "tbl.table.json");
    for c in &m.contents {
        let local = std::path::Path::new(&c.local_path);
        assert!(local.starts_with(&d.dir), "private copy inside the run dir");
        assert_eq!(std::fs::metadata(local).unwrap().len() as i64, c.size);
    }
    let art_table = json(&std::fs::read_to_string(&m.contents[1].local_path).unwrap());
    assert_eq!(art_table["_type"], "table");
    assert_eq!(art_table["data"][0][2]["_type"], "image-file");
    assert_eq!(art_table["data"][0][2]["path"], paths[0]);
    assert_eq!(
        art_table["column_types"]["params"]["type_map"]["img"]["params"]["allowed_types"][0]["wb_type"],
        "image-file"
    );
}

#[test]
fn charts_log_their_table_and_panel_before_the_row() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    run.log([
        (
            "cm",
            plot::confusion_matrix(&[0, 1, 2, 1], &[0, 2, 2, 1], &["cat", "dog", "bird"], "CM")
                .unwrap(),
        ),
        (
            "lp",
            plot::line(
                Table::from_rows(
                    ["step", "loss"],
                    [
                        vec![0.into(), 1.0.into()],
                        vec![1.into(), 0.5.into()],
                        vec![2.into(), 0.25.into()],
                    ],
                )
                .unwrap(),
                "step",
                "loss",
                "Loss",
            )
            .unwrap(),
        ),
    ])
    .unwrap();
    let report = run.finish().unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    let d = read_run(&only_run_dir(tmp.path()));
    let row = &d.rows[0];
    assert!(!row.contains_key("cm") && !row.contains_key("lp"));
    let cm = json(&row["cm_table"]);
    assert_eq!(
        (cm["ncols"].as_u64(), cm["nrows"].as_u64()),
        (Some(3), Some(9))
    );
    let file =
        std::fs::read_to_string(d.dir.join("files").join(cm["path"].as_str().unwrap())).unwrap();
    assert_eq!(
        file,
        r#"{"columns":["Actual","Predicted","nPredictions"],"data":[["cat","cat",1.0],["cat","dog",0.0],["cat","bird",0.0],["dog","cat",0.0],["dog","dog",1.0],["dog","bird",1.0],["bird","cat",0.0],["bird","dog",0.0],["bird","bird",1.0]]}"#
    );
    let lp = json(&row["lp_table"]);
    assert!(
        lp["path"]
            .as_str()
            .unwrap()
            .starts_with("media/table/lp_table_0_7250ff2c0b8605dc3c3e")
    );

    let panel = json(&d.config["_wandb.visualize.cm"]);
    assert_eq!(panel["panel_type"], "Vega2");
    assert_eq!(
        panel["panel_config"]["panelDefId"],
        "wandb/confusion_matrix/v1"
    );
    assert_eq!(panel["panel_config"]["stringSettings"]["title"], "CM");
    assert_eq!(
        panel["panel_config"]["userQuery"]["queryFields"][0]["fields"][3]["args"][0]["value"],
        "cm_table"
    );
    let panel = json(&d.config["_wandb.visualize.lp"]);
    assert_eq!(panel["panel_config"]["panelDefId"], "wandb/line/v0");
    assert_eq!(panel["panel_config"]["fieldSettings"]["x"], "step");

    let names: Vec<String> = artifacts(&d).into_iter().map(|(_, a)| a.name).collect();
    assert_eq!(names.len(), 2);
    assert!(
        names[0].ends_with("-cm_table") && names[1].ends_with("-lp_table"),
        "{names:?}"
    );
    let config_at = d
        .records
        .iter()
        .position(|r| matches!(&r.record_type, Some(RecordType::Config(c)) if c.update.iter().any(|i| i.nested_key.iter().any(|k| k == "visualize"))))
        .unwrap();
    assert!(config_at < row_index(&d, 0));
}

#[test]
fn tables_over_the_row_limit_are_refused_naming_the_key_and_count() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    let t = Table::from_rows(["x"], (0..10_001).map(|i| vec![Value::from(i)])).unwrap();
    let e = run.log([("big", Value::from(t))]).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidValue { key, .. } if key == "big"),
        "{e}"
    );
    assert!(e.to_string().contains("10001 rows"), "{e}");
    let e = Table::from_rows(["a", "b"], [vec![Value::from(1)]]).unwrap_err();
    assert!(
        e.to_string()
            .contains("1 cells but the table has 2 columns"),
        "{e}"
    );
    run.finish().unwrap();
}
