//! Black-box tests of `examples/server.rs` over real HTTP on loopback: every route, the
//! login failure paths, revocation surviving a restart, the login storm, and interop with
//! the real Flask-JWT-Extended.
// The support files are shared by several test crates, and some include each other.
#![allow(clippy::duplicate_mod)]

#[cfg(all(feature = "redis", unix))]
#[macro_use]
#[path = "../redis/fleet.rs"]
#[allow(dead_code)]
mod fleet;
#[cfg(feature = "redis")]
#[path = "../redis/server.rs"]
#[allow(dead_code)]
mod server;
#[cfg(all(feature = "redis", unix))]
mod topologies;
#[cfg(all(feature = "redis", unix))]
#[path = "../redis/topology.rs"]
mod topology;

mod admin;
mod browser;
mod challenges;
#[path = "../support/flask.rs"]
mod flask;
mod friends;
mod harness;
mod keys;
mod locations;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "jwks")]
mod outside;
mod policy;
mod sessions;
mod throttle;
mod walkthrough;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use tower_jwt_auth::claims::{Freshness, TokenType};
use tower_jwt_auth::JwtManager;

use harness::{Server, TempDb, SECRET};

fn manager() -> JwtManager {
    JwtManager::builder().secret(SECRET).build().unwrap()
}

