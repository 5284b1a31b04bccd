//! Metrics an operator can alert on (feature `metrics`), on the [`metrics`] facade: the
//! application installs a recorder (a Prometheus exporter, an OpenTelemetry bridge) **before
//! the first event** (before building the manager and its layers is simplest): the crate
//! registers its handles once, at the first event, with the recorder installed then, and
//! keeps them for the life of the process. So a recorder installed later records nothing
//! from the crate, and `metrics::with_local_recorder` does not see the crate's events: test
//! with a global recorder in a process of its own. Every
//! label comes from a fixed set: never an identity, a token, a `jti`, an address or a path,
//! so the number of series does not grow with users, tokens or clients (tested). Without the
//! feature nothing is compiled in; with it and no recorder, an event costs a branch.
//!
//! Names follow OpenTelemetry's semantic-convention style under one prefix, counters ending
//! in `.total` and durations in `.seconds` so that a Prometheus exporter (which writes `_`
//! for `.`) gives the names Prometheus expects (`tower_jwt_auth_login_attempts_total`,
//! `tower_jwt_auth_guard_duration_seconds`).
//!
//! | name | type | labels | what to alert on |
//! |---|---|---|---|
//! | `tower_jwt_auth.guard.requests.total` | counter | `result` (`accepted`, `anonymous`, `refused`), `reason` (`none`, `missing`, `expired`, `revoked`, `invalid`, `wrong_type`, `not_fresh`, `forbidden`, `store_unavailable`) | a rise of `invalid` (forged, foreign or malformed tokens, a CSRF mismatch, a key not (yet) known), any `store_unavailable` (guards failing closed) |
//! | `tower_jwt_auth.guard.duration.seconds` | histogram (s) | `result` (`accepted`, `refused`) | p99 over a few µs: slow keys or claims (one verification in 64, of those decided without waiting: a Redis lookup or an async hook is not in it) |
//! | `tower_jwt_auth.guard.memo_hits.total` | counter | — | (capacity planning: the memo's share of accepted requests) |
//! | `tower_jwt_auth.login.attempts.total` | counter | `result` (`success`, `failure`, `throttled`, `unavailable`) | `failure`/`throttled` far above their baseline: a guessing campaign; any `unavailable` |
//! | `tower_jwt_auth.login.throttled.total` | counter | `key` (`account_client`, `account`, `client`) | `account` rising: accounts being locked for everyone |
//! | `tower_jwt_auth.refresh.requests.total` | counter | `result` (`success`, `failure`, `reuse_detected`) | any `reuse_detected`: a stolen refresh token was replayed (a refresh token its guard refuses, expired or revoked, counts in `guard.requests`) |
//! | `tower_jwt_auth.revocations.total` | counter | `kind` (`token`, `all`, `session`) | (audit volume: tokens revoked (a logout revokes one or two), revoke-alls (password changes), sessions ended) |
//! | `tower_jwt_auth.password.queue` | gauge | — | above the pool's size for long: logins wait for hashing |
//! | `tower_jwt_auth.password.hash.duration.seconds` | histogram (s) | — | p50 far from the configured cost: a noisy neighbour or a wrong parameter |
//! | `tower_jwt_auth.denylist.size` | gauge | `store` (`memory`, `redis`) | growth without bound (tokens that never expire are revoked); set on revocations, at most once a second; expired entries count until swept |
//! | `tower_jwt_auth.revocation_view.trusted` | gauge (0/1) | `store` (`redis`) | 0 for more than a few seconds: the instance asks Redis for every token |
//! | `tower_jwt_auth.jwks.fetches.total` | counter | `result` (`success`, `failure`) | `failure` rising: an outside issuer's keys are stale |
//!
//! ```
//! # #[cfg(feature = "metrics")]
//! # {
//! use tower_jwt_auth::telemetry::METRICS;
//!
//! // Every metric the crate records, e.g. to describe them to a dashboard.
//! assert!(METRICS.contains(&"tower_jwt_auth.login.attempts.total"));
//! # }
//! ```

