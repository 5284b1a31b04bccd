//! Two example servers sharing one database and one Redis, on each topology the server
//! takes (`REDIS_URL`, `REDIS_SENTINELS` + `REDIS_SENTINEL_MASTER`, `REDIS_CLUSTER`): a
//! logout on one is refused by the other within 100 ms, a password change refuses the user's
//! older tokens on both, and rotation's reuse detection works across them; a Sentinel
//! failover (the primary SIGKILLed right after a batch of logouts was answered 200) loses
//! none of them, and no guarded request gets a 5xx once the views are reloaded.

use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::{json, Value};

use super::fleet::{Fleet, Kind};
use super::harness::{Server, TempDb};
use super::{change_password, login, register};

fn revoked() -> (StatusCode, Value) {
    (
        StatusCode::UNAUTHORIZED,
        json!({"msg": "Token has been revoked"}),
    )
}

/// The environment naming `redis` to the server.
fn redis_env(redis: &Fleet) -> Vec<(&'static str, String)> {
    let nodes = |ports: Vec<u16>| {
        ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    match redis {
        Fleet::Single(server) => vec![("REDIS_URL", server.url())],
        Fleet::Cluster(_) => vec![("REDIS_CLUSTER", nodes(redis.primaries()))],
        Fleet::Sentinel(set) => {
            let set = set.lock().unwrap();
            vec![
                ("REDIS_SENTINELS", set.sentinels().join(",")),
                ("REDIS_SENTINEL_MASTER", set.master_name().to_owned()),
            ]
        }
    }
}

/// Two servers on one database and `redis`, rotation on, no reuse grace.
fn two_servers(name: &str, redis: &Fleet) -> (TempDb, Server, Server) {
    let db = TempDb::new(name);
    let mut env = redis_env(redis);
    env.push(("JWT_REFRESH_ROTATION", "true".into()));
    env.push(("JWT_REFRESH_REUSE_GRACE", "0".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = Server::start(&db.path(), &env);
    let b = Server::start(&db.path(), &env);
    (db, a, b)
}

/// Polls `server` until `token` is refused as revoked; returns how long that took.
async fn refused_by(server: &Server, token: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let answer = server.get("/me", Some(token)).await;
        if answer == revoked() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "still {answer:?} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

on_every_topology! {
/// A logout on one instance is refused on the other within 100 ms; a password change
/// refuses the user's older tokens on both; a refresh token spent on one and presented again
/// on the other revokes the session on both.
async fn two_servers_share_logouts_passwords_and_sessions(redis: &Fleet) {
    let (_db, a, b) = two_servers("topo", redis);
    register(&a, "ada", "ada@example.com", "pw-of-ada-0").await;

    // Logout on A, refused on B within 100 ms of A's answer.
    let (access, _) = login(&a, "ada@example.com", "pw-of-ada-0").await;
    assert_eq!(b.get("/me", Some(&access)).await.0, StatusCode::OK);
    let (status, body) = a.post("/revoke", Some(&access), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let took = refused_by(&b, &access, Duration::from_millis(100)).await;
    println!("logout on A refused by B after {took:?}");

    // A password change on B refuses the older tokens on both.
    let (older_a, _) = login(&a, "ada@example.com", "pw-of-ada-0").await;
    let (older_b, _) = login(&b, "ada@example.com", "pw-of-ada-0").await;
    assert_eq!(
        change_password(&b, &older_b, "pw-of-ada-0", "pw-of-ada-1").await,
        (StatusCode::OK, json!({"msg": "Password updated"}))
    );
    for token in [&older_a, &older_b] {
        refused_by(&a, token, Duration::from_millis(100)).await;
        refused_by(&b, token, Duration::from_millis(100)).await;
    }
    let (newer, _) = login(&a, "ada@example.com", "pw-of-ada-1").await;
    assert_eq!(b.get("/me", Some(&newer)).await.0, StatusCode::OK);

    // Rotation: spent on A, presented again on B: the session ends on both.
    let (access, refresh) = login(&a, "ada@example.com", "pw-of-ada-1").await;
    let (status, rotated) = a.post("/refresh", Some(&refresh), None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let next = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(b.post("/refresh", Some(&refresh), None).await, revoked());
    assert_eq!(a.post("/refresh", Some(&next), None).await, revoked());
    refused_by(&a, &access, Duration::from_millis(100)).await;
    refused_by(&b, &access, Duration::from_millis(100)).await;
}
}

/// Sentinel failover under the example servers: the primary is SIGKILLed right after a
/// batch of logouts was answered 200 (one replica, `min-replicas` not set). Every token of
/// the batch stays refused on both servers, new logouts work, and once both have reloaded
/// their view no guarded request gets a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_loses_no_logout() {
    let Some(redis) = Fleet::start(Kind::Sentinel) else {
        return;
    };
    let (db, a, b) = two_servers("failover", &redis);
    register(&a, "ada", "ada@example.com", "pw-of-ada").await;
    let mut batch = Vec::new();
    for _ in 0..10 {
        batch.push(login(&a, "ada@example.com", "pw-of-ada").await.0);
    }
    let (valid, _) = login(&b, "ada@example.com", "pw-of-ada").await;
    for token in &batch {
        let (status, body) = a.post("/revoke", Some(token), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    const LOADED: &str = "revocation view loaded from Redis";
    let loads = (a.log_lines(LOADED).len(), b.log_lines(LOADED).len());
    let channel = redis.revocation_key("tower-jwt-auth:", "revocations");
    let killed = redis.kill_primary_of(&channel);

    // Refused all along (each server's view holds them), also while there is no primary.
    let failover = tokio::spawn(async move {
        let promoted =
            tokio::task::block_in_place(|| redis.wait_failover(&channel, Duration::from_secs(20)));
        (redis, promoted)
    });
    while !failover.is_finished() {
        for server in [&a, &b] {
            assert_eq!(server.get("/me", Some(&batch[0])).await, revoked());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (redis, promoted) = failover.await.unwrap();
    assert_ne!(killed, promoted);
    let promoted_at = Instant::now();

    // Both reload their view from the new primary, within 5 s.
    while a.log_lines(LOADED).len() == loads.0 || b.log_lines(LOADED).len() == loads.1 {
        assert!(
            promoted_at.elapsed() < Duration::from_secs(5),
            "both servers reload their view within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "views reloaded {:?} after the promotion",
        promoted_at.elapsed()
    );

    // From now on: no 5xx, every token of the batch refused, the valid one accepted.
    let mut calls = 0;
    for token in &batch {
        for server in [&a, &b] {
            assert_eq!(server.get("/me", Some(token)).await, revoked());
            assert_eq!(server.get("/me", Some(&valid)).await.0, StatusCode::OK);
            calls += 2;
        }
    }
    // A server started now finds them in the new primary.
    let env = redis_env(&redis);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let c = Server::start(&db.path(), &env);
    for token in &batch {
        assert_eq!(
            c.get("/me", Some(token)).await,
            revoked(),
            "lost in the failover"
        );
    }
    // Logins (their throttle, their session) and new logouts work, on both.
    for server in [&a, &b] {
        login(server, "ada@example.com", "pw-of-ada").await;
    }
    let (status, body) = b.post("/revoke", Some(&valid), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    refused_by(&a, &valid, Duration::from_millis(100)).await;
    println!("{calls} guarded requests after the reload, none 5xx");
}
