//! Revocation across instances through real Redis servers (started by the tests on free
//! loopback ports): propagation, no round trip with a warm view, revoke-all, outages (fail
//! closed, recovery, data kept across a restart), expiry; sessions and the login throttle.
//! The tests written `on_every_topology!` run on a single node, a 3-primary Cluster and a
//! Sentinel set (`name::single`, `name::cluster`, `name::sentinel`); `failover` holds the
//! failover and slot-migration tests.
// The topologies (process groups) are started the Unix way.
#![cfg(all(feature = "redis", unix))]

#[macro_use]
mod fleet;
mod failover;
#[cfg(all(feature = "jwks", feature = "testing"))]
mod outside;
mod proxy;
mod server;
#[cfg(feature = "testing")]
mod sessions;
mod throttle;
mod topology;
mod topology_tests;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;
use tower_jwt_auth::claims::Subject;
use tower_jwt_auth::denylist::{Denylist, RedisDenylist, TokenId};
use tower_jwt_auth::issue::TokenOptions;
use tower_jwt_auth::{JwtManager, JwtRequiredLayer};

use fleet::HasTarget;
use server::RedisServer;
use tower_jwt_auth::redis_connection::RedisTarget;

const SECRET: &str = "redis-test-secret-0123456789abcdefghijk";

/// One "instance": a manager whose denylist is shared through Redis.
async fn instance(redis: &impl HasTarget, prefix: &str) -> (JwtManager, RedisDenylist) {
    instance_at(redis.target(), prefix).await
}

/// A denylist on `target` under `prefix`, its view loaded (what every instance of the
/// tests starts with).
async fn trusted_denylist(target: impl Into<RedisTarget>, prefix: &str) -> RedisDenylist {
    let denylist = RedisDenylist::builder(target)
        // Replicas on a loaded 2-core machine may take longer than the default 300 ms.
        .replica_acks(1, REPLICA_WAIT)
        .prefix(prefix)
        .connect()
        .await
        .unwrap();
    assert!(
        denylist.wait_until_trusted(Duration::from_secs(10)).await,
        "view loaded"
    );
    denylist
}

/// An instance reaching Redis at `target` (e.g. through a proxy).
async fn instance_at(target: impl Into<RedisTarget>, prefix: &str) -> (JwtManager, RedisDenylist) {
    let denylist = trusted_denylist(target, prefix).await;
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
    TokenId::new(t.jti().unwrap(), t.identity(), t.issued_at().unwrap())
}

/// How long tests wait for a replica to acknowledge a revocation.
const REPLICA_WAIT: Duration = Duration::from_secs(3);

const REVOKED: &str = r#"{"msg":"Token has been revoked"}"#;

