//! The mountable auth service: `POST /token` (login), `POST /refresh` and `POST /revoke`.
//!
//! [`AuthService`] is a leaf Tower service (error type `Infallible`) that routes relative
//! to where it is mounted. Mount it in axum with `Router::nest_service("/auth", svc)` or
//! `route_service("/token", svc)` (one per route), or serve it directly with hyper. The
//! application supplies the users through a [`UserStore`].
//!
//! - **Login** reads `{"email": ..., "password": ...}` (the login field is configurable),
//!   verifies the Argon2id password and answers `200 {"access_token", "refresh_token"}`
//!   with a fresh access token. Every failure answers the same
//!   `401 {"msg": "email or password is incorrect"}`, and an unknown user still costs one
//!   Argon2 verification. Bad requests get 400/413/415 without any hashing; when every
//!   hashing slot stays busy the answer is 503.
//! - **Refresh** is guarded like `RefreshRequired` and answers `200 {"access_token"}` (not
//!   fresh).
//! - In cookie mode, both also set the token cookies; with
//!   [`csrf_in_response_body`](crate::manager::JwtManagerBuilder::csrf_in_response_body) their answers carry the CSRF
//!   values too (`csrf_access_token`, `csrf_refresh_token`), for a page whose CSRF values are
//!   not in cookies.
//! - **Revoke** revokes the access or refresh token presented in the `Authorization`
//!   header, and the refresh token in an optional body `{"refresh_token": ...}` when it
//!   belongs to the same identity: `200 {"msg": "Successfully logged out"}`.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use http::{Request, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use tower::ServiceExt;
//! use tower_jwt_auth::service::{AuthService, StoredUser, UserStore, UserStoreError};
//! use tower_jwt_auth::{JwtManager, password};
//!
//! struct OneUser(String);
//!
//! impl UserStore for OneUser {
//!     async fn find_user(&self, login: &str) -> Result<Option<StoredUser>, UserStoreError> {
//!         Ok((login == "ada@example.com").then(|| StoredUser::new("1", self.0.clone())))
//!     }
//! }
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .build()
//!     .unwrap();
//! let auth = AuthService::new(&manager, OneUser(password::hash("s3cret pass").unwrap()));
//!
//! let login = |password: &str| {
//!     Request::post("/token")
//!         .header("content-type", "application/json")
//!         .body(Full::<bytes::Bytes>::from(format!(
//!             r#"{{"email":"ada@example.com","password":"{password}"}}"#
//!         )))
//!         .unwrap()
//! };
//!
//! // Accepted: the right password gets a fresh access token and a refresh token.
//! let res = auth.clone().oneshot(login("s3cret pass")).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! let body: serde_json::Value =
//!     serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
//! let access = manager.decode_token(body["access_token"].as_str().unwrap()).unwrap();
//! assert_eq!(access.identity(), "1");
//!
//! // Rejected: a wrong password.
//! let res = auth.oneshot(login("wrong")).await.unwrap();
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! let body = res.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, r#"{"msg":"email or password is incorrect"}"#);
//! # }
//! ```

mod handlers;
mod login;
mod sessions;

pub use sessions::Sessions;

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Map, Value};
use tower_layer::Layer;
use tower_service::Service;

use crate::config::TokenLocation;
use crate::guard::{JwtRequired, RefreshRequired, RequestBody, ResponseBody};
use crate::manager::JwtManager;
use crate::password::PasswordHasher;
use crate::sessions::SessionStore;
use crate::BoxFuture;
use crate::{JwtRequiredLayer, RefreshRequiredLayer};
use sessions::Rotating;

/// A user as the login handler needs it.
#[non_exhaustive]
#[derive(Clone)]
pub struct StoredUser {
    /// The identity put into tokens (`sub`).
    pub id: String,
    /// The Argon2 PHC string of the user's password.
    pub password_hash: String,
}

impl StoredUser {
    /// A user with identity `id` and the PHC string of their password.
    pub fn new(id: impl Into<String>, password_hash: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            password_hash: password_hash.into(),
        }
    }
}

impl fmt::Debug for StoredUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredUser")
            .field("id", &self.id)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

crate::error::store_error!(
    /// The user store could not answer.
    UserStoreError,
    "user store error"
);

