//! The header-related parts of `tests/test_config.py`: defaults and overrides, observed
//! through issued tokens and guard behaviour.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::json;
use tower_jwt_auth::manager::TokenLocation;
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::JwtRequiredLayer;

use crate::common::*;

#[tokio::test]
async fn default_configs() {
    let m = manager(StatusPolicy::Default);
    // Lifetimes: 15 minutes and 30 days; HS256; identity in `sub`.
    let (access, refresh) = decoded_pair(&m);
    assert_eq!(
        access.expires_at().unwrap() - access.issued_at().unwrap(),
        900.0
    );
    assert_eq!(
        refresh.expires_at().unwrap() - refresh.issued_at().unwrap(),
        2_592_000.0
    );
    assert_eq!(access.header()["alg"], "HS256");
    assert_eq!(access.claims_json()["sub"], "u");
    // Decoded from a string, not found in a request: no location.
    assert_eq!(access.location(), None);
    // Header `Authorization`, type `Bearer`, message key `msg`.
    let r = send(&JwtRequiredLayer::new(&m), None).await;
    assert_eq!(r.json, json!({"msg": "Missing Authorization Header"}));
}

#[tokio::test]
async fn override_configs() {
    let m = builder(StatusPolicy::Default)
        .header_name("TestHeader")
        .header_type("TestType")
        .access_token_lifetime(Duration::from_secs(300))
        .refresh_token_lifetime(Duration::from_secs(5 * 86_400))
        .identity_claim("foo")
        .error_message_key("message")
        .build()
        .unwrap();
    let layer = JwtRequiredLayer::new(&m);
    let token = m.create_access_token("u").unwrap();
    let decoded = m.decode_token(&token).unwrap();
    assert_eq!(
        decoded.expires_at().unwrap() - decoded.issued_at().unwrap(),
        300.0
    );
    assert_eq!(decoded.claims_json()["foo"], "u");

    let r = send(&layer, None).await;
    assert_eq!(r.json, json!({"message": "Missing TestHeader Header"}));
    let req = Request::get("/")
        .header("TestHeader", format!("TestType {token}"))
        .body(Full::<Bytes>::default())
        .unwrap();
    assert_eq!(call(&layer, req).await.status, 200);
}

#[tokio::test]
async fn per_route_overrides() {
    // The manager answers Flask's codes; one route keeps the default policy.
    let m = manager(StatusPolicy::FlaskCompatible);
    let refresh = m.create_refresh_token("u").unwrap();
    let flask = send(&JwtRequiredLayer::new(&m), Some(&bearer(&refresh))).await;
    assert_eq!(flask.status, 422);
    let route = JwtRequiredLayer::new(&m).status_policy(StatusPolicy::Default);
    let r = send(&route, Some(&bearer(&refresh))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.msg(), flask.msg());
    // Locations can be set per route too (headers is the only location today).
    let route = JwtRequiredLayer::new(&m).token_locations([TokenLocation::Headers]);
    assert_eq!(
        send(&route, None).await.msg(),
        "Missing Authorization Header"
    );
}

#[tokio::test]
async fn oversized_tokens_are_refused_before_decoding() {
    let m = builder(StatusPolicy::Default)
        .max_token_size(64)
        .build()
        .unwrap();
    let token = m.create_access_token("u").unwrap();
    assert!(token.len() > 64);
    let r = send(&JwtRequiredLayer::new(&m), Some(&bearer(&token))).await;
    assert_eq!(r.status_msg(), (401, "Token is too large"));
}
