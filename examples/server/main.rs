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
//! | `REDIS_URL` | unset: revocations and sessions in SQLite, login failures counted in memory; set (with `--features redis`): all three shared through this Redis node |
//! | `REDIS_SENTINELS` / `REDIS_SENTINEL_MASTER` | instead of `REDIS_URL`: comma-separated Sentinels (`host:port`) and the name of the primary they watch |
//! | `REDIS_CLUSTER` | instead of `REDIS_URL`: comma-separated seed nodes (`host:port`) of a Redis Cluster (7 or later). Two of these three set at once: the server stops at start |
//! | `JWT_ERROR_MESSAGE_KEY` | `msg`: the key of the guards' and the auth service's rejection messages (`message` in the tutorial: `{"message": "Missing Authorization Header"}`); the server's own answers keep `msg` |
//! | `JWT_TOKEN_LOCATION` | `headers,cookies` (any of `headers`, `cookies`, `query_string`, `json`) |
//! | `JWT_COOKIE_SECURE` | `false` (so that the page works on plain http on loopback); `true`: the `__Host-` cookies (HTTPS only) |
//! | `JWT_COOKIE_SAMESITE` | `Lax` (`Strict`, `None`: needs `JWT_COOKIE_SECURE=true`) |
//! | `JWT_IMPLICIT_REFRESH_WITHIN` | `300` seconds (`0` turns it off) |
//! | `JWT_ALGORITHM` | `HS256`; with an asymmetric one, `JWT_SECRET_KEY` is ignored |
//! | `JWT_PRIVATE_KEY` | comma-separated PEM private keys: the first signs, all verify and are published |
//! | `JWT_JWKS_URL` | an outside issuer's JWKS, trusted besides the own keys (with `--features jwks`; without it the server stops at start) |
//! | `JWT_JWKS_ISSUER` | the `iss` its tokens carry (required with `JWT_JWKS_URL`) |
//! | `JWT_JWKS_ISSUERS` | outside issuers' URLs, comma-separated, keys found by OpenID Connect discovery (`<issuer>/.well-known/openid-configuration`); with `JWT_JWKS_URL` too; a token's `iss` selects its issuer's keys |
//! | `JWT_ROLES_CLAIM` | `roles`: the claim holding an outside issuer's roles (every outside issuer's); dotted for a nested one, e.g. `realm_access.roles` (Keycloak). The server's own tokens keep `roles` |
//! | `JWT_JWKS_AUDIENCE` | the `aud` their tokens must name (optional; every outside issuer's) |
//! | `JWT_JWKS_COOLDOWN` / `JWT_JWKS_REFRESH` | `30` / `600` seconds (every outside issuer's) |
//! | `JWT_REFRESH_ROTATION` | `false`; `true`: every refresh answers a new refresh token, a spent one presented again revokes its session |
//! | `JWT_RESOURCE_URL` | unset; e.g. `https://api.example.com`: the protected resource (RFC 9728), its metadata at `GET /.well-known/oauth-protected-resource` (404 while unset) and named by every 401 challenge |
//! | `JWT_REFRESH_REUSE_GRACE` | `10` seconds: the token just spent still answers (concurrent refreshes) |
//! | `LOGIN_THROTTLE_WINDOW` | `900` seconds: the window the failed logins below are counted in |
//! | `LOGIN_MAX_FAILURES_PER_ACCOUNT_IP` | `10`: failed logins per (account, client address) within the window, then 429 (`0` turns it off) |
//! | `LOGIN_MAX_FAILURES_PER_ACCOUNT` | `100`: per account, from any address (`0` turns it off) |
//! | `LOGIN_MAX_FAILURES_PER_IP` | `100`: per client address, whatever the account (`0` turns it off) |
//! | `TRUSTED_PROXIES` | empty; comma-separated addresses or CIDRs (e.g. `10.0.0.0/8, 127.0.0.1`): only requests from them have their `X-Forwarded-For` read for the client's address; otherwise the client is the TCP peer |
//! | `RUST_LOG` | `info`; a level or `target=level,...` (e.g. `info,tower_jwt_auth::audit=off`); an invalid value is warned about and `info` used |
//! | `METRICS` | `false`; `true` (with `--features metrics`; without it the server stops at start): the crate's metrics recorded by the Prometheus exporter and served at `GET /metrics` (text exposition, no token needed: keep it off the public internet); the page at `GET /` shows a live panel of them. `false`: `GET /metrics` is 404 |
//! | `ADMIN_EMAILS` | empty; comma-separated emails (spaces trimmed, ASCII case-insensitive): those users' tokens carry `"roles": ["admin"]`, looked up whenever a token is issued (login, refresh, implicit refresh). Registration does not verify emails: create the admins' accounts before listing them (the server warns at start about listed emails no account has) |
//!
//! `GET /` serves a web page that registers, logs in, shows `/me`, refreshes, changes the
//! password and logs out with cookies and CSRF double submit.
//! `GET /admin/users` lists every user (`[{"id", "username", "email"}]`) for a token with
//! the `admin` role: the server's own for `ADMIN_EMAILS`, or an outside issuer's carrying
//! it in `JWT_ROLES_CLAIM`; any other valid token gets 403 (`WWW-Authenticate: Bearer
//! error="insufficient_scope"`), a missing, invalid or revoked one 401.
//! A new password (`POST /users`, `PUT /me/password`) must pass NIST's [`Policy`]: at least
//! 8 characters, at most 1024 bytes, not one of Django's common passwords (400 naming the
//! rule broken otherwise); login does not apply it, so older accounts keep logging in.
//! Logins are throttled (one count for `/token` and the page's `/web/token`; in Redis when
//! one is named, shared by every instance): only failed attempts count, per (account, client
//! address), per account and per address, within `LOGIN_THROTTLE_WINDOW`; an attempt past a
//! limit answers `429 {"msg": "Too many login attempts, try again later"}` (the message under
//! `JWT_ERROR_MESSAGE_KEY` on `/token`) with
//! `Retry-After`, whatever the account and the password, without hashing. A login that
//! succeeds resets its (account, address). Audit events (target `tower_jwt_auth::audit`):
//! the login's, and `authn_password_change` for `PUT /me/password`.
//! Users and revoked tokens live in SQLite, so revocations survive a restart; an in-process
//! moka cache in front of the revoked-token table answers every guard without a query.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json, Router};
use http_body_util::{BodyExt, Limited};
use rusqlite::params;
use serde_json::{json, Map, Value};
use tower_jwt_auth::audit::PeerAddr;
use tower_jwt_auth::cookies::SameSite;
use tower_jwt_auth::denylist::Denylist;
use tower_jwt_auth::jwks::JwksService;
use tower_jwt_auth::manager::{Lifetime, TokenLocation};
use tower_jwt_auth::metadata::ProtectedResourceService;
use tower_jwt_auth::password::{PasswordError, PasswordHasher, Policy};
use tower_jwt_auth::service::{AuthService, Sessions};
use tower_jwt_auth::sessions::SessionStore;
use tower_jwt_auth::throttle::{Admission, Attempt, LoginThrottle, TrustedProxies};
use tower_jwt_auth::{
    FreshRequiredLayer, JwtManager, JwtOptionalLayer, JwtRequiredLayer, VerifiedToken,
};

