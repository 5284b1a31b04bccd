//! Refresh-token rotation in the auth service (see [`crate::sessions`]): a login starts a
//! session, `/refresh` rotates its refresh token, a spent one revokes it; and
//! [`Sessions`], the handle that lists and ends an identity's sessions.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::request::Parts;
use http::StatusCode;
use serde_json::json;

use super::handlers::Reply;
use super::{Inner, UserStore};
use crate::audit::{truncate, Hashed};
use crate::claims::SESSION_CLAIM;
use crate::claims::{Subject, VerifiedToken};
use crate::issue::TokenOptions;
use crate::manager::JwtManager;
use crate::sessions::{Rotate, Rotation, Session, SessionError, SessionStore};
use crate::telemetry;

/// Rotation settings of an auth service.
#[derive(Clone)]
pub(super) struct Rotating {
    pub(super) store: Arc<dyn SessionStore>,
    pub(super) grace: Duration,
}

/// An access token and a refresh token issued together (of one session, with rotation on).
pub(super) struct Issued {
    pub(super) access: String,
    pub(super) refresh: String,
}

impl<U: UserStore> Inner<U> {
    /// Tokens for a login: with rotation on, a new session of `identity` carries them.
    pub(super) async fn login_tokens(
        &self,
        identity: &str,
        user_agent: Option<&str>,
    ) -> Result<Issued, Reply> {
        let access = TokenOptions::new().fresh(true);
        let Some(rotating) = &self.rotating else {
            return self
                .issue(identity, access, TokenOptions::new())
                .ok_or_else(|| self.could_not_issue());
        };
        self.start_session(rotating, identity, user_agent, access)
            .await
    }

    /// Starts a session of `identity` and issues its first tokens.
    async fn start_session(
        &self,
        rotating: &Rotating,
        identity: &str,
        user_agent: Option<&str>,
        access: TokenOptions,
    ) -> Result<Issued, Reply> {
        let now = self.manager.core().settings.clock.now();
        let id = uuid::Uuid::new_v4().to_string();
        let tokens = self.issue(
            identity,
            access.reserved_claim(SESSION_CLAIM, id.as_str()),
            TokenOptions::new().reserved_claim(SESSION_CLAIM, id.as_str()),
        );
        let Some((refresh_jti, tokens)) = tokens.and_then(|t| Some((self.jti_of(&t.refresh)?, t)))
        else {
            return Err(self.could_not_issue());
        };
        let mut session = Session::new(id, identity, now);
        // The auth service's client has read it capped (`audit::user_agent`); a session
        // started otherwise is capped alike.
        session.user_agent =
            user_agent.map(|ua| truncate(ua, crate::audit::MAX_USER_AGENT).to_owned());
        let until = self.manager.all_expired_after(now);
        match rotating.store.start(&session, &refresh_jti, until).await {
            Ok(()) => Ok(tokens),
            Err(err) => Err(self.session_store_failed(err)),
        }
    }

