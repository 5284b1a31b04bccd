//! Authorization: what a verified token may do. Requirements are set per route on any
//! guard layer ([`require_role`](crate::guard::GuardLayer::require_role),
//! [`require_scope`](crate::guard::GuardLayer::require_scope),
//! [`require`](crate::guard::GuardLayer::require) for any predicate) and checked after
//! every authentication check, revocation included: a missing, invalid or revoked token is
//! 401, a valid token without the role or scope is **403** with
//! `WWW-Authenticate: Bearer error="insufficient_scope"` (and `scope="..."` for scopes,
//! RFC 6750 §3.1), gRPC `PERMISSION_DENIED`.
//!
//! Which claim holds a token's roles and scopes is a [`ClaimPath`], set per manager
//! ([`JwtManagerBuilder::roles_claim`](crate::manager::JwtManagerBuilder::roles_claim),
//! [`scopes_claim`](crate::manager::JwtManagerBuilder::scopes_claim); `roles` and `scope` by default)
//! and per outside issuer (`RemoteJwksBuilder::roles_claim`; an outside issuer's tokens
//! hold none until it is set): `scp` (Azure, Okta),
//! `realm_access.roles` (Keycloak), `permissions` (Auth0). The claim may be an array of
//! strings (one role or scope per item) or a string: one role (group names hold spaces), or
//! space-separated scopes (RFC 6749 §3.3, RFC 8693/9068). The strings are located once,
//! while the token is decoded; a check compares a few bytes and allocates nothing, also for
//! a token the guard remembered.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_jwt_auth::guard::RequestBody;
//! use tower_jwt_auth::{JwtManager, JwtRequiredLayer};
//! use tower_jwt_auth::issue::TokenOptions;
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .build()
//!     .unwrap();
//! let admin_only = ServiceBuilder::new()
//!     .layer(JwtRequiredLayer::new(&manager).require_role("admin"))
//!     .service(service_fn(|_: Request<RequestBody<Full<Bytes>>>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::from("welcome")))
//!     }));
//! let call = |token: String| {
//!     let req = Request::get("/admin")
//!         .header("Authorization", format!("Bearer {token}"))
//!         .body(Full::default())
//!         .unwrap();
//!     admin_only.clone().oneshot(req)
//! };
//!
//! // Accepted: the token carries the role.
//! let admin = manager
//!     .create_access_token_with("ada", TokenOptions::new().roles(["admin"]))
//!     .unwrap();
//! assert_eq!(call(admin).await.unwrap().status(), StatusCode::OK);
//!
//! // Rejected: a valid token without it is 403 insufficient_scope.
//! let user = manager.create_access_token("bob").unwrap();
//! let res = call(user).await.unwrap();
//! assert_eq!(res.status(), StatusCode::FORBIDDEN);
//! assert_eq!(res.headers()["www-authenticate"], r#"Bearer error="insufficient_scope""#);
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::claims::{role_required, scope_required, VerifiedToken};
use crate::config::is_scope_token;
pub use crate::config::ClaimPath;
use crate::error::{AuthError, ErrorKind};

/// A predicate over a verified token, for [`GuardLayer::require`](crate::guard::GuardLayer::require).
pub(crate) type Predicate = Arc<dyn Fn(&VerifiedToken) -> bool + Send + Sync>;

/// One requirement of a route.
#[derive(Clone)]
enum Check {
    /// Every one of these roles.
    AllRoles(Box<[Box<str>]>),
    /// At least one of these roles.
    AnyRole(Box<[Box<str>]>),
    /// Every one of these scopes.
    Scopes(Box<[Box<str>]>),
    Predicate(Predicate),
}

impl Check {
    fn passes(&self, token: &VerifiedToken) -> bool {
        match self {
            Check::AllRoles(roles) => roles.iter().all(|role| token.has_role(role)),
            Check::AnyRole(roles) => roles.iter().any(|role| token.has_role(role)),
            Check::Scopes(scopes) => scopes.iter().all(|scope| token.has_scope(scope)),
            Check::Predicate(predicate) => predicate(token),
        }
    }

