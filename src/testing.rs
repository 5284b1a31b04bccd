//! A test kit for your own protected routes (feature `testing`): tokens minted in one line, a
//! clock you move by hand, request helpers, and a fast (deliberately insecure) password
//! hasher and user store. Nothing here belongs in production code.
//!
//! - [`TestClock`]: plug it into a manager with
//!   [`JwtManagerBuilder::clock`](crate::manager::JwtManagerBuilder::clock) and
//!   [`advance`](TestClock::advance) it to expire tokens, end a freshness window or pass a
//!   grace period, without sleeping.
//! - [`token`]: `token(&jwt, "ada").fresh(true).mint()`; also refresh tokens, extra claims,
//!   already expired, not yet valid, issued at a chosen time, signed by another key, with or
//!   without `jti` or `csrf`.
//! - [`TestRequest`]: `Request::get("/me").bearer(&token)`, cookies with the matching CSRF
//!   header; [`query_with_token`] and [`json_with_token`] for the other locations.
//! - [`insecure_fast_password_hasher`] and [`InsecureTestUsers`]: Argon2id at a few KiB, so
//!   that login tests take microseconds.
//!
//! # Example
//!
//! Testing an axum app whose `/me` needs a token and `/danger` a fresh one:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//! use axum::{body::Body, routing::get, Router};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_jwt_auth::testing::{TestClock, TestRequest, token};
//! use tower_jwt_auth::{FreshRequiredLayer, JwtManager, JwtRequiredLayer};
//!
//! let clock = TestClock::new();
//! let jwt = JwtManager::builder()
//!     .secret("a-test-secret-of-at-least-32-bytes!")
//!     .clock(clock.clone())
//!     .build()
//!     .unwrap();
//! let app = Router::new()
//!     .route("/me", get(|| async { "me" }).route_layer(JwtRequiredLayer::new(&jwt)))
//!     .route("/danger", get(|| async { "done" }).route_layer(FreshRequiredLayer::new(&jwt)));
//! let get = |path: &str, token: &str| {
//!     let req = Request::get(path).bearer(token).body(Body::empty()).unwrap();
//!     let app = app.clone();
//!     async move { app.oneshot(req).await.unwrap().status() }
//! };
//!
//! // Accepted: a token fresh for five minutes, on both routes.
//! let fresh = token(&jwt, "ada").fresh(Duration::from_secs(300)).mint();
//! assert_eq!(get("/me", &fresh).await, StatusCode::OK);
//! assert_eq!(get("/danger", &fresh).await, StatusCode::OK);
//!
//! // Rejected on the fresh route once the freshness window has passed...
//! clock.advance(Duration::from_secs(301));
//! assert_eq!(get("/danger", &fresh).await, StatusCode::UNAUTHORIZED);
//! assert_eq!(get("/me", &fresh).await, StatusCode::OK);
//!
//! // ...and everywhere once the token has expired (15 minutes by default): no sleeping.
//! clock.advance(Duration::from_secs(15 * 60));
//! assert_eq!(get("/me", &fresh).await, StatusCode::UNAUTHORIZED);
//!
//! // Tokens the app must refuse, in one line each.
//! assert_eq!(get("/me", &token(&jwt, "ada").expired().mint()).await, StatusCode::UNAUTHORIZED);
//! assert_eq!(get("/me", &token(&jwt, "ada").refresh().mint()).await, StatusCode::UNAUTHORIZED);
//! let forged = token(&jwt, "ada").signed_by_another_key().mint();
//! assert_eq!(get("/me", &forged).await, StatusCode::UNAUTHORIZED);
//! # }
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::Value;

use crate::clock::Clock;
use crate::config::Lifetime;
use crate::issue::{Fresh, IssueError, TokenOptions};
use crate::manager::JwtManager;
use crate::password::PasswordHasher;
use crate::service::{MemoryUserStore, StoredUser, UserStore, UserStoreError};

/// A clock that stands still until told to move: plug it into a manager with
/// [`JwtManagerBuilder::clock`](crate::manager::JwtManagerBuilder::clock). Clones share the time.
#[derive(Clone, Debug)]
pub struct TestClock(Arc<Mutex<SystemTime>>);

