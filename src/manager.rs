//! The [`JwtManager`]: keys, settings, issuing, and the hooks every guard shares.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use tower_jwt_auth::{JwtManager, Lifetime, TokenOptions};
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .access_token_lifetime(Duration::from_secs(600))
//!     .refresh_token_lifetime(Lifetime::Never)
//!     .issuer("my-service")
//!     .build()
//!     .unwrap();
//!
//! let access = manager
//!     .create_access_token_with(42, TokenOptions::new().fresh(true))
//!     .unwrap();
//! let claims = manager.decode_token(&access).unwrap().claims_json();
//! assert_eq!(claims["sub"], "42");
//! assert_eq!(claims["fresh"], true);
//! assert_eq!(claims["iss"], "my-service");
//! assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 600);
//!
//! // Weak secrets are refused when the manager is built.
//! assert!(JwtManager::builder().secret("secret").build().is_err());
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::header::HeaderName;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::claims::VerifiedToken;
use crate::clock::{self, Clock, ClockHandle};
use crate::denylist::{BoxFuture, Denylist, DenylistError, MemoryDenylist};
use crate::error::{AuthError, DefaultErrorResponder, ErrorResponder, StatusPolicy};
use crate::token::TokenLocation;
use crate::verify::{self, Route};

/// How long a kind of token lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// The token expires this long after it is issued.
    After(Duration),
    /// The token has no `exp` claim and never expires.
    Never,
}

impl From<Duration> for Lifetime {
    fn from(d: Duration) -> Self {
        Lifetime::After(d)
    }
}

/// Freshness of a token being issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fresh {
    /// `"fresh": false`.
    #[default]
    No,
    /// `"fresh": true`.
    Yes,
    /// `"fresh": <epoch>`: fresh for this long after issue.
    For(Duration),
}

impl From<bool> for Fresh {
    fn from(fresh: bool) -> Self {
        if fresh {
            Fresh::Yes
        } else {
            Fresh::No
        }
    }
}

impl From<Duration> for Fresh {
    fn from(d: Duration) -> Self {
        Fresh::For(d)
    }
}

/// Options for one token being issued.
#[derive(Clone, Debug, Default)]
pub struct TokenOptions {
    fresh: Fresh,
    lifetime: Option<Lifetime>,
    claims: Map<String, Value>,
    headers: Map<String, Value>,
}

impl TokenOptions {
    /// Default options: not fresh, the manager's lifetime, no extra claims or headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the token fresh (`true`), not fresh (`false`), or fresh for a [`Duration`].
    pub fn fresh(mut self, fresh: impl Into<Fresh>) -> Self {
        self.fresh = fresh.into();
        self
    }

    /// Overrides the manager's lifetime for this token.
    pub fn lifetime(mut self, lifetime: impl Into<Lifetime>) -> Self {
        self.lifetime = Some(lifetime.into());
        self
    }

    /// Adds a claim; it overrides the standard claims and the claims loader's.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Adds several claims at once.
    pub fn claims(mut self, claims: Map<String, Value>) -> Self {
        self.claims.extend(claims);
        self
    }

    /// Adds a JOSE header field (`alg` cannot be overridden).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
}

/// The manager could not be built: a setting is missing or unsafe.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// No key was configured.
    MissingKey,
    /// The HMAC secret is too short or a well-known value.
    WeakSecret(String),
    /// The algorithm does not fit the key.
    UnsupportedAlgorithm(String),
    /// Another setting is invalid; the message says which.
    Invalid(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::MissingKey => f.write_str("no secret or key configured"),
            BuildError::WeakSecret(m)
            | BuildError::UnsupportedAlgorithm(m)
            | BuildError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for BuildError {}

/// A token could not be issued.
#[non_exhaustive]
#[derive(Debug)]
pub enum IssueError {
    /// The manager holds only a public key (see [`JwtManagerBuilder::verification_key`]).
    VerifyOnly,
    /// The requested lifetime exceeds the maximum token lifetime (or the year 9999).
    LifetimeTooLong(Duration),
    /// A token without `exp` was requested, but this manager refuses such tokens of this
    /// type (its lifetime for them is not [`Lifetime::Never`]).
    ExpiryRequired,
    /// Lifetimes are whole seconds (`exp` is an integer), at least one.
    InvalidLifetime(Duration),
    /// Serializing or signing failed.
    Signing(jsonwebtoken::errors::Error),
}

impl fmt::Display for IssueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssueError::VerifyOnly => f.write_str("this manager can only verify tokens"),
            IssueError::LifetimeTooLong(d) => {
                write!(f, "a lifetime of {d:?} exceeds the maximum token lifetime")
            }
            IssueError::InvalidLifetime(d) => {
                write!(f, "a lifetime of {d:?} is not a whole number of seconds")
            }
            IssueError::ExpiryRequired => f.write_str(
                "this manager refuses tokens of this type without `exp`: configure their \
                 lifetime as Lifetime::Never to issue such tokens",
            ),
            IssueError::Signing(e) => write!(f, "could not sign the token: {e}"),
        }
    }
}

impl std::error::Error for IssueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IssueError::Signing(e) => Some(e),
            _ => None,
        }
    }
}

type ClaimsLoader = Arc<dyn Fn(&str) -> Map<String, Value> + Send + Sync>;
type ClaimsVerifier = Arc<dyn Fn(&VerifiedToken) -> bool + Send + Sync>;
type AnyUser = Arc<dyn std::any::Any + Send + Sync>;
/// The lookup hook, erased: the user, none, or the store's failure (for the logs).
pub(crate) type UserLookup = Arc<
    dyn Fn(&VerifiedToken) -> BoxFuture<'static, Result<Option<AnyUser>, String>> + Send + Sync,
