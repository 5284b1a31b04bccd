//! Tokens of an outside issuer (Keycloak, Auth0, another service of this crate), verified
//! with the keys it publishes as a JWKS: fetched at start, refreshed periodically (every
//! [`refresh_interval`](RemoteJwksBuilder::refresh_interval) ± 10%, by one task per
//! issuer that its [`RefreshHandle`] stops) and when no known key verifies a token (at most
//! once per cooldown, concurrent misses sharing one fetch), kept when a fetch fails.
//!
//! A miss is a token naming a `kid` no set holds, or without a `kid` when no key of its
//! `alg` is known (the first fetch may have failed, or the issuer started signing with a
//! new key type), and only for an `alg` the issuer is
//! [allowed](RemoteJwksBuilder::allowed_algorithms): an HMAC or `alg: none` token never
//! makes it fetch, whatever its header says.
//!
//! The fetcher's limits: HTTPS only (plain HTTP to a loopback address only: `127.0.0.0/8`,
//! `::1`, `localhost`), no redirect followed (a `3xx` answer is a failed fetch, also with a
//! client passed in), at most [`max_document_size`](RemoteJwksBuilder::max_document_size)
//! bytes (whether announced by `Content-Length` or not), within the
//! [`timeout`](RemoteJwksBuilder::timeout).
//!
//! Outside tokens carry their issuer's claims, not Flask-JWT-Extended's: without `type` they
//! are access tokens; without `jti` they cannot be revoked one by one (their identity's
//! revoke-all cut-off still applies); `sub` may be any string, a URL too. Their `iss` must be
//! the configured issuer, and their `aud` must name the configured audience when there is
//! one. Each key pins one algorithm: its `alg`, or for a key without one, the algorithms of
//! the allow-list its type and curve fit (RS256, PS256, ES256, ES384 and EdDSA by default);
//! HMAC is never accepted from a JWKS.
//!
//! Several issuers on one manager: a token's `iss` selects its issuer's keys (see
//! [`RemoteJwks`]).
//!
//! # Example
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use tower_jwt_auth::jwks::RemoteJwks;
//! use tower_jwt_auth::JwtManager;
//!
//! let idp = RemoteJwks::builder("https://login.example.com/realms/app/protocol/openid-connect/certs")
//!     .issuer("https://login.example.com/realms/app")
//!     .audience("my-api")
//!     .build()
//!     .unwrap();
//! // The first fetch, then a refresh every 9 to 11 minutes, for as long as `refresh` is
//! // held (or `refresh.detach()`).
//! let refresh = idp.start().await.unwrap();
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!") // its own tokens, if it issues any
//!     .trust_jwks(&idp)
//!     .build()
//!     .unwrap();
//! # let _ = (manager, refresh);
//! # }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;

use super::refresh::{self, RefreshHandle, StartError, TaskSlot};
use crate::config::keys::{keys_from_jwks, Refresher, RemoteKeys, Trust};
use crate::config::BuildError;
use crate::config::ClaimPath;
use crate::manager::JwtManagerBuilder;
use crate::BoxFuture;

pub use super::fetch_error::JwksError;

/// Where the keys are published.
#[derive(Clone, Debug)]
enum Source {
    Jwks(String),
    /// OpenID Connect discovery: `<issuer>/.well-known/openid-configuration` names the JWKS.
    Discovery(String),
}

