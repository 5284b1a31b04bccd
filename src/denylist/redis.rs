//! A Redis-backed [`Denylist`] for several instances (feature `redis`); see
//! [`RedisDenylist`].

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::Client;

use super::{epoch_secs, BoxFuture, Denylist, DenylistError, MemoryDenylist, TokenId};

/// Builds a [`RedisDenylist`].
#[derive(Debug, Clone)]
pub struct RedisDenylistBuilder {
    url: String,
    prefix: String,
    timeout: Duration,
}

impl RedisDenylistBuilder {
    /// The prefix of every key and of the pub/sub channel (default `tower-jwt-auth:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one Redis command may take before it counts as a failure (default 250 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects, subscribes and starts loading the local view. Fails when Redis cannot be
    /// reached now; later outages are survived (see [`RedisDenylist`]).
    pub async fn connect(self) -> Result<RedisDenylist, DenylistError> {
        let client = Client::open(self.url.as_str()).map_err(store_error)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = tokio::time::timeout(
            self.timeout * 4,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| DenylistError::new("timed out connecting to Redis"))?
        .map_err(store_error)?;
        let inner = Arc::new(Inner {
            conn,
            local: MemoryDenylist::new(),
            trusted: AtomicBool::new(false),
            channel: format!("{}revocations", self.prefix),
            prefix: self.prefix,
            timeout: self.timeout,
            subscriber: std::sync::Mutex::new(None),
        });
        let task = tokio::spawn(subscribe_forever(client, Arc::downgrade(&inner)));
        *inner.subscriber.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(RedisDenylist { inner })
    }
}

/// A [`Denylist`] shared through Redis by several instances (feature `redis`).
///
/// Redis holds the truth: every revoked `jti` as a key that expires with its token, every
/// per-identity cut-off as a key that expires with the last token it covers. Each instance
/// keeps the whole set in a local view and learns new revocations through Redis pub/sub,
/// so a guard answers a valid token without a network round trip. After it (re)subscribes,
/// an instance rebuilds its view from Redis before trusting it; while the view is not
/// trusted, lookups go to Redis with a bounded timeout, and a failure there makes guards fail
/// closed (503) unless the route fails open. Revocations made while Redis is down are
/// reported as errors (and honoured by the instance that made them).
///
/// Cheap to clone; clones share the connection and the local view.
///
/// # Example
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_jwt_auth::{JwtManager, RedisDenylist};
///
/// let denylist = RedisDenylist::connect("redis://127.0.0.1:6379/").await?;
/// let jwt = JwtManager::builder()
///     .secret("an-example-secret-that-is-32-bytes!")
///     .denylist(denylist)
///     .build()?;
///
/// // A logout here is refused by every instance sharing the Redis.
/// let token = jwt.create_access_token("ada")?;
/// jwt.revoke(&jwt.decode_token(&token)?).await?;
/// assert!(jwt.verify_token(&token).await.is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisDenylist {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    local: MemoryDenylist,
    /// The local view holds every revocation in Redis and hears new ones.
    trusted: AtomicBool,
    prefix: String,
    channel: String,
    timeout: Duration,
    subscriber: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.subscriber.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

impl fmt::Debug for RedisDenylist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisDenylist")
            .field("prefix", &self.inner.prefix)
            .field("trusted", &self.is_trusted())
            .finish_non_exhaustive()
    }
}

fn store_error(err: impl fmt::Display) -> DenylistError {
    DenylistError::new(format!("redis: {err}"))
}

impl RedisDenylist {
    /// Connects with the default settings (`redis://127.0.0.1:6379`-style `url`).
    pub async fn connect(url: &str) -> Result<Self, DenylistError> {
        Self::builder(url).connect().await
    }

    /// Starts configuring a connection to `url`.
    pub fn builder(url: impl Into<String>) -> RedisDenylistBuilder {
        RedisDenylistBuilder {
            url: url.into(),
            prefix: "tower-jwt-auth:".into(),
            timeout: Duration::from_millis(250),
        }
    }

    /// Whether the local view is complete and subscribed, so lookups stay local.
    pub fn is_trusted(&self) -> bool {
        self.inner.trusted.load(Ordering::Acquire)
    }

    /// Waits until the local view is trusted, at most `timeout`; returns whether it is.
    pub async fn wait_until_trusted(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.is_trusted() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// The local view (for inspection and metrics).
    pub fn local(&self) -> &MemoryDenylist {
        &self.inner.local
    }
}

impl Inner {
    fn jti_key(&self, jti: &str) -> String {
        format!("{}jti:{jti}", self.prefix)
    }

    fn cutoff_key(&self, identity: &str) -> String {
        format!("{}cutoff:{identity}", self.prefix)
    }

    async fn run<T>(
        &self,
        work: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, DenylistError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| DenylistError::new("redis: timed out"))?
            .map_err(store_error)
    }

    /// Writes `key = value` (expiring at `until`) and announces `message`, atomically.
    async fn record(
        &self,
        key: String,
        value: u64,
        until: Option<SystemTime>,
        message: String,
    ) -> Result<(), DenylistError> {
        let mut set = redis::cmd("SET");
        set.arg(&key).arg(value);
        if let Some(until) = until {
            let secs = super::deadline(Some(until));
            if secs <= epoch_secs(SystemTime::now()) {
                return Ok(()); // every token it would cover has expired already
            }
            set.arg("EXAT").arg(secs);
        }
        let mut pipe = redis::pipe();
        pipe.atomic().add_command(set).ignore();
        pipe.publish(&self.channel, message).ignore();
        let mut conn = self.conn.clone();
        self.run(pipe.query_async::<()>(&mut conn)).await
    }

