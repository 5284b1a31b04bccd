//! [`RedisSessionStore`]: sessions shared by several instances through Redis.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Script;

use super::{Rotate, Rotation, Session, SessionError, SessionStore};
use crate::redis_connection::{Failure, RedisConnection, RedisTarget};
use crate::BoxFuture;

/// Redis's clock in epoch milliseconds (`TIME`), the one clock every instance's script
/// reads. Scripts calling it replicate their effects, not themselves (the default from
/// Redis 5; asked for explicitly before).
const REDIS_NOW: &str = r"
if redis.replicate_commands then pcall(redis.replicate_commands) end
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
";

/// Sets an index key's expiry so that it outlives its longest session: `''` (never)
/// persists it; otherwise the expiry only grows, and a key that never expires stays so.
const EXTEND_INDEX: &str = r"
local function extend_index(index, expire_at, existed, ttl)
  if expire_at == '' then
    redis.call('PERSIST', index)
  elseif (not existed) or (ttl >= 0 and ttl < tonumber(expire_at) - redis_now()) then
    redis.call('PEXPIREAT', index, expire_at)
  end
end
";

/// KEYS: session, index. ARGV: id, identity, current, created (ms), user agent, until
/// (ms or '').
const START: &str = r"
local existed = redis.call('EXISTS', KEYS[2]) == 1
local ttl = redis.call('PTTL', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('HMSET', KEYS[1], 'identity', ARGV[2], 'current', ARGV[3], 'created', ARGV[4],
  'last', ARGV[4], 'ua', ARGV[5])
if ARGV[6] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[6]) end
redis.call('SADD', KEYS[2], ARGV[1])
extend_index(KEYS[2], ARGV[6], existed, ttl)
return 1
";

/// KEYS: session, index. ARGV: id, identity, presented, next, now (ms, the instance's:
/// the `last` refresh shown), grace (ms), until (ms or ''). When a token was spent, and the
/// grace, are measured by Redis's clock.
const ROTATE: &str = r"
local s = redis.call('HMGET', KEYS[1], 'identity', 'current', 'prev', 'spent')
if s[1] ~= ARGV[2] then return {'ended'} end
local now = redis_now()
if s[2] == ARGV[3] then
  local existed = redis.call('EXISTS', KEYS[2]) == 1
  local ttl = redis.call('PTTL', KEYS[2])
  redis.call('HMSET', KEYS[1], 'current', ARGV[4], 'prev', ARGV[3],
    'spent', string.format('%.0f', now), 'last', ARGV[5])
  if ARGV[7] == '' then redis.call('PERSIST', KEYS[1])
  else redis.call('PEXPIREAT', KEYS[1], ARGV[7]) end
  redis.call('SADD', KEYS[2], ARGV[1])
  extend_index(KEYS[2], ARGV[7], existed, ttl)
  return {'rotated'}
end
if s[3] == ARGV[3] and now - tonumber(s[4]) < tonumber(ARGV[6]) then
  return {'concurrent', s[2]}
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return {'reused'}
";

/// KEYS: session, index. ARGV: id, identity.
const END: &str = r"
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], 'identity') == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// KEYS: index, then the sessions to end. ARGV: identity, then the sessions' ids.
const END_MANY: &str = r"
local ended = 0
for i = 2, #KEYS do
  redis.call('SREM', KEYS[1], ARGV[i])
  if redis.call('HGET', KEYS[i], 'identity') == ARGV[1] then
    redis.call('DEL', KEYS[i])
    ended = ended + 1
  end
end
return ended
";

