//! A Redis-backed [`Denylist`] for several instances (feature `redis`); see
//! [`RedisDenylist`].

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Denylist, DenylistError, MemoryDenylist, TokenId};
use crate::clock::{from_numeric_date, numeric_date};
use crate::redis_connection::{Failure, RedisConnection, RedisTarget};
use crate::BoxFuture;

mod record;
mod subscription;
use subscription::subscribe_forever;

/// Builds a [`RedisDenylist`].
#[derive(Debug, Clone)]
#[must_use = "builders do nothing until connected"]
pub struct RedisDenylistBuilder {
    target: RedisTarget,
    prefix: String,
    timeout: Duration,
    ping_interval: Duration,
    replicas: record::ReplicaAcks,
}

impl RedisDenylistBuilder {
    /// The prefix of every key and of the pub/sub channel (default `tower-jwt-auth:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many replicas must hold a revocation before it is reported done, and how long
    /// to wait for them (default: 1, 300 ms): Redis replicates asynchronously, so a
    /// revocation only the primary held would vanish with it in a failover. Asked with
    /// `WAIT` only when replicas are connected (a single node is never waited for), at most
    /// as many as are; a revocation they do not acknowledge in time is reported failed (the
    /// caller answers 503 and may retry: recording it again is harmless). A replica still
    /// loading its first full copy counts: it holds nothing yet, and a failover could
    /// promote it, so revocations fail until it has caught up. `0` never waits.
    /// `WAIT` makes a loss unlikely, not impossible: with several replicas, a failover may
    /// promote one that did not acknowledge; ask for as many as there are. Replicas are
    /// counted with `INFO replication` (ACL category `@dangerous`): a user denied it is never
    /// made to wait.
    pub fn replica_acks(mut self, count: u32, timeout: Duration) -> Self {
        self.replicas = record::ReplicaAcks { count, timeout };
        self
    }

    /// How long one Redis command may take before it counts as a failure (default 250 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often the subscription is checked for life with a `PING` (default 1 s). A
    /// subscription that does not answer within this interval (at least 1 s) counts as
    /// lost: the local view is untrusted until it has resubscribed and reloaded.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Connects, subscribes and starts loading the local view. Fails when Redis cannot be
    /// reached now; later outages are survived (see [`RedisDenylist`]).
    pub async fn connect(self) -> Result<RedisDenylist, DenylistError> {
        let connection = |longest| {
            RedisConnection::new(&self.target, self.timeout, longest).map_err(Failure::into_error)
        };
        // On a Cluster every key and the channel share one slot (see `RedisDenylist`).
        let keys = if self.target.is_cluster() {
            format!("{}{{revocations}}:", self.prefix)
        } else {
            self.prefix.clone()
        };
        let inner = Arc::new(Inner {
            connection: connection(self.timeout)?,
            writes: connection(self.timeout.saturating_add(self.replicas.timeout))?,
            local: MemoryDenylist::view_of(crate::telemetry::Store::Redis),
            trusted: AtomicBool::new(false),
            channel: format!("{keys}revocations"),
            publish: if self.target.is_cluster() {
                "SPUBLISH"
            } else {
                "PUBLISH"
            },
            keys,
            prefix: self.prefix,
            timeout: self.timeout,
            ping_interval: self.ping_interval,
            replicas_seen: std::sync::atomic::AtomicU32::new(self.replicas.count),
            replicas: self.replicas,
            subscriber: std::sync::Mutex::new(None),
        });
        inner.connection.get().await.map_err(Failure::into_error)?;
        if self.target.is_cluster() {
            // How many replicas the first revocations wait for (the record script says it
            // after each one): best effort, the asked count otherwise.
            let channel = inner.channel.clone();
            let info: Result<String, _> = inner
                .connection
                .run(|mut link| async move {
                    link.query_at_key(redis::cmd("INFO").arg("replication").clone(), &channel)
                        .await
                })
                .await;
            if let Some(n) = info.ok().as_deref().and_then(connected_replicas) {
                inner.replicas_seen.store(n, Ordering::Relaxed);
            }
        }
        let task = tokio::spawn(subscribe_forever(Arc::downgrade(&inner)));
        *inner.subscriber.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(RedisDenylist { inner })
    }
}

