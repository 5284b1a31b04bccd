//! SQLite for the example server: users, and revoked tokens behind the crate's in-process
//! denylist.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tower_jwt_auth::clock::{from_numeric_date, numeric_date};
use tower_jwt_auth::denylist::{Denylist, DenylistError, MemoryDenylist, TokenId};
use tower_jwt_auth::service::{StoredUser, UserStore, UserStoreError};
use tower_jwt_auth::BoxFuture;

use crate::error;

#[derive(Debug)]
pub enum DbError {
    Sqlite(rusqlite::Error),
    Lost,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Sqlite(e) => write!(f, "sqlite: {e}"),
            DbError::Lost => f.write_str("the database thread is gone"),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::Sqlite(e) => Some(e),
            DbError::Lost => None,
        }
    }
}

impl IntoResponse for DbError {
    fn into_response(self) -> Response {
        tracing::error!("database error: {self:?}");
        error(StatusCode::SERVICE_UNAVAILABLE, "Database unavailable")
    }
}

pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
}

/// SQLite in WAL mode: one connection for writes, used from blocking threads (a commit
/// waits for the disk), and one for the short indexed reads of the request path, used in
/// place (microseconds from the page cache; under WAL a read never waits for a writer).
#[derive(Clone)]
pub struct Db {
    write: Arc<Mutex<Connection>>,
    read: Arc<Mutex<Connection>>,
}

impl Db {
    pub fn open(path: &str) -> Result<Self, String> {
        let conn = Connection::open(path).map_err(|e| format!("DATABASE_URL {path:?}: {e}"))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS users (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 username TEXT NOT NULL UNIQUE,
                 email TEXT NOT NULL UNIQUE,
                 password_hash TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS revoked_tokens (
                 jti TEXT PRIMARY KEY,
                 expires_at INTEGER
             );
             CREATE TABLE IF NOT EXISTS user_cutoffs (
                 identity TEXT PRIMARY KEY,
                 issued_before REAL NOT NULL,
                 expires_at INTEGER
             );
             CREATE TABLE IF NOT EXISTS sessions (
                 id TEXT PRIMARY KEY,
                 identity TEXT NOT NULL,
                 current TEXT NOT NULL,
                 previous TEXT,
                 spent_at INTEGER,
                 created_at INTEGER NOT NULL,
                 last_refreshed_at INTEGER NOT NULL,
                 user_agent TEXT,
                 expires_at INTEGER
             );
             CREATE INDEX IF NOT EXISTS sessions_by_identity ON sessions (identity);
             CREATE TABLE IF NOT EXISTS friends (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 user_id INTEGER NOT NULL REFERENCES users (id),
                 friend_id INTEGER NOT NULL REFERENCES users (id),
                 UNIQUE (user_id, friend_id)
             );",
        )
        .map_err(|e| format!("database schema: {e}"))?;
        tracing::info!("database: {path}");
        let write = Arc::new(Mutex::new(conn));
        let read = if path == ":memory:" {
            write.clone() // a second connection would open another, empty database
        } else {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| format!("DATABASE_URL {path:?}: {e}"))?;
            Arc::new(Mutex::new(conn))
        };
        Ok(Self { write, read })
    }

    pub async fn call<T, F>(&self, work: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let conn = self.write.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().map_err(|_| DbError::Lost)?;
            work(&conn).map_err(DbError::Sqlite)
        })
        .await
        .map_err(|_| DbError::Lost)?
    }

    pub async fn user_by(
        &self,
        column: &'static str,
        value: String,
    ) -> Result<Option<User>, DbError> {
        let conn = self.read.lock().map_err(|_| DbError::Lost)?;
        let mut query = conn
            .prepare_cached(&format!(
                "SELECT id, username, email, password_hash FROM users WHERE {column} = ?1"
            ))
            .map_err(DbError::Sqlite)?;
        query
            .query_row(params![value], |row| {
                Ok(User {
                    id: row.get(0)?,
                    username: row.get(1)?,
                    email: row.get(2)?,
                    password_hash: row.get(3)?,
                })
            })
            .optional()
            .map_err(DbError::Sqlite)
    }

    /// The usernames of `user_id`'s friends, in the order they were added (a read: the
    /// read connection, never waiting behind a write).
    pub async fn friends_of(&self, user_id: i64) -> Result<Vec<String>, DbError> {
        let conn = self.read.lock().map_err(|_| DbError::Lost)?;
        let mut query = conn
            .prepare_cached(
                "SELECT users.username FROM friends JOIN users ON users.id = friends.friend_id
                 WHERE friends.user_id = ?1 ORDER BY friends.seq",
            )
            .map_err(DbError::Sqlite)?;
        let names = query
            .query_map(params![user_id], |row| row.get(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
            .map_err(DbError::Sqlite)?;
        Ok(names)
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, DbError> {
        match id.parse::<i64>() {
            Ok(_) => self.user_by("id", id.to_owned()).await,
            Err(_) => Ok(None),
        }
    }

    /// A user's email, read in place: for the claims loader, which runs (synchronously)
    /// while a token is issued.
    pub fn email_by_id(&self, id: &str) -> Result<Option<String>, DbError> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(None);
        };
        let conn = self.read.lock().map_err(|_| DbError::Lost)?;
        let mut query = conn
            .prepare_cached("SELECT email FROM users WHERE id = ?1")
            .map_err(DbError::Sqlite)?;
        query
            .query_row(params![id], |row| row.get(0))
            .optional()
            .map_err(DbError::Sqlite)
    }

    /// Every user's id, username and email (never the password hash), by id, read on a
    /// blocking thread (a whole-table scan).
    pub async fn users(&self) -> Result<Vec<(i64, String, String)>, DbError> {
        let conn = self.read.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().map_err(|_| DbError::Lost)?;
            let mut query = conn
                .prepare_cached("SELECT id, username, email FROM users ORDER BY id")
                .map_err(DbError::Sqlite)?;
            let rows = query
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .map_err(DbError::Sqlite)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(DbError::Sqlite)
        })
        .await
        .map_err(|_| DbError::Lost)?
    }

    pub async fn set_password_hash(&self, id: i64, hash: String) -> Result<(), DbError> {
        self.call(move |conn| {
            conn.execute(
                "UPDATE users SET password_hash = ?1 WHERE id = ?2",
                params![hash, id],
            )
            .map(drop)
        })
        .await
    }
}

