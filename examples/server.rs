//! The example server: the seed tutorial's whole login flow on axum and SQLite.
//!
//! Run it with `cargo run --example server` (no configuration needed). Environment:
//!
//! | variable | default |
//! |---|---|
//! | `APP_ADDR` | `127.0.0.1:3000` |
//! | `JWT_SECRET_KEY` | a random key per start (logged as such) |
//! | `JWT_ACCESS_TOKEN_EXPIRES` | `900` seconds (`never` for no expiry) |
//! | `JWT_REFRESH_TOKEN_EXPIRES` | `2592000` seconds (`never` for no expiry) |
//! | `DATABASE_URL` | `sqlite://tower-jwt-auth-example.db` in the working directory |
//! | `PASSWORD_HASH_CONCURRENCY` | the number of cores |
//! | `PASSWORD_HASH_MAX_WAIT_MS` | `1000` |
//! | `REDIS_URL` | unset: revocations in SQLite; set (with `--features redis`): shared through Redis |
//!
//! Users and revoked tokens live in SQLite, so revocations survive a restart; an in-process
//! moka cache in front of the revoked-token table answers every guard without a query.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use http_body_util::{BodyExt, Limited};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde_json::{json, Map, Value};
use tower_jwt_auth::clock::{from_numeric_date, numeric_date};
use tower_jwt_auth::denylist::{BoxFuture, TokenId};
use tower_jwt_auth::password::{PasswordError, PasswordHasher};
use tower_jwt_auth::service::{AuthService, StoredUser, UserStore, UserStoreError};
use tower_jwt_auth::{
    Denylist, DenylistError, FreshRequiredLayer, JwtManager, JwtOptionalLayer, JwtRequiredLayer,
    Lifetime, MemoryDenylist, VerifiedToken,
};

const MAX_BODY: usize = 16 * 1024;
const MAX_PASSWORD: usize = 1024;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().with_target(false).init();
    if let Err(err) = run().await {
        tracing::error!("{err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let addr: SocketAddr = env_or("APP_ADDR", "127.0.0.1:3000")
        .parse()
        .map_err(|e| format!("APP_ADDR: {e}"))?;
    let db = Db::open(&database_path())?;
    let denylist = denylist(&db).await?;

    let secret = match std::env::var("JWT_SECRET_KEY") {
        Ok(secret) if !secret.is_empty() => secret.into_bytes(),
        _ => {
            tracing::warn!(
                "JWT_SECRET_KEY is not set: using a random key for this run; \
                 tokens will not be accepted after a restart"
            );
            let mut key = vec![0u8; 64];
            getrandom::fill(&mut key).map_err(|e| format!("no randomness for a key: {e}"))?;
            key
        }
    };
    let jwt = JwtManager::builder()
        .secret(secret)
        .access_token_lifetime(lifetime("JWT_ACCESS_TOKEN_EXPIRES", 900)?)
        .refresh_token_lifetime(lifetime("JWT_REFRESH_TOKEN_EXPIRES", 2_592_000)?)
        .denylist_arc(denylist)
        .verified_token_cache(env_parse("JWT_VERIFIED_TOKEN_CACHE")?.unwrap_or(true))
        .build()
        .map_err(|e| format!("JWT settings: {e}"))?;
    let hasher = PasswordHasher::with_limits(
        env_parse("PASSWORD_HASH_CONCURRENCY")?
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        Duration::from_millis(env_parse("PASSWORD_HASH_MAX_WAIT_MS")?.unwrap_or(1000)),
    );

    let app = app(jwt, db, hasher);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(
        "listening on http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}

/// Redis when `REDIS_URL` is set (several instances share revocations), SQLite otherwise.
async fn denylist(db: &Db) -> Result<Arc<dyn Denylist>, String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => redis_denylist(&url).await,
        _ => Ok(Arc::new(SqliteDenylist::load(db.clone()).await?)),
    }
}

#[cfg(feature = "redis")]
async fn redis_denylist(url: &str) -> Result<Arc<dyn Denylist>, String> {
    let denylist = tower_jwt_auth::RedisDenylist::connect(url)
        .await
        .map_err(|e| format!("REDIS_URL: {e}"))?;
    if !denylist.wait_until_trusted(Duration::from_secs(10)).await {
        tracing::warn!("the Redis revocation view is not loaded yet; guards will ask Redis");
    }
    tracing::info!("revocations shared through Redis");
    Ok(Arc::new(denylist))
}

#[cfg(not(feature = "redis"))]
async fn redis_denylist(_: &str) -> Result<Arc<dyn Denylist>, String> {
    Err(
        "REDIS_URL is set, but the example was built without the `redis` feature: \
         cargo run --example server --features redis"
            .into(),
    )
}

#[derive(Clone)]
struct AppState {
    db: Db,
    hasher: PasswordHasher,
    jwt: JwtManager,
}

fn app(jwt: JwtManager, db: Db, hasher: PasswordHasher) -> Router {
    let auth = AuthService::builder(&jwt, db.clone())
        .password_hasher(hasher.clone())
        .build();
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/users", post(create_user))
        .route(
            "/users/{username}",
            get(get_user).route_layer(JwtOptionalLayer::new(&jwt)),
        )
        .route("/me", get(me).route_layer(JwtRequiredLayer::new(&jwt)))
        .route(
            "/whoami",
            get(|Extension(token): Extension<VerifiedToken>| async move {
                Json(json!({"sub": token.identity()}))
            })
            .route_layer(JwtRequiredLayer::new(&jwt)),
        )
        .route(
            "/me/password",
            put(change_password).route_layer(FreshRequiredLayer::new(&jwt)),
        )
        .route_service("/token", auth.clone())
        .route_service("/refresh", auth.clone())
        .route_service("/revoke", auth)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "Not found") })
        .with_state(AppState { db, hasher, jwt })
}

