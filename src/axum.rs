//! axum extractors for what the guard layers put into request extensions (feature `axum`).
//!
//! - [`VerifiedToken`]: the whole verified token (claims, header, type, freshness).
//! - [`Identity`]: the identity (`sub`), Flask-JWT-Extended's `get_jwt_identity()`.
//! - [`Claims<T>`]: the claims deserialized into a type of your own.
//! - [`CurrentUser<U>`]: the user found by the manager's user-lookup hook.
//! - [`RequireRole<R>`] and [`RequireScope<S>`]: the token, if it carries a role or scope
//!   (403 `insufficient_scope` otherwise); [`ExtractRejection::forbidden`] answers the same
//!   for checks written in a handler.
//!
//! Each also works as `Option<...>`, which is what a handler behind `JwtOptionalLayer`
//! asks for; without the `Option`, a request with no token gets the guard's own 401 (e.g.
//! "Missing Authorization Header"). Errors use the manager's message key. Asking for one on
//! a route without a guard is a programming error and answers 500 with a message naming the
//! missing layer (as axum's `Extension` does), never a panic.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{routing::get, Router};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_jwt_auth::axum::Identity;
//! use tower_jwt_auth::{JwtManager, JwtOptionalLayer};
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .build()
//!     .unwrap();
//! async fn hello(who: Option<Identity>) -> String {
//!     match who {
//!         Some(Identity(id)) => format!("hello {id}"),
//!         None => "hello stranger".into(),
//!     }
//! }
//! let app = Router::new()
//!     .route("/", get(hello))
//!     .layer(JwtOptionalLayer::new(&manager));
//! let get = |auth: Option<String>| {
//!     let mut req = Request::get("/");
//!     if let Some(auth) = auth {
//!         req = req.header("Authorization", auth);
//!     }
//!     req.body(axum::body::Body::empty()).unwrap()
//! };
//!
//! // Accepted, with and without a token.
//! let token = manager.create_access_token("ada").unwrap();
//! let res = app.clone().oneshot(get(Some(format!("Bearer {token}")))).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! let res = app.clone().oneshot(get(None)).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//!
//! // Rejected: an invalid token still fails on an optional route.
//! let res = app.oneshot(get(Some("Bearer not.a.jwt".into()))).await.unwrap();
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::WWW_AUTHENTICATE;
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use serde::de::DeserializeOwned;

use crate::claims::VerifiedToken;
use crate::error::AuthError;
use crate::guard::Anonymous;
use crate::respond::json_message;

const GUARDS: &str =
    "JwtRequiredLayer, JwtOptionalLayer, RefreshRequiredLayer or FreshRequiredLayer";

/// What went wrong in an extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtractError {
    /// No token, on a route whose guard lets requests without one through
    /// (`JwtOptionalLayer`): the guard's own 401, e.g. "Missing Authorization Header".
    Unauthenticated(AuthError),
    /// No guard layer ran for this route (500): a programming error.
    MissingGuard(&'static str),
    /// The manager has no user-lookup hook returning this type (500): a programming error.
    /// `found` names the type the hook does return, if there is a hook.
    MissingUser {
        /// The type asked for.
        wanted: &'static str,
        /// The type the hook returns.
        found: Option<&'static str>,
    },
    /// The token's claims do not deserialize into the requested type (401).
    InvalidClaims,
    /// [`Identity`] asked of an outside issuer's token (403): its `sub` names no local
    /// identity. Read [`VerifiedToken::subject`] where outside identities are welcome.
    ExternalIdentity,
    /// The token lacks the role or scope a [`RequireRole`] or [`RequireScope`] (or
    /// [`ExtractRejection::forbidden`]) asks for (403 `insufficient_scope`).
    Forbidden(AuthError),
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtractError::Unauthenticated(why) => f.write_str(why.message()),
            ExtractError::MissingGuard(what) => write!(
                f,
                "{what} requires a guard layer on this route: add {GUARDS}"
            ),
            ExtractError::MissingUser {
                wanted,
                found: Some(found),
            } => write!(
                f,
                "CurrentUser<{wanted}> does not match the user-lookup hook, which returns {found}"
            ),
            ExtractError::MissingUser {
                wanted,
                found: None,
            } => write!(
                f,
                "CurrentUser<{wanted}> requires a user-lookup hook returning that type: \
                 set JwtManagerBuilder::user_lookup"
            ),
            ExtractError::InvalidClaims => f.write_str("Token claims are not in the expected form"),
            ExtractError::ExternalIdentity => {
                f.write_str("This route needs a local identity; the token is an outside issuer's")
            }
            ExtractError::Forbidden(why) => f.write_str(why.message()),
        }
    }
}

// `Unauthenticated` and `Forbidden` show their `AuthError`'s message: they are the
// `AuthError`, which has no cause of its own.
impl std::error::Error for ExtractError {}

/// The rejection of the extractors: an [`ExtractError`] and the response it answers with
/// (the guard's own rejection when there is no token, otherwise JSON under the manager's
/// message key).
pub struct ExtractRejection {
    error: ExtractError,
    response: Box<http::Response<Bytes>>,
}