impl UserStore for Db {
    async fn find_user(&self, email: &str) -> Result<Option<StoredUser>, UserStoreError> {
        self.user_by("email", email.trim().to_ascii_lowercase())
            .await
            .map(|user| user.map(|u| StoredUser::new(u.id.to_string(), u.password_hash)))
            .map_err(|e| UserStoreError::with_source("user store", e))
    }

    async fn update_password_hash(&self, id: &str, hash: &str) -> Result<(), UserStoreError> {
        let id = id
            .parse()
            .map_err(|e| UserStoreError::with_source("bad id", e))?;
        self.set_password_hash(id, hash.to_owned())
            .await
            .map_err(|e| UserStoreError::with_source("user store", e))
    }
}

/// Revoked tokens in SQLite, with the crate's moka denylist in front: loaded at start,
/// written through on every revocation, so guards never wait for the database.
pub struct SqliteDenylist {
    db: Db,
    cache: MemoryDenylist,
}

impl SqliteDenylist {
    pub async fn load(db: Db) -> Result<Self, String> {
        let now = deadline(Some(SystemTime::now())).unwrap_or(0);
        type Rows = (Vec<(String, Option<i64>)>, Vec<(String, f64, Option<i64>)>);
        let (tokens, cutoffs): Rows = db
            .call(move |conn| {
                for table in ["revoked_tokens", "user_cutoffs"] {
                    conn.execute(
                        &format!(
                            "DELETE FROM {table} WHERE expires_at IS NOT NULL AND expires_at < ?1"
                        ),
                        params![now],
                    )?;
                }
                let tokens = conn
                    .prepare("SELECT jti, expires_at FROM revoked_tokens")?
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let cutoffs = conn
                    .prepare("SELECT identity, issued_before, expires_at FROM user_cutoffs")?
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((tokens, cutoffs))
            })
            .await
            .map_err(|e| format!("loading revoked tokens: {e:?}"))?;
        let cache = MemoryDenylist::new();
        for (jti, until) in &tokens {
            cache.insert(jti, until.map(from_epoch));
        }
        for (identity, before, until) in &cutoffs {
            let before = from_numeric_date(*before).unwrap_or(UNIX_EPOCH);
            cache.insert_cutoff(identity, before, until.map(from_epoch));
        }
        tracing::info!(
            "loaded {} revoked tokens and {} per-user cut-offs",
            tokens.len(),
            cutoffs.len()
        );
        Ok(Self { db, cache })
    }
}

fn from_epoch(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64)
}

/// A deadline in whole epoch seconds, rounded up (an entry never ends early); `None` for
/// never.
fn deadline(until: Option<SystemTime>) -> Option<i64> {
    until.map(|t| numeric_date(t).ceil() as i64)
}

impl Denylist for SqliteDenylist {
    fn revoke<'a>(
        &'a self,
        jti: &'a str,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        Box::pin(async move {
            let (owned, expires) = (jti.to_owned(), deadline(until));
            self.db
                .call(move |conn| {
                    // The later deadline wins; never (NULL) wins over any.
                    conn.execute(
                        "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2)
                         ON CONFLICT(jti) DO UPDATE SET expires_at = CASE
                             WHEN expires_at IS NULL OR excluded.expires_at IS NULL THEN NULL
                             ELSE max(expires_at, excluded.expires_at) END",
                        params![owned, expires],
                    )
                })
                .await
                .map_err(|e| DenylistError::new(format!("{e:?}")))?;
            // Only once it is durable does the revocation count.
            self.cache.insert(jti, until);
            Ok(())
        })
    }

    fn revoke_all<'a>(
        &'a self,
        identity: &'a str,
        issued_before: SystemTime,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        Box::pin(async move {
            let (owned, before, expires) = (
                identity.to_owned(),
                numeric_date(issued_before),
                deadline(until),
            );
            self.db
                .call(move |conn| {
                    // A cut-off only moves forward; the later deadline wins, never (NULL)
                    // over any.
                    conn.execute(
                        "INSERT INTO user_cutoffs (identity, issued_before, expires_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT(identity) DO UPDATE SET
                             issued_before = max(issued_before, excluded.issued_before),
                             expires_at = CASE
                                 WHEN expires_at IS NULL OR excluded.expires_at IS NULL THEN NULL
                                 ELSE max(expires_at, excluded.expires_at) END",
                        params![owned, before, expires],
                    )
                })
                .await
                .map_err(|e| DenylistError::new(format!("{e:?}")))?;
            self.cache.insert_cutoff(identity, issued_before, until);
            Ok(())
        })
    }

    fn is_revoked<'a>(&'a self, token: TokenId<'a>) -> BoxFuture<'a, Result<bool, DenylistError>> {
        Box::pin(std::future::ready(Ok(self.cache.is_token_revoked(token))))
    }

    fn is_revoked_now(&self, token: TokenId<'_>) -> Option<Result<bool, DenylistError>> {
        Some(Ok(self.cache.is_token_revoked(token)))
    }
}
