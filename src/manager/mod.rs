//! The [`JwtManager`]: the façade users hold. It issues tokens, verifies them the way the
//! guards do, revokes them, and hands its settings and hooks to every guard built from it.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tower_jwt_auth::JwtManager;
//! use tower_jwt_auth::issue::TokenOptions;
//! use tower_jwt_auth::manager::Lifetime;
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
use std::time::{Duration, SystemTime};

use crate::claims::{scoped, Subject, VerifiedToken};
use crate::clock;
use crate::denylist::{Denylist, DenylistError};
use crate::error::AuthError;
use crate::issue::{IssueError, Issuer, TokenOptions};
use crate::respond::{Challenges, ErrorResponder, StatusPolicy};
use crate::telemetry;
use crate::verify::{Admitted, Core, RequestView, Requirement, Route};

mod builder;
mod hooks;
mod locations;
mod resource;
mod rotation;
pub use builder::JwtManagerBuilder;
pub use hooks::{ClaimsVerdict, LookupOutcome};

/// Where [`JwtManager`] is defined: public at the crate root only (one path per type).
pub(crate) mod handle {
    use std::sync::Arc;

    /// Issues and verifies tokens; shared by every guard layer and the auth service.
    ///
    /// Cheap to clone (an `Arc` inside), `Send + Sync`. Its `Debug` output never shows keys.
    /// See the [`manager` module's example](crate::manager).
    #[derive(Clone)]
    pub struct JwtManager {
        pub(in crate::manager) inner: Arc<super::Inner>,
    }
}
pub use crate::config::{Lifetime, TokenLocation, UnknownValue};
pub(crate) use handle::JwtManager;

struct Inner {
    core: Arc<Core>,
    issuer: Issuer,
    status_policy: StatusPolicy,
    responder: Arc<dyn ErrorResponder>,
    /// The protected resource the guards stand for (RFC 9728), when named.
    resource: Option<resource::Resource>,
}

impl fmt::Debug for JwtManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtManager")
            .field("settings", &self.inner.core.settings)
            .field("status_policy", &self.inner.status_policy)
            .finish_non_exhaustive()
    }
}

/// A token could not be revoked.
#[derive(Debug)]
#[non_exhaustive]
pub enum RevokeError {
    /// The token has no `jti` (an outside issuer's may lack one), so it cannot be revoked
    /// alone: revoke every token of its subject instead. A client's mistake, not an outage.
    NoJti,
    /// The store could not record the revocation: nothing was recorded, retry.
    Store(DenylistError),
}

impl fmt::Display for RevokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevokeError::NoJti => f.write_str("the token has no jti to revoke"),
            RevokeError::Store(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for RevokeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RevokeError::NoJti => None,
            // It shows the store's error, so its cause is that error's.
            RevokeError::Store(err) => std::error::Error::source(err),
        }
    }
}

impl From<DenylistError> for RevokeError {
    fn from(err: DenylistError) -> Self {
        RevokeError::Store(err)
    }
}

impl JwtManager {
    /// Starts building a manager.
    pub fn builder() -> JwtManagerBuilder {
        JwtManagerBuilder::default()
    }