impl ExtractRejection {
    /// What went wrong.
    pub fn error(&self) -> &ExtractError {
        &self.error
    }

    /// The 403 `insufficient_scope` answer to `error` (from
    /// [`VerifiedToken::require_role`] or [`require_scope`](VerifiedToken::require_scope)),
    /// as the guards give it: the manager's message key and challenge. For checks inside a
    /// handler: `token.require_role("admin").map_err(|e| ExtractRejection::forbidden(&token, e))?`.
    pub fn forbidden(token: &VerifiedToken, error: AuthError) -> Self {
        Self::json(ExtractError::Forbidden(error), Some(&token.0.settings))
    }

    /// A JSON answer with the status the error calls for, under the message key of the
    /// manager that verified the token (`msg` without one), with its challenge.
    fn json(error: ExtractError, settings: Option<&crate::config::Settings>) -> Self {
        let status = match error {
            ExtractError::InvalidClaims | ExtractError::Unauthenticated(_) => {
                StatusCode::UNAUTHORIZED
            }
            ExtractError::ExternalIdentity | ExtractError::Forbidden(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let key = settings.map_or("msg", |s| &s.message_key);
        let mut response = json_message(status, key, &error.to_string());
        let challenge = match (&error, settings) {
            (ExtractError::Forbidden(why), Some(s)) => Some(s.challenges.forbidden(why.scope())),
            (_, Some(s)) if status == StatusCode::UNAUTHORIZED => {
                Some(s.challenges.invalid.clone())
            }
            (_, None) if status == StatusCode::UNAUTHORIZED => {
                Some(HeaderValue::from_static(r#"Bearer error="invalid_token""#))
            }
            _ => None,
        };
        if let Some(challenge) = challenge {
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        Self {
            error,
            response: Box::new(response),
        }
    }
}

impl fmt::Debug for ExtractRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ExtractRejection")
            .field(&self.error)
            .finish()
    }
}

impl fmt::Display for ExtractRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

/// Shows its [`ExtractError`], so its cause is that error's.
impl std::error::Error for ExtractRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl IntoResponse for ExtractRejection {
    fn into_response(self) -> Response {
        (*self.response).map(axum_core::body::Body::from)
    }
}

/// The verified token, or the rejection: the guard's own when it let the request through
/// without one, a 500 naming the missing layer when no guard ran.
fn token<'a>(parts: &'a Parts, what: &'static str) -> Result<&'a VerifiedToken, ExtractRejection> {
    if let Some(token) = parts.extensions.get::<VerifiedToken>() {
        return Ok(token);
    }
    Err(match parts.extensions.get::<Anonymous>() {
        Some(anonymous) => ExtractRejection {
            error: ExtractError::Unauthenticated(anonymous.why.clone()),
            response: Box::new(anonymous.rejection(&parts.headers, &parts.extensions)),
        },
        // No guard, so no configured message key to use.
        None => ExtractRejection::json(ExtractError::MissingGuard(what), None),
    })
}

fn invalid_claims(token: &VerifiedToken) -> ExtractRejection {
    ExtractRejection::json(ExtractError::InvalidClaims, Some(&token.0.settings))
}

fn missing_user<U>(token: &VerifiedToken) -> ExtractRejection {
    let error = ExtractError::MissingUser {
        wanted: std::any::type_name::<U>(),
        found: token.1.as_ref().map(|user| user.type_name),
    };
    ExtractRejection::json(error, Some(&token.0.settings))
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedToken {
    type Rejection = ExtractRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        token(parts, "VerifiedToken").cloned()
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for VerifiedToken {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<VerifiedToken>().cloned())
    }
}

/// The identity of the verified token (`sub`, or the configured identity claim) when the
/// token is the manager's own: what to look a local user up by.
///
/// An outside issuer's token (a [`RemoteJwks`](crate::jwks)) has no local identity: this
/// extractor answers it 403 ([`ExtractError::ExternalIdentity`]), and its optional form
/// `None`, so that an outside `sub` never names a local user. Take the [`VerifiedToken`]
/// and read its [`subject`](VerifiedToken::subject) where outside identities are welcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity(pub String);

impl Deref for Identity {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = ExtractRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let token = token(parts, "Identity")?;
        match token.local_identity() {
            Some(identity) => Ok(Identity(identity.to_owned())),
            None => Err(ExtractRejection::json(
                ExtractError::ExternalIdentity,
                Some(&token.0.settings),
            )),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Identity {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<VerifiedToken>()
            .and_then(VerifiedToken::local_identity)
            .map(|identity| Identity(identity.to_owned())))
    }
}

/// The verified token's claims as a type of your own, as the token carries them (see
/// [`VerifiedToken::claims_json`]: an outside issuer's `type` or `fresh` is there even though
/// the crate does not believe it; read [`VerifiedToken::is_external`] before trusting a claim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims<T>(pub T);

impl<T> Deref for Claims<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Claims<T> {
    type Rejection = ExtractRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let token = token(parts, "Claims")?;
        token
            .claims()
            .map(Claims)
            .map_err(|_| invalid_claims(token))
    }
}

impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequestParts<S> for Claims<T> {
    type Rejection = ExtractRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        match parts.extensions.get::<VerifiedToken>() {
            Some(token) => token
                .claims()
                .map(|c| Some(Claims(c)))
                .map_err(|_| invalid_claims(token)),
            None => Ok(None),
        }
    }
}

/// The user the manager's user-lookup hook loaded for the verified token:
/// Flask-JWT-Extended's `current_user`.
pub struct CurrentUser<U>(pub Arc<U>);

impl<U> Clone for CurrentUser<U> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<U: fmt::Debug> fmt::Debug for CurrentUser<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CurrentUser").field(&self.0).finish()
    }
}