/// Where the login handler finds users; implemented by the application.
pub trait UserStore: Send + Sync + 'static {
    /// The user whose login field (e.g. email) is `login`, if any.
    fn find_user(
        &self,
        login: &str,
    ) -> impl Future<Output = Result<Option<StoredUser>, UserStoreError>> + Send;

    /// Replaces a user's stored hash after a successful login with a hash made with
    /// weaker parameters than today's. The default keeps the old hash.
    fn update_password_hash(
        &self,
        user_id: &str,
        password_hash: &str,
    ) -> impl Future<Output = Result<(), UserStoreError>> + Send {
        let _ = (user_id, password_hash);
        std::future::ready(Ok(()))
    }
}

/// An in-memory [`UserStore`] for examples, tests and prototypes. Cheap to clone; clones
/// share the users.
#[derive(Clone, Default)]
pub struct MemoryUserStore {
    users: Arc<std::sync::RwLock<std::collections::HashMap<String, StoredUser>>>,
}

impl fmt::Debug for MemoryUserStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.users.read().map_or(0, |u| u.len());
        f.debug_struct("MemoryUserStore")
            .field("users", &count)
            .finish()
    }
}

impl MemoryUserStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a user logging in as `login`, hashing `password` with Argon2id.
    pub fn add_user(
        &self,
        login: impl Into<String>,
        id: impl Into<String>,
        password: &str,
    ) -> Result<(), crate::password::PasswordError> {
        let user = StoredUser::new(id, crate::password::hash(password)?);
        self.add_user_hash(login, user);
        Ok(())
    }

    /// Adds (or replaces) a user whose password is already hashed.
    pub(crate) fn add_user_hash(&self, login: impl Into<String>, user: StoredUser) {
        if let Ok(mut users) = self.users.write() {
            users.insert(login.into(), user);
        }
    }
}

impl UserStore for MemoryUserStore {
    async fn find_user(&self, login: &str) -> Result<Option<StoredUser>, UserStoreError> {
        let users = self
            .users
            .read()
            .map_err(|_| UserStoreError::new("poisoned"))?;
        Ok(users.get(login).cloned())
    }

    async fn update_password_hash(&self, id: &str, hash: &str) -> Result<(), UserStoreError> {
        let mut users = self
            .users
            .write()
            .map_err(|_| UserStoreError::new("poisoned"))?;
        for user in users.values_mut().filter(|u| u.id == id) {
            user.password_hash = hash.to_owned();
        }
        Ok(())
    }
}

/// Builds an [`AuthService`].
#[must_use = "builders do nothing until built"]
pub struct AuthServiceBuilder<U> {
    manager: JwtManager,
    store: U,
    /// `None`: [`PasswordHasher::new`], made at build time.
    hasher: Option<PasswordHasher>,
    login_field: String,
    max_body_size: usize,
    max_password_size: usize,
    tokens_in_body: Option<bool>,
    rotating: Option<Rotating>,
    reuse_grace: Duration,
    login: login::LoginProtection,
}

impl<U: UserStore> AuthServiceBuilder<U> {
    /// The JSON field holding the login (default `email`, e.g. `username`). The failure
    /// message names it: `"<field> or password is incorrect"`.
    pub fn login_field(mut self, field: impl Into<String>) -> Self {
        self.login_field = field.into();
        self
    }

    /// Request bodies over this many bytes answer 413 (default 16 KiB).
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// Passwords over this many bytes answer 400 without hashing (default 1 KiB).
    pub fn max_password_size(mut self, bytes: usize) -> Self {
        self.max_password_size = bytes;
        self
    }

    /// The bounded hasher shared with the rest of the application (default
    /// [`PasswordHasher::new`]).
    pub fn password_hasher(mut self, hasher: PasswordHasher) -> Self {
        self.hasher = Some(hasher);
        self
    }

    /// Whether `/token` and `/refresh` answer with the tokens in the JSON body. By default
    /// they do unless cookies are the manager's only token location: a browser app never
    /// needs its tokens where scripts can read them.
    pub fn tokens_in_body(mut self, yes: bool) -> Self {
        self.tokens_in_body = Some(yes);
        self
    }

