//! tonic glue (feature `tonic`).
//!
//! The guard layers work with tonic as they are: `Server::builder().layer(JwtRequiredLayer::new(&jwt))`
//! protects every method of every service, and rejections are trailers-only gRPC answers
//! (`UNAUTHENTICATED` with Flask-JWT-Extended's message) that clients see as a
//! [`Status`]. This module adds:
//!
//! - [`RequestExt`]: the verified token and identity from a `tonic::Request`, and
//!   freshness, role and scope checks for single methods (a guard layer's
//!   [`require_role`](crate::guard::GuardLayer::require_role) covers a whole service:
//!   `PERMISSION_DENIED`);
//! - `impl From<AuthError> for Status`;
//! - `NamedService` for guarded services, so one service
//!   can have its own guard: `.add_service(FreshRequiredLayer::new(&jwt).layer(svc))`.
//!
//! # Example
//!
//! ```
//! use tonic::{Code, Request};
//! use tower_jwt_auth::tonic::RequestExt;
//! use tower_jwt_auth::JwtManager;
//! use tower_jwt_auth::issue::TokenOptions;
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .build()
//!     .unwrap();
//! // What a guard leaves in the request's extensions, as a handler sees it.
//! let with_token = |token: &str| {
//!     let mut req = Request::new(());
//!     req.extensions_mut().insert(manager.decode_token(token).unwrap());
//!     req
//! };
//!
//! // Accepted: a fresh token passes the freshness check.
//! let fresh = manager.create_access_token_with("ada", TokenOptions::new().fresh(true)).unwrap();
//! let req = with_token(&fresh);
//! assert_eq!(req.identity(), Some("ada"));
//! assert!(req.require_fresh().is_ok());
//!
//! // Rejected: a token that is not fresh.
//! let stale = manager.create_access_token("ada").unwrap();
//! let status = with_token(&stale).require_fresh().unwrap_err();
//! assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "Fresh token required"));
//! ```

use ::tonic::server::NamedService;
use ::tonic::{Code, Status};

use crate::claims::VerifiedToken;
use crate::error::{AuthError, ErrorKind};
use crate::guard::Guard;

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Self {
        let code = match err.grpc_code() {
            14 => Code::Unavailable,
            7 => Code::PermissionDenied,
            _ => Code::Unauthenticated,
        };
        Status::new(code, err.message())
    }
}

impl<S: NamedService, K> NamedService for Guard<S, K> {
    const NAME: &'static str = S::NAME;
}

/// What a guard left in a `tonic::Request`.
pub trait RequestExt {
    /// The verified token, when a guard accepted one.
    fn verified_token(&self) -> Option<&VerifiedToken>;

    /// The identity of the verified token when it is the manager's own (what to look a
    /// local user up by); `None` without a token and for an outside issuer's token, whose
    /// `sub` names no local user (see [`subject`](Self::subject)).
    fn identity(&self) -> Option<&str> {
        self.verified_token()
            .and_then(VerifiedToken::local_identity)
    }

    /// The identity of the verified token with its issuer, outside issuers' included.
    fn subject(&self) -> Option<crate::claims::Subject<'_>> {
        self.verified_token().map(VerifiedToken::subject)
    }

    /// The verified token if it is fresh; `UNAUTHENTICATED` "Fresh token required"
    /// otherwise, or `INTERNAL` when no guard ran (a programming error).
    fn require_fresh(&self) -> Result<&VerifiedToken, Status> {
        let token = guarded(self)?;
        if token.is_fresh() {
            Ok(token)
        } else {
            Err(AuthError::new(ErrorKind::FreshTokenRequired, "Fresh token required").into())
        }
    }

    /// The verified token if it carries `role`; `PERMISSION_DENIED` otherwise (see
    /// [`VerifiedToken::require_role`]), `INTERNAL` when no guard ran.
    fn require_role(&self, role: &str) -> Result<&VerifiedToken, Status> {
        Ok(guarded(self)?.require_role(role)?)
    }

    /// The verified token if it carries `scope`; `PERMISSION_DENIED` otherwise,
    /// `INTERNAL` when no guard ran.
    fn require_scope(&self, scope: &str) -> Result<&VerifiedToken, Status> {
        Ok(guarded(self)?.require_scope(scope)?)
    }
}

/// The verified token, or `INTERNAL` when no guard ran (a programming error).
fn guarded<R: RequestExt + ?Sized>(req: &R) -> Result<&VerifiedToken, Status> {
    req.verified_token().ok_or_else(|| {
        Status::internal(
            "no verified token: guard this service with JwtRequiredLayer or FreshRequiredLayer",
        )
    })
}

impl<T> RequestExt for ::tonic::Request<T> {
    fn verified_token(&self) -> Option<&VerifiedToken> {
        self.extensions().get::<VerifiedToken>()
    }
}