    /// `/refresh` with rotation on: a new access token and a new refresh token of the
    /// presented token's session; the presented one is spent.
    pub(super) async fn rotate(
        &self,
        rotating: &Rotating,
        token: &VerifiedToken,
        req: &Parts,
    ) -> Reply {
        let identity = token.identity();
        let Some(session) = token.session() else {
            // A refresh token from before rotation was on: it starts a session and is spent.
            let tokens = self
                .start_session(rotating, identity, None, TokenOptions::new())
                .await;
            return match tokens {
                // Spent, not revoked by anyone: no audit event.
                Ok(tokens) => match self.manager.revoke_unaudited(token).await {
                    Ok(()) => self.rotated_reply(&tokens),
                    Err(err) => self.revocation_failed(&err),
                },
                Err(reply) => reply,
            };
        };
        let in_session = || TokenOptions::new().reserved_claim(SESSION_CLAIM, session);
        let Some(tokens) = self.issue(identity, in_session(), in_session()) else {
            return self.could_not_issue();
        };
        let (Some(presented), Some(next)) = (token.jti(), self.jti_of(&tokens.refresh)) else {
            return self.could_not_issue();
        };
        let now = self.manager.core().settings.clock.now();
        let rotate = Rotate {
            session,
            identity,
            presented,
            next: &next,
            now,
            grace: rotating.grace,
            until: self.manager.all_expired_after(now),
        };
        match rotating.store.rotate(rotate).await {
            Ok(Rotation::Rotated) => {
                tracing::info!(outcome = "accepted", user_id = %identity, "refresh rotated");
                self.rotated_reply(&tokens)
            }
            Ok(Rotation::Concurrent { current }) => {
                // Two refreshes at once: the current token of the session, issued anew.
                let again = in_session().reserved_claim("jti", current);
                match self.manager.create_refresh_token_with(identity, again) {
                    Ok(refresh) => {
                        tracing::info!(outcome = "accepted", user_id = %identity, "refresh within the grace");
                        self.rotated_reply(&Issued {
                            access: tokens.access,
                            refresh,
                        })
                    }
                    Err(_) => self.could_not_issue(),
                }
            }
            Ok(rotation @ (Rotation::Reused | Rotation::Ended)) => {
                // A spent refresh token: the thief or the user, the session ends. (For a
                // session already over, revoking again repairs a revocation a fault lost.)
                let client = self.login.client(&req.extensions, &req.headers);
                telemetry::refresh(match rotation {
                    Rotation::Reused => telemetry::Refresh::ReuseDetected,
                    _ => telemetry::Refresh::Failure,
                });
                tracing::warn!(
                    target: "tower_jwt_auth::audit",
                    event = "authn_token_reuse",
                    reason = match rotation {
                        Rotation::Reused => "reused",
                        _ => "session_ended",
                    },
                    user_id = &*token.subject().key(),
                    session_hash = %Hashed(session),
                    jti_hash = %Hashed(presented),
                    client = %client.addr(),
                    user_agent = ?client.user_agent(),
                    "refresh token reused: session revoked"
                );
                match self.manager.revoke_session(session).await {
                    Ok(()) => self.message(StatusCode::UNAUTHORIZED, "Token has been revoked"),
                    Err(err) => self.revocation_failed(&err),
                }
            }
            Err(err) => {
                telemetry::refresh(telemetry::Refresh::Failure);
                self.session_store_failed(err)
            }
        }
    }

    /// Ends the session of a token being revoked (a logout), when it has one.
    pub(super) async fn end_session_of(&self, token: &VerifiedToken) -> Result<(), Reply> {
        let (Some(sessions), Some(session)) = (self.sessions(), token.session()) else {
            return Ok(());
        };
        match sessions.end(token, session).await {
            Ok(_) => Ok(()),
            Err(err) => Err(self.session_store_failed(err)),
        }
    }

    /// The sessions handle, with rotation on.
    pub(super) fn sessions(&self) -> Option<Sessions> {
        let rotating = self.rotating.as_ref()?;
        Some(Sessions {
            manager: self.manager.clone(),
            store: rotating.store.clone(),
        })
    }

    fn issue(&self, identity: &str, access: TokenOptions, refresh: TokenOptions) -> Option<Issued> {
        Some(Issued {
            access: self
                .manager
                .create_access_token_with(identity, access)
                .ok()?,
            refresh: self
                .manager
                .create_refresh_token_with(identity, refresh)
                .ok()?,
        })
    }

    /// The `jti` of a token just issued.
    fn jti_of(&self, token: &str) -> Option<String> {
        let token = self.manager.decode_token(token).ok()?;
        token.jti().map(str::to_owned)
    }

    fn could_not_issue(&self) -> Reply {
        self.message(StatusCode::SERVICE_UNAVAILABLE, "Could not issue tokens")
    }

