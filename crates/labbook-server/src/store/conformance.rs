//! The rules every [`MetaStore`] keeps, as checks any implementation runs: the memory
//! store now, the database stores as they come.

use super::*;

fn key() -> RunKey {
    RunKey::new("ent", "proj", "run1")
}

fn chunk(stream: Stream, offset: usize, lines: &[&str]) -> StreamBatch {
    let lines = lines.iter().map(|s| s.to_string()).collect();
    StreamBatch {
        chunks: vec![(stream, Chunk { offset, lines })],
        ..StreamBatch::default()
    }
}

async fn all(store: &dyn MetaStore, stream: Stream) -> Vec<String> {
    store.lines(&key(), &stream, 0, usize::MAX).await.unwrap()
}

/// A patch changes only what it sets; counts and creation are reported.
pub(crate) async fn upserts_change_only_what_they_set(store: &dyn MetaStore) {
    let first = RunPatch {
        storage_id: "id1".into(),
        notes: Some("n".into()),
        tags: Some(vec!["a".into()]),
        default_display_name: Some("generated".into()),
        counts_as_upsert: true,
        ..RunPatch::default()
    };
    let (run, inserted) = store.upsert_run(&key(), first).await.unwrap();
    assert!(inserted);
    assert_eq!(run.display_name.as_deref(), Some("generated"));
    let second = RunPatch {
        storage_id: "id2".into(),
        display_name: Some("shown".into()),
        default_display_name: Some("other".into()),
        counts_as_upsert: true,
        ..RunPatch::default()
    };
    let (run, inserted) = store.upsert_run(&key(), second).await.unwrap();
    assert!(!inserted);
    assert_eq!(
        (
            run.storage_id.as_str(),
            run.display_name.as_deref(),
            run.notes.as_deref()
        ),
        ("id1", Some("shown"), Some("n"))
    );
    assert_eq!((run.tags, run.upserts), (vec!["a".to_owned()], 2));
}

/// Rows continue exactly; a resend replaces, a skip is reported; console lines overwrite.
pub(crate) async fn streams_keep_each_line_once(store: &dyn MetaStore) {
    let s = |b| async move { store.append_stream(&key(), b).await.unwrap().mismatches };
    assert!(
        s(chunk(Stream::History, 0, &["{\"a\":1}", "{\"a\":2}"]))
            .await
            .is_empty()
    );
    // The same request again (a client resend): stored once, reported.
    let again = s(chunk(Stream::History, 0, &["{\"a\":1}", "{\"a\":2}"])).await;
    assert_eq!(again[0].expected, 2);
    assert!(
        s(chunk(Stream::History, 2, &["{\"a\":3}"]))
            .await
            .is_empty()
    );
    assert_eq!(all(store, Stream::History).await.len(), 3);
    assert!(s(chunk(Stream::Output, 0, &["a", "b\r"])).await.is_empty());
    assert!(s(chunk(Stream::Output, 1, &["b2"])).await.is_empty());
    assert_eq!(all(store, Stream::Output).await, ["a", "b2"]);
    let other = Stream::Other("debug.log".into());
    assert!(s(chunk(other.clone(), 0, &["x"])).await.is_empty());
    assert_eq!(store.other_streams(&key()).await.unwrap(), ["debug.log"]);
    let summary = StreamBatch {
        summary: Some(("{\"loss\":NaN}".into(), 0)),
        complete: true,
        exit_code: Some(3),
        ..StreamBatch::default()
    };
    assert!(s(summary).await.is_empty());
    let run = store.run(&key()).await.unwrap().unwrap();
    assert_eq!((run.history_lines, run.output_lines), (3, 2));
    assert_eq!(run.summary.unwrap().json.unwrap()["loss"], "NaN");
    assert_eq!((run.complete, run.exit_code), (true, Some(3)));
    assert!(
        !store
            .append_stream(&key(), StreamBatch::default())
            .await
            .unwrap()
            .stop_requested
    );
    assert!(store.request_stop(&key()).await.unwrap());
    assert!(
        store
            .append_stream(&key(), StreamBatch::default())
            .await
            .unwrap()
            .stop_requested
    );
    assert!(
        !store
            .request_stop(&RunKey::new("e", "p", "none"))
            .await
            .unwrap()
    );
}

