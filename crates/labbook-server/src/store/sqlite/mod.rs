//! [`SqliteStore`]: the embedded default [`MetaStore`](super::MetaStore), one SQLite file.
//!
//! Writes go to one writer thread, which takes every write waiting, runs each in a
//! savepoint of one transaction, commits once and only then answers them all (group
//! commit: concurrent requests share one fsync, and none is answered before its data is
//! durable). Reads go to a reader thread with its own connection (WAL lets it read while
//! the writer writes).

mod backfill;
mod chunks;
mod fields;
mod imports;
mod queries;
mod schema;
mod series;
mod sessions;
mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{StoreError, StoreResult};

pub use schema::VERSION as SCHEMA_VERSION;

/// A write: runs on the writer's connection (inside a savepoint), says whether it worked,
/// and answers once the transaction holding it has committed.
type WriteJob = Box<dyn FnOnce(&Connection) -> (bool, Deliver) + Send>;
/// Sends a write's answer, given whether its transaction committed.
type Deliver = Box<dyn FnOnce(StoreResult<()>) + Send>;
/// A read: runs on the reader's connection and answers at once.
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// The most writes one transaction takes; more wait for the next.
const GROUP: usize = 256;

/// A [`MetaStore`](super::MetaStore) in one SQLite file.
///
/// ```
/// use labbook_server::store::{MetaStore, RunKey, RunPatch, SqliteStore};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteStore::open(&dir.path().join("labbook.sqlite")).unwrap();
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let (run, inserted) = store.upsert_run(&RunKey::new("e", "p", "r"), RunPatch::default()).await.unwrap();
/// assert!(inserted);
/// # });
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writes: Mutex<Option<mpsc::Sender<WriteJob>>>,
    reads: Mutex<Option<mpsc::Sender<ReadJob>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    ids: Mutex<IdBlock>,
}

/// Ids reserved in the database and not handed out yet: `next..end`.
#[derive(Debug, Default)]
struct IdBlock {
    next: u64,
    end: u64,
}

impl IdBlock {
    fn take(&mut self) -> Option<u64> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.next - 1
        })
    }

    fn refill(&mut self, first: u64, count: u64) {
        self.next = first;
        self.end = first + count;
    }
}

