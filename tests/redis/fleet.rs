//! One Redis test run against each topology: [`Fleet`] is a single node, a 3-primary
//! Cluster or a Sentinel set (primary, replica, sentinel), and `on_every_topology!` turns one
//! `async fn name(redis: &Fleet)` into the tests `name::single`, `name::cluster` and
//! `name::sentinel`.

use std::sync::Mutex;

use tower_jwt_auth::redis_connection::RedisTarget;

use crate::server::{self, RedisServer};
use crate::topology::{self, Cluster, SentinelSet};

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Single,
    Cluster,
    /// 3 primaries with a replica each.
    ClusterWithReplicas,
    Sentinel,
}

pub enum Fleet {
    Single(RedisServer),
    Cluster(Mutex<Cluster>),
    Sentinel(Mutex<SentinelSet>),
}

impl Fleet {
    /// The topology, or `None` (after saying why) when the binaries are missing.
    pub fn start(kind: Kind) -> Option<Self> {
        Some(match kind {
            Kind::Single => Fleet::Single(server::available().then(RedisServer::start)?),
            Kind::Cluster => {
                Fleet::Cluster(Mutex::new(topology::available().then(Cluster::start)?))
            }
            Kind::ClusterWithReplicas => Fleet::Cluster(Mutex::new(
                topology::available().then(Cluster::start_with_replicas)?,
            )),
            Kind::Sentinel => {
                Fleet::Sentinel(Mutex::new(topology::available().then(SentinelSet::start)?))
            }
        })
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Fleet::Cluster(_))
    }

    /// Where the crate finds it.
    pub fn target(&self) -> RedisTarget {
        match self {
            Fleet::Single(server) => RedisTarget::single(server.url()),
            Fleet::Cluster(cluster) => RedisTarget::cluster(cluster.lock().unwrap().seeds()),
            Fleet::Sentinel(set) => {
                let set = set.lock().unwrap();
                RedisTarget::sentinel(set.sentinels(), set.master_name())
            }
        }
    }

    /// The denylist's key for `rest` (`jti:<jti>`, `cutoff:<identity>`, `revocations` for
    /// the channel) under `prefix`: on a Cluster, under the hash tag `{revocations}`.
    pub fn revocation_key(&self, prefix: &str, rest: &str) -> String {
        if self.is_cluster() {
            format!("{prefix}{{revocations}}:{rest}")
        } else {
            format!("{prefix}{rest}")
        }
    }

    /// The port of every primary.
    pub fn primaries(&self) -> Vec<u16> {
        match self {
            Fleet::Single(server) => vec![server.port],
            Fleet::Cluster(cluster) => {
                let seeds = cluster.lock().unwrap().seeds();
                seeds
                    .iter()
                    .map(|s| s.rsplit(':').next().unwrap().parse().unwrap())
                    .collect()
            }
            Fleet::Sentinel(set) => vec![set.lock().unwrap().primary_port()],
        }
    }

    /// The port of the primary holding `key`.
    pub fn primary_of(&self, key: &str) -> u16 {
        match self {
            Fleet::Cluster(cluster) => cluster.lock().unwrap().primary_for_key(key),
            _ => self.primaries()[0],
        }
    }

    /// SIGKILLs the primary holding `key`; returns its port.
    pub fn kill_primary_of(&self, key: &str) -> u16 {
        match self {
            Fleet::Single(_) => panic!("a single node has no failover"),
            Fleet::Cluster(cluster) => cluster.lock().unwrap().kill_primary_of(key),
            Fleet::Sentinel(set) => set.lock().unwrap().kill_primary(),
        }
    }

    /// Waits until a replica was promoted for `key`; returns its port.
    pub fn wait_failover(&self, key: &str, within: std::time::Duration) -> u16 {
        match self {
            Fleet::Single(_) => panic!("a single node has no failover"),
            Fleet::Cluster(cluster) => cluster.lock().unwrap().wait_failover(key, within),
            Fleet::Sentinel(set) => set.lock().unwrap().wait_failover(within),
        }
    }

    /// Moves the Cluster slot holding `key` to the primary at `to`.
    pub fn migrate_slot_of(&self, key: &str, to: u16) {
        match self {
            Fleet::Cluster(cluster) => cluster.lock().unwrap().migrate_slot_of(key, to),
            _ => panic!("only a Cluster has slots"),
        }
    }

    /// Stops (`STOP`) or resumes (`CONT`) the node at `port`.
    pub fn signal(&self, port: u16, signal: &str) {
        match self {
            Fleet::Single(_) => panic!("a single node is started by the test itself"),
            Fleet::Cluster(cluster) => cluster.lock().unwrap().signal(port, signal),
            Fleet::Sentinel(set) => set.lock().unwrap().signal(port, signal),
        }
    }

    /// Runs `cmd` on the primary holding `key`.
    pub fn query_at<T: redis::FromRedisValue>(&self, key: &str, cmd: &redis::Cmd) -> T {
        topology::query(self.primary_of(key), cmd)
    }

    /// Runs `pipe` on the primary holding `key`.
    pub fn pipe_at(&self, key: &str, pipe: &redis::Pipeline) {
        let port = self.primary_of(key);
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let _: redis::Value = pipe.query(&mut client.get_connection().unwrap()).unwrap();
    }

    /// Runs `cmd` on every primary.
    pub fn query_everywhere(&self, cmd: &redis::Cmd) {
        for port in self.primaries() {
            let _: redis::Value = topology::query(port, cmd);
        }
    }

    /// Calls of every command so far on every primary, except those the topology makes by
    /// itself (`INFO`, `PING`, a sentinel's hello `PUBLISH`, replication's `REPLCONF`, the
    /// Cluster's own) and the subscriptions' liveness pings.
    pub fn command_calls(&self) -> u64 {
        self.primaries()
            .into_iter()
            .map(|port| {
                let info: String = topology::query(port, redis::cmd("INFO").arg("commandstats"));
                info.lines()
                    .filter(|l| l.starts_with("cmdstat_"))
                    .filter(|l| {
                        ![
                            "info", "ping", "publish", "replconf", "cluster", "command", "client",
                            "hello", "psync", "sync",
                        ]
                        .iter()
                        .any(|c| {
                            l.starts_with(&format!("cmdstat_{c}:"))
                                || l.starts_with(&format!("cmdstat_{c}|"))
                        })
                    })
                    .filter_map(|l| {
                        l.split("calls=")
                            .nth(1)?
                            .split(',')
                            .next()?
                            .parse::<u64>()
                            .ok()
                    })
                    .sum::<u64>()
            })
            .sum()
    }
}

