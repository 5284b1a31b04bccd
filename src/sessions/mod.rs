//! Sessions: refresh-token rotation with reuse detection (RFC 9700 §4.14.2), and the
//! sessions a user can see and end.
//!
//! With rotation on ([`refresh_rotation`]), each login starts a *session* (a family of
//! tokens): its access and refresh tokens carry the session's id in
//! the `sid` claim (an extra claim, so Flask-JWT-Extended still reads them). Every
//! `POST /refresh` answers a new refresh token and spends the one presented. Presenting a
//! spent refresh token means two parties hold it — the user and a thief, and the server
//! cannot tell which is which — so the whole session is revoked: its current refresh token
//! and every access token issued in it are refused from then on, on every instance. The
//! one exception is the token spent **just before** the current one, presented within a
//! short grace period (10 s by default): two tabs refreshing at once. It answers a working
//! refresh token of the session and raises no alarm.
//!
//! The grace period is a trade-off: a thief replaying the previous token within it gets a
//! working token too (without ending the session); a longer grace tolerates slower
//! concurrent clients. `Duration::ZERO` turns it off.
//!
//! A [`SessionStore`] keeps, per session, the current refresh token's `jti`, the one before
//! it and when it was spent; its check-and-rotate is one atomic step
//! ([`MemorySessionStore`] in process, [`RedisSessionStore`] shared by several instances).
//! A session's revocation goes through the manager's [`Denylist`](crate::denylist::Denylist) as the
//! session id, which guards check next to the token's own `jti`: it reaches other instances
//! as fast as any revocation.
//!
//! [`refresh_rotation`]: crate::service::AuthServiceBuilder::refresh_rotation
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::{Duration, SystemTime};
//! use tower_jwt_auth::sessions::{MemorySessionStore, Rotate, Rotation, Session, SessionStore};
//!
//! let store = MemorySessionStore::new();
//! let now = SystemTime::now();
//! let session = Session::new("s1", "ada", now);
//! store.start(&session, "jti-1", None).await.unwrap();
//!
//! let rotate = |presented, next, at| Rotate {
//!     session: "s1",
//!     identity: "ada",
//!     presented,
//!     next,
//!     now: at,
//!     grace: Duration::from_secs(10),
//!     until: None,
//! };
//! // The current token rotates; its predecessor within the grace is a concurrent refresh.
//! assert_eq!(store.rotate(rotate("jti-1", "jti-2", now)).await.unwrap(), Rotation::Rotated);
//! let concurrent = store.rotate(rotate("jti-1", "jti-3", now)).await.unwrap();
//! assert_eq!(concurrent, Rotation::Concurrent { current: "jti-2".into() });
//!
//! // Refused: the spent token after the grace is a reuse, and the session is over.
//! let later = now + Duration::from_secs(11);
//! assert_eq!(store.rotate(rotate("jti-1", "jti-4", later)).await.unwrap(), Rotation::Reused);
//! assert!(store.list("ada", later).await.unwrap().is_empty());
//! # }
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::BoxFuture;

mod memory;
pub use memory::MemorySessionStore;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::RedisSessionStore;

/// One session: a login and the tokens refreshed from it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a session does nothing until stored"]
pub struct Session {
    /// The session's id (the `sid` claim of its tokens).
    pub id: String,
    /// Whose session it is.
    pub identity: String,
    /// When the session started (the login).
    pub created_at: SystemTime,
    /// When its refresh token was last rotated (`created_at` until then).
    pub last_refreshed_at: SystemTime,
    /// The `User-Agent` of the login, when the caller recorded it.
    pub user_agent: Option<String>,
}

impl Session {
    /// A session `id` of `identity` starting at `created_at`.
    pub fn new(id: impl Into<String>, identity: impl Into<String>, created_at: SystemTime) -> Self {
        Self {
            id: id.into(),
            identity: identity.into(),
            created_at,
            last_refreshed_at: created_at,
            user_agent: None,
        }
    }

    /// The same session, recording the login's `User-Agent`.
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }
}

