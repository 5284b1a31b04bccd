//! The one connection layer of every Redis-backed part of the crate (feature `redis`): a
//! [`RedisTarget`] names one node, a Sentinel-managed primary or a Cluster, and the
//! denylist, the session store and the login throttle all reach it the same way.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tower_jwt_auth::redis_connection::RedisTarget;
//! use tower_jwt_auth::sessions::RedisSessionStore;
//! use tower_jwt_auth::throttle::RedisThrottle;
//! use tower_jwt_auth::denylist::RedisDenylist;
//!
//! let redis = RedisTarget::sentinel(["127.0.0.1:26379"], "mymaster");
//! let denylist = RedisDenylist::connect(redis.clone()).await?;
//! let sessions = RedisSessionStore::connect(redis.clone()).await?;
//! let throttle = RedisThrottle::builder(redis).connect().await?;
//! # let _ = (denylist, sessions, throttle);
//! # Ok(())
//! # }
//! ```
//!
//! Inside, a connection is redis-rs's multiplexed connection (one node, or the primary
//! Sentinel names now) or its cluster client (which follows `MOVED`/`ASK` and failovers by
//! itself). Commands take no lock: the open connection is read from an
//! [`ArcSwap`](arc_swap). A command that times out or fails on I/O, or that reaches a
//! primary demoted to a replica (`READONLY`), drops the connection, and the next command
//! opens a new one, asking Sentinel again where the primary is. With Sentinel, commands
//! speak RESP3 (Redis 6 or later), so that a connection the primary closes (killed, or
//! demoted: Sentinel disconnects its clients) is dropped at once, and the first command after
//! a failover already reaches the new primary. (redis-rs's own `ConnectionManager` does not
//! reconnect after a timeout, so a half-open connection would never answer again.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, Client, Cmd, FromRedisValue, RedisFuture, Script, Value};

mod target;
pub use target::RedisTarget;
use target::Topology;

/// How connections to the target are opened.
enum Opener {
    Single(Client),
    /// Asked where the primary is: for commands (RESP3, so that a connection that drops is
    /// known at once), and for a subscription (RESP2 pub/sub).
    Sentinel(Box<Sentinels>),
    Cluster(Vec<String>),
}

/// Where Sentinel says the primary is.
struct Sentinels {
    commands: tokio::sync::Mutex<SentinelClient>,
    subscriptions: tokio::sync::Mutex<SentinelClient>,
    /// The Sentinels.
    nodes: Vec<String>,
    master: String,
    /// A connection to each Sentinel, to ask where the primary is.
    asking: Vec<tokio::sync::Mutex<Option<MultiplexedConnection>>>,
}

/// Forgets the open connection if it is the one numbered `id` (never a newer one).
fn forget(open: &ArcSwapOption<Opened>, id: u64) {
    let current = open.load();
    if current.as_ref().is_some_and(|o| o.id == id) {
        open.compare_and_swap(&*current, None);
    }
}

/// An open connection, numbered.
struct Opened {
    link: Link,
    id: u64,
}

/// Forgets the open connection numbered `id` as soon as it drops (a primary killed, or
/// demoted: Sentinel disconnects its clients), so that the next command asks Sentinel
/// where the primary is now instead of failing on the dead connection first.
struct ForgetOnDisconnect {
    open: Weak<ArcSwapOption<Opened>>,
    id: u64,
}

impl redis::aio::AsyncPushSender for ForgetOnDisconnect {
    fn send(&self, info: redis::PushInfo) -> Result<(), redis::aio::SendError> {
        if info.kind == redis::PushKind::Disconnection {
            if let Some(open) = self.open.upgrade() {
                forget(&open, self.id);
            }
        }
        Ok(())
    }
}

/// An open connection: to one node, or to a Cluster.
#[derive(Clone)]
pub(crate) enum Link {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Node(c) => c.req_packed_command(cmd),
            Link::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Node(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Node(c) => c.get_db(),
            Link::Cluster(c) => c.get_db(),
        }
    }
}

