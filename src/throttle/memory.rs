//! [`MemoryThrottle`]: the login throttle of one process, its keys bounded in number.

use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, RandomState};
use std::sync::{Arc, Mutex};

use super::{Admission, Attempt, KeyKind, Limits, LoginThrottle, Reservation, ThrottleError};
use crate::clock::{Clock, ClockHandle};
use crate::BoxFuture;

/// One key's recent failures: (time in epoch seconds, reservation), oldest first; at most
/// the key's limit of them. Changed in place (under the throttle's lock).
type Log = Arc<Mutex<Vec<(f64, u64)>>>;

/// The login throttle of one process (see the [module docs](super)).
///
/// Each key keeps the times of its failures within the window, at most its limit of them
/// (16 bytes each). Memory is bounded: at most [`capacity`](Self::with_capacity) keys are
/// kept (default 50,000: a few MB in practice, at most ~80 MB if every key held 100
/// failures); beyond it the least used keys are dropped first (moka's TinyLFU), so a flood
/// of distinct clients cannot grow memory, and the keys under steady attack (an account, an
/// address) stay: a key seen once is not let in at the expense of one seen often, so under a
/// flood a new key may take a few failures to be kept. Keys leave a window after they were
/// last looked at (every attempt on them looks). Cheap to clone; clones share the counts.
#[derive(Clone)]
pub struct MemoryThrottle {
    inner: Arc<Inner>,
}

struct Inner {
    limits: Limits,
    clock: ClockHandle,
    /// Keys are hashed with a per-process random key: an attacker cannot aim two keys at
    /// one slot, and no account name is kept.
    hasher: RandomState,
    logs: moka::sync::Cache<u64, Log, BuildHasherDefault<Prehashed>>,
    /// Reserving is atomic over an attempt's keys.
    lock: Mutex<()>,
}

impl fmt::Debug for MemoryThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryThrottle")
            .field("limits", &self.inner.limits)
            .field("keys", &self.inner.logs.entry_count())
            .finish_non_exhaustive()
    }
}

impl Default for MemoryThrottle {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl MemoryThrottle {
    /// A throttle with `limits`, keeping at most 50,000 keys.
    pub fn new(limits: Limits) -> Self {
        Self::with_capacity(limits, 50_000)
    }

    /// A throttle keeping at most `keys` keys.
    pub fn with_capacity(limits: Limits, keys: u64) -> Self {
        Self::build(limits, keys, ClockHandle::default())
    }

    /// The same throttle on another clock (tests).
    #[must_use = "a throttle does nothing until given to the auth service"]
    pub fn with_clock(self, clock: impl Clock) -> Self {
        let capacity = self.inner.logs.policy().max_capacity().unwrap_or(50_000);
        Self::build(self.inner.limits, capacity, ClockHandle::new(clock))
    }

    fn build(limits: Limits, capacity: u64, clock: ClockHandle) -> Self {
        let logs = moka::sync::Cache::builder()
            .max_capacity(capacity)
            // A key is dropped a window after it was last looked at (every attempt on it
            // looks), when all its failures have left the window.
            .time_to_idle(limits.window())
            .build_with_hasher(BuildHasherDefault::default());
        Self {
            inner: Arc::new(Inner {
                limits,
                clock,
                hasher: RandomState::new(),
                logs,
                lock: Mutex::new(()),
            }),
        }
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// How many keys are tracked, and how many failures they hold, once pending evictions
    /// have run.
    pub fn tracked(&self) -> (u64, u64) {
        self.inner.logs.run_pending_tasks();
        let failures = self
            .inner
            .logs
            .iter()
            .map(|(_, log)| lock(&log).len() as u64)
            .sum();
        (self.inner.logs.entry_count(), failures)
    }
}

impl Inner {
    fn hash(&self, attempt: &Attempt<'_>, kind: KeyKind) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        self.limits.key(attempt, kind, &mut hasher);
        std::hash::Hasher::finish(&hasher)
    }

    fn reserve(&self, attempt: &Attempt<'_>) -> Admission {
        let now = self.clock.now_secs();
        let since = now - self.limits.window().as_secs_f64();
        let mut keys: [Option<(u64, Option<Log>)>; 3] = Default::default();
        let mut refused: Option<(f64, KeyKind)> = None;
        let _atomic = lock(&self.lock);
        for (slot, (kind, limit)) in keys.iter_mut().zip(self.limits.keys(attempt)) {
            let hash = self.hash(attempt, kind);
            let log = self.logs.get(&hash);
            if let Some(log) = &log {
                let mut log = lock(log);
                let gone = log.partition_point(|(at, _)| *at <= since);
                log.drain(..gone);
                let limit = limit as usize;
                if log.len() >= limit {
                    // The failure whose leaving frees a place: the (n - limit)th oldest.
                    let wait = (log[log.len() - limit].0 - since).max(0.001);
                    if refused.is_none_or(|(longest, _)| wait > longest) {
                        refused = Some((wait, kind));
                    }
                }
            }
            *slot = Some((hash, log));
        }
        if let Some((wait, key)) = refused {
            return Admission::Throttled {
                retry_after: super::whole_seconds(wait),
                key,
            };
        }
        let id = super::reservation_id();
        for (hash, log) in keys.into_iter().flatten() {
            match log {
                Some(log) => {
                    // Kept in order even if the clock stepped back.
                    let mut log = lock(&log);
                    let at = log.last().map_or(now, |(last, _)| now.max(*last));
                    log.push((at, id));
                }
                None => self
                    .logs
                    .insert(hash, Arc::new(Mutex::new(vec![(now, id)]))),
            }
        }
        Admission::Admitted(Reservation(id))
    }