    /// Turns refresh-token rotation with reuse detection on, sessions kept in `store`
    /// ([`MemorySessionStore`](crate::sessions::MemorySessionStore) for one instance,
    /// [`RedisSessionStore`](crate::sessions::RedisSessionStore) for several): a login
    /// starts a session, `/refresh` answers a new refresh token too, and a spent refresh
    /// token presented again revokes the whole session. Off by default (the refresh token
    /// stays reusable until it expires). See [`crate::sessions`].
    pub fn refresh_rotation(mut self, store: impl SessionStore) -> Self {
        self.rotating = Some(Rotating {
            store: Arc::new(store),
            grace: self.reuse_grace,
        });
        self
    }

    /// How long after a rotation the refresh token just spent still answers (with the
    /// session's current token) instead of revoking the session: concurrent refreshes
    /// (default 10 s; `Duration::ZERO`: never).
    pub fn reuse_grace(mut self, grace: Duration) -> Self {
        self.reuse_grace = grace;
        if let Some(rotating) = &mut self.rotating {
            rotating.grace = grace;
        }
        self
    }

    /// Builds the service.
    pub fn build(self) -> AuthService<U> {
        let locations = &self.manager.core().settings.locations;
        let cookies = locations.contains(&TokenLocation::Cookies);
        let tokens_in_body = self
            .tokens_in_body
            .unwrap_or_else(|| locations.iter().any(|l| *l != TokenLocation::Cookies));
        let inner = Arc::new(Inner {
            cookies,
            tokens_in_body,
            login_failed: format!("{} or password is incorrect", self.login_field),
            manager: self.manager.clone(),
            store: self.store,
            hasher: self.hasher.unwrap_or_default(),
            login_field: self.login_field,
            max_body_size: self.max_body_size,
            max_password_size: self.max_password_size,
            rotating: self.rotating,
            login: self.login,
        });
        let endpoint = |which| Endpoint {
            inner: inner.clone(),
            which,
        };
        AuthService {
            refresh: RefreshRequiredLayer::new(&self.manager).layer(endpoint(Which::Refresh)),
            // Access and refresh tokens alike can be revoked.
            revoke: JwtRequiredLayer::new(&self.manager)
                .verify_type(false)
                .layer(endpoint(Which::Revoke)),
            inner,
        }
    }
}

pub(crate) struct Inner<U> {
    /// Tokens are set as cookies (and unset on logout): cookies are a token location.
    cookies: bool,
    tokens_in_body: bool,
    manager: JwtManager,
    store: U,
    hasher: PasswordHasher,
    login_field: String,
    login_failed: String,
    max_body_size: usize,
    max_password_size: usize,
    rotating: Option<Rotating>,
    login: login::LoginProtection,
}

/// The login / refresh / revoke service; see the [module docs](crate::service).
pub struct AuthService<U> {
    inner: Arc<Inner<U>>,
    /// `/refresh` and `/revoke` behind the very guards an application would use.
    refresh: RefreshRequired<Endpoint<U>>,
    revoke: JwtRequired<Endpoint<U>>,
}

impl<U> Clone for AuthService<U> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            refresh: self.refresh.clone(),
            revoke: self.revoke.clone(),
        }
    }
}

impl<U> fmt::Debug for AuthService<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("login_field", &self.inner.login_field)
            .field("max_body_size", &self.inner.max_body_size)
            .field("max_password_size", &self.inner.max_password_size)
            .field("cookies", &self.inner.cookies)
            .field("tokens_in_body", &self.inner.tokens_in_body)
            .finish_non_exhaustive()
    }
}

impl<U: UserStore> AuthService<U> {
    /// A service with default settings.
    pub fn new(manager: &JwtManager, store: U) -> Self {
        Self::builder(manager, store).build()
    }

    /// The sessions of refresh-token rotation, to list and end; `None` when rotation is
    /// off.
    pub fn sessions(&self) -> Option<Sessions> {
        self.inner.sessions()
    }

    /// Starts building a service.
    pub fn builder(manager: &JwtManager, store: U) -> AuthServiceBuilder<U> {
        AuthServiceBuilder {
            manager: manager.clone(),
            store,
            hasher: None,
            login_field: "email".into(),
            max_body_size: 16 * 1024,
            max_password_size: 1024,
            tokens_in_body: None,
            rotating: None,
            reuse_grace: Duration::from_secs(10),
            login: login::LoginProtection::default(),
        }
    }
}