on_every_topology! {
async fn revocation_on_a_is_seen_by_b(redis: &Fleet) {
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
}

on_every_topology! {
async fn a_warm_view_answers_without_redis(redis: &Fleet) {
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
}

on_every_topology! {
async fn revoke_all_across_instances(redis: &Fleet) {
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
    a.revoke_all(Subject::local("ada")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for app in [&a_app, &b_app] {
        assert_eq!(
            call(app, "/", &old_ada).await,
            (StatusCode::UNAUTHORIZED, REVOKED.into())
        );
        assert_eq!(call(app, "/", &old_bob).await.0, StatusCode::OK);
    }
    // New tokens of the same identity, issued at once, work everywhere.
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
    // A revocation attempted during the outage is reported as failed, and not recorded
    // anywhere (so that its retry is a real one); meanwhile A fails closed too.
    let during = a.create_access_token("3").unwrap();
    assert!(a.revoke(&a.decode_token(&during).unwrap()).await.is_err());
    assert_eq!(call(&app(&a), "/", &during).await, unavailable);

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
    // The failed revocation, retried, reaches B; and new revocations flow again.
    a.revoke(&a.decode_token(&during).unwrap()).await.unwrap();
    assert_eq!(
        refused_within(&b_app, &during, Duration::from_secs(5)).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
    a.revoke(&a.decode_token(&valid).unwrap()).await.unwrap();
    let start = Instant::now();
    while call(&b_app, "/", &valid).await.0 == StatusCode::OK {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

on_every_topology! {
async fn entries_expire_with_their_token(redis: &Fleet) {
    let (a, _) = instance(&redis, "p5:").await;
    let token = a
        .create_access_token_with("1", TokenOptions::new().lifetime(Duration::from_secs(2)))
        .unwrap();
    let verified = a.decode_token(&token).unwrap();
    a.revoke(&verified).await.unwrap();
    let key = redis.revocation_key("p5:", &format!("jti:{}", verified.jti().unwrap()));
    // The value says until when (the token's expiry, leeway 0, to the millisecond); Redis
    // drops the key a minute later (slack for clocks that disagree).
    let exp_ms = (verified.expires_at().unwrap() * 1000.0).ceil() as i64;
    let value: String = redis.query_at(&key, redis::cmd("GET").arg(&key));
    assert_eq!(value, format!("0 {exp_ms}"));
    let expires_ms: i64 = redis.query_at(&key, redis::cmd("PEXPIRETIME").arg(&key));
    assert_eq!(expires_ms, exp_ms + 60_000);
    // An entry whose tokens have all expired is not recorded at all.
    let past = std::time::SystemTime::now() - Duration::from_secs(1);
    a.denylist().revoke("long-gone", Some(past)).await.unwrap();
    let gone = redis.revocation_key("p5:", "jti:long-gone");
    let exists: bool = redis.query_at(&gone, redis::cmd("EXISTS").arg(&gone));
    assert!(!exists);
}
}

/// Waits until `app` stops answering 200 for `token`, at most `within`; returns the answer.
async fn refused_within(app: &Router, token: &str, within: Duration) -> (StatusCode, String) {
    let start = Instant::now();
    loop {
        let answer = call(app, "/", token).await;
        if answer.0 != StatusCode::OK {
            println!("refused after {:?}: {answer:?}", start.elapsed());
            return answer;
        }
        assert!(
            start.elapsed() < within,
            "the revoked token was still accepted after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

on_every_topology! {
/// Tokens of other issuers may carry any `jti`: the test kit mints them (`TokenOptions`
/// refuses a chosen `jti`).
#[cfg(feature = "testing")]
async fn a_jti_with_spaces_reaches_every_instance(redis: &Fleet) {
    let (a, _) = instance(&redis, "p6:").await;
    let (b, _) = instance(&redis, "p6:").await;
    let b_app = app(&b);
    for jti in [
        "a jti with spaces",
        " leading",
        "trailing ",
        "tab\there",
        "line\nbreak",
    ] {
        let token = tower_jwt_auth::testing::token(&a, "ada")
            .claim("jti", jti)
            .mint();
        assert_eq!(call(&b_app, "/", &token).await.0, StatusCode::OK);
        a.revoke(&a.decode_token(&token).unwrap()).await.unwrap();
        assert_eq!(
            refused_within(&b_app, &token, Duration::from_secs(5)).await,
            (StatusCode::UNAUTHORIZED, REVOKED.into()),
            "{jti:?}"
        );
    }
    // A newly started instance loads them from Redis too.
    let (c, _) = instance(&redis, "p6:").await;
    let token = tower_jwt_auth::testing::token(&a, "ada")
        .claim("jti", "a jti with spaces")
        .mint();
    assert_eq!(
        call(&app(&c), "/", &token).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
}
}

on_every_topology! {
/// Logout through the auth service while Redis refuses writes: 503, and retried once Redis
/// takes writes again, the logout reaches the other instance.
async fn a_revoke_that_failed_is_retried_and_reaches_every_instance(redis: &Fleet) {
    let (a, _) = instance(&redis, "p7:").await;
    let (b, _) = instance(&redis, "p7:").await;
    let b_app = app(&b);
    let auth = tower_jwt_auth::service::AuthService::new(&a, tower_jwt_auth::service::MemoryUserStore::new());
    let logout = |token: String| {
        let auth = auth.clone();
        async move {
            let req = Request::post("/revoke")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            let res = auth.oneshot(req).await.unwrap();
            let status = res.status();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let token = a.create_access_token("ada").unwrap();

    // Redis is up, reads and pub/sub work, but it refuses writes (out of memory).
    redis.query_everywhere(redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("1"));
    let unavailable = (
        StatusCode::SERVICE_UNAVAILABLE,
        r#"{"msg":"Token revocation store unavailable"}"#.to_owned(),
    );
    assert_eq!(logout(token.clone()).await, unavailable);
    // Not done, so not done anywhere: the retry is a real retry, not "already revoked".
    assert_eq!(logout(token.clone()).await, unavailable);
    assert_eq!(call(&b_app, "/", &token).await.0, StatusCode::OK);

    redis.query_everywhere(redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("0"));
    assert_eq!(
        logout(token.clone()).await,
        (
            StatusCode::OK,
            r#"{"msg":"Successfully logged out"}"#.to_owned()
        )
    );
    assert_eq!(
        refused_within(&b_app, &token, Duration::from_secs(5)).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
}
}

/// B's connections go silent without closing (half-open TCP): within a few seconds B stops
/// trusting its view, so a revocation it did not hear of is never accepted for long; it
/// recovers over new connections and then refuses the token as revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_subscription_is_detected_within_seconds() {
    if !server::available() {
        return;
    }
    let redis = RedisServer::start();
    let proxy = proxy::SilentProxy::start(redis.addr()).await;
    let (a, _) = instance(&redis, "p8:").await;
    let (b, b_list) = instance_at(&proxy.url(), "p8:").await;
    let b_app = app(&b);
    let token = a.create_access_token("ada").unwrap();
    assert_eq!(call(&b_app, "/", &token).await.0, StatusCode::OK);

    proxy.silence();
    a.revoke(&a.decode_token(&token).unwrap()).await.unwrap();
    let start = Instant::now();
    let (status, _) = refused_within(&b_app, &token, Duration::from_secs(6)).await;
    assert!(
        matches!(
            status,
            StatusCode::UNAUTHORIZED | StatusCode::SERVICE_UNAVAILABLE
        ),
        "{status}"
    );
    // Never accepted again; and once B has resubscribed and reloaded, it knows why.
    while !(b_list.is_trusted() && call(&b_app, "/", &token).await.0 == StatusCode::UNAUTHORIZED) {
        assert_ne!(call(&b_app, "/", &token).await.0, StatusCode::OK);
        assert!(start.elapsed() < Duration::from_secs(30), "B recovers");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        call(&b_app, "/", &token).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
}

on_every_topology! {
/// The snapshot fails while the subscription lives (here: SCAN is forbidden): it is retried
/// until it succeeds, and only then is the view trusted.
async fn a_failed_snapshot_is_retried(redis: &Fleet) {
    let (a, _) = instance(&redis, "p9:").await;
    let revoked = a.create_access_token("ada").unwrap();
    a.revoke(&a.decode_token(&revoked).unwrap()).await.unwrap();

    redis.query_everywhere(redis::cmd("ACL").arg("SETUSER").arg("default").arg("-scan"));
    let b_list = RedisDenylist::builder(redis.target())
        .prefix("p9:")
        .connect()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!b_list.is_trusted(), "trusted without a snapshot");
    redis.query_everywhere(redis::cmd("ACL").arg("SETUSER").arg("default").arg("+scan"));
    assert!(
        b_list.wait_until_trusted(Duration::from_secs(10)).await,
        "the snapshot is retried"
    );
    let b = JwtManager::builder()
        .secret(SECRET)
        .denylist(b_list)
        .build()
        .unwrap();
    assert_eq!(
        call(&app(&b), "/", &revoked).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
}
}

on_every_topology! {
/// Revocations published while an instance loads its snapshot are applied before the view
/// is trusted: at the moment it is, every one of them is refused.
async fn messages_heard_during_the_snapshot_are_applied_before_trusting(redis: &Fleet) {
    // Many revocations in Redis make the snapshot take a while.
    let mut fill = redis::pipe();
    for i in 0..100_000 {
        fill.cmd("SET")
            .arg(redis.revocation_key("p10:", &format!("jti:filler-{i}")))
            .arg(0)
            .arg("EX")
            .arg(3600)
            .ignore();
    }
    let channel = redis.revocation_key("p10:", "revocations");
    redis.pipe_at(&channel, &fill);
    // On a Cluster, sharded pub/sub (`SSUBSCRIBE`, `SPUBLISH`).
    let (numsub, publish) = match redis.is_cluster() {
        true => ("SHARDNUMSUB", "SPUBLISH"),
        false => ("NUMSUB", "PUBLISH"),
    };
    let subscribers = || -> i64 {
        let counts: Vec<(String, i64)> =
            redis.query_at(&channel, redis::cmd("PUBSUB").arg(numsub).arg(&channel));
        counts[0].1
    };

    let connecting = tokio::spawn(RedisDenylist::builder(redis.target()).prefix("p10:").connect());
    while subscribers() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Announced only (no key for the snapshot to find): only the subscription carries them.
    // (The message layout is `<kind> <number> <until> <name>`.)
    let jtis: Vec<String> = (0..200).map(|i| format!("heard-{i}")).collect();
    let mut announce = redis::pipe();
    for jti in &jtis {
        announce
            .cmd(publish)
            .arg(&channel)
            .arg(format!("j 0 never {jti}"))
            .ignore();
    }
    redis.pipe_at(&channel, &announce);
    let b_list = connecting.await.unwrap().unwrap();
    assert!(!b_list.is_trusted(), "the snapshot outlasted the messages");
    while !b_list.is_trusted() {
        std::hint::spin_loop();
        tokio::task::yield_now().await;
    }
    let missing: Vec<&String> = jtis
        .iter()
        .rev()
        .filter(|jti| {
            !matches!(
                b_list.is_revoked_now(TokenId::new(jti, "x", 0.0)),
                Some(Ok(true))
            )
        })
        .collect();
    assert!(missing.is_empty(), "trusted before applying {missing:?}");
}
}

on_every_topology! {
/// Cut-offs only move forward, in every instance and in Redis, whatever order they arrive in.
async fn cut_offs_only_move_forward(redis: &Fleet) {
    let (a, a_list) = instance(&redis, "p11:").await;
    let (b, _) = instance(&redis, "p11:").await;
    let now = std::time::SystemTime::now();
    let later = now - Duration::from_secs(10);
    let earlier = now - Duration::from_secs(100);
    let between = a
        .create_access_token_with(
            "ada",
            TokenOptions::new().claim("iat", tower_jwt_auth_now() - 50),
        )
        .unwrap();
    let until = Some(now + Duration::from_secs(3600));
    a_list.revoke_all("ada", later, until).await.unwrap();
    a_list.revoke_all("ada", earlier, until).await.unwrap(); // late and out of order
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (c, _) = instance(&redis, "p11:").await;
    for m in [&a, &b, &c] {
        assert_eq!(
            call(&app(m), "/", &between).await,
            (StatusCode::UNAUTHORIZED, REVOKED.into())
        );
    }
}
}

/// Redis 6.2 has no `EXPIRETIME`: a server without it (renamed away here) still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_without_expiretime() {
    if !server::available() {
        return;
    }
    let redis = RedisServer::start_with(&["--rename-command", "EXPIRETIME", ""]);
    let (a, _) = instance(&redis, "p12:").await;
    let token = a.create_access_token("ada").unwrap();
    a.revoke(&a.decode_token(&token).unwrap()).await.unwrap();
    let cut = a.create_access_token_with(
        "bob",
        TokenOptions::new().claim("iat", tower_jwt_auth_now() - 10),
    );
    a.revoke_all(Subject::local("bob")).await.unwrap();
    let (b, _) = instance(&redis, "p12:").await;
    for token in [token, cut.unwrap()] {
        assert_eq!(
            call(&app(&b), "/", &token).await,
            (StatusCode::UNAUTHORIZED, REVOKED.into())
        );
    }
}

/// Where authorization meets a shared denylist: a token revoked on another instance is 401
/// on a route requiring a role it lacks (never 403), and while Redis is down such a route
/// fails closed with 503 before looking at roles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_and_outages_answer_before_roles() {
    if !server::available() {
        return;
    }
    let mut redis = RedisServer::start();
    let (a, _) = instance(&redis, "p9:").await;
    let (b, b_list) = instance(&redis, "p9:").await;
    let admins = Router::new().route(
        "/",
        get(|| async { "ok" }).route_layer(JwtRequiredLayer::new(&b).require_role("admin")),
    );
    let token = |role: &str| {
        a.create_access_token_with("1", TokenOptions::new().roles([role]))
            .unwrap()
    };
    let (user, admin) = (token("user"), token("admin"));
    assert_eq!(call(&admins, "/", &user).await.0, StatusCode::FORBIDDEN);
    assert_eq!(call(&admins, "/", &admin).await.0, StatusCode::OK);

    a.revoke(&a.decode_token(&user).unwrap()).await.unwrap();
    let mut keep = None;
    let tid = id(&b, &user, &mut keep);
    let start = Instant::now();
    while !matches!(b_list.is_revoked_now(tid), Some(Ok(true))) {
        assert!(start.elapsed() < Duration::from_secs(10), "B hears of it");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        call(&admins, "/", &user).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );

    redis.stop();
    let start = Instant::now();
    while b_list.is_trusted() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "B notices the outage"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let fresh_user = token("user");
    assert_eq!(
        call(&admins, "/", &fresh_user).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(call(&admins, "/", &user).await.0, StatusCode::UNAUTHORIZED);
}

/// A denylist dropped while its snapshot keeps failing (here: `SCAN` disabled, the
/// subscription alive) ends its background task and closes its connections at once: the
/// snapshot waiting to retry does not keep it alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_denylist_ends_while_its_snapshot_fails() {
    if !server::available() {
        return;
    }
    let redis = RedisServer::start_with(&["--rename-command", "SCAN", ""]);
    let denylist = RedisDenylist::builder(redis.url())
        .prefix("p10:")
        .connect()
        .await
        .unwrap();
    // Long enough for the snapshot's retries to back off to their longest wait (2 s).
    assert!(!denylist.wait_until_trusted(Duration::from_secs(4)).await);
    let admin = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // How many clients Redis has connected (ours included).
    let clients = || {
        let mut admin = admin.clone();
        async move {
            let list: String = redis::cmd("CLIENT")
                .arg("LIST")
                .query_async(&mut admin)
                .await
                .unwrap();
            list.lines().count()
        }
    };
    assert!(clients().await >= 2, "the denylist's connections and ours");
    drop(denylist);
    let start = Instant::now();
    while clients().await > 1 {
        // Not a retry's wait later: at once (a few polls of CLIENT LIST).
        assert!(
            start.elapsed() < Duration::from_millis(300),
            "the dropped denylist's connections are still open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A revocation is reported done only once an online replica holds it too (`WAIT`), so
/// that a failover is unlikely to lose it; one the replica does not acknowledge in time is reported
/// failed (the caller answers 503 and retries); a single node is never waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_wait_for_a_replica() {
    if !server::available() {
        return;
    }
    let primary = RedisServer::start();
    let port = primary.port.to_string();
    let replica = RedisServer::start_with(&[
        "--replicaof",
        "127.0.0.1",
        &port,
        "--enable-debug-command",
        "local",
    ]);
    let connect = |url: String| async move {
        redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    };
    let (mut on_primary, mut on_replica) =
        (connect(primary.url()).await, connect(replica.url()).await);
    let start = Instant::now();
    loop {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut on_primary)
            .await
            .unwrap();
        if info.contains("connected_slaves:1") && info.contains("state=online") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the replica connects"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A wait long enough for a loaded machine; the replica below sleeps longer.
    let denylist = RedisDenylist::builder(primary.url())
        .prefix("p11:")
        .replica_acks(1, Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    assert!(denylist.wait_until_trusted(Duration::from_secs(10)).await);
    let jwt = JwtManager::builder()
        .secret(SECRET)
        .denylist(denylist)
        .build()
        .unwrap();
    let revoke = |jwt: &JwtManager| {
        let token = jwt.create_access_token("1").unwrap();
        let verified = jwt.decode_token(&token).unwrap();
        let jwt = jwt.clone();
        async move { jwt.revoke(&verified).await }
    };

    // Acknowledged: the replica holds it the moment revoke returns.
    revoke(&jwt).await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("p11:*")
        .query_async(&mut on_replica)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");

    // A replica that does not answer: not acknowledged within the wait, reported failed.
    let mut sleeper = connect(replica.url()).await;
    let asleep = tokio::spawn(async move {
        let _: redis::RedisResult<()> = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg("2.5")
            .query_async(&mut sleeper)
            .await;
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = revoke(&jwt).await.unwrap_err();
    assert!(err.to_string().contains("replicas"), "{err}");
    asleep.await.unwrap();
    // Once the replica answers again (it catches up first), revocations are acknowledged.
    let start = Instant::now();
    while let Err(err) = revoke(&jwt).await {
        assert!(start.elapsed() < Duration::from_secs(5), "{err}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A single node is not waited for.
    let single = RedisServer::start();
    let (alone, _) = instance(&single, "p12:").await;
    let start = Instant::now();
    revoke(&alone).await.unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
}

on_every_topology! {
/// The server drops B's subscription (`CLIENT KILL TYPE pubsub` on every primary): B stops
/// trusting its view, resubscribes and reloads it, so a revocation made while it was
/// unsubscribed is refused, and its view is trusted again within 5 s.
async fn a_lost_subscription_is_reloaded(redis: &Fleet) {
    let (a, _) = instance(&redis, "p13:").await;
    let (b, b_list) = instance(&redis, "p13:").await;
    let b_app = app(&b);
    let token = a.create_access_token("ada").unwrap();
    assert_eq!(call(&b_app, "/", &token).await.0, StatusCode::OK);
    // RESP3 subscribers (the Cluster's) are killed as pubsub clients too.
    redis.query_everywhere(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"));
    let start = Instant::now();
    while b_list.is_trusted() {
        assert!(start.elapsed() < Duration::from_secs(3), "B noticed the lost subscription");
        tokio::task::yield_now().await;
    }
    a.revoke(&a.decode_token(&token).unwrap()).await.unwrap();
    assert!(
        b_list.wait_until_trusted(Duration::from_secs(5)).await,
        "B reloaded its view within 5 s"
    );
    println!("B trusted again after {:?}", start.elapsed());
    assert_eq!(
        call(&b_app, "/", &token).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
}
}