impl TestClock {
    /// A clock stopped at the current system time.
    pub fn new() -> Self {
        Self::at(SystemTime::now())
    }

    /// A clock stopped at `time`.
    pub fn at(time: SystemTime) -> Self {
        Self(Arc::new(Mutex::new(time)))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// Sets the clock to `time` (also backwards: a clock stepping back).
    pub fn set(&self, time: SystemTime) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = time;
    }
}

impl Default for TestClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts minting a token for `identity` with `manager`'s settings and key: an access
/// token, not fresh, issued now by the manager's clock. See [`Mint`].
pub fn token(manager: &JwtManager, identity: impl std::fmt::Display) -> Mint<'_> {
    Mint {
        manager,
        identity: identity.to_string(),
        refresh: false,
        options: TokenOptions::new(),
        issued_at: None,
        not_before: None,
        expired: false,
        other_key: None,
    }
}

/// A token being minted for a test; [`mint`](Self::mint) it.
#[must_use = "a token is made by `mint`"]
pub struct Mint<'a> {
    manager: &'a JwtManager,
    identity: String,
    refresh: bool,
    options: TokenOptions,
    issued_at: Option<SystemTime>,
    not_before: Option<SystemTime>,
    expired: bool,
    other_key: Option<Signer>,
}

enum Signer {
    Random,
    Key(EncodingKey),
}

impl Mint<'_> {
    /// A refresh token instead of an access token.
    pub fn refresh(mut self) -> Self {
        self.refresh = true;
        self
    }

    /// Fresh (`true`), not fresh (`false`), or fresh for a [`Duration`].
    pub fn fresh(mut self, fresh: impl Into<Fresh>) -> Self {
        self.options = self.options.fresh(fresh);
        self
    }

    /// Another lifetime than the manager's.
    pub fn lifetime(mut self, lifetime: impl Into<Lifetime>) -> Self {
        self.options = self.options.lifetime(lifetime);
        self
    }

    /// The token's roles, in the manager's roles claim (see
    /// [`TokenOptions::roles`](crate::issue::TokenOptions::roles)).
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options = self.options.roles(roles);
        self
    }

    /// The token's scopes, space-separated in the manager's scopes claim (see
    /// [`TokenOptions::scopes`](crate::issue::TokenOptions::scopes)).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options = self.options.scopes(scopes);
        self
    }

    /// An extra claim (it overrides a standard one of the same name). Unlike
    /// [`TokenOptions::claim`], it may set the [reserved claims](crate::issue::RESERVED_CLAIMS)
    /// (`type`, `fresh`, `jti`, `sid`, `csrf`): to forge the tokens a manager must refuse, or
    /// mimic another issuer's.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.options = self.options.reserved_claim(&name.into(), value);
        self
    }

    /// Issued at `time` instead of now: `iat`, `nbf`, `exp` and the `jti`'s time follow.
    pub fn issued_at(mut self, time: SystemTime) -> Self {
        self.issued_at = Some(time);
        self
    }

    /// Already expired: issued one lifetime (and a second) ago.
    pub fn expired(mut self) -> Self {
        self.expired = true;
        self
    }

    /// Not valid before an hour from now (`nbf`).
    pub fn not_yet_valid(mut self) -> Self {
        self.not_before = Some(self.now() + Duration::from_secs(3600));
        self
    }

    /// Without a `jti` (the guards then refuse it: revocation cannot be checked).
    pub fn without_jti(mut self) -> Self {
        self.options = self.options.omit("jti");
        self
    }

    /// With this `csrf` claim (the double-submit value of cookie-borne tokens).
    pub fn csrf(self, value: impl Into<String>) -> Self {
        self.claim("csrf", value.into())
    }

    /// Without a `csrf` claim.
    pub fn without_csrf(mut self) -> Self {
        self.options = self.options.omit("csrf");
        self
    }

    /// Signed by a key the manager does not hold, with its algorithm, so that the
    /// signature does not verify: a random secret for HS256/384/512, a random key for
    /// EdDSA. Other algorithms need the key: [`signed_with`](Self::signed_with).
    pub fn signed_by_another_key(mut self) -> Self {
        self.other_key = Some(Signer::Random);
        self
    }

    /// Signed by `key` (with the manager's algorithm) instead of the manager's key.
    pub fn signed_with(mut self, key: EncodingKey) -> Self {
        self.other_key = Some(Signer::Key(key));
        self
    }

    fn now(&self) -> SystemTime {
        self.manager.core().settings.clock.now()
    }

    /// The token, or why it cannot be issued.
    pub fn try_mint(self) -> Result<String, IssueError> {
        let settings = &self.manager.core().settings;
        let now = self.now();
        let lifetime = |refresh| {
            if refresh {
                settings.refresh_lifetime
            } else {
                settings.access_lifetime
            }
        };
        let mut issued = self.issued_at.unwrap_or(now);
        if self.expired {
            let lived = match lifetime(self.refresh) {
                Lifetime::After(d) => d,
                Lifetime::Never => Duration::from_secs(3600),
            };
            issued = now - lived - Duration::from_secs(1);
        }
        let mut options = self.options;
        if self.issued_at.is_some() || self.expired || self.not_before.is_some() {
            // The time claims follow the chosen issue time, unless set explicitly.
            let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            let iat = secs(issued);
            let exp = match (self.expired, lifetime(self.refresh)) {
                (true, _) => Some(secs(now) - 1),
                (false, Lifetime::After(d)) => Some(iat + d.as_secs()),
                (false, Lifetime::Never) => None,
            };
            let since = issued.duration_since(UNIX_EPOCH).unwrap_or_default();
            let jti = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                since.as_secs(),
                since.subsec_nanos(),
            ));
            let timed: [(&str, Option<Value>); 4] = [
                ("iat", Some(iat.into())),
                ("nbf", Some(self.not_before.map_or(iat, secs).into())),
                ("exp", exp.map(Value::from)),
                ("jti", Some(jti.to_string().into())),
            ];
            for (name, value) in timed {
                if let (false, Some(value)) = (options.sets_claim(name), value) {
                    options = options.reserved_claim(name, value);
                }
            }
        }
        let token = if self.refresh {
            self.manager
                .create_refresh_token_with(&self.identity, options)?
        } else {
            self.manager
                .create_access_token_with(&self.identity, options)?
        };
        match self.other_key {
            None => Ok(token),
            Some(signer) => resign(&token, settings.keys.signing().map(|k| k.algorithm), signer),
        }
    }

    /// The token. Panics with the reason when it cannot be issued (a mistake in the test).
    pub fn mint(self) -> String {
        self.try_mint()
            .unwrap_or_else(|e| panic!("the test kit could not mint the token: {e}"))
    }
}