mod admin;

/// An error and its causes, each once (`message: cause: ...`): the crate's errors leave
/// their cause to `source()`.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

mod db;
mod fleet;
mod friends;
mod keys;
mod metrics;
mod sessions;
mod throttle;
mod web;
use db::{Db, DbError, SqliteDenylist};

const MAX_BODY: usize = 16 * 1024;
const MAX_PASSWORD: usize = 1024;
/// What a new password must be: NIST SP 800-63B's policy, capped where login caps.
const PASSWORD_POLICY: Policy = Policy::new().max_bytes(MAX_PASSWORD);

#[tokio::main]
async fn main() {
    logging();
    if let Err(err) = run().await {
        // On stderr, where a supervisor looks for why it did not start.
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    // First: the crate takes its metric handles from the recorder installed when the
    // manager, the layers and the stores first use them.
    let metrics = metrics::install()?;
    let addr: SocketAddr = env_or("APP_ADDR", "127.0.0.1:3000")
        .parse()
        .map_err(|e| format!("APP_ADDR: {e}"))?;
    let secure = env_parse("JWT_COOKIE_SECURE")?.unwrap_or(false);
    let same_site = same_site()?;
    if same_site == Some(SameSite::None) && !secure {
        return Err(
            "JWT_COOKIE_SAMESITE=None needs JWT_COOKIE_SECURE=true: browsers drop \
                    SameSite=None cookies that are not Secure"
                .into(),
        );
    }
    let redis = fleet::redis()?;
    let db = Db::open(&database_path())?;
    let denylist = denylist(&db, redis.as_ref()).await?;

    let locations = token_locations()?;
    let cookies = locations.contains(&TokenLocation::Cookies);
    let mut builder = JwtManager::builder();
    for key in keys::own_keys()? {
        builder = builder.key(key);
    }
    builder = keys::trust_remote_jwks(builder).await?;
    let admins = admin::admin_emails();
    admin::warn_unregistered(&db, &admins).await;
    builder = builder.additional_claims(admin::roles_loader(db.clone(), admins));
    if let Some(resource) = std::env::var("JWT_RESOURCE_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        builder = builder.protected_resource(resource);
    }
    if secure {
        // `__Host-` cookies: only this host, over HTTPS, can set them, so a sibling
        // subdomain cannot plant a token or CSRF cookie of its own (cookie tossing).
        builder = builder.host_prefixed_cookies();
    }
    let jwt = builder
        // The tutorial's `JWT_ERROR_MESSAGE_KEY = 'message'`: the key of the guards' and the
        // auth service's rejection messages (the server's own answers keep `msg`).
        .error_message_key(env_or("JWT_ERROR_MESSAGE_KEY", "msg"))
        .token_locations(locations)
        .cookie_secure(secure)
        .cookie_samesite(same_site)
        .implicit_refresh_within(Duration::from_secs(
            env_parse("JWT_IMPLICIT_REFRESH_WITHIN")?.unwrap_or(300),
        ))
        .access_token_lifetime(lifetime("JWT_ACCESS_TOKEN_EXPIRES", 900)?)
        .refresh_token_lifetime(lifetime("JWT_REFRESH_TOKEN_EXPIRES", 2_592_000)?)
        .denylist(denylist)
        .verified_token_cache(env_parse("JWT_VERIFIED_TOKEN_CACHE")?.unwrap_or(true))
        .build()
        .map_err(|e| format!("JWT settings: {}", chain(&e)))?;
    let hasher = PasswordHasher::with_limits(
        env_parse("PASSWORD_HASH_CONCURRENCY")?
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        Duration::from_millis(env_parse("PASSWORD_HASH_MAX_WAIT_MS")?.unwrap_or(1000)),
    );

    let rotation = rotation(&db, redis.as_ref()).await?;
    let login = Login {
        throttle: throttle::login_throttle(redis.as_ref()).await?,
        proxies: throttle::trusted_proxies()?,
    };
    let page = web::Page::new(cookies, if secure { "__Host-" } else { "" });
    let app = app(jwt, db, hasher, page, rotation, login).merge(metrics::routes(metrics));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(
        "listening on http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    // The TCP peer of every request (`ConnectInfo`): the login throttle's client address.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| e.to_string())
}

/// Redis when one is named (several instances share revocations), SQLite otherwise.
async fn denylist(db: &Db, redis: Option<&fleet::Redis>) -> Result<Arc<dyn Denylist>, String> {
    match redis {
        Some(redis) => redis.denylist().await,
        None => Ok(Arc::new(SqliteDenylist::load(db.clone()).await?)),
    }
}

/// With `JWT_REFRESH_ROTATION=true`: where sessions live (Redis when one is named, SQLite
/// otherwise) and the reuse grace.
async fn rotation(db: &Db, redis: Option<&fleet::Redis>) -> Result<Option<Rotation>, String> {
    if !env_parse("JWT_REFRESH_ROTATION")?.unwrap_or(false) {
        return Ok(None);
    }
    let grace = Duration::from_secs(env_parse("JWT_REFRESH_REUSE_GRACE")?.unwrap_or(10));
    let store: Arc<dyn SessionStore> = match redis {
        Some(redis) => redis.sessions().await?,
        None => Arc::new(sessions::SqliteSessionStore::new(db.clone())),
    };
    tracing::info!(grace_secs = grace.as_secs(), "refresh-token rotation on");
    Ok(Some(Rotation { store, grace }))
}

struct Rotation {
    store: Arc<dyn SessionStore>,
    grace: Duration,
}

/// How logins are protected: one throttle for both auth services, and the proxies whose
/// `X-Forwarded-For` names the client.
struct Login {
    throttle: throttle::SharedThrottle,
    proxies: TrustedProxies,
}

/// Logs on stdout at `RUST_LOG`'s levels (`info` when unset or invalid).
fn logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let info = || Targets::new().with_default(LevelFilter::INFO);
    let (filter, invalid) = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => match v.parse::<Targets>() {
            Ok(filter) => (filter, None),
            Err(err) => (info(), Some((v, err))),
        },
        _ => (info(), None),
    };
    tracing_subscriber::fmt()
        .with_target(false)
        .finish()
        .with(filter)
        .init();
    if let Some((value, err)) = invalid {
        tracing::warn!("RUST_LOG: cannot parse {value:?} ({err}); logging at info");
    }
}

