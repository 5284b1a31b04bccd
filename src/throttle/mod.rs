//! Login throttling (feature `service`): how many **failed** logins the auth service lets
//! through per key before it answers 429, consulted before the password is hashed, so that a
//! refused attempt costs no Argon2.
//!
//! Three keys, each with its own limit within one sliding window (OWASP's Authentication and
//! Credential Stuffing cheat sheets):
//!
//! - **(account, client)**: guessing one account's password from one address (default 10);
//! - **account**: guessing it from many addresses (default 100);
//! - **client**: one address trying many accounts, credential stuffing (default 100).
//!
//! Only failures count; unknown accounts count exactly like known ones. A login that
//! succeeds gives its attempt back and resets (account, client), so the user is not locked
//! out by their own typos once they get it right. Each key keeps the times of its recent
//! failures (a sliding log, not fixed windows: no double burst at a window's edge), so at
//! most `limit` failures of a key fall within any window; a refused attempt learns how long
//! until one more is let through (`Retry-After`).
//!
//! Backends: [`MemoryThrottle`] (one process; a bounded number of keys) and, with the
//! `redis` feature, [`RedisThrottle`] (one atomic script per attempt, Redis `TIME` as the
//! one clock, shared by every instance). The client is the TCP peer, or the address trusted
//! proxies report ([`TrustedProxies`]).
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//! use tower_jwt_auth::throttle::{Attempt, Limits, LoginThrottle, MemoryThrottle};
//!
//! let limits = Limits::new(Duration::from_secs(900)).per_account_client(2);
//! let throttle = MemoryThrottle::new(limits);
//! let from = |ip: &str| Attempt::new("ada@example.com", Some(ip.parse().unwrap()));
//!
//! // Accepted: two failures from one address.
//! for _ in 0..2 {
//!     let admitted = throttle.reserve(&from("192.0.2.1")).await.unwrap();
//!     assert!(admitted.is_admitted()); // ...the password was wrong: the failure stays.
//! }
//! // Rejected: a third from that address, for 15 minutes; another address may still try.
//! let refused = throttle.reserve(&from("192.0.2.1")).await.unwrap();
//! assert!(refused.retry_after().unwrap() > Duration::from_secs(890));
//! assert!(throttle.reserve(&from("198.51.100.7")).await.unwrap().is_admitted());
//! # }
//! ```

mod client;
mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::hash::Hasher;
use std::net::IpAddr;
use std::time::Duration;

pub(crate) use client::peer as client_peer;
pub use client::{ForwardedHeader, TrustedProxies};
pub use memory::MemoryThrottle;
#[cfg(feature = "redis")]
pub use redis::{RedisThrottle, RedisThrottleBuilder};

use crate::BoxFuture;

/// How many failed logins each key may have within one window (`0` turns a key off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "settings do nothing until given to a throttle"]
pub struct Limits {
    window: Duration,
    per_account_client: u32,
    per_account: u32,
    per_client: u32,
    ipv6_prefix: u8,
}

impl Default for Limits {
    /// 15 minutes; 10 per (account, client), 100 per account, 100 per client.
    fn default() -> Self {
        Self::new(Duration::from_secs(900))
    }
}

impl Limits {
    /// The defaults (10 per (account, client), 100 per account, 100 per client) within
    /// `window` (from a millisecond to a year).
    pub fn new(window: Duration) -> Self {
        Self {
            window: window.clamp(Duration::from_millis(1), Duration::from_secs(365 * 86_400)),
            per_account_client: 10,
            per_account: 100,
            per_client: 100,
            ipv6_prefix: 64,
        }
    }

    /// IPv6 clients are counted by their network of this many leading bits (default 64: a
    /// subscriber's network, which holds 2^64 addresses to rotate through); `128` counts each
    /// address alone.
    pub fn ipv6_prefix(mut self, bits: u8) -> Self {
        self.ipv6_prefix = bits.min(128);
        self
    }

    /// At most `n` failures per (account, client) within the window (`0`: no limit).
    pub fn per_account_client(mut self, n: u32) -> Self {
        self.per_account_client = n;
        self
    }

    /// At most `n` failures per account, from anywhere (`0`: no limit).
    pub fn per_account(mut self, n: u32) -> Self {
        self.per_account = n;
        self
    }

