//! [`MetaStore`] for [`SqliteStore`]: each intent one closure on the writer (inside the
//! group transaction) or the reader. The rules that must hold across concurrent requests
//! are decided inside the transaction: a stream's line count, a version's index in a
//! portfolio, the one committed version per digest.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::chunks::Prepared;
use super::{SqliteStore, sql};
use crate::store::{
    Alert, ArtifactDraft, ArtifactLink, ArtifactRecord, BlobId, Bucket, Caller, Chunk,
    CollectionKey, Created, Delivery, ImportPosition, JsonLine, MetaStore, Mismatch,
    MultipartUpload, Orphans, RunKey, RunPatch, RunQuery, RunRecord, SeriesQuery, StoreError,
    StoreResult, Stream, StreamBatch, StreamOutcome, Webhook,
};

/// How many ids one reservation takes (one write per this many ids).
const ID_BLOCK: u64 = 1024;

fn json_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

fn parse_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn add_aliases(to: &mut Vec<String>, aliases: &[String]) {
    for alias in aliases {
        if !to.contains(alias) {
            to.push(alias.clone());
        }
    }
}

/// Whether `query` (taking one text parameter) finds a row.
fn exists(c: &Connection, query: &str, arg: &str) -> StoreResult<bool> {
    c.query_row(query, [arg], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
        .map_err(sql)
}

fn run_id(c: &Connection, key: &RunKey) -> StoreResult<Option<i64>> {
    c.query_row(
        "SELECT id FROM runs WHERE entity = ?1 AND project = ?2 AND name = ?3",
        params![key.entity, key.project, key.run],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql)
}

/// The run's id, creating the run first if needed; and whether it was created.
fn ensure_run(c: &Connection, key: &RunKey) -> StoreResult<(i64, bool)> {
    let inserted = c
        .execute(
            "INSERT OR IGNORE INTO runs (entity, project, name, created_at, heartbeat_at)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![key.entity, key.project, key.run, crate::store::now_ms()],
        )
        .map_err(sql)?;
    let id = run_id(c, key)?.ok_or_else(|| StoreError::Unavailable("a run vanished".into()))?;
    Ok((id, inserted == 1))
}

fn stream_lines(c: &Connection, run: i64, stream: &str) -> StoreResult<usize> {
    let n: Option<i64> = c
        .query_row(
            "SELECT lines FROM streams WHERE run = ?1 AND stream = ?2",
            params![run, stream],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?;
    Ok(n.unwrap_or(0) as usize)
}

fn load_run(c: &Connection, id: i64) -> StoreResult<RunRecord> {
    let mut run = c
        .query_row(
            "SELECT entity, project, name, storage_id, display_name, config, tags, run_group,
                job_type, notes, host, program, sweep, git_commit, repo, upserts, summary,
                uploaded, preempting, stop_requested, complete, exit_code, used_artifacts,
                crashed, created_at, heartbeat_at
             FROM runs WHERE id = ?1",
            [id],
            |r| {
                let config: Option<String> = r.get(5)?;
                let summary: Option<String> = r.get(16)?;
                Ok(RunRecord {
                    key: RunKey::new(
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ),
                    storage_id: r.get(3)?,
                    display_name: r.get(4)?,
                    config: config.and_then(|t| crate::store::parse_lenient(&t).ok()),
                    tags: parse_list(&r.get::<_, String>(6)?),
                    group: r.get(7)?,
                    job_type: r.get(8)?,
                    notes: r.get(9)?,
                    host: r.get(10)?,
                    program: r.get(11)?,
                    sweep: r.get(12)?,
                    commit: r.get(13)?,
                    repo: r.get(14)?,
                    upserts: r.get::<_, i64>(15)? as usize,
                    summary: summary.map(JsonLine::parse),
                    uploaded: parse_list(&r.get::<_, String>(17)?),
                    preempting: r.get(18)?,
                    stop_requested: r.get(19)?,
                    complete: r.get(20)?,
                    exit_code: r.get(21)?,
                    used_artifacts: parse_list(&r.get::<_, String>(22)?),
                    crashed: r.get(23)?,
                    created_ms: r.get(24)?,
                    heartbeat_ms: r.get(25)?,
                    ..RunRecord::default()
                })
            },
        )
        .map_err(sql)?;
    run.history_lines = stream_lines(c, id, Stream::History.file_name())?;
    run.events_lines = stream_lines(c, id, Stream::Events.file_name())?;
    run.output_lines = stream_lines(c, id, Stream::Output.file_name())?;
    let mut alerts = c
        .prepare_cached(
            "SELECT title, body, severity, wait_duration FROM alerts WHERE run = ?1 ORDER BY id",
        )
        .map_err(sql)?;
    run.alerts = alerts
        .query_map([id], |r| {
            let wait: Option<String> = r.get(3)?;
            Ok(Alert {
                title: r.get(0)?,
                text: r.get(1)?,
                severity: r.get(2)?,
                wait_duration: wait.and_then(|w| serde_json::from_str(&w).ok()),
            })
        })
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)?;
    Ok(run)
}

fn apply_patch(c: &Connection, id: i64, p: &RunPatch) -> StoreResult<()> {
    let config = p.config.as_ref().map(serde_json::Value::to_string);
    let tags = p.tags.as_deref().map(json_list);
    c.execute(
        "UPDATE runs SET
            storage_id = CASE WHEN storage_id = '' THEN ?2 ELSE storage_id END,
            upserts = upserts + ?3,
            display_name = COALESCE(?4, display_name, ?5),
            config = COALESCE(?6, config),
            tags = COALESCE(?7, tags),
            run_group = COALESCE(?8, run_group),
            job_type = COALESCE(?9, job_type),
            notes = COALESCE(?10, notes),
            host = COALESCE(?11, host),
            program = COALESCE(?12, program),
            sweep = COALESCE(?13, sweep),
            git_commit = COALESCE(?14, git_commit),
            repo = COALESCE(?15, repo)
         WHERE id = ?1",
        params![
            id,
            p.storage_id,
            i64::from(p.counts_as_upsert),
            p.display_name,
            p.default_display_name,
            config,
            tags,
            p.group,
            p.job_type,
            p.notes,
            p.host,
            p.program,
            p.sweep,
            p.commit,
            p.repo
        ],
    )
    .map_err(sql)?;
    if let Some(config) = &config {
        super::fields::set_config(c, id, config)?;
    }
    Ok(())
}

/// Places one chunk by its stream's rule and returns the mismatch, if any.
fn place_chunk(
    c: &Connection,
    run: i64,
    stream: &Stream,
    chunk: &Chunk,
    prepared: Option<Prepared>,
) -> StoreResult<Option<Mismatch>> {
    let (offset, lines) = (chunk.offset, &chunk.lines);
    let name = stream.file_name();
    let count = stream_lines(c, run, name)?;
    // As `place_rows` / `place_overwrite`: rows continue exactly (a skip is appended at the
    // end); console lines may restart earlier but not skip.
    let (start, mismatch) = if stream.is_rows() {
        (
            if offset >= count { count } else { offset },
            offset != count,
        )
    } else if offset > count {
        (count, true)
    } else {
        (offset, false)
    };
    super::chunks::write(c, run, name, start, lines, prepared)?;
    let new_count = count.max(start + lines.len());
    c.execute(
        "INSERT INTO streams (run, stream, lines) VALUES (?1, ?2, ?3)
         ON CONFLICT (run, stream) DO UPDATE SET lines = excluded.lines",
        params![run, name, new_count as i64],
    )
    .map_err(sql)?;
    Ok(mismatch.then(|| Mismatch {
        file: name.to_owned(),
        expected: count,
        received: offset,
        lines: lines.len(),
    }))
}

fn apply_batch(
    c: &Connection,
    key: &RunKey,
    batch: StreamBatch,
    prepared: Vec<Option<Prepared>>,
) -> StoreResult<StreamOutcome> {
    let (run, _) = ensure_run(c, key)?;
    let mut mismatches = Vec::new();
    for ((stream, chunk), prepared) in batch.chunks.iter().zip(prepared) {
        mismatches.extend(place_chunk(c, run, stream, chunk, prepared)?);
    }
    if let Some((summary, offset)) = &batch.summary {
        c.execute(
            "UPDATE runs SET summary = ?2 WHERE id = ?1",
            params![run, summary],
        )
        .map_err(sql)?;
        super::fields::set_summary(c, run, summary)?;
        if *offset != 0 {
            mismatches.push(Mismatch {
                file: "wandb-summary.json".to_owned(),
                expected: 0,
                received: *offset,
                lines: 1,
            });
        }
    }
    if !batch.uploaded.is_empty() {
        let stored: String = c
            .query_row("SELECT uploaded FROM runs WHERE id = ?1", [run], |r| {
                r.get(0)
            })
            .map_err(sql)?;
        let mut uploaded = parse_list(&stored);
        uploaded.extend(batch.uploaded);
        c.execute(
            "UPDATE runs SET uploaded = ?2 WHERE id = ?1",
            params![run, json_list(&uploaded)],
        )
        .map_err(sql)?;
    }
    c.execute(
        "UPDATE runs SET preempting = preempting OR ?2, complete = complete OR ?3,
            exit_code = COALESCE(?4, exit_code),
            crashed = CASE WHEN ?3 THEN ?5 ELSE crashed END, heartbeat_at = ?6 WHERE id = ?1",
        params![
            run,
            batch.preempting,
            batch.complete,
            batch.exit_code,
            batch.crashed,
            crate::store::now_ms()
        ],
    )
    .map_err(sql)?;
    let stop_requested: bool = c
        .query_row(
            "SELECT stop_requested FROM runs WHERE id = ?1",
            [run],
            |r| r.get(0),
        )
        .map_err(sql)?;
    Ok(StreamOutcome {
        mismatches,
        stop_requested,
    })
}

fn artifact_seq(c: &Connection, id: &str) -> StoreResult<i64> {
    c.query_row("SELECT seq FROM artifacts WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .optional()
    .map_err(sql)?
    .ok_or_else(|| StoreError::NotFound(format!("no artifact with id `{id}`")))
}

fn load_artifact(c: &Connection, seq: i64) -> StoreResult<ArtifactRecord> {
    let mut a = c
        .query_row(
            "SELECT id, entity, project, artifact_type, collection, run, digest, metadata,
                aliases, state, manifest FROM artifacts WHERE seq = ?1",
            [seq],
            |r| {
                let manifest: Option<String> = r.get(10)?;
                Ok(ArtifactRecord {
                    id: r.get(0)?,
                    entity: r.get(1)?,
                    project: r.get(2)?,
                    artifact_type: r.get(3)?,
                    collection: r.get(4)?,
                    run: r.get(5)?,
                    digest: r.get(6)?,
                    metadata: r.get(7)?,
                    aliases: parse_list(&r.get::<_, String>(8)?),
                    state: r.get(9)?,
                    manifest: manifest.map(JsonLine::parse),
                    ..ArtifactRecord::default()
                })
            },
        )
        .map_err(sql)?;
    let mut files = c
        .prepare_cached("SELECT path, blob FROM artifact_files WHERE artifact = ?1")
        .map_err(sql)?;
    a.files = files
        .query_map([seq], |r| Ok((r.get(0)?, BlobId::from_stored(r.get(1)?))))
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)?;
    let mut links = c
        .prepare_cached(
            "SELECT entity, project, portfolio, aliases, version_index FROM artifact_links
             WHERE artifact = ?1",
        )
        .map_err(sql)?;
    a.links = links
        .query_map([seq], |r| {
            Ok(ArtifactLink {
                entity: r.get(0)?,
                project: r.get(1)?,
                portfolio: r.get(2)?,
                aliases: parse_list(&r.get::<_, String>(3)?),
                version_index: r.get::<_, i64>(4)? as usize,
            })
        })
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)?;
    Ok(a)
}