/// An outside issuer whose published keys verify its tokens; cheap to clone. See the
/// [`jwks` module docs](crate::jwks).
///
/// # Several issuers
///
/// A manager may trust several issuers ([`trust_jwks`](JwtManagerBuilder::trust_jwks) once
/// for each). A token's `iss` selects the keys it is verified with: the issuer whose
/// configured [`issuer`](RemoteJwksBuilder::issuer) equals it exactly is the only one
/// consulted (then its `kid` and `alg` rules apply), so a key of one issuer never verifies a
/// token claiming another, also when both publish the same `kid`. A token whose `iss` names
/// no trusted issuer (or that has none) is verified with the manager's own keys only, and
/// one claiming an issuer but whose key only another holds is refused as `Invalid issuer`.
/// Each issuer's [`audience`](RemoteJwksBuilder::audience) applies to its tokens only. A
/// token naming an unknown key makes only the issuer its `iss` names fetch. An outside
/// issuer spelling the manager's own [`issuer`](JwtManagerBuilder::issuer) is refused when
/// the manager is built. Two `RemoteJwks` of the same issuer are consulted together.
///
/// The `iss` is read before the signature is checked (from the payload, which is decoded
/// then rather than after the signature): only by managers that trust an outside issuer;
/// for the others nothing changes.
#[derive(Clone)]
pub struct RemoteJwks {
    keys: Arc<RemoteKeys>,
    fetcher: Arc<Fetcher>,
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("source", &self.fetcher.source)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RemoteJwks`].
#[derive(Debug)]
#[must_use = "builders do nothing until built"]
pub struct RemoteJwksBuilder {
    source: Source,
    issuer: Option<String>,
    audience: Vec<String>,
    allowed: Vec<Algorithm>,
    refresh_every: Duration,
    cooldown: Duration,
    timeout: Duration,
    max_size: usize,
    client: Option<reqwest::ClientBuilder>,
    trust_claims: bool,
    roles_claim: Option<ClaimPath>,
    scopes_claim: Option<ClaimPath>,
}

impl RemoteJwks {
    /// Keys published at `jwks_url` (HTTPS; plain HTTP only on a loopback address). Set the
    /// [`issuer`](RemoteJwksBuilder::issuer) its tokens carry.
    pub fn builder(jwks_url: impl Into<String>) -> RemoteJwksBuilder {
        RemoteJwksBuilder::new(Source::Jwks(jwks_url.into()), None)
    }

    /// Keys found through OpenID Connect discovery of `issuer`
    /// (`<issuer>/.well-known/openid-configuration`, whose `issuer` must match).
    pub fn discover(issuer: impl Into<String>) -> RemoteJwksBuilder {
        let issuer = issuer.into();
        RemoteJwksBuilder::new(Source::Discovery(issuer.clone()), Some(issuer))
    }

    /// Fetches the keys now (whatever the cooldown), then refreshes them every
    /// [`refresh_interval`](RemoteJwksBuilder::refresh_interval) ± 10% on the current
    /// Tokio runtime, until the returned handle is dropped or
    /// [stopped](RefreshHandle::stop) (or, once [detached](RefreshHandle::detach), for as
    /// long as this `RemoteJwks` or a manager trusting it lives).
    ///
    /// Idempotent: while the task runs, another call fetches nothing and spawns nothing; it
    /// returns one more handle of the same task (which stops when the last handle is
    /// dropped), telling the same first fetch. A failed first fetch is a [`StartError`]
    /// holding the handle ([`into_handle`](StartError::into_handle)): the refreshes go on,
    /// and a token naming an unknown key fetches again once the cooldown allows. The handle
    /// is `#[must_use]`, so `idp.start().await?;` warns that it would stop at once.
    pub async fn start(&self) -> Result<RefreshHandle, StartError> {
        refresh::start(&self.fetcher).await
    }

    /// Fetches the keys now, whatever the cooldown: the number of usable keys.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        self.fetcher.fetch().await
    }

    /// How many fetches were made (each JWKS request, successful or not).
    pub fn fetches(&self) -> u64 {
        self.fetcher.fetches.load(Ordering::Relaxed)
    }

    /// The `kid`s of the keys known now.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys
            .load()
            .keys
            .iter()
            .filter_map(|k| k.kid.clone())
            .collect()
    }
}

impl JwtManagerBuilder {
    /// Verifies the tokens of an outside issuer with its published keys too (see
    /// [`RemoteJwks`]); the manager's own keys keep verifying and signing its own tokens.
    /// Call it once per issuer: a token's `iss` selects the issuer whose keys verify it (see
    /// [several issuers](RemoteJwks#several-issuers)).
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn trust_jwks(mut self, remote: &RemoteJwks) -> Self {
        self.remotes.push(remote.keys.clone());
        self
    }
}

impl RemoteJwksBuilder {
    fn new(source: Source, issuer: Option<String>) -> Self {
        Self {
            source,
            issuer,
            audience: Vec::new(),
            allowed: vec![
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::ES256,
                Algorithm::ES384,
                Algorithm::EdDSA,
            ],
            refresh_every: Duration::from_secs(600),
            cooldown: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            max_size: 256 * 1024,
            client: None,
            trust_claims: false,
            roles_claim: None,
            scopes_claim: None,
        }
    }

