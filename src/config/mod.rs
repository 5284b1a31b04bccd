//! Validated settings: what a [`JwtManager`](crate::JwtManager) was built with, checked once
//! by [`JwtManagerBuilder::build`](crate::manager::JwtManagerBuilder::build) and never changed after:
//! lifetimes, leeway, names, token locations, the clock, and the key set.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tower_jwt_auth::{BuildError, JwtManager};
//! use tower_jwt_auth::manager::{Lifetime, TokenLocation};
//!
//! // Accepted: refresh tokens that never expire, tokens looked for in the header only.
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .refresh_token_lifetime(Lifetime::Never)
//!     .token_locations([TokenLocation::Headers])
//!     .build();
//! assert!(manager.is_ok());
//!
//! // Rejected when built: a lifetime that is not whole seconds.
//! let err = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .access_token_lifetime(Duration::from_millis(500))
//!     .build()
//!     .unwrap_err();
//! assert!(matches!(
//!     err,
//!     BuildError::InvalidSetting { setting: "access_token_lifetime", .. }
//! ));
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderName;
use serde_json::Value;

use crate::clock::ClockHandle;

pub(crate) mod claim_path;
pub use claim_path::ClaimPath;
pub(crate) use claim_path::{is_scope_token, write_roles_and_scopes, ClaimNames};

pub(crate) mod keys;
pub(crate) mod locations;

/// How long a kind of token lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// The token expires this long after it is issued (whole seconds).
    After(Duration),
    /// The token has no `exp` claim and never expires.
    Never,
}

impl From<Duration> for Lifetime {
    fn from(d: Duration) -> Self {
        Lifetime::After(d)
    }
}

/// A place in a request where a token may be found.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenLocation {
    /// A request header (`Authorization: Bearer <JWT>` by default).
    Headers,
    /// A cookie (`access_token_cookie` / `refresh_token_cookie` by default), with CSRF double
    /// submit for the methods that change state.
    Cookies,
    /// A query-string parameter (`?jwt=<JWT>` by default). Query strings end up in logs:
    /// prefer the others.
    QueryString,
    /// A key of a JSON body (`access_token` / `refresh_token` by default).
    Json,
}

impl TokenLocation {
    /// Flask-JWT-Extended's name for the location: `"headers"`, `"cookies"`,
    /// `"query_string"` or `"json"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenLocation::Headers => "headers",
            TokenLocation::Cookies => "cookies",
            TokenLocation::QueryString => "query_string",
            TokenLocation::Json => "json",
        }
    }
}

impl std::str::FromStr for TokenLocation {
    type Err = UnknownValue;

    /// Flask-JWT-Extended's names: `headers`, `cookies`, `query_string`, `json`.
    fn from_str(name: &str) -> Result<Self, UnknownValue> {
        match name.trim() {
            "headers" => Ok(TokenLocation::Headers),
            "cookies" => Ok(TokenLocation::Cookies),
            "query_string" => Ok(TokenLocation::QueryString),
            "json" => Ok(TokenLocation::Json),
            other => Err(UnknownValue {
                what: "token location",
                expected: "headers, cookies, query_string or json",
                got: other.to_owned(),
            }),
        }
    }
}

/// A name that is none of a setting's values: what `parse` answers for
/// [`TokenLocation`] and [`SameSite`](crate::cookies::SameSite), e.g. `unknown token
/// location "body" (headers, cookies, query_string or json)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownValue {
    pub(crate) what: &'static str,
    pub(crate) expected: &'static str,
    pub(crate) got: String,
}

impl UnknownValue {
    /// The name given (trimmed).
    pub fn got(&self) -> &str {
        &self.got
    }
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, got, expected) = (self.what, &self.got, self.expected);
        write!(f, "unknown {what} {got:?} ({expected})")
    }
}

impl std::error::Error for UnknownValue {}