fn load_artifacts(
    c: &Connection,
    query: &str,
    args: impl rusqlite::Params,
) -> StoreResult<Vec<ArtifactRecord>> {
    let mut stmt = c.prepare_cached(query).map_err(sql)?;
    let seqs: Vec<i64> = stmt
        .query_map(args, |r| r.get(0))
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)?;
    seqs.into_iter().map(|s| load_artifact(c, s)).collect()
}

fn create_artifact(c: &Connection, d: ArtifactDraft) -> StoreResult<Created> {
    let existing: Option<(i64, String)> = c
        .query_row(
            "SELECT seq, aliases FROM artifacts WHERE state = 'COMMITTED' AND digest IS NOT NULL
                AND digest IS ?1 AND collection IS ?2 AND project IS ?3 AND entity IS ?4
             ORDER BY seq DESC LIMIT 1",
            params![d.digest, d.collection, d.project, d.entity],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql)?;
    if let Some((seq, aliases)) = existing {
        let mut aliases = parse_list(&aliases);
        add_aliases(&mut aliases, &d.aliases);
        c.execute(
            "UPDATE artifacts SET aliases = ?2 WHERE seq = ?1",
            params![seq, json_list(&aliases)],
        )
        .map_err(sql)?;
        return Ok(Created::Existing(load_artifact(c, seq)?));
    }
    c.execute(
        "INSERT INTO artifacts (id, entity, project, artifact_type, collection, run, digest,
            metadata, aliases, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'PENDING')",
        params![
            d.id,
            d.entity,
            d.project,
            d.artifact_type,
            d.collection,
            d.run,
            d.digest,
            d.metadata,
            json_list(&d.aliases)
        ],
    )
    .map_err(sql)?;
    Ok(Created::New(load_artifact(c, c.last_insert_rowid())?))
}

