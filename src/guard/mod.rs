//! The four guard layers: [`JwtRequired`], [`JwtOptional`], [`RefreshRequired`] and
//! [`FreshRequired`] (each with its `...Layer`).
//!
//! They differ only in what they require of the token, and share one verification core.
//! A guard takes requests of any body type `B` and hands them on with a [`RequestBody<B>`]
//! (the body untouched, or the bytes it read to find a token in a JSON body or a CSRF value
//! in a form, then the rest).
//! On success the request carries a [`VerifiedToken`] in its extensions; on failure the
//! inner service is not called and the client gets the configured error response (JSON,
//! or a trailers-only status for gRPC), with the [`AuthError`] in the response's
//! extensions. A guard never returns `Err` for an authentication failure, so it fits
//! axum, tonic and bare hyper alike.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_jwt_auth::guard::RequestBody;
//! use tower_jwt_auth::{JwtManager, JwtRequiredLayer, VerifiedToken};
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .build()
//!     .unwrap();
//!
//! let service = ServiceBuilder::new()
//!     .layer(JwtRequiredLayer::new(&manager))
//!     .service(service_fn(|req: Request<RequestBody<Full<Bytes>>>| async move {
//!         let who = req.extensions().get::<VerifiedToken>().unwrap().identity().to_owned();
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::from(who)))
//!     }));
//!
//! // Accepted: a valid access token.
//! let token = manager.create_access_token("alice").unwrap();
//! let req = Request::get("/")
//!     .header("Authorization", format!("Bearer {token}"))
//!     .body(Full::default())
//!     .unwrap();
//! let res = service.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "alice");
//!
//! // Rejected: no token.
//! let res = service.oneshot(Request::get("/").body(Full::default()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! let body = res.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, r#"{"msg":"Missing Authorization Header"}"#);
//! # }
//! ```
//!
//! [`VerifiedToken`]: crate::VerifiedToken
//! [`AuthError`]: crate::AuthError

#[cfg(feature = "axum")]
mod axum_body;
mod future;
mod layer;
mod request_body;
mod response_body;
mod service;

use std::sync::Arc;

use bytes::Bytes;
use http::{Extensions, HeaderMap, Response};

use crate::audit;
use crate::claims::{TokenType, VerifiedToken, SESSION_CLAIM};
use crate::config::TokenLocation;
use crate::error::{AuthError, ErrorKind};
use crate::issue::TokenOptions;
use crate::manager::JwtManager;
use crate::respond::{ErrorContext, ErrorResponder, StatusPolicy};
use crate::verify::Route;

/// What a guard layer holds: the route it verifies, how it answers a rejection, and the
/// manager that issues implicitly refreshed tokens.
#[derive(Clone)]
pub(crate) struct GuardConfig {
    pub(crate) route: Arc<Route>,
    pub(crate) policy: StatusPolicy,
    pub(crate) responder: Arc<dyn ErrorResponder>,
    manager: JwtManager,
    /// Refresh a cookie-borne access token with less than this many seconds left.
    implicit_refresh: Option<f64>,
}

impl GuardConfig {
    /// [`reject`](Self::reject), counted as the guard's refusal (the `guard.requests`
    /// metric): what the guard itself answers, not an extractor answering for it.
    pub(crate) fn refuse(
        &self,
        headers: &HeaderMap,
        extensions: &Extensions,
        err: AuthError,
    ) -> Response<Bytes> {
        crate::telemetry::guard_refused(err.kind());
        self.reject(headers, extensions, err)
    }

    /// The rejection response for `err`, with the error in its extensions; a refused token
    /// is audited (see [`crate::audit`]). The failure path only: an admitted request never
    /// comes here.
    pub(crate) fn reject(
        &self,
        headers: &HeaderMap,
        extensions: &Extensions,
        err: AuthError,
    ) -> Response<Bytes> {
        let kind = err.kind();
        if kind.is_unavailable() {
            tracing::warn!(outcome = "rejected", kind = ?kind, "{}", err.message());
        } else {
            tracing::debug!(outcome = "rejected", kind = ?kind, "{}", err.message());
            audit_refusal(kind, headers, extensions);
        }
        let grpc = headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"));
        let cx = ErrorContext {
            message_key: &self.route.core.settings.message_key,
            policy: self.policy,
            grpc,
            challenges: self.manager.challenges(),
        };
        let mut response = self.responder.respond(&err, &cx);
        response.extensions_mut().insert(err);
        response
    }

