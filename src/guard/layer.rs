//! [`GuardLayer`]: builds a guard, starting from its manager's settings, with per-route
//! overrides.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::kind;
use super::service::Guard;
use super::GuardConfig;
use crate::config::TokenLocation;
use crate::manager::JwtManager;
use crate::respond::{ErrorResponder, StatusPolicy};
use crate::verify::{Requirement, Route, TokenKind};

/// A layer that guards a service; see the [module docs](crate::guard) and the aliases
/// [`JwtRequiredLayer`](crate::JwtRequiredLayer), [`JwtOptionalLayer`](crate::JwtOptionalLayer),
/// [`RefreshRequiredLayer`](crate::RefreshRequiredLayer) and
/// [`FreshRequiredLayer`](crate::FreshRequiredLayer).
///
/// Each layer starts from its manager's settings; the setters override them for the
/// routes this layer guards only. Setters can be called in any order and any number of
/// times: the last call wins, and none changes what kind of guard the layer builds.
#[must_use = "a layer does nothing until it wraps a service"]
pub struct GuardLayer<K> {
    pub(super) config: Arc<GuardConfig>,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for GuardLayer<K> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for GuardLayer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let route = &self.config.route;
        f.debug_struct("GuardLayer")
            .field("requirement", &route.requirement)
            .field("verify_type", &route.verify_type)
            .field("locations", &route.locations)
            .field("authorization", &route.authorization)
            .finish_non_exhaustive()
    }
}

impl<K> GuardLayer<K> {
    fn with(manager: &JwtManager, requirement: Requirement) -> Self {
        Self {
            config: Arc::new(GuardConfig {
                route: Arc::new(Route::new(manager.core().clone(), requirement)),
                policy: manager.status_policy(),
                responder: manager.responder().clone(),
                manager: manager.clone(),
                implicit_refresh: manager
                    .core()
                    .settings
                    .implicit_refresh
                    .map(|within| within.as_secs_f64()),
            }),
            _kind: PhantomData,
        }
    }

    fn config_mut(&mut self) -> &mut GuardConfig {
        Arc::make_mut(&mut self.config)
    }

    fn route_mut(&mut self) -> &mut Route {
        Arc::make_mut(&mut self.config_mut().route)
    }

    /// Looks for the token in these locations, in this order, on these routes.
    ///
    /// # Panics
    ///
    /// With no location or one listed twice, which the manager's builder refuses too
    /// ([`BuildError::NoTokenLocation`](crate::BuildError::NoTokenLocation): a route that
    /// looks nowhere would refuse every request). A layer is built in code, not from
    /// configuration, so the mistake is the program's.
    pub fn token_locations(mut self, locations: impl IntoIterator<Item = TokenLocation>) -> Self {
        let locations: Vec<_> = locations.into_iter().collect();
        if let Err(refused) = TokenLocation::check_list(&locations) {
            panic!("a guard layer's token_locations: {refused}");
        }
        self.route_mut().set_locations(locations.into());
        self
    }

    /// Whether to check revocation on these routes (Flask-JWT-Extended's
    /// `skip_revocation_check` inverted).
    pub fn check_revocation(mut self, yes: bool) -> Self {
        self.route_mut().check_revocation = yes;
        self
    }

    /// When the revocation store cannot answer, let requests through (with a warning in the
    /// logs) instead of answering 503. For routes that prefer availability; off by default.
    pub fn fail_open(mut self, yes: bool) -> Self {
        self.route_mut().fail_open = yes;
        self
    }

    /// Whether to check the token type (`verify_type`); `false` accepts access and
    /// refresh tokens alike.
    pub fn verify_type(mut self, yes: bool) -> Self {
        self.route_mut().verify_type = yes;
        self
    }

    /// Implicit refresh on these routes (see
    /// [`JwtManagerBuilder::implicit_refresh_within`](crate::manager::JwtManagerBuilder::implicit_refresh_within)):
    /// a cookie-borne access token with less than `within` left gets a new access cookie on
    /// the response; `Duration::ZERO` turns it off. Refresh tokens are never refreshed so.
    pub fn implicit_refresh_within(mut self, within: Duration) -> Self {
        self.config_mut().implicit_refresh = (!within.is_zero()).then_some(within.as_secs_f64());
        self
    }

    /// The status policy on these routes.
    pub fn status_policy(mut self, policy: StatusPolicy) -> Self {
        self.config_mut().policy = policy;
        self
    }

    /// The error responder on these routes.
    pub fn error_responder(mut self, responder: impl ErrorResponder) -> Self {
        self.config_mut().responder = Arc::new(responder);
        self
    }