/// KEYS: index. ARGV: the prefix of the identity's session keys (with its hash tag, so
/// every key read is in the index's slot), identity. Answers `id, created, last, ua` of
/// each live session, flattened; drops expired ones from the index.
const LIST: &str = r"
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local s = redis.call('HMGET', ARGV[1] .. id, 'identity', 'created', 'last', 'ua')
  if s[1] == ARGV[2] and s[2] and s[3] then
    out[#out + 1] = id
    out[#out + 1] = s[2]
    out[#out + 1] = s[3]
    out[#out + 1] = s[4] or ''
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return out
";

/// Sessions in Redis, shared by every instance (feature `redis`). Cheap to clone.
///
/// Every operation is one command (one round trip), whatever the number of sessions: a
/// Lua script to start, to check-and-rotate (so that concurrent refreshes on several
/// instances never both rotate nor both raise an alarm), to list an identity's sessions,
/// to end one or several; an `HGET` to find one. The reuse grace is measured by Redis's
/// clock (`TIME`), so instances whose clocks disagree decide alike.
///
/// Keys, after the prefix (`tower-jwt-auth:` by default), where `<tag>` is the first 16
/// hex digits of the identity's SHA-256:
///
/// - `sessions:{<tag>}:<identity>`: a set of the identity's session ids, expiring with
///   its longest session;
/// - `session:{<tag>}:<id>`: a hash per session (`identity`, `current` and `prev` refresh
///   `jti`, `spent` (Redis time, ms), `created`, `last` (ms), `ua`), expiring with its
///   tokens.
///
/// The `{<tag>}` is a Redis Cluster hash tag: every key of one identity lies in one slot,
/// whatever characters the identity holds, so each script touches one slot only (a prefix
/// must not hold `{` itself). Sessions kept by 0.2.0 (keys `session:<id>` and
/// `sessions:<identity>`) are not found: their next refresh answers 401 and the user logs
/// in again.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_jwt_auth::sessions::RedisSessionStore;
///
/// let sessions = RedisSessionStore::connect("redis://127.0.0.1:6379/").await?;
/// # let _ = sessions;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisSessionStore {
    inner: Arc<Inner>,
}

struct Inner {
    redis: RedisConnection,
    prefix: String,
    start: Script,
    rotate: Script,
    end: Script,
    end_many: Script,
    list: Script,
}

impl fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisSessionStore {
    /// Connects to `target` (a URL, or a [`RedisTarget`]) with the prefix `tower-jwt-auth:` (the denylist's
    /// default) and a 250 ms timeout per command. Fails when Redis cannot be reached now.
    pub async fn connect(target: impl Into<RedisTarget>) -> Result<Self, SessionError> {
        Self::connect_with(target, "tower-jwt-auth:", Duration::from_millis(250)).await
    }

    /// Connects with a key `prefix` and a `timeout` per command.
    pub async fn connect_with(
        target: impl Into<RedisTarget>,
        prefix: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, SessionError> {
        let redis =
            RedisConnection::new(&target.into(), timeout, timeout).map_err(Failure::into_error)?;
        redis.get().await.map_err(Failure::into_error)?;
        let store = Self {
            inner: Arc::new(Inner {
                redis,
                prefix: prefix.into(),
                start: Script::new(&format!("{REDIS_NOW}{EXTEND_INDEX}{START}")),
                rotate: Script::new(&format!("{REDIS_NOW}{EXTEND_INDEX}{ROTATE}")),
                end: Script::new(END),
                end_many: Script::new(END_MANY),
                list: Script::new(LIST),
            }),
        };
        Ok(store)
    }

    /// Runs `script` with `keys` and `args`.
    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[impl AsRef<str>],
        args: &[impl AsRef<str>],
    ) -> Result<T, SessionError> {
        (self.inner.redis)
            .script(script, keys, args)
            .await
            .map_err(Failure::into_error)
    }

    /// The prefix of the session keys of `identity`, hash tag included.
    fn session_prefix(&self, identity: &str) -> String {
        format!("{}session:{{{}}}:", self.inner.prefix, hash_tag(identity))
    }

    fn session_key(&self, identity: &str, id: &str) -> String {
        format!("{}{id}", self.session_prefix(identity))
    }

    fn index_key(&self, identity: &str) -> String {
        format!(
            "{}sessions:{{{}}}:{identity}",
            self.inner.prefix,
            hash_tag(identity)
        )
    }
}

/// The Redis Cluster hash tag of `identity`'s keys: 16 hex digits of its SHA-256, so that
/// braces or any other character in an identity cannot move its keys apart.
fn hash_tag(identity: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(identity.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn millis(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        .to_string()
}

fn from_millis(ms: &str) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.parse().unwrap_or(0))
}

fn until_arg(until: Option<SystemTime>) -> String {
    until.map(millis).unwrap_or_default()
}

impl SessionStore for RedisSessionStore {
    fn start<'a>(
        &'a self,
        session: &'a Session,
        refresh_jti: &'a str,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), SessionError>> {
        Box::pin(async move {
            let keys = [
                self.session_key(&session.identity, &session.id),
                self.index_key(&session.identity),
            ];
            let created = millis(session.created_at);
            let args = [
                session.id.as_str(),
                &session.identity,
                refresh_jti,
                &created,
                session.user_agent.as_deref().unwrap_or(""),
                &until_arg(until),
            ];
            self.run::<i64>(&self.inner.start, &keys, &args).await?;
            Ok(())
        })
    }

    fn rotate<'a>(&'a self, r: Rotate<'a>) -> BoxFuture<'a, Result<Rotation, SessionError>> {
        Box::pin(async move {
            let keys = [
                self.session_key(r.identity, r.session),
                self.index_key(r.identity),
            ];
            let now = millis(r.now);
            let grace = r.grace.as_millis().to_string();
            let args = [
                r.session,
                r.identity,
                r.presented,
                r.next,
                &now,
                &grace,
                &until_arg(r.until),
            ];
            let answer: Vec<String> = self.run(&self.inner.rotate, &keys, &args).await?;
            match answer.as_slice() {
                [what] if what == "rotated" => Ok(Rotation::Rotated),
                [what] if what == "reused" => Ok(Rotation::Reused),
                [what] if what == "ended" => Ok(Rotation::Ended),
                [what, current] if what == "concurrent" => Ok(Rotation::Concurrent {
                    current: current.clone(),
                }),
                _ => Err(SessionError::new("redis: unexpected rotation answer")),
            }
        })
    }

    fn list<'a>(
        &'a self,
        identity: &'a str,
        _now: SystemTime,
    ) -> BoxFuture<'a, Result<Vec<Session>, SessionError>> {
        Box::pin(async move {
            let keys = [self.index_key(identity)];
            let args = [self.session_prefix(identity), identity.to_owned()];
            let flat: Vec<String> = self.run(&self.inner.list, &keys, &args).await?;
            let mut sessions: Vec<Session> = flat
                .chunks_exact(4)
                .filter_map(|fields| {
                    let [id, created, last, ua] = fields else {
                        return None;
                    };
                    let mut session = Session::new(id.clone(), identity, from_millis(created));
                    session.last_refreshed_at = from_millis(last);
                    session.user_agent = Some(ua.clone()).filter(|ua| !ua.is_empty());
                    Some(session)
                })
                .collect();
            sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(sessions)
        })
    }

    fn end<'a>(
        &'a self,
        identity: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<bool, SessionError>> {
        Box::pin(async move {
            let keys = [self.session_key(identity, id), self.index_key(identity)];
            let ended: i64 = self.run(&self.inner.end, &keys, &[id, identity]).await?;
            Ok(ended == 1)
        })
    }

    fn contains<'a>(
        &'a self,
        identity: &'a str,
        id: &'a str,
        _now: SystemTime,
    ) -> BoxFuture<'a, Result<bool, SessionError>> {
        Box::pin(async move {
            let owner: Option<String> = (self.inner.redis)
                .query(
                    redis::cmd("HGET")
                        .arg(self.session_key(identity, id))
                        .arg("identity"),
                )
                .await
                .map_err(Failure::into_error)?;
            Ok(owner.as_deref() == Some(identity))
        })
    }

    fn end_many<'a>(
        &'a self,
        identity: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<usize, SessionError>> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(0);
            }
            let mut keys = Vec::with_capacity(ids.len() + 1);
            keys.push(self.index_key(identity));
            let prefix = self.session_prefix(identity);
            keys.extend(ids.iter().map(|id| format!("{prefix}{id}")));
            let mut args = Vec::with_capacity(ids.len() + 1);
            args.push(identity);
            args.extend(ids.iter().map(String::as_str));
            let ended: usize = self.run(&self.inner.end_many, &keys, &args).await?;
            Ok(ended)
        })
    }
}