>;

/// What a [user-lookup hook](JwtManagerBuilder::user_lookup) may return: `Option<U>` (the
/// user, or none), or `Result<Option<U>, E>` when the store can fail.
pub trait LookupOutcome: Send + 'static {
    /// The user type.
    type User: Send + Sync + 'static;
    /// The user, none (401 "Error loading the user"), or a store failure (503).
    fn into_result(self) -> Result<Option<Self::User>, String>;
}

impl<U: Send + Sync + 'static> LookupOutcome for Option<U> {
    type User = U;
    fn into_result(self) -> Result<Option<U>, String> {
        Ok(self)
    }
}

impl<U: Send + Sync + 'static, E: fmt::Display + Send + 'static> LookupOutcome
    for Result<Option<U>, E>
{
    type User = U;
    fn into_result(self) -> Result<Option<U>, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Flask-JWT-Extended's header messages, built once.
pub(crate) struct HeaderMessages {
    pub(crate) missing: String,
    pub(crate) missing_type: String,
    pub(crate) bad: String,
    pub(crate) several: String,
}

impl HeaderMessages {
    fn new(name: &str, scheme: &str) -> Self {
        let expected = if scheme.is_empty() {
            "<JWT>".to_owned()
        } else {
            format!("{scheme} <JWT>")
        };
        Self {
            missing: format!("Missing {name} Header"),
            missing_type: format!(
                "Missing '{scheme}' type in '{name}' header. Expected '{name}: {scheme} <JWT>'"
            ),
            bad: format!("Bad {name} header. Expected '{name}: {expected}'"),
            several: format!("Bad {name} header. Expected a single '{name}' header"),
        }
    }
}

/// Everything a manager holds, built and validated once.
pub(crate) struct Settings {
    pub(crate) algorithm: Algorithm,
    /// `None` for a verify-only manager.
    encoding_key: Option<EncodingKey>,
    /// For HS256/384/512: the HMAC with its key schedule done once, cloned per verification.
    pub(crate) hmac: Option<crate::verify::HmacKey>,
    pub(crate) decoding_key: DecodingKey,
    /// `{"alg":"HS256","typ":"JWT"}` for the pinned algorithm, and its base64url form.
    pub(crate) default_header: &'static str,
    pub(crate) default_header_b64: String,
    access_lifetime: Lifetime,
    refresh_lifetime: Lifetime,
    /// Clock leeway, in seconds.
    pub(crate) leeway: f64,
    /// The longest `exp - iat` accepted, in seconds (infinite: no bound).
    pub(crate) max_lifetime: f64,
    pub(crate) identity_claim: String,
    encode_issuer: Option<String>,
    encode_audience: Option<Value>,
    pub(crate) decode_issuer: Option<String>,
    pub(crate) decode_audience: Vec<String>,
    encode_nbf: bool,
    pub(crate) message_key: Arc<str>,
    pub(crate) header_name: HeaderName,
    pub(crate) header_type: String,
    /// Messages naming the header as configured (`HeaderName` lowercases it).
    pub(crate) header_messages: HeaderMessages,
    pub(crate) max_token_size: usize,
    /// This manager's key in the per-thread memo of verified tokens; `None` when off.
    pub(crate) cache_owner: Option<u64>,
    pub(crate) locations: Arc<[TokenLocation]>,
    pub(crate) status_policy: StatusPolicy,
    pub(crate) responder: Arc<dyn ErrorResponder>,
    pub(crate) denylist: Arc<dyn Denylist>,
    pub(crate) clock: ClockHandle,
    pub(crate) check_revocation: bool,
    pub(crate) claims_verifier: Option<ClaimsVerifier>,
    pub(crate) user_lookup: Option<UserLookup>,
    pub(crate) user_lookup_error: String,
    claims_loader: Option<ClaimsLoader>,
    headers_loader: Option<ClaimsLoader>,
}

impl Settings {
    /// Whether a token of this type may lack `exp` (its lifetime is configured as never).
    pub(crate) fn may_not_expire(&self, refresh: bool) -> bool {
        let lifetime = if refresh {
            self.refresh_lifetime
        } else {
            self.access_lifetime
        };
        lifetime == Lifetime::Never
    }
}

/// Issues and verifies tokens; shared by every guard layer and the auth service.
///
/// Cheap to clone (an `Arc` inside), `Send + Sync`. Its `Debug` output never shows keys.
/// See the [module example](crate::manager).
#[derive(Clone)]
pub struct JwtManager {
    pub(crate) settings: Arc<Settings>,
}

impl fmt::Debug for JwtManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("JwtManager")
            .field("algorithm", &s.algorithm)
            .field("key", &"<redacted>")
            .field("access_lifetime", &s.access_lifetime)
            .field("refresh_lifetime", &s.refresh_lifetime)
            .field("leeway", &s.leeway)
            .field("identity_claim", &s.identity_claim)
            .field("header_name", &s.header_name)
            .field("header_type", &s.header_type)
            .field("locations", &s.locations)
            .field("status_policy", &s.status_policy)
            .finish_non_exhaustive()
    }
}

impl JwtManager {
    /// Starts building a manager.
    pub fn builder() -> JwtManagerBuilder {
        JwtManagerBuilder::default()
    }

    /// Issues an access token for `identity` (not fresh, the configured lifetime):
    /// Flask-JWT-Extended's `create_access_token`.
    pub fn create_access_token(&self, identity: impl fmt::Display) -> Result<String, IssueError> {
        self.create_access_token_with(identity, TokenOptions::default())
    }