fn load_multipart(
    c: &Connection,
    seq: i64,
    upload_id: &str,
) -> StoreResult<Option<MultipartUpload>> {
    let upload = c
        .query_row(
            "SELECT path, md5, part_md5s, completed FROM multipart
             WHERE artifact = ?1 AND upload_id = ?2",
            params![seq, upload_id],
            |r| {
                Ok(MultipartUpload {
                    path: r.get(0)?,
                    md5: r.get(1)?,
                    part_md5s: parse_list(&r.get::<_, String>(2)?),
                    completed: r.get(3)?,
                    parts: Vec::new(),
                })
            },
        )
        .optional()
        .map_err(sql)?;
    let Some(mut upload) = upload else {
        return Ok(None);
    };
    let mut parts = c
        .prepare_cached(
            "SELECT part, blob FROM multipart_parts WHERE artifact = ?1 AND upload_id = ?2
             ORDER BY part",
        )
        .map_err(sql)?;
    upload.parts = parts
        .query_map(params![seq, upload_id], |r| {
            Ok((r.get::<_, i64>(0)? as u64, BlobId::from_stored(r.get(1)?)))
        })
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)?;
    Ok(Some(upload))
}

fn link_artifact(
    c: &Connection,
    id: &str,
    p: &CollectionKey,
    aliases: &[String],
) -> StoreResult<usize> {
    let seq = artifact_seq(c, id)?;
    let existing: Option<(i64, String)> = c
        .query_row(
            "SELECT version_index, aliases FROM artifact_links
             WHERE entity = ?1 AND project = ?2 AND portfolio = ?3 AND artifact = ?4",
            params![p.entity, p.project, p.name, seq],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql)?;
    // A version is in a portfolio once: linking it again adds the aliases and keeps its
    // index (W&B's rule).
    if let Some((index, stored)) = existing {
        let mut all = parse_list(&stored);
        add_aliases(&mut all, aliases);
        c.execute(
            "UPDATE artifact_links SET aliases = ?5
             WHERE entity = ?1 AND project = ?2 AND portfolio = ?3 AND artifact = ?4",
            params![p.entity, p.project, p.name, seq, json_list(&all)],
        )
        .map_err(sql)?;
        return Ok(index as usize);
    }
    let next: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM artifact_links WHERE entity = ?1 AND project = ?2 AND portfolio = ?3",
            params![p.entity, p.project, p.name],
            |r| r.get(0),
        )
        .map_err(sql)?;
    c.execute(
        "INSERT INTO artifact_links (artifact, entity, project, portfolio, version_index, aliases)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![seq, p.entity, p.project, p.name, next, json_list(aliases)],
    )
    .map_err(sql)?;
    Ok(next as usize)
}

