//! The example server's refresh-token rotation and sessions (`JWT_REFRESH_ROTATION`,
//! `JWT_REFRESH_REUSE_GRACE`, `GET /me/sessions`, `DELETE /me/sessions/{id}`): over HTTP,
//! with SQLite (surviving a restart) and with two instances on one Redis.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::harness::{Server, TempDb};
use super::{login, manager, register};

/// A grace long enough for a loaded test machine to send the concurrent refreshes within
/// it, short enough to wait out.
const ROTATION: [(&str, &str); 2] = [
    ("JWT_REFRESH_ROTATION", "true"),
    ("JWT_REFRESH_REUSE_GRACE", "3"),
];

fn revoked() -> (StatusCode, Value) {
    (
        StatusCode::UNAUTHORIZED,
        json!({"msg": "Token has been revoked"}),
    )
}

async fn rotate(s: &Server, refresh: &str) -> (String, String) {
    let (status, body) = s.post("/refresh", Some(refresh), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"]
            .as_str()
            .expect("rotation answers a refresh token")
            .to_owned(),
    )
}

fn sid(token: &str) -> String {
    manager()
        .decode_token(token)
        .unwrap()
        .session()
        .expect("a sid claim")
        .to_owned()
}

#[tokio::test]
async fn rotation_reuse_and_sessions_over_http() {
    let db = TempDb::new("rotation");
    let mut s = Server::start(&db.path(), &ROTATION);
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    register(&s, "bob", "bob@example.com", "pw-of-bob").await;

    // Two logins, two sessions; `current` marks the caller's.
    let (a_one, r_one) = login(&s, "ada@example.com", "pw-of-ada").await;
    let (a_two, r_two) = login(&s, "ada@example.com", "pw-of-ada").await;
    let (status, list) = s.get("/me/sessions", Some(&a_two)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    for entry in &list {
        for field in ["id", "created_at", "last_refreshed_at", "current"] {
            assert!(entry.get(field).is_some(), "{entry}");
        }
        assert_eq!(entry["current"], entry["id"] == sid(&a_two).as_str());
    }

    // Rotate twice; the previous token within the grace answers the current one.
    let (a1, r1) = rotate(&s, &r_one).await;
    let (_, r2) = rotate(&s, &r1).await;
    let (a_again, r_again) = rotate(&s, &r1).await;
    let m = manager();
    assert_eq!(
        m.decode_token(&r_again).unwrap().jti(),
        m.decode_token(&r2).unwrap().jti()
    );
    assert_eq!(s.get("/me", Some(&a_again)).await.0, StatusCode::OK);

    // After the grace: a reuse revokes session one, its latest refresh token and every
    // access token; session two is untouched.
    tokio::time::sleep(Duration::from_millis(3300)).await;
    assert_eq!(s.post("/refresh", Some(&r1), None).await, revoked());
    for access in [&a_one, &a1, &a_again] {
        assert_eq!(s.get("/me", Some(access)).await, revoked());
    }
    assert_eq!(s.post("/refresh", Some(&r2), None).await, revoked());
    assert_eq!(s.get("/me", Some(&a_two)).await.0, StatusCode::OK);
    let (_, list) = s.get("/me/sessions", Some(&a_two)).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Sessions survive a restart, and so does reuse detection.
    let (_, r_two_next) = rotate(&s, &r_two).await;
    drop(s);
    s = Server::start(&db.path(), &ROTATION);
    let (_, list) = s.get("/me/sessions", Some(&a_two)).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let (a_three, r_three) = login(&s, "ada@example.com", "pw-of-ada").await;
    assert_eq!(s.post("/refresh", Some(&r_two), None).await, revoked());
    assert_eq!(s.post("/refresh", Some(&r_two_next), None).await, revoked());

    // Ending a session needs a fresh token; another identity's session is not found.
    let (bob_access, _) = login(&s, "bob@example.com", "pw-of-bob").await;
    let end = |token: String, id: String| {
        let s = &s;
        async move {
            s.call(
                Method::DELETE,
                &format!("/me/sessions/{id}"),
                Some(&token),
                None,
            )
            .await
        }
    };
    let (status, body) = end(bob_access, sid(&r_three)).await;
    assert_eq!(
        (status, &body["msg"]),
        (StatusCode::NOT_FOUND, &json!("Session not found"))
    );
    let (_, refreshed) = s.post("/refresh", Some(&r_three), None).await;
    let not_fresh = refreshed["access_token"].as_str().unwrap().to_owned();
    let (status, body) = end(not_fresh, sid(&r_three)).await;
    assert_eq!(
        (status, &body["msg"]),
        (StatusCode::UNAUTHORIZED, &json!("Fresh token required"))
    );
    let (a_four, _) = login(&s, "ada@example.com", "pw-of-ada").await;
    let (status, body) = end(a_four.clone(), sid(&r_three)).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"msg": "Session ended"}))
    );
    assert_eq!(s.get("/me", Some(&a_three)).await, revoked());
    assert_eq!(s.get("/me", Some(&a_four)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn rotation_off_keeps_refresh_tokens_reusable_and_has_no_sessions() {
    let db = TempDb::new("no-rotation");
    let s = Server::start(&db.path(), &[]);
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (access, refresh) = login(&s, "ada@example.com", "pw-of-ada").await;
    for _ in 0..2 {
        let (status, body) = s.post("/refresh", Some(&refresh), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.get("refresh_token").is_none(), "{body}");
    }
    let needs = (
        StatusCode::NOT_FOUND,
        json!({"msg": "Sessions need JWT_REFRESH_ROTATION=true"}),
    );
    assert_eq!(s.get("/me/sessions", Some(&access)).await, needs);
    assert_eq!(
        s.call(Method::DELETE, "/me/sessions/x", Some(&access), None)
            .await,
        needs
    );
}

/// Two server processes on one Redis: four concurrent refreshes with one token, two on
/// each, all answer 200 and the session lives on; a reuse on one is refused by the other.
#[cfg(feature = "redis")]
#[tokio::test]
async fn two_instances_rotate_through_redis() {
    if !super::server::available() {
        return;
    }
    let redis = super::server::RedisServer::start();
    let db = TempDb::new("rotation-two");
    let url = redis.url();
    let env = [ROTATION[0], ROTATION[1], ("REDIS_URL", url.as_str())];
    let a = Server::start(&db.path(), &env);
    let b = Server::start(&db.path(), &env);
    register(&a, "ada", "ada@example.com", "pw-of-ada").await;
    let (_, r0) = login(&a, "ada@example.com", "pw-of-ada").await;
    let (w, x, y, z) = tokio::join!(
        a.post("/refresh", Some(&r0), None),
        b.post("/refresh", Some(&r0), None),
        a.post("/refresh", Some(&r0), None),
        b.post("/refresh", Some(&r0), None),
    );
    let mut current = String::new();
    for (status, body) in [w, x, y, z] {
        assert_eq!(status, StatusCode::OK, "{body}");
        current = body["refresh_token"].as_str().unwrap().to_owned();
    }
    let (access, r1) = rotate(&b, &current).await;
    assert_eq!(a.get("/me", Some(&access)).await.0, StatusCode::OK);
    let (_, list) = b.get("/me/sessions", Some(&access)).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    tokio::time::sleep(Duration::from_millis(3300)).await;
    assert_eq!(b.post("/refresh", Some(&r0), None).await, revoked());
    let start = std::time::Instant::now();
    while a.get("/me", Some(&access)).await != revoked() {
        assert!(start.elapsed() < Duration::from_secs(10), "A hears of it");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(a.post("/refresh", Some(&r1), None).await, revoked());
}