/// `token` with its signature replaced by one of another key.
fn resign(token: &str, algorithm: Option<Algorithm>, signer: Signer) -> Result<String, IssueError> {
    let algorithm = algorithm.ok_or(IssueError::VerifyOnly)?;
    let key = match signer {
        Signer::Key(key) => key,
        Signer::Random => random_key(algorithm)?,
    };
    let (input, _) = token.rsplit_once('.').unwrap_or((token, ""));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, algorithm)
        .map_err(IssueError::signing)?;
    Ok(format!("{input}.{signature}"))
}

fn random_key(algorithm: Algorithm) -> Result<EncodingKey, IssueError> {
    let random = |n: usize| -> Vec<u8> {
        (0..n.div_ceil(16))
            .flat_map(|_| uuid::Uuid::new_v4().into_bytes())
            .take(n)
            .collect()
    };
    match algorithm {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            EncodingKey::from_secret(&random(64)).map_err(IssueError::signing)
        }
        Algorithm::EdDSA => {
            // A PKCS#8 Ed25519 private key: a fixed prefix and 32 random bytes.
            let mut der = vec![
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
                0x04, 0x20,
            ];
            der.extend(random(32));
            Ok(EncodingKey::from_ed_der(&der))
        }
        other => Err(IssueError::Signing {
            reason: format!("the test kit has no random {other:?} key: use Mint::signed_with"),
            source: None,
        }),
    }
}

