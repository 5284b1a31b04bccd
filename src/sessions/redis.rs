//! [`RedisSessionStore`]: sessions shared by several instances through Redis.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Script};

use super::{Rotate, Rotation, Session, SessionError, SessionStore};
use crate::BoxFuture;

/// Sets an index key's expiry so that it outlives its longest session: `''` (never)
/// persists it; otherwise the expiry only grows, and a key that never expires stays so.
/// KEYS[2] index; ARGV[until_at] until (ms or ''), ARGV[now_at] now (ms).
const EXTEND_INDEX: &str = r"
local function extend_index(index, expire_at, now, existed, ttl)
  if expire_at == '' then
    redis.call('PERSIST', index)
  elseif (not existed) or (ttl >= 0 and ttl < tonumber(expire_at) - tonumber(now)) then
    redis.call('PEXPIREAT', index, expire_at)
  end
end
";

/// KEYS: session, index. ARGV: id, identity, current, created (ms), user agent, until
/// (ms or ''), now (ms).
const START: &str = r"
local existed = redis.call('EXISTS', KEYS[2]) == 1
local ttl = redis.call('PTTL', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('HMSET', KEYS[1], 'identity', ARGV[2], 'current', ARGV[3], 'created', ARGV[4],
  'last', ARGV[4], 'ua', ARGV[5])
if ARGV[6] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[6]) end
redis.call('SADD', KEYS[2], ARGV[1])
extend_index(KEYS[2], ARGV[6], ARGV[7], existed, ttl)
return 1
";

/// KEYS: session, index. ARGV: id, identity, presented, next, now (ms), grace (ms), until
/// (ms or '').
const ROTATE: &str = r"
local s = redis.call('HMGET', KEYS[1], 'identity', 'current', 'prev', 'spent')
if s[1] ~= ARGV[2] then return {'ended'} end
if s[2] == ARGV[3] then
  local existed = redis.call('EXISTS', KEYS[2]) == 1
  local ttl = redis.call('PTTL', KEYS[2])
  redis.call('HMSET', KEYS[1], 'current', ARGV[4], 'prev', ARGV[3], 'spent', ARGV[5],
    'last', ARGV[5])
  if ARGV[7] == '' then redis.call('PERSIST', KEYS[1])
  else redis.call('PEXPIREAT', KEYS[1], ARGV[7]) end
  redis.call('SADD', KEYS[2], ARGV[1])
  extend_index(KEYS[2], ARGV[7], ARGV[5], existed, ttl)
  return {'rotated'}
end
if s[3] == ARGV[3] and tonumber(ARGV[5]) - tonumber(s[4]) < tonumber(ARGV[6]) then
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

/// Sessions in Redis, shared by every instance (feature `redis`): one hash per session
/// (expiring with its tokens) and a set of session ids per identity. The check-and-rotate
/// is one Lua script, so that concurrent refreshes on several instances never both rotate
/// nor both raise an alarm. Cheap to clone.
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
    client: Client,
    config: AsyncConnectionConfig,
    prefix: String,
    timeout: Duration,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    start: Script,
    rotate: Script,
    end: Script,
}

impl fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisSessionStore {
    /// Connects to the Redis at `url` with the prefix `tower-jwt-auth:` (the denylist's
    /// default) and a 250 ms timeout per command. Fails when Redis cannot be reached now.
    pub async fn connect(url: &str) -> Result<Self, SessionError> {
        Self::connect_with(url, "tower-jwt-auth:", Duration::from_millis(250)).await
    }

    /// Connects with a key `prefix` and a `timeout` per command.
    pub async fn connect_with(
        url: &str,
        prefix: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, SessionError> {
        let client = Client::open(url).map_err(store_error)?;
        let store = Self {
            inner: Arc::new(Inner {
                client,
                config: AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout)),
                prefix: prefix.into(),
                timeout,
                connection: tokio::sync::Mutex::new(None),
                start: Script::new(&format!("{EXTEND_INDEX}{START}")),
                rotate: Script::new(&format!("{EXTEND_INDEX}{ROTATE}")),
                end: Script::new(END),
            }),
        };
        store.connection().await?;
        Ok(store)
    }

    async fn connection(&self) -> Result<MultiplexedConnection, SessionError> {
        let mut slot = self.inner.connection.lock().await;
        if let Some(open) = &*slot {
            return Ok(open.clone());
        }
        let opened = tokio::time::timeout(
            self.inner.timeout,
            self.inner
                .client
                .get_multiplexed_async_connection_with_config(&self.inner.config),
        )
        .await
        .map_err(|_| SessionError::new("redis: timed out connecting"))?
        .map_err(store_error)?;
        *slot = Some(opened.clone());
        Ok(opened)
    }

    /// Runs `script` with `keys` and `args`; a failure forgets the connection.
    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T, SessionError> {
        let mut connection = self.connection().await?;
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        let answer = tokio::time::timeout(
            self.inner.timeout,
            invocation.invoke_async::<T>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                *self.inner.connection.lock().await = None;
                Err(store_error(err))
            }
            Err(_) => {
                *self.inner.connection.lock().await = None;
                Err(SessionError::new("redis: timed out"))
            }
        }
    }

    fn session_key(&self, id: &str) -> String {
        format!("{}session:{id}", self.inner.prefix)
    }

    fn index_key(&self, identity: &str) -> String {
        format!("{}sessions:{identity}", self.inner.prefix)
    }
}

fn store_error(err: redis::RedisError) -> SessionError {
    SessionError::new(format!("redis: {err}"))
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
                self.session_key(&session.id),
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
                &created,
            ];
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            self.run::<i64>(&self.inner.start, &keys, &args).await?;
            Ok(())
        })
    }

    fn rotate<'a>(&'a self, r: Rotate<'a>) -> BoxFuture<'a, Result<Rotation, SessionError>> {
        Box::pin(async move {
            let keys = [self.session_key(r.session), self.index_key(r.identity)];
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
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
            let mut connection = self.connection().await?;
            let index = self.index_key(identity);
            let timeout = self.inner.timeout;
            let ids: Vec<String> = tokio::time::timeout(
                timeout,
                redis::cmd("SMEMBERS")
                    .arg(&index)
                    .query_async(&mut connection),
            )
            .await
            .map_err(|_| SessionError::new("redis: timed out"))?
            .map_err(store_error)?;
            let mut sessions = Vec::with_capacity(ids.len());
            for id in ids {
                let fields: Vec<Option<String>> = tokio::time::timeout(
                    timeout,
                    redis::cmd("HMGET")
                        .arg(self.session_key(&id))
                        .arg(&["identity", "created", "last", "ua"])
                        .query_async(&mut connection),
                )
                .await
                .map_err(|_| SessionError::new("redis: timed out"))?
                .map_err(store_error)?;
                match fields.as_slice() {
                    [Some(owner), Some(created), Some(last), ua] if owner == identity => {
                        let mut session = Session::new(id, identity, from_millis(created));
                        session.last_refreshed_at = from_millis(last);
                        session.user_agent = ua.clone().filter(|ua| !ua.is_empty());
                        sessions.push(session);
                    }
                    // Expired (or not this identity's): tidy the index.
                    _ => {
                        let _: Result<i64, _> = redis::cmd("SREM")
                            .arg(&index)
                            .arg(&id)
                            .query_async(&mut connection)
                            .await;
                    }
                }
            }
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
            let keys = [self.session_key(id), self.index_key(identity)];
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let ended: i64 = self.run(&self.inner.end, &keys, &[id, identity]).await?;
            Ok(ended == 1)
        })
    }
}