/// A [`Denylist`] shared through Redis by several instances (feature `redis`).
///
/// Redis holds the truth: every revoked `jti` and every per-identity cut-off as a key that
/// expires when the tokens it covers have (plus a minute of slack for clocks that
/// disagree). Each instance keeps the whole set in a local view and learns new revocations
/// through Redis pub/sub, so a guard answers a valid token without a network round trip.
///
/// The local view is trusted only while it is known to be complete and live:
///
/// - after (re)subscribing, an instance loads every revocation from Redis (retrying with
///   backoff until it succeeds), then pings its subscription and applies every message heard
///   before the answer; only then is the view trusted;
/// - the subscription is pinged every [`ping_interval`](RedisDenylistBuilder::ping_interval):
///   a connection that goes silent without closing (half-open TCP, a stuck proxy) is dropped
///   within a couple of seconds, and the view is untrusted until it has resubscribed and
///   reloaded.
///
/// While the view is not trusted, lookups go to Redis with a bounded timeout, and a failure
/// there makes guards fail closed (503) unless the route fails open. A revocation is reported
/// done only once Redis holds it (and has announced it), and once a connected replica holds
/// it too ([`replica_acks`](RedisDenylistBuilder::replica_acks)); otherwise the caller gets
/// an error, so a retried revocation reaches every instance.
///
/// Writes go through one Lua script, so that a cut-off never moves back and an entry's
/// expiry only grows, whatever order instances write in. Only `GET`, `MGET`, `SET`,
/// `PEXPIREAT`, `EXISTS`, `SCAN`, `PUBLISH`, `WAIT`, `INFO` and scripts are used on a single
/// node (Redis 2.6 and later).
///
/// # Sentinel and Cluster
///
/// [`RedisTarget`] names the topology. Behind Sentinel (Redis 6 or later), connections
/// follow the primary Sentinel names: when the primary goes, the subscription ends, the
/// view is untrusted, and it is reloaded from the new primary (within a second of the
/// promotion, measured). Every [`ping_interval`](RedisDenylistBuilder::ping_interval) the
/// subscription also checks that its node is still the primary Sentinel names (a primary cut
/// off from the Sentinels still answers while revocations go to the one they promoted). A
/// revocation acknowledged before the failover was held by a replica (`WAIT`), so the new
/// primary has it. A primary cut off from all its replicas has none connected and
/// acknowledges alone: Redis's `min-replicas-to-write 1` makes it refuse instead.
///
/// On a Cluster (Redis 7 or later), every key and the channel carry the hash tag
/// `{revocations}` (`tower-jwt-auth:{revocations}:jti:<jti>`): one slot holds them all, so
/// the record script may write any number of them and announce them atomically, and
/// revocations travel by sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`), carried by that slot's
/// primary and replicas only, not by every node as plain pub/sub is. One slot rather than one
/// per identity: every instance holds every revocation anyway, guards read them locally, and
/// revocations are rare writes, so spreading them would buy no throughput and cost a
/// subscription per slot. The snapshot `SCAN`s every primary (a slot being migrated has keys
/// on two). When the slot moves or its primary fails over, the server ends the
/// subscription (or its connection drops): the view is untrusted and reloaded from the new
/// owner. The subscription's barrier before trusting the view, and its check every
/// `ping_interval`, is a marker published on the channel and heard back (the slot's primary
/// delivers a channel's messages in order; a node that lost the slot, or a Cluster that is
/// down, never delivers it): every instance hears every instance's marker, one a second
/// each. The script and its `WAIT` go to the slot's primary as one pipeline. The snapshot
/// reads `CLUSTER NODES` and `SCAN`s every primary (ACL: `cluster`, `scan`); any disconnection
/// of the subscription's Cluster connection (it reaches every node) reloads the view.
///
/// Cheap to clone; clones share the connection and the local view.
///
/// # Example
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_jwt_auth::JwtManager;
/// use tower_jwt_auth::denylist::RedisDenylist;
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
    connection: RedisConnection,
    /// Revocations (the record script and its `WAIT`), apart from lookups: `WAIT` holds
    /// the connection it is sent on.
    writes: RedisConnection,
    local: MemoryDenylist,
    /// The local view holds every revocation in Redis and hears new ones.
    trusted: AtomicBool,
    prefix: String,
    /// The prefix of every key: `prefix`, and on a Cluster the hash tag `{revocations}`.
    keys: String,
    channel: String,
    /// `PUBLISH`, or on a Cluster `SPUBLISH` (sharded: only the slot's primary and its
    /// replicas carry it, not every node).
    publish: &'static str,
    timeout: Duration,
    ping_interval: Duration,
    replicas: record::ReplicaAcks,
    /// How many replicas the record script last said the primary has (Cluster).
    replicas_seen: std::sync::atomic::AtomicU32,
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