fn sql(error: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn open_connection(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    schema::configure(&conn)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    /// A database of a newer schema is refused unchanged.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        let mut writer = open_connection(path)?;
        schema::migrate(&mut writer, path)?;
        // 64 MiB of pages for the writer: ingest touches the same index pages on every
        // commit, and rereading them from the kernel cost more than the rest of a request.
        writer
            .pragma_update(None, "cache_size", -65_536)
            .map_err(sql)?;
        let reader = open_connection(path)?;
        let (write_tx, write_rx) = mpsc::channel::<WriteJob>();
        let (read_tx, read_rx) = mpsc::channel::<ReadJob>();
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(body)
                .map_err(|e| StoreError::Unavailable(format!("cannot start {name}: {e}")))
        };
        let threads = vec![
            spawn(
                "labbook-sqlite-writer",
                Box::new(move || write_loop(writer, write_rx)),
            )?,
            spawn(
                "labbook-sqlite-reader",
                Box::new(move || {
                    for job in read_rx {
                        job(&reader);
                    }
                }),
            )?,
        ];
        Ok(SqliteStore {
            path: path.to_owned(),
            writes: Mutex::new(Some(write_tx)),
            reads: Mutex::new(Some(read_tx)),
            threads: Mutex::new(threads),
            ids: Mutex::default(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A pragma's value as the store's connections see it (`journal_mode`, `synchronous`,
    /// `user_version`...), so the durability settings can be checked.
    pub async fn pragma(&self, name: &str) -> StoreResult<String> {
        let name = name.to_owned();
        self.read(move |c| {
            c.pragma_query_value(None, &name, |r| {
                let v: rusqlite::types::Value = r.get(0)?;
                Ok(match v {
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    other => format!("{other:?}"),
                })
            })
            .map_err(sql)
        })
        .await
    }

    /// Copies the WAL into the database file and truncates it (a clean stop does this, so
    /// the file alone holds everything).
    pub async fn checkpoint(&self) -> StoreResult<()> {
        self.write(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(sql)
        })
        .await
    }

    /// Writes a consistent copy of the database, as of one moment, to `to` (a new file),
    /// while writes go on: SQLite's `VACUUM INTO` in one read transaction.
    pub async fn snapshot(&self, to: &Path) -> StoreResult<()> {
        let target = to
            .to_str()
            .ok_or_else(|| StoreError::Unavailable(format!("{} is not UTF-8", to.display())))?
            .to_owned();
        self.read(move |c| {
            c.execute("VACUUM INTO ?1", [&target])
                .map(drop)
                .map_err(|e| StoreError::Unavailable(format!("cannot copy to {target}: {e}")))
        })
        .await
    }

    /// Runs `f` in the next group transaction; answers once it committed.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let job: WriteJob = Box::new(move |conn| {
            let result = f(conn);
            let worked = result.is_ok();
            let deliver: Deliver = Box::new(move |committed: StoreResult<()>| {
                let _ = tx.send(committed.and(result));
            });
            (worked, deliver)
        });
        let sent = match &*self.writes.lock() {
            Some(writes) => writes.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(StoreError::Unavailable("the store is closed".into()));
        }
        rx.await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?
    }

    /// Runs `f` on the reader's connection.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        let sent = match &*self.reads.lock() {
            Some(reads) => reads.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(StoreError::Unavailable("the store is closed".into()));
        }
        rx.await
            .map_err(|_| StoreError::Unavailable("the reader stopped".into()))?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the channels ends the threads once the jobs sent are done.
        self.writes.lock().take();
        self.reads.lock().take();
        for thread in self.threads.lock().drain(..) {
            if thread.join().is_err() {
                tracing::error!("a SQLite store thread panicked");
            }
        }
    }
}

/// The writer: every job waiting goes into one transaction, each in a savepoint (a job
/// that fails is rolled back alone), then one commit, then the answers.
fn write_loop(mut conn: Connection, jobs: mpsc::Receiver<WriteJob>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let delivers = run_batch(&mut conn, batch);
        let committed = match delivers {
            Ok((delivers, tx)) => (tx.commit().map_err(sql), delivers),
            Err((error, delivers)) => (Err(error), delivers),
        };
        let (outcome, delivers) = committed;
        if let Err(error) = &outcome {
            tracing::error!(%error, "a write transaction failed");
        }
        for deliver in delivers {
            deliver(clone_outcome(&outcome));
        }
    }
}

type Batch<'c> = (Vec<Deliver>, rusqlite::Transaction<'c>);

fn run_batch(
    conn: &mut Connection,
    batch: Vec<WriteJob>,
) -> Result<Batch<'_>, (StoreError, Vec<Deliver>)> {
    // A job dropped unrun drops its answer's sender: its caller hears the store is gone.
    let mut tx = conn.transaction().map_err(|e| (sql(e), Vec::new()))?;
    let mut delivers = Vec::with_capacity(batch.len());
    for job in batch {
        let mut sp = match tx.savepoint() {
            Ok(sp) => sp,
            Err(error) => return Err((sql(error), delivers)),
        };
        let (worked, deliver) = job(&sp);
        delivers.push(deliver);
        if worked {
            if let Err(error) = sp.commit() {
                return Err((sql(error), delivers));
            }
        } else {
            // A job that failed leaves nothing behind (dropping rolls its savepoint back).
            sp.set_drop_behavior(rusqlite::DropBehavior::Rollback);
        }
    }
    Ok((delivers, tx))
}

fn clone_outcome(outcome: &StoreResult<()>) -> StoreResult<()> {
    match outcome {
        Ok(()) => Ok(()),
        Err(e) => Err(StoreError::Unavailable(e.to_string())),
    }
}