    /// Issues an access token with per-call options.
    pub fn create_access_token_with(
        &self,
        identity: impl fmt::Display,
        options: TokenOptions,
    ) -> Result<String, IssueError> {
        self.issue(&identity.to_string(), false, options)
    }

    /// Issues a refresh token for `identity`: Flask-JWT-Extended's `create_refresh_token`.
    pub fn create_refresh_token(&self, identity: impl fmt::Display) -> Result<String, IssueError> {
        self.create_refresh_token_with(identity, TokenOptions::default())
    }

    /// Issues a refresh token with per-call options.
    pub fn create_refresh_token_with(
        &self,
        identity: impl fmt::Display,
        options: TokenOptions,
    ) -> Result<String, IssueError> {
        self.issue(&identity.to_string(), true, options)
    }

    fn issue(
        &self,
        identity: &str,
        refresh: bool,
        options: TokenOptions,
    ) -> Result<String, IssueError> {
        let s = &*self.settings;
        // Flask-JWT-Extended's layout: `iat`, `nbf` and `exp` in whole seconds. The `jti` is a
        // UUIDv7 carrying the issue time to the millisecond: revoke-all cut-offs compare with
        // it, so a token issued right after one works even within the same second.
        let now = s.clock.now();
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let iat = since_epoch.as_secs();
        let lifetime = options.lifetime.unwrap_or(if refresh {
            s.refresh_lifetime
        } else {
            s.access_lifetime
        });
        let exp = match lifetime {
            Lifetime::After(d) if d.subsec_nanos() != 0 || d.is_zero() => {
                return Err(IssueError::InvalidLifetime(d))
            }
            Lifetime::After(d) if d.as_secs_f64() > s.max_lifetime => {
                return Err(IssueError::LifetimeTooLong(d))
            }
            Lifetime::After(d) => Some(
                iat.checked_add(d.as_secs())
                    .filter(|&exp| exp as f64 <= clock::MAX_NUMERIC_DATE)
                    .ok_or(IssueError::LifetimeTooLong(d))?,
            ),
            Lifetime::Never if s.may_not_expire(refresh) => None,
            Lifetime::Never => return Err(IssueError::ExpiryRequired),
        };
        let fresh = match options.fresh {
            Fresh::No => Value::Bool(false),
            Fresh::Yes => Value::Bool(true),
            // Fresh for longer than any date can say: simply fresh.
            Fresh::For(d) => now
                .checked_add(d)
                .map(clock::numeric_date)
                .filter(|&until| until <= clock::MAX_NUMERIC_DATE)
                .map_or(Value::Bool(true), Value::from),
        };
        let mut extra = s
            .claims_loader
            .as_ref()
            .map(|l| l(identity))
            .unwrap_or_default();
        extra.extend(options.claims);
        let jti = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            since_epoch.as_secs(),
            since_epoch.subsec_nanos(),
        ))
        .to_string();
        let claims = IssuedClaims {
            standard: [
                ("fresh", Some(fresh)),
                ("iat", Some(iat.into())),
                ("jti", Some(jti.into())),
                (
                    "type",
                    Some(if refresh { "refresh" } else { "access" }.into()),
                ),
                (&s.identity_claim, Some(identity.into())),
                ("nbf", s.encode_nbf.then(|| iat.into())),
                ("aud", s.encode_audience.clone()),
                ("iss", s.encode_issuer.clone().map(Value::from)),
                ("exp", exp.map(Value::from)),
            ],
            extra: &extra,
        };

        let mut extra_headers = s
            .headers_loader
            .as_ref()
            .map(|l| l(identity))
            .unwrap_or_default();
        extra_headers.extend(options.headers);
        let header = if extra_headers.is_empty() {
            s.default_header_b64.clone()
        } else {
            // PyJWT's layout: {"typ": "JWT", "alg": ...} updated with the extra fields,
            // written with sorted keys. `alg` always stays the pinned one.
            let mut header: Map<String, Value> =
                serde_json::from_str(s.default_header).expect("the default header is valid JSON");
            extra_headers.remove("alg");
            header.extend(extra_headers);
            URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&header).map_err(|e| IssueError::Signing(e.into()))?)
        };
        let payload = serde_json::to_vec(&claims).map_err(|e| IssueError::Signing(e.into()))?;
        let mut token = header;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let key = s.encoding_key.as_ref().ok_or(IssueError::VerifyOnly)?;
        let signature = jsonwebtoken::crypto::sign(token.as_bytes(), key, s.algorithm)
            .map_err(IssueError::Signing)?;
        token.push('.');
        token.push_str(&signature);
        Ok(token)
    }

    /// Decodes and validates a token the way a guard does (shape, signature, time claims,
    /// audience, issuer, identity), without the route checks (type, freshness) or the
    /// revocation and hook checks: Flask-JWT-Extended's `decode_token`.
    pub fn decode_token(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        verify::decode(
            &self.settings,
            token,
            TokenLocation::Headers,
            self.settings.clock.now_secs(),
        )
    }

    /// Verifies a request as a `JwtRequired` guard with the manager's settings would,
    /// without the async steps: no user lookup, and revocation is checked only through the
    /// denylist's local answer. A denylist that can only answer asynchronously (a remote
    /// store without a local view) makes this fail closed with
    /// [`ErrorKind::RevocationStoreUnavailable`](crate::ErrorKind::RevocationStoreUnavailable);
    /// use [`verify_token`](Self::verify_token) there.
    pub fn verify_request<B>(&self, req: &http::Request<B>) -> Result<VerifiedToken, AuthError> {
        let route = Route::new(self.clone(), verify::Requirement::ACCESS);
        route.verify_now(req)
    }

    /// Fully verifies an encoded access or refresh token: decoding, revocation, the
    /// claims hook and the user lookup (no type or freshness requirement).
    pub async fn verify_token(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let route = Route::new(self.clone(), verify::Requirement::ANY);
        let verified = self.decode_token(token)?;
        route.finish(verified).await
    }

    /// Revokes a verified token until it would have expired (plus leeway); a token without
    /// `exp` stays revoked for good.
    pub async fn revoke(&self, token: &VerifiedToken) -> Result<(), DenylistError> {
        let jti = token
            .jti()
            .ok_or_else(|| DenylistError::new("the token has no jti to revoke"))?;
        // `exp` is a numeric date up to the year 9999, so this is always a time.
        let until = token
            .expires_at()
            .and_then(|exp| clock::from_numeric_date(exp + self.settings.leeway));
        self.settings.denylist.revoke(jti, until).await
    }

    /// Revokes every token of `identity` issued until now (e.g. after a password change or
    /// a compromised account); tokens issued afterwards work, even within the same second.
    ///
    /// The cut-off is the next millisecond, compared with each token's issue time: this
    /// crate's tokens carry it to the millisecond in their `jti` (a UUIDv7), so a token issued
    /// before the call is refused and one issued after it returns is accepted. A token
    /// without such a `jti` (Flask-JWT-Extended's are UUIDv4) is judged by its whole-second
    /// `iat`: one issued in the second of the cut-off counts as issued before it. The
    /// cut-off is kept until every token it covers has expired, for good when a lifetime is
    /// [`Lifetime::Never`].
    pub async fn revoke_all(&self, identity: &str) -> Result<(), DenylistError> {
        let s = &self.settings;
        let cutoff = clock::to_millis(s.clock.now()) + Duration::from_millis(1);
        // Return only once the clock has reached the cut-off (a millisecond at most), so
        // that a token issued after this call is never taken for one issued before it.
        let waiting = std::time::Instant::now();
        while s.clock.now() < cutoff && waiting.elapsed() < Duration::from_millis(5) {
            std::hint::spin_loop();
        }
        let until = if s.may_not_expire(false) || s.may_not_expire(true) {
            None
        } else {
            Duration::try_from_secs_f64(s.max_lifetime + s.leeway)
                .ok()
                .and_then(|longest| cutoff.checked_add(longest))
        };
        s.denylist.revoke_all(identity, cutoff, until).await
    }

    /// The denylist guards consult.
    pub fn denylist(&self) -> &Arc<dyn Denylist> {
        &self.settings.denylist
    }
}