    /// At most `n` failures per client address, whatever the account (`0`: no limit).
    pub fn per_client(mut self, n: u32) -> Self {
        self.per_client = n;
        self
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// What a key of `attempt` is made of, as bytes, for a backend to hash (the same on
    /// every machine, so that keys can be shared through a store): the kind, the account
    /// (trimmed, lowercased) and the client (an IPv6 client by its network of
    /// [`ipv6_prefix`](Self::ipv6_prefix) bits).
    pub fn key(&self, attempt: &Attempt<'_>, kind: KeyKind, into: &mut impl Hasher) {
        attempt.key(kind, self.ipv6_prefix, into)
    }

    /// The limit of `key` (`0`: off).
    pub fn limit(&self, key: KeyKind) -> u32 {
        match key {
            KeyKind::AccountClient => self.per_account_client,
            KeyKind::Account => self.per_account,
            KeyKind::Client => self.per_client,
        }
    }

    /// The keys of `attempt` that have a limit: the client's only when the client is known.
    pub(crate) fn keys<'a>(
        &'a self,
        attempt: &'a Attempt<'a>,
    ) -> impl Iterator<Item = (KeyKind, u32)> + 'a {
        KeyKind::ALL.into_iter().filter_map(move |kind| {
            let limit = self.limit(kind);
            let applies = kind == KeyKind::Account || attempt.client.is_some();
            (limit > 0 && applies).then_some((kind, limit))
        })
    }
}

/// Which key a failed login is counted under.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// The account named, from this client.
    AccountClient,
    /// The account named, from anywhere.
    Account,
    /// This client, whatever the account.
    Client,
}

impl KeyKind {
    const ALL: [KeyKind; 3] = [KeyKind::AccountClient, KeyKind::Account, KeyKind::Client];

    /// `account_client`, `account` or `client` (audit events, metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::AccountClient => "account_client",
            KeyKind::Account => "account",
            KeyKind::Client => "client",
        }
    }
}

/// One login attempt: the account it names (as typed: it is normalised here) and the
/// client's address, when known.
#[derive(Clone, Debug)]
pub struct Attempt<'a> {
    account: &'a str,
    client: Option<IpAddr>,
}

impl<'a> Attempt<'a> {
    /// An attempt at `account` from `client` (`None`: unknown, the client's keys are off).
    pub fn new(account: &'a str, client: Option<IpAddr>) -> Self {
        Self { account, client }
    }

    /// The account as typed.
    pub fn account(&self) -> &str {
        self.account
    }

    /// The client's address, when known.
    pub fn client(&self) -> Option<IpAddr> {
        self.client
    }

    /// What a key of this attempt is made of, as bytes (the same on every machine, for keys
    /// shared through a store): its kind, the account (trimmed, lowercased: `Ada@Example.com `
    /// is `ada@example.com`'s key, so case does not buy more guesses) and the client (an
    /// IPv6 client by its network of `ipv6_prefix` bits). Backends hash it; never stored as
    /// it is. A user store that finds accounts more loosely (accent-insensitive collations,
    /// Unicode normalisation) gives an attacker a budget per spelling: make its logins
    /// canonical before they reach the service.
    pub(crate) fn key(&self, kind: KeyKind, ipv6_prefix: u8, into: &mut impl Hasher) {
        into.write(kind.as_str().as_bytes());
        // 0xff never occurs in UTF-8: the parts cannot run into each other.
        into.write(&[0xff]);
        if kind != KeyKind::Client {
            let account = self.account.trim();
            if account
                .bytes()
                .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
            {
                // The usual case, in one write.
                into.write(account.as_bytes());
            } else {
                let mut utf8 = [0u8; 4];
                for c in account.chars().flat_map(char::to_lowercase) {
                    into.write(c.encode_utf8(&mut utf8).as_bytes());
                }
            }
            into.write(&[0xff]);
        }
        if kind != KeyKind::Account {
            // An IPv4-mapped IPv6 address is the IPv4 client it maps.
            let client = self.client.map(|ip| ip.to_canonical());
            match client {
                Some(IpAddr::V4(v4)) => into.write(&v4.octets()),
                Some(IpAddr::V6(v6)) => {
                    let bits = u32::from(ipv6_prefix.min(128));
                    let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                    into.write(&(u128::from(v6) & mask).to_be_bytes());
                    into.write(&[ipv6_prefix]);
                }
                None => {}
            }
        }
    }
}

