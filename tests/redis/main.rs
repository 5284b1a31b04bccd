//! Revocation across instances through a real `redis-server` (started by the test on a free
//! loopback port): propagation, no round trip with a warm view, revoke-all, an outage
//! (fail closed, recovery, data kept across a restart) and expiry.
#![cfg(feature = "redis")]

mod server;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;
use tower_jwt_auth::denylist::TokenId;
use tower_jwt_auth::{Denylist, JwtManager, JwtRequiredLayer, RedisDenylist, TokenOptions};

use server::RedisServer;

const SECRET: &str = "redis-test-secret-0123456789abcdefghijk";

/// One "instance": a manager whose denylist is shared through Redis.
async fn instance(redis: &RedisServer, prefix: &str) -> (JwtManager, RedisDenylist) {
    let denylist = RedisDenylist::builder(redis.url())
        .prefix(prefix)
        .connect()
        .await
        .unwrap();
    assert!(
        denylist.wait_until_trusted(Duration::from_secs(10)).await,
        "view loaded"
    );
    let jwt = JwtManager::builder()
        .secret(SECRET)
        .denylist(denylist.clone())
        .build()
        .unwrap();
    (jwt, denylist)
}

fn app(jwt: &JwtManager) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { "ok" }).route_layer(JwtRequiredLayer::new(jwt)),
        )
        .route(
            "/open",
            get(|| async { "ok" }).route_layer(JwtRequiredLayer::new(jwt).fail_open(true)),
        )
}

async fn call(app: &Router, path: &str, token: &str) -> (StatusCode, String) {
    let req = Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn id<'a>(
    jwt: &JwtManager,
    token: &'a str,
    keep: &'a mut Option<tower_jwt_auth::VerifiedToken>,
) -> TokenId<'a> {
    *keep = Some(jwt.decode_token(token).unwrap());
    let t = keep.as_ref().unwrap();
    TokenId {
        jti: t.jti().unwrap(),
        identity: t.identity(),
        issued_at: t.issued_at().unwrap(),
    }
}