/// Serializes claims in Flask-JWT-Extended's order; extra claims override in place.
struct IssuedClaims<'a, const N: usize> {
    standard: [(&'a str, Option<Value>); N],
    extra: &'a Map<String, Value>,
}

impl<const N: usize> Serialize for IssuedClaims<'_, N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in &self.standard {
            match (self.extra.get(*name), value) {
                (Some(overridden), _) => map.serialize_entry(name, overridden)?,
                (None, Some(value)) => map.serialize_entry(name, value)?,
                (None, None) => {}
            }
        }
        for (name, value) in self.extra {
            if !self.standard.iter().any(|(std, _)| std == name) {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

/// Builds a [`JwtManager`]; every setting is validated by [`build`](Self::build).
pub struct JwtManagerBuilder {
    secret: Option<Vec<u8>>,
    key_pair: Option<(Option<EncodingKey>, DecodingKey)>,
    max_lifetime: Option<Duration>,
    algorithm: Algorithm,
    access_lifetime: Lifetime,
    refresh_lifetime: Lifetime,
    leeway: Duration,
    identity_claim: String,
    encode_issuer: Option<String>,
    encode_audience: Option<Value>,
    decode_issuer: Option<String>,
    decode_audience: Vec<String>,
    encode_nbf: bool,
    message_key: String,
    header_name: String,
    header_type: String,
    max_token_size: usize,
    verified_token_cache: bool,
    locations: Vec<TokenLocation>,
    status_policy: StatusPolicy,
    responder: Arc<dyn ErrorResponder>,
    denylist: Option<Arc<dyn Denylist>>,
    clock: ClockHandle,
    check_revocation: bool,
    claims_verifier: Option<ClaimsVerifier>,
    user_lookup: Option<UserLookup>,
    user_lookup_error: String,
    claims_loader: Option<ClaimsLoader>,
    headers_loader: Option<ClaimsLoader>,
}

impl Default for JwtManagerBuilder {
    fn default() -> Self {
        Self {
            secret: None,
            key_pair: None,
            max_lifetime: None,
            algorithm: Algorithm::HS256,
            access_lifetime: Lifetime::After(Duration::from_secs(15 * 60)),
            refresh_lifetime: Lifetime::After(Duration::from_secs(30 * 24 * 3600)),
            leeway: Duration::ZERO,
            identity_claim: "sub".into(),
            encode_issuer: None,
            encode_audience: None,
            decode_issuer: None,
            decode_audience: Vec::new(),
            encode_nbf: true,
            message_key: "msg".into(),
            header_name: "Authorization".into(),
            header_type: "Bearer".into(),
            max_token_size: 8 * 1024,
            verified_token_cache: true,
            locations: vec![TokenLocation::Headers],
            status_policy: StatusPolicy::Default,
            responder: Arc::new(DefaultErrorResponder),
            denylist: None,
            clock: ClockHandle::default(),
            check_revocation: true,
            claims_verifier: None,
            user_lookup: None,
            user_lookup_error: "User store unavailable".into(),
            claims_loader: None,
            headers_loader: None,
        }
    }
}

impl fmt::Debug for JwtManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtManagerBuilder")
            .field("algorithm", &self.algorithm)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Secrets that are published in tutorials and must never sign real tokens.
const WELL_KNOWN_SECRETS: &[&str] = &[
    "secret",
    "secret-key",
    "secret_key",
    "secretkey",
    "your-256-bit-secret",
    "your-384-bit-secret",
    "your-512-bit-secret",
    "change_me",
    "changeme",
    "change-me",
    "super-secret",
    "supersecret",
    "super-secret-key",
    "jwt-secret",
    "jwt_secret_key",
    "my-secret-key",
    "password",
    "foobarbaz",
];

impl JwtManagerBuilder {
    /// The HMAC secret (HS256 by default). At least as long as the hash output
    /// (32 bytes for HS256, 48 for HS384, 64 for HS512) and not a well-known value.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(secret.as_ref().to_vec());
        self.key_pair = None;
        self
    }

    /// An asymmetric key pair (RS*, PS*, ES256/384, EdDSA) instead of a secret, e.g. from
    /// `EncodingKey::from_ed_pem` and `DecodingKey::from_ed_pem`. Set the matching
    /// [`algorithm`](Self::algorithm).
    pub fn key_pair(mut self, encoding: EncodingKey, decoding: DecodingKey) -> Self {
        self.key_pair = Some((Some(encoding), decoding));
        self.secret = None;
        self
    }

    /// Only a public key (e.g. `DecodingKey::from_rsa_pem`, `DecodingKey::from_jwk`): the
    /// manager verifies tokens issued elsewhere and cannot issue any. Set the matching
    /// [`algorithm`](Self::algorithm).
    pub fn verification_key(mut self, decoding: DecodingKey) -> Self {
        self.key_pair = Some((None, decoding));
        self.secret = None;
        self
    }

    /// The longest `exp - iat` accepted (default: the longer of the access and refresh
    /// lifetimes). Issuing a token with a longer lifetime fails.
    pub fn max_token_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = Some(max);
        self
    }

    /// The signing algorithm, and the only one accepted when verifying (default HS256).
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Access token lifetime (default 15 minutes); [`Lifetime::Never`] for no `exp`.
    pub fn access_token_lifetime(mut self, lifetime: impl Into<Lifetime>) -> Self {
        self.access_lifetime = lifetime.into();
        self
    }

    /// Refresh token lifetime (default 30 days); [`Lifetime::Never`] for no `exp`.
    pub fn refresh_token_lifetime(mut self, lifetime: impl Into<Lifetime>) -> Self {
        self.refresh_lifetime = lifetime.into();
        self
    }

    /// Clock leeway for `exp`, `nbf` and `iat` (default 0 s, as Flask-JWT-Extended).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The claim that holds the identity (default `sub`).
    pub fn identity_claim(mut self, name: impl Into<String>) -> Self {
        self.identity_claim = name.into();
        self
    }

    /// Issuer written into issued tokens (`iss`) and required of verified ones.
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        self.encode_issuer(issuer.clone()).decode_issuer(issuer)
    }

    /// Issuer written into issued tokens only.
    pub fn encode_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.encode_issuer = Some(issuer.into());
        self
    }

    /// Issuer required of verified tokens only.
    pub fn decode_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.decode_issuer = Some(issuer.into());
        self
    }

    /// Audience written into issued tokens (`aud`) and required of verified ones.
    pub fn audience(self, audience: impl Into<String>) -> Self {
        let audience = audience.into();
        self.encode_audience(audience.clone())
            .decode_audience([audience])
    }

    /// Audience written into issued tokens only (a string, or an array of strings).
    pub fn encode_audience(mut self, audience: impl Into<Value>) -> Self {
        self.encode_audience = Some(audience.into());
        self
    }

    /// Audiences accepted when verifying: a token's `aud` must name at least one.
    pub fn decode_audience<I, A>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        self.decode_audience = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// Whether issued tokens carry `nbf` (default true).
    pub fn encode_nbf(mut self, yes: bool) -> Self {
        self.encode_nbf = yes;
        self
    }

    /// The JSON key of error messages (default `msg`).
    pub fn error_message_key(mut self, key: impl Into<String>) -> Self {
        self.message_key = key.into();
        self
    }

    /// The header holding the token (default `Authorization`).
    pub fn header_name(mut self, name: impl Into<String>) -> Self {
        self.header_name = name.into();
        self
    }

    /// The scheme before the token (default `Bearer`; empty for a bare token).
    pub fn header_type(mut self, scheme: impl Into<String>) -> Self {
        self.header_type = scheme.into();
        self
    }

    /// Tokens longer than this are refused before any decoding (default 8 KiB).
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// Whether guards remember the tokens they verified (default `true`).
    ///
    /// A client sends the same token with every request until it expires. With the memo
    /// on, each thread keeps up to 256 verified tokens (stored from a token's second
    /// verification, matched on the whole token in constant time), and a token seen again
    /// skips the signature, base64 and JSON work; its expiry, type, freshness, revocation,
    /// the claims hook and the user lookup are still checked on every request, so no answer
    /// changes. Turn it off to verify every request from scratch.
    /// [`JwtManager::decode_token`] never uses it.
    pub fn verified_token_cache(mut self, yes: bool) -> Self {
        self.verified_token_cache = yes;
        self
    }

    /// Where to look for tokens, in order of precedence (default: headers only).
    pub fn token_locations(mut self, locations: impl IntoIterator<Item = TokenLocation>) -> Self {
        self.locations = locations.into_iter().collect();
        self
    }

    /// How error kinds map to status codes (default [`StatusPolicy::Default`]).
    pub fn status_policy(mut self, policy: StatusPolicy) -> Self {
        self.status_policy = policy;
        self
    }

    /// Replaces the default error responses.
    pub fn error_responder(mut self, responder: impl ErrorResponder) -> Self {
        self.responder = Arc::new(responder);
        self
    }

    /// The revocation store (default an in-process [`MemoryDenylist`]).
    pub fn denylist(mut self, denylist: impl Denylist) -> Self {
        self.denylist = Some(Arc::new(denylist));
        self
    }

    /// A shared revocation store.
    pub fn denylist_arc(mut self, denylist: Arc<dyn Denylist>) -> Self {
        self.denylist = Some(denylist);
        self
    }

    /// The clock the manager reads time from (default: the system clock); see
    /// the [`clock`](mod@crate::clock) module. The default in-process denylist uses it too.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockHandle::new(clock);
        self
    }

    /// Whether guards check revocation (default true; tokens then need a `jti`).
    pub fn check_revocation(mut self, yes: bool) -> Self {
        self.check_revocation = yes;
        self
    }

    /// A hook that checks a verified token's claims; `false` answers 400
    /// "User claims verification failed" (Flask-JWT-Extended's `token_verification_loader`).
    pub fn verify_claims<F>(mut self, hook: F) -> Self
    where
        F: Fn(&VerifiedToken) -> bool + Send + Sync + 'static,
    {
        self.claims_verifier = Some(Arc::new(hook));
        self
    }

    /// An async hook that loads the user a token names: Flask-JWT-Extended's
    /// `user_lookup_loader`. Handlers read the user with [`VerifiedToken::user`].
    ///
    /// It returns `Option<U>`, or `Result<Option<U>, E>` when the store can fail. `None`
    /// answers 401 "Error loading the user `<identity>`"; an `Err` fails closed with 503 and
    /// the [`user_lookup_error_message`](Self::user_lookup_error_message) (the error itself
    /// goes to the logs only).
    pub fn user_lookup<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(&VerifiedToken) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: LookupOutcome,
    {
        self.user_lookup = Some(Arc::new(move |token: &VerifiedToken| {
            let fut = hook(token);
            Box::pin(async move {
                let user = fut.await.into_result()?;
                Ok(user.map(|user| Arc::new(user) as AnyUser))
            })
        }));
        self
    }

    /// The message of the 503 answered when the user-lookup hook fails (default
    /// `User store unavailable`).
    pub fn user_lookup_error_message(mut self, message: impl Into<String>) -> Self {
        self.user_lookup_error = message.into();
        self
    }

    /// Claims added to every token issued for an identity; per-call claims win
    /// (Flask-JWT-Extended's `additional_claims_loader`).
    pub fn additional_claims<F>(mut self, loader: F) -> Self
    where
        F: Fn(&str) -> Map<String, Value> + Send + Sync + 'static,
    {
        self.claims_loader = Some(Arc::new(loader));
        self
    }

    /// Header fields added to every token issued for an identity; per-call headers win
    /// (Flask-JWT-Extended's `additional_headers_loader`).
    pub fn additional_headers<F>(mut self, loader: F) -> Self
    where
        F: Fn(&str) -> Map<String, Value> + Send + Sync + 'static,
    {
        self.headers_loader = Some(Arc::new(loader));
        self
    }

    /// Validates the settings and builds the manager.
    pub fn build(self) -> Result<JwtManager, BuildError> {
        let alg = self.algorithm;
        let secret_for_hmac = self.secret.clone();
        let (encoding_key, decoding_key) = match (self.secret, self.key_pair) {
            (Some(secret), _) => {
                check_secret(&secret, alg)?;
                let invalid =
                    |e: jsonwebtoken::errors::Error| BuildError::Invalid(format!("secret: {e}"));
                (
                    Some(EncodingKey::from_secret(&secret).map_err(invalid)?),
                    DecodingKey::from_secret(&secret).map_err(invalid)?,
                )
            }
            (None, Some((encoding, decoding))) => {
                if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                    return Err(BuildError::UnsupportedAlgorithm(format!(
                        "{alg:?} needs a secret, not a key pair or public key"
                    )));
                }
                (encoding, decoding)
            }
            (None, None) => return Err(BuildError::MissingKey),
        };
        ensure_crypto_provider();
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Err(BuildError::Invalid(
                "no jsonwebtoken crypto backend: enable exactly one of the `rust_crypto` and \
                 `aws_lc_rs` features"
                    .into(),
            ));
        }
        let default_header = default_header(alg);
        // Prove the keys and algorithm fit together now rather than on the first request.
        if decoding_key.family() != alg.family() {
            return Err(BuildError::UnsupportedAlgorithm(format!(
                "{alg:?} does not fit the {:?} key",
                decoding_key.family()
            )));
        }
        if let Some(encoding_key) = &encoding_key {
            let probe = jsonwebtoken::crypto::sign(b"probe", encoding_key, alg)
                .map_err(|e| BuildError::UnsupportedAlgorithm(format!("{alg:?}: {e}")))?;
            match jsonwebtoken::crypto::verify(&probe, b"probe", &decoding_key, alg) {
                Ok(true) => {}
                _ => {
                    return Err(BuildError::Invalid(
                        "the decoding key does not verify what the encoding key signs".into(),
                    ))
                }
            }
        }

        // Lifetimes are whole seconds (`exp` is an integer for the consumers that read it as
        // one); longer than a century is a mistake (use `Lifetime::Never`).
        const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
        for (name, lifetime) in [
            ("access", self.access_lifetime),
            ("refresh", self.refresh_lifetime),
        ] {
            match lifetime {
                Lifetime::After(d) if d.subsec_nanos() != 0 || d.is_zero() => {
                    return Err(BuildError::Invalid(format!(
                        "the {name} token lifetime {d:?} is not a whole number of seconds \
                         (at least one)"
                    )))
                }
                Lifetime::After(d) if d > LONGEST => {
                    return Err(BuildError::Invalid(format!(
                        "the {name} token lifetime {d:?} is longer than a century: use \
                         Lifetime::Never for tokens that never expire"
                    )))
                }
                Lifetime::After(d) if self.max_lifetime.is_some_and(|max| d > max) => {
                    return Err(BuildError::Invalid(format!(
                        "the {name} token lifetime {d:?} exceeds the maximum token lifetime"
                    )))
                }
                _ => {}
            }
        }
        // The longest `exp - iat` accepted: by default the longest finite lifetime, or no
        // bound when both are `Never`.
        let max_lifetime = match self.max_lifetime {
            Some(max) => max.as_secs_f64(),
            None => [self.access_lifetime, self.refresh_lifetime]
                .into_iter()
                .filter_map(|l| match l {
                    Lifetime::After(d) => Some(d.as_secs_f64()),
                    Lifetime::Never => None,
                })
                .reduce(f64::max)
                .unwrap_or(f64::INFINITY),
        };
        if max_lifetime <= 0.0 {
            return Err(BuildError::Invalid(
                "the maximum token lifetime must be positive".into(),
            ));
        }
        if self.leeway > Duration::from_secs(24 * 3600) {
            return Err(BuildError::Invalid("leeway over one day".into()));
        }
        const RESERVED: &[&str] = &[
            "exp", "iat", "nbf", "jti", "type", "fresh", "iss", "aud", "csrf",
        ];
        if self.identity_claim.is_empty() || RESERVED.contains(&self.identity_claim.as_str()) {
            return Err(BuildError::Invalid(format!(
                "identity claim {:?} is empty or reserved",
                self.identity_claim
            )));
        }
        if self.message_key.is_empty() {
            return Err(BuildError::Invalid("error message key is empty".into()));
        }
        let header_name = HeaderName::try_from(self.header_name.as_str()).map_err(|_| {
            BuildError::Invalid(format!("invalid header name {:?}", self.header_name))
        })?;
        if self
            .header_type
            .bytes()
            .any(|b| !b.is_ascii_graphic() || b == b',')
        {
            return Err(BuildError::Invalid(format!(
                "header type {:?} must be a single token",
                self.header_type
            )));
        }
        if self.max_token_size < 16 {
            return Err(BuildError::Invalid("max token size below 16 bytes".into()));
        }
        if self.locations.is_empty() {
            return Err(BuildError::Invalid("no token location configured".into()));
        }
        let mut seen = Vec::new();
        for location in &self.locations {
            if seen.contains(location) {
                return Err(BuildError::Invalid(format!(
                    "token location {location} listed twice"
                )));
            }
            seen.push(*location);
        }

        let hmac = match &secret_for_hmac {
            Some(secret) => Some(crate::verify::HmacKey::new(alg, secret)?),
            None => None,
        };
        Ok(JwtManager {
            settings: Arc::new(Settings {
                hmac,
                algorithm: alg,
                encoding_key,
                decoding_key,
                default_header,
                default_header_b64: URL_SAFE_NO_PAD.encode(default_header),
                access_lifetime: self.access_lifetime,
                refresh_lifetime: self.refresh_lifetime,
                leeway: self.leeway.as_secs_f64(),
                max_lifetime,
                identity_claim: self.identity_claim,
                encode_issuer: self.encode_issuer,
                encode_audience: self.encode_audience,
                decode_issuer: self.decode_issuer,
                decode_audience: self.decode_audience,
                encode_nbf: self.encode_nbf,
                message_key: self.message_key.into(),
                header_messages: HeaderMessages::new(&self.header_name, &self.header_type),
                header_name,
                header_type: self.header_type,
                max_token_size: self.max_token_size,
                cache_owner: self.verified_token_cache.then(crate::verify::owner_id),
                locations: self.locations.into(),
                status_policy: self.status_policy,
                responder: self.responder,
                denylist: self.denylist.unwrap_or_else(|| {
                    Arc::new(MemoryDenylist::with_clock_handle(self.clock.clone()))
                }),
                clock: self.clock,
                check_revocation: self.check_revocation,
                claims_verifier: self.claims_verifier,
                user_lookup: self.user_lookup,
                user_lookup_error: self.user_lookup_error,
                claims_loader: self.claims_loader,
                headers_loader: self.headers_loader,
            }),
        })
    }
}

