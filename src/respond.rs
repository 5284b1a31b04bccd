//! How an [`AuthError`] becomes an answer: the HTTP status under a [`StatusPolicy`] (401
//! for every token problem by default, or Flask-JWT-Extended's exact codes), a JSON body
//! `{"<message key>": "<message>"}` for HTTP, a trailers-only status for gRPC, and the
//! [`ErrorResponder`] that can replace any of it.
//!
//! # Example
//!
//! ```
//! use tower_jwt_auth::{ErrorKind, JwtManager};
//! use tower_jwt_auth::respond::StatusPolicy;
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .build()
//!     .unwrap();
//!
//! // A rejected token: 401 by default, 422 under the Flask-compatible policy.
//! let err = manager.decode_token("not-a-jwt").unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Malformed);
//! assert_eq!(err.status(StatusPolicy::Default), 401);
//! assert_eq!(err.status(StatusPolicy::FlaskCompatible), 422);
//!
//! // An accepted token has nothing to answer.
//! let token = manager.create_access_token("alice").unwrap();
//! assert!(manager.decode_token(&token).is_ok());
//! ```

use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::error::{AuthError, ErrorKind};

/// How error kinds map to HTTP status codes.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatusPolicy {
    /// 401 with an RFC 6750 `WWW-Authenticate: Bearer` header for every token problem
    /// (`error="insufficient_user_authentication"`, RFC 9470, for a non-fresh token);
    /// 400 when the user-claims hook refuses; 403 `error="insufficient_scope"` for a valid
    /// token that does not meet the route's requirements; 503 when the revocation store is
    /// down.
    #[default]
    Default,
    /// Flask-JWT-Extended's exact codes: 422 for malformed, invalid and wrong-type tokens,
    /// 401 for missing, expired, non-fresh and revoked ones, and no `WWW-Authenticate` header
    /// but RFC 9470's step-up challenge for a non-fresh token and RFC 6750's
    /// `insufficient_scope` with the 403 of an unmet requirement.
    FlaskCompatible,
}