/// The name of every metric the crate records.
pub const METRICS: &[&str] = &[
    GUARD_REQUESTS,
    GUARD_DURATION,
    MEMO_HITS,
    LOGIN_ATTEMPTS,
    LOGIN_THROTTLED,
    REFRESH_REQUESTS,
    REVOCATIONS,
    PASSWORD_QUEUE,
    PASSWORD_HASH_DURATION,
    DENYLIST_SIZE,
    VIEW_TRUSTED,
    JWKS_FETCHES,
];

const GUARD_REQUESTS: &str = "tower_jwt_auth.guard.requests.total";
const GUARD_DURATION: &str = "tower_jwt_auth.guard.duration.seconds";
const MEMO_HITS: &str = "tower_jwt_auth.guard.memo_hits.total";
const LOGIN_ATTEMPTS: &str = "tower_jwt_auth.login.attempts.total";
const LOGIN_THROTTLED: &str = "tower_jwt_auth.login.throttled.total";
const REFRESH_REQUESTS: &str = "tower_jwt_auth.refresh.requests.total";
const REVOCATIONS: &str = "tower_jwt_auth.revocations.total";
const PASSWORD_QUEUE: &str = "tower_jwt_auth.password.queue";
const PASSWORD_HASH_DURATION: &str = "tower_jwt_auth.password.hash.duration.seconds";
const DENYLIST_SIZE: &str = "tower_jwt_auth.denylist.size";
const VIEW_TRUSTED: &str = "tower_jwt_auth.revocation_view.trusted";
const JWKS_FETCHES: &str = "tower_jwt_auth.jwks.fetches.total";

/// Why a guard refused a request (the `reason` label).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
const REASONS: [&str; 8] = [
    "missing",
    "expired",
    "revoked",
    "invalid",
    "wrong_type",
    "not_fresh",
    "forbidden",
    "store_unavailable",
];

/// The `reason` of a refusal of `kind` (an index into [`REASONS`]).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
fn reason(kind: crate::error::ErrorKind) -> usize {
    use crate::error::ErrorKind as K;
    // Every kind named: a new one needs a decision, not a silent `invalid`.
    match kind {
        K::MissingToken => 0,
        K::Expired => 1,
        K::Revoked => 2,
        K::BadHeader
        | K::BadQueryParameter
        | K::Csrf
        | K::BodyTooLarge
        | K::BodyUnreadable
        | K::TooLarge
        | K::Malformed
        | K::AlgorithmNotAllowed
        | K::InvalidSignature
        | K::UnknownKey
        | K::NotYetValid
        | K::InvalidClaim
        | K::InvalidAudience
        | K::InvalidIssuer
        | K::InvalidSubject
        | K::UserClaimsVerification
        | K::UserLookup => 3,
        K::WrongTokenType => 4,
        K::FreshTokenRequired => 5,
        K::InsufficientScope => 6,
        K::RevocationStoreUnavailable | K::UserStoreUnavailable => 7,
    }
}

/// A login's outcome (the `result` label).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) enum Login {
    Success = 0,
    Failure = 1,
    Throttled = 2,
    Unavailable = 3,
}

/// A refresh's outcome (the `result` label).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) enum Refresh {
    Success = 0,
    Failure = 1,
    ReuseDetected = 2,
}

/// What was revoked (the `kind` label).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) enum Revocation {
    Token = 0,
    All = 1,
    Session = 2,
}

/// Where a denylist keeps its entries (the `store` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) enum Store {
    Memory = 0,
    Redis = 1,
}

#[cfg(feature = "metrics")]
mod on {
    use std::cell::Cell;
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use metrics::{
        counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
    };
    use metrics::{Counter, Gauge, Histogram};

    use super::*;

    /// Every handle, registered once (at first use) with the recorder installed then.
    struct Handles {
        accepted: Counter,
        anonymous: Counter,
        refused: [Counter; 8],
        accepted_duration: Histogram,
        refused_duration: Histogram,
        memo_hits: Counter,
        logins: [Counter; 4],
        throttled: [Counter; 3],
        refreshes: [Counter; 3],
        revocations: [Counter; 3],
        password_queue: Gauge,
        hash_duration: Histogram,
        denylist_size: [Gauge; 2],
        view_trusted: Gauge,
        jwks: [Counter; 2],
    }

    static HANDLES: OnceLock<Handles> = OnceLock::new();

