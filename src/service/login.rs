//! Login protection in the auth service: the client's address, the throttle consulted
//! before any hashing (see [`crate::throttle`]), and the login's audit events.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{Extensions, HeaderMap};

use super::{AuthServiceBuilder, UserStore};
use crate::throttle::{
    Admission, Attempt, LoginThrottle, MemoryThrottle, Reservation, TrustedProxies,
};

/// Where the TCP peer of a request is found in its extensions.
type PeerFn = dyn Fn(&Extensions) -> Option<IpAddr> + Send + Sync;

/// How logins are protected: the throttle, whose reports of the client are believed, and
/// where the TCP peer is found.
#[derive(Clone)]
pub(super) struct LoginProtection {
    pub(super) throttle: Arc<dyn LoginThrottle>,
    pub(super) proxies: TrustedProxies,
    peer: Arc<PeerFn>,
    locks: Arc<LockLog>,
}

impl Default for LoginProtection {
    fn default() -> Self {
        Self {
            throttle: Arc::new(MemoryThrottle::default()),
            proxies: TrustedProxies::none(),
            peer: Arc::new(crate::throttle::client_peer),
            locks: LockLog::shared(),
        }
    }
}

impl fmt::Debug for LoginProtection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginProtection")
            .field("proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

/// Who is logging in, read before the body: for the throttle and the audit events.
pub(super) struct Client {
    pub(super) addr: Option<IpAddr>,
    /// The `User-Agent`, at most 256 bytes (it is the client's to write).
    pub(super) user_agent: Option<String>,
}

impl Client {
    /// The address as audit events show it.
    pub(super) fn addr(&self) -> String {
        self.addr
            .map_or_else(|| "unknown".into(), |a| a.to_string())
    }

    pub(super) fn user_agent(&self) -> &str {
        self.user_agent.as_deref().unwrap_or("")
    }
}

impl LoginProtection {
    /// The client of a request with these extensions and headers.
    pub(super) fn client(&self, extensions: &Extensions, headers: &HeaderMap) -> Client {
        let peer = (self.peer)(extensions);
        if peer.is_none() {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                tracing::warn!(
                    "login: no peer address in the request (see AuthServiceBuilder::peer_addr): \
                     failed logins are counted per account only"
                )
            });
        }
        let user_agent = crate::audit::user_agent(headers);
        Client {
            addr: self.proxies.client(peer, headers),
            user_agent: (!user_agent.is_empty()).then(|| user_agent.to_owned()),
        }
    }

    /// Admits an attempt at `account` from `client`: the pending attempt, or why not.
    pub(super) async fn admit(&self, account: &str, client: &Client) -> Result<Pending, Refused> {
        let attempt = Attempt::new(account, client.addr);
        match self.throttle.reserve(&attempt).await {
            Ok(Admission::Admitted(reservation)) => Ok(Pending {
                throttle: self.throttle.clone(),
                account: account.to_owned(),
                client: client.addr,
                reservation,
                decided: false,
            }),
            Ok(Admission::Throttled { retry_after, key }) => {
                crate::telemetry::throttled(key);
                if let Some(suppressed) = self.locks.may_log() {
                    tracing::warn!(
                        target: "tower_jwt_auth::audit",
                        event = "authn_login_lock",
                        key = key.as_str(),
                        retry_after = retry_after.as_secs(),
                        client = %client.addr(),
                        user_agent = ?client.user_agent(),
                        suppressed,
                        "login throttled"
                    );
                }
                Err(Refused::Throttled(retry_after))
            }
            Err(err) => {
                tracing::warn!(outcome = "error", "login: {}", crate::error::Report(&err));
                Err(Refused::Unavailable)
            }
        }
    }
}

/// Why a login was not let through to the password check.
pub(super) enum Refused {
    /// A key is exhausted: 429 with this `Retry-After`.
    Throttled(Duration),
    /// The throttle's store could not answer: 503.
    Unavailable,
}

/// An admitted attempt, not decided yet. Decided by [`failed`](Self::failed) (it stays
/// counted), [`succeeded`](Self::succeeded) or [`released`](Self::released). Dropped
/// undecided (the client went away mid-hash, and the request's future with it), it is
/// given back to the account on a task of its own, so that nobody locks an account by
/// hanging up; it stays counted for the client, whose hash kept a thread busy (hanging up
/// as soon as hashing starts is no free way to load the pool).
pub(super) struct Pending {
    throttle: Arc<dyn LoginThrottle>,
    account: String,
    client: Option<IpAddr>,
    reservation: Reservation,
    decided: bool,
}