impl AuthError {
    /// The HTTP status this error answers with under `policy`.
    pub fn status(&self, policy: StatusPolicy) -> StatusCode {
        use ErrorKind::*;
        match (self.kind(), policy) {
            (UserClaimsVerification | BodyUnreadable, _) => StatusCode::BAD_REQUEST,
            (InsufficientScope, _) => StatusCode::FORBIDDEN,
            (BodyTooLarge, _) => StatusCode::PAYLOAD_TOO_LARGE,
            (RevocationStoreUnavailable | UserStoreUnavailable, _) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            (_, StatusPolicy::Default) => StatusCode::UNAUTHORIZED,
            (
                MissingToken | Expired | FreshTokenRequired | Revoked | UserLookup | Csrf,
                StatusPolicy::FlaskCompatible,
            ) => StatusCode::UNAUTHORIZED,
            (_, StatusPolicy::FlaskCompatible) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// The gRPC status code for this error: 14 (UNAVAILABLE) when a store is down, 7
    /// (PERMISSION_DENIED) for a valid token that does not meet the route's requirements,
    /// 16 (UNAUTHENTICATED) otherwise.
    pub fn grpc_code(&self) -> u16 {
        if self.kind().is_unavailable() {
            14
        } else if self.kind() == ErrorKind::InsufficientScope {
            7
        } else {
            16
        }
    }
}

/// The `WWW-Authenticate` values a manager's guards answer with, built once with the
/// manager: RFC 6750's `Bearer` (no token), `error="invalid_token"` and
/// `error="insufficient_scope"` (403), RFC 9470's `error="insufficient_user_authentication"`
/// (a non-fresh token on a fresh route), each with RFC 9728's `resource_metadata="<url>"`
/// when the manager names its protected resource.
#[derive(Clone, Debug)]
pub(crate) struct Challenges {
    missing: HeaderValue,
    pub(crate) invalid: HeaderValue,
    step_up: HeaderValue,
    forbidden: HeaderValue,
    /// `, resource_metadata="<url>"`, or nothing.
    metadata_param: Box<str>,
}

impl Challenges {
    /// The challenges, with `resource_metadata` (a URL without `"`, `\` or control
    /// characters) when given; `None` if it cannot be a header value.
    pub(crate) fn new(resource_metadata: Option<&str>) -> Option<Self> {
        let Some(url) = resource_metadata else {
            return Some(Self::default());
        };
        if url
            .bytes()
            .any(|b| b == b'"' || b == b'\\' || !b.is_ascii_graphic())
        {
            return None;
        }
        let with = |prefix: &str| {
            HeaderValue::try_from(format!(r#"{prefix}resource_metadata="{url}""#)).ok()
        };
        Some(Self {
            missing: with("Bearer ")?,
            invalid: with(r#"Bearer error="invalid_token", "#)?,
            step_up: with(r#"Bearer error="insufficient_user_authentication", "#)?,
            forbidden: with(r#"Bearer error="insufficient_scope", "#)?,
            metadata_param: format!(r#", resource_metadata="{url}""#).into(),
        })
    }

    /// The 403 challenge: `error="insufficient_scope"`, with the scopes required when a
    /// scope is missing (scope names were checked when the route was configured).
    pub(crate) fn forbidden(&self, scope: Option<&str>) -> HeaderValue {
        let Some(scope) = scope else {
            return self.forbidden.clone();
        };
        HeaderValue::try_from(format!(
            r#"Bearer error="insufficient_scope", scope="{scope}"{}"#,
            self.metadata_param
        ))
        .unwrap_or_else(|_| self.forbidden.clone())
    }

    /// The 401 challenge for an error that has one under `policy`.
    fn unauthorized(&self, error: &AuthError, policy: StatusPolicy) -> Option<&HeaderValue> {
        if error.kind() == ErrorKind::FreshTokenRequired {
            // RFC 9470 step-up, under both policies: standard clients re-authenticate.
            Some(&self.step_up)
        } else if policy == StatusPolicy::Default
            && error.status(policy) == StatusCode::UNAUTHORIZED
        {
            Some(if error.kind().token_presented() {
                &self.invalid
            } else {
                &self.missing
            })
        } else {
            None
        }
    }

    /// The challenge `error` answers with under `policy`, if any.
    pub(crate) fn for_error(&self, error: &AuthError, policy: StatusPolicy) -> Option<HeaderValue> {
        if error.kind() == ErrorKind::InsufficientScope {
            // RFC 6750 §3.1, under both policies.
            Some(self.forbidden(error.scope()))
        } else {
            self.unauthorized(error, policy).cloned()
        }
    }
}

impl Default for Challenges {
    fn default() -> Self {
        Self {
            missing: HeaderValue::from_static("Bearer"),
            invalid: HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            step_up: HeaderValue::from_static(r#"Bearer error="insufficient_user_authentication""#),
            forbidden: HeaderValue::from_static(r#"Bearer error="insufficient_scope""#),
            metadata_param: "".into(),
        }
    }
}

/// What a responder knows about the request being rejected.
#[derive(Clone, Copy, Debug)]
pub struct ErrorContext<'a> {
    pub(crate) message_key: &'a str,
    pub(crate) policy: StatusPolicy,
    pub(crate) grpc: bool,
    pub(crate) challenges: &'a Challenges,
}

impl ErrorContext<'_> {
    /// The JSON key the message goes under (`msg` by default).
    pub fn message_key(&self) -> &str {
        self.message_key
    }

    /// The status policy in force for this route.
    pub fn status_policy(&self) -> StatusPolicy {
        self.policy
    }

    /// Whether the request is a gRPC call (`content-type: application/grpc...`).
    pub fn is_grpc(&self) -> bool {
        self.grpc
    }

    /// The response the crate gives by default: a trailers-only gRPC answer for gRPC
    /// requests, a JSON body `{"<message key>": "<message>"}` otherwise.
    pub fn default_response(&self, error: &AuthError) -> Response<Bytes> {
        if self.grpc {
            grpc_response(error)
        } else {
            self.json_response(error)
        }
    }

    fn json_response(&self, error: &AuthError) -> Response<Bytes> {
        let mut response =
            json_message(error.status(self.policy), self.message_key, error.message());
        if let Some(challenge) = self.challenges.for_error(error, self.policy) {
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// The one writer of JSON error bodies: `{"<key>": "<message>"}` with `status`.
pub(crate) fn json_message(status: StatusCode, key: &str, message: &str) -> Response<Bytes> {
    let mut body = serde_json::Map::with_capacity(1);
    body.insert(
        key.to_owned(),
        serde_json::Value::String(message.to_owned()),
    );
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A public JSON document served to `GET` and `HEAD` (the JWKS, the protected resource
/// metadata), whatever the path: 405 with `Allow` to other methods, 404 `missing` when
/// `document` has none (asked only for `GET` and `HEAD`), the document with `cache_control`
/// otherwise.
pub(crate) fn json_document(
    method: &http::Method,
    key: &str,
    cache_control: &HeaderValue,
    missing: &str,
    document: impl FnOnce() -> Option<Bytes>,
) -> Response<http_body_util::Full<Bytes>> {
    use http_body_util::Full;
    if method != http::Method::GET && method != http::Method::HEAD {
        let mut res = json_message(StatusCode::METHOD_NOT_ALLOWED, key, "Method not allowed");
        res.headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return res.map(Full::new);
    }
    let Some(document) = document() else {
        return json_message(StatusCode::NOT_FOUND, key, missing).map(Full::new);
    };
    let mut res = Response::new(Full::new(document));
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(http::header::CACHE_CONTROL, cache_control.clone());
    res
}

/// `Cache-Control: public, max-age=<whole seconds>`.
pub(crate) fn public_max_age(max_age: std::time::Duration) -> HeaderValue {
    // Digits and ASCII only: always a valid header value.
    HeaderValue::try_from(format!("public, max-age={}", max_age.as_secs()))
        .unwrap_or_else(|_| HeaderValue::from_static("public, max-age=300"))
}

/// Characters gRPC requires percent-encoded in `grpc-message` (besides non-ASCII bytes).
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

fn grpc_response(error: &AuthError) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(error.grpc_code()));
    let message = utf8_percent_encode(error.message(), GRPC_MESSAGE).to_string();
    if let Ok(value) = HeaderValue::try_from(message) {
        headers.insert("grpc-message", value);
    }
    response
}

/// Turns an [`AuthError`] into the response a guard answers with.
///
/// Implemented by [`DefaultErrorResponder`] and by every closure
/// `Fn(&AuthError, &ErrorContext<'_>) -> Response<Bytes>`; a closure can fall back to
/// [`ErrorContext::default_response`] for the cases it does not handle. Whatever the
/// responder returns, the guard inserts the [`AuthError`] into the response's extensions.
pub trait ErrorResponder: Send + Sync + 'static {
    /// The response for `error`.
    fn respond(&self, error: &AuthError, cx: &ErrorContext<'_>) -> Response<Bytes>;
}

/// The default responder: JSON for HTTP, a trailers-only status for gRPC.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultErrorResponder;

impl ErrorResponder for DefaultErrorResponder {
    fn respond(&self, error: &AuthError, cx: &ErrorContext<'_>) -> Response<Bytes> {
        cx.default_response(error)
    }
}

impl<F> ErrorResponder for F
where
    F: Fn(&AuthError, &ErrorContext<'_>) -> Response<Bytes> + Send + Sync + 'static,
{
    fn respond(&self, error: &AuthError, cx: &ErrorContext<'_>) -> Response<Bytes> {
        self(error, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static PLAIN: std::sync::LazyLock<Challenges> = std::sync::LazyLock::new(Challenges::default);

    fn cx(policy: StatusPolicy, grpc: bool) -> ErrorContext<'static> {
        ErrorContext {
            message_key: "msg",
            policy,
            grpc,
            challenges: &PLAIN,
        }
    }

    #[test]
    fn default_policy_is_401_with_challenge() {
        let err = AuthError::malformed("Not enough segments");
        let res = cx(StatusPolicy::Default, false).default_response(&err);
        assert_eq!(res.status(), 401);
        assert_eq!(
            res.headers()[WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
        assert_eq!(&res.body()[..], br#"{"msg":"Not enough segments"}"#);

        let missing = AuthError::missing("Missing Authorization Header");
        let res = cx(StatusPolicy::Default, false).default_response(&missing);
        assert_eq!(res.headers()[WWW_AUTHENTICATE], "Bearer");
    }

    #[test]
    fn flask_policy_has_no_challenge() {
        let err = AuthError::new(ErrorKind::WrongTokenType, "Only refresh tokens are allowed");
        let res = cx(StatusPolicy::FlaskCompatible, false).default_response(&err);
        assert_eq!(res.status(), 422);
        assert!(res.headers().get(WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn claims_verification_is_400_and_store_down_503() {
        let err = AuthError::new(
            ErrorKind::UserClaimsVerification,
            "User claims verification failed",
        );
        assert_eq!(err.status(StatusPolicy::Default), 400);
        assert_eq!(err.status(StatusPolicy::FlaskCompatible), 400);
        let down = AuthError::new(
            ErrorKind::RevocationStoreUnavailable,
            "Token revocation store unavailable",
        );
        assert_eq!(down.status(StatusPolicy::Default), 503);
        assert_eq!(down.grpc_code(), 14);
    }

    #[test]
    fn grpc_is_trailers_only_and_percent_encoded() {
        let err = AuthError::missing("Missing 100% Header\n");
        let res = cx(StatusPolicy::Default, true).default_response(&err);
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()[CONTENT_TYPE], "application/grpc");
        assert_eq!(res.headers()["grpc-status"], "16");
        assert_eq!(res.headers()["grpc-message"], "Missing 100%25 Header%0A");
        assert!(res.body().is_empty());
    }

    #[test]
    fn step_up_under_both_policies_and_resource_metadata_on_every_challenge() {
        let stale = AuthError::new(ErrorKind::FreshTokenRequired, "Fresh token required");
        for policy in [StatusPolicy::Default, StatusPolicy::FlaskCompatible] {
            let res = cx(policy, false).default_response(&stale);
            assert_eq!(res.status(), 401);
            assert_eq!(
                res.headers()[WWW_AUTHENTICATE],
                r#"Bearer error="insufficient_user_authentication""#
            );
            assert_eq!(&res.body()[..], br#"{"msg":"Fresh token required"}"#);
        }
        let url = "https://api.example.com/.well-known/oauth-protected-resource";
        let challenges = Challenges::new(Some(url)).unwrap();
        let cx = ErrorContext {
            challenges: &challenges,
            ..cx(StatusPolicy::Default, false)
        };
        let header = |err: &AuthError| cx.default_response(err).headers()[WWW_AUTHENTICATE].clone();
        let meta = format!(r#"resource_metadata="{url}""#);
        assert_eq!(
            header(&AuthError::missing("Missing")),
            format!("Bearer {meta}").as_str()
        );
        assert_eq!(
            header(&AuthError::malformed("Not enough segments")),
            format!(r#"Bearer error="invalid_token", {meta}"#).as_str()
        );
        assert_eq!(
            header(&stale),
            format!(r#"Bearer error="insufficient_user_authentication", {meta}"#).as_str()
        );
        // Nothing that could break out of the quoted string.
        assert!(Challenges::new(Some("https://a.example/\"/x")).is_none());
        assert!(Challenges::new(Some("https://a.example/ x")).is_none());
    }
}