// ---------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------

async fn create_user(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let fields = match read_json(&headers, body).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::trim);
    let (Some(username), Some(email), Some(password)) = (
        text("username"),
        text("email"),
        fields.get("password").and_then(Value::as_str),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "\"username\", \"email\" and \"password\" are required strings",
        );
    };
    if username.is_empty()
        || username.len() > 64
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "username must be 1 to 64 letters, digits, '_', '.' or '-'",
        );
    }
    if !valid_email(email) {
        return error(StatusCode::BAD_REQUEST, "email is not a valid address");
    }
    if password.is_empty() || password.len() > MAX_PASSWORD {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("password must be 1 to {MAX_PASSWORD} bytes"),
        );
    }
    let hash = match state.hasher.hash(password).await {
        Ok(hash) => hash,
        Err(err) => return password_error(err),
    };
    let (username, email) = (username.to_owned(), email.to_ascii_lowercase());
    let inserted = state
        .db
        .call({
            let (username, email) = (username.clone(), email.clone());
            move |conn| {
                conn.execute(
                    "INSERT INTO users (username, email, password_hash) VALUES (?1, ?2, ?3)",
                    params![username, email, hash],
                )
                .map(|_| conn.last_insert_rowid())
            }
        })
        .await;
    match inserted {
        Ok(id) => (
            StatusCode::CREATED,
            Json(json!({"id": id, "username": username, "email": email})),
        )
            .into_response(),
        Err(DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            error(StatusCode::CONFLICT, "username or email is already taken")
        }
        Err(err) => err.into_response(),
    }
}

async fn get_user(
    State(state): State<AppState>,
    Path(username): Path<String>,
    token: Option<Extension<VerifiedToken>>,
) -> Response {
    let user = match state.db.user_by("username", username).await {
        Ok(Some(user)) => user,
        Ok(None) => return error(StatusCode::NOT_FOUND, "user not found"),
        Err(err) => return err.into_response(),
    };
    let mut body = json!({"id": user.id, "username": user.username});
    if token.is_some_and(|t| t.identity() == user.id.to_string()) {
        body["email"] = json!(user.email);
    }
    Json(body).into_response()
}

async fn me(State(state): State<AppState>, Extension(token): Extension<VerifiedToken>) -> Response {
    match state.db.user_by_id(token.identity()).await {
        Ok(Some(user)) => {
            Json(json!({"id": user.id, "username": user.username, "email": user.email}))
                .into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "user not found"),
        Err(err) => err.into_response(),
    }
}

