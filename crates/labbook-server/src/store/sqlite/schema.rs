//! The SQLite schema, its migrations and the settings every connection gets.
//!
//! Durability: `journal_mode = WAL` with `synchronous = FULL`, so a commit has fsynced the
//! WAL before it returns (with NORMAL a power cut could lose the last commits, which the
//! server had already answered 200). Checkpoints copy the WAL into the database file; the
//! file is fsynced by SQLite then.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::store::{StoreError, StoreResult};

/// The schema version this build writes (`PRAGMA user_version`).
pub const VERSION: i64 = 3;

/// Migration `i` takes a database from version `i` to `i + 1`: its SQL, then its code (what
/// SQL alone cannot do, such as deriving new tables from stored rows).
const MIGRATIONS: [Migration; 3] = [
    Migration {
        sql: V1,
        code: None,
    },
    Migration {
        sql: V2,
        code: Some(super::backfill::derive_all),
    },
    Migration {
        sql: V3,
        code: None,
    },
];

struct Migration {
    sql: &'static str,
    code: Option<fn(&Connection) -> StoreResult<()>>,
}

/// The first schema.
const V1: &str = r"
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    entity TEXT NOT NULL,
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    storage_id TEXT NOT NULL DEFAULT '',
    display_name TEXT,
    config TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    run_group TEXT,
    job_type TEXT,
    notes TEXT,
    host TEXT,
    program TEXT,
    sweep TEXT,
    git_commit TEXT,
    repo TEXT,
    upserts INTEGER NOT NULL DEFAULT 0,
    summary TEXT,
    uploaded TEXT NOT NULL DEFAULT '[]',
    preempting INTEGER NOT NULL DEFAULT 0,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    complete INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER,
    used_artifacts TEXT NOT NULL DEFAULT '[]',
    UNIQUE (entity, project, name)
);
-- How many lines each stream of a run holds: the offset the next chunk must start at.
CREATE TABLE streams (
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    stream TEXT NOT NULL,
    lines INTEGER NOT NULL,
    PRIMARY KEY (run, stream)
) WITHOUT ROWID;
-- A stream's lines in deflated chunks (a request's worth each), covering 0..lines without
-- gap or overlap: a resend rewrites the chunks it overlaps, so each line is stored once.
CREATE TABLE chunks (
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    stream TEXT NOT NULL,
    first_line INTEGER NOT NULL,
    lines INTEGER NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (run, stream, first_line)
) WITHOUT ROWID;
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    severity TEXT,
    wait_duration TEXT
);
CREATE INDEX alerts_by_run ON alerts (run);
CREATE TABLE run_files (
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY (run, path)
) WITHOUT ROWID;
CREATE TABLE artifacts (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    entity TEXT,
    project TEXT,
    artifact_type TEXT,
    collection TEXT,
    run TEXT,
    digest TEXT,
    metadata TEXT,
    aliases TEXT NOT NULL DEFAULT '[]',
    state TEXT NOT NULL,
    manifest TEXT
);
CREATE INDEX artifacts_by_collection ON artifacts (entity, project, collection, state);
CREATE TABLE artifact_files (
    artifact INTEGER NOT NULL REFERENCES artifacts (seq) ON DELETE CASCADE,
    path TEXT NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY (artifact, path)
) WITHOUT ROWID;
-- A version is in a portfolio once, at one index.
CREATE TABLE artifact_links (
    artifact INTEGER NOT NULL REFERENCES artifacts (seq) ON DELETE CASCADE,
    entity TEXT NOT NULL,
    project TEXT NOT NULL,
    portfolio TEXT NOT NULL,
    version_index INTEGER NOT NULL,
    aliases TEXT NOT NULL,
    PRIMARY KEY (entity, project, portfolio, artifact),
    UNIQUE (entity, project, portfolio, version_index)
);
CREATE INDEX links_by_artifact ON artifact_links (artifact);
CREATE TABLE multipart (
    artifact INTEGER NOT NULL REFERENCES artifacts (seq) ON DELETE CASCADE,
    upload_id TEXT NOT NULL,
    path TEXT NOT NULL,
    md5 TEXT,
    part_md5s TEXT NOT NULL,
    completed TEXT,
    PRIMARY KEY (artifact, upload_id)
) WITHOUT ROWID;
CREATE TABLE multipart_parts (
    artifact INTEGER NOT NULL,
    upload_id TEXT NOT NULL,
    part INTEGER NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY (artifact, upload_id, part),
    FOREIGN KEY (artifact, upload_id) REFERENCES multipart (artifact, upload_id) ON DELETE CASCADE
) WITHOUT ROWID;
-- Users and teams are both entities: a name is one or the other.
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    admin INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE teams (
    name TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE team_members (
    team TEXT NOT NULL REFERENCES teams (name) ON DELETE CASCADE,
    user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    PRIMARY KEY (team, user)
) WITHOUT ROWID;
-- An API key is kept as its keyed hash (HMAC-SHA-256 with the data directory's secret),
-- never in clear; the label names it for revoking.
CREATE TABLE api_keys (
    hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    label TEXT NOT NULL UNIQUE
) WITHOUT ROWID;
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Metric series and run fields, so charts and runs tables read only what they show. Chunks
/// get a rowid (a row of a WITHOUT ROWID table is its key, and a chunk's key carried its
/// whole compressed content through every index search) and say how they are compressed.
const V2: &str = r"
CREATE TABLE chunks_v2 (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    stream TEXT NOT NULL,
    first_line INTEGER NOT NULL,
    lines INTEGER NOT NULL,
    -- 0: deflate (schema 1), 1: LZ4 block with its size in front.
    codec INTEGER NOT NULL,
    content BLOB NOT NULL,
    UNIQUE (run, stream, first_line)
);
INSERT INTO chunks_v2 (run, stream, first_line, lines, codec, content)
    SELECT run, stream, first_line, lines, 0, content FROM chunks;
DROP TABLE chunks;
ALTER TABLE chunks_v2 RENAME TO chunks;
-- One key's points from one history or events chunk (same run, stream and first line, so a
-- resend that rewrites the chunk rewrites them): steps as zigzag varint deltas, then the
-- values as little-endian f64. min_step..=max_step lets a read skip what it does not cover.
CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    stream TEXT NOT NULL,
    key TEXT NOT NULL,
    first_line INTEGER NOT NULL,
    points INTEGER NOT NULL,
    min_step INTEGER NOT NULL,
    max_step INTEGER NOT NULL,
    data BLOB NOT NULL,
    UNIQUE (run, stream, key, first_line)
);
CREATE INDEX series_by_chunk ON series (run, stream, first_line);
-- Config and summary values, flattened (config.optim.lr, summary.loss): what a runs table
-- filters and sorts by, through the (field, value) indexes.
CREATE TABLE run_fields (
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    num REAL,
    text TEXT,
    PRIMARY KEY (run, field)
) WITHOUT ROWID;
CREATE INDEX run_fields_by_num ON run_fields (field, num);
CREATE INDEX run_fields_by_text ON run_fields (field, text);
CREATE INDEX runs_by_project ON runs (entity, project, id);
-- Blobs a deleted run's files named, until collected: written in the deleting transaction,
-- so a crash between the delete and the collection leaks nothing.
CREATE TABLE orphan_blobs (
    blob TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE INDEX run_files_by_blob ON run_files (blob);
CREATE INDEX artifact_files_by_blob ON artifact_files (blob);
CREATE INDEX parts_by_blob ON multipart_parts (blob);
-- Where a project's alerts are POSTed, and the POSTs not delivered yet (queued with their
-- alert, retried until taken or given up).
CREATE TABLE webhooks (
    entity TEXT NOT NULL,
    project TEXT NOT NULL,
    url TEXT NOT NULL,
    format TEXT NOT NULL,
    PRIMARY KEY (entity, project, url)
) WITHOUT ROWID;
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    last_error TEXT
);
CREATE INDEX deliveries_due ON deliveries (next_at);
-- Browser sign-in: a user's password (a slow hash, PHC string), sessions and one-time
-- sign-in links, both kept as keyed hashes of their tokens, as API keys are.
ALTER TABLE users ADD COLUMN password TEXT;
CREATE TABLE sessions (
    hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE signin_tokens (
    hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Runs imported from watched directories (`serve --watch`); when runs were made and last
/// heard from.
const V3: &str = r"
-- A run whose log ended without an exit record once its writer was gone.
ALTER TABLE runs ADD COLUMN crashed INTEGER NOT NULL DEFAULT 0;
-- When a run was first named, and last sent lines (ms since the epoch; NULL for runs kept
-- before these were).
ALTER TABLE runs ADD COLUMN created_at INTEGER;
ALTER TABLE runs ADD COLUMN heartbeat_at INTEGER;
-- How far each log found in a watched directory is imported (the server never writes into
-- a watched directory, so this is where it remembers): records ending at or before
-- log_offset are stored, the next lines of its streams go at these offsets.
CREATE TABLE imports (
    log TEXT PRIMARY KEY,
    entity TEXT NOT NULL,
    project TEXT NOT NULL,
    run TEXT NOT NULL,
    log_offset INTEGER NOT NULL,
    history INTEGER NOT NULL,
    events INTEGER NOT NULL,
    output INTEGER NOT NULL,
    done INTEGER NOT NULL
) WITHOUT ROWID;
";

fn sql(error: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// What every connection gets: WAL, a commit fsynced before it returns, foreign keys, and a
/// wait (rather than an error) when another connection holds the lock.
pub(crate) fn configure(conn: &Connection) -> StoreResult<()> {
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sql)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sql)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(sql)?;
    // Reads map the file rather than copy pages into a cache of their own, which the
    // writer's every commit would make them drop.
    conn.pragma_update(None, "mmap_size", 1i64 << 30)
        .map_err(sql)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(sql)?;
    Ok(())
}

/// Brings the database at `path` to [`VERSION`], each migration in its own transaction,
/// after copying an older database aside (`<file>.v<N>.bak`) so an upgrade can be undone. A
/// database written by a newer labbook is refused, and nothing is written to it.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> StoreResult<()> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql)?;
    if found > VERSION {
        return Err(StoreError::Conflict(format!(
            "the database has schema version {found}, newer than this labbook's {VERSION}: \
             run the labbook that wrote it, or a newer one"
        )));
    }
    if found > 0 && found < VERSION {
        copy_aside(conn, path, found)?;
    }
    if found == 0 {
        // Pages freed by a deleted run go back to the filesystem (`incremental_vacuum`);
        // this has to be chosen before the first table exists.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(sql)?;
    }
    for (from, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction().map_err(sql)?;
        tx.execute_batch(migration.sql).map_err(sql)?;
        if let Some(code) = migration.code {
            code(&tx)?;
        }
        tx.pragma_update(None, "user_version", from as i64 + 1)
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
    }
    let auto_vacuum: i64 = conn
        .pragma_query_value(None, "auto_vacuum", |r| r.get(0))
        .map_err(sql)?;
    if auto_vacuum != 2 {
        // A database from schema 1 was made without it: switching takes one VACUUM.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(sql)?;
        conn.execute_batch("VACUUM").map_err(sql)?;
    }
    Ok(())
}

