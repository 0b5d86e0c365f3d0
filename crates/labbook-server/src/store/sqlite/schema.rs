//! The SQLite schema, its migrations and the settings every connection gets.
//!
//! Durability: `journal_mode = WAL` with `synchronous = FULL`, so a commit has fsynced the
//! WAL before it returns (with NORMAL a power cut could lose the last commits, which the
//! server had already answered 200). Checkpoints copy the WAL into the database file; the
//! file is fsynced by SQLite then.

use rusqlite::Connection;

use crate::store::{StoreError, StoreResult};

/// The schema version this build writes (`PRAGMA user_version`).
pub const VERSION: i64 = 1;

/// Migration `i` takes a database from version `i` to `i + 1`.
const MIGRATIONS: [&str; 1] = [r"
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
"];

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
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(sql)?;
    Ok(())
}

/// Brings the database to [`VERSION`], each migration in its own transaction. A database
/// written by a newer labbook is refused, and nothing is written to it.
pub(crate) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql)?;
    if found > VERSION {
        return Err(StoreError::Conflict(format!(
            "the database has schema version {found}, newer than this labbook's {VERSION}: \
             run the labbook that wrote it, or a newer one"
        )));
    }
    for (from, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction().map_err(sql)?;
        tx.execute_batch(migration).map_err(sql)?;
        tx.pragma_update(None, "user_version", from as i64 + 1)
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
    }
    Ok(())
}