#[derive(Clone)]
struct AppState {
    db: Db,
    hasher: PasswordHasher,
    jwt: JwtManager,
    /// With refresh-token rotation on.
    sessions: Option<Sessions>,
    /// Whose `X-Forwarded-For` names the client (audit events).
    proxies: TrustedProxies,
    /// The login throttle: `PUT /me/password` checks a password too.
    throttle: throttle::SharedThrottle,
}

/// The routes, with the web page at `/`.
fn app(
    jwt: JwtManager,
    db: Db,
    hasher: PasswordHasher,
    page: web::Page,
    rotation: Option<Rotation>,
    login: Login,
) -> Router {
    let auth_service = || {
        let builder = AuthService::builder(&jwt, db.clone())
            .password_hasher(hasher.clone())
            .login_throttle(login.throttle.clone())
            .trusted_proxies(login.proxies.clone());
        match &rotation {
            Some(r) => builder
                .refresh_rotation(r.store.clone())
                .reuse_grace(r.grace),
            None => builder,
        }
    };
    let auth = auth_service().build();
    // The page's own endpoints: cookies only, no token in any answer.
    let web_auth = auth_service().tokens_in_body(false).build();
    let sessions = auth.sessions();
    Router::new()
        .route("/", get(move || async move { page.response() }))
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route_service("/.well-known/jwks.json", JwksService::new(&jwt))
        // RFC 9728: at the path of the metadata URL the challenges name (404 without one).
        .route_service(
            jwt.resource_metadata_url()
                .and_then(|url| url.parse::<axum::http::Uri>().ok())
                .map_or("/.well-known/oauth-protected-resource".into(), |u| {
                    u.path().to_owned()
                })
                .as_str(),
            ProtectedResourceService::new(&jwt),
        )
        .route("/users", post(create_user))
        .route(
            "/users/{username}",
            get(get_user).route_layer(JwtOptionalLayer::new(&jwt)),
        )
        .route("/me", get(me).route_layer(JwtRequiredLayer::new(&jwt)))
        .route(
            "/me/friends",
            post(friends::add).route_layer(JwtRequiredLayer::new(&jwt)),
        )
        .route(
            "/me/sessions",
            get(sessions::list).route_layer(JwtRequiredLayer::new(&jwt)),
        )
        .route(
            "/me/sessions/{id}",
            delete(sessions::end).route_layer(FreshRequiredLayer::new(&jwt)),
        )
        .route(
            "/whoami",
            get(|Extension(token): Extension<VerifiedToken>| async move {
                Json(json!({"sub": token.identity()}))
            })
            .route_layer(JwtRequiredLayer::new(&jwt)),
        )
        .route(
            "/admin/users",
            get(admin::users).route_layer(JwtRequiredLayer::new(&jwt).require_role(admin::ADMIN)),
        )
        .route(
            "/me/password",
            put(change_password).route_layer(FreshRequiredLayer::new(&jwt)),
        )
        .route_service("/token", auth.clone())
        .route_service("/refresh", auth.clone())
        .route_service("/revoke", auth)
        .nest_service("/web", web_auth)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "Not found") })
        .with_state(AppState {
            db,
            hasher,
            jwt,
            sessions,
            proxies: login.proxies,
            throttle: login.throttle,
        })
        // The TCP peer (`ConnectInfo`) as the crate looks for it: the login throttle's
        // client, and the client of the guards' audit events.
        .layer(axum::middleware::from_fn(
            |ConnectInfo(peer): ConnectInfo<SocketAddr>, mut req: Request, next: Next| {
                req.extensions_mut().insert(PeerAddr(peer));
                next.run(req)
            },
        ))
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
    if let Err(broken) = PASSWORD_POLICY.check(password) {
        return error(StatusCode::BAD_REQUEST, &broken.to_string());
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
    // An outside issuer's `sub` names no local user: only the manager's own tokens own a row.
    if token.is_some_and(|t| t.local_identity() == Some(user.id.to_string().as_str())) {
        body["email"] = json!(user.email);
        match state.db.friends_of(user.id).await {
            Ok(friends) => body["friends"] = json!(friends),
            Err(err) => return err.into_response(),
        }
    }
    Json(body).into_response()
}

