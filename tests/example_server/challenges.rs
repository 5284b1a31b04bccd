//! The example server's challenges (issue #21's exact contract): a non-fresh token on
//! `PUT /me/password` is asked to step up (RFC 9470).

use http::header::WWW_AUTHENTICATE;
use http::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Server, TempDb};
use crate::{login, register};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_fresh_token_is_asked_to_step_up() {
    let db = TempDb::new("step-up");
    let s = Server::start(&db.path(), &[]);
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (_, refresh) = login(&s, "ada@example.com", "pw-of-ada").await;
    let (status, body) = s.post("/refresh", Some(&refresh), None).await;
    assert_eq!(status, StatusCode::OK);
    let stale = body["access_token"].as_str().unwrap().to_owned();

    let change = json!({"old_password": "pw-of-ada", "new_password": "another"});
    let auth = format!("Bearer {stale}");
    let (status, headers, body) = s
        .call_with(
            Method::PUT,
            "/me/password",
            &[("authorization", auth.as_str())],
            Some(change),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"msg": "Fresh token required"}));
    let challenge = headers[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_user_authentication""#),
        "{challenge}"
    );
    // The password did not change.
    login(&s, "ada@example.com", "pw-of-ada").await;
}
