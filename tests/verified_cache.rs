//! The memo of verified tokens (`JwtManagerBuilder::verified_token_cache`, on by default)
//! must never change an answer: a remembered token still expires, can still be revoked,
//! still meets the route's type, freshness and hook checks, and belongs to one manager.
#![cfg(feature = "testing")]

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use serde_json::Value;
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::guard::{GuardLayer, RequestBody};
use tower_jwt_auth::manager::JwtManagerBuilder;
use tower_jwt_auth::testing;
use tower_jwt_auth::testing::TestClock;
use tower_jwt_auth::{FreshRequiredLayer, JwtManager, JwtRequiredLayer, VerifiedToken};

const SECRET: &str = "verified-cache-tests-secret-0123456789";

fn builder() -> JwtManagerBuilder {
    JwtManager::builder().secret(SECRET)
}

/// Sends `Authorization: Bearer <token>` through the guard: the status, the `msg` of a
/// rejection (empty when admitted), and the identity and location the view saw (empty when
/// refused).
async fn call<K>(layer: &GuardLayer<K>, token: &str) -> (StatusCode, String, String) {
    let view = service_fn(|req: Request<RequestBody<Empty<Bytes>>>| async move {
        let seen = req.extensions().get::<VerifiedToken>().map_or_else(
            || "anonymous".to_string(),
            |t| {
                format!(
                    "{} {}",
                    t.identity(),
                    t.location().map_or("direct", |l| l.as_str())
                )
            },
        );
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(seen))))
    });
    let req = Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::new())
        .unwrap();
    let response = layer.layer(view).oneshot(req).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    if status == StatusCode::OK {
        (
            status,
            String::new(),
            String::from_utf8(body.to_vec()).unwrap(),
        )
    } else {
        let json: Value = serde_json::from_slice(&body).unwrap();
        let msg = json["msg"].as_str().unwrap().to_string();
        (status, msg, String::new())
    }
}

