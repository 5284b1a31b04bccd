//! Port of `tests/test_claims_verification.py`.

use serde_json::json;
use tower::Layer;
use tower_jwt_auth::issue::TokenOptions;
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::{
    ErrorKind, FreshRequiredLayer, JwtManager, JwtOptionalLayer, JwtRequiredLayer, VerifiedToken,
};

use crate::common::*;

fn app(policy: StatusPolicy, verdict: bool) -> JwtManager {
    builder(policy)
        .additional_claims(|_| serde_json::from_value(json!({"foo": "bar"})).unwrap())
        .verify_claims(move |token: &VerifiedToken| {
            assert_eq!(token.header()["alg"], "HS256");
            assert_eq!(token.identity(), "username");
            assert_eq!(token.claims_json()["foo"], "bar");
            verdict
        })
        .build()
        .unwrap()
}

async fn each_route<F, Fut>(m: &JwtManager, check: F)
where
    F: Fn(Reply) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let token = m
        .create_access_token_with("username", TokenOptions::new().fresh(true))
        .unwrap();
    let auth = bearer(&token);
    check(send(&JwtRequiredLayer::new(m), Some(&auth)).await).await;
    check(send(&FreshRequiredLayer::new(m), Some(&auth)).await).await;
    check(send(&JwtOptionalLayer::new(m), Some(&auth)).await).await;
}

#[tokio::test]
async fn successful_claims_validation() {
    let m = app(StatusPolicy::Default, true);
    each_route(&m, |r| async move {
        assert_eq!((r.status.as_u16(), r.json), (200, json!({"foo": "baz"})))
    })
    .await;
}

#[tokio::test]
async fn unsuccessful_claims_validation() {
    for policy in POLICIES {
        let m = app(policy, false);
        each_route(&m, |r| async move {
            assert_eq!(
                (r.status.as_u16(), r.json),
                (400, json!({"msg": "User claims verification failed"}))
            );
            assert!(r.headers.get("www-authenticate").is_none());
        })
        .await;
    }
}

#[tokio::test]
async fn claims_validation_custom_error() {
    let m = app(StatusPolicy::Default, false);
    let responder = || {
        fixed_response(
            Some(ErrorKind::UserClaimsVerification),
            404,
            r#"{"msg":"claims failed for username"}"#,
        )
    };
    let token = m
        .create_access_token_with("username", TokenOptions::new().fresh(true))
        .unwrap();
    let r = send(
        &JwtRequiredLayer::new(&m).error_responder(responder()),
        Some(&bearer(&token)),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json),
        (404, json!({"msg": "claims failed for username"}))
    );
    // The error travels in the response's extensions whatever the responder returns.
    let res = tower::ServiceExt::oneshot(
        JwtRequiredLayer::new(&m)
            .error_responder(responder())
            .layer(view()),
        http::Request::get("/")
            .header("Authorization", bearer(&token))
            .body(Default::default())
            .unwrap(),
    )
    .await
    .unwrap();
    let err = res.extensions().get::<tower_jwt_auth::AuthError>().unwrap();
    assert_eq!(err.kind(), ErrorKind::UserClaimsVerification);
}

/// The hook may give its own message (400), and may be async.
#[tokio::test]
async fn claims_hooks_with_a_message_and_async() {
    let token_of = |m: &JwtManager, role: &str| {
        bearer(
            &m.create_access_token_with("username", TokenOptions::new().claim("role", role))
                .unwrap(),
        )
    };
    let role = |t: &VerifiedToken| {
        let claims = t.claims_json();
        claims
            .get("role")
            .and_then(|r| r.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let with_message = builder(StatusPolicy::Default)
        .verify_claims(move |t: &VerifiedToken| {
            if role(t) == "admin" {
                Ok(())
            } else {
                Err("Admins only")
            }
        })
        .build()
        .unwrap();
    let asynchronous = builder(StatusPolicy::Default)
        .verify_claims_async(move |t: &VerifiedToken| {
            let role = role(t);
            async move {
                tokio::task::yield_now().await;
                if role == "admin" {
                    Ok(())
                } else {
                    Err(format!("{role} is not admin"))
                }
            }
        })
        .build()
        .unwrap();
    for (m, refused) in [
        (with_message, "Admins only"),
        (asynchronous, "user is not admin"),
    ] {
        let layer = JwtRequiredLayer::new(&m);
        assert_eq!(send(&layer, Some(&token_of(&m, "admin"))).await.status, 200);
        let r = send(&layer, Some(&token_of(&m, "user"))).await;
        assert_eq!(r.status_msg(), (400, refused));
        let err = m
            .verify_token(&m.create_access_token("username").unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UserClaimsVerification);
    }
}