    /// Whether the response to a request with this token is to carry a new access cookie:
    /// a cookie-borne access token with less than the configured time left.
    fn refresh_due(&self, token: &VerifiedToken) -> bool {
        let Some(within) = self.implicit_refresh else {
            return false;
        };
        // Never for an outside issuer's token: no first-party token is minted from one.
        token.location() == Some(TokenLocation::Cookies)
            && !token.is_external()
            && token.token_type() != &TokenType::Refresh
            && token
                .expires_at()
                .is_some_and(|exp| exp - self.route.core.settings.clock.now_secs() < within)
    }

    /// Implicit refresh: sets a new, non-fresh access cookie (and its CSRF cookie) for the
    /// token's identity on `headers`, unless the response sets or unsets the access cookie
    /// itself (a login, a logout, another guard's refresh) or the token was revoked or
    /// expired meanwhile.
    fn refresh_cookies(&self, token: &VerifiedToken, headers: &mut HeaderMap) {
        let cookies = self.manager.cookies();
        if cookies.sets_access(headers) || !self.route.still_valid(token) {
            return;
        }
        // A token of a rotation session is followed by one of the same session, which
        // ending the session revokes with the others.
        let options = match token.session() {
            Some(session) => TokenOptions::new().reserved_claim(SESSION_CLAIM, session),
            None => TokenOptions::new(),
        };
        let set = self
            .manager
            .create_access_token_with(token.identity(), options)
            .map_err(|e| crate::error::Report(&e).to_string())
            .and_then(|new| cookies.set_access(headers, &new).map_err(|e| e.to_string()));
        match set {
            Ok(()) => tracing::debug!(outcome = "refreshed", "access cookie refreshed"),
            Err(err) => tracing::warn!(outcome = "error", "implicit refresh failed: {err}"),
        }
    }
}

/// The audit event of a refused token: `authz_fail` for a valid token without the route's
/// role or scope, `authn_token_invalid` for any other token refused, with the kind as the
/// reason (never the token, nor the message, which may quote a claim). Nothing for a
/// request without a token, or whose body could not be searched for one.
#[cold]
fn audit_refusal(kind: ErrorKind, headers: &HeaderMap, extensions: &Extensions) {
    let event = match kind {
        ErrorKind::MissingToken | ErrorKind::BodyTooLarge | ErrorKind::BodyUnreadable => return,
        ErrorKind::InsufficientScope => "authz_fail",
        _ => "authn_token_invalid",
    };
    tracing::info!(
        target: "tower_jwt_auth::audit",
        event,
        reason = kind.as_str(),
        client = %audit::Peer(extensions),
        user_agent = ?audit::user_agent(headers),
        "token refused"
    );
}

/// Left in the extensions of a request a guard let through without a token: why there is
/// none, and the guard that would have refused it (so that extractors that need a token
/// answer as the guard would).
#[derive(Clone)]
pub(crate) struct Anonymous {
    pub(crate) why: AuthError,
    config: Arc<GuardConfig>,
}

impl Anonymous {
    /// The guard's rejection for this request.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn rejection(
        &self,
        headers: &HeaderMap,
        extensions: &Extensions,
    ) -> Response<Bytes> {
        self.config.reject(headers, extensions, self.why.clone())
    }
}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use axum_body::{AxumGuard, AxumGuardLayer, AxumResponseFuture};
pub use future::ResponseFuture;
pub use layer::GuardLayer;
pub use request_body::RequestBody;
pub use response_body::ResponseBody;
pub use service::Guard;

/// Marker types naming what each guard requires.
pub mod kind {
    /// A valid access token (anything but `type: "refresh"`).
    #[derive(Clone, Copy, Debug)]
    pub struct Required;
    /// A valid access token, or none at all.
    #[derive(Clone, Copy, Debug)]
    pub struct Optional;
    /// A valid refresh token.
    #[derive(Clone, Copy, Debug)]
    pub struct Refresh;
    /// A valid, fresh access token.
    #[derive(Clone, Copy, Debug)]
    pub struct Fresh;
}

/// Requires a valid access token: Flask-JWT-Extended's `@jwt_required()`.
pub type JwtRequired<S> = Guard<S, kind::Required>;
/// Lets requests without a token through: `@jwt_required(optional=True)`.
pub type JwtOptional<S> = Guard<S, kind::Optional>;
/// Requires a valid refresh token: `@jwt_required(refresh=True)`.
pub type RefreshRequired<S> = Guard<S, kind::Refresh>;
/// Requires a valid fresh access token: `@jwt_required(fresh=True)`.
pub type FreshRequired<S> = Guard<S, kind::Fresh>;
