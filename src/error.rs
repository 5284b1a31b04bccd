//! Authentication errors: an [`AuthError`] is an [`ErrorKind`] and the message
//! Flask-JWT-Extended would give. How an error becomes an HTTP or gRPC answer is the
//! [`respond`](crate::respond) module's business.
//!
//! # Example
//!
//! ```
//! use tower_jwt_auth::{ErrorKind, JwtManager};
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .build()
//!     .unwrap();
//!
//! // Rejected: not a compact JWS at all, with PyJWT's message.
//! let err = manager.decode_token("not-a-jwt").unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Malformed);
//! assert_eq!(err.message(), "Not enough segments");
//!
//! // Accepted.
//! let token = manager.create_access_token("alice").unwrap();
//! assert_eq!(manager.decode_token(&token).unwrap().identity(), "alice");
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// What went wrong while authenticating a request.
///
/// The kinds follow Flask-JWT-Extended's exceptions, so that a response policy can tell them
/// apart; the message of an [`AuthError`] carries the detail.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No token was found in any configured location (`NoAuthorizationError`).
    MissingToken,
    /// The header holding the token is not in the expected form (`InvalidHeaderError`).
    BadHeader,
    /// The query parameter holding the token lacks its configured prefix
    /// (`InvalidQueryParamError`).
    BadQueryParameter,
    /// A cookie-borne token's CSRF double-submit value is missing or does not match its
    /// `csrf` claim (`CSRFError`).
    Csrf,
    /// The request body a token was to be read from is over the configured limit.
    BodyTooLarge,
    /// The request body a token was to be read from could not be read.
    BodyUnreadable,
    /// The token is larger than the configured cap.
    TooLarge,
    /// The token is not a well-formed compact JWS (segments, base64, JSON, header fields).
    Malformed,
    /// The token's `alg` is not the one pinned by the manager.
    AlgorithmNotAllowed,
    /// The signature does not verify.
    InvalidSignature,
    /// No key of the manager's set (or of a trusted outside issuer's) matches the token's
    /// key id (`kid`), or the token has none and several keys could verify it, or none
    /// while an outside issuer allowed its `alg` may publish one.
    UnknownKey,
    /// The token's `exp` has passed.
    Expired,
    /// `nbf` or `iat` lies in the future.
    NotYetValid,
    /// A required claim is absent or a claim has the wrong type.
    InvalidClaim,
    /// `aud` does not match the configured audience.
    InvalidAudience,
    /// `iss` does not match the configured issuer.
    InvalidIssuer,
    /// The identity claim is not a string.
    InvalidSubject,
    /// A refresh token on an access route, or the reverse.
    WrongTokenType,
    /// A fresh token is required and this one is not fresh.
    FreshTokenRequired,
    /// The token has been revoked.
    Revoked,
    /// The user-claims verification hook refused the token.
    UserClaimsVerification,
    /// The user-lookup hook found no user for the token's identity.
    UserLookup,
    /// The revocation store could not be consulted (the guard fails closed).
    RevocationStoreUnavailable,
    /// The user-lookup hook failed: the user store could not answer (the guard fails
    /// closed).
    UserStoreUnavailable,
    /// A valid token that does not meet the route's requirements (a role, a scope, a
    /// predicate; see [`authorization`](crate::authorization)): 403 with RFC 6750's
    /// `error="insufficient_scope"`, gRPC `PERMISSION_DENIED`.
    InsufficientScope,
}

impl ErrorKind {
    /// A stable `snake_case` name for the kind (`"expired"`, `"invalid_signature"`,
    /// `"insufficient_scope"`, ...): what the audit events name as their `reason`. A kind
    /// keeps its name across releases.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::MissingToken => "missing_token",
            ErrorKind::BadHeader => "bad_header",
            ErrorKind::BadQueryParameter => "bad_query_parameter",
            ErrorKind::Csrf => "csrf",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::BodyUnreadable => "body_unreadable",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Malformed => "malformed",
            ErrorKind::AlgorithmNotAllowed => "algorithm_not_allowed",
            ErrorKind::InvalidSignature => "invalid_signature",
            ErrorKind::UnknownKey => "unknown_key",
            ErrorKind::Expired => "expired",
            ErrorKind::NotYetValid => "not_yet_valid",
            ErrorKind::InvalidClaim => "invalid_claim",
            ErrorKind::InvalidAudience => "invalid_audience",
            ErrorKind::InvalidIssuer => "invalid_issuer",
            ErrorKind::InvalidSubject => "invalid_subject",
            ErrorKind::WrongTokenType => "wrong_token_type",
            ErrorKind::FreshTokenRequired => "fresh_token_required",
            ErrorKind::Revoked => "revoked",
            ErrorKind::UserClaimsVerification => "user_claims_verification",
            ErrorKind::UserLookup => "user_lookup",
            ErrorKind::RevocationStoreUnavailable => "revocation_store_unavailable",
            ErrorKind::UserStoreUnavailable => "user_store_unavailable",
            ErrorKind::InsufficientScope => "insufficient_scope",
        }
    }

    /// Whether a token was presented and found wanting (as opposed to being absent).
    pub(crate) fn token_presented(self) -> bool {
        !matches!(self, ErrorKind::MissingToken) && !self.is_unavailable()
    }

    /// Whether a store the guard needs could not answer (503, gRPC `UNAVAILABLE`).
    pub(crate) fn is_unavailable(self) -> bool {
        matches!(
            self,
            ErrorKind::RevocationStoreUnavailable | ErrorKind::UserStoreUnavailable
        )
    }

    /// Whether this kind is a problem with the token itself, which an anonymous-tolerant
    /// optional guard may ignore. A CSRF failure is not: a forged cross-site request is
    /// refused, never downgraded to an anonymous one; nor is a valid token without the
    /// route's role or scope (it is refused, not treated as none).
    pub(crate) fn is_token_problem(self) -> bool {
        !self.is_unavailable()
            && !matches!(
                self,
                ErrorKind::Csrf
                    | ErrorKind::BodyTooLarge
                    | ErrorKind::BodyUnreadable
                    | ErrorKind::InsufficientScope
            )
    }
}