    /// The message of a 403 for this check, unless the route sets its own.
    fn message(&self) -> String {
        let list = |names: &[Box<str>]| names.join(", ");
        match self {
            Check::AllRoles(roles) if roles.len() == 1 => role_required(&roles[0]),
            Check::AllRoles(roles) => format!("Roles required: {}", list(roles)),
            Check::AnyRole(roles) => format!("One of these roles required: {}", list(roles)),
            Check::Scopes(scopes) if scopes.len() == 1 => scope_required(&scopes[0]),
            Check::Scopes(scopes) => format!("Scopes required: {}", list(scopes)),
            Check::Predicate(_) => "Not authorized".to_owned(),
        }
    }
}

/// What a route requires of a valid token beyond authentication; every check must pass.
#[derive(Clone, Default)]
pub(crate) struct Requirements {
    checks: Vec<Check>,
    /// The route's own 403 message.
    message: Option<Cow<'static, str>>,
    /// Every scope the route requires, space-separated: the challenge's `scope`.
    scope: Option<Arc<str>>,
}

impl fmt::Debug for Requirements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let checks: Vec<String> = self.checks.iter().map(Check::message).collect();
        f.debug_struct("Requirements")
            .field("checks", &checks)
            .finish_non_exhaustive()
    }
}

impl Requirements {
    /// Every one of `roles`.
    ///
    /// # Panics
    /// On an empty role name: a mistake in the route's configuration.
    pub(crate) fn all_roles(&mut self, roles: Vec<String>) {
        self.checks.push(Check::AllRoles(names("role", roles)));
    }

    /// At least one of `roles`.
    pub(crate) fn any_role(&mut self, roles: Vec<String>) {
        self.checks.push(Check::AnyRole(names("role", roles)));
    }

    /// Every one of `scopes`.
    ///
    /// # Panics
    /// On a scope RFC 6749 §3.3 does not allow (empty, or with a space, `"`, `\` or a
    /// control character): it could not be named in the challenge.
    pub(crate) fn scopes(&mut self, scopes: Vec<String>) {
        for scope in &scopes {
            assert!(
                is_scope_token(scope),
                "invalid scope {scope:?}: RFC 6749 scopes are printable ASCII without space, '\"' or '\\'"
            );
        }
        let scopes = names("scope", scopes);
        let mut all: Vec<&str> = self
            .scope
            .as_deref()
            .map(|s| s.split(' ').collect())
            .unwrap_or_default();
        for scope in scopes.iter() {
            if !all.contains(&&**scope) {
                all.push(scope);
            }
        }
        self.scope = Some(all.join(" ").into());
        self.checks.push(Check::Scopes(scopes));
    }

    pub(crate) fn predicate(&mut self, predicate: Predicate) {
        self.checks.push(Check::Predicate(predicate));
    }

    pub(crate) fn message(&mut self, message: Cow<'static, str>) {
        self.message = Some(message);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Every check, in the order they were set: the first that fails answers 403.
    pub(crate) fn check(&self, token: &VerifiedToken) -> Result<(), AuthError> {
        let Some(failed) = self.checks.iter().find(|check| !check.passes(token)) else {
            return Ok(());
        };
        let message = match &self.message {
            Some(message) => message.clone(),
            None => Cow::Owned(failed.message()),
        };
        let err = AuthError::new(ErrorKind::InsufficientScope, message);
        Err(match failed {
            Check::Scopes(_) => err.with_scope(self.scope.clone()),
            _ => err,
        })
    }
}

fn names(what: &str, names: Vec<String>) -> Box<[Box<str>]> {
    assert!(!names.is_empty(), "no {what} given");
    names
        .into_iter()
        .map(|name| {
            assert!(!name.is_empty(), "empty {what} name");
            name.into_boxed_str()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "invalid scope")]
    fn scope_names_fit_the_challenge() {
        Requirements::default().scopes(vec!["a\"b".into()]);
    }
}