    /// Whether its tokens' own `type`, `fresh`, `csrf` and `sid` claims are believed
    /// (default `false`).
    ///
    /// By default an outside issuer's token is a **non-fresh access token**, whatever its
    /// claims say: it never passes a `RefreshRequired` or `FreshRequired` guard, never
    /// carries a CSRF value or a rotation session, and no first-party token is ever minted
    /// from it. Turn this on only for a sibling service of this crate whose tokens mean what
    /// this crate's mean; even then, its identities stay namespaced by issuer (see
    /// [`VerifiedToken::subject`](crate::VerifiedToken::subject)) and the auth service never
    /// refreshes them.
    pub fn trust_token_claims(mut self, trust: bool) -> Self {
        self.trust_claims = trust;
        self
    }

    /// The claim that holds this issuer's roles, e.g. `ClaimPath::dotted("realm_access.roles")`
    /// for Keycloak, `"roles"` for Entra ID. By default none: an outside issuer's tokens
    /// carry no role a guard believes (as their `type` and `fresh` are not believed), until
    /// the application says where its roles are.
    ///
    /// Roles and scopes, unlike identities, are not namespaced by issuer: this issuer's
    /// `admin` passes `require_role("admin")`. Trust an issuer whose roles mean yours, and
    /// name the [`audience`](Self::audience) its tokens for this service carry (a Keycloak
    /// realm's roles are in the tokens it issues to every client of the realm).
    pub fn roles_claim(mut self, path: impl Into<ClaimPath>) -> Self {
        self.roles_claim = Some(path.into());
        self
    }

    /// The claim that holds this issuer's scopes, e.g. `"scope"` (RFC 9068), `"scp"` for
    /// Azure and Okta, `"permissions"` for Auth0. By default none, as for
    /// [`roles_claim`](Self::roles_claim).
    pub fn scopes_claim(mut self, path: impl Into<ClaimPath>) -> Self {
        self.scopes_claim = Some(path.into());
        self
    }

