//! The example server's challenges (issue #21's exact contract): a non-fresh token on
//! `PUT /me/password` is asked to step up (RFC 9470); with `JWT_RESOURCE_URL`, the RFC 9728
//! metadata document at `/.well-known/oauth-protected-resource` and `resource_metadata` on
//! every 401 challenge; without it, a 404 there and plain challenges.

use http::header::WWW_AUTHENTICATE;
use http::{HeaderMap, Method, StatusCode};
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

    let change = json!({"old_password": "pw-of-ada", "new_password": "another pw"});
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

#[cfg(feature = "jwks")]
#[path = "../support/jwks_idp.rs"]
mod idp;

const RESOURCE: &str = "https://api.example.com";
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The `WWW-Authenticate` header of a response.
fn challenge(headers: &HeaderMap) -> String {
    headers[WWW_AUTHENTICATE].to_str().unwrap().to_owned()
}

/// The challenges of `/me` without a token and with a bad one, and of the fresh route with
/// a stale token.
async fn challenges(s: &Server) -> Vec<String> {
    register(s, "ada", "ada@example.com", "pw-of-ada").await;
    let (_, refresh) = login(s, "ada@example.com", "pw-of-ada").await;
    let stale = s.post("/refresh", Some(&refresh), None).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut out = Vec::new();
    for (method, path, token) in [
        (Method::GET, "/me", None),
        (Method::GET, "/me", Some("not-a-jwt")),
        (Method::PUT, "/me/password", Some(stale.as_str())),
    ] {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let body = json!({"old_password": "pw-of-ada", "new_password": "another pw"});
        let (status, headers, _) = s.call_with(method, path, &headers, Some(body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        out.push(challenge(&headers));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_resource_url_the_metadata_is_served_and_named_by_every_challenge() {
    let db = TempDb::new("resource-set");
    let s = Server::start(&db.path(), &[("JWT_RESOURCE_URL", RESOURCE)]);
    let (status, headers, doc) = s.call_with(Method::GET, WELL_KNOWN, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    assert_eq!(doc["resource"], RESOURCE);
    assert_eq!(doc["authorization_servers"], json!([]));
    // The example's default locations: headers and cookies; cookies are no bearer method.
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));

    let meta = format!(r#"resource_metadata="{RESOURCE}{WELL_KNOWN}""#);
    let all = challenges(&s).await;
    assert_eq!(all.len(), 3);
    for challenge in &all {
        assert!(challenge.contains(&meta), "{challenge}");
    }
    assert!(all[0].starts_with("Bearer"), "{}", all[0]);
    assert!(all[1].contains(r#"error="invalid_token""#), "{}", all[1]);
    assert!(
        all[2].contains(r#"error="insufficient_user_authentication""#),
        "{}",
        all[2]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_resource_url_there_is_no_metadata() {
    let db = TempDb::new("resource-unset");
    let s = Server::start(&db.path(), &[]);
    let (status, _, _) = s.call_with(Method::GET, WELL_KNOWN, &[], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for challenge in challenges(&s).await {
        assert!(!challenge.contains("resource_metadata"), "{challenge}");
    }
}

#[test]
fn a_resource_url_with_a_fragment_stops_the_server() {
    let out = crate::harness::run_to_exit(&[("JWT_RESOURCE_URL", "https://api.example.com/#x")]);
    assert!(!out.status.success());
    let stderr =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(stderr.contains("fragment"), "{stderr}");
}

#[cfg(feature = "jwks")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outside_issuer_is_the_authorization_server() {
    let idp = idp::start_es256().await;
    let db = TempDb::new("resource-outside");
    let jwks_url = idp.url("/jwks.json");
    let s = Server::start(
        &db.path(),
        &[
            ("JWT_JWKS_URL", jwks_url.as_str()),
            ("JWT_JWKS_ISSUER", idp::ISSUER),
            ("JWT_RESOURCE_URL", RESOURCE),
        ],
    );
    let doc = s.call_with(Method::GET, WELL_KNOWN, &[], None).await.2;
    assert_eq!(doc["resource"], RESOURCE);
    assert_eq!(doc["authorization_servers"], json!([idp::ISSUER]));
}
