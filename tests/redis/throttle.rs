//! The login throttle shared through Redis: two instances count together, concurrent
//! attempts never exceed a limit, `Retry-After` comes from Redis's clock, a success gives
//! its attempt back, accounts never appear in Redis, and an outage is an error (the auth
//! service then fails closed).

use std::net::IpAddr;
use std::time::Duration;

use tower_jwt_auth::throttle::{Admission, Attempt, KeyKind, Limits, LoginThrottle, RedisThrottle};

use crate::fleet::HasTarget;
use crate::server::{self, RedisServer};

async fn throttle(redis: &impl HasTarget, limits: Limits) -> RedisThrottle {
    RedisThrottle::builder(redis.target())
        .prefix("t:")
        .limits(limits)
        .connect()
        .await
        .unwrap()
}

fn from(account: &str, ip: &str) -> (String, Option<IpAddr>) {
    (account.to_owned(), Some(ip.parse().unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_counts_and_never_exceed_a_limit() {
    if !server::available() {
        return;
    }
    let mut redis = RedisServer::start();
    let limits = Limits::new(Duration::from_secs(60))
        .per_account_client(10)
        .per_account(0)
        .per_client(0);
    let (a, b) = (
        throttle(&redis, limits).await,
        throttle(&redis, limits).await,
    );
    let (account, ip) = from("Ada@Example.com", "192.0.2.1");

    // 30 concurrent attempts, half on each instance: exactly 10 admitted.
    let mut tasks = Vec::new();
    for i in 0..30 {
        let t = if i % 2 == 0 { a.clone() } else { b.clone() };
        let account = account.clone();
        tasks.push(tokio::spawn(async move {
            t.reserve(&Attempt::new(&account, ip)).await.unwrap()
        }));
    }
    let mut admitted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Admission::Admitted(_) => admitted += 1,
            Admission::Throttled { retry_after, key } => {
                assert_eq!(key, KeyKind::AccountClient);
                assert!(
                    (59..=60).contains(&retry_after.as_secs()),
                    "{retry_after:?}"
                );
            }
        }
    }
    assert_eq!(admitted, 10);
    // The same account in another spelling, on either instance: the same key.
    let lower = Attempt::new(" ada@example.com", ip);
    assert!(!b.reserve(&lower).await.unwrap().is_admitted());

    // Accounts and addresses never appear in Redis: hashed keys under the prefix.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(
            &mut redis::Client::open(redis.url())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("t:{login-throttle}:"), "{keys:?}");
    assert!(
        !keys[0].contains("ada") && !keys[0].contains("192"),
        "{keys:?}"
    );

    // An outage is an error, not an admission; the throttle recovers with Redis.
    redis.stop();
    assert!(a.reserve(&Attempt::new("x", ip)).await.is_err());
    redis.restart();
    let start = std::time::Instant::now();
    loop {
        match a.reserve(&Attempt::new("x", ip)).await {
            Ok(admission) => {
                assert!(admission.is_admitted());
                break;
            }
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(err) => panic!("{err}"),
        }
    }
}

on_every_topology! {
async fn a_success_gives_back_and_resets(redis: &Fleet) {
    let limits = Limits::new(Duration::from_secs(60))
        .per_account_client(2)
        .per_account(3)
        .per_client(0);
    let t = throttle(&redis, limits).await;
    let (account, here) = from("ada", "192.0.2.1");
    let (_, there) = from("ada", "192.0.2.2");
    let here = Attempt::new(&account, here);
    let there = Attempt::new(&account, there);
    // An undecided attempt is given back whole: it never counted.
    for _ in 0..3 {
        let Admission::Admitted(undecided) = t.reserve(&here).await.unwrap() else {
            panic!("admitted");
        };
        t.released(&here, undecided).await.unwrap();
    }
    assert!(t.reserve(&here).await.unwrap().is_admitted());
    let Admission::Admitted(ok) = t.reserve(&here).await.unwrap() else {
        panic!("admitted");
    };
    assert!(!t.reserve(&here).await.unwrap().is_admitted());
    // The second succeeded: (account, client) reset, the account back to one failure.
    t.succeeded(&here, ok).await.unwrap();
    assert!(t.reserve(&here).await.unwrap().is_admitted());
    assert!(t.reserve(&there).await.unwrap().is_admitted());
    let refused = t.reserve(&there).await.unwrap();
    assert_eq!(
        refused,
        Admission::Throttled {
            retry_after: refused.retry_after().unwrap(),
            key: KeyKind::Account
        }
    );
}
}