impl<U> Deref for CurrentUser<U> {
    type Target = U;
    fn deref(&self) -> &U {
        &self.0
    }
}

impl<S: Send + Sync, U: Send + Sync + 'static> FromRequestParts<S> for CurrentUser<U> {
    type Rejection = ExtractRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let token = token(parts, "CurrentUser")?;
        token
            .user_arc::<U>()
            .map(CurrentUser)
            .ok_or_else(|| missing_user::<U>(token))
    }
}

impl<S: Send + Sync, U: Send + Sync + 'static> OptionalFromRequestParts<S> for CurrentUser<U> {
    type Rejection = ExtractRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        match parts.extensions.get::<VerifiedToken>() {
            Some(token) => token
                .user_arc::<U>()
                .map(|u| Some(CurrentUser(u)))
                .ok_or_else(|| missing_user::<U>(token)),
            None => Ok(None),
        }
    }
}

/// A role named at compile time, for [`RequireRole`].
///
/// ```
/// struct Admin;
/// impl tower_jwt_auth::axum::Role for Admin {
///     const NAME: &'static str = "admin";
/// }
/// ```
pub trait Role {
    /// The role's name, as tokens carry it.
    const NAME: &'static str;
}

/// A scope named at compile time, for [`RequireScope`].
pub trait Scope {
    /// The scope, as tokens carry it.
    const NAME: &'static str;
}

/// The verified token, if it carries role `R` (in the claim its issuer keeps roles in);
/// otherwise 403 `insufficient_scope`, as a guard's
/// [`require_role`](crate::guard::GuardLayer::require_role) answers. For a requirement of
/// one handler among several behind the same guard.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::{routing::get, Router};
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
/// use tower_jwt_auth::axum::{RequireRole, Role};
/// use tower_jwt_auth::{JwtManager, JwtRequiredLayer};
/// use tower_jwt_auth::issue::TokenOptions;
///
/// struct Admin;
/// impl Role for Admin {
///     const NAME: &'static str = "admin";
/// }
/// async fn users(_: RequireRole<Admin>) -> &'static str {
///     "[]"
/// }
/// let manager = JwtManager::builder()
///     .secret("an-example-secret-that-is-32-bytes!")
///     .build()
///     .unwrap();
/// let app = Router::new()
///     .route("/users", get(users))
///     .layer(JwtRequiredLayer::new(&manager));
/// let call = |token: String| {
///     let req = Request::get("/users").header("Authorization", format!("Bearer {token}"));
///     app.clone().oneshot(req.body(axum::body::Body::empty()).unwrap())
/// };
///
/// // Accepted: an admin's token.
/// let admin = manager.create_access_token_with("ada", TokenOptions::new().roles(["admin"])).unwrap();
/// assert_eq!(call(admin).await.unwrap().status(), StatusCode::OK);
///
/// // Rejected: anyone else's is 403.
/// let user = manager.create_access_token("bob").unwrap();
/// assert_eq!(call(user).await.unwrap().status(), StatusCode::FORBIDDEN);
/// # }
/// ```
pub struct RequireRole<R>(pub VerifiedToken, pub PhantomData<fn() -> R>);

/// The verified token, if it carries scope `S` (in the claim its issuer keeps scopes in);
/// otherwise 403 `insufficient_scope` with `scope="<S>"`.
pub struct RequireScope<S>(pub VerifiedToken, pub PhantomData<fn() -> S>);

macro_rules! requirement_extractor {
    ($name:ident, $bound:ident, $check:ident) => {
        impl<T> Deref for $name<T> {
            type Target = VerifiedToken;
            fn deref(&self) -> &VerifiedToken {
                &self.0
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.0).finish()
            }
        }

        impl<S: Send + Sync, T: $bound> FromRequestParts<S> for $name<T> {
            type Rejection = ExtractRejection;

            async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
                let token = token(parts, stringify!($name))?;
                match token.$check(T::NAME) {
                    Ok(token) => Ok(Self(token.clone(), PhantomData)),
                    Err(err) => Err(ExtractRejection::forbidden(token, err)),
                }
            }
        }
    };
}

requirement_extractor!(RequireRole, Role, require_role);
requirement_extractor!(RequireScope, Scope, require_scope);