fn draft(id: &str, digest: &str, aliases: &[&str]) -> ArtifactDraft {
    ArtifactDraft {
        id: id.into(),
        entity: Some("ent".into()),
        project: Some("proj".into()),
        collection: Some("data".into()),
        artifact_type: Some("dataset".into()),
        digest: Some(digest.into()),
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        ..ArtifactDraft::default()
    }
}

/// One committed version per digest; versions in commit order.
pub(crate) async fn artifact_versions(store: &dyn MetaStore) {
    let collection = CollectionKey {
        entity: "ent".into(),
        project: "proj".into(),
        name: "data".into(),
    };
    assert!(matches!(
        store
            .create_artifact(draft("a1", "d1", &["latest"]))
            .await
            .unwrap(),
        Created::New(_)
    ));
    // Pending versions are not versions yet, and a pending digest is not reused.
    assert!(store.versions(&collection).await.unwrap().is_empty());
    store.commit_artifact("a1").await.unwrap().unwrap();
    let again = store
        .create_artifact(draft("a2", "d1", &["best"]))
        .await
        .unwrap();
    let Created::Existing(found) = again else {
        panic!("the same digest made a new version")
    };
    assert_eq!(
        (found.id.as_str(), found.aliases.clone()),
        ("a1", vec!["latest".into(), "best".into()])
    );
    store.create_artifact(draft("a3", "d2", &[])).await.unwrap();
    store.commit_artifact("a3").await.unwrap();
    let ids: Vec<String> = store
        .versions(&collection)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(ids, ["a1", "a3"]);
    assert!(store.commit_artifact("nope").await.unwrap().is_none());
    let t = store
        .artifact_type(None, Some("proj"), "data")
        .await
        .unwrap();
    assert_eq!(t.as_deref(), Some("dataset"));
}