async fn register(s: &Server, username: &str, email: &str, password: &str) -> Value {
    let (status, body) = s
        .post(
            "/users",
            None,
            Some(json!({"username": username, "email": email, "password": password})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn login(s: &Server, email: &str, password: &str) -> (String, String) {
    let (status, body) = s
        .post(
            "/token",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn full_login_flow() {
    let db = TempDb::new("flow");
    let s = Server::start(&db.path(), &[]);
    let m = manager();

    assert_eq!(s.get("/health", None).await.0, StatusCode::OK);

    // Registration.
    let ada = register(&s, "ada", "ada@example.com", "first password").await;
    assert_eq!(
        ada,
        json!({"id": 1, "username": "ada", "email": "ada@example.com"})
    );
    register(&s, "bob", "bob@example.com", "bob's password").await;
    for (body, status) in [
        (
            json!({"username": "ada", "email": "other@example.com", "password": "a good password"}),
            409,
        ),
        (
            json!({"username": "other", "email": "ADA@example.com", "password": "a good password"}),
            409,
        ),
        (
            json!({"username": "carl", "password": "a good password"}),
            400,
        ),
        (
            json!({"username": "carl", "email": "not-an-email", "password": "a good password"}),
            400,
        ),
        (
            json!({"username": "carl", "email": "carl@example.com", "password": ""}),
            400,
        ),
        (
            json!({"username": "", "email": "carl@example.com", "password": "a good password"}),
            400,
        ),
    ] {
        let (got, reply) = s.post("/users", None, Some(body.clone())).await;
        assert_eq!(got.as_u16(), status, "{body} -> {reply}");
        assert!(reply["msg"].is_string(), "{reply}");
    }

    // Login, and identical failures.
    let (access, refresh) = login(&s, "ada@example.com", "first password").await;
    let decoded = m.decode_token(&access).unwrap();
    assert_eq!(
        (decoded.identity(), decoded.freshness()),
        ("1", Freshness::Fresh)
    );
    let failure = json!({"msg": "email or password is incorrect"});
    for body in [
        json!({"email": "nobody@example.com", "password": "first password"}),
        json!({"email": "ada@example.com", "password": "wrong password"}),
        json!({"email": "ada@example.com", "password": ""}),
    ] {
        assert_eq!(
            s.post("/token", None, Some(body)).await,
            (StatusCode::UNAUTHORIZED, failure.clone())
        );
    }

    // The optional view: anonymous, as the owner, as someone else.
    assert_eq!(
        s.get("/users/ada", None).await,
        (StatusCode::OK, json!({"id": 1, "username": "ada"}))
    );
    assert_eq!(
        s.get("/users/ada", Some(&access)).await,
        (
            StatusCode::OK,
            json!({"id": 1, "username": "ada", "email": "ada@example.com", "friends": []})
        )
    );
    let (bob_access, _) = login(&s, "bob@example.com", "bob's password").await;
    assert_eq!(
        s.get("/users/ada", Some(&bob_access)).await.1,
        json!({"id": 1, "username": "ada"})
    );
    assert_eq!(
        s.get("/users/nobody", None).await,
        (StatusCode::NOT_FOUND, json!({"msg": "user not found"}))
    );

    // /me.
    let me = json!({"id": 1, "username": "ada", "email": "ada@example.com", "friends": []});
    assert_eq!(
        s.get("/me", Some(&access)).await,
        (StatusCode::OK, me.clone())
    );
    assert_eq!(
        s.get("/me", None).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie \"access_token_cookie\")"})
        )
    );
    assert_eq!(s.get("/whoami", Some(&access)).await.1, json!({"sub": "1"}));

    // Refresh: a non-fresh access token that works on /me but not on the fresh route.
    let (status, body) = s.post("/refresh", Some(&refresh), None).await;
    assert_eq!(status, StatusCode::OK);
    let refreshed = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        m.decode_token(&refreshed).unwrap().freshness(),
        Freshness::NotFresh
    );
    assert_eq!(s.get("/me", Some(&refreshed)).await.1, me);
    assert_eq!(
        s.post("/refresh", Some(&access), None).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Only refresh tokens are allowed"})
        )
    );

    // Password change needs a fresh token and the old password.
    let change = json!({"old_password": "first password", "new_password": "second password"});
    assert_eq!(
        s.call(
            Method::PUT,
            "/me/password",
            Some(&refreshed),
            Some(change.clone())
        )
        .await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Fresh token required"})
        )
    );
    let wrong = json!({"old_password": "nope", "new_password": "second password"});
    assert_eq!(
        s.call(Method::PUT, "/me/password", Some(&access), Some(wrong))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.call(Method::PUT, "/me/password", Some(&access), Some(change))
            .await,
        (StatusCode::OK, json!({"msg": "Password updated"}))
    );
    assert_eq!(
        s.post(
            "/token",
            None,
            Some(json!({"email": "ada@example.com", "password": "first password"}))
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    // The change revoked every token issued until then (revoke-all), on every device.
    let revoked = (
        StatusCode::UNAUTHORIZED,
        json!({"msg": "Token has been revoked"}),
    );
    assert_eq!(s.get("/me", Some(&access)).await, revoked);
    assert_eq!(s.get("/me", Some(&refreshed)).await, revoked);
    assert_eq!(s.post("/refresh", Some(&refresh), None).await, revoked);
    // Logging in again at once gives tokens that work.
    let (access, refresh) = login(&s, "ada@example.com", "second password").await;
    assert_eq!(s.get("/me", Some(&access)).await.0, StatusCode::OK);

    // Revoke the access token, then the refresh token, then both at once.
    let logged_out = (StatusCode::OK, json!({"msg": "Successfully logged out"}));
    assert_eq!(s.post("/revoke", Some(&access), None).await, logged_out);
    assert_eq!(s.get("/me", Some(&access)).await, revoked);
    assert_eq!(
        s.post("/refresh", Some(&refresh), None).await.0,
        StatusCode::OK
    );
    assert_eq!(s.post("/revoke", Some(&refresh), None).await, logged_out);
    assert_eq!(s.post("/refresh", Some(&refresh), None).await, revoked);
    let (access2, refresh2) = login(&s, "ada@example.com", "second password").await;
    assert_eq!(
        s.post(
            "/revoke",
            Some(&access2),
            Some(json!({"refresh_token": refresh2}))
        )
        .await,
        logged_out
    );
    assert_eq!(s.get("/me", Some(&access2)).await, revoked);
    assert_eq!(s.post("/refresh", Some(&refresh2), None).await, revoked);
    let (still_valid, _) = login(&s, "ada@example.com", "second password").await;

    // Restart on the same database: revocations and accounts survive.
    drop(s);
    let s = Server::start(&db.path(), &[]);
    for token in [&access, &access2] {
        assert_eq!(s.get("/me", Some(token)).await, revoked);
    }
    for token in [&refresh, &refresh2] {
        assert_eq!(s.post("/refresh", Some(token), None).await, revoked);
    }
    assert_eq!(s.get("/me", Some(&still_valid)).await, (StatusCode::OK, me));
    login(&s, "ada@example.com", "second password").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_storm_gets_503_while_me_keeps_answering() {
    let db = TempDb::new("storm");
    let s = std::sync::Arc::new(Server::start(
        &db.path(),
        &[
            ("PASSWORD_HASH_CONCURRENCY", "1"),
            ("PASSWORD_HASH_MAX_WAIT_MS", "20"),
            // The hash pool's limit, not the login throttle's: 16 logins at once from one
            // address are 16 attempts in flight for (account, address), over its 10.
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT_IP", "0"),
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "0"),
            ("LOGIN_MAX_FAILURES_PER_IP", "0"),
        ],
    ));
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (access, _) = login(&s, "ada@example.com", "pw-of-ada").await;

    let logins: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                s.post(
                    "/token",
                    None,
                    Some(json!({"email": "ada@example.com", "password": "pw-of-ada"})),
                )
                .await
            })
        })
        .collect();
    let mes: Vec<_> = (0..16)
        .map(|_| {
            let (s, access) = (s.clone(), access.clone());
            tokio::spawn(async move { s.get("/me", Some(&access)).await.0 })
        })
        .collect();

    let mut busy = 0;
    let mut ok = 0;
    for task in logins {
        let (status, body) = task.await.unwrap();
        match status.as_u16() {
            200 => ok += 1,
            503 => {
                assert_eq!(
                    body,
                    json!({"msg": "Too many logins in progress, try again shortly"})
                );
                busy += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    for task in mes {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    assert!(ok >= 1 && busy >= 1, "ok={ok} busy={busy}");
}

#[tokio::test]
async fn interop_with_flask_jwt_extended() {
    let Some(python) = flask::python() else {
        return;
    };
    let db = TempDb::new("interop");
    let s = Server::start(&db.path(), &[]);
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (access, refresh) = login(&s, "ada@example.com", "pw-of-ada").await;

    let out = flask::run(&python, SECRET, "1", &[&access, &refresh]);
    let m = manager();
    for (decoded, (token, kind, fresh)) in out["decoded"]
        .as_array()
        .unwrap()
        .iter()
        .zip([(&access, "access", true), (&refresh, "refresh", false)])
    {
        assert!(decoded.get("error").is_none(), "{decoded}");
        let c = &decoded["claims"];
        let ours = m.decode_token(token).unwrap();
        assert_eq!(c["type"], kind);
        assert_eq!(c["fresh"], fresh);
        assert_eq!(c["sub"], "1");
        assert_eq!(c["jti"].as_str(), ours.jti());
        assert_eq!(c["exp"].as_f64(), ours.expires_at());
    }

    // Tokens made by Flask-JWT-Extended for the registered user's id.
    let created = &out["created"];
    let token = |name: &str| created[name].as_str().unwrap().to_owned();
    let me = json!({"id": 1, "username": "ada", "email": "ada@example.com", "friends": []});
    assert_eq!(
        s.get("/me", Some(&token("access"))).await,
        (StatusCode::OK, me.clone())
    );
    assert_eq!(s.get("/me", Some(&token("extra"))).await.0, StatusCode::OK);
    let (status, body) = s.post("/refresh", Some(&token("refresh")), None).await;
    assert_eq!(status, StatusCode::OK);
    let refreshed = body["access_token"].as_str().unwrap();
    assert_eq!(
        m.decode_token(refreshed).unwrap().token_type(),
        &TokenType::Access
    );
    assert_eq!(
        s.get("/me", Some(&token("expired"))).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Token has expired"})
        )
    );
    let change = json!({"old_password": "pw-of-ada", "new_password": "pw2-of-ada"});
    assert_eq!(
        s.call(
            Method::PUT,
            "/me/password",
            Some(&token("fresh")),
            Some(change)
        )
        .await
        .0,
        StatusCode::OK
    );
}

/// Two server processes sharing one database and one Redis: a logout on one is honoured by
/// the other.
#[cfg(feature = "redis")]
#[tokio::test]
async fn two_instances_share_revocations_through_redis() {
    if !server::available() {
        return;
    }
    let redis = server::RedisServer::start();
    let db = TempDb::new("two");
    let env = [("REDIS_URL", redis.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = Server::start(&db.path(), &env);
    let b = Server::start(&db.path(), &env);
    register(&a, "ada", "ada@example.com", "pw-of-ada").await;
    let (access, refresh) = login(&a, "ada@example.com", "pw-of-ada").await;
    assert_eq!(b.get("/me", Some(&access)).await.0, StatusCode::OK);

    assert_eq!(
        a.post(
            "/revoke",
            Some(&access),
            Some(json!({"refresh_token": refresh}))
        )
        .await
        .0,
        StatusCode::OK
    );
    let revoked = (
        StatusCode::UNAUTHORIZED,
        json!({"msg": "Token has been revoked"}),
    );
    let start = std::time::Instant::now();
    while b.get("/me", Some(&access)).await != revoked {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "B hears of the logout"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    println!("logout on A refused by B after {:?}", start.elapsed());
    assert_eq!(b.post("/refresh", Some(&refresh), None).await, revoked);
}

async fn change_password(s: &Server, access: &str, old: &str, new: &str) -> (StatusCode, Value) {
    s.call(
        Method::PUT,
        "/me/password",
        Some(access),
        Some(json!({"old_password": old, "new_password": new})),
    )
    .await
}

/// Four password changes in a row, each followed at once by a new login: the new tokens
/// work, every older one is refused. `env` configures the server; with `restart`, the server
/// is restarted on the same database before the final checks.
async fn password_changes_in_a_row(name: &str, env: &[(&str, &str)], restart: bool) {
    let db = TempDb::new(name);
    let mut s = Server::start(&db.path(), env);
    register(&s, "ada", "ada@example.com", "password 0").await;
    let revoked = (
        StatusCode::UNAUTHORIZED,
        json!({"msg": "Token has been revoked"}),
    );
    let mut older: Vec<(String, String)> = Vec::new();
    let (mut access, mut refresh) = login(&s, "ada@example.com", "password 0").await;
    for round in 1..=4 {
        let (old, new) = (
            format!("password {}", round - 1),
            format!("password {round}"),
        );
        assert_eq!(
            change_password(&s, &access, &old, &new).await,
            (StatusCode::OK, json!({"msg": "Password updated"})),
            "round {round}"
        );
        older.push((access, refresh));
        (access, refresh) = login(&s, "ada@example.com", &new).await;
        assert_eq!(
            s.get("/me", Some(&access)).await.0,
            StatusCode::OK,
            "round {round}"
        );
        assert_eq!(
            s.post("/refresh", Some(&refresh), None).await.0,
            StatusCode::OK,
            "round {round}"
        );
        for (old_access, old_refresh) in &older {
            assert_eq!(
                s.get("/me", Some(old_access)).await,
                revoked,
                "round {round}"
            );
            assert_eq!(
                s.post("/refresh", Some(old_refresh), None).await,
                revoked,
                "round {round}"
            );
        }
    }
    if restart {
        drop(s);
        s = Server::start(&db.path(), env);
    }
    assert_eq!(s.get("/me", Some(&access)).await.0, StatusCode::OK);
    for (old_access, old_refresh) in &older {
        assert_eq!(s.get("/me", Some(old_access)).await, revoked);
        assert_eq!(s.post("/refresh", Some(old_refresh), None).await, revoked);
    }
}

#[tokio::test]
async fn a_login_right_after_a_password_change_works() {
    password_changes_in_a_row("changes", &[], true).await;
}

#[tokio::test]
async fn never_expiring_tokens_are_revoked_too_and_stay_revoked() {
    let never = [
        ("JWT_ACCESS_TOKEN_EXPIRES", "never"),
        ("JWT_REFRESH_TOKEN_EXPIRES", "never"),
    ];
    password_changes_in_a_row("never", &never, true).await;
    password_changes_in_a_row("never-access", &never[..1], true).await;
    password_changes_in_a_row("never-refresh", &never[1..], true).await;
}

#[cfg(feature = "redis")]
#[path = "../redis/proxy.rs"]
mod proxy;

/// Waits until `s` stops accepting `token` on `/me`, at most `within`; returns the answer.
#[cfg(feature = "redis")]
async fn refused_within(
    s: &Server,
    token: &str,
    within: std::time::Duration,
) -> (StatusCode, Value) {
    let start = std::time::Instant::now();
    loop {
        let answer = s.get("/me", Some(token)).await;
        if answer.0 != StatusCode::OK {
            println!("refused after {:?}: {answer:?}", start.elapsed());
            return answer;
        }
        assert!(start.elapsed() < within, "still accepted after {within:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Two instances on one Redis, black-box: A talks to Redis directly, B through a proxy
/// that can go silent. Returns them with the proxy and Redis, which must outlive them.
#[cfg(feature = "redis")]
async fn two_instances(
    name: &str,
) -> Option<(
    server::RedisServer,
    proxy::SilentProxy,
    TempDb,
    Server,
    Server,
)> {
    if !server::available() {
        return None;
    }
    let redis = server::RedisServer::start();
    let proxy = proxy::SilentProxy::start(redis.addr()).await;
    let db = TempDb::new(name);
    let a = Server::start(&db.path(), &[("REDIS_URL", redis.url().as_str())]);
    let b = Server::start(&db.path(), &[("REDIS_URL", proxy.url().as_str())]);
    register(&a, "ada", "ada@example.com", "pw-of-ada").await;
    Some((redis, proxy, db, a, b))
}

#[cfg(feature = "redis")]
fn revoked() -> (StatusCode, Value) {
    (
        StatusCode::UNAUTHORIZED,
        json!({"msg": "Token has been revoked"}),
    )
}

/// A jti with spaces (any issuer may choose one) revoked on A is refused by B.
#[cfg(all(feature = "redis", feature = "testing"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_a_jti_with_spaces() {
    let Some((_redis, _proxy, _db, a, b)) = two_instances("spaces").await else {
        return;
    };
    let spaced = tower_jwt_auth::testing::token(&manager(), "1")
        .claim("jti", "a jti with spaces")
        .mint();
    assert_eq!(b.get("/me", Some(&spaced)).await.0, StatusCode::OK);
    assert_eq!(
        a.post("/revoke", Some(&spaced), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        refused_within(&b, &spaced, std::time::Duration::from_secs(5)).await,
        revoked()
    );
}

/// Retries `POST /revoke` with `token` on `s` until it is done (at most 10 s): logged out,
/// or already revoked by an attempt whose answer was lost; every other answer must be the
/// 503 of an unavailable store.
#[cfg(feature = "redis")]
async fn logout_retried(s: &Server, token: &str) {
    let start = std::time::Instant::now();
    loop {
        match s.post("/revoke", Some(token), None).await {
            (StatusCode::OK, body) => {
                assert_eq!(body, json!({"msg": "Successfully logged out"}));
                return;
            }
            // An attempt timed out on a loaded machine after Redis had recorded it: the
            // logout is done, and the retry says so.
            other if other == revoked() => return,
            other => assert_eq!(
                other,
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"msg": "Token revocation store unavailable"})
                )
            ),
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A logout while Redis refuses writes, then while it is down, answers 503; retried later,
/// it reaches B.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_a_logout_retried_after_an_outage() {
    let Some((mut redis, _proxy, _db, a, b)) = two_instances("retried").await else {
        return;
    };
    let (access, _) = login(&a, "ada@example.com", "pw-of-ada").await;
    let _: () = redis.query(redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("1"));
    let unavailable = (
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"msg": "Token revocation store unavailable"}),
    );
    assert_eq!(a.post("/revoke", Some(&access), None).await, unavailable);
    assert_eq!(a.post("/revoke", Some(&access), None).await, unavailable);
    let _: () = redis.query(redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("0"));
    // The client retries until the logout is done (on a loaded machine a Redis call can
    // still time out once).
    logout_retried(&a, &access).await;
    assert_eq!(
        refused_within(&b, &access, std::time::Duration::from_secs(5)).await,
        revoked()
    );

    // Redis down altogether: 503 (nothing recorded), and the retry after it is back
    // reaches B.
    let (access, _) = login(&a, "ada@example.com", "pw-of-ada").await;
    redis.stop();
    assert_eq!(a.post("/revoke", Some(&access), None).await, unavailable);
    redis.restart();
    logout_retried(&a, &access).await;
    assert_eq!(
        refused_within(&b, &access, std::time::Duration::from_secs(10)).await,
        revoked()
    );
}

/// B's Redis connections go silent without closing: a logout on A is not accepted by B for
/// more than a few seconds, and B recovers over new connections.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_a_silent_subscription() {
    use std::time::Duration;
    let Some((_redis, proxy, _db, a, b)) = two_instances("silent").await else {
        return;
    };
    let (access, _) = login(&a, "ada@example.com", "pw-of-ada").await;
    assert_eq!(b.get("/me", Some(&access)).await.0, StatusCode::OK);
    proxy.silence();
    assert_eq!(
        a.post("/revoke", Some(&access), None).await.0,
        StatusCode::OK
    );
    let (status, _) = refused_within(&b, &access, Duration::from_secs(6)).await;
    assert!(
        matches!(
            status,
            StatusCode::UNAUTHORIZED | StatusCode::SERVICE_UNAVAILABLE
        ),
        "{status}"
    );
    let start = std::time::Instant::now();
    while b.get("/me", Some(&access)).await != revoked() {
        assert_ne!(b.get("/me", Some(&access)).await.0, StatusCode::OK);
        assert!(start.elapsed() < Duration::from_secs(30), "B recovers");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Built without the `metrics` feature (`cargo test --test example_server`), the crate
/// records nothing: `METRICS=true` stops the server at start, naming the feature, before it
/// listens; without it the server starts.
#[cfg(not(feature = "metrics"))]
#[test]
fn metrics_without_the_metrics_feature_stops_the_server() {
    let out = harness::run_to_exit(&[("METRICS", "true")]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("METRICS=true"), "{said}");
    assert!(said.contains("--features metrics"), "{said}");
    assert!(!said.contains("listening on"), "{said}");
    let db = TempDb::new("no-metrics");
    drop(Server::start(&db.path(), &[("METRICS", "false")]));
}
