//! [`DataDir`]: what `labbook serve` keeps on disk: the SQLite database, the blob
//! directory and the secret that keys are hashed with.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::access::KeyHasher;
use crate::error::Error;
use crate::store::{FsBlobs, MetaStore, SqliteStore, Webhook};

/// The user the first start creates.
pub const FIRST_USER: &str = "admin";

/// A data directory, opened: its stores and its key hasher.
///
/// ```
/// use labbook_server::DataDir;
///
/// let tmp = tempfile::tempdir().unwrap();
/// let (data, first) = DataDir::open(tmp.path()).unwrap();
/// let first = first.unwrap(); // a new directory: user "admin" and its key, shown once
/// assert_eq!(first.user, "admin");
/// drop(data);
/// let (_, again) = DataDir::open(tmp.path()).unwrap();
/// assert!(again.is_none());
/// ```
#[derive(Debug)]
pub struct DataDir {
    /// The directory.
    pub path: PathBuf,
    /// Rows.
    pub meta: Arc<SqliteStore>,
    /// File bytes.
    pub blobs: Arc<FsBlobs>,
    /// Hashes API keys with the directory's secret.
    pub keys: KeyHasher,
}

/// What [`DataDir::backup`] copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backup {
    /// The database's size.
    pub database_bytes: u64,
    /// Blob files.
    pub blobs: u64,
    /// Their bytes.
    pub blob_bytes: u64,
}

/// What the first start of a data directory created: a user and its key, shown once.
#[derive(Debug)]
pub struct FirstStart {
    /// The user.
    pub user: String,
    /// The API key, in clear: print it once, it is kept nowhere.
    pub key: String,
}

fn data_error(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Data(format!("{}: cannot {what}: {e}", path.display()))
}

/// The secret keys are hashed with: 32 random bytes in `secret`, readable by its owner only.
fn secret(dir: &Path) -> Result<([u8; 32], bool), Error> {
    let path = dir.join("secret");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let secret: [u8; 32] = bytes
                .try_into()
                .map_err(|_| Error::Data(format!("{} is not 32 bytes", path.display())))?;
            Ok((secret, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::os::unix::fs::OpenOptionsExt;
            let secret: [u8; 32] = crate::access::random_bytes();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| data_error(&path, "create", e))?;
            file.write_all(&secret)
                .and_then(|()| file.sync_all())
                .map_err(|e| data_error(&path, "write", e))?;
            Ok((secret, true))
        }
        Err(e) => Err(data_error(&path, "read", e)),
    }
}

impl DataDir {
    /// Opens `path` (creating it and its first user if new) and brings its database up to
    /// date. A directory written by a newer labbook is refused unchanged.
    pub fn open(path: &Path) -> Result<(DataDir, Option<FirstStart>), Error> {
        std::fs::create_dir_all(path).map_err(|e| data_error(path, "create", e))?;
        let meta = SqliteStore::open(&path.join("labbook.sqlite"))
            .map_err(|e| data_error(path, "open the database", e))?;
        let blobs = FsBlobs::open(&path.join("blobs"))
            .map_err(|e| data_error(path, "open the blob directory", e))?;
        let (secret, new) = secret(path)?;
        let data = DataDir {
            path: path.to_owned(),
            meta: Arc::new(meta),
            blobs: Arc::new(blobs),
            keys: KeyHasher::new(secret),
        };
        let first = if new {
            block_on(data.meta.add_user(FIRST_USER, true))
                .map_err(|e| data_error(path, "add the first user", e))?;
            let (key, _) = data.new_key(FIRST_USER)?;
            Some(FirstStart {
                user: FIRST_USER.to_owned(),
                key,
            })
        } else {
            None
        };
        Ok((data, first))
    }

    /// A new API key for `user` (created if needed): the key, shown once, and its label.
    pub fn new_key(&self, user: &str) -> Result<(String, String), Error> {
        let key = KeyHasher::new_key();
        let label = KeyHasher::new_label();
        let hash = self.keys.hash(&key);
        block_on(async {
            self.meta.add_user(user, false).await?;
            self.meta.add_key(user, &hash, &label).await
        })
        .map_err(|e| data_error(&self.path, "add the key", e))?;
        Ok((key, label))
    }

    /// Revokes the key labelled `label`; whether there was one.
    pub fn revoke_key(&self, label: &str) -> Result<bool, Error> {
        block_on(self.meta.revoke_key(label)).map_err(|e| data_error(&self.path, "revoke", e))
    }

    /// Copies the database's WAL into its file, so the file alone holds everything (a
    /// clean stop does this).
    pub fn checkpoint(&self) -> Result<(), Error> {
        block_on(self.meta.checkpoint()).map_err(|e| data_error(&self.path, "checkpoint", e))
    }

