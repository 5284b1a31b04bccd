//! The login throttle and the client's address: one throttle (in memory, or in Redis with
//! `REDIS_URL`) shared by `/token` and the page's `/web/token`, and the proxies whose
//! `X-Forwarded-For` is believed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use tower_jwt_auth::throttle::{KeyKind, Limits, LoginThrottle, MemoryThrottle, TrustedProxies};

use crate::env_parse;

/// What a throttled attempt answers, as the auth service does.
pub const THROTTLED: &str = "Too many login attempts, try again later";

/// One throttle behind both auth services (an `Arc`: failures on `/token` and on
/// `/web/token` count together; each service would otherwise keep counts of its own).
pub type SharedThrottle = Arc<dyn LoginThrottle>;

/// `LOGIN_THROTTLE_WINDOW` (seconds, default 900) and the three limits (`0`: off).
fn limits() -> Result<Limits, String> {
    let window = match env_parse::<u64>("LOGIN_THROTTLE_WINDOW")? {
        None => 900,
        Some(0) => {
            return Err("LOGIN_THROTTLE_WINDOW: expected a positive number of seconds".into())
        }
        Some(secs) => secs,
    };
    Ok(Limits::new(Duration::from_secs(window))
        .per_account_client(env_parse("LOGIN_MAX_FAILURES_PER_ACCOUNT_IP")?.unwrap_or(10))
        .per_account(env_parse("LOGIN_MAX_FAILURES_PER_ACCOUNT")?.unwrap_or(100))
        .per_client(env_parse("LOGIN_MAX_FAILURES_PER_IP")?.unwrap_or(100)))
}

/// Counters in Redis when one is named (shared by every instance), in memory otherwise.
pub async fn login_throttle(redis: Option<&crate::fleet::Redis>) -> Result<SharedThrottle, String> {
    let limits = limits()?;
    let throttle: Arc<dyn LoginThrottle> = match redis {
        Some(redis) => redis.throttle(limits).await?,
        None => Arc::new(MemoryThrottle::new(limits)),
    };
    tracing::info!(
        window_secs = limits.window().as_secs(),
        per_account_ip = limits.limit(KeyKind::AccountClient),
        per_account = limits.limit(KeyKind::Account),
        per_ip = limits.limit(KeyKind::Client),
        "login throttle (0: off)"
    );
    Ok(throttle)
}

/// `TRUSTED_PROXIES`: comma-separated addresses or CIDRs (default none).
pub fn trusted_proxies() -> Result<TrustedProxies, String> {
    let list = std::env::var("TRUSTED_PROXIES").unwrap_or_default();
    TrustedProxies::parse(&list).map_err(|e| format!("TRUSTED_PROXIES: {e}"))
}

/// Who sent a request, as the audit events name them: the client's address (the TCP peer,
/// or what trusted proxies report) and the `User-Agent`, at most 256 bytes.
pub fn client(proxies: &TrustedProxies, peer: SocketAddr, headers: &HeaderMap) -> (String, String) {
    let addr = proxies
        .client(Some(peer.ip()), headers)
        .map_or_else(|| "unknown".into(), |a| a.to_string());
    (addr, tower_jwt_auth::audit::user_agent(headers).to_owned())
}
