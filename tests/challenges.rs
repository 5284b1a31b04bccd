//! The `WWW-Authenticate` challenges the guards answer with: RFC 9470's step-up
//! (`insufficient_user_authentication`) for a non-fresh token on a fresh route, under both
//! status policies, with the JSON body unchanged.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::WWW_AUTHENTICATE;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use serde_json::{json, Value};
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::{FreshRequiredLayer, JwtManager, StatusPolicy, TokenOptions};

const SECRET: &str = "challenge-tests-secret-0123456789abcdef";

/// The status, the `WWW-Authenticate` header (empty when absent) and the JSON body of a
/// request with `token` (none: no header) through `jwt`'s `FreshRequired` guard.
async fn call(jwt: &JwtManager, token: Option<&str>) -> (StatusCode, String, Value) {
    let svc = FreshRequiredLayer::new(jwt).layer(service_fn(
        |_: Request<RequestBody<Empty<Bytes>>>| async {
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        },
    ));
    let mut req = Request::get("/");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let res = svc.oneshot(req.body(Empty::new()).unwrap()).await.unwrap();
    let challenge = res
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        challenge,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_non_fresh_token_is_asked_to_step_up_under_both_policies() {
    for policy in [StatusPolicy::Default, StatusPolicy::FlaskCompatible] {
        let jwt = JwtManager::builder()
            .secret(SECRET)
            .status_policy(policy)
            .build()
            .unwrap();
        let stale = jwt.create_access_token("ada").unwrap();
        let (status, challenge, body) = call(&jwt, Some(&stale)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{policy:?}");
        assert_eq!(body, json!({"msg": "Fresh token required"}), "{policy:?}");
        assert_eq!(
            challenge, r#"Bearer error="insufficient_user_authentication""#,
            "{policy:?}"
        );

        // A fresh token passes; no challenge on success.
        let fresh = jwt
            .create_access_token_with("ada", TokenOptions::new().fresh(true))
            .unwrap();
        let (status, challenge, _) = call(&jwt, Some(&fresh)).await;
        assert_eq!((status, challenge.as_str()), (StatusCode::OK, ""));
    }
}

#[tokio::test]
async fn other_challenges_are_unchanged() {
    let jwt = JwtManager::builder().secret(SECRET).build().unwrap();
    assert_eq!(call(&jwt, None).await.1, "Bearer");
    assert_eq!(
        call(&jwt, Some("not-a-jwt")).await.1,
        r#"Bearer error="invalid_token""#
    );
    // The Flask-compatible policy has no challenge but the step-up one.
    let flask = JwtManager::builder()
        .secret(SECRET)
        .status_policy(StatusPolicy::FlaskCompatible)
        .build()
        .unwrap();
    assert_eq!(call(&flask, None).await.1, "");
    assert_eq!(call(&flask, Some("not-a-jwt")).await.1, "");
}