    /// Applies one pub/sub message: `j <until> <jti>` or `c <cutoff> <until> <identity>`
    /// (`until` 0 = never).
    fn apply(&self, message: &str) {
        let at =
            |secs: u64| (secs != 0).then(|| SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        let mut parts = message.splitn(4, ' ');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("j"), Some(until), Some(jti), None) => {
                if let Ok(until) = until.parse() {
                    self.local.insert(jti, at(until));
                }
            }
            (Some("c"), Some(cutoff), Some(until), Some(identity)) => {
                if let (Ok(cutoff), Ok(until)) = (cutoff.parse(), until.parse()) {
                    self.local.insert_cutoff(
                        identity,
                        at(cutoff).unwrap_or(SystemTime::UNIX_EPOCH),
                        at(until),
                    );
                }
            }
            _ => tracing::warn!("ignoring a malformed revocation message"),
        }
    }

    /// Loads every revocation in Redis into the local view.
    async fn load_snapshot(&self) -> Result<usize, DenylistError> {
        let mut conn = self.conn.clone();
        let mut loaded = 0;
        for kind in ["jti", "cutoff"] {
            let pattern = format!("{}{kind}:*", self.prefix);
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = self
                    .run(
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(1000)
                            .query_async(&mut conn),
                    )
                    .await?;
                if !keys.is_empty() {
                    let mut pipe = redis::pipe();
                    for key in &keys {
                        pipe.get(key).cmd("EXPIRETIME").arg(key);
                    }
                    let values: Vec<(Option<u64>, i64)> =
                        self.run(pipe.query_async(&mut conn)).await?;
                    for (key, (value, expires)) in keys.iter().zip(values) {
                        let Some(value) = value else { continue };
                        let until = (expires > 0)
                            .then(|| SystemTime::UNIX_EPOCH + Duration::from_secs(expires as u64));
                        let name = &key[self.prefix.len() + kind.len() + 1..];
                        if kind == "jti" {
                            self.local.insert(name, until);
                        } else {
                            let cutoff = SystemTime::UNIX_EPOCH + Duration::from_secs(value);
                            self.local.insert_cutoff(name, cutoff, until);
                        }
                        loaded += 1;
                    }
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(loaded)
    }
}

/// Keeps a subscription to the revocation channel, rebuilding the local view after each
/// (re)subscription before trusting it. Ends when the denylist is dropped.
async fn subscribe_forever(client: Client, inner: Weak<Inner>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(channel) = inner.upgrade().map(|i| i.channel.clone()) else {
            return;
        };
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            redis::RedisResult::Ok(pubsub)
        };
        let timeout = inner
            .upgrade()
            .map_or(Duration::from_secs(1), |i| i.timeout * 4);
        match tokio::time::timeout(timeout, subscribed).await {
            Ok(Ok(mut pubsub)) => {
                let Some(strong) = inner.upgrade() else {
                    return;
                };
                match strong.load_snapshot().await {
                    Ok(count) => {
                        strong.trusted.store(true, Ordering::Release);
                        tracing::info!(revocations = count, "revocation view loaded from Redis");
                        backoff = Duration::from_millis(50);
                    }
                    Err(err) => tracing::warn!("loading revocations from Redis failed: {err}"),
                }
                drop(strong);
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    let Some(strong) = inner.upgrade() else {
                        return;
                    };
                    if let Ok(text) = message.get_payload::<String>() {
                        strong.apply(&text);
                    }
                }
                tracing::warn!("lost the Redis revocation subscription");
            }
            Ok(Err(err)) => tracing::debug!("subscribing to Redis failed: {err}"),
            Err(_) => tracing::debug!("subscribing to Redis timed out"),
        }
        match inner.upgrade() {
            Some(strong) => strong.trusted.store(false, Ordering::Release),
            None => return,
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

impl Denylist for RedisDenylist {
    fn revoke<'a>(
        &'a self,
        jti: &'a str,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        Box::pin(async move {
            let inner = &self.inner;
            // This instance honours it whatever Redis says; the caller hears of a failure.
            inner.local.insert(jti, until);
            let deadline = until.map_or(0, |u| super::deadline(Some(u)));
            let message = format!("j {deadline} {jti}");
            inner
                .record(inner.jti_key(jti), deadline, until, message)
                .await
        })
    }

    fn revoke_all<'a>(
        &'a self,
        identity: &'a str,
        issued_before: SystemTime,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        Box::pin(async move {
            let inner = &self.inner;
            inner.local.insert_cutoff(identity, issued_before, until);
            let cutoff = epoch_secs(issued_before);
            let deadline = until.map_or(0, |u| super::deadline(Some(u)));
            let message = format!("c {cutoff} {deadline} {identity}");
            inner
                .record(inner.cutoff_key(identity), cutoff, until, message)
                .await
        })
    }

    fn is_revoked<'a>(&'a self, token: TokenId<'a>) -> BoxFuture<'a, Result<bool, DenylistError>> {
        Box::pin(async move {
            let inner = &self.inner;
            if inner.local.is_token_revoked(token) {
                return Ok(true);
            }
            let mut conn = inner.conn.clone();
            let jti_key = inner.jti_key(token.jti);
            let cutoff_key = inner.cutoff_key(token.identity);
            let (exists, cutoff): (bool, Option<u64>) = inner
                .run(
                    redis::pipe()
                        .exists(&jti_key)
                        .get(&cutoff_key)
                        .query_async(&mut conn),
                )
                .await?;
            Ok(exists || cutoff.is_some_and(|c| token.issued_at < c as f64))
        })
    }

    fn is_revoked_now(&self, token: TokenId<'_>) -> Option<Result<bool, DenylistError>> {
        if self.inner.local.is_token_revoked(token) {
            Some(Ok(true))
        } else if self.is_trusted() {
            Some(Ok(false))
        } else {
            None
        }
    }
}