/// With both backend features enabled (e.g. `--all-features`), jsonwebtoken cannot pick
/// one by itself; the opt-in `aws_lc_rs` then wins.
fn ensure_crypto_provider() {
    use jsonwebtoken::crypto::CryptoProvider;
    if CryptoProvider::try_get_default().is_some() {
        return;
    }
    #[cfg(feature = "aws_lc_rs")]
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    #[cfg(all(feature = "rust_crypto", not(feature = "aws_lc_rs")))]
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

fn check_secret(secret: &[u8], alg: Algorithm) -> Result<(), BuildError> {
    let min = match alg {
        Algorithm::HS256 => 32,
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        other => {
            return Err(BuildError::UnsupportedAlgorithm(format!(
                "{other:?} needs a key pair, not a secret"
            )))
        }
    };
    let lowered = String::from_utf8_lossy(secret).trim().to_ascii_lowercase();
    if WELL_KNOWN_SECRETS.contains(&lowered.as_str()) {
        return Err(BuildError::WeakSecret(
            "the secret is a well-known example value; use a random one".into(),
        ));
    }
    if secret.len() < min {
        return Err(BuildError::WeakSecret(format!(
            "the secret is {} bytes; {alg:?} needs at least {min} random bytes",
            secret.len()
        )));
    }
    if secret.iter().all(|&b| b == secret[0]) {
        return Err(BuildError::WeakSecret(
            "the secret repeats a single byte; use a random one".into(),
        ));
    }
    Ok(())
}

/// PyJWT's header for `alg`, keys sorted: `{"alg":"HS256","typ":"JWT"}`.
fn default_header(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => r#"{"alg":"HS256","typ":"JWT"}"#,
        Algorithm::HS384 => r#"{"alg":"HS384","typ":"JWT"}"#,
        Algorithm::HS512 => r#"{"alg":"HS512","typ":"JWT"}"#,
        Algorithm::ES256 => r#"{"alg":"ES256","typ":"JWT"}"#,
        Algorithm::ES384 => r#"{"alg":"ES384","typ":"JWT"}"#,
        Algorithm::RS256 => r#"{"alg":"RS256","typ":"JWT"}"#,
        Algorithm::RS384 => r#"{"alg":"RS384","typ":"JWT"}"#,
        Algorithm::RS512 => r#"{"alg":"RS512","typ":"JWT"}"#,
        Algorithm::PS256 => r#"{"alg":"PS256","typ":"JWT"}"#,
        Algorithm::PS384 => r#"{"alg":"PS384","typ":"JWT"}"#,
        Algorithm::PS512 => r#"{"alg":"PS512","typ":"JWT"}"#,
        Algorithm::EdDSA => r#"{"alg":"EdDSA","typ":"JWT"}"#,
        // Future algorithms: name them through serde, once, at build time.
        #[allow(unreachable_patterns)]
        other => Box::leak(
            format!(
                r#"{{"alg":{},"typ":"JWT"}}"#,
                serde_json::to_string(&other).unwrap_or_default()
            )
            .into_boxed_str(),
        ),
    }
}