/// A failure to authenticate a request.
///
/// Its [`message`](Self::message) never contains the token, a secret or a header value.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthError {
    kind: ErrorKind,
    message: Cow<'static, str>,
    /// For [`ErrorKind::InsufficientScope`] over a scope: the scopes the route requires.
    scope: Option<Arc<str>>,
}

impl AuthError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            scope: None,
        }
    }

    /// For an [`ErrorKind::InsufficientScope`] error over a missing scope: every scope the
    /// route requires, space-separated (what the challenge's `scope` names).
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    pub(crate) fn with_scope(mut self, scope: Option<Arc<str>>) -> Self {
        self.scope = scope;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message shown to the client, Flask-JWT-Extended's wording.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn missing(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::MissingToken, message)
    }

    pub(crate) fn malformed(message: &'static str) -> Self {
        Self::new(ErrorKind::Malformed, message)
    }
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("scope", &self.scope)
            .finish()
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AuthError {}

/// The error underneath one of this crate's, kept for [`source`](std::error::Error::source).
pub(crate) type Cause = Option<Arc<dyn std::error::Error + Send + Sync + 'static>>;

/// An error and its causes, each once: `message: cause: cause's cause`. The crate's log lines
/// show errors through it, since the errors' own `Display` leaves their cause to `source()`.
pub(crate) struct Report<'a>(pub(crate) &'a dyn std::error::Error);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

/// [`Cause`] as [`source`](std::error::Error::source) returns it.
pub(crate) fn source_of(cause: &Cause) -> Option<&(dyn std::error::Error + 'static)> {
    cause
        .as_deref()
        .map(|e| e as &(dyn std::error::Error + 'static))
}

/// An error made of a message and its cause (the stores' errors), for the layers below them
/// (the Redis connection) to build.
#[cfg(feature = "redis")]
pub(crate) trait FromParts {
    fn from_parts(message: String, source: Cause) -> Self;
}

/// A store's error type (denylist, sessions, users, throttle): a message for logs and, where
/// there is one, the error that caused it. `Debug` shows the cause's `Display`, as the
/// message does, and nothing more.
macro_rules! store_error {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $crate::error::store_error!($(#[$doc])* $name, $prefix, pub);
    };
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $vis:vis) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            message: String,
            source: $crate::error::Cause,
        }

        impl $name {
            /// A failure described by `message` (shown in logs, never to clients).
            $vis fn new(message: impl Into<String>) -> Self {
                Self {
                    message: message.into(),
                    source: None,
                }
            }

            /// A failure in `message`'s context (e.g. "loading a user"), caused by `source`:
            /// any error, a `Box<dyn Error + Send + Sync>` or an `anyhow::Error` too. The
            /// message does not repeat the cause: `source()` returns it, and a report of
            /// the chain shows both.
            $vis fn with_source(
                message: impl Into<String>,
                source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
            ) -> Self {
                Self {
                    message: message.into(),
                    source: Some(std::sync::Arc::from(source.into())),
                }
            }
        }

        #[cfg(feature = "redis")]
        impl $crate::error::FromParts for $name {
            fn from_parts(message: String, source: $crate::error::Cause) -> Self {
                Self { message, source }
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("message", &self.message)
                    .field("source", &self.source.as_ref().map(|s| s.to_string()))
                    .finish()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!($prefix, ": {}"), self.message)
            }
        }

        impl std::error::Error for $name {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                $crate::error::source_of(&self.source)
            }
        }
    };
}
pub(crate) use store_error;