/// Boxed error of a request body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<U, B> Service<Request<B>> for AuthService<U>
where
    U: UserStore,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<Full<Bytes>>>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let which = match req.uri().path() {
            "/token" => Which::Login,
            "/refresh" => Which::Refresh,
            "/revoke" => Which::Revoke,
            _ => {
                let reply = self.inner.message(StatusCode::NOT_FOUND, "Not found");
                return Box::pin(std::future::ready(Ok(reply.map(ResponseBody::inner))));
            }
        };
        if req.method() != Method::POST {
            let mut reply = self
                .inner
                .message(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
            reply
                .headers_mut()
                .insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
            return Box::pin(std::future::ready(Ok(reply.map(ResponseBody::inner))));
        }
        let inner = self.inner.clone();
        match which {
            Which::Login => {
                Box::pin(async move { Ok(inner.login(req).await.map(ResponseBody::inner)) })
            }
            // Their guards see the body read whole, within the service's size cap.
            Which::Refresh => {
                let guard = self.refresh.clone();
                Box::pin(async move { inner.guarded(guard, req).await })
            }
            Which::Revoke => {
                let guard = self.revoke.clone();
                Box::pin(async move { inner.guarded(guard, req).await })
            }
        }
    }
}

impl<U: UserStore> Inner<U> {
    /// With [`csrf_in_response_body`](crate::manager::JwtManagerBuilder::csrf_in_response_body) in cookie mode: the
    /// CSRF values of the tokens an answer sets as cookies (`access_token` and
    /// `refresh_token` of `tokens`), as `csrf_access_token` and `csrf_refresh_token`.
    pub(super) fn csrf_values(&self, tokens: &Value) -> Map<String, Value> {
        let settings = &self.manager.core().settings;
        let mut values = Map::new();
        if !(self.cookies && settings.cookies.csrf_in_response_body && settings.issues_csrf()) {
            return values;
        }
        for (token, key) in [
            ("access_token", "csrf_access_token"),
            ("refresh_token", "csrf_refresh_token"),
        ] {
            let csrf = tokens
                .get(token)
                .and_then(Value::as_str)
                .and_then(|token| self.manager.decode_token(token).ok())
                .and_then(|verified| verified.csrf().map(Value::from));
            if let Some(csrf) = csrf {
                values.insert(key.into(), csrf);
            }
        }
        values
    }

    /// Reads the body of a `/refresh` or `/revoke` request, then hands the request to its
    /// guard.
    async fn guarded<B, G>(
        &self,
        mut guard: G,
        req: Request<B>,
    ) -> Result<Response<ResponseBody<Full<Bytes>>>, Infallible>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
        G: Service<
            Request<Full<Bytes>>,
            Response = Response<ResponseBody<Full<Bytes>>>,
            Error = Infallible,
        >,
    {
        match self.read_whole(req).await {
            Ok(req) => guard.call(req).await,
            Err(reply) => Ok(reply.map(ResponseBody::inner)),
        }
    }
}

#[derive(Clone, Copy)]
enum Which {
    Login,
    Refresh,
    Revoke,
}

/// `/refresh` or `/revoke` once a guard has admitted the request: the verified token is in
/// its extensions.
struct Endpoint<U> {
    inner: Arc<Inner<U>>,
    which: Which,
}

impl<U> Clone for Endpoint<U> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            which: self.which,
        }
    }
}

impl<U: UserStore> Service<Request<RequestBody<Full<Bytes>>>> for Endpoint<U> {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RequestBody<Full<Bytes>>>) -> Self::Future {
        let (inner, which) = (self.inner.clone(), self.which);
        Box::pin(async move {
            // The guard in front admitted the request with a token (it answers everything
            // else itself, and only POST reaches it).
            let Some(token) = req.extensions().get::<crate::VerifiedToken>().cloned() else {
                return Ok(inner.message(StatusCode::UNAUTHORIZED, "Missing JWT"));
            };
            Ok(match which {
                Which::Refresh => {
                    let (parts, _) = req.into_parts();
                    inner.refresh(&token, &parts).await
                }
                Which::Revoke => inner.revoke(token, req).await,
                Which::Login => inner.login(req).await,
            })
        })
    }
}