impl Pending {
    /// The password was wrong (or the account unknown): the failure stays.
    pub(super) fn failed(mut self) {
        self.decided = true;
    }

    /// The login succeeded: given back, (account, client) reset.
    pub(super) async fn succeeded(mut self) {
        self.decided = true;
        let attempt = Attempt::new(&self.account, self.client);
        if let Err(err) = self.throttle.succeeded(&attempt, self.reservation).await {
            tracing::warn!(outcome = "error", "login: {}", crate::error::Report(&err));
        }
    }

    /// Undecided (the user store or the hasher could not answer): given back.
    pub(super) async fn released(mut self) {
        self.decided = true;
        let attempt = Attempt::new(&self.account, self.client);
        if let Err(err) = self.throttle.released(&attempt, self.reservation).await {
            tracing::warn!(outcome = "error", "login: {}", crate::error::Report(&err));
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.decided {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (throttle, account) = (self.throttle.clone(), std::mem::take(&mut self.account));
        tracing::debug!("login: cancelled undecided; given back to the account");
        let reservation = self.reservation;
        // Without the client, the attempt's keys are the account's alone.
        runtime.spawn(async move {
            let attempt = Attempt::new(&account, None);
            let _ = throttle.released(&attempt, reservation).await;
        });
    }
}

/// At most [`LockLog::PER_SECOND`] `authn_login_lock` events a second: a refused attempt
/// is cheap for an attacker, and its event must not be a way to fill the disks. The next
/// event logged says how many were left out.
#[derive(Default)]
pub(super) struct LockLog(std::sync::Mutex<(Option<std::time::Instant>, u32, u64)>);

impl LockLog {
    const PER_SECOND: u32 = 10;

    /// The process's one limit: several services (the example's two) share it.
    fn shared() -> Arc<Self> {
        static SHARED: std::sync::LazyLock<Arc<LockLog>> = std::sync::LazyLock::new(Arc::default);
        SHARED.clone()
    }

    /// `Some(events left out since the last one logged)` when this one may be logged.
    fn may_log(&self) -> Option<u64> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (since, count, suppressed) = &mut *state;
        let now = std::time::Instant::now();
        if since.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1)) {
            (*since, *count) = (Some(now), 0);
        }
        if *count >= Self::PER_SECOND {
            *suppressed += 1;
            return None;
        }
        *count += 1;
        Some(std::mem::take(suppressed))
    }
}

/// `Retry-After` for a throttled login.
pub(super) fn retry_after(wait: Duration) -> http::HeaderValue {
    http::HeaderValue::from(wait.as_secs().max(1))
}

impl<U: UserStore> AuthServiceBuilder<U> {
    /// The login throttle (default: a [`MemoryThrottle`] with the default
    /// [`Limits`](crate::throttle::Limits): 10 failures per (account, client), 100 per
    /// account, 100 per client within 15 minutes). Share one throttle between services (it
    /// is cheap to clone), and use a [`RedisThrottle`](crate::throttle::RedisThrottle) for
    /// several instances. Limits of `0` turn keys off.
    pub fn login_throttle(mut self, throttle: impl LoginThrottle) -> Self {
        self.login.throttle = Arc::new(throttle);
        self
    }

    /// The proxies whose `X-Forwarded-For` (or `Forwarded`) names the client (default
    /// none: the client is the TCP peer, and those headers are ignored).
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.login.proxies = proxies;
        self
    }

    /// Where the TCP peer of a request is found in its extensions (default:
    /// [`PeerAddr`](crate::audit::PeerAddr)). With axum, served with
    /// `into_make_service_with_connect_info::<SocketAddr>()`:
    /// `.peer_addr(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0))`. Without a
    /// peer address the client's keys are off (the account's still count).
    pub fn peer_addr<F>(mut self, peer: F) -> Self
    where
        F: Fn(&Extensions) -> Option<SocketAddr> + Send + Sync + 'static,
    {
        self.login.peer = Arc::new(move |ext| peer(ext).map(|addr| addr.ip()));
        self
    }
}
