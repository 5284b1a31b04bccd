//! The example server's password policy (issue #22, NIST SP 800-63B): `POST /users` and
//! `PUT /me/password` refuse a too-short, too-long or common new password with a 400 naming
//! the rule; login does not apply the policy, so an account with an older, weaker password
//! still logs in (and can move to a good one).

use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Server, TempDb};
use crate::{login, register};

async fn create(s: &Server, username: &str, password: &str) -> (StatusCode, Value) {
    let email = format!("{username}@example.com");
    s.post(
        "/users",
        None,
        Some(json!({"username": username, "email": email, "password": password})),
    )
    .await
}

async fn change(s: &Server, access: &str, old: &str, new: &str) -> (StatusCode, Value) {
    s.call(
        Method::PUT,
        "/me/password",
        Some(access),
        Some(json!({"old_password": old, "new_password": new})),
    )
    .await
}

fn refused(msg: &str) -> (StatusCode, Value) {
    (StatusCode::BAD_REQUEST, json!({ "msg": msg }))
}

#[tokio::test]
async fn registration_refuses_short_long_and_common_passwords() {
    let db = TempDb::new("policy-create");
    let s = Server::start(&db.path(), &[]);
    let common = refused("password is too common");
    for password in [
        "password",
        "12345678",
        "qwertyuiop",
        "iloveyou",
        "PassWord1",
    ] {
        assert_eq!(create(&s, "ada", password).await, common, "{password}");
    }
    let short = refused("password must be at least 8 characters");
    for password in ["", "pw", "ééééééé"] {
        assert_eq!(create(&s, "ada", password).await, short, "{password:?}");
    }
    assert_eq!(
        create(&s, "ada", &"x".repeat(1025)).await,
        refused("password must be at most 1024 bytes")
    );
    // Nothing was created by the refusals: the name is still free.
    let (status, body) = create(&s, "ada", "correct horse battery").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = create(&s, "bob", "éééééééé").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    login(&s, "ada@example.com", "correct horse battery").await;
}

#[tokio::test]
async fn a_password_change_refuses_a_weak_new_password() {
    let db = TempDb::new("policy-change");
    let s = Server::start(&db.path(), &[]);
    register(&s, "ada", "ada@example.com", "correct horse battery").await;
    let (access, _) = login(&s, "ada@example.com", "correct horse battery").await;
    for (new, msg) in [
        ("iloveyou", "password is too common"),
        ("QWERTYUIOP", "password is too common"),
        ("short", "password must be at least 8 characters"),
    ] {
        assert_eq!(
            change(&s, &access, "correct horse battery", new).await,
            refused(msg),
            "{new}"
        );
    }
    assert_eq!(
        change(&s, &access, &"x".repeat(1025), "battery staple").await,
        refused("old password must be at most 1024 bytes")
    );
    // The refusals changed nothing: the old password still logs in, the token still works.
    login(&s, "ada@example.com", "correct horse battery").await;
    assert_eq!(
        change(&s, &access, "correct horse battery", "battery staple").await,
        (StatusCode::OK, json!({"msg": "Password updated"}))
    );
    login(&s, "ada@example.com", "battery staple").await;
}

#[tokio::test]
async fn an_older_weak_password_still_logs_in() {
    let db = TempDb::new("policy-legacy");
    let s = Server::start(&db.path(), &[]);
    // An account from before the policy, its password "pw" too short for it now.
    let hash = tower_jwt_auth::password::hash("pw").unwrap();
    let conn = rusqlite::Connection::open(db.path()).unwrap();
    conn.execute(
        "INSERT INTO users (username, email, password_hash) VALUES ('old', 'old@example.com', ?1)",
        [hash],
    )
    .unwrap();
    drop(conn);

    let (access, _) = login(&s, "old@example.com", "pw").await;
    assert_eq!(
        s.get("/me", Some(&access)).await.1["username"],
        json!("old")
    );
    // Its owner can move to a good password, not to another weak one.
    assert_eq!(
        change(&s, &access, "pw", "password1").await,
        refused("password is too common")
    );
    assert_eq!(
        change(&s, &access, "pw", "correct horse battery").await,
        (StatusCode::OK, json!({"msg": "Password updated"}))
    );
    login(&s, "old@example.com", "correct horse battery").await;
}