/// Keys outlive their deadline by this much in Redis, for clocks that disagree.
const EXPIRY_SLACK_MS: u64 = 60_000;

/// The two kinds of revocation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Jti,
    Cutoff,
}

impl Kind {
    fn letter(self) -> &'static str {
        match self {
            Kind::Jti => "j",
            Kind::Cutoff => "c",
        }
    }

    fn key_part(self) -> &'static str {
        match self {
            Kind::Jti => "jti:",
            Kind::Cutoff => "cutoff:",
        }
    }
}

/// `<number> <until>`, as stored and announced: a cut-off in epoch seconds (unused for a
/// `jti`), and the deadline in epoch milliseconds or `never`. A value of the 0.1 layout (a
/// bare number) reads as a never-expiring entry: the safe reading.
fn parse_value(value: &str) -> Option<(f64, Option<SystemTime>)> {
    let (number, until) = value.split_once(' ').unwrap_or((value, "never"));
    let number: f64 = number.parse().ok().filter(|n: &f64| n.is_finite())?;
    let until = match until {
        "never" => None,
        ms => Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms.parse().ok()?)),
    };
    Some((number, until))
}

fn until_text(until: Option<SystemTime>) -> String {
    match until {
        None => "never".into(),
        // Rounded up to the millisecond: an entry never ends before its deadline.
        Some(t) => t
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .div_ceil(1_000_000)
            .to_string(),
    }
}

/// `connected_slaves:<n>` in an `INFO replication` answer.
fn connected_replicas(info: &str) -> Option<u32> {
    info.lines()
        .find_map(|l| l.strip_prefix("connected_slaves:"))
        .and_then(|n| n.trim().parse().ok())
}

/// `*`, `?`, `[`, `]` and `\` escaped for a `SCAN MATCH` pattern.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

impl RedisDenylist {
    /// Connects with the default settings (`redis://127.0.0.1:6379`-style `url`).
    pub async fn connect(target: impl Into<RedisTarget>) -> Result<Self, DenylistError> {
        Self::builder(target).connect().await
    }