fn finish_multipart(
    c: &Connection,
    id: &str,
    upload_id: &str,
    done: Option<(String, BlobId)>,
) -> StoreResult<()> {
    let seq = artifact_seq(c, id)?;
    let Some((md5, blob)) = done else {
        c.execute(
            "DELETE FROM multipart WHERE artifact = ?1 AND upload_id = ?2",
            params![seq, upload_id],
        )
        .map_err(sql)?;
        return Ok(());
    };
    let path: String = c
        .query_row(
            "SELECT path FROM multipart WHERE artifact = ?1 AND upload_id = ?2",
            params![seq, upload_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?
        .ok_or_else(|| StoreError::Conflict(format!("no multipart upload `{upload_id}`")))?;
    c.execute(
        "UPDATE multipart SET completed = ?3 WHERE artifact = ?1 AND upload_id = ?2",
        params![seq, upload_id, md5],
    )
    .map_err(sql)?;
    c.execute(
        "DELETE FROM multipart_parts WHERE artifact = ?1 AND upload_id = ?2",
        params![seq, upload_id],
    )
    .map_err(sql)?;
    c.execute(
        "INSERT OR REPLACE INTO artifact_files (artifact, path, blob) VALUES (?1, ?2, ?3)",
        params![seq, path, blob.as_str()],
    )
    .map_err(sql)?;
    Ok(())
}

impl SqliteStore {
    /// Reserves the next block of ids in the database; answers its first.
    async fn reserve_ids(&self) -> StoreResult<u64> {
        self.write(|c| {
            c.execute(
                "INSERT INTO counters (name, value) VALUES ('ids', ?1)
                 ON CONFLICT (name) DO UPDATE SET value = value + ?1",
                [ID_BLOCK as i64],
            )
            .map_err(sql)?;
            let end: i64 = c
                .query_row("SELECT value FROM counters WHERE name = 'ids'", [], |r| {
                    r.get(0)
                })
                .map_err(sql)?;
            Ok(end as u64 - ID_BLOCK + 1)
        })
        .await
    }
}

#[async_trait]
impl MetaStore for SqliteStore {
    async fn next_id(&self) -> StoreResult<u64> {
        // Ids come from blocks reserved in the database, so two servers on one database
        // never hand out the same one, and a restart never reuses one.
        if let Some(id) = self.ids.lock().take() {
            return Ok(id);
        }
        let first = self.reserve_ids().await?;
        self.ids.lock().refill(first, ID_BLOCK);
        self.ids
            .lock()
            .take()
            .ok_or_else(|| StoreError::Unavailable("no id left in a new block".into()))
    }

    async fn upsert_run(&self, key: &RunKey, patch: RunPatch) -> StoreResult<(RunRecord, bool)> {
        let key = key.clone();
        self.write(move |c| {
            let (id, created) = ensure_run(c, &key)?;
            apply_patch(c, id, &patch)?;
            Ok((load_run(c, id)?, created))
        })
        .await
    }

    async fn run(&self, key: &RunKey) -> StoreResult<Option<RunRecord>> {
        let key = key.clone();
        self.read(move |c| match run_id(c, &key)? {
            Some(id) => load_run(c, id).map(Some),
            None => Ok(None),
        })
        .await
    }

    async fn runs(&self) -> StoreResult<Vec<RunRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT id FROM runs ORDER BY id")
                .map_err(sql)?;
            let ids: Vec<i64> = stmt
                .query_map([], |r| r.get(0))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?;
            ids.into_iter().map(|id| load_run(c, id)).collect()
        })
        .await
    }

    async fn append_stream(&self, key: &RunKey, batch: StreamBatch) -> StoreResult<StreamOutcome> {
        let key = key.clone();
        // Compressing and drawing out series here, on the request's thread, keeps the one
        // writer for what only it can do. A chunk that lands elsewhere is redone there.
        let prepared = batch
            .chunks
            .iter()
            .map(|(stream, chunk)| {
                (!chunk.lines.is_empty())
                    .then(|| super::chunks::prepare(stream.file_name(), chunk.offset, &chunk.lines))
                    .transpose()
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.write(move |c| apply_batch(c, &key, batch, prepared))
            .await
    }

    async fn series(&self, key: &RunKey, query: &SeriesQuery) -> StoreResult<Vec<Bucket>> {
        let (key, query) = (key.clone(), query.clone());
        self.read(move |c| match run_id(c, &key)? {
            Some(run) => super::series::read(c, run, &query),
            None => Ok(Vec::new()),
        })
        .await
    }

    async fn series_keys(&self, key: &RunKey, stream: &Stream) -> StoreResult<Vec<String>> {
        let (key, stream) = (key.clone(), stream.file_name().to_owned());
        self.read(move |c| match run_id(c, &key)? {
            Some(run) => super::series::keys(c, run, &stream),
            None => Ok(Vec::new()),
        })
        .await
    }

    async fn delete_run(&self, key: &RunKey) -> StoreResult<bool> {
        let key = key.clone();
        self.write(move |c| {
            let Some(run) = run_id(c, &key)? else {
                return Ok(false);
            };
            c.execute(
                "INSERT OR IGNORE INTO orphan_blobs (blob) SELECT blob FROM run_files WHERE run = ?1",
                [run],
            )
            .map_err(sql)?;
            // Its streams, chunks, series, fields, alerts and files go with it (cascade).
            c.execute("DELETE FROM runs WHERE id = ?1", [run])
                .map_err(sql)?;
            // The pages it freed go back to the filesystem: the pragma frees a page per
            // step, so it is stepped to the end.
            let mut vacuum = c.prepare("PRAGMA incremental_vacuum").map_err(sql)?;
            let mut steps = vacuum.query([]).map_err(sql)?;
            while steps.next().map_err(sql)?.is_some() {}
            Ok(true)
        })
        .await
    }

    async fn delete_artifacts(&self, ids: &[String]) -> StoreResult<usize> {
        let ids = ids.to_vec();
        self.write(move |c| {
            let mut deleted = 0;
            for id in &ids {
                let seq: Option<i64> = c
                    .query_row("SELECT seq FROM artifacts WHERE id = ?1", [id], |r| r.get(0))
                    .optional()
                    .map_err(sql)?;
                let Some(seq) = seq else { continue };
                for from in ["artifact_files", "multipart_parts"] {
                    c.execute(
                        &format!(
                            "INSERT OR IGNORE INTO orphan_blobs (blob) SELECT blob FROM {from} WHERE artifact = ?1"
                        ),
                        [seq],
                    )
                    .map_err(sql)?;
                }
                // Its files, links and uploads go with it (cascade).
                deleted += c
                    .execute("DELETE FROM artifacts WHERE seq = ?1", [seq])
                    .map_err(sql)?;
            }
            Ok(deleted)
        })
        .await
    }

    async fn orphan_blobs(&self) -> StoreResult<Orphans> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT o.blob,
                        EXISTS (SELECT 1 FROM run_files f WHERE f.blob = o.blob)
                        OR EXISTS (SELECT 1 FROM artifact_files f WHERE f.blob = o.blob)
                        OR EXISTS (SELECT 1 FROM multipart_parts f WHERE f.blob = o.blob)
                     FROM orphan_blobs o",
                )
                .map_err(sql)?;
            let mut orphans = Orphans::default();
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))
                .map_err(sql)?;
            for row in rows {
                let (blob, named) = row.map_err(sql)?;
                let blob = BlobId::from_stored(blob);
                if named {
                    orphans.named_again.push(blob);
                } else {
                    orphans.unreferenced.push(blob);
                }
            }
            Ok(orphans)
        })
        .await
    }

    async fn forget_orphans(&self, blobs: &[BlobId]) -> StoreResult<()> {
        let blobs: Vec<String> = blobs.iter().map(|b| b.as_str().to_owned()).collect();
        self.write(move |c| {
            let mut stmt = c
                .prepare_cached("DELETE FROM orphan_blobs WHERE blob = ?1")
                .map_err(sql)?;
            for blob in &blobs {
                stmt.execute([blob]).map_err(sql)?;
            }
            Ok(())
        })
        .await
    }

    async fn find_runs(&self, query: &RunQuery) -> StoreResult<Vec<String>> {
        let query = query.clone();
        self.read(move |c| super::fields::find(c, &query)).await
    }

    async fn lines(
        &self,
        key: &RunKey,
        stream: &Stream,
        from: usize,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let (key, name) = (key.clone(), stream.file_name().to_owned());
        self.read(move |c| {
            let Some(run) = run_id(c, &key)? else {
                return Ok(Vec::new());
            };
            super::chunks::read(c, run, &name, from, limit)
        })
        .await
    }

    async fn other_streams(&self, key: &RunKey) -> StoreResult<Vec<String>> {
        let key = key.clone();
        self.read(move |c| {
            let Some(run) = run_id(c, &key)? else {
                return Ok(Vec::new());
            };
            let mut stmt = c
                .prepare_cached(
                    "SELECT stream FROM streams WHERE run = ?1 AND stream NOT IN
                     ('wandb-history.jsonl', 'wandb-events.jsonl', 'output.log') ORDER BY stream",
                )
                .map_err(sql)?;
            stmt.query_map([run], |r| r.get(0))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)
        })
        .await
    }

    async fn add_alert(
        &self,
        key: &RunKey,
        alert: Alert,
        deliveries: Vec<Delivery>,
    ) -> StoreResult<()> {
        let key = key.clone();
        let now = crate::store::now_ms();
        self.write(move |c| {
            super::webhooks::queue(c, &deliveries, now)?;
            let (run, _) = ensure_run(c, &key)?;
            let wait = alert
                .wait_duration
                .as_ref()
                .map(serde_json::Value::to_string);
            c.execute(
                "INSERT INTO alerts (run, title, body, severity, wait_duration)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run, alert.title, alert.text, alert.severity, wait],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn add_webhook(&self, hook: &Webhook) -> StoreResult<bool> {
        let hook = hook.clone();
        self.write(move |c| super::webhooks::add(c, &hook)).await
    }

    async fn remove_webhook(&self, hook: &Webhook) -> StoreResult<bool> {
        let hook = hook.clone();
        self.write(move |c| super::webhooks::remove(c, &hook)).await
    }

    async fn webhooks(&self) -> StoreResult<Vec<Webhook>> {
        self.read(super::webhooks::all).await
    }

    async fn due_deliveries(&self, now_ms: i64, limit: usize) -> StoreResult<Vec<Delivery>> {
        self.read(move |c| super::webhooks::due(c, now_ms, limit))
            .await
    }

    async fn next_delivery_at(&self) -> StoreResult<Option<i64>> {
        self.read(super::webhooks::next_at).await
    }

    async fn finish_delivery(&self, id: u64, retry: Option<(i64, String)>) -> StoreResult<()> {
        self.write(move |c| super::webhooks::finish(c, id, retry))
            .await
    }

    async fn request_stop(&self, key: &RunKey) -> StoreResult<bool> {
        let key = key.clone();
        self.write(move |c| {
            let changed = c
                .execute(
                    "UPDATE runs SET stop_requested = 1
                     WHERE entity = ?1 AND project = ?2 AND name = ?3",
                    params![key.entity, key.project, key.run],
                )
                .map_err(sql)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn put_run_file(&self, key: &RunKey, path: &str, blob: BlobId) -> StoreResult<()> {
        let (key, path) = (key.clone(), path.to_owned());
        self.write(move |c| {
            let (run, _) = ensure_run(c, &key)?;
            c.execute(
                "INSERT OR REPLACE INTO run_files (run, path, blob) VALUES (?1, ?2, ?3)",
                params![run, path, blob.as_str()],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn run_files(&self, key: &RunKey) -> StoreResult<Vec<(String, BlobId)>> {
        let key = key.clone();
        self.read(move |c| {
            let Some(run) = run_id(c, &key)? else {
                return Ok(Vec::new());
            };
            let mut stmt = c
                .prepare_cached("SELECT path, blob FROM run_files WHERE run = ?1")
                .map_err(sql)?;
            stmt.query_map([run], |r| Ok((r.get(0)?, BlobId::from_stored(r.get(1)?))))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)
        })
        .await
    }

    async fn use_artifact(&self, key: &RunKey, artifact: &str) -> StoreResult<()> {
        let (key, artifact) = (key.clone(), artifact.to_owned());
        self.write(move |c| {
            let (run, _) = ensure_run(c, &key)?;
            let stored: String = c
                .query_row(
                    "SELECT used_artifacts FROM runs WHERE id = ?1",
                    [run],
                    |r| r.get(0),
                )
                .map_err(sql)?;
            let mut used = parse_list(&stored);
            used.push(artifact);
            c.execute(
                "UPDATE runs SET used_artifacts = ?2 WHERE id = ?1",
                params![run, json_list(&used)],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn create_artifact(&self, draft: ArtifactDraft) -> StoreResult<Created> {
        self.write(move |c| create_artifact(c, draft)).await
    }

    async fn artifact(&self, id: &str) -> StoreResult<Option<ArtifactRecord>> {
        let id = id.to_owned();
        self.read(move |c| match artifact_seq(c, &id) {
            Ok(seq) => load_artifact(c, seq).map(Some),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn artifacts(&self) -> StoreResult<Vec<ArtifactRecord>> {
        self.read(|c| load_artifacts(c, "SELECT seq FROM artifacts ORDER BY seq", []))
            .await
    }

    async fn versions(&self, collection: &CollectionKey) -> StoreResult<Vec<ArtifactRecord>> {
        let k = collection.clone();
        self.read(move |c| {
            load_artifacts(
                c,
                "SELECT seq FROM artifacts WHERE entity = ?1 AND project = ?2 AND collection = ?3
                 AND state = 'COMMITTED' ORDER BY seq",
                params![k.entity, k.project, k.name],
            )
        })
        .await
    }

    async fn linked(
        &self,
        portfolio: &CollectionKey,
    ) -> StoreResult<Vec<(ArtifactLink, ArtifactRecord)>> {
        let p = portfolio.clone();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT artifact FROM artifact_links WHERE entity = ?1 AND project = ?2
                     AND portfolio = ?3 ORDER BY version_index",
                )
                .map_err(sql)?;
            let seqs: Vec<i64> = stmt
                .query_map(params![p.entity, p.project, p.name], |r| r.get(0))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?;
            let mut linked = Vec::with_capacity(seqs.len());
            for seq in seqs {
                let a = load_artifact(c, seq)?;
                let link = a
                    .links
                    .iter()
                    .find(|l| {
                        l.entity == p.entity && l.project == p.project && l.portfolio == p.name
                    })
                    .cloned()
                    .ok_or_else(|| StoreError::Unavailable("a link vanished".into()))?;
                linked.push((link, a));
            }
            Ok(linked)
        })
        .await
    }

    async fn artifact_type(
        &self,
        entity: Option<&str>,
        project: Option<&str>,
        collection: &str,
    ) -> StoreResult<Option<String>> {
        let (e, p, n) = (
            entity.map(str::to_owned),
            project.map(str::to_owned),
            collection.to_owned(),
        );
        self.read(move |c| {
            let t: Option<Option<String>> = c
                .query_row(
                    "SELECT artifact_type FROM artifacts WHERE collection = ?1
                     AND (?2 IS NULL OR project = ?2) AND (?3 IS NULL OR entity = ?3)
                     ORDER BY seq DESC LIMIT 1",
                    params![n, p, e],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            Ok(t.flatten())
        })
        .await
    }

    async fn set_manifest(&self, id: &str, manifest: JsonLine) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |c| {
            let seq = artifact_seq(c, &id)?;
            c.execute(
                "UPDATE artifacts SET manifest = ?2 WHERE seq = ?1",
                params![seq, manifest.raw],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn put_artifact_file(&self, id: &str, path: &str, blob: BlobId) -> StoreResult<()> {
        let (id, path) = (id.to_owned(), path.to_owned());
        self.write(move |c| {
            let seq = artifact_seq(c, &id)?;
            c.execute(
                "INSERT OR REPLACE INTO artifact_files (artifact, path, blob) VALUES (?1, ?2, ?3)",
                params![seq, path, blob.as_str()],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn start_multipart(
        &self,
        id: &str,
        upload_id: &str,
        upload: MultipartUpload,
    ) -> StoreResult<()> {
        let (id, upload_id) = (id.to_owned(), upload_id.to_owned());
        self.write(move |c| {
            let seq = artifact_seq(c, &id)?;
            c.execute(
                "INSERT OR REPLACE INTO multipart (artifact, upload_id, path, md5, part_md5s)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    seq,
                    upload_id,
                    upload.path,
                    upload.md5,
                    json_list(&upload.part_md5s)
                ],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn multipart(&self, id: &str, upload_id: &str) -> StoreResult<Option<MultipartUpload>> {
        let (id, upload_id) = (id.to_owned(), upload_id.to_owned());
        self.read(move |c| load_multipart(c, artifact_seq(c, &id)?, &upload_id))
            .await
    }

    async fn multiparts(&self, id: &str) -> StoreResult<Vec<(String, MultipartUpload)>> {
        let id = id.to_owned();
        self.read(move |c| {
            let seq = artifact_seq(c, &id)?;
            let mut stmt = c
                .prepare_cached(
                    "SELECT upload_id FROM multipart WHERE artifact = ?1 ORDER BY upload_id",
                )
                .map_err(sql)?;
            let ids: Vec<String> = stmt
                .query_map([seq], |r| r.get(0))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?;
            let mut uploads = Vec::with_capacity(ids.len());
            for upload_id in ids {
                if let Some(u) = load_multipart(c, seq, &upload_id)? {
                    uploads.push((upload_id, u));
                }
            }
            Ok(uploads)
        })
        .await
    }

    async fn put_part(
        &self,
        id: &str,
        upload_id: &str,
        part: u64,
        blob: BlobId,
    ) -> StoreResult<bool> {
        let (id, upload_id) = (id.to_owned(), upload_id.to_owned());
        self.write(move |c| {
            let seq = artifact_seq(c, &id)?;
            let open: Option<Option<String>> = c
                .query_row(
                    "SELECT completed FROM multipart WHERE artifact = ?1 AND upload_id = ?2",
                    params![seq, upload_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            if !matches!(open, Some(None)) {
                return Ok(false);
            }
            c.execute(
                "INSERT OR REPLACE INTO multipart_parts (artifact, upload_id, part, blob)
                 VALUES (?1, ?2, ?3, ?4)",
                params![seq, upload_id, part as i64, blob.as_str()],
            )
            .map_err(sql)?;
            Ok(true)
        })
        .await
    }

    async fn finish_multipart(
        &self,
        id: &str,
        upload_id: &str,
        done: Option<(String, BlobId)>,
    ) -> StoreResult<()> {
        let (id, upload_id) = (id.to_owned(), upload_id.to_owned());
        self.write(move |c| finish_multipart(c, &id, &upload_id, done))
            .await
    }

    async fn commit_artifact(&self, id: &str) -> StoreResult<Option<ArtifactRecord>> {
        let id = id.to_owned();
        self.write(move |c| {
            let changed = c
                .execute(
                    "UPDATE artifacts SET state = 'COMMITTED' WHERE id = ?1",
                    [&id],
                )
                .map_err(sql)?;
            if changed == 0 {
                return Ok(None);
            }
            load_artifact(c, artifact_seq(c, &id)?).map(Some)
        })
        .await
    }

    async fn add_user(&self, name: &str, admin: bool) -> StoreResult<bool> {
        let name = name.to_owned();
        self.write(move |c| {
            if exists(c, "SELECT 1 FROM teams WHERE name = ?1", &name)? {
                return Err(StoreError::Conflict(format!("`{name}` is a team")));
            }
            let n = c
                .execute(
                    "INSERT OR IGNORE INTO users (name, admin) VALUES (?1, ?2)",
                    params![name, admin],
                )
                .map_err(sql)?;
            Ok(n == 1)
        })
        .await
    }

    async fn add_team(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_owned();
        self.write(move |c| {
            if exists(c, "SELECT 1 FROM users WHERE name = ?1", &name)? {
                return Err(StoreError::Conflict(format!("`{name}` is a user")));
            }
            let n = c
                .execute("INSERT OR IGNORE INTO teams (name) VALUES (?1)", [name])
                .map_err(sql)?;
            Ok(n == 1)
        })
        .await
    }

    async fn add_member(&self, team: &str, user: &str) -> StoreResult<()> {
        let (team, user) = (team.to_owned(), user.to_owned());
        self.write(move |c| {
            if !exists(c, "SELECT 1 FROM users WHERE name = ?1", &user)? {
                return Err(StoreError::NotFound(format!("no user `{user}`")));
            }
            if !exists(c, "SELECT 1 FROM teams WHERE name = ?1", &team)? {
                return Err(StoreError::NotFound(format!("no team `{team}`")));
            }
            c.execute(
                "INSERT OR IGNORE INTO team_members (team, user) VALUES (?1, ?2)",
                params![team, user],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn users(&self) -> StoreResult<Vec<String>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT name FROM users ORDER BY name")
                .map_err(sql)?;
            stmt.query_map([], |r| r.get(0))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)
        })
        .await
    }

    async fn team_members(&self, team: &str) -> StoreResult<Option<Vec<String>>> {
        let team = team.to_owned();
        self.read(move |c| {
            if !exists(c, "SELECT 1 FROM teams WHERE name = ?1", &team)? {
                return Ok(None);
            }
            let mut stmt = c
                .prepare_cached("SELECT user FROM team_members WHERE team = ?1 ORDER BY user")
                .map_err(sql)?;
            let members = stmt
                .query_map([&team], |r| r.get(0))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?;
            Ok(Some(members))
        })
        .await
    }

    async fn add_key(&self, user: &str, key_hash: &str, label: &str) -> StoreResult<()> {
        let (user, hash, label) = (user.to_owned(), key_hash.to_owned(), label.to_owned());
        self.write(move |c| {
            let known: Option<String> = c
                .query_row("SELECT name FROM users WHERE name = ?1", [&user], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(sql)?;
            if known.is_none() {
                return Err(StoreError::NotFound(format!("no user `{user}`")));
            }
            c.execute(
                "INSERT INTO api_keys (hash, user, label) VALUES (?1, ?2, ?3)",
                params![hash, user, label],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::Conflict(format!("a key labelled `{label}` exists"))
                }
                other => sql(other),
            })?;
            Ok(())
        })
        .await
    }

    async fn key_user(&self, key_hash: &str) -> StoreResult<Option<Caller>> {
        let hash = key_hash.to_owned();
        self.read(move |c| {
            let user: Option<String> = c
                .query_row("SELECT user FROM api_keys WHERE hash = ?1", [hash], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(sql)?;
            match user {
                Some(user) => super::sessions::caller(c, &user),
                None => Ok(None),
            }
        })
        .await
    }

    async fn add_session(
        &self,
        hash: &str,
        user: &str,
        csrf: &str,
        expires_ms: i64,
    ) -> StoreResult<()> {
        let (hash, user, csrf) = (hash.to_owned(), user.to_owned(), csrf.to_owned());
        self.write(move |c| super::sessions::add(c, &hash, &user, &csrf, expires_ms))
            .await
    }

    async fn session(&self, hash: &str, now_ms: i64) -> StoreResult<Option<(Caller, String)>> {
        let hash = hash.to_owned();
        self.read(move |c| super::sessions::get(c, &hash, now_ms))
            .await
    }

    async fn remove_session(&self, hash: &str) -> StoreResult<()> {
        let hash = hash.to_owned();
        self.write(move |c| {
            c.execute("DELETE FROM sessions WHERE hash = ?1", [hash])
                .map(drop)
                .map_err(sql)
        })
        .await
    }

    async fn add_signin_token(&self, hash: &str, user: &str, expires_ms: i64) -> StoreResult<()> {
        let (hash, user) = (hash.to_owned(), user.to_owned());
        self.write(move |c| {
            c.execute(
                "INSERT INTO signin_tokens (hash, user, expires) VALUES (?1, ?2, ?3)",
                params![hash, user, expires_ms],
            )
            .map(drop)
            .map_err(sql)
        })
        .await
    }

    async fn take_signin_token(&self, hash: &str, now_ms: i64) -> StoreResult<Option<String>> {
        let hash = hash.to_owned();
        self.write(move |c| super::sessions::take_token(c, &hash, now_ms))
            .await
    }

    async fn set_password(&self, user: &str, phc: &str) -> StoreResult<bool> {
        let (user, phc) = (user.to_owned(), phc.to_owned());
        self.write(move |c| {
            c.execute(
                "UPDATE users SET password = ?2 WHERE name = ?1",
                params![user, phc],
            )
            .map(|n| n == 1)
            .map_err(sql)
        })
        .await
    }

    async fn password(&self, user: &str) -> StoreResult<Option<String>> {
        let user = user.to_owned();
        self.read(move |c| {
            c.query_row("SELECT password FROM users WHERE name = ?1", [user], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()
            .map(Option::flatten)
            .map_err(sql)
        })
        .await
    }

    async fn import_position(&self, log: &str) -> StoreResult<Option<ImportPosition>> {
        let log = log.to_owned();
        self.read(move |c| super::imports::get(c, &log)).await
    }

    async fn save_import_position(&self, log: &str, position: &ImportPosition) -> StoreResult<()> {
        let (log, position) = (log.to_owned(), position.clone());
        self.write(move |c| super::imports::save(c, &log, &position))
            .await
    }

    async fn key_labels(&self, user: &str) -> StoreResult<Vec<String>> {
        let user = user.to_owned();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT label FROM api_keys WHERE user = ?1 ORDER BY label")
                .map_err(sql)?;
            stmt.query_map([user], |r| r.get(0))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)
        })
        .await
    }

    async fn revoke_key(&self, label: &str) -> StoreResult<bool> {
        let label = label.to_owned();
        self.write(move |c| {
            let n = c
                .execute("DELETE FROM api_keys WHERE label = ?1", [label])
                .map_err(sql)?;
            Ok(n == 1)
        })
        .await
    }

    async fn link_artifact(
        &self,
        id: &str,
        portfolio: &CollectionKey,
        aliases: &[String],
    ) -> StoreResult<usize> {
        let (id, p, aliases) = (id.to_owned(), portfolio.clone(), aliases.to_vec());
        self.write(move |c| link_artifact(c, &id, &p, &aliases))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_store_keeps_every_rule() {
        let dir = tempfile::tempdir().unwrap();
        let n = std::sync::atomic::AtomicUsize::new(0);
        let fresh = || {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            SqliteStore::open(&dir.path().join(format!("{i}.sqlite"))).unwrap()
        };
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(crate::store::conformance::check_all(fresh));
    }

    #[test]
    fn ids_are_unique_over_a_reopen_and_a_resend_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let key = RunKey::new("e", "p", "r");
        let batch = |offset: usize| StreamBatch {
            chunks: vec![(
                Stream::History,
                crate::store::Chunk {
                    offset,
                    lines: vec![format!("{{\"_step\":{offset}}}")],
                },
            )],
            ..StreamBatch::default()
        };
        let first_ids = rt.block_on(async {
            let store = SqliteStore::open(&path).unwrap();
            store.append_stream(&key, batch(0)).await.unwrap();
            [
                store.next_id().await.unwrap(),
                store.next_id().await.unwrap(),
            ]
        });
        let (lines, id) = rt.block_on(async {
            let store = SqliteStore::open(&path).unwrap();
            // The same request again after the restart, then the next one.
            store.append_stream(&key, batch(0)).await.unwrap();
            store.append_stream(&key, batch(1)).await.unwrap();
            let lines = store.lines(&key, &Stream::History, 0, 10).await.unwrap();
            (lines, store.next_id().await.unwrap())
        });
        assert_eq!(lines, ["{\"_step\":0}", "{\"_step\":1}"]);
        assert_eq!(first_ids, [1, 2]);
        assert!(id > 2, "an id was handed out again: {id}");
    }

    #[test]
    fn durability_settings_are_what_the_server_promises() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let pragma = |name: &str| rt.block_on(store.pragma(name)).unwrap();
        assert_eq!(pragma("journal_mode"), "wal");
        // 2 = FULL: the WAL is fsynced at every commit.
        assert_eq!(pragma("synchronous"), "2");
        assert_eq!(pragma("foreign_keys"), "1");
        assert_eq!(
            pragma("user_version"),
            super::super::SCHEMA_VERSION.to_string()
        );
    }

    #[test]
    fn a_newer_database_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let before = std::fs::read(&path).unwrap();
        let e = SqliteStore::open(&path).unwrap_err().to_string();
        assert!(e.contains("schema version 99, newer than"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