    /// Copies the data directory to `to` (which must not exist or be empty) while the
    /// server may be writing: the database as of one moment, then the key secret and
    /// every blob (each blob a row names was whole before that row was committed, so the
    /// copy holds them all). Answers what was copied.
    ///
    /// ```
    /// use labbook_server::DataDir;
    ///
    /// let tmp = tempfile::tempdir().unwrap();
    /// let (data, _) = DataDir::open(&tmp.path().join("data")).unwrap();
    /// let copy = data.backup(&tmp.path().join("copy")).unwrap();
    /// assert_eq!(copy.blobs, 0);
    /// assert!(DataDir::open(&tmp.path().join("copy")).unwrap().1.is_none());
    /// ```
    pub fn backup(&self, to: &Path) -> Result<Backup, Error> {
        let busy = std::fs::read_dir(to).is_ok_and(|mut entries| entries.next().is_some());
        if busy {
            return Err(Error::Data(format!(
                "{}: a backup goes into a new or empty directory",
                to.display()
            )));
        }
        std::fs::create_dir_all(to).map_err(|e| data_error(to, "create", e))?;
        let database = to.join("labbook.sqlite");
        block_on(self.meta.snapshot(&database))
            .map_err(|e| data_error(&self.path, "copy the database", e))?;
        std::fs::File::open(&database)
            .and_then(|f| f.sync_all())
            .map_err(|e| data_error(&database, "fsync", e))?;
        {
            use std::os::unix::fs::OpenOptionsExt;
            let secret = std::fs::read(self.path.join("secret"))
                .map_err(|e| data_error(&self.path, "read the secret", e))?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(to.join("secret"))
                .map_err(|e| data_error(to, "write the secret", e))?;
            file.write_all(&secret)
                .and_then(|()| file.sync_all())
                .map_err(|e| data_error(to, "write the secret", e))?;
        }
        let (blobs, blob_bytes) = self
            .blobs
            .copy_to(&to.join("blobs"))
            .map_err(|e| data_error(to, "copy the blobs", e))?;
        let database_bytes = std::fs::metadata(&database).map_or(0, |m| m.len());
        std::fs::File::open(to)
            .and_then(|d| d.sync_all())
            .map_err(|e| data_error(to, "fsync", e))?;
        Ok(Backup {
            database_bytes,
            blobs,
            blob_bytes,
        })
    }

    /// A one-time sign-in token for `user`, good for 15 minutes: the browser opens
    /// `<server>/login?token=<it>` and has a session. Kept only as a keyed hash.
    ///
    /// ```
    /// use labbook_server::DataDir;
    /// let tmp = tempfile::tempdir().unwrap();
    /// let (data, _) = DataDir::open(tmp.path()).unwrap();
    /// assert!(data.signin_token("admin").unwrap().len() >= 40);
    /// assert!(data.signin_token("nobody").is_err());
    /// ```
    pub fn signin_token(&self, user: &str) -> Result<String, Error> {
        if !block_on(self.meta.users())
            .map_err(|e| data_error(&self.path, "read the users", e))?
            .iter()
            .any(|u| u == user)
        {
            return Err(Error::Data(format!("no user {user:?}")));
        }
        let token = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            crate::access::random_bytes::<32>(),
        );
        let expires = crate::store::now_ms() + crate::web::SIGNIN_LINK_TTL_MS;
        block_on(
            self.meta
                .add_signin_token(&self.keys.hash(&token), user, expires),
        )
        .map_err(|e| data_error(&self.path, "add the sign-in token", e))?;
        Ok(token)
    }

    /// Sets `user`'s password for browser sign-in (hashed with Argon2id); a password too
    /// short, or a user that does not exist, is an error.
    pub fn set_password(&self, user: &str, password: &str) -> Result<(), Error> {
        let phc = crate::access::passwords::hash_password(password).map_err(Error::Data)?;
        if !block_on(self.meta.set_password(user, &phc))
            .map_err(|e| data_error(&self.path, "set the password", e))?
        {
            return Err(Error::Data(format!("no user {user:?}")));
        }
        Ok(())
    }

    /// Adds a webhook for a project's alerts; whether it was new.
    pub fn add_webhook(&self, hook: &Webhook) -> Result<bool, Error> {
        block_on(self.meta.add_webhook(hook))
            .map_err(|e| data_error(&self.path, "add the webhook", e))
    }

    /// Removes a webhook; whether there was one.
    pub fn remove_webhook(&self, hook: &Webhook) -> Result<bool, Error> {
        block_on(self.meta.remove_webhook(hook))
            .map_err(|e| data_error(&self.path, "remove the webhook", e))
    }

    /// Every webhook.
    pub fn webhooks(&self) -> Result<Vec<Webhook>, Error> {
        block_on(self.meta.webhooks()).map_err(|e| data_error(&self.path, "read the webhooks", e))
    }

    /// Adds a user (no key yet); whether it was new.
    pub fn add_user(&self, name: &str) -> Result<bool, Error> {
        block_on(self.meta.add_user(name, false))
            .map_err(|e| data_error(&self.path, "add the user", e))
    }

    /// Adds a team (an entity its members share); whether it was new.
    pub fn add_team(&self, name: &str) -> Result<bool, Error> {
        block_on(self.meta.add_team(name)).map_err(|e| data_error(&self.path, "add the team", e))
    }

    /// Makes `user` a member of `team`.
    pub fn add_member(&self, team: &str, user: &str) -> Result<(), Error> {
        block_on(self.meta.add_member(team, user))
            .map_err(|e| data_error(&self.path, "add the member", e))
    }
}

/// Runs a store future on this thread (the SQLite store needs no reactor).
fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
        .block_on(future)
}