    /// Takes `reservation` back from the attempt's keys; resets (account, client) too when
    /// the attempt `succeeded`.
    fn give_back(&self, attempt: &Attempt<'_>, reservation: Reservation, succeeded: bool) {
        let _atomic = lock(&self.lock);
        for (kind, _) in self.limits.keys(attempt) {
            let hash = self.hash(attempt, kind);
            if succeeded && kind == KeyKind::AccountClient {
                self.logs.invalidate(&hash);
            } else if let Some(log) = self.logs.get(&hash) {
                lock(&log).retain(|(_, id)| *id != reservation.0);
            }
        }
    }
}

/// The cache's hasher: its keys are already hashes (with a random key), so they are used as
/// they are instead of being hashed once more.
#[derive(Default)]
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by a `u64` key; anything else still spreads.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A lock that a panicking holder cannot poison for good: the counts stay usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl LoginThrottle for MemoryThrottle {
    fn reserve<'a>(
        &'a self,
        attempt: &'a Attempt<'a>,
    ) -> BoxFuture<'a, Result<Admission, ThrottleError>> {
        let admission = self.inner.reserve(attempt);
        Box::pin(std::future::ready(Ok(admission)))
    }

    fn succeeded<'a>(
        &'a self,
        attempt: &'a Attempt<'a>,
        reservation: Reservation,
    ) -> BoxFuture<'a, Result<(), ThrottleError>> {
        self.inner.give_back(attempt, reservation, true);
        Box::pin(std::future::ready(Ok(())))
    }

    fn released<'a>(
        &'a self,
        attempt: &'a Attempt<'a>,
        reservation: Reservation,
    ) -> BoxFuture<'a, Result<(), ThrottleError>> {
        self.inner.give_back(attempt, reservation, false);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    #[derive(Clone)]
    struct At(Arc<Mutex<SystemTime>>);
    impl Clock for At {
        fn now(&self) -> SystemTime {
            *self.0.lock().unwrap()
        }
    }

    fn throttle(limits: Limits) -> (MemoryThrottle, At) {
        let at = At(Arc::new(Mutex::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1e9 as u64),
        )));
        (MemoryThrottle::new(limits).with_clock(at.clone()), at)
    }

    fn advance(at: &At, secs: f64) {
        *at.0.lock().unwrap() += Duration::from_secs_f64(secs);
    }

    #[test]
    fn a_sliding_log_never_lets_more_than_the_limit_into_a_window() {
        let limits = Limits::new(Duration::from_secs(100))
            .per_account_client(3)
            .per_account(0)
            .per_client(0);
        let (t, at) = throttle(limits);
        let a = Attempt::new("ada", Some("192.0.2.1".parse().unwrap()));
        // Failures at 0, 40, 80; the fourth at 90 waits for the first to leave (at 100).
        for step in [0.0, 40.0, 40.0] {
            advance(&at, step);
            assert!(t.inner.reserve(&a).is_admitted());
        }
        advance(&at, 10.0);
        assert_eq!(
            t.inner.reserve(&a),
            Admission::Throttled {
                retry_after: Duration::from_secs(10),
                key: KeyKind::AccountClient
            }
        );
        // At 100.5 the first has left: one more, and none after it until 140.
        advance(&at, 10.5);
        assert!(t.inner.reserve(&a).is_admitted());
        assert!(!t.inner.reserve(&a).is_admitted());
        advance(&at, 39.0);
        assert!(
            !t.inner.reserve(&a).is_admitted(),
            "139.5: the one at 40 is still in"
        );
        advance(&at, 1.0);
        assert!(t.inner.reserve(&a).is_admitted());
    }

    #[test]
    fn success_gives_back_and_resets() {
        let limits = Limits::new(Duration::from_secs(100))
            .per_account_client(2)
            .per_account(3)
            .per_client(0);
        let (t, _) = throttle(limits);
        let here = Attempt::new("Ada ", Some("192.0.2.1".parse().unwrap()));
        let there = Attempt::new("ada", Some("192.0.2.2".parse().unwrap()));
        assert!(t.inner.reserve(&here).is_admitted());
        let Admission::Admitted(ok) = t.inner.reserve(&here) else {
            panic!("admitted")
        };
        assert!(
            !t.inner.reserve(&here).is_admitted(),
            "(account, client) exhausted"
        );
        // The second attempt succeeded: (account, client) reset, the account's count back
        // to one, so two more failures from anywhere, then the account is exhausted.
        t.inner.give_back(&here, ok, true);
        assert!(t.inner.reserve(&here).is_admitted());
        assert!(t.inner.reserve(&there).is_admitted());
        assert_eq!(
            t.inner.reserve(&there).retry_after(),
            Some(Duration::from_secs(100))
        );
    }

    #[test]
    fn unknown_clients_count_under_the_account_only() {
        let limits = Limits::new(Duration::from_secs(100)).per_account(1);
        let (t, _) = throttle(limits);
        let nowhere = Attempt::new("ada", None);
        assert!(t.inner.reserve(&nowhere).is_admitted());
        assert!(!t.inner.reserve(&nowhere).is_admitted());
    }
}