async fn change_password(
    State(state): State<AppState>,
    Extension(token): Extension<VerifiedToken>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let fields = match read_json(&headers, body).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    let (Some(old), Some(new)) = (text("old_password"), text("new_password")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "\"old_password\" and \"new_password\" are required strings",
        );
    };
    if old.len() > MAX_PASSWORD || new.is_empty() || new.len() > MAX_PASSWORD {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("passwords must be 1 to {MAX_PASSWORD} bytes"),
        );
    }
    let user = match state.db.user_by_id(token.identity()).await {
        Ok(Some(user)) => user,
        Ok(None) => return error(StatusCode::NOT_FOUND, "user not found"),
        Err(err) => return err.into_response(),
    };
    match state.hasher.verify(old, &user.password_hash).await {
        Ok(true) => {}
        Ok(false) | Err(PasswordError::InvalidHash) => {
            return error(StatusCode::FORBIDDEN, "old password is incorrect")
        }
        Err(err) => return password_error(err),
    }
    let hash = match state.hasher.hash(new).await {
        Ok(hash) => hash,
        Err(err) => return password_error(err),
    };
    if let Err(err) = state.db.set_password_hash(user.id, hash).await {
        return err.into_response();
    }
    // Every token issued before the change (on every device) stops working.
    match state.jwt.revoke_all(token.identity()).await {
        Ok(()) => Json(json!({"msg": "Password updated"})).into_response(),
        Err(err) => {
            tracing::error!("password changed, but revoking older tokens failed: {err}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Token revocation store unavailable",
            )
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"msg": message}))).into_response()
}

fn password_error(err: PasswordError) -> Response {
    match err {
        PasswordError::Busy | PasswordError::Timeout => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many password operations in progress, try again shortly",
        ),
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "Password hashing failed"),
    }
}

/// A JSON object body of at most 16 KiB, or the error response saying what is wrong.
async fn read_json(headers: &HeaderMap, body: Body) -> Result<Map<String, Value>, Response> {
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("The request body is larger than {MAX_BODY} bytes"),
            ))
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "The request body must be a JSON object",
        )),
    }
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}: cannot parse {v:?}")),
        Err(_) => Ok(None),
    }
}

fn lifetime(name: &str, default_secs: u64) -> Result<Lifetime, String> {
    match std::env::var(name) {
        Ok(v) if matches!(v.trim(), "never" | "false") => Ok(Lifetime::Never),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(secs) if secs > 0 => Ok(Lifetime::After(Duration::from_secs(secs))),
            _ => Err(format!(
                "{name}: expected a positive number of seconds or \"never\", got {v:?}"
            )),
        },
        Err(_) => Ok(Lifetime::After(Duration::from_secs(default_secs))),
    }
}

fn database_path() -> String {
    let url = env_or("DATABASE_URL", "sqlite://tower-jwt-auth-example.db");
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(&url)
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// SQLite: users and revoked tokens
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
enum DbError {
    Sqlite(rusqlite::Error),
    Lost,
}

impl IntoResponse for DbError {
    fn into_response(self) -> Response {
        tracing::error!("database error: {self:?}");
        error(StatusCode::SERVICE_UNAVAILABLE, "Database unavailable")
    }
}

struct User {
    id: i64,
    username: String,
    email: String,
    password_hash: String,
}

/// SQLite in WAL mode: one connection for writes, used from blocking threads (a commit
/// waits for the disk), and one for the short indexed reads of the request path, used in
/// place (microseconds from the page cache; under WAL a read never waits for a writer).
#[derive(Clone)]
struct Db {
    write: Arc<Mutex<Connection>>,
    read: Arc<Mutex<Connection>>,
}

impl Db {
    fn open(path: &str) -> Result<Self, String> {
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

    async fn call<T, F>(&self, work: F) -> Result<T, DbError>
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

    async fn user_by(&self, column: &'static str, value: String) -> Result<Option<User>, DbError> {
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

    async fn user_by_id(&self, id: &str) -> Result<Option<User>, DbError> {
        match id.parse::<i64>() {
            Ok(_) => self.user_by("id", id.to_owned()).await,
            Err(_) => Ok(None),
        }
    }

    async fn set_password_hash(&self, id: i64, hash: String) -> Result<(), DbError> {
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
            .map(|user| {
                user.map(|u| StoredUser {
                    id: u.id.to_string(),
                    password_hash: u.password_hash,
                })
            })
            .map_err(|e| UserStoreError(format!("{e:?}")))
    }

    async fn update_password_hash(&self, id: &str, hash: &str) -> Result<(), UserStoreError> {
        let id = id.parse().map_err(|_| UserStoreError("bad id".into()))?;
        self.set_password_hash(id, hash.to_owned())
            .await
            .map_err(|e| UserStoreError(format!("{e:?}")))
    }
}

/// Revoked tokens in SQLite, with the crate's moka denylist in front: loaded at start,
/// written through on every revocation, so guards never wait for the database.
struct SqliteDenylist {
    db: Db,
    cache: MemoryDenylist,
}

impl SqliteDenylist {
    async fn load(db: Db) -> Result<Self, String> {
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