/// The `alg` name of the pinned algorithm, as it appears in headers.
pub(crate) fn algorithm_name(settings: &Settings) -> &str {
    // `{"alg":"` is 8 bytes; the name runs to the next quote.
    let rest = &settings.default_header[8..];
    &rest[..rest.find('"').unwrap_or(rest.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn secrets_are_checked() {
        for weak in [
            "",
            "secret",
            "your-256-bit-secret",
            "short",
            &"a".repeat(40),
        ] {
            assert!(
                matches!(
                    JwtManager::builder().secret(weak).build(),
                    Err(BuildError::WeakSecret(_))
                ),
                "{weak:?} accepted"
            );
        }
        assert!(JwtManager::builder().secret(SECRET).build().is_ok());
        assert!(JwtManager::builder()
            .secret(SECRET)
            .algorithm(Algorithm::HS512)
            .build()
            .is_err());
        assert_eq!(
            JwtManager::builder().build().unwrap_err(),
            BuildError::MissingKey
        );
    }

    #[test]
    fn settings_are_validated() {
        let b = || JwtManager::builder().secret(SECRET);
        assert!(b().header_name("bad header").build().is_err());
        assert!(b().header_type("Bear er").build().is_err());
        assert!(b().identity_claim("exp").build().is_err());
        assert!(b().token_locations([]).build().is_err());
        assert!(b()
            .token_locations([TokenLocation::Headers, TokenLocation::Headers])
            .build()
            .is_err());
        assert!(b().access_token_lifetime(Duration::ZERO).build().is_err());
        assert!(b().error_message_key("").build().is_err());
    }

    #[test]
    fn claims_in_flask_order_with_overrides_in_place() {
        let m = JwtManager::builder().secret(SECRET).build().unwrap();
        let token = m
            .create_access_token_with("u", TokenOptions::new().claim("type", "app").claim("z", 1))
            .unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let keys: Vec<&str> = json
            .split(['{', ',', '}'])
            .filter_map(|kv| kv.split(':').next())
            .filter(|k| !k.is_empty())
            .collect();
        assert_eq!(
            keys,
            [
                r#""fresh""#,
                r#""iat""#,
                r#""jti""#,
                r#""type""#,
                r#""sub""#,
                r#""nbf""#,
                r#""exp""#,
                r#""z""#
            ]
        );
        assert!(json.contains(r#""type":"app""#));
        assert_eq!(
            token.split('.').next().unwrap(),
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        );
    }

    #[test]
    fn a_crypto_backend_is_selected() {
        JwtManager::builder().secret(SECRET).build().unwrap();
        let chosen = jsonwebtoken::crypto::CryptoProvider::try_get_default().unwrap();
        #[cfg(feature = "aws_lc_rs")]
        assert!(std::ptr::eq(
            chosen,
            &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
        ));
        #[cfg(not(feature = "aws_lc_rs"))]
        assert!(std::ptr::eq(
            chosen,
            &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
        ));
    }

    #[test]
    fn debug_redacts_the_key() {
        let m = JwtManager::builder().secret(SECRET).build().unwrap();
        let shown = format!("{m:?} {:?}", JwtManager::builder().secret(SECRET));
        assert!(!shown.contains(SECRET));
        assert!(!shown.contains("48, 49")); // no byte dump either
        assert!(shown.contains("<redacted>"));
    }
}
