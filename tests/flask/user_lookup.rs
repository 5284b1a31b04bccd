//! Port of `tests/test_user_lookup.py`.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::{ErrorKind, JwtRequiredLayer, VerifiedToken};

use crate::common::*;

#[derive(Debug)]
struct User {
    username: String,
}

async fn get_user(layer: &JwtRequiredLayer, token: &str) -> (u16, serde_json::Value) {
    let svc = layer.layer(service_fn(
        |req: Request<RequestBody<Full<Bytes>>>| async move {
            let token = req.extensions().get::<VerifiedToken>().unwrap();
            let body = match token.user::<User>() {
                Some(user) => json!({"foo": user.username}),
                None => json!({"error": "no user_lookup hook"}),
            };
            Ok::<_, Infallible>(Response::new(Full::from(body.to_string())))
        },
    ));
    let req = Request::get("/")
        .header("Authorization", bearer(token))
        .body(Full::default())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn no_user_lookup_loader_specified() {
    let m = manager(StatusPolicy::Default);
    let token = m.create_access_token("username").unwrap();
    let (status, body) = get_user(&JwtRequiredLayer::new(&m), &token).await;
    assert_eq!(
        (status, body),
        (200, json!({"error": "no user_lookup hook"}))
    );
}

#[tokio::test]
async fn load_valid_user() {
    let m = builder(StatusPolicy::Default)
        .user_lookup(|token: &VerifiedToken| {
            let username = token.identity().to_owned();
            async move { Some(User { username }) }
        })
        .build()
        .unwrap();
    let token = m.create_access_token("username").unwrap();
    let (status, body) = get_user(&JwtRequiredLayer::new(&m), &token).await;
    assert_eq!((status, body), (200, json!({"foo": "username"})));
}

#[tokio::test]
async fn load_invalid_user() {
    for policy in POLICIES {
        let m = builder(policy)
            .user_lookup(|_: &VerifiedToken| async { None::<User> })
            .build()
            .unwrap();
        let token = m.create_access_token("username").unwrap();
        let (status, body) = get_user(&JwtRequiredLayer::new(&m), &token).await;
        assert_eq!(
            (status, body),
            (401, json!({"msg": "Error loading the user username"}))
        );
    }
}

#[tokio::test]
async fn custom_user_lookup_errors() {
    let m = builder(StatusPolicy::Default)
        .user_lookup(|_: &VerifiedToken| async { None::<User> })
        .error_responder(fixed_response(
            Some(ErrorKind::UserLookup),
            201,
            r#"{"foo":"bar"}"#,
        ))
        .build()
        .unwrap();
    let token = m.create_access_token("username").unwrap();
    let (status, body) = get_user(&JwtRequiredLayer::new(&m), &token).await;
    assert_eq!((status, body), (201, json!({"foo": "bar"})));
}

#[tokio::test]
async fn lookup_runs_after_revocation() {
    let list = tower_jwt_auth::denylist::MemoryDenylist::new();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    let m = builder(StatusPolicy::Default)
        .denylist(list.clone())
        .user_lookup(move |_: &VerifiedToken| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async {
                Some(User {
                    username: "x".into(),
                })
            }
        })
        .build()
        .unwrap();
    let token = m.create_access_token("username").unwrap();
    m.revoke(&m.decode_token(&token).unwrap()).await.unwrap();
    let (status, _) = get_user(&JwtRequiredLayer::new(&m), &token).await;
    assert_eq!(status, 401);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_failing_user_store_fails_closed_with_503() {
    for (message, expected) in [
        (None, "User store unavailable"),
        (Some("Try again in a minute"), "Try again in a minute"),
    ] {
        for policy in POLICIES {
            let mut b = builder(policy).user_lookup(|token: &VerifiedToken| {
                let id = token.identity().to_owned();
                async move {
                    if id == "down" {
                        Err("connection refused (secret detail)")
                    } else {
                        Ok(Some(User { username: id }))
                    }
                }
            });
            if let Some(message) = message {
                b = b.user_lookup_error_message(message);
            }
            let m = b.build().unwrap();
            let layer = JwtRequiredLayer::new(&m);
            let token = m.create_access_token("down").unwrap();
            assert_eq!(
                get_user(&layer, &token).await,
                (503, json!({"msg": expected}))
            );
            let token = m.create_access_token("ada").unwrap();
            assert_eq!(get_user(&layer, &token).await, (200, json!({"foo": "ada"})));
            assert_eq!(
                m.verify_token(&m.create_access_token("down").unwrap())
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::UserStoreUnavailable
            );
        }
    }
}