    /// The `iss` the issuer's tokens carry (required; discovery sets it).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// An audience the tokens' `aud` must name (several calls: any of them).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience.push(audience.into());
        self
    }

    /// The algorithms keys may be used with (default RS256, PS256, ES256, ES384, EdDSA): a
    /// key's `alg` must be one of them, and a key without `alg` is used with those its type
    /// and curve fit. HMAC algorithms are never accepted.
    pub fn allowed_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.allowed = algorithms.into_iter().collect();
        self
    }

    /// How often the keys are fetched again (default 10 minutes), each time with ± 10% of
    /// jitter, so that instances started together spread their fetches.
    pub fn refresh_interval(mut self, every: Duration) -> Self {
        self.refresh_every = every;
        self
    }

    /// The least time between two fetches caused by unknown keys (default 30 seconds).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The longest a fetch may take (default 5 seconds).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest document accepted (default 256 KiB).
    pub fn max_document_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// The HTTP client to fetch with (proxies, extra root certificates, ...), as a
    /// [`reqwest::ClientBuilder`] ([re-exported](crate::jwks::reqwest)): the fetcher builds
    /// it with [`redirect(Policy::none())`](reqwest::ClientBuilder::redirect), so that no
    /// client follows a redirect (a `3xx` answer is a failed fetch, and an answer from
    /// another URL than the one asked is refused too). The default client uses rustls with
    /// the web PKI roots.
    pub fn http_client(mut self, client: reqwest::ClientBuilder) -> Self {
        self.client = Some(client);
        self
    }

    /// Checks the settings; nothing is fetched until [`RemoteJwks::start`] (or a token).
    pub fn build(self) -> Result<RemoteJwks, BuildError> {
        let invalid = |setting, m: &str| BuildError::setting(setting, format!("JWKS: {m}"));
        let issuer = self
            .issuer
            .filter(|i| !i.is_empty())
            .ok_or_else(|| invalid("issuer", "the issuer its tokens carry is required"))?;
        if issuer.contains(crate::config::keys::ISSUER_SEPARATOR) {
            // It separates the issuer from the names it namespaces (`Subject::key`).
            return Err(invalid("issuer", "the issuer may not hold U+001F"));
        }
        // The URL is the constructor's argument: `builder(jwks_url)` or `discover(issuer)`.
        let (constructor, url) = match &self.source {
            Source::Jwks(url) => ("builder", url),
            Source::Discovery(url) => ("discover", url),
        };
        check_url(url).map_err(|m| invalid(constructor, &m))?;
        for (setting, what, path) in [
            ("roles_claim", "roles", &self.roles_claim),
            ("scopes_claim", "scopes", &self.scopes_claim),
        ] {
            if let Some(Err(reason)) = path.as_ref().map(|path| path.check(what, None)) {
                return Err(invalid(setting, &reason));
            }
        }
        if self.allowed.is_empty()
            || self
                .allowed
                .iter()
                .any(|a| crate::config::keys::is_hmac(*a))
        {
            return Err(invalid(
                "allowed_algorithms",
                "the allowed algorithms must be asymmetric ones, at least one",
            ));
        }
        if self.cooldown.is_zero() || self.refresh_every < self.cooldown {
            return Err(invalid(
                "cooldown",
                "the cooldown must be positive and at most the refresh interval",
            ));
        }
        crate::config::keys::ensure_crypto_provider()?;
        // Whatever client: no redirect followed.
        let client = self
            .client
            .unwrap_or_default()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| BuildError::InvalidSetting {
                setting: "http_client",
                reason: format!("JWKS: HTTP client: {e}"),
            })?;
        let keys = Arc::new(RemoteKeys::new(
            Trust {
                issuer,
                audience: self.audience,
                trust_claims: self.trust_claims,
                roles_claim: self.roles_claim,
                scopes_claim: self.scopes_claim,
            },
            self.allowed.clone(),
        ));
        let fetcher = Arc::new(Fetcher {
            source: self.source,
            keys: Arc::downgrade(&keys),
            allowed: self.allowed,
            refresh_every: self.refresh_every,
            cooldown: self.cooldown,
            timeout: self.timeout,
            max_size: self.max_size,
            client,
            last_attempt: Mutex::new(None),
            one_at_a_time: tokio::sync::Mutex::new(()),
            task: Mutex::new(TaskSlot::default()),
            starting: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
        });
        keys.set_refresher(Arc::new(OnMiss(fetcher.clone())));
        Ok(RemoteJwks { keys, fetcher })
    }
}

/// HTTPS, or plain HTTP to a loopback address.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?}: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "{url:?}: HTTPS required (plain HTTP only on loopback)"
        )),
    }
}

/// Fetches and installs an issuer's keys.
pub(super) struct Fetcher {
    source: Source,
    /// The keys it fills; weak, so that the periodic refresh stops with the last manager.
    keys: Weak<RemoteKeys>,
    allowed: Vec<Algorithm>,
    pub(super) refresh_every: Duration,
    cooldown: Duration,
    timeout: Duration,
    max_size: usize,
    client: reqwest::Client,
    last_attempt: Mutex<Option<Instant>>,
    /// One fetch at a time; `generation` counts finished ones, so that a miss that waited
    /// for another's fetch uses its result instead of fetching again.
    one_at_a_time: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    fetches: AtomicU64,
    /// The periodic refresh task, if one runs.
    pub(super) task: Mutex<TaskSlot>,
    /// One [`RemoteJwks::start`] at a time.
    pub(super) starting: tokio::sync::Mutex<()>,
}

/// What the verification core calls on an unknown key.
struct OnMiss(Arc<Fetcher>);

impl Refresher for OnMiss {
    fn refresh_on_miss(&self) -> BoxFuture<'static, ()> {
        let fetcher = self.0.clone();
        Box::pin(async move { fetcher.on_miss().await })
    }
}

impl Fetcher {
    /// Whether a [`RemoteJwks`] or a manager still holds the keys.
    pub(super) fn keys_in_use(&self) -> bool {
        self.keys.strong_count() > 0
    }