impl Link {
    /// Runs `cmd` on the primary holding `key`'s slot (on one node: that node), on the
    /// connection that primary's other commands use (a `WAIT`, a barrier `PING`).
    pub(crate) async fn query_at_key<T: FromRedisValue>(
        &mut self,
        cmd: Cmd,
        key: &str,
    ) -> redis::RedisResult<T> {
        match self {
            Link::Node(c) => cmd.query_async(c).await,
            Link::Cluster(c) => {
                let route = Route::with_key(key.as_bytes(), SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                T::from_redis_value(c.route_command(cmd, routing).await?).map_err(Into::into)
            }
        }
    }

    /// Runs `pipe` on the primary holding `key`'s slot, on one connection (on one node: the
    /// node's); the answers of its commands.
    pub(crate) async fn pipeline_at_key(
        &mut self,
        pipe: redis::Pipeline,
        key: &str,
    ) -> redis::RedisResult<Vec<Value>> {
        match self {
            Link::Node(c) => pipe.query_async(c).await,
            Link::Cluster(c) => {
                let count = pipe.len();
                let route = Route::with_key(key.as_bytes(), SlotAddr::Master);
                c.route_pipeline(pipe, 0, count, SingleNodeRoutingInfo::SpecificNode(route))
                    .await
            }
        }
    }

    /// Runs `cmd` on the node at `node` (`None`: the one node).
    pub(crate) async fn query_on<T: FromRedisValue>(
        &mut self,
        cmd: Cmd,
        node: Option<&(String, u16)>,
    ) -> redis::RedisResult<T> {
        match (self, node) {
            (Link::Cluster(c), Some((host, port))) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                T::from_redis_value(c.route_command(cmd, routing).await?).map_err(Into::into)
            }
            (link, _) => cmd.query_async(link).await,
        }
    }

    /// The nodes a `SCAN` must visit to see every key: the one node, or every Cluster
    /// primary that is not failing.
    pub(crate) async fn primaries(&mut self) -> redis::RedisResult<Vec<Option<(String, u16)>>> {
        let Link::Cluster(c) = self else {
            return Ok(vec![None]);
        };
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary);
        let nodes: String = String::from_redis_value(
            c.route_command(redis::cmd("CLUSTER").arg("NODES").clone(), routing)
                .await?,
        )?;
        Ok(cluster_primaries(&nodes).into_iter().map(Some).collect())
    }
}

/// The primaries in a `CLUSTER NODES` answer (`<id> <host:port@bus> <flags> ...`), except
/// those the Cluster agreed have failed.
fn cluster_primaries(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, addr, flags) = (fields.next()?, fields.next()?, fields.next()?);
            // Every primary, also one some node only suspects of failing (`fail?`): a node
            // that cannot be scanned fails the snapshot (retried), rather than be skipped.
            // Only one the Cluster agreed has failed (`fail`: its slots moved), or that has no
            // address yet, holds nothing to read.
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master")
                || flags
                    .iter()
                    .any(|f| matches!(*f, "fail" | "noaddr" | "handshake"))
            {
                return None;
            }
            let addr = addr.split('@').next()?;
            let (host, port) = addr.rsplit_once(':')?;
            Some((host.trim_matches(['[', ']']).to_owned(), port.parse().ok()?))
        })
        .collect()
}

/// A connection to a [`RedisTarget`], opened on demand and replaced after a failure, each
/// command bounded in time. Errors are messages (`redis: ...`) for the caller's own error.
pub(crate) struct RedisConnection {
    opener: Opener,
    config: AsyncConnectionConfig,
    timeout: Duration,
    longest: Duration,
    open: Arc<ArcSwapOption<Opened>>,
    opened: AtomicU64,
    /// Connection failures in a row.
    failures: std::sync::atomic::AtomicU32,
    /// Held while opening; when the last attempt failed.
    opening: tokio::sync::Mutex<Option<Instant>>,
}