    fn from_parts(
        core: Core,
        issuer: Issuer,
        status_policy: StatusPolicy,
        responder: Arc<dyn ErrorResponder>,
        resource: Option<resource::Resource>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                core: Arc::new(core),
                issuer,
                status_policy,
                responder,
                resource,
            }),
        }
    }

    /// The `WWW-Authenticate` values the guards answer 401 with.
    pub(crate) fn challenges(&self) -> &Challenges {
        &self.inner.core.settings.challenges
    }

    /// The protected resource's identifier, as given to
    /// [`protected_resource`](JwtManagerBuilder::protected_resource).
    pub fn protected_resource(&self) -> Option<&str> {
        self.inner.resource.as_ref().map(|r| &*r.id)
    }

    /// The URL of the protected resource's metadata document (RFC 9728 §3.1), which every
    /// 401 challenge names as `resource_metadata`: the resource's origin, then
    /// `/.well-known/oauth-protected-resource`, then its path.
    pub fn resource_metadata_url(&self) -> Option<&str> {
        self.inner.resource.as_ref().map(|r| &*r.metadata_url)
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.inner.core
    }

    pub(crate) fn status_policy(&self) -> StatusPolicy {
        self.inner.status_policy
    }

    pub(crate) fn responder(&self) -> &Arc<dyn ErrorResponder> {
        &self.inner.responder
    }

    /// The JSON key of error messages (`msg` by default).
    pub(crate) fn message_key(&self) -> &str {
        &self.inner.core.settings.message_key
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
        self.inner
            .issuer
            .issue(&identity.to_string(), false, options)
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
        self.inner
            .issuer
            .issue(&identity.to_string(), true, options)
    }

    /// Decodes and validates a token the way a guard does (shape, signature, time claims,
    /// audience, issuer, identity), without the route checks (type, freshness) or the
    /// revocation and hook checks: Flask-JWT-Extended's `decode_token`.
    pub fn decode_token(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        self.inner.core.decode(token, None)
    }

    /// Verifies a request as a `JwtRequired` guard with the manager's settings would:
    /// every check, revocation and the hooks included (Flask-JWT-Extended's
    /// `verify_jwt_in_request`).
    pub async fn verify_request<B>(
        &self,
        req: &http::Request<B>,
    ) -> Result<VerifiedToken, AuthError> {
        let route = Arc::new(Route::new(self.core().clone(), Requirement::ACCESS));
        let verdict = route.verify(&RequestView::of(req));
        match verdict.outcome().await? {
            Admitted::Token(token) => Ok(token),
            Admitted::Anonymous(why) => Err(why),
        }
    }

    /// Fully verifies an encoded access or refresh token: decoding, revocation, the claims
    /// hook and the user lookup (no type or freshness requirement).
    pub async fn verify_token(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let mut route = Route::new(self.core().clone(), Requirement::ACCESS);
        route.verify_type = false;
        let verified = match self.decode_token(token) {
            // A key an outside issuer may have published since its keys were fetched.
            // (Only the issuer its `iss` names, if allowed its `alg`: an HMAC or `none`
            // token never fetches.)
            Err(err) if err.kind() == crate::error::ErrorKind::UnknownKey => {
                let refreshers = self.core().settings.keys.refreshers_for(token.as_bytes());
                if refreshers.is_empty() {
                    return Err(err);
                }
                for refresher in refreshers {
                    refresher.refresh_on_miss().await;
                }
                self.decode_token(token)?
            }
            decoded => decoded?,
        };
        match Arc::new(route).after_decode(verified).outcome().await? {
            Admitted::Token(token) => Ok(token),
            Admitted::Anonymous(why) => Err(why),
        }
    }

    /// Revokes a verified token until it would have expired (plus leeway); a token without
    /// `exp` stays revoked for good. An outside issuer's token is revoked under its issuer's
    /// name for its `jti` (see [`Subject`]); one without a `jti` cannot be revoked alone
    /// ([`RevokeError::NoJti`]: revoke all of its subject's tokens instead).
    ///
    /// Logs an `authn_token_revoked` [audit event](crate::audit).
    pub async fn revoke(&self, token: &VerifiedToken) -> Result<(), RevokeError> {
        self.revoke_unaudited(token).await?;
        audit_revoked(token, None);
        telemetry::revocation(telemetry::Revocation::Token);
        Ok(())
    }

    /// [`revoke`](Self::revoke) without its audit event: for the auth service, which logs
    /// its own with the client, and for a refresh token spent by rotation.
    pub(crate) async fn revoke_unaudited(&self, token: &VerifiedToken) -> Result<(), RevokeError> {
        let jti = token.jti().ok_or(RevokeError::NoJti)?;
        // `exp` is a numeric date up to the year 9999, so this is always a time.
        let leeway = self.inner.core.settings.leeway;
        let until = token
            .expires_at()
            .and_then(|exp| clock::from_numeric_date(exp + leeway));
        let jti = scoped(token.issuer(), jti);
        Ok(self.denylist().revoke(&jti, until).await?)
    }

    /// Revokes every token of `subject` issued until now (e.g. after a password change or
    /// a compromised account); tokens issued afterwards work, even within the same second.
    /// A `&str` names a local identity; pass [`VerifiedToken::subject`] (or the token) for
    /// an outside issuer's.
    ///
    /// The cut-off is the next millisecond, compared with each token's issue time: this
    /// crate's tokens carry it to the millisecond in their `jti` (a UUIDv7), so a token issued
    /// before the call is refused and one issued after it returns is accepted (the manager
    /// dates the tokens it issues no earlier than its latest cut-off, so nothing waits). A
    /// token without such a `jti` (Flask-JWT-Extended's are UUIDv4) is judged by its
    /// whole-second `iat`: one issued in the second of the cut-off counts as issued before
    /// it. The cut-off is kept until every token it covers has expired, for good when a
    /// lifetime is [`Lifetime::Never`](crate::manager::Lifetime::Never).
    ///
    /// Logs an `authn_token_revoked` [audit event](crate::audit) (`revoked = "all"`).
    pub async fn revoke_all<'a>(
        &self,
        subject: impl Into<Subject<'a>>,
    ) -> Result<(), DenylistError> {
        let subject = subject.into();
        let s = &self.inner.core.settings;
        // Tokens of a local identity issued from now on are dated at the cut-off or later,
        // so that none issued after this call is taken for one issued before it.
        let cutoff = match subject.issuer() {
            None => self.inner.issuer.cut_offs.cut(subject.id(), s.clock.now()),
            Some(_) => clock::to_millis(s.clock.now()) + Duration::from_millis(1),
        };
        let until = self.all_expired_after(cutoff);
        let key = subject.key();
        self.denylist().revoke_all(&key, cutoff, until).await?;
        telemetry::revocation(telemetry::Revocation::All);
        tracing::info!(
            target: "tower_jwt_auth::audit",
            event = "authn_token_revoked",
            revoked = "all",
            user_id = &*key,
            "every token of the subject revoked"
        );
        Ok(())
    }

    /// Revokes every token of the session `session` (their `sid` claim): what ending a
    /// session, or a refresh token presented twice, does (see [`crate::sessions`]). Kept
    /// until every token issued until now has expired.
    pub async fn revoke_session(&self, session: &str) -> Result<(), DenylistError> {
        let until = self.all_expired_after(self.inner.core.settings.clock.now());
        self.denylist().revoke(session, until).await?;
        telemetry::revocation(telemetry::Revocation::Session);
        Ok(())
    }

    /// When every token issued by `at` has expired (plus leeway); `None` when some never
    /// do.
    pub(crate) fn all_expired_after(&self, at: SystemTime) -> Option<SystemTime> {
        let s = &self.inner.core.settings;
        if s.some_never_expire() {
            return None;
        }
        Duration::try_from_secs_f64(s.max_lifetime + s.leeway)
            .ok()
            .and_then(|longest| at.checked_add(longest))
    }

    /// The denylist guards consult.
    pub fn denylist(&self) -> &Arc<dyn Denylist> {
        &self.inner.core.denylist
    }
}

/// The `authn_token_revoked` audit event of one token: its subject, its type, a hash of its
/// `jti` (never the `jti`), and the client when a request asked for it.
pub(crate) fn audit_revoked(token: &VerifiedToken, client: Option<(&dyn fmt::Display, &str)>) {
    let jti = token.jti().unwrap_or_default();
    let user_id = token.subject().key();
    // Absent fields (no request: `JwtManager::revoke`) are left out of the event.
    let (client, user_agent) = match client {
        Some((client, user_agent)) => (Some(client), Some(user_agent)),
        None => (None, None),
    };
    tracing::info!(
        target: "tower_jwt_auth::audit",
        event = "authn_token_revoked",
        revoked = "token",
        user_id = &*user_id,
        jti_hash = %crate::audit::Hashed(jti),
        token_type = token.token_type().as_str(),
        client = client.map(tracing::field::display),
        user_agent = user_agent.map(tracing::field::debug),
        "token revoked"
    );
}