    fn rotated_reply(&self, tokens: &Issued) -> Reply {
        telemetry::refresh(telemetry::Refresh::Success);
        self.tokens_reply(
            json!({"access_token": tokens.access, "refresh_token": tokens.refresh}),
            "Token refreshed",
            |cookies, headers| {
                cookies.set_access(headers, &tokens.access)?;
                cookies.set_refresh(headers, &tokens.refresh)
            },
        )
    }

    fn session_store_failed(&self, err: SessionError) -> Reply {
        tracing::warn!(
            outcome = "error",
            "session store: {}",
            crate::error::Report(&err)
        );
        self.message(StatusCode::SERVICE_UNAVAILABLE, "Session store unavailable")
    }

    fn revocation_failed(&self, err: &dyn std::error::Error) -> Reply {
        let err = crate::error::Report(err);
        tracing::warn!(outcome = "error", "session revocation: {err}");
        self.message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Token revocation store unavailable",
        )
    }
}

/// An identity's sessions, to list and end: from [`AuthService::sessions`] when
/// refresh-token rotation is on. Cheap to clone.
///
/// [`AuthService::sessions`]: super::AuthService::sessions
#[derive(Clone)]
pub struct Sessions {
    manager: JwtManager,
    store: Arc<dyn SessionStore>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    /// The live sessions of `identity`, oldest first.
    ///
    /// Pass the token (or its [`Subject`]) for whoever it names, [`Subject::local`] for a
    /// local identity: an outside issuer's identity has no sessions (only logins through
    /// this auth service start them), and never sees a local user's.
    pub async fn list<'a>(
        &self,
        identity: impl Into<Subject<'a>>,
    ) -> Result<Vec<Session>, SessionError> {
        let identity = identity.into().key();
        let now: SystemTime = self.manager.core().settings.clock.now();
        self.store.list(&identity, now).await
    }

    /// Ends session `id` of `identity`: its tokens are refused from now on, on every
    /// instance. `false` when `identity` has no such session (another identity's session
    /// is left alone). The session is revoked before the store forgets it, so a failure
    /// half-way leaves it listed, and a retry ends it. Three store calls whatever the
    /// number of sessions (with Redis: three commands).
    pub async fn end<'a>(
        &self,
        identity: impl Into<Subject<'a>>,
        id: &str,
    ) -> Result<bool, SessionError> {
        let identity = identity.into().key();
        let identity = identity.as_ref();
        let now: SystemTime = self.manager.core().settings.clock.now();
        if !self.store.contains(identity, id, now).await? {
            return Ok(false);
        }
        self.manager
            .revoke_session(id)
            .await
            .map_err(|err| SessionError::new(err.to_string()))?;
        self.store.end(identity, id).await?;
        Ok(true)
    }

    /// Ends every session of `identity` but `keep` (e.g. the current one after a password
    /// change); the number ended. They are revoked together, then forgotten together: three
    /// store calls whatever their number (with Redis: three commands), and a failure
    /// half-way leaves them listed for a retry.
    pub async fn end_all_except<'a>(
        &self,
        identity: impl Into<Subject<'a>>,
        keep: Option<&str>,
    ) -> Result<usize, SessionError> {
        let identity = identity.into().key();
        let identity = identity.as_ref();
        let now: SystemTime = self.manager.core().settings.clock.now();
        let ids: Vec<String> = self
            .store
            .list(identity, now)
            .await?
            .into_iter()
            .map(|session| session.id)
            .filter(|id| Some(id.as_str()) != keep)
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let names: Vec<&str> = ids.iter().map(String::as_str).collect();
        // As `revoke_session`: kept until every token issued until now has expired.
        let until = self.manager.all_expired_after(now);
        self.manager
            .denylist()
            .revoke_many(&names, until)
            .await
            .map_err(|err| SessionError::new(err.to_string()))?;
        self.store.end_many(identity, &ids).await
    }
}
