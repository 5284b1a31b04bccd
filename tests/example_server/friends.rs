//! The seed's last details (#26): friends (`POST /me/friends`, listed by the owner's views,
//! kept across a restart) and `JWT_ERROR_MESSAGE_KEY` (the guards' and the auth service's
//! rejections under the tutorial's `message`).

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use tower_jwt_auth::issue::TokenOptions;

use super::harness::{Server, TempDb};
use super::locations::{cookie_login, jar};
use super::{login, manager, register};

async fn add(s: &Server, token: &str, username: &str) -> (StatusCode, Value) {
    s.post(
        "/me/friends",
        Some(token),
        Some(json!({ "username": username })),
    )
    .await
}

#[tokio::test]
async fn friends_in_the_order_added_and_after_a_restart() {
    let db = TempDb::new("friends");
    let mut s = Server::start(&db.path(), &[]);
    let ada = register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    register(&s, "bob", "bob@example.com", "pw-of-bob").await;
    register(&s, "cy", "cy@example.com", "pw-of-cy").await;
    let (token, _) = login(&s, "ada@example.com", "pw-of-ada").await;

    // A new user has none.
    let (status, me) = s.get("/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me,
        json!({"id": ada["id"], "username": "ada", "email": "ada@example.com", "friends": []})
    );

    assert_eq!(
        add(&s, &token, "cy").await,
        (StatusCode::OK, json!({"friends": ["cy"]}))
    );
    assert_eq!(
        add(&s, &token, "bob").await,
        (StatusCode::OK, json!({"friends": ["cy", "bob"]}))
    );
    // Twice: not an error, no duplicate.
    assert_eq!(
        add(&s, &token, "cy").await,
        (StatusCode::OK, json!({"friends": ["cy", "bob"]}))
    );
    assert_eq!(
        add(&s, &token, "nobody").await,
        (StatusCode::NOT_FOUND, json!({"msg": "user not found"}))
    );
    assert_eq!(add(&s, &token, "ada").await.0, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .post("/me/friends", Some(&token), Some(json!({"name": "bob"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        add(&s, "not-a-token", "bob").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.post("/me/friends", None, Some(json!({"username": "bob"})))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // The owner's view lists them; the public one does not; bob's own list is empty.
    assert_eq!(
        s.get("/users/ada", Some(&token)).await.1["friends"],
        json!(["cy", "bob"])
    );
    assert_eq!(
        s.get("/users/ada", None).await.1,
        json!({"id": ada["id"], "username": "ada"})
    );
    let (bob_token, _) = login(&s, "bob@example.com", "pw-of-bob").await;
    assert_eq!(s.get("/me", Some(&bob_token)).await.1["friends"], json!([]));
    assert_eq!(
        s.get("/users/ada", Some(&bob_token)).await.1,
        json!({"id": ada["id"], "username": "ada"})
    );

    // Kept in SQLite.
    drop(s);
    s = Server::start(&db.path(), &[]);
    assert_eq!(
        s.get("/me", Some(&token)).await.1["friends"],
        json!(["cy", "bob"])
    );
}

#[tokio::test]
async fn the_error_message_key_on_each_kind_of_rejection() {
    let db = TempDb::new("message-key");
    let s = Server::start(
        &db.path(),
        &[
            ("JWT_ERROR_MESSAGE_KEY", "message"),
            ("JWT_REFRESH_TOKEN_EXPIRES", "3600"),
        ],
    );
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (access, refresh) = login(&s, "ada@example.com", "pw-of-ada").await;
    let m = manager();
    let expired = m
        .create_access_token_with("1", TokenOptions::new().lifetime(Duration::from_secs(1)))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, refreshed) = s.post("/refresh", Some(&refresh), None).await;
    let not_fresh = refreshed["access_token"].as_str().unwrap().to_owned();
    let message = |text: &str| json!({ "message": text });

    // Missing, expired, wrong type, not fresh, revoked; a bad login; CSRF.
    // (The example looks in headers and cookies, so the message names both.)
    let (status, body) = s.get("/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Missing Authorization Header"))
            && body.get("msg").is_none(),
        "{body}"
    );
    assert_eq!(
        s.get("/me", Some(&expired)).await,
        (StatusCode::UNAUTHORIZED, message("Token has expired"))
    );
    assert_eq!(
        s.get("/me", Some(&refresh)).await,
        (
            StatusCode::UNAUTHORIZED,
            message("Only non-refresh tokens are allowed")
        )
    );
    let change = json!({"old_password": "pw-of-ada", "new_password": "another long password"});
    assert_eq!(
        s.call(Method::PUT, "/me/password", Some(&not_fresh), Some(change))
            .await,
        (StatusCode::UNAUTHORIZED, message("Fresh token required"))
    );
    assert_eq!(
        s.post("/revoke", Some(&access), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        s.get("/me", Some(&access)).await,
        (StatusCode::UNAUTHORIZED, message("Token has been revoked"))
    );
    let (status, body) = s
        .post(
            "/token",
            None,
            Some(json!({"email": "ada@example.com", "password": "wrong"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body.get("message").is_some() && body.get("msg").is_none(),
        "{body}"
    );
    // A cookie-borne token without its CSRF header.
    let (cookies, _) = cookie_login(&s).await;
    let change = json!({"old_password": "pw-of-ada", "new_password": "another long password"});
    let (status, _, body) = s
        .call_with(
            Method::PUT,
            "/me/password",
            &[("cookie", &jar(&cookies))],
            Some(change),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::UNAUTHORIZED, message("Missing CSRF token"))
    );
    // The server's own answers keep `msg`.
    assert_eq!(
        s.get("/users/nobody", None).await,
        (StatusCode::NOT_FOUND, json!({"msg": "user not found"}))
    );
}

/// A valid token whose user is gone adds no friend (as `GET /me` answers it: 404).
#[tokio::test]
async fn a_token_without_its_user_adds_no_friend() {
    let db = TempDb::new("friends-orphan");
    let s = Server::start(&db.path(), &[]);
    register(&s, "bob", "bob@example.com", "pw-of-bob").await;
    // Signed with the server's secret for a user id no account has.
    let orphan = manager().create_access_token("42").unwrap();
    assert_eq!(s.get("/me", Some(&orphan)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        add(&s, &orphan, "bob").await,
        (StatusCode::NOT_FOUND, json!({"msg": "user not found"}))
    );
}