/// A check-and-rotate request: the refresh token `presented` of `session` is spent and
/// `next` becomes the current one, if `presented` is the current token.
#[derive(Clone, Copy, Debug)]
pub struct Rotate<'a> {
    /// The session (the presented token's `sid`).
    pub session: &'a str,
    /// The presented token's identity: a session of another identity is not found.
    pub identity: &'a str,
    /// The `jti` of the refresh token presented.
    pub presented: &'a str,
    /// The `jti` of the refresh token issued to replace it.
    pub next: &'a str,
    /// Now, by the manager's clock: when the session was last refreshed. A store shared by
    /// several instances measures the grace on its own clock instead (Redis's `TIME` for
    /// [`RedisSessionStore`]), so that instances whose clocks disagree decide alike.
    pub now: SystemTime,
    /// How long after it was spent the previous token still counts as a concurrent refresh.
    pub grace: Duration,
    /// When the session may be forgotten (its new tokens' expiry); `None`: never.
    pub until: Option<SystemTime>,
}

/// What a check-and-rotate found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rotation {
    /// The presented token was the current one: `next` is current now.
    Rotated,
    /// The presented token is the one just before the current one, within the grace: a
    /// concurrent refresh. Nothing changed; `current` is the current token's `jti`.
    Concurrent {
        /// The `jti` of the session's current refresh token.
        current: String,
    },
    /// Any other spent token (or the previous one after the grace): the session has been
    /// ended in the store and must be revoked.
    Reused,
    /// No such session of this identity (ended, expired, or never started).
    Ended,
}

crate::error::store_error!(
    /// The session store could not answer.
    SessionError,
    "session store error"
);

/// Where sessions live: per session, the current refresh token's `jti`, the one before it
/// and when it was spent. Implement it for a database shared by several instances; its
/// [`rotate`](Self::rotate) must be one atomic step.
pub trait SessionStore: Send + Sync + 'static {
    /// Starts `session`, whose current refresh token is `refresh_jti`, kept until `until`
    /// (`None`: never).
    fn start<'a>(
        &'a self,
        session: &'a Session,
        refresh_jti: &'a str,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), SessionError>>;

    /// Checks the presented token and rotates, atomically: see [`Rotation`]. On
    /// [`Rotation::Reused`] the session is ended in the store.
    fn rotate<'a>(&'a self, rotate: Rotate<'a>) -> BoxFuture<'a, Result<Rotation, SessionError>>;

    /// The live sessions of `identity`, oldest first.
    fn list<'a>(
        &'a self,
        identity: &'a str,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Vec<Session>, SessionError>>;

    /// Ends session `id` of `identity`: `false` when `identity` has no such session.
    fn end<'a>(
        &'a self,
        identity: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<bool, SessionError>>;

    /// Whether `identity` has the live session `id` (another identity's is not found).
    /// The default lists the identity's sessions; a store should answer in one lookup
    /// whatever their number ([`Sessions::end`](crate::service::Sessions::end) asks it).
    fn contains<'a>(
        &'a self,
        identity: &'a str,
        id: &'a str,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<bool, SessionError>> {
        Box::pin(async move {
            let sessions = self.list(identity, now).await?;
            Ok(sessions.iter().any(|s| s.id == id))
        })
    }

    /// Ends the sessions `ids` of `identity` (another identity's are left alone): the
    /// number ended. The default ends them one by one; a store should end them in one
    /// step ([`Sessions::end_all_except`](crate::service::Sessions::end_all_except) asks
    /// it).
    fn end_many<'a>(
        &'a self,
        identity: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<usize, SessionError>> {
        Box::pin(async move {
            let mut ended = 0;
            for id in ids {
                if self.end(identity, id).await? {
                    ended += 1;
                }
            }
            Ok(ended)
        })
    }
}

/// A shared store is a store: `Arc<dyn SessionStore>` chosen at run time (e.g. Redis or a
/// database, by configuration).
impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    fn start<'a>(
        &'a self,
        session: &'a Session,
        refresh_jti: &'a str,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), SessionError>> {
        (**self).start(session, refresh_jti, until)
    }

    fn rotate<'a>(&'a self, rotate: Rotate<'a>) -> BoxFuture<'a, Result<Rotation, SessionError>> {
        (**self).rotate(rotate)
    }

    fn list<'a>(
        &'a self,
        identity: &'a str,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Vec<Session>, SessionError>> {
        (**self).list(identity, now)
    }

    fn end<'a>(
        &'a self,
        identity: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<bool, SessionError>> {
        (**self).end(identity, id)
    }

    fn contains<'a>(
        &'a self,
        identity: &'a str,
        id: &'a str,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<bool, SessionError>> {
        (**self).contains(identity, id, now)
    }

    fn end_many<'a>(
        &'a self,
        identity: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<usize, SessionError>> {
        (**self).end_many(identity, ids)
    }
}