/// A link index is assigned once per version and portfolio; aliases are added once.
pub(crate) async fn links_keep_their_index(store: &dyn MetaStore) {
    for id in ["a1", "a3"] {
        store.create_artifact(draft(id, id, &[])).await.unwrap();
        store.commit_artifact(id).await.unwrap();
    }
    let registry = CollectionKey {
        entity: "ent".into(),
        project: "model-registry".into(),
        name: "best-models".into(),
    };
    assert_eq!(
        store
            .link_artifact("a3", &registry, &["latest".into()])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .link_artifact("a1", &registry, &["prod".into()])
            .await
            .unwrap(),
        1
    );
    // Linked again: same index, aliases added once.
    assert_eq!(
        store
            .link_artifact("a3", &registry, &["prod".into(), "latest".into()])
            .await
            .unwrap(),
        0
    );
    let linked = store.linked(&registry).await.unwrap();
    assert_eq!(
        linked
            .iter()
            .map(|(l, a)| (l.version_index, a.id.as_str()))
            .collect::<Vec<_>>(),
        [(0, "a3"), (1, "a1")]
    );
    assert_eq!(linked[0].0.aliases, ["latest", "prod"]);
    assert!(matches!(
        store.link_artifact("nope", &registry, &[]).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Files are replaced by path; multipart uploads keep their parts until finished.
pub(crate) async fn files_and_multipart_uploads(store: &dyn MetaStore) {
    store.create_artifact(draft("m1", "d9", &[])).await.unwrap();
    let blob = |b: &[u8]| BlobId::of("ent", b);
    store
        .put_artifact_file("m1", "a.txt", blob(b"1"))
        .await
        .unwrap();
    store
        .put_artifact_file("m1", "a.txt", blob(b"2"))
        .await
        .unwrap();
    let a = store.artifact("m1").await.unwrap().unwrap();
    assert_eq!(a.files, [("a.txt".to_owned(), blob(b"2"))]);
    let upload = MultipartUpload {
        path: "big.bin".into(),
        part_md5s: vec!["x".into(), "y".into()],
        ..MultipartUpload::default()
    };
    store.start_multipart("m1", "u1", upload).await.unwrap();
    assert!(store.put_part("m1", "u1", 2, blob(b"p2")).await.unwrap());
    assert!(store.put_part("m1", "u1", 1, blob(b"p1")).await.unwrap());
    assert!(!store.put_part("m1", "u9", 1, blob(b"p1")).await.unwrap());
    let open = store.multipart("m1", "u1").await.unwrap().unwrap();
    assert_eq!(
        open.parts.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [1, 2]
    );
    store
        .finish_multipart("m1", "u1", Some(("md5".into(), blob(b"p1p2"))))
        .await
        .unwrap();
    let done = store.multipart("m1", "u1").await.unwrap().unwrap();
    assert_eq!(done.completed.as_deref(), Some("md5"));
    assert!(
        !store.put_part("m1", "u1", 3, blob(b"late")).await.unwrap(),
        "a finished upload takes no parts"
    );
    assert_eq!(
        store.artifact("m1").await.unwrap().unwrap().file("big.bin"),
        Some(&blob(b"p1p2"))
    );
    let run_file = blob(b"cfg");
    store
        .put_run_file(&key(), "config.yaml", run_file.clone())
        .await
        .unwrap();
    assert_eq!(
        store.run_files(&key()).await.unwrap(),
        [("config.yaml".to_owned(), run_file)]
    );
}

/// Keys are found by their hash, labels are unique, a revoked key is gone.
pub(crate) async fn users_and_keys(store: &dyn MetaStore) {
    assert!(store.add_user("ada", false).await.unwrap());
    assert!(!store.add_user("ada", true).await.unwrap());
    assert!(matches!(
        store.add_key("nobody", "h0", "k0").await,
        Err(StoreError::NotFound(_))
    ));
    store.add_key("ada", "h1", "k1").await.unwrap();
    assert_eq!(store.key_labels("ada").await.unwrap(), ["k1"]);
    assert!(store.key_labels("nobody").await.unwrap().is_empty());
    assert!(matches!(
        store.add_key("ada", "h2", "k1").await,
        Err(StoreError::Conflict(_))
    ));
    let ada = store.key_user("h1").await.unwrap().unwrap();
    assert_eq!(
        (ada.user.as_str(), ada.admin, ada.teams.len()),
        ("ada", false, 0)
    );
    assert!(store.add_team("vision").await.unwrap());
    assert!(matches!(
        store.add_team("ada").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.add_user("vision", false).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.add_member("vision", "bob").await,
        Err(StoreError::NotFound(_))
    ));
    store.add_member("vision", "ada").await.unwrap();
    store.add_member("vision", "ada").await.unwrap();
    assert_eq!(
        store.team_members("vision").await.unwrap(),
        Some(vec!["ada".to_owned()]),
        "a member once"
    );
    assert_eq!(
        store.team_members("ada").await.unwrap(),
        None,
        "a user, not a team"
    );
    assert_eq!(
        store.key_user("h1").await.unwrap().unwrap().teams,
        ["vision"]
    );
    assert_eq!(store.key_user("h2").await.unwrap(), None);
    assert!(store.revoke_key("k1").await.unwrap());
    assert!(!store.revoke_key("k1").await.unwrap());
    assert_eq!(store.key_user("h1").await.unwrap(), None);
    assert_eq!(store.users().await.unwrap(), ["ada"]);
}

/// A resend that spans what two earlier requests stored replaces exactly those lines; reads
/// of any window see the lines in order.
pub(crate) async fn resends_across_requests_replace_in_place(store: &dyn MetaStore) {
    let rows = |from: usize, to: usize, tag: &str| -> Vec<String> {
        (from..to)
            .map(|i| format!("{{\"_step\":{i},\"v\":\"{tag}\"}}"))
            .collect()
    };
    let send = |offset: usize, lines: Vec<String>| async move {
        let batch = StreamBatch {
            chunks: vec![(Stream::History, Chunk { offset, lines })],
            ..StreamBatch::default()
        };
        store.append_stream(&key(), batch).await.unwrap().mismatches
    };
    assert!(send(0, rows(0, 3, "a")).await.is_empty());
    assert!(send(3, rows(3, 6, "a")).await.is_empty());
    assert!(send(6, rows(6, 9, "a")).await.is_empty());
    // Lines 2..7 again, changed, then the stream goes on.
    assert_eq!(send(2, rows(2, 7, "b")).await[0].expected, 9);
    assert!(send(9, rows(9, 10, "a")).await.is_empty());
    let stored = all(store, Stream::History).await;
    let mut want = rows(0, 2, "a");
    want.extend(rows(2, 7, "b"));
    want.extend(rows(7, 10, "a"));
    assert_eq!(stored, want);
    for (from, limit) in [(0, 1), (1, 3), (2, 5), (5, 100), (9, 1), (10, 5), (4, 0)] {
        let got = store
            .lines(&key(), &Stream::History, from, limit)
            .await
            .unwrap();
        let end = (from + limit).min(want.len());
        assert_eq!(got, want[from.min(end)..end], "lines {from}+{limit}");
    }
    let run = store.run(&key()).await.unwrap().unwrap();
    assert_eq!(run.history_lines, 10);
    // A resend that runs past the end extends the stream.
    assert_eq!(send(8, rows(8, 12, "c")).await[0].expected, 10);
    assert_eq!(all(store, Stream::History).await.len(), 12);
}

/// A metric reads back bucketed from whatever requests carried it, and a resend that
/// changes rows changes the points they gave (never counts them twice).
pub(crate) async fn series_follow_the_rows(store: &dyn MetaStore) {
    let rows = |from: usize, to: usize, scale: f64| -> Vec<String> {
        (from..to)
            .map(|s| {
                format!(
                    "{{\"_step\":{s},\"loss\":{},\"img\":{{\"_type\":\"image-file\"}}}}",
                    s as f64 * scale
                )
            })
            .collect()
    };
    let send = |offset: usize, lines: Vec<String>| async move {
        let batch = StreamBatch {
            chunks: vec![(Stream::History, Chunk { offset, lines })],
            ..StreamBatch::default()
        };
        store.append_stream(&key(), batch).await.unwrap();
    };
    send(0, rows(0, 50, 1.0)).await;
    send(50, rows(50, 100, 1.0)).await;
    // Rows 40..60 again, changed: stored once, with the new values.
    send(40, rows(40, 60, 2.0)).await;
    let query = SeriesQuery {
        stream: Stream::History,
        key: "loss".into(),
        steps: None,
        buckets: 10,
    };
    let buckets = store.series(&key(), &query).await.unwrap();
    assert_eq!(buckets.len(), 10);
    assert!(buckets.iter().all(|b| b.count == 10), "{buckets:?}");
    assert_eq!(
        (buckets[0].min, buckets[0].max, buckets[0].mean),
        (0.0, 9.0, 4.5)
    );
    assert_eq!(buckets[4].max, 98.0);
    assert_eq!(
        (buckets[5].min, buckets[5].last, buckets[5].last_step),
        (100.0, 118.0, 59)
    );
    let some = SeriesQuery {
        steps: Some(95..1000),
        buckets: 1000,
        ..query.clone()
    };
    let tail = store.series(&key(), &some).await.unwrap();
    assert_eq!(tail.iter().map(|b| b.count).sum::<usize>(), 5);
    assert_eq!(tail[0].steps, 95..96);
    let keys = store.series_keys(&key(), &Stream::History).await.unwrap();
    assert_eq!(keys, ["loss"]);
    let other = SeriesQuery {
        key: "nope".into(),
        ..query
    };
    assert!(store.series(&key(), &other).await.unwrap().is_empty());
    // System metrics have no step: their line number stands in.
    let events = StreamBatch {
        chunks: vec![(
            Stream::Events,
            Chunk {
                offset: 0,
                lines: vec!["{\"system.cpu\":5}".into(), "{\"system.cpu\":7}".into()],
            },
        )],
        ..StreamBatch::default()
    };
    store.append_stream(&key(), events).await.unwrap();
    let cpu = SeriesQuery {
        stream: Stream::Events,
        key: "system.cpu".into(),
        steps: None,
        buckets: 100,
    };
    let cpu = store.series(&key(), &cpu).await.unwrap();
    assert_eq!(
        cpu.iter()
            .map(|b| (b.steps.start, b.last))
            .collect::<Vec<_>>(),
        [(0, 5.0), (1, 7.0)]
    );
}

/// Runs are found by config and summary values and sorted by one, missing values last.
pub(crate) async fn runs_filter_and_sort_by_their_fields(store: &dyn MetaStore) {
    let runs = [
        ("a", 0.1, Some("0.5"), "adam"),
        ("b", 0.01, Some("0.2"), "sgd"),
        ("c", 0.1, None, "adam"),
        ("d", 0.1, Some("0.1"), "adam"),
        ("e", 0.1, Some("\"text\""), "adam"),
    ];
    for (name, lr, loss, optim) in runs {
        let key = RunKey::new("ent", "proj", name);
        let config = serde_json::json!({"lr": {"value": lr}, "optim": {"value": {"name": optim}}, "_wandb": {"value": {"x": 1}}});
        let patch = RunPatch {
            config: Some(config),
            ..RunPatch::default()
        };
        store.upsert_run(&key, patch).await.unwrap();
        if let Some(loss) = loss {
            let batch = StreamBatch {
                summary: Some((format!("{{\"loss\":{loss},\"best\":{{\"acc\":1}}}}"), 0)),
                ..StreamBatch::default()
            };
            store.append_stream(&key, batch).await.unwrap();
        }
    }
    let other = RunKey::new("ent", "elsewhere", "z");
    store.upsert_run(&other, RunPatch::default()).await.unwrap();
    let find = |q: RunQuery| async move { store.find_runs(&q).await.unwrap() };
    let base = || RunQuery::new("ent", "proj");
    assert_eq!(find(base()).await, ["a", "b", "c", "d", "e"]);
    let adam = base()
        .filter(
            "config.optim.name",
            Compare::Eq,
            FieldValue::Text("adam".into()),
        )
        .filter("config.lr", Compare::Ge, FieldValue::Num(0.05));
    assert_eq!(find(adam.clone()).await, ["a", "c", "d", "e"]);
    let by_loss = adam.clone().order_by("summary.loss", false);
    assert_eq!(find(by_loss).await, ["d", "a", "e", "c"]);
    let by_loss_desc = adam.order_by("summary.loss", true).limit(2);
    assert_eq!(find(by_loss_desc).await, ["a", "d"]);
    let low = base().filter("summary.loss", Compare::Lt, FieldValue::Num(0.3));
    assert_eq!(find(low).await, ["b", "d"]);
    let nested = base().filter("summary.best.acc", Compare::Eq, FieldValue::Num(1.0));
    assert_eq!(find(nested).await.len(), 4);
    let wandb = base().filter("config._wandb.x", Compare::Eq, FieldValue::Num(1.0));
    assert!(find(wandb).await.is_empty());
    // A new summary replaces the old fields.
    let batch = StreamBatch {
        summary: Some(("{\"acc\":3}".into(), 0)),
        ..StreamBatch::default()
    };
    store
        .append_stream(&RunKey::new("ent", "proj", "d"), batch)
        .await
        .unwrap();
    let low = base().filter("summary.loss", Compare::Lt, FieldValue::Num(0.3));
    assert_eq!(find(low).await, ["b"]);
}

/// A deleted run is gone with all it held; the blobs its files named become orphans once
/// no other row names them.
pub(crate) async fn deleted_runs_leave_orphans(store: &dyn MetaStore) {
    let (a, b) = (RunKey::new("e", "p", "a"), RunKey::new("e", "p", "b"));
    let (shared, own) = (BlobId::of("e", b"shared"), BlobId::of("e", b"own"));
    store
        .put_run_file(&a, "s.txt", shared.clone())
        .await
        .unwrap();
    store.put_run_file(&a, "o.txt", own.clone()).await.unwrap();
    store
        .put_run_file(&b, "s.txt", shared.clone())
        .await
        .unwrap();
    let rows = StreamBatch {
        chunks: vec![(
            Stream::History,
            Chunk {
                offset: 0,
                lines: vec!["{\"x\":1}".into()],
            },
        )],
        summary: Some(("{\"x\":1}".into(), 0)),
        ..StreamBatch::default()
    };
    store.append_stream(&a, rows).await.unwrap();
    assert!(store.delete_run(&a).await.unwrap());
    assert!(!store.delete_run(&a).await.unwrap(), "gone already");
    assert!(store.run(&a).await.unwrap().is_none());
    assert!(
        store
            .lines(&a, &Stream::History, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .find_runs(&RunQuery::new("e", "p").filter(
                "summary.x",
                Compare::Eq,
                FieldValue::Num(1.0)
            ))
            .await
            .unwrap()
            .is_empty()
    );
    let orphans = store.orphan_blobs().await.unwrap();
    assert_eq!(orphans.unreferenced, std::slice::from_ref(&own));
    assert_eq!(orphans.named_again, std::slice::from_ref(&shared));
    store.forget_orphans(&[own, shared.clone()]).await.unwrap();
    assert_eq!(store.orphan_blobs().await.unwrap(), Orphans::default());
    assert!(store.delete_run(&b).await.unwrap());
    assert_eq!(store.orphan_blobs().await.unwrap().unreferenced, [shared]);
    assert!(store.run(&b).await.unwrap().is_none());
}

/// Deleted artifact versions are gone with their files; the blobs only they named become
/// orphans, a blob another version names is named again.
pub(crate) async fn deleted_artifacts_leave_orphans(store: &dyn MetaStore) {
    let blob = |b: &[u8]| BlobId::of("ent", b);
    for (id, digest) in [("d1", "x1"), ("d2", "x2"), ("k1", "x3")] {
        store.create_artifact(draft(id, digest, &[])).await.unwrap();
    }
    store
        .put_artifact_file("d1", "own.bin", blob(b"own"))
        .await
        .unwrap();
    store
        .put_artifact_file("d2", "shared.bin", blob(b"shared"))
        .await
        .unwrap();
    store
        .put_artifact_file("k1", "shared.bin", blob(b"shared"))
        .await
        .unwrap();
    let ids = ["d1".to_owned(), "d2".to_owned(), "missing".to_owned()];
    assert_eq!(store.delete_artifacts(&ids).await.unwrap(), 2);
    assert!(store.artifact("d1").await.unwrap().is_none());
    assert!(store.artifact("d2").await.unwrap().is_none());
    assert!(
        store.artifact("k1").await.unwrap().is_some(),
        "another version stays"
    );
    let orphans = store.orphan_blobs().await.unwrap();
    assert_eq!(orphans.unreferenced, [blob(b"own")]);
    assert_eq!(orphans.named_again, [blob(b"shared")]);
    assert_eq!(
        store.delete_artifacts(&ids).await.unwrap(),
        0,
        "gone already"
    );
}

/// Webhooks per project, and a delivery queue that an alert fills in its own transaction.
pub(crate) async fn webhooks_and_their_queue(store: &dyn MetaStore) {
    let hook = Webhook::new("e", "p", "http://127.0.0.1:9/h", HookFormat::Json);
    assert!(store.add_webhook(&hook).await.unwrap());
    assert!(!store.add_webhook(&hook).await.unwrap(), "once");
    let other = Webhook::new("e", "a", "http://x/y", HookFormat::Slack);
    store.add_webhook(&other).await.unwrap();
    assert_eq!(
        store.webhooks().await.unwrap(),
        [other.clone(), hook.clone()]
    );
    assert!(store.remove_webhook(&other).await.unwrap());
    assert!(!store.remove_webhook(&other).await.unwrap());
    assert_eq!(store.next_delivery_at().await.unwrap(), None);
    let alert = Alert {
        title: "t".into(),
        text: "x".into(),
        severity: None,
        wait_duration: None,
    };
    let delivery = |body: &str| Delivery {
        id: 0,
        url: hook.url.clone(),
        body: body.into(),
        attempts: 0,
    };
    store
        .add_alert(&key(), alert, vec![delivery("one"), delivery("two")])
        .await
        .unwrap();
    assert_eq!(store.run(&key()).await.unwrap().unwrap().alerts.len(), 1);
    let due = store.due_deliveries(now_ms(), 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(),
        ["one", "two"]
    );
    assert!(
        store.due_deliveries(0, 10).await.unwrap().is_empty(),
        "not due before now"
    );
    // One fails and waits; the other is delivered.
    let later = now_ms() + 60_000;
    store
        .finish_delivery(due[0].id, Some((later, "refused".into())))
        .await
        .unwrap();
    store.finish_delivery(due[1].id, None).await.unwrap();
    assert!(store.due_deliveries(now_ms(), 10).await.unwrap().is_empty());
    assert_eq!(store.next_delivery_at().await.unwrap(), Some(later));
    let retried = store.due_deliveries(later, 10).await.unwrap();
    assert_eq!((retried.len(), retried[0].attempts), (1, 1));
    store.finish_delivery(retried[0].id, None).await.unwrap();
    assert_eq!(store.next_delivery_at().await.unwrap(), None);
}

/// Sessions end when they expire or are removed; a sign-in token works once and only in
/// time; a password belongs to a user that exists.
pub(crate) async fn sessions_tokens_and_passwords(store: &dyn MetaStore) {
    store.add_user("ada", false).await.unwrap();
    store.add_team("vision").await.unwrap();
    store.add_member("vision", "ada").await.unwrap();
    let now = now_ms();
    store
        .add_session("h1", "ada", "c1", now + 60_000)
        .await
        .unwrap();
    store.add_session("h2", "ada", "c2", now - 1).await.unwrap();
    let (caller, csrf) = store.session("h1", now).await.unwrap().unwrap();
    assert_eq!(
        (caller.user.as_str(), caller.teams.as_slice(), csrf.as_str()),
        ("ada", &["vision".to_owned()][..], "c1")
    );
    assert!(store.session("h2", now).await.unwrap().is_none(), "expired");
    assert!(
        store.session("h1", now + 60_000).await.unwrap().is_none(),
        "ends on time"
    );
    store.remove_session("h1").await.unwrap();
    assert!(store.session("h1", now).await.unwrap().is_none());
    store
        .add_signin_token("t1", "ada", now + 10_000)
        .await
        .unwrap();
    store
        .add_signin_token("t2", "ada", now + 1_000)
        .await
        .unwrap();
    assert!(
        store
            .take_signin_token("t2", now + 1_000)
            .await
            .unwrap()
            .is_none(),
        "too late"
    );
    assert!(
        store.take_signin_token("t2", now).await.unwrap().is_none(),
        "used up by the late try"
    );
    assert_eq!(
        store.take_signin_token("t1", now).await.unwrap().as_deref(),
        Some("ada")
    );
    assert!(
        store.take_signin_token("t1", now).await.unwrap().is_none(),
        "once"
    );
    assert!(store.set_password("ada", "$argon2id$x").await.unwrap());
    assert!(!store.set_password("nobody", "$argon2id$x").await.unwrap());
    assert_eq!(
        store.password("ada").await.unwrap().as_deref(),
        Some("$argon2id$x")
    );
    assert!(store.password("nobody").await.unwrap().is_none());
}

pub(crate) async fn imports_and_crashed_runs(store: &dyn MetaStore) {
    assert!(
        store
            .import_position("/w/run.wandb")
            .await
            .unwrap()
            .is_none()
    );
    let mut position = ImportPosition {
        key: key(),
        log_offset: 4096,
        offsets: [10, 2, 7],
        done: false,
    };
    store
        .save_import_position("/w/run.wandb", &position)
        .await
        .unwrap();
    position.log_offset = 8192;
    position.done = true;
    store
        .save_import_position("/w/run.wandb", &position)
        .await
        .unwrap();
    assert_eq!(
        store.import_position("/w/run.wandb").await.unwrap(),
        Some(position),
        "the last position saved"
    );
    assert!(
        store
            .import_position("/w/other.wandb")
            .await
            .unwrap()
            .is_none()
    );

    let end = |crashed| StreamBatch {
        complete: true,
        exit_code: Some(1),
        crashed,
        ..StreamBatch::default()
    };
    store.append_stream(&key(), end(true)).await.unwrap();
    let run = store.run(&key()).await.unwrap().unwrap();
    assert!(run.crashed);
    let (created, heartbeat) = (run.created_ms.unwrap(), run.heartbeat_ms.unwrap());
    assert!(
        created > 1_700_000_000_000 && heartbeat >= created,
        "{run:?}"
    );
    let more = chunk(Stream::History, 0, &["{}"]);
    store.append_stream(&key(), more).await.unwrap();
    assert!(
        store.run(&key()).await.unwrap().unwrap().crashed,
        "a request without `complete` leaves it"
    );
    store.append_stream(&key(), end(false)).await.unwrap();
    assert!(
        !store.run(&key()).await.unwrap().unwrap().crashed,
        "a run that went on and finished did not crash"
    );
}

/// Every check, against one fresh store each.
pub(crate) async fn check_all<S: MetaStore>(fresh: impl Fn() -> S) {
    upserts_change_only_what_they_set(&fresh()).await;
    streams_keep_each_line_once(&fresh()).await;
    artifact_versions(&fresh()).await;
    links_keep_their_index(&fresh()).await;
    files_and_multipart_uploads(&fresh()).await;
    users_and_keys(&fresh()).await;
    resends_across_requests_replace_in_place(&fresh()).await;
    series_follow_the_rows(&fresh()).await;
    runs_filter_and_sort_by_their_fields(&fresh()).await;
    deleted_runs_leave_orphans(&fresh()).await;
    deleted_artifacts_leave_orphans(&fresh()).await;
    webhooks_and_their_queue(&fresh()).await;
    sessions_tokens_and_passwords(&fresh()).await;
    imports_and_crashed_runs(&fresh()).await;
}

#[test]
fn the_memory_store_keeps_every_rule() {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(check_all(MemoryStore::default));
}