impl RedisConnection {
    /// A connection to `target` (not opened yet), `timeout` per command; answers may take
    /// up to `longest` (a `WAIT`).
    pub(crate) fn new(
        target: &RedisTarget,
        timeout: Duration,
        longest: Duration,
    ) -> Result<Self, Failure> {
        let longest = longest.max(timeout);
        let opener = match &target.topology {
            Topology::Single(url) => {
                Opener::Single(Client::open(url.as_str()).map_err(Failure::from)?)
            }
            Topology::Sentinel {
                sentinels,
                master,
                auth,
            } => {
                let client = |info| {
                    SentinelClient::build(
                        sentinels.iter().map(String::as_str).collect(),
                        master.clone(),
                        info,
                        SentinelServerType::Master,
                    )
                    .map(tokio::sync::Mutex::new)
                    .map_err(Failure::from)
                };
                let mut node = redis::RedisConnectionInfo::default();
                if let Some((username, password)) = auth {
                    node = node.set_password(password);
                    if let Some(username) = username {
                        node = node.set_username(username);
                    }
                }
                let info =
                    |node| SentinelNodeConnectionInfo::default().set_redis_connection_info(node);
                Opener::Sentinel(Box::new(Sentinels {
                    commands: client(Some(info(
                        node.clone().set_protocol(redis::ProtocolVersion::RESP3),
                    )))?,
                    subscriptions: client(Some(info(node)))?,
                    nodes: sentinels.clone(),
                    master: master.clone(),
                    asking: sentinels
                        .iter()
                        .map(|_| tokio::sync::Mutex::new(None))
                        .collect(),
                }))
            }
            Topology::Cluster(seeds) => {
                if seeds.is_empty() {
                    return Err("redis: a Cluster needs at least one seed node".into());
                }
                Opener::Cluster(seeds.clone())
            }
        };
        Ok(Self {
            opener,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(longest)),
            timeout,
            longest,
            open: Arc::new(ArcSwapOption::empty()),
            opened: AtomicU64::new(0),
            failures: std::sync::atomic::AtomicU32::new(0),
            opening: tokio::sync::Mutex::new(None),
        })
    }

    /// Whether the target is a Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.opener, Opener::Cluster(_))
    }

    /// The open connection, or a new one. After a failed attempt, fails at once for one
    /// timeout instead of each command waiting for its own attempt.
    pub(crate) async fn get(&self) -> Result<Link, Failure> {
        self.get_numbered().await.map(|(link, _)| link)
    }

    /// [`get`](Self::get), with the connection's number.
    async fn get_numbered(&self) -> Result<(Link, u64), Failure> {
        if let Some(open) = &*self.open.load() {
            return Ok((open.link.clone(), open.id));
        }
        let mut failed_at = self.opening.lock().await;
        if let Some(open) = &*self.open.load() {
            return Ok((open.link.clone(), open.id));
        }
        if failed_at.is_some_and(|at| at.elapsed() < self.timeout) {
            return Err("redis: not connected".into());
        }
        let id = self.opened.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(self.timeout.saturating_mul(2), self.connect(id)).await {
            Ok(Ok(link)) => {
                self.open.store(Some(Arc::new(Opened {
                    link: link.clone(),
                    id,
                })));
                self.failures.store(0, Ordering::Relaxed);
                *failed_at = None;
                Ok((link, id))
            }
            Ok(Err(err)) => {
                *failed_at = Some(Instant::now());
                Err(Failure::from(err))
            }
            Err(_) => {
                *failed_at = Some(Instant::now());
                Err("redis: timed out connecting".into())
            }
        }
    }

    async fn connect(&self, id: u64) -> redis::RedisResult<Link> {
        Ok(match &self.opener {
            Opener::Single(client) => Link::Node(
                client
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await?,
            ),
            Opener::Sentinel(sentinels) => {
                let client = sentinels.commands.lock().await.async_get_client().await?;
                let config = self.config.clone().set_push_sender(ForgetOnDisconnect {
                    open: Arc::downgrade(&self.open),
                    id,
                });
                Link::Node(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                )
            }
            Opener::Cluster(seeds) => Link::Cluster(
                self.cluster_client(seeds, None)?
                    .get_async_connection()
                    .await?,
            ),
        })
    }

    /// A client of the one node commands go to: the node, or the primary Sentinel names
    /// now (asked each time). Not for a Cluster.
    pub(crate) async fn node_client(&self) -> redis::RedisResult<Client> {
        match &self.opener {
            Opener::Single(client) => Ok(client.clone()),
            Opener::Sentinel(sentinels) => {
                sentinels
                    .subscriptions
                    .lock()
                    .await
                    .async_get_client()
                    .await
            }
            Opener::Cluster(_) => Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "a Cluster has no single node",
            ))),
        }
    }

    /// Behind Sentinel, the addresses of the primary each Sentinel that answers names now,
    /// asked of all at once (empty for one node or a Cluster, or when none answers).
    pub(crate) async fn sentinel_primaries(&self) -> Vec<(String, u16)> {
        let Opener::Sentinel(sentinels) = &self.opener else {
            return Vec::new();
        };
        let ask = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&sentinels.master)
            .clone();
        let asks = sentinels
            .nodes
            .iter()
            .zip(&sentinels.asking)
            .map(|(node, asking)| {
                let ask = &ask;
                async move {
                    let mut asking = asking.lock().await;
                    if asking.is_none() {
                        let client = Client::open(node.as_str()).ok()?;
                        *asking = client
                            .get_multiplexed_async_connection_with_config(&self.config)
                            .await
                            .ok();
                    }
                    let answer = ask
                        .query_async::<Option<(String, u16)>>(asking.as_mut()?)
                        .await;
                    if answer.is_err() {
                        *asking = None;
                    }
                    answer.ok().flatten()
                }
            });
        futures_util::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// A new Cluster connection of its own, speaking RESP3 and pushing what the server
    /// pushes (messages, disconnections) to `pushes`.
    pub(crate) async fn cluster_subscriber(
        &self,
        pushes: tokio::sync::mpsc::UnboundedSender<redis::PushInfo>,
    ) -> redis::RedisResult<ClusterConnection> {
        let Opener::Cluster(seeds) = &self.opener else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "not a Cluster",
            )));
        };
        self.cluster_client(seeds, Some(pushes))?
            .get_async_connection()
            .await
    }

    fn cluster_client(
        &self,
        seeds: &[String],
        pushes: Option<tokio::sync::mpsc::UnboundedSender<redis::PushInfo>>,
    ) -> redis::RedisResult<ClusterClient> {
        let mut builder = ClusterClientBuilder::new(seeds.iter().map(String::as_str))
            .connection_timeout(self.timeout)
            .response_timeout(self.longest)
            .retries(2);
        if let Some(pushes) = pushes {
            builder = builder
                .use_protocol(redis::ProtocolVersion::RESP3)
                .push_sender(pushes);
        }
        builder.build()
    }

    /// Forgets the open connection; the next command opens a new one.
    pub(crate) fn reset(&self) {
        self.open.store(None);
    }

    /// Forgets the connection numbered `id` if it is still the open one (a failure seen on
    /// it must not drop a newer one).
    fn reset_if(&self, id: u64) {
        forget(&self.open, id);
    }

    /// Whether a failure should drop the connection. A Cluster client reconnects the nodes
    /// it reaches by itself, and a new one would have to learn the slots again: it is
    /// dropped only after three failures in a row (a client that no longer answers at all).
    fn drops_connection(&self, failed: bool) -> bool {
        if !failed {
            self.failures.store(0, Ordering::Relaxed);
            return false;
        }
        !self.is_cluster() || self.failures.fetch_add(1, Ordering::Relaxed) + 1 >= 3
    }

    /// Runs `work` on the connection within the timeout.
    pub(crate) async fn run<T, F, Fut>(&self, work: F) -> Result<T, Failure>
    where
        F: FnOnce(Link) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        self.run_within(self.timeout, work).await
    }

    /// [`run`](Self::run) with a time of its own (a `WAIT`).
    pub(crate) async fn run_within<T, F, Fut>(
        &self,
        timeout: Duration,
        work: F,
    ) -> Result<T, Failure>
    where
        F: FnOnce(Link) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let (link, id) = self.get_numbered().await?;
        let (answer, connection_failed) = match tokio::time::timeout(timeout, work(link)).await {
            Ok(Ok(value)) => (Ok(value), false),
            Ok(Err(err)) => {
                let failed = err.is_io_error()
                    || err.is_unrecoverable_error()
                    || err.is_timeout()
                    || err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly);
                (Err(Failure::from(err)), failed)
            }
            Err(_) => (Err("redis: timed out".into()), true),
        };
        // Only what happens on the open connection counts (not a late answer on one that
        // was replaced meanwhile).
        let current = self.open.load().as_ref().is_some_and(|o| o.id == id);
        if current && self.drops_connection(connection_failed) {
            self.reset_if(id);
        }
        answer
    }

    /// Runs `script` with `keys` and `args`.
    pub(crate) async fn script<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[impl AsRef<str>],
        args: &[impl AsRef<str>],
    ) -> Result<T, Failure> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key.as_ref());
        }
        for arg in args {
            invocation.arg(arg.as_ref());
        }
        self.run(|mut link| async move { invocation.invoke_async::<T>(&mut link).await })
            .await
    }

    /// Runs one command.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Failure> {
        self.run(|mut link| async move { cmd.query_async::<T>(&mut link).await })
            .await
    }
}

mod failure;
pub(crate) use failure::Failure;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primaries_from_cluster_nodes() {
        let nodes = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922
c3 127.0.0.1:7002@17002 master,fail - 0 0 3 connected
d4 127.0.0.1:7003@17003 slave a1 0 0 1 connected
e5 [::1]:7004@17004 master - 0 0 5 connected 10923-16383
f6 127.0.0.1:7005@17005 master,fail? - 0 0 6 connected 16000
";
        assert_eq!(
            cluster_primaries(nodes),
            vec![
                ("127.0.0.1".into(), 7000),
                ("127.0.0.1".into(), 7001),
                ("::1".into(), 7004),
                ("127.0.0.1".into(), 7005)
            ]
        );
    }
}
