//! Where several instances share their state: one Redis named by exactly one of
//! `REDIS_URL` (one node), `REDIS_SENTINELS` with `REDIS_SENTINEL_MASTER` (the primary
//! Sentinel names), or `REDIS_CLUSTER` (seed nodes); two at once stop the server at start.
//! Revocations, sessions and login failures all go there.

use std::sync::Arc;

use tower_jwt_auth::denylist::Denylist;
use tower_jwt_auth::sessions::SessionStore;
use tower_jwt_auth::throttle::{Limits, LoginThrottle};

/// The Redis the environment names, and the variable that named it.
pub struct Redis {
    #[cfg(feature = "redis")]
    target: tower_jwt_auth::redis_connection::RedisTarget,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub var: &'static str,
}

/// A comma-separated list of `host:port`, without empty items.
fn nodes(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

fn set(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// The Redis the environment names, if any; an error when it names two, or an incomplete
/// one, or when the example was built without the `redis` feature.
pub fn redis() -> Result<Option<Redis>, String> {
    let url = set("REDIS_URL");
    let sentinels = set("REDIS_SENTINELS");
    let cluster = set("REDIS_CLUSTER");
    let named: Vec<&str> = [
        ("REDIS_URL", url.is_some()),
        ("REDIS_SENTINELS", sentinels.is_some()),
        ("REDIS_CLUSTER", cluster.is_some()),
    ]
    .into_iter()
    .filter_map(|(var, is_set)| is_set.then_some(var))
    .collect();
    if named.len() > 1 {
        return Err(format!(
            "{} are set: name one Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER)",
            named.join(" and ")
        ));
    }
    let master = set("REDIS_SENTINEL_MASTER");
    if sentinels.is_some() != master.is_some() {
        return Err("REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together".into());
    }
    let Some(&var) = named.first() else {
        return Ok(None);
    };
    for (name, value) in [("REDIS_SENTINELS", &sentinels), ("REDIS_CLUSTER", &cluster)] {
        if value.as_deref().is_some_and(|v| nodes(v).is_empty()) {
            return Err(format!("{name}: no host:port"));
        }
    }
    #[cfg(feature = "redis")]
    {
        use tower_jwt_auth::redis_connection::RedisTarget;
        let target = match (url, sentinels, master, cluster) {
            (Some(url), ..) => RedisTarget::single(url),
            (_, Some(sentinels), Some(master), _) => {
                RedisTarget::sentinel(nodes(&sentinels), master)
            }
            (.., Some(cluster)) => RedisTarget::cluster(nodes(&cluster)),
            _ => unreachable!("one is set"),
        };
        Ok(Some(Redis { target, var }))
    }
    #[cfg(not(feature = "redis"))]
    Err(format!(
        "{var} is set, but the example was built without the `redis` feature: \
         cargo run --example server --features redis"
    ))
}

#[cfg(feature = "redis")]
impl Redis {
    /// Revocations shared through Redis; waits (a while) for the local view to load.
    pub async fn denylist(&self) -> Result<Arc<dyn Denylist>, String> {
        let denylist = tower_jwt_auth::denylist::RedisDenylist::connect(self.target.clone())
            .await
            .map_err(|e| format!("{}: {}", self.var, crate::chain(&e)))?;
        if !denylist
            .wait_until_trusted(std::time::Duration::from_secs(10))
            .await
        {
            tracing::warn!("the Redis revocation view is not loaded yet; guards will ask Redis");
        }
        tracing::info!(redis = ?self.target, "revocations shared through Redis");
        Ok(Arc::new(denylist))
    }

    /// Refresh-rotation sessions in Redis.
    pub async fn sessions(&self) -> Result<Arc<dyn SessionStore>, String> {
        let store = tower_jwt_auth::sessions::RedisSessionStore::connect(self.target.clone())
            .await
            .map_err(|e| format!("{}: {}", self.var, crate::chain(&e)))?;
        Ok(Arc::new(store))
    }

    /// Failed logins counted in Redis (the default prefix, `tower-jwt-auth:`, as the
    /// denylist's and the sessions' keys).
    pub async fn throttle(&self, limits: Limits) -> Result<Arc<dyn LoginThrottle>, String> {
        let throttle = tower_jwt_auth::throttle::RedisThrottle::builder(self.target.clone())
            .limits(limits)
            .connect()
            .await
            .map_err(|e| format!("{}: {}", self.var, crate::chain(&e)))?;
        tracing::info!("login failures counted in Redis");
        Ok(Arc::new(throttle))
    }
}

#[cfg(not(feature = "redis"))]
impl Redis {
    pub async fn denylist(&self) -> Result<Arc<dyn Denylist>, String> {
        unreachable!("never built without the feature")
    }
    pub async fn sessions(&self) -> Result<Arc<dyn SessionStore>, String> {
        unreachable!("never built without the feature")
    }
    pub async fn throttle(&self, _: Limits) -> Result<Arc<dyn LoginThrottle>, String> {
        unreachable!("never built without the feature")
    }
}
