//! Port of `tests/test_blocklist.py`: the blocklist callback becomes a `Denylist`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::json;
use tower_jwt_auth::denylist::{Denylist, DenylistError, MemoryDenylist, TokenId};
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::BoxFuture;
use tower_jwt_auth::{ErrorKind, JwtOptionalLayer, JwtRequiredLayer, RefreshRequiredLayer};

use crate::common::*;

/// A store that answers only asynchronously (like a network store), with a fixed verdict.
struct Fixed {
    revoked: Option<bool>,
    asked: AtomicUsize,
}

impl Fixed {
    fn new(revoked: Option<bool>) -> Arc<Self> {
        Arc::new(Self {
            revoked,
            asked: AtomicUsize::new(0),
        })
    }
}

impl Denylist for Fixed {
    fn revoke<'a>(
        &'a self,
        _: &'a str,
        _: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        Box::pin(async { Ok(()) })
    }
    fn is_revoked<'a>(&'a self, _: TokenId<'a>) -> BoxFuture<'a, Result<bool, DenylistError>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let answer = self.revoked;
        Box::pin(async move {
            tokio::task::yield_now().await;
            answer.ok_or_else(|| DenylistError::new("store down"))
        })
    }
}

#[tokio::test]
async fn revocation_skip_and_no_skip() {
    let store = Fixed::new(Some(true));
    let m = builder(StatusPolicy::Default)
        .denylist(store.clone())
        .build()
        .unwrap();
    let access = m.create_access_token("username").unwrap();

    let skip = JwtRequiredLayer::new(&m)
        .verify_type(false)
        .check_revocation(false);
    let r = send(&skip, Some(&bearer(&access))).await;
    assert_eq!((r.status.as_u16(), r.json), (200, json!({"foo": "baz"})));
    assert_eq!(store.asked.load(Ordering::SeqCst), 0);

    let no_skip = JwtRequiredLayer::new(&m).verify_type(false);
    let r = send(&no_skip, Some(&bearer(&access))).await;
    assert_eq!(
        (r.status.as_u16(), r.json),
        (401, json!({"msg": "Token has been revoked"}))
    );
    assert_eq!(store.asked.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn non_revoked_and_revoked_tokens() {
    for policy in POLICIES {
        for revoked in [false, true] {
            let m = builder(policy)
                .denylist(Fixed::new(Some(revoked)))
                .build()
                .unwrap();
            let access = m.create_access_token("username").unwrap();
            let refresh = m.create_refresh_token("username").unwrap();
            for (layer_status, token) in [
                (
                    send(&JwtRequiredLayer::new(&m), Some(&bearer(&access))).await,
                    &access,
                ),
                (
                    send(&RefreshRequiredLayer::new(&m), Some(&bearer(&refresh))).await,
                    &refresh,
                ),
            ] {
                let r = layer_status;
                if revoked {
                    assert_eq!(r.status_msg(), (401, "Token has been revoked"), "{token}");
                } else {
                    assert_eq!(r.status, 200);
                }
            }
        }
    }
}

#[tokio::test]
async fn custom_revoked_message() {
    let m = builder(StatusPolicy::Default)
        .denylist(Fixed::new(Some(true)))
        .build()
        .unwrap();
    let layer = JwtRequiredLayer::new(&m).error_responder(fixed_response(
        Some(ErrorKind::Revoked),
        404,
        r#"{"baz":"foo"}"#,
    ));
    let access = m.create_access_token("username").unwrap();
    let r = send(&layer, Some(&bearer(&access))).await;
    assert_eq!((r.status.as_u16(), r.json), (404, json!({"baz": "foo"})));
}

#[tokio::test]
async fn memory_denylist_revokes_access_and_refresh_tokens() {
    let list = MemoryDenylist::new();
    let m = builder(StatusPolicy::Default)
        .denylist(list.clone())
        .build()
        .unwrap();
    let access = m.create_access_token("username").unwrap();
    let refresh = m.create_refresh_token("username").unwrap();
    let required = JwtRequiredLayer::new(&m);
    let refresh_route = RefreshRequiredLayer::new(&m);
    assert_eq!(send(&required, Some(&bearer(&access))).await.status, 200);
    assert_eq!(
        send(&refresh_route, Some(&bearer(&refresh))).await.status,
        200
    );

    for token in [&access, &refresh] {
        m.revoke(&m.decode_token(token).unwrap()).await.unwrap();
    }
    assert_eq!(list.len(), 2);
    let r = send(&required, Some(&bearer(&access))).await;
    assert_eq!(r.status_msg(), (401, "Token has been revoked"));
    assert_eq!(
        r.headers["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    let r = send(&refresh_route, Some(&bearer(&refresh))).await;
    assert_eq!(r.status_msg(), (401, "Token has been revoked"));
    // Optional routes refuse a revoked token too.
    let r = send(&JwtOptionalLayer::new(&m), Some(&bearer(&access))).await;
    assert_eq!(r.status, 401);
    // A fresh token for the same identity still works.
    let again = m.create_access_token("username").unwrap();
    assert_eq!(send(&required, Some(&bearer(&again))).await.status, 200);
}

#[tokio::test]
async fn token_without_jti_is_rejected_when_revocation_is_checked() {
    for policy in POLICIES {
        let m = manager(policy);
        let mut claims = default_claims();
        claims.as_object_mut().unwrap().remove("jti");
        let token = encode(&claims);
        let r = send(&JwtRequiredLayer::new(&m), Some(&bearer(&token))).await;
        assert_eq!(r.status, expect(policy, 422));
        assert_eq!(r.msg(), r#"Token is missing the "jti" claim"#);
        let skip = JwtRequiredLayer::new(&m).check_revocation(false);
        assert_eq!(send(&skip, Some(&bearer(&token))).await.status, 200);
    }
}

#[tokio::test]
async fn failing_store_fails_closed() {
    let m = builder(StatusPolicy::Default)
        .denylist(Fixed::new(None))
        .build()
        .unwrap();
    let access = m.create_access_token("username").unwrap();
    let r = send(&JwtRequiredLayer::new(&m), Some(&bearer(&access))).await;
    assert_eq!(r.status_msg(), (503, "Token revocation store unavailable"));
    // Not even an anonymous-tolerant optional route lets it through as anonymous.
    let optional = JwtOptionalLayer::new(&m).invalid_as_anonymous(true);
    assert_eq!(send(&optional, Some(&bearer(&access))).await.status, 503);
}

#[tokio::test]
async fn request_and_token_verification_ask_an_asynchronous_store() {
    for revoked in [false, true] {
        let store = Fixed::new(Some(revoked));
        let m = builder(StatusPolicy::Default)
            .denylist(store.clone())
            .build()
            .unwrap();
        let access = m.create_access_token("username").unwrap();
        let req = http::Request::get("/")
            .header("Authorization", bearer(&access))
            .body(())
            .unwrap();
        let by_request = m.verify_request(&req).await.map_err(|e| e.kind());
        let by_token = m.verify_token(&access).await.map_err(|e| e.kind());
        let expected = if revoked {
            Err(ErrorKind::Revoked)
        } else {
            Ok(())
        };
        assert_eq!(by_request.map(drop), expected);
        assert_eq!(by_token.map(drop), expected);
        assert_eq!(store.asked.load(Ordering::SeqCst), 2);
    }
}