const REVOKED: &str = r#"{"msg":"Token has been revoked"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_on_a_is_seen_by_b() {
    if !server::available() {
        return;
    }
    let redis = RedisServer::start();
    let (a, _) = instance(&redis, "p1:").await;
    let (b, b_list) = instance(&redis, "p1:").await;
    let b_app = app(&b);

    let mut samples = Vec::new();
    for _ in 0..20 {
        let token = a.create_access_token("1").unwrap();
        assert_eq!(call(&b_app, "/", &token).await.0, StatusCode::OK);
        let verified = a.decode_token(&token).unwrap();
        let mut keep = None;
        let tid = id(&b, &token, &mut keep);
        let start = Instant::now();
        a.revoke(&verified).await.unwrap();
        while !matches!(b_list.is_revoked_now(tid), Some(Ok(true))) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "B hears of the revocation"
            );
            tokio::task::yield_now().await;
        }
        samples.push(start.elapsed());
        assert_eq!(
            call(&b_app, "/", &token).await,
            (StatusCode::UNAUTHORIZED, REVOKED.into())
        );
    }
    samples.sort();
    println!(
        "revocation propagation A -> B over Redis pub/sub: median {:?}, max {:?} (20 samples)",
        samples[samples.len() / 2],
        samples[samples.len() - 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_view_answers_without_redis() {
    if !server::available() {
        return;
    }
    let redis = RedisServer::start();
    let (a, _) = instance(&redis, "p2:").await;
    let (b, _) = instance(&redis, "p2:").await;
    let b_app = app(&b);
    let revoked = a.create_access_token("1").unwrap();
    a.revoke(&a.decode_token(&revoked).unwrap()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let token = a.create_access_token("2").unwrap();

    let before = redis.command_calls();
    for _ in 0..200 {
        assert_eq!(call(&b_app, "/", &token).await.0, StatusCode::OK);
    }
    assert_eq!(
        call(&b_app, "/", &revoked).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
    let after = redis.command_calls();
    assert_eq!(
        after - before,
        0,
        "201 guarded requests caused Redis commands"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_all_across_instances() {
    if !server::available() {
        return;
    }
    let redis = RedisServer::start();
    let (a, _) = instance(&redis, "p3:").await;
    let (b, _) = instance(&redis, "p3:").await;
    let (a_app, b_app) = (app(&a), app(&b));
    let earlier = |who: &str| {
        a.create_access_token_with(
            who,
            TokenOptions::new().claim("iat", json!(tower_jwt_auth_now() - 10)),
        )
        .unwrap()
    };
    let (old_ada, old_bob) = (earlier("ada"), earlier("bob"));
    a.revoke_all("ada").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for app in [&a_app, &b_app] {
        assert_eq!(
            call(app, "/", &old_ada).await,
            (StatusCode::UNAUTHORIZED, REVOKED.into())
        );
        assert_eq!(call(app, "/", &old_bob).await.0, StatusCode::OK);
    }
    // After the cut-off's second, new tokens of the same identity work everywhere.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let new_ada = a.create_access_token("ada").unwrap();
    for app in [&a_app, &b_app] {
        assert_eq!(call(app, "/", &new_ada).await.0, StatusCode::OK);
    }
    // A third instance starting now loads the cut-off from Redis.
    let (c, _) = instance(&redis, "p3:").await;
    assert_eq!(
        call(&app(&c), "/", &old_ada).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
}

fn tower_jwt_auth_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_fails_closed_and_recovers() {
    if !server::available() {
        return;
    }
    let mut redis = RedisServer::start();
    let (a, _) = instance(&redis, "p4:").await;
    let (b, b_list) = instance(&redis, "p4:").await;
    let b_app = app(&b);
    let revoked = a.create_access_token("1").unwrap();
    a.revoke(&a.decode_token(&revoked).unwrap()).await.unwrap();
    let valid = a.create_access_token("2").unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    redis.stop();
    let start = Instant::now();
    while b_list.is_trusted() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "B notices the outage"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Fail closed: an unknown-state token gets 503; a revoked one is never accepted.
    let unavailable = (
        StatusCode::SERVICE_UNAVAILABLE,
        r#"{"msg":"Token revocation store unavailable"}"#.to_owned(),
    );
    assert_eq!(call(&b_app, "/", &valid).await, unavailable);
    assert_eq!(
        call(&b_app, "/", &revoked).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
    // A route that prefers availability lets the valid token through, never the revoked one.
    assert_eq!(call(&b_app, "/open", &valid).await.0, StatusCode::OK);
    assert_eq!(
        call(&b_app, "/open", &revoked).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A revocation attempted during the outage is reported, not dropped.
    let during = a.create_access_token("3").unwrap();
    assert!(a.revoke(&a.decode_token(&during).unwrap()).await.is_err());
    assert_eq!(
        call(&app(&a), "/", &during).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into()),
        "A honours it locally"
    );

    // Redis returns with its data: B recovers by itself, revocations still honoured.
    redis.restart();
    assert!(
        b_list.wait_until_trusted(Duration::from_secs(15)).await,
        "B trusts its view again"
    );
    assert_eq!(call(&b_app, "/", &valid).await.0, StatusCode::OK);
    assert_eq!(
        call(&b_app, "/", &revoked).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
    let (c, _) = instance(&redis, "p4:").await;
    assert_eq!(
        call(&app(&c), "/", &revoked).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into()),
        "kept across the restart"
    );
    // And new revocations flow again.
    a.revoke(&a.decode_token(&valid).unwrap()).await.unwrap();
    let start = Instant::now();
    while call(&b_app, "/", &valid).await.0 == StatusCode::OK {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_expire_with_their_token() {
    if !server::available() {
        return;
    }
    let redis = RedisServer::start();
    let (a, _) = instance(&redis, "p5:").await;
    let token = a
        .create_access_token_with("1", TokenOptions::new().lifetime(Duration::from_secs(2)))
        .unwrap();
    let verified = a.decode_token(&token).unwrap();
    a.revoke(&verified).await.unwrap();
    let key = format!("p5:jti:{}", verified.jti().unwrap());
    let expires: i64 = redis.query(redis::cmd("EXPIRETIME").arg(&key));
    assert_eq!(
        expires as f64,
        verified.expires_at().unwrap(),
        "expires with the token (leeway 0)"
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let exists: bool = redis.query(redis::cmd("EXISTS").arg(&key));
    assert!(!exists, "gone from Redis once the token expired");
}