    fn handles() -> &'static Handles {
        HANDLES.get_or_init(register)
    }

    fn register() -> Handles {
        describe_counter!(
            GUARD_REQUESTS,
            "Requests a guard layer decided, by result and reason"
        );
        describe_histogram!(
            GUARD_DURATION,
            "A guard's verification in seconds (one in 64)"
        );
        describe_counter!(MEMO_HITS, "Tokens answered by the verified-token memo");
        describe_counter!(LOGIN_ATTEMPTS, "Logins by result");
        describe_counter!(LOGIN_THROTTLED, "Logins refused by the throttle, by key");
        describe_counter!(REFRESH_REQUESTS, "Refreshes by result");
        describe_counter!(REVOCATIONS, "Revocations by kind");
        describe_gauge!(PASSWORD_QUEUE, "Password checks waiting for a hashing slot");
        describe_histogram!(PASSWORD_HASH_DURATION, "One password hash, in seconds");
        describe_gauge!(DENYLIST_SIZE, "Revocations held, by store");
        describe_gauge!(
            VIEW_TRUSTED,
            "Whether the shared revocation view is trusted (1)"
        );
        describe_counter!(JWKS_FETCHES, "Outside issuers' key set fetches by result");
        let refused = |reason: &'static str| counter!(GUARD_REQUESTS, "result" => "refused", "reason" => reason);
        Handles {
            accepted: counter!(GUARD_REQUESTS, "result" => "accepted", "reason" => "none"),
            anonymous: counter!(GUARD_REQUESTS, "result" => "anonymous", "reason" => "none"),
            refused: REASONS.map(refused),
            accepted_duration: histogram!(GUARD_DURATION, "result" => "accepted"),
            refused_duration: histogram!(GUARD_DURATION, "result" => "refused"),
            memo_hits: counter!(MEMO_HITS),
            logins: ["success", "failure", "throttled", "unavailable"]
                .map(|r| counter!(LOGIN_ATTEMPTS, "result" => r)),
            throttled: ["account_client", "account", "client"]
                .map(|k| counter!(LOGIN_THROTTLED, "key" => k)),
            refreshes: ["success", "failure", "reuse_detected"]
                .map(|r| counter!(REFRESH_REQUESTS, "result" => r)),
            revocations: ["token", "all", "session"].map(|k| counter!(REVOCATIONS, "kind" => k)),
            password_queue: gauge!(PASSWORD_QUEUE),
            hash_duration: histogram!(PASSWORD_HASH_DURATION),
            denylist_size: ["memory", "redis"].map(|s| gauge!(DENYLIST_SIZE, "store" => s)),
            view_trusted: gauge!(VIEW_TRUSTED, "store" => "redis"),
            jwks: ["success", "failure"].map(|r| counter!(JWKS_FETCHES, "result" => r)),
        }
    }

    /// Registers every metric with the recorder installed now, so that they show (at zero)
    /// before anything happened; otherwise each is registered at its first event. Call it
    /// after installing the recorder.
    pub fn register_all() {
        handles();
    }

    thread_local! {
        static SAMPLE: Cell<u8> = const { Cell::new(0) };
    }

    /// The start of one verification in 64 (the others are not timed: no clock read).
    #[inline]
    pub(crate) fn guard_timer() -> Option<Instant> {
        SAMPLE.with(|n| {
            let next = n.get().wrapping_add(1);
            n.set(next);
            (next % 64 == 0).then(Instant::now)
        })
    }

    #[inline]
    pub(crate) fn guard_accepted(anonymous: bool) {
        let h = handles();
        if anonymous { &h.anonymous } else { &h.accepted }.increment(1);
    }

    pub(crate) fn guard_refused(kind: crate::error::ErrorKind) {
        handles().refused[reason(kind)].increment(1);
    }

    /// A sampled verification's time, since `timer` (see [`guard_timer`]).
    #[inline]
    pub(crate) fn guard_duration(timer: Option<Instant>, accepted: bool) {
        if let Some(start) = timer {
            let h = handles();
            let histogram = if accepted {
                &h.accepted_duration
            } else {
                &h.refused_duration
            };
            histogram.record(start.elapsed());
        }
    }

    #[inline]
    pub(crate) fn memo_hit() {
        handles().memo_hits.increment(1);
    }

    pub(crate) fn login(result: Login) {
        handles().logins[result as usize].increment(1);
    }

    #[cfg(feature = "service")]
    pub(crate) fn throttled(key: crate::throttle::KeyKind) {
        use crate::throttle::KeyKind;
        let i = match key {
            KeyKind::AccountClient => 0,
            KeyKind::Account => 1,
            KeyKind::Client => 2,
        };
        handles().throttled[i].increment(1);
    }

    pub(crate) fn refresh(result: Refresh) {
        handles().refreshes[result as usize].increment(1);
    }

    pub(crate) fn revocation(kind: Revocation) {
        handles().revocations[kind as usize].increment(1);
    }

    /// One password check waiting for a hashing slot, while it lives.
    pub(crate) struct PasswordWaiting;

    impl PasswordWaiting {
        pub(crate) fn start() -> Self {
            handles().password_queue.increment(1.0);
            PasswordWaiting
        }
    }

    impl Drop for PasswordWaiting {
        fn drop(&mut self) {
            handles().password_queue.decrement(1.0);
        }
    }

    pub(crate) fn password_hash(took: Duration) {
        handles().hash_duration.record(took);
    }

    pub(crate) fn denylist_size(store: Store, entries: u64) {
        handles().denylist_size[store as usize].set(entries as f64);
    }

    pub(crate) fn view_trusted(trusted: bool) {
        handles().view_trusted.set(if trusted { 1.0 } else { 0.0 });
    }

    pub(crate) fn jwks_fetch(ok: bool) {
        handles().jwks[usize::from(!ok)].increment(1);
    }
}