impl TokenLocation {
    /// The rule for a list of locations, on the builder and on a layer alike: at least one,
    /// none twice.
    pub(crate) fn check_list(locations: &[TokenLocation]) -> Result<(), BuildError> {
        if locations.is_empty() {
            return Err(BuildError::NoTokenLocation);
        }
        for (i, location) in locations.iter().enumerate() {
            if locations[..i].contains(location) {
                return Err(BuildError::setting(
                    "token_locations",
                    format!("token location {location} listed twice"),
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for TokenLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The manager (or a key, a layer, a JWKS client) could not be built: a setting is missing,
/// malformed or unsafe. Match on the variant to tell them apart; its `Display` is a sentence
/// naming the setting, and [`source`](std::error::Error::source) the underlying error where
/// there is one (e.g. the crypto library's, reading a PEM key), which the sentence does not
/// repeat.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum BuildError {
    /// No key was configured.
    MissingKey,
    /// The HMAC secret is too short, repetitive or a well-known value; the message says which.
    WeakSecret(String),
    /// The algorithm does not fit the key (a secret for an asymmetric algorithm, an RSA key
    /// for `ES256`...), or is not allowed where it was given.
    UnsupportedAlgorithm(String),
    /// Key material could not be read or used (a PEM, a JWK, a secret the crypto backend
    /// refuses, a decoding key that does not verify what its encoding key signs).
    #[non_exhaustive]
    InvalidKey {
        /// Which key, e.g. "RS256 private key could not be read".
        reason: String,
        /// The crypto library's error, if it gave one (also [`source`](std::error::Error::source)).
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The keys could not form a key set (two keys with one `kid`...).
    KeySet(crate::config::keys::KeyError),
    /// Neither crypto backend feature (`rust_crypto`, `aws_lc_rs`) is enabled.
    NoCryptoBackend,
    /// No token location was configured (`token_locations([])`, on the builder or a layer).
    NoTokenLocation,
    /// A setting is out of range, malformed, or does not work with another one.
    #[non_exhaustive]
    InvalidSetting {
        /// The method that sets it, e.g. `"leeway"` or `"access_cookie_name"`.
        setting: &'static str,
        /// Why, naming the value where that helps (never a secret).
        reason: String,
    },
}

impl BuildError {
    pub(crate) fn setting(setting: &'static str, reason: impl Into<String>) -> Self {
        BuildError::InvalidSetting {
            setting,
            reason: reason.into(),
        }
    }

    pub(crate) fn key(reason: impl Into<String>) -> Self {
        BuildError::InvalidKey {
            reason: reason.into(),
            source: None,
        }
    }

    /// A key error from the crypto library: `what` names the key, `source` is kept.
    pub(crate) fn key_from(
        what: impl fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        BuildError::InvalidKey {
            reason: format!("{what} could not be read"),
            source: Some(Arc::new(source)),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::MissingKey => f.write_str("no secret or key configured"),
            BuildError::NoCryptoBackend => f.write_str(
                "no jsonwebtoken crypto backend: enable exactly one of the `rust_crypto` and \
                 `aws_lc_rs` features",
            ),
            BuildError::NoTokenLocation => f.write_str("no token location configured"),
            BuildError::KeySet(_) => f.write_str("the keys cannot form one key set"),
            BuildError::WeakSecret(m)
            | BuildError::UnsupportedAlgorithm(m)
            | BuildError::InvalidKey { reason: m, .. }
            | BuildError::InvalidSetting { reason: m, .. } => f.write_str(m),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::InvalidKey {
                source: Some(source),
                ..
            } => Some(&**source as &(dyn std::error::Error + 'static)),
            BuildError::KeySet(e) => Some(e),
            _ => None,
        }
    }
}

/// Flask-JWT-Extended's header messages for the configured header, built once.
pub(crate) struct HeaderMessages {
    pub(crate) missing: String,
    pub(crate) missing_type: String,
    pub(crate) bad: String,
    pub(crate) several: String,
}

impl HeaderMessages {
    pub(crate) fn new(name: &str, scheme: &str) -> Self {
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

/// Everything a manager was built with, validated.
pub(crate) struct Settings {
    pub(crate) keys: keys::Keys,
    pub(crate) access_lifetime: Lifetime,
    pub(crate) refresh_lifetime: Lifetime,
    /// Clock leeway, in seconds.
    pub(crate) leeway: f64,
    /// The longest `exp - iat` accepted, in seconds (infinite: no bound).
    pub(crate) max_lifetime: f64,
    pub(crate) identity_claim: String,
    pub(crate) encode_issuer: Option<String>,
    pub(crate) encode_audience: Option<Value>,
    pub(crate) decode_issuer: Option<String>,
    pub(crate) decode_audience: Vec<String>,
    pub(crate) encode_nbf: bool,
    pub(crate) message_key: Arc<str>,
    pub(crate) header_name: HeaderName,
    pub(crate) header_type: String,
    /// Messages naming the header as configured (`HeaderName` lowercases it).
    pub(crate) header_messages: HeaderMessages,
    pub(crate) max_token_size: usize,
    pub(crate) locations: Arc<[TokenLocation]>,
    pub(crate) cookies: locations::CookieSettings,
    pub(crate) query: locations::QuerySettings,
    pub(crate) json: locations::JsonSettings,
    /// Refresh a cookie-borne access token with less than this left (`None`: never).
    pub(crate) implicit_refresh: Option<Duration>,
    /// Whether guards remember the tokens they verified.
    pub(crate) verified_token_cache: bool,
    pub(crate) clock: ClockHandle,
    /// Which claims hold a token's roles and scopes (an outside issuer may name others).
    pub(crate) claim_names: ClaimNames,
    /// The `WWW-Authenticate` values of rejections, built once.
    pub(crate) challenges: crate::respond::Challenges,
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

    /// Whether issued tokens carry a `csrf` claim: CSRF protection is on and cookies are a
    /// location.
    pub(crate) fn issues_csrf(&self) -> bool {
        self.cookies.csrf_protect && self.locations.contains(&TokenLocation::Cookies)
    }

    /// Whether some tokens never expire, so that what covers them must be kept for good.
    pub(crate) fn some_never_expire(&self) -> bool {
        self.may_not_expire(false) || self.may_not_expire(true)
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("keys", &self.keys)
            .field("access_lifetime", &self.access_lifetime)
            .field("refresh_lifetime", &self.refresh_lifetime)
            .field("leeway", &self.leeway)
            .field("identity_claim", &self.identity_claim)
            .field("header_name", &self.header_name)
            .field("header_type", &self.header_type)
            .field("locations", &self.locations)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}
