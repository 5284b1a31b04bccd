//! [`RedisTarget`]: which Redis to reach, and how it is laid out.

use std::fmt;

/// Where a Redis-backed part of the crate finds Redis (feature `redis`): one node, a
/// primary found through Sentinel, or a Cluster. Every Redis-backed type
/// ([`RedisDenylist`](crate::denylist::RedisDenylist),
/// [`RedisSessionStore`](crate::sessions::RedisSessionStore),
/// [`RedisThrottle`](crate::throttle::RedisThrottle)) takes one, and a URL string converts
/// into a single node.
///
/// Nodes are `host:port` or `redis://[user:password@]host:port[/db]` URLs. `Debug` shows
/// hosts and ports only, never a password.
///
/// ```
/// use tower_jwt_auth::redis_connection::RedisTarget;
///
/// let one = RedisTarget::from("redis://127.0.0.1:6379/");
/// let sentinel = RedisTarget::sentinel(["10.0.0.1:26379", "10.0.0.2:26379"], "mymaster");
/// let cluster = RedisTarget::cluster(["10.0.0.1:7000", "10.0.0.2:7000"]);
/// assert!(format!("{sentinel:?}").contains("mymaster"));
/// # let _ = (one, cluster);
/// ```
#[derive(Clone, PartialEq, Eq)]
#[must_use = "a target does nothing until connected to"]
pub struct RedisTarget {
    pub(crate) topology: Topology,
}

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Topology {
    Single(String),
    Sentinel {
        sentinels: Vec<String>,
        master: String,
        /// The data nodes' user and password (Sentinel's own are in the sentinels' URLs).
        auth: Option<(Option<String>, String)>,
    },
    Cluster(Vec<String>),
}

impl RedisTarget {
    /// One Redis node (a primary, with or without replicas), at `url`.
    pub fn single(url: impl Into<String>) -> Self {
        Self {
            topology: Topology::Single(node_url(url.into())),
        }
    }

    /// The primary that Sentinel names `master`, asked of `sentinels` (the Sentinels
    /// themselves, not the data nodes). After a failover, connections follow the new
    /// primary.
    pub fn sentinel(
        sentinels: impl IntoIterator<Item = impl Into<String>>,
        master: impl Into<String>,
    ) -> Self {
        Self {
            topology: Topology::Sentinel {
                sentinels: sentinels.into_iter().map(|s| node_url(s.into())).collect(),
                master: master.into(),
                auth: None,
            },
        }
    }

    /// Behind Sentinel: the user (`None`: the default user) and password of the data nodes
    /// (`AUTH`), which the Sentinels' URLs do not carry. Ignored for one node and a Cluster,
    /// whose URLs carry theirs.
    pub fn node_credentials(mut self, username: Option<&str>, password: impl Into<String>) -> Self {
        if let Topology::Sentinel { auth, .. } = &mut self.topology {
            *auth = Some((username.map(str::to_owned), password.into()));
        }
        self
    }

    /// A Redis Cluster (Redis 7 or later: revocations travel by sharded pub/sub), found
    /// through any of its `seeds`.
    pub fn cluster(seeds: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            topology: Topology::Cluster(seeds.into_iter().map(|s| node_url(s.into())).collect()),
        }
    }

    /// Whether this is a Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.topology, Topology::Cluster(_))
    }
}

/// `host:port` as a URL; URLs as they are.
fn node_url(node: String) -> String {
    let node = node.trim();
    if node.contains("://") {
        node.to_owned()
    } else {
        format!("redis://{node}")
    }
}

/// A node's URL without its user information.
fn redacted(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split('/').next().unwrap_or(rest)
}

impl From<&str> for RedisTarget {
    fn from(url: &str) -> Self {
        Self::single(url)
    }
}

impl From<String> for RedisTarget {
    fn from(url: String) -> Self {
        Self::single(url)
    }
}

impl From<&String> for RedisTarget {
    fn from(url: &String) -> Self {
        Self::single(url.as_str())
    }
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn nodes(urls: &[String]) -> Vec<&str> {
            urls.iter().map(|u| redacted(u)).collect()
        }
        match &self.topology {
            Topology::Single(url) => f.debug_tuple("Single").field(&redacted(url)).finish(),
            Topology::Sentinel {
                sentinels,
                master,
                auth,
            } => f
                .debug_struct("Sentinel")
                .field("sentinels", &nodes(sentinels))
                .field("master", master)
                .field("node_credentials", &auth.as_ref().map(|_| "<redacted>"))
                .finish(),
            Topology::Cluster(seeds) => f.debug_tuple("Cluster").field(&nodes(seeds)).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_and_debug() {
        let t = RedisTarget::cluster(["127.0.0.1:7000", "redis://u:secret@h:7001/0"]);
        assert!(
            t.topology
                == Topology::Cluster(vec![
                    "redis://127.0.0.1:7000".into(),
                    "redis://u:secret@h:7001/0".into()
                ])
        );
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("h:7001"), "{shown}");
        let single = format!("{:?}", RedisTarget::from("redis://:pw@127.0.0.1:6379/"));
        assert_eq!(single, "Single(\"127.0.0.1:6379\")");
        let sentinel = RedisTarget::sentinel(["127.0.0.1:26379"], "m")
            .node_credentials(Some("app"), "hunter2-secret");
        let shown = format!("{sentinel:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("app"),
            "{shown}"
        );
        assert!(shown.contains("redacted"), "{shown}");
        for url in [
            "redis://h:1?password=secret",
            "redis://h:1/?password=p@secret",
        ] {
            let shown = format!("{:?}", RedisTarget::from(url));
            assert!(!shown.contains("secret"), "{shown}");
        }
    }
}
