//! Login protection in the auth service: the client's address, the throttle consulted
//! before any hashing (see [`crate::throttle`]), and the login's audit events.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{Extensions, HeaderMap};

use super::{AuthServiceBuilder, UserStore};
use crate::throttle::{LoginThrottle, MemoryThrottle, TrustedProxies};

/// Where the TCP peer of a request is found in its extensions.
type PeerFn = dyn Fn(&Extensions) -> Option<IpAddr> + Send + Sync;

/// How logins are protected: the throttle, whose reports of the client are believed, and
/// where the TCP peer is found.
#[derive(Clone)]
pub(super) struct LoginProtection {
    pub(super) throttle: Arc<dyn LoginThrottle>,
    pub(super) proxies: TrustedProxies,
    peer: Arc<PeerFn>,
}

impl Default for LoginProtection {
    fn default() -> Self {
        Self {
            throttle: Arc::new(MemoryThrottle::default()),
            proxies: TrustedProxies::none(),
            peer: Arc::new(crate::throttle::client_peer),
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
        let user_agent = headers
            .get(http::header::USER_AGENT)
            .and_then(|ua| ua.to_str().ok())
            .map(|ua| {
                let mut end = ua.len().min(256);
                while !ua.is_char_boundary(end) {
                    end -= 1;
                }
                ua[..end].to_owned()
            });
        Client {
            addr: self.proxies.client((self.peer)(extensions), headers),
            user_agent,
        }
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
    /// [`PeerAddr`](crate::throttle::PeerAddr)). With axum, served with
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
