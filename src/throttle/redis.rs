//! [`RedisThrottle`]: the login throttle shared by every instance through Redis (feature
//! `redis`): one script per attempt, Redis `TIME` as the one clock.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;
use sha2::Digest;

use super::{Admission, Attempt, KeyKind, Limits, LoginThrottle, Reservation, ThrottleError};
use crate::redis_connection::{Failure, RedisConnection, RedisTarget};
use crate::BoxFuture;

/// Reserves a failure on each key, or none: KEYS the attempt's keys, ARGV the window in
/// milliseconds, the reservation's id, then each key's limit. Each key is a sorted set of
/// the failures within the window (scored by Redis time in ms). Answers `{0, 0}` when
/// admitted, `{wait in ms, index of the key}` when refused.
static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local worst, worst_key = 0, 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 + i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  if n >= limit then
    local frees = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
    local wait = math.max(tonumber(frees[2]) + window - now, 1)
    if wait > worst then worst, worst_key = wait, i end
  end
end
if worst > 0 then return {worst, worst_key} end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, window)
end
return {0, 0}
",
    )
});

/// Gives a reservation back: KEYS the attempt's keys, ARGV the reservation's id and, for a
/// success, `reset`: the first key is then reset, the reservation leaves the others.
static GIVE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
for i, key in ipairs(KEYS) do
  if i == 1 and ARGV[2] == 'reset' then
    redis.call('DEL', key)
  else
    redis.call('ZREM', key, ARGV[1])
  end
end
return 0
",
    )
});

/// Builds a [`RedisThrottle`].
#[derive(Debug, Clone)]
#[must_use = "builders do nothing until connected"]
pub struct RedisThrottleBuilder {
    target: RedisTarget,
    prefix: String,
    timeout: Duration,
    limits: Limits,
}

impl RedisThrottleBuilder {
    /// The prefix of every key (default `tower-jwt-auth:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one Redis command may take before it counts as a failure (default 250 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The limits (default [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Connects. Fails when Redis cannot be reached now; later outages answer
    /// [`ThrottleError`] (the auth service fails closed, 503) until Redis is back.
    pub async fn connect(self) -> Result<RedisThrottle, ThrottleError> {
        let redis = RedisConnection::new(&self.target, self.timeout, self.timeout)
            .map_err(Failure::into_error)?;
        redis.get().await.map_err(Failure::into_error)?;
        Ok(RedisThrottle {
            inner: Arc::new(Inner {
                redis,
                // One hash tag for every key: a script's keys share a Cluster slot.
                prefix: format!("{}{{login-throttle}}:", self.prefix),
                limits: self.limits,
            }),
        })
    }
}

/// The login throttle shared through Redis by several instances (feature `redis`; see the
/// [module docs](super)).
///
/// Each key is a sorted set of its failures within the window, under the prefix and the
/// hash tag `{login-throttle}` (named by a SHA-256 of the key, never the account); one
/// Lua script checks and records an attempt on all its keys atomically, with Redis `TIME`
/// as the clock, so that instances together never let more than a limit through, whatever
/// their clocks say. A successful login is one more script. The keys expire a window after
/// their last failure. Cheap to clone.
#[derive(Clone)]
pub struct RedisThrottle {
    inner: Arc<Inner>,
}

struct Inner {
    redis: RedisConnection,
    prefix: String,
    limits: Limits,
}

impl fmt::Debug for RedisThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisThrottle")
            .field("prefix", &self.inner.prefix)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

/// Feeds a key's bytes to SHA-256.
struct Sha(sha2::Sha256);

impl std::hash::Hasher for Sha {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        0
    }
}

impl RedisThrottle {
    /// Starts building a throttle on `target` (a URL, or a [`RedisTarget`]).
    pub fn builder(target: impl Into<RedisTarget>) -> RedisThrottleBuilder {
        RedisThrottleBuilder {
            target: target.into(),
            prefix: "tower-jwt-auth:".into(),
            timeout: Duration::from_millis(250),
            limits: Limits::default(),
        }
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The Redis key of `attempt`'s `kind` key.
    fn key(&self, attempt: &Attempt<'_>, kind: KeyKind) -> String {
        let mut sha = Sha(sha2::Sha256::new());
        self.inner.limits.key(attempt, kind, &mut sha);
        let digest = sha.0.finalize();
        let mut key = String::with_capacity(self.inner.prefix.len() + 32);
        key.push_str(&self.inner.prefix);
        for byte in &digest[..16] {
            use std::fmt::Write;
            let _ = write!(key, "{byte:02x}");
        }
        key
    }

    async fn reserve_now(&self, attempt: &Attempt<'_>) -> Result<Admission, ThrottleError> {
        let limits = &self.inner.limits;
        let (mut keys, mut kinds) = (Vec::with_capacity(3), Vec::with_capacity(3));
        let id = super::reservation_id();
        let mut args = vec![
            limits.window().as_millis().max(1).to_string(),
            id.to_string(),
        ];
        for (kind, limit) in limits.keys(attempt) {
            keys.push(self.key(attempt, kind));
            kinds.push(kind);
            args.push(limit.to_string());
        }
        if keys.is_empty() {
            return Ok(Admission::Admitted(Reservation(id)));
        }
        let (wait_ms, key): (u64, usize) = (self.inner.redis)
            .script(&RESERVE, &keys, &args)
            .await
            .map_err(Failure::into_error)?;
        Ok(match key.checked_sub(1).and_then(|i| kinds.get(i)) {
            Some(kind) if wait_ms > 0 => Admission::Throttled {
                retry_after: super::whole_seconds(wait_ms as f64 / 1000.0),
                key: *kind,
            },
            _ => Admission::Admitted(Reservation(id)),
        })
    }

    /// Takes `reservation` back from the attempt's keys; resets (account, client) too when
    /// the attempt `succeeded` (its key first, or one that does not exist).
    async fn give_back(
        &self,
        attempt: &Attempt<'_>,
        reservation: Reservation,
        succeeded: bool,
    ) -> Result<(), ThrottleError> {
        let limits = &self.inner.limits;
        let mut keys = Vec::with_capacity(3);
        if succeeded
            && limits
                .keys(attempt)
                .all(|(k, _)| k != KeyKind::AccountClient)
        {
            keys.push(format!("{}none", self.inner.prefix));
        }
        keys.extend(
            limits
                .keys(attempt)
                .map(|(kind, _)| self.key(attempt, kind)),
        );
        let reset = if succeeded { "reset" } else { "keep" };
        (self.inner.redis)
            .script::<i64>(
                &GIVE_BACK,
                &keys,
                &[reservation.0.to_string(), reset.to_owned()],
            )
            .await
            .map(drop)
            .map_err(Failure::into_error)
    }
}

impl LoginThrottle for RedisThrottle {
    fn reserve<'a>(
        &'a self,
        attempt: &'a Attempt<'a>,
    ) -> BoxFuture<'a, Result<Admission, ThrottleError>> {
        Box::pin(self.reserve_now(attempt))
    }

    fn succeeded<'a>(
        &'a self,
        attempt: &'a Attempt<'a>,
        reservation: Reservation,
    ) -> BoxFuture<'a, Result<(), ThrottleError>> {
        Box::pin(self.give_back(attempt, reservation, true))
    }

    fn released<'a>(
        &'a self,
        attempt: &'a Attempt<'a>,
        reservation: Reservation,
    ) -> BoxFuture<'a, Result<(), ThrottleError>> {
        Box::pin(self.give_back(attempt, reservation, false))
    }
}
