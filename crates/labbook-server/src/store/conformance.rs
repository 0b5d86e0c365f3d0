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

/// Every check, against one fresh store each.
pub(crate) async fn check_all<S: MetaStore>(fresh: impl Fn() -> S) {
    upserts_change_only_what_they_set(&fresh()).await;
    streams_keep_each_line_once(&fresh()).await;
    artifact_versions(&fresh()).await;
    links_keep_their_index(&fresh()).await;
    files_and_multipart_uploads(&fresh()).await;
    users_and_keys(&fresh()).await;
    resends_across_requests_replace_in_place(&fresh()).await;
}

#[test]
fn the_memory_store_keeps_every_rule() {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(check_all(MemoryStore::default));
}