/// Presents `token` until the memo holds it (a token is stored at its second verification)
/// and once more, so that the last answer came from the memo.
async fn remember<K>(layer: &GuardLayer<K>, token: &str) {
    for _ in 0..3 {
        assert_eq!(call(layer, token).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_remembered_token_still_expires() {
    let clock = TestClock::new();
    let jwt = builder()
        .clock(clock.clone())
        .access_token_lifetime(Duration::from_secs(2))
        .build()
        .unwrap();
    let token = jwt.create_access_token("ada").unwrap();
    let layer = JwtRequiredLayer::new(&jwt);
    for _ in 0..3 {
        let (status, _, seen) = call(&layer, &token).await;
        assert_eq!((status, seen.as_str()), (StatusCode::OK, "ada headers"));
    }
    clock.advance(Duration::from_secs(2));
    let (status, msg, _) = call(&layer, &token).await;
    assert_eq!(
        (status, msg.as_str()),
        (StatusCode::UNAUTHORIZED, "Token has expired")
    );
}

#[tokio::test]
async fn a_remembered_token_can_be_revoked() {
    let jwt = builder().build().unwrap();
    let token = jwt.create_access_token("ada").unwrap();
    let layer = JwtRequiredLayer::new(&jwt);
    remember(&layer, &token).await;
    jwt.revoke(&jwt.decode_token(&token).unwrap())
        .await
        .unwrap();
    let (status, msg, _) = call(&layer, &token).await;
    assert_eq!(
        (status, msg.as_str()),
        (StatusCode::UNAUTHORIZED, "Token has been revoked")
    );
}

#[tokio::test]
async fn another_manager_does_not_trust_what_this_one_verified() {
    let ours = builder().build().unwrap();
    let theirs = JwtManager::builder()
        .secret("another-secret-for-another-manager-0123")
        .build()
        .unwrap();
    let token = ours.create_access_token("ada").unwrap();
    remember(&JwtRequiredLayer::new(&ours), &token).await;
    let (status, msg, _) = call(&JwtRequiredLayer::new(&theirs), &token).await;
    assert_eq!(
        (status, msg.as_str()),
        (StatusCode::UNAUTHORIZED, "Signature verification failed")
    );
    // The same secret, but a separately built manager (its settings may differ): a fresh
    // verification, which passes.
    let twin = builder().build().unwrap();
    assert_eq!(
        call(&JwtRequiredLayer::new(&twin), &token).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_forged_payload_under_a_remembered_signature_is_refused() {
    let jwt = builder().build().unwrap();
    let token = jwt.create_access_token("ada").unwrap();
    let layer = JwtRequiredLayer::new(&jwt);
    remember(&layer, &token).await;
    // Same header and signature, a payload of the same length naming someone else.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let other = jwt.create_access_token("eve").unwrap();
    parts[1] = other.split('.').nth(1).unwrap().to_string();
    let forged = parts.join(".");
    assert_eq!(forged.len(), token.len());
    let (status, msg, _) = call(&layer, &forged).await;
    assert_eq!(
        (status, msg.as_str()),
        (StatusCode::UNAUTHORIZED, "Signature verification failed")
    );
    // And one character short of the real token.
    let (status, _, _) = call(&layer, &token[..token.len() - 1]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn route_checks_run_on_every_request() {
    let hook_calls = Arc::new(AtomicUsize::new(0));
    let calls = hook_calls.clone();
    let jwt = builder()
        .verify_claims(move |_| {
            calls.fetch_add(1, Ordering::Relaxed);
            true
        })
        .build()
        .unwrap();
    let refresh = jwt.create_refresh_token("ada").unwrap();
    let access = jwt.create_access_token("ada").unwrap(); // not fresh
    let required = JwtRequiredLayer::new(&jwt);
    let fresh = FreshRequiredLayer::new(&jwt);
    for _ in 0..3 {
        let (status, msg, _) = call(&required, &refresh).await;
        assert_eq!(
            (status, msg.as_str()),
            (
                StatusCode::UNAUTHORIZED,
                "Only non-refresh tokens are allowed"
            )
        );
        assert_eq!(call(&required, &access).await.0, StatusCode::OK);
        let (status, msg, _) = call(&fresh, &access).await;
        assert_eq!(
            (status, msg.as_str()),
            (StatusCode::UNAUTHORIZED, "Fresh token required")
        );
    }
    // The hook runs once per round (for the admitted access token; the other two are
    // refused before it), also when the token was remembered (from the second round on).
    assert_eq!(hook_calls.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn with_the_memo_off_tokens_still_pass() {
    // (That nothing is remembered then is checked by the unit test
    // `verified_tokens_are_remembered_only_when_on`.)
    let jwt = builder().verified_token_cache(false).build().unwrap();
    let token = jwt.create_access_token("ada").unwrap();
    let layer = JwtRequiredLayer::new(&jwt);
    for _ in 0..2 {
        let (status, _, seen) = call(&layer, &token).await;
        assert_eq!((status, seen.as_str()), (StatusCode::OK, "ada headers"));
    }
}

#[tokio::test]
async fn a_remembered_token_is_not_valid_before_its_time_when_the_clock_steps_back() {
    let start = std::time::SystemTime::now();
    let clock = TestClock::at(start);
    let set = |t| clock.set(t);
    let jwt = builder().clock(clock.clone()).build().unwrap();
    let layer = JwtRequiredLayer::new(&jwt);

    // `iat` now: remembered, then the clock steps back ten seconds.
    let token = jwt.create_access_token("ada").unwrap();
    remember(&layer, &token).await;
    set(start - Duration::from_secs(10));
    let (status, msg, _) = call(&layer, &token).await;
    assert_eq!(
        (status, msg.as_str()),
        (StatusCode::UNAUTHORIZED, "The token is not yet valid (iat)")
    );

    // `nbf` later than `iat`: remembered once valid, then the clock steps back before it.
    set(start);
    let epoch = start
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = testing::token(&jwt, "ada")
        .issued_at(start - Duration::from_secs(100))
        .claim("nbf", epoch - 5)
        .mint();
    remember(&layer, &token).await;
    set(start - Duration::from_secs(30));
    let (status, msg, _) = call(&layer, &token).await;
    assert_eq!(
        (status, msg.as_str()),
        (StatusCode::UNAUTHORIZED, "The token is not yet valid (nbf)")
    );
    set(start);
    assert_eq!(call(&layer, &token).await.0, StatusCode::OK);
}