    /// Starts configuring a connection to `target`: a URL (one node), or a
    /// [`RedisTarget`] (Sentinel, Cluster).
    pub fn builder(target: impl Into<RedisTarget>) -> RedisDenylistBuilder {
        RedisDenylistBuilder {
            target: target.into(),
            prefix: "tower-jwt-auth:".into(),
            timeout: Duration::from_millis(250),
            ping_interval: Duration::from_secs(1),
            replicas: record::ReplicaAcks::default(),
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
    fn key(&self, kind: Kind, name: &str) -> String {
        format!("{}{}{name}", self.keys, kind.key_part())
    }

    /// Applies a revocation to the local view.
    fn apply(&self, kind: Kind, name: &str, number: f64, until: Option<SystemTime>) {
        match kind {
            Kind::Jti => self.local.insert(name, until),
            Kind::Cutoff => self.local.insert_cutoff(
                name,
                from_numeric_date(number).unwrap_or(SystemTime::UNIX_EPOCH),
                until,
            ),
        }
    }

    /// Applies one pub/sub message: `<j|c> <number> <until> <name>`, the name (a `jti` or
    /// an identity, which may hold spaces) last.
    fn apply_message(&self, message: &str) {
        let mut parts = message.splitn(4, ' ');
        let kind = match parts.next() {
            Some("j") => Kind::Jti,
            Some("c") => Kind::Cutoff,
            Some("b") => return, // a barrier (see `subscription`)
            _ => return tracing::warn!("ignoring a malformed revocation message"),
        };
        let (Some(number), Some(until), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            return tracing::warn!("ignoring a malformed revocation message");
        };
        match parse_value(&format!("{number} {until}")) {
            Some((number, until)) => self.apply(kind, name, number, until),
            None => tracing::warn!("ignoring a malformed revocation message"),
        }
    }

    /// Loads every revocation in Redis into the local view: a `SCAN` of every node that
    /// may hold one (on a Cluster, every primary: their slot lives on one, but a slot
    /// being migrated has keys on two).
    async fn load_snapshot(&self) -> Result<usize, DenylistError> {
        let nodes = self
            .connection
            .run(|mut link| async move { link.primaries().await })
            .await
            .map_err(Failure::into_error)?;
        let mut loaded = 0;
        for node in &nodes {
            for kind in [Kind::Jti, Kind::Cutoff] {
                loaded += self
                    .load_from(node.as_ref(), kind)
                    .await
                    .map_err(Failure::into_error)?;
            }
        }
        self.local.report_size_now();
        Ok(loaded)
    }

    /// Loads the revocations of `kind` held by `node`.
    async fn load_from(&self, node: Option<&(String, u16)>, kind: Kind) -> Result<usize, Failure> {
        let pattern = format!("{}{}*", glob_escape(&self.keys), kind.key_part());
        let mut loaded = 0;
        let mut cursor: u64 = 0;
        loop {
            let scan = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .clone();
            let (next, keys): (u64, Vec<String>) = self
                .connection
                .run(|mut link| async move { link.query_on(scan, node).await })
                .await?;
            if !keys.is_empty() {
                let get = redis::cmd("MGET").arg(&keys).clone();
                // MGET's keys share a slot on a Cluster: they share the hash tag.
                let slot_of = keys[0].clone();
                let values: Vec<Option<String>> = self
                    .connection
                    .run(|mut link| async move { link.query_at_key(get, &slot_of).await })
                    .await?;
                let keys = keys.iter().zip(values);
                for (key, value) in keys {
                    let Some((number, until)) = value.as_deref().and_then(parse_value) else {
                        continue;
                    };
                    let name = &key[self.keys.len() + kind.key_part().len()..];
                    self.apply(kind, name, number, until);
                    loaded += 1;
                }
            }
            cursor = next;
            if cursor == 0 {
                return Ok(loaded);
            }
        }
    }

    /// How long a subscription may take to answer a ping before it counts as lost.
    fn ping_timeout(&self) -> Duration {
        self.ping_interval
            .max(Duration::from_secs(1))
            .max(self.timeout)
    }
}

impl Denylist for RedisDenylist {
    fn revoke<'a>(
        &'a self,
        jti: &'a str,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        Box::pin(async move { self.inner.record(Kind::Jti, &[jti], 0.0, until).await })
    }

    fn revoke_many<'a>(
        &'a self,
        jtis: &'a [&'a str],
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        Box::pin(self.inner.record(Kind::Jti, jtis, 0.0, until))
    }

    fn revoke_all<'a>(
        &'a self,
        identity: &'a str,
        issued_before: SystemTime,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        let cutoff = numeric_date(issued_before);
        Box::pin(async move {
            self.inner
                .record(Kind::Cutoff, &[identity], cutoff, until)
                .await
        })
    }

    fn is_revoked<'a>(&'a self, token: TokenId<'a>) -> BoxFuture<'a, Result<bool, DenylistError>> {
        Box::pin(async move {
            let inner = &self.inner;
            if inner.local.is_token_revoked(token) {
                return Ok(true);
            }
            let jti_key = token.jti.map(|jti| inner.key(Kind::Jti, jti));
            let cutoff_key = inner.key(Kind::Cutoff, token.identity);
            let (exists, cutoff): (bool, Option<String>) = inner
                .connection
                .run(|mut link| async move {
                    match &jti_key {
                        Some(jti_key) => {
                            redis::pipe()
                                .exists(jti_key)
                                .get(&cutoff_key)
                                .query_async(&mut link)
                                .await
                        }
                        None => {
                            let cutoff: Option<String> = redis::cmd("GET")
                                .arg(&cutoff_key)
                                .query_async(&mut link)
                                .await?;
                            Ok((false, cutoff))
                        }
                    }
                })
                .await
                .map_err(Failure::into_error)?;
            let cutoff = cutoff.as_deref().and_then(parse_value).map(|(c, _)| c);
            Ok(exists || cutoff.is_some_and(|c| token.issued_at < c))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_deadlines() {
        let at = |ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        assert_eq!(
            parse_value("1764441455.123457 1800000000000"),
            Some((1764441455.123457, Some(at(1_800_000_000_000))))
        );
        assert_eq!(parse_value("0 never"), Some((0.0, None)));
        assert_eq!(parse_value("1764441455"), Some((1764441455.0, None)));
        assert_eq!(parse_value("x never"), None);
        assert_eq!(parse_value("1 soon"), None);
        assert_eq!(until_text(None), "never");
        assert_eq!(until_text(Some(at(1_500))), "1500");
        assert_eq!(
            until_text(Some(at(1_500) + Duration::from_micros(1))),
            "1501",
            "rounded up"
        );
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert_eq!(
            connected_replicas("# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"),
            Some(2)
        );
        assert_eq!(connected_replicas("role:slave\r\n"), None);
    }
}