    /// Requires the token to carry `role` (in the claim its issuer keeps roles in, see
    /// [`authorization`](crate::authorization)); several calls require every role. A
    /// valid token without it is answered 403 `insufficient_scope`.
    ///
    /// Requirements apply to tokens: **on a `JwtOptionalLayer`, a request without a token
    /// (or, with [`invalid_as_anonymous`](GuardLayer::invalid_as_anonymous), with an invalid
    /// one) still passes, as anonymous**; only a valid token without the role is refused. Use
    /// `JwtRequiredLayer` for a route that is the role's alone.
    ///
    /// # Panics
    /// If `role` is empty.
    pub fn require_role(mut self, role: impl Into<String>) -> Self {
        self.route_mut().authorization.all_roles(vec![role.into()]);
        self
    }

    /// Requires the token to carry at least one of `roles`.
    ///
    /// # Panics
    /// If `roles` is empty or holds an empty name.
    pub fn require_any_role<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let roles = roles.into_iter().map(Into::into).collect();
        self.route_mut().authorization.any_role(roles);
        self
    }

    /// Requires the token to carry `scope`; several calls require every scope. A valid
    /// token without it is answered 403 with
    /// `WWW-Authenticate: Bearer error="insufficient_scope", scope="<every scope required>"`.
    ///
    /// # Panics
    /// If `scope` is not a scope RFC 6749 §3.3 allows (empty, or holding a space, `"`, `\`
    /// or a non-printable character): it could not be named in the challenge.
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        self.route_mut().authorization.scopes(vec![scope.into()]);
        self
    }

    /// Requires every one of `scopes` (as [`require_scope`](Self::require_scope) for each).
    ///
    /// # Panics
    /// As [`require_scope`](Self::require_scope), and if `scopes` is empty.
    pub fn require_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes = scopes.into_iter().map(Into::into).collect();
        self.route_mut().authorization.scopes(scopes);
        self
    }

    /// Requires `predicate` to hold for the verified token: any check over its claims
    /// (`token.claims::<T>()`, [`has_role`](crate::VerifiedToken::has_role), its
    /// [`issuer`](crate::VerifiedToken::issuer), the user the lookup hook found). It runs
    /// on every request after every other check, so keep it cheap and synchronous.
    pub fn require<F>(mut self, predicate: F) -> Self
    where
        F: Fn(&crate::VerifiedToken) -> bool + Send + Sync + 'static,
    {
        self.route_mut()
            .authorization
            .predicate(Arc::new(predicate));
        self
    }

    /// The message of the 403 answered when a requirement is not met (by default, one
    /// naming it: `Role required: admin`, `Scope required: orders:read`, `Not authorized`
    /// for a predicate); Flask-JWT-Extended's documentation answers `Admins only!`.
    pub fn forbidden_message(mut self, message: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.route_mut().authorization.message(message.into());
        self
    }
}

impl GuardLayer<kind::Required> {
    /// Requires a valid access token.
    pub fn new(manager: &JwtManager) -> Self {
        Self::with(manager, Requirement::ACCESS)
    }
}

impl GuardLayer<kind::Optional> {
    /// Accepts a valid access token or none; an invalid, expired or revoked token is still
    /// rejected unless [`invalid_as_anonymous`](Self::invalid_as_anonymous) is set.
    pub fn new(manager: &JwtManager) -> Self {
        Self::with(
            manager,
            Requirement {
                optional: true,
                ..Requirement::ACCESS
            },
        )
    }

    /// Treat an invalid, expired, revoked or wrong-type token as no token at all.
    pub fn invalid_as_anonymous(mut self, yes: bool) -> Self {
        self.route_mut().invalid_as_anonymous = yes;
        self
    }
}

impl GuardLayer<kind::Refresh> {
    /// Requires a valid refresh token.
    pub fn new(manager: &JwtManager) -> Self {
        Self::with(
            manager,
            Requirement {
                kind: TokenKind::Refresh,
                ..Requirement::ACCESS
            },
        )
    }
}

impl GuardLayer<kind::Fresh> {
    /// Requires a valid, fresh access token.
    pub fn new(manager: &JwtManager) -> Self {
        Self::with(
            manager,
            Requirement {
                fresh: true,
                ..Requirement::ACCESS
            },
        )
    }
}

impl<S, K> Layer<S> for GuardLayer<K> {
    type Service = Guard<S, K>;

    fn layer(&self, inner: S) -> Self::Service {
        Guard::new(inner, self.config.clone())
    }
}