    /// An unknown key: fetch, unless one finished while this miss waited, or the last one
    /// started less than a cooldown ago.
    ///
    /// Within the cooldown, a miss while no fetch is under way returns at once, taking no
    /// lock (a flood of forged headers waits on nothing); one while a fetch is under way
    /// waits for it and uses its keys.
    async fn on_miss(&self) {
        let seen = self.generation.load(Ordering::Acquire);
        if self.recent() && self.one_at_a_time.try_lock().is_ok() {
            return;
        }
        let _turn = self.one_at_a_time.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return;
        }
        if !self.recent() {
            let _ = self.fetch_locked().await;
        }
    }

    /// Whether the last fetch started less than a cooldown ago.
    fn recent(&self) -> bool {
        self.last_attempt
            .lock()
            .ok()
            .and_then(|last| *last)
            .is_some_and(|at| at.elapsed() < self.cooldown)
    }

    pub(super) async fn fetch(&self) -> Result<usize, JwksError> {
        let _turn = self.one_at_a_time.lock().await;
        self.fetch_locked().await
    }

    /// One fetch; the caller holds `one_at_a_time`. On failure the known keys stay.
    async fn fetch_locked(&self) -> Result<usize, JwksError> {
        if let Ok(mut last) = self.last_attempt.lock() {
            *last = Some(Instant::now());
        }
        let result = self.fetch_keys().await;
        self.generation.fetch_add(1, Ordering::Release);
        crate::telemetry::jwks_fetch(result.is_ok());
        match &result {
            Ok(n) => tracing::debug!(keys = n, "JWKS fetched"),
            Err(err) => tracing::warn!(
                "{}; keeping the keys known before",
                crate::error::Report(err)
            ),
        }
        result
    }

    async fn fetch_keys(&self) -> Result<usize, JwksError> {
        let Some(keys) = self.keys.upgrade() else {
            return Ok(0);
        };
        let url = match &self.source {
            Source::Jwks(url) => url.clone(),
            Source::Discovery(issuer) => self.discover(issuer).await?,
        };
        let document = self.get(&url).await?;
        let previous = keys.load().keys.clone();
        let found = keys_from_jwks(&document, &self.allowed, &keys.trust, &previous)
            .map_err(JwksError::new)?;
        if found.is_empty() {
            return Err(JwksError::new(format!("{url}: no usable signing key")));
        }
        let n = found.len();
        keys.replace(found);
        Ok(n)
    }

    /// The JWKS URL of an OpenID Connect issuer.
    async fn discover(&self, issuer: &str) -> Result<String, JwksError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let document = self.get(&url).await?;
        let config: serde_json::Value = serde_json::from_slice(&document)
            .map_err(|e| JwksError::with_source(format!("{url}: not JSON"), e))?;
        if config["issuer"].as_str() != Some(issuer) {
            return Err(JwksError::new(format!(
                "{url}: its issuer is not {issuer:?}"
            )));
        }
        let jwks = config["jwks_uri"]
            .as_str()
            .ok_or_else(|| JwksError::new(format!("{url}: no jwks_uri")))?;
        check_url(jwks).map_err(JwksError::new)?;
        Ok(jwks.to_owned())
    }

    /// A document of at most `max_size` bytes, within the timeout.
    async fn get(&self, url: &str) -> Result<Vec<u8>, JwksError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let failed =
            |e: reqwest::Error| JwksError::with_source(format!("{url}: request failed"), e);
        let read = async {
            let mut response = self
                .client
                .get(url)
                .header(http::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(failed)?;
            let status = response.status();
            if status.is_redirection() {
                return Err(JwksError::new(format!(
                    "{url}: HTTP {status} (redirects are not followed)"
                )));
            }
            if !status.is_success() {
                return Err(JwksError::new(format!("{url}: HTTP {status}")));
            }
            // Never with a client that follows no redirect; refused whatever the client.
            if reqwest::Url::parse(url).ok().as_ref() != Some(response.url()) {
                return Err(JwksError::new(format!(
                    "{url}: answered from {} (redirects are not followed)",
                    response.url()
                )));
            }
            let too_large = |what: &str| {
                JwksError::new(format!("{url}: {what}larger than {} bytes", self.max_size))
            };
            // Refused before reading when announced; counted as it comes otherwise.
            if let Some(len) = response
                .content_length()
                .filter(|&len| len > self.max_size as u64)
            {
                return Err(too_large(&format!("Content-Length {len}, ")));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(failed)? {
                if body.len() + chunk.len() > self.max_size {
                    return Err(too_large(""));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        tokio::time::timeout(self.timeout, read)
            .await
            .map_err(|_| JwksError::new(format!("{url}: no answer within {:?}", self.timeout)))?
    }
}