/// Copies the database as it is (a consistent snapshot, WAL included) to the first free
/// `<file>.v<found>.bak[.N]` and answers where.
fn copy_aside(conn: &Connection, path: &Path, found: i64) -> StoreResult<PathBuf> {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".v{found}.bak"));
    let mut copy = PathBuf::from(&name);
    let mut n = 1;
    while copy.exists() {
        let mut numbered = name.clone();
        numbered.push(format!(".{n}"));
        copy = PathBuf::from(numbered);
        n += 1;
    }
    let target = copy.to_str().ok_or_else(|| {
        StoreError::Unavailable(format!(
            "cannot copy the database aside to {}",
            copy.display()
        ))
    })?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot copy the database aside to {} before upgrading it: {e}",
            copy.display()
        ))
    })?;
    tracing::info!(copy = %copy.display(), from = found, to = VERSION, "upgrading the database schema; the old one is kept");
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use rusqlite::params;

    use super::*;
    use crate::store::{
        Compare, FieldValue, MetaStore, RunKey, RunQuery, SeriesQuery, SqliteStore, Stream,
    };

    /// Lines as schema 1 stored them: length-prefixed, deflated.
    fn deflated(lines: &[String]) -> Vec<u8> {
        let mut out = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        for line in lines {
            out.write_all(&(line.len() as u32).to_le_bytes()).unwrap();
            out.write_all(line.as_bytes()).unwrap();
        }
        out.finish().unwrap()
    }

    #[test]
    fn a_schema_1_database_is_copied_aside_then_upgraded_with_its_rows_derived() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labbook.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(V1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO runs (id, entity, project, name, config, summary)
             VALUES (1, 'e', 'p', 'r', '{\"lr\":{\"value\":0.5}}', '{\"loss\":0.25}')",
            [],
        )
        .unwrap();
        let rows: Vec<String> = (0..10)
            .map(|s| format!("{{\"_step\":{s},\"loss\":{s}}}"))
            .collect();
        conn.execute(
            "INSERT INTO chunks (run, stream, first_line, lines, content)
             VALUES (1, 'wandb-history.jsonl', 0, 10, ?1)",
            params![deflated(&rows)],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO streams (run, stream, lines) VALUES (1, 'wandb-history.jsonl', 10)",
            [],
        )
        .unwrap();
        drop(conn);

        let store = SqliteStore::open(&path).unwrap();
        let copy = Connection::open(dir.path().join("labbook.sqlite.v1.bak")).unwrap();
        let kept: i64 = copy
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1, "the copy is the database as it was");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let key = RunKey::new("e", "p", "r");
        rt.block_on(async {
            assert_eq!(
                store.pragma("user_version").await.unwrap(),
                VERSION.to_string()
            );
            // Made without auto_vacuum, it was vacuumed into it: deletions shrink it now.
            assert_eq!(store.pragma("auto_vacuum").await.unwrap(), "2");
            let lines = store.lines(&key, &Stream::History, 0, 100).await.unwrap();
            assert_eq!(lines, rows);
            let query = SeriesQuery {
                stream: Stream::History,
                key: "loss".into(),
                steps: None,
                buckets: 2,
            };
            let buckets = store.series(&key, &query).await.unwrap();
            assert_eq!((buckets[1].count, buckets[1].max), (5, 9.0));
            let q = RunQuery::new("e", "p")
                .filter("config.lr", Compare::Eq, FieldValue::Num(0.5))
                .filter("summary.loss", Compare::Lt, FieldValue::Num(1.0));
            assert_eq!(store.find_runs(&q).await.unwrap(), ["r"]);
        });
        drop(store);
        // A second start finds nothing to upgrade and copies nothing more.
        drop(SqliteStore::open(&path).unwrap());
        assert!(!dir.path().join("labbook.sqlite.v1.bak.1").exists());
    }
}