#[cfg(not(feature = "metrics"))]
#[allow(dead_code)]
mod on {
    use super::*;

    #[inline(always)]
    pub(crate) fn guard_timer() -> Option<std::time::Instant> {
        None
    }
    #[inline(always)]
    pub(crate) fn guard_accepted(_: bool) {}
    #[inline(always)]
    pub(crate) fn guard_refused(_: crate::error::ErrorKind) {}
    #[inline(always)]
    pub(crate) fn guard_duration(_: Option<std::time::Instant>, _: bool) {}
    #[inline(always)]
    pub(crate) fn memo_hit() {}
    #[inline(always)]
    pub(crate) fn login(_: Login) {}
    #[cfg(feature = "service")]
    #[inline(always)]
    pub(crate) fn throttled(_: crate::throttle::KeyKind) {}
    #[inline(always)]
    pub(crate) fn refresh(_: Refresh) {}
    #[inline(always)]
    pub(crate) fn revocation(_: Revocation) {}
    pub(crate) struct PasswordWaiting;
    impl PasswordWaiting {
        #[inline(always)]
        pub(crate) fn start() -> Self {
            PasswordWaiting
        }
    }
    #[inline(always)]
    pub(crate) fn password_hash(_: std::time::Duration) {}
    #[inline(always)]
    pub(crate) fn denylist_size(_: Store, _: u64) {}
    #[inline(always)]
    pub(crate) fn view_trusted(_: bool) {}
    #[inline(always)]
    pub(crate) fn jwks_fetch(_: bool) {}
}

#[cfg(feature = "metrics")]
pub use on::register_all;
#[cfg(feature = "service")]
#[allow(unused_imports)]
pub(crate) use on::throttled;
#[allow(unused_imports)]
pub(crate) use on::{
    denylist_size, guard_accepted, guard_duration, guard_refused, guard_timer, jwks_fetch, login,
    memo_hit, password_hash, refresh, revocation, view_trusted, PasswordWaiting,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn every_refusal_has_a_reason() {
        assert_eq!(REASONS[reason(ErrorKind::MissingToken)], "missing");
        assert_eq!(REASONS[reason(ErrorKind::InvalidSignature)], "invalid");
        assert_eq!(REASONS[reason(ErrorKind::Csrf)], "invalid");
        assert_eq!(REASONS[reason(ErrorKind::InsufficientScope)], "forbidden");
        assert_eq!(REASONS[reason(ErrorKind::FreshTokenRequired)], "not_fresh");
        assert_eq!(
            REASONS[reason(ErrorKind::UserStoreUnavailable)],
            "store_unavailable"
        );
    }
}