async fn me(State(state): State<AppState>, Extension(token): Extension<VerifiedToken>) -> Response {
    // An outside issuer's identity has no local row (its `sub` is not a local user id).
    let Some(id) = token.local_identity() else {
        return error(StatusCode::NOT_FOUND, "user not found");
    };
    match state.db.user_by_id(id).await {
        Ok(Some(user)) => match state.db.friends_of(user.id).await {
            Ok(friends) => Json(json!({
                "id": user.id,
                "username": user.username,
                "email": user.email,
                "friends": friends,
            }))
            .into_response(),
            Err(err) => err.into_response(),
        },
        Ok(None) => error(StatusCode::NOT_FOUND, "user not found"),
        Err(err) => err.into_response(),
    }
}

async fn change_password(
    State(state): State<AppState>,
    Extension(token): Extension<VerifiedToken>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
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
    if old.len() > MAX_PASSWORD {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("old password must be at most {MAX_PASSWORD} bytes"),
        );
    }
    if let Err(broken) = PASSWORD_POLICY.check(new) {
        return error(StatusCode::BAD_REQUEST, &broken.to_string());
    }
    let Some(id) = token.local_identity() else {
        return error(StatusCode::NOT_FOUND, "user not found");
    };
    let user = match state.db.user_by_id(id).await {
        Ok(Some(user)) => user,
        Ok(None) => return error(StatusCode::NOT_FOUND, "user not found"),
        Err(err) => return err.into_response(),
    };
    // Checking the old password is a login too: throttled with the account's logins (a
    // stolen access token does not buy unlimited guesses), audited when it fails.
    let (client, user_agent) = throttle::client(&state.proxies, peer, &headers);
    let attempt = Attempt::new(&user.email, state.proxies.client(Some(peer.ip()), &headers));
    let reservation = match state.throttle.reserve(&attempt).await {
        Ok(Admission::Admitted(reservation)) => reservation,
        Ok(Admission::Throttled { retry_after, .. }) => {
            let mut res = error(StatusCode::TOO_MANY_REQUESTS, throttle::THROTTLED);
            res.headers_mut()
                .insert(header::RETRY_AFTER, retry_after.as_secs().max(1).into());
            return res;
        }
        Err(err) => {
            tracing::warn!("password change: {}", chain(&err));
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Login throttle unavailable",
            );
        }
    };
    match state.hasher.verify(old, &user.password_hash).await {
        Ok(true) => {
            let _ = state.throttle.succeeded(&attempt, reservation).await;
        }
        Ok(false) | Err(PasswordError::InvalidHash) => {
            tracing::info!(
                target: "tower_jwt_auth::audit",
                event = "authn_login_fail",
                reason = "wrong old password",
                user_id = %user.id,
                client = %client,
                user_agent = ?user_agent,
                "password change refused"
            );
            return error(StatusCode::FORBIDDEN, "old password is incorrect");
        }
        Err(err) => {
            let _ = state.throttle.released(&attempt, reservation).await;
            return password_error(err);
        }
    }
    let hash = match state.hasher.hash(new).await {
        Ok(hash) => hash,
        Err(err) => return password_error(err),
    };
    if let Err(err) = state.db.set_password_hash(user.id, hash).await {
        return err.into_response();
    }
    // Audited once the new password is stored: it is changed, whatever happens below.
    tracing::info!(
        target: "tower_jwt_auth::audit",
        event = "authn_password_change",
        user_id = %user.id,
        client = %client,
        user_agent = ?user_agent,
        "password changed"
    );
    // Every token issued before the change (on every device) stops working.
    if let Err(err) = state.jwt.revoke_all(&token).await {
        let err = chain(&err);
        tracing::error!("password changed, but revoking older tokens failed: {err}");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Token revocation store unavailable",
        );
    }
    // With rotation on, the sessions those tokens belonged to are over too.
    let ended = match &state.sessions {
        Some(sessions) => sessions.end_all_except(&token, None).await.map(drop),
        None => Ok(()),
    };
    match ended {
        Ok(()) => Json(json!({"msg": "Password updated"})).into_response(),
        Err(err) => sessions::unavailable(&err),
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

pub(crate) fn error(status: StatusCode, message: &str) -> Response {
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
    // JSON as the guards and axum's `Json` see it: `application/json`, `application/*+json`.
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| {
            v == "application/json"
                || v.strip_prefix("application/")
                    .and_then(|subtype| subtype.strip_suffix("+json"))
                    .is_some_and(|name| !name.is_empty() && !name.contains(['/', ' ']))
        });
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

pub(crate) fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

pub(crate) fn env_parse<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
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

/// `JWT_TOKEN_LOCATION`: comma-separated locations, `headers,cookies` by default.
fn token_locations() -> Result<Vec<TokenLocation>, String> {
    let value = env_or("JWT_TOKEN_LOCATION", "headers,cookies");
    let locations = value
        .split(',')
        .filter(|l| !l.trim().is_empty())
        .map(str::parse)
        .collect::<Result<Vec<TokenLocation>, _>>()
        .map_err(|e| format!("JWT_TOKEN_LOCATION: {e}"))?;
    if locations.is_empty() {
        return Err("JWT_TOKEN_LOCATION: no location given".into());
    }
    Ok(locations)
}

/// `JWT_COOKIE_SAMESITE`: `Lax` (default), `Strict` or `None`.
fn same_site() -> Result<Option<SameSite>, String> {
    env_or("JWT_COOKIE_SAMESITE", "Lax")
        .parse()
        .map(Some)
        .map_err(|e| format!("JWT_COOKIE_SAMESITE: {e}"))
}

fn database_path() -> String {
    let url = env_or("DATABASE_URL", "sqlite://tower-jwt-auth-example.db");
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(&url)
        .to_owned()
}
