//! The in-process [`MemorySessionStore`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{Rotate, Rotation, Session, SessionError, SessionStore};
use crate::BoxFuture;

/// Sessions in process memory: enough for one instance (use [`RedisSessionStore`] for
/// several). A session is forgotten after its `until`, or when it ends; expired sessions
/// are swept at most once a minute, when a session starts. Cheap to clone; clones share the
/// sessions.
///
/// [`RedisSessionStore`]: super::RedisSessionStore
#[derive(Clone, Debug, Default)]
pub struct MemorySessionStore {
    sessions: Arc<Mutex<Sessions>>,
}

#[derive(Debug, Default)]
struct Sessions {
    /// Identity → session id → state.
    by_identity: HashMap<String, HashMap<String, State>>,
    /// When expired sessions are swept next.
    next_sweep: Option<SystemTime>,
}

#[derive(Clone, Debug)]
struct State {
    session: Session,
    current: String,
    /// The token spent last, and when.
    previous: Option<(String, SystemTime)>,
    until: Option<SystemTime>,
}

impl State {
    fn live(&self, now: SystemTime) -> bool {
        self.until.is_none_or(|until| until > now)
    }
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` on the sessions of `identity`, under the lock; an identity left without
    /// sessions is forgotten.
    fn with<T>(&self, identity: &str, f: impl FnOnce(&mut HashMap<String, State>) -> T) -> T {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let mut mine = sessions.by_identity.remove(identity).unwrap_or_default();
        let answer = f(&mut mine);
        if !mine.is_empty() {
            sessions.by_identity.insert(identity.to_owned(), mine);
        }
        answer
    }

    /// Drops every expired session, at most once a minute.
    fn sweep(&self, now: SystemTime) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.next_sweep.is_some_and(|next| now < next) {
            return;
        }
        sessions.next_sweep = Some(now + Duration::from_secs(60));
        sessions.by_identity.retain(|_, mine| {
            mine.retain(|_, s| s.live(now));
            !mine.is_empty()
        });
    }

    /// How many live sessions the store holds (for tests and metrics).
    pub fn len(&self) -> usize {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.by_identity.values().map(HashMap::len).sum()
    }

    /// Whether the store holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SessionStore for MemorySessionStore {
    fn start<'a>(
        &'a self,
        session: &'a Session,
        refresh_jti: &'a str,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), SessionError>> {
        self.sweep(session.created_at);
        self.with(&session.identity, |mine| {
            mine.retain(|_, s| s.live(session.created_at));
            mine.insert(
                session.id.clone(),
                State {
                    session: session.clone(),
                    current: refresh_jti.to_owned(),
                    previous: None,
                    until,
                },
            );
        });
        Box::pin(std::future::ready(Ok(())))
    }

    fn rotate<'a>(&'a self, r: Rotate<'a>) -> BoxFuture<'a, Result<Rotation, SessionError>> {
        let outcome = self.with(r.identity, |mine| {
            let Some(state) = mine.get_mut(r.session).filter(|s| s.live(r.now)) else {
                mine.remove(r.session);
                return Rotation::Ended;
            };
            if state.current == r.presented {
                let spent = std::mem::replace(&mut state.current, r.next.to_owned());
                state.previous = Some((spent, r.now));
                state.session.last_refreshed_at = r.now;
                state.until = r.until;
                return Rotation::Rotated;
            }
            let within_grace = |spent_at: SystemTime| {
                r.now.duration_since(spent_at).unwrap_or(Duration::ZERO) < r.grace
            };
            match &state.previous {
                Some((previous, spent_at))
                    if previous == r.presented && within_grace(*spent_at) =>
                {
                    Rotation::Concurrent {
                        current: state.current.clone(),
                    }
                }
                _ => {
                    mine.remove(r.session);
                    Rotation::Reused
                }
            }
        });
        Box::pin(std::future::ready(Ok(outcome)))
    }

    fn list<'a>(
        &'a self,
        identity: &'a str,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Vec<Session>, SessionError>> {
        let mut sessions: Vec<Session> = self.with(identity, |mine| {
            mine.retain(|_, s| s.live(now));
            mine.values().map(|s| s.session.clone()).collect()
        });
        sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Box::pin(std::future::ready(Ok(sessions)))
    }

    fn end<'a>(
        &'a self,
        identity: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<bool, SessionError>> {
        let ended = self.with(identity, |mine| mine.remove(id).is_some());
        Box::pin(std::future::ready(Ok(ended)))
    }

    fn contains<'a>(
        &'a self,
        identity: &'a str,
        id: &'a str,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<bool, SessionError>> {
        let found = self.with(identity, |mine| mine.get(id).is_some_and(|s| s.live(now)));
        Box::pin(std::future::ready(Ok(found)))
    }

    fn end_many<'a>(
        &'a self,
        identity: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<usize, SessionError>> {
        let ended = self.with(identity, |mine| {
            ids.iter()
                .filter(|id| mine.remove(id.as_str()).is_some())
                .count()
        });
        Box::pin(std::future::ready(Ok(ended)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn expired_sessions_are_swept() {
        let store = MemorySessionStore::new();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let until = Some(t0 + Duration::from_secs(30));
        for who in ["a", "b", "c"] {
            let session = Session::new(format!("s-{who}"), who, t0);
            store.start(&session, "j", until).await.unwrap();
        }
        assert_eq!(store.len(), 3);
        // A minute later, the next start sweeps the three expired sessions (and their
        // identities) away.
        let later = t0 + Duration::from_secs(61);
        store
            .start(&Session::new("s-d", "d", later), "j", None)
            .await
            .unwrap();
        assert_eq!(store.len(), 1);
        let identities = store.sessions.lock().unwrap().by_identity.len();
        assert_eq!(identities, 1);
    }
}