/// Request helpers: attach a token where a guard looks for it.
pub trait TestRequest: Sized {
    /// `Authorization: Bearer <token>`.
    fn bearer(self, token: &str) -> Self;

    /// The access token as the cookie `access_token_cookie`, with its `csrf` claim in the
    /// `X-CSRF-TOKEN` header (Flask-JWT-Extended's default names).
    fn access_cookies(self, token: &str) -> Self;

    /// The refresh token as the cookie `refresh_token_cookie`, with its `csrf` claim in the
    /// `X-CSRF-TOKEN` header.
    fn refresh_cookies(self, token: &str) -> Self;
}

impl TestRequest for http::request::Builder {
    fn bearer(self, token: &str) -> Self {
        self.header(http::header::AUTHORIZATION, format!("Bearer {token}"))
    }

    fn access_cookies(self, token: &str) -> Self {
        with_cookie(self, "access_token_cookie", token)
    }

    fn refresh_cookies(self, token: &str) -> Self {
        with_cookie(self, "refresh_token_cookie", token)
    }
}

fn with_cookie(req: http::request::Builder, name: &str, token: &str) -> http::request::Builder {
    let req = req.header(http::header::COOKIE, format!("{name}={token}"));
    match csrf_claim(token) {
        Some(csrf) => req.header("X-CSRF-TOKEN", csrf),
        None => req,
    }
}

/// The `csrf` claim of a token, read without verifying it.
fn csrf_claim(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let json = base64_simd::URL_SAFE_NO_PAD.decode_to_vec(payload).ok()?;
    let claims: Value = serde_json::from_slice(&json).ok()?;
    claims.get("csrf")?.as_str().map(str::to_owned)
}

/// `path` with the token in the query string: `?jwt=<token>` (Flask-JWT-Extended's default
/// name), after any query `path` already has.
pub fn query_with_token(path: &str, token: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}jwt={token}")
}

/// A JSON body carrying the token: `{"access_token": ...}`, or `{"refresh_token": ...}` for
/// a refresh token (Flask-JWT-Extended's default keys).
pub fn json_with_token(token: &str, refresh: bool) -> String {
    let key = if refresh {
        "refresh_token"
    } else {
        "access_token"
    };
    serde_json::json!({ key: token }).to_string()
}

/// Argon2id parameters for tests only: 8 KiB and one pass. **Insecure**: a stolen hash made
/// with them is cheap to crack.
fn insecure_params() -> argon2::Params {
    argon2::Params::new(8, 1, 1, None).unwrap_or_default()
}

/// A password hasher for tests only, hashing with **insecure** parameters (8 KiB, one pass)
/// so that a login takes microseconds. Never use it in production.
pub fn insecure_fast_password_hasher() -> PasswordHasher {
    PasswordHasher::with_limits(4, Duration::from_secs(10)).with_params(insecure_params())
}

/// A user store for tests only, whose passwords are hashed with **insecure** parameters (see
/// [`insecure_fast_password_hasher`]). Pair it with that hasher in the auth service:
/// `AuthService::builder(&jwt, users).password_hasher(insecure_fast_password_hasher())`.
#[derive(Clone, Debug, Default)]
pub struct InsecureTestUsers {
    users: MemoryUserStore,
}

impl InsecureTestUsers {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user logging in as `login` with identity `id` and `password`.
    #[must_use = "a store does nothing until given to the auth service"]
    pub fn with_user(self, login: &str, id: &str, password: &str) -> Self {
        let phc = argon2::PasswordHasher::hash_password(
            &argon2::Argon2::new(
                argon2::Algorithm::Argon2id,
                argon2::Version::V0x13,
                insecure_params(),
            ),
            password.as_bytes(),
        )
        .map(|hash| hash.to_string())
        .unwrap_or_default();
        self.users.add_user_hash(login, StoredUser::new(id, phc));
        self
    }
}

impl UserStore for InsecureTestUsers {
    async fn find_user(&self, login: &str) -> Result<Option<StoredUser>, UserStoreError> {
        self.users.find_user(login).await
    }

    async fn update_password_hash(&self, id: &str, hash: &str) -> Result<(), UserStoreError> {
        self.users.update_password_hash(id, hash).await
    }
}