/// A throttle's answer to an attempt.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Let through; the attempt counts as a failure unless
    /// [`succeeded`](LoginThrottle::succeeded) is told otherwise.
    Admitted(Reservation),
    /// Refused: a key is exhausted. Nothing was counted.
    Throttled {
        /// How long until the key lets one more attempt through.
        retry_after: Duration,
        /// The key that refused (the one to wait longest for, when several did).
        key: KeyKind,
    },
}

impl Admission {
    /// Whether the attempt may go on.
    pub fn is_admitted(&self) -> bool {
        matches!(self, Admission::Admitted(_))
    }

    /// How long a refused attempt has to wait; `None` when admitted.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Admission::Admitted(_) => None,
            Admission::Throttled { retry_after, .. } => Some(*retry_after),
        }
    }
}

/// The failure an admitted attempt counts as until it succeeds: an id, unique among the
/// attempts a throttle keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation(pub(crate) u64);

impl Reservation {
    /// A new reservation id (for a [`LoginThrottle`] of your own).
    pub fn new() -> Self {
        Self(reservation_id())
    }

    /// The id.
    pub fn id(&self) -> u64 {
        self.0
    }
}

impl Default for Reservation {
    fn default() -> Self {
        Self::new()
    }
}

crate::error::store_error!(
    /// The throttle's store could not answer; the auth service then fails closed (503).
    ThrottleError,
    "login throttle unavailable"
);

/// Counts failed logins; see the [module docs](self).
pub trait LoginThrottle: Send + Sync + 'static {
    /// Admits `attempt` and counts it as a failure on each of its keys, or refuses it
    /// (counting nothing) when a key has had its limit of failures within the window. Atomic
    /// over the keys: concurrent attempts never together exceed a limit.
    fn reserve<'a>(
        &'a self,
        attempt: &'a Attempt<'a>,
    ) -> BoxFuture<'a, Result<Admission, ThrottleError>>;

    /// The admitted attempt succeeded: its failure is taken back from the account's and the
    /// client's keys, and (account, client) is reset.
    fn succeeded<'a>(
        &'a self,
        attempt: &'a Attempt<'a>,
        reservation: Reservation,
    ) -> BoxFuture<'a, Result<(), ThrottleError>>;

    /// The admitted attempt was not decided (the user store or the hasher could not
    /// answer, 503): its failure is taken back from every key, nothing is reset. An
    /// overloaded server does not lock its users out.
    fn released<'a>(
        &'a self,
        attempt: &'a Attempt<'a>,
        reservation: Reservation,
    ) -> BoxFuture<'a, Result<(), ThrottleError>>;
}

/// A shared throttle (`Arc<dyn LoginThrottle>` chosen at run time, as the example server
/// does) is one too.
impl<T: LoginThrottle + ?Sized> LoginThrottle for std::sync::Arc<T> {
    fn reserve<'a>(
        &'a self,
        attempt: &'a Attempt<'a>,
    ) -> BoxFuture<'a, Result<Admission, ThrottleError>> {
        (**self).reserve(attempt)
    }

    fn succeeded<'a>(
        &'a self,
        attempt: &'a Attempt<'a>,
        reservation: Reservation,
    ) -> BoxFuture<'a, Result<(), ThrottleError>> {
        (**self).succeeded(attempt, reservation)
    }

    fn released<'a>(
        &'a self,
        attempt: &'a Attempt<'a>,
        reservation: Reservation,
    ) -> BoxFuture<'a, Result<(), ThrottleError>> {
        (**self).released(attempt, reservation)
    }
}

/// An id for a reservation, unique in this process (and, with its random start, across
/// processes sharing a store).
pub(crate) fn reservation_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::LazyLock;
    static NEXT: LazyLock<AtomicU64> =
        LazyLock::new(|| AtomicU64::new(uuid::Uuid::new_v4().as_u64_pair().0 >> 1));
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// `Retry-After` in whole seconds, at least 1.
pub(crate) fn whole_seconds(wait: f64) -> Duration {
    Duration::from_secs(wait.ceil().max(1.0) as u64)
}