/// `async fn name(redis: &Fleet) { ... }` run as the tests `name::single`,
/// `name::cluster` and `name::sentinel`.
macro_rules! on_every_topology {
    ($(#[$attr:meta])* async fn $name:ident($fleet:ident: &Fleet) $body:block) => {
        $(#[$attr])*
        async fn $name($fleet: &$crate::fleet::Fleet) $body

        $(#[$attr])*
        mod $name {
            use $crate::fleet::{Fleet, Kind};

            async fn on(kind: Kind) {
                if let Some(fleet) = Fleet::start(kind) {
                    super::$name(&fleet).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn single() {
                on(Kind::Single).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cluster() {
                on(Kind::Cluster).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sentinel() {
                on(Kind::Sentinel).await
            }
        }
    };
}

/// What names a Redis for the crate: a [`Fleet`], or a single [`RedisServer`].
pub trait HasTarget {
    fn target(&self) -> RedisTarget;
}

impl HasTarget for Fleet {
    fn target(&self) -> RedisTarget {
        Fleet::target(self)
    }
}

impl HasTarget for RedisServer {
    fn target(&self) -> RedisTarget {
        RedisTarget::single(self.url())
    }
}

impl<T: HasTarget> HasTarget for &T {
    fn target(&self) -> RedisTarget {
        T::target(self)
    }
}
