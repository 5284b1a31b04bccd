//! Cases 32-37: token kinds, freshness, revocation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::json;
use tower_jwt_auth::denylist::{Denylist, DenylistError, MemoryDenylist, TokenId};
use tower_jwt_auth::issue::TokenOptions;
use tower_jwt_auth::BoxFuture;

use crate::algorithm::{ec_manager, sub256, P256_N};
use crate::harness::*;

#[tokio::test]
async fn kinds_freshness_revocation() {
    let g = Group::new();
    let jwt = builder().build().unwrap();
    let app = app(&jwt);
    let access = jwt.create_access_token("1").unwrap();
    let refresh = jwt.create_refresh_token("1").unwrap();

    g.case(
        32,
        "refresh token on an access route",
        &app,
        bearer("/access", &refresh),
        401,
        "Only non-refresh tokens are allowed",
    )
    .await;
    g.case(
        32,
        "access token on the refresh route",
        &app,
        bearer("/refresh", &access),
        401,
        "Only refresh tokens are allowed",
    )
    .await;
    g.case(
        32,
        "access token on the auth service's refresh",
        &app,
        post_json("/auth/refresh", Some(&access), ""),
        401,
        "Only refresh tokens are allowed",
    )
    .await;

    g.case(
        33,
        "non-fresh on a fresh route",
        &app,
        bearer("/fresh", &access),
        401,
        "Fresh token required",
    )
    .await;
    let mut c = claims();
    c["fresh"] = json!("true");
    g.case(
        33,
        "fresh as the string \"true\"",
        &app,
        bearer("/fresh", &signed_claims(&c)),
        401,
        "Fresh token required",
    )
    .await;
    let fresh = jwt
        .create_access_token_with("1", TokenOptions::new().fresh(true))
        .unwrap();
    g.case(33, "fresh token", &app, bearer("/fresh", &fresh), 200, "")
        .await;

    // Logout through the auth service, both tokens at once.
    let (status, _) = g
        .send(
            &app,
            post_json(
                "/auth/revoke",
                Some(&access),
                json!({"refresh_token": refresh}).to_string(),
            ),
        )
        .await;
    assert_eq!(status, 200);
    g.case(
        34,
        "access token after logout",
        &app,
        bearer("/access", &access),
        401,
        "Token has been revoked",
    )
    .await;
    g.case(
        34,
        "refresh token after logout",
        &app,
        post_json("/auth/refresh", Some(&refresh), ""),
        401,
        "Token has been revoked",
    )
    .await;
    let mut c = claims();
    c.as_object_mut().unwrap().remove("jti");
    g.case(
        34,
        "token without jti",
        &app,
        bearer("/access", &signed_claims(&c)),
        401,
        r#"Token is missing the "jti" claim"#,
    )
    .await;

    // ECDSA malleability: (r, n - s) verifies too, but the denylist is keyed on jti.
    let ec = ec_manager();
    let ec_app = crate::harness::app(&ec);
    let token = ec.create_access_token("1").unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = unb64(sig);
    let mut malleated = sig[..32].to_vec();
    malleated.extend_from_slice(&sub256(&P256_N, &sig[32..]));
    let twin = format!("{input}.{}", b64(&malleated));
    g.case(
        35,
        "(r, n-s) before revocation",
        &ec_app,
        bearer("/access", &twin),
        200,
        "",
    )
    .await;
    ec.revoke(&ec.decode_token(&token).unwrap()).await.unwrap();
    g.case(
        35,
        "(r, n-s) after revocation",
        &ec_app,
        bearer("/access", &twin),
        401,
        "Token has been revoked",
    )
    .await;

    // Case 37: a store that fails closed, and recovers.
    let store = Arc::new(Flaky {
        down: AtomicBool::new(true),
        inner: MemoryDenylist::new(),
    });
    let flaky = builder().denylist(store.clone()).build().unwrap();
    let flaky_app = crate::harness::app(&flaky);
    let token = flaky.create_access_token("1").unwrap();
    g.case(
        37,
        "store down",
        &flaky_app,
        bearer("/access", &token),
        503,
        "Token revocation store unavailable",
    )
    .await;
    g.case(
        37,
        "store down, logout",
        &flaky_app,
        post_json("/auth/revoke", Some(&token), ""),
        503,
        "Token revocation store unavailable",
    )
    .await;
    store.down.store(false, Ordering::SeqCst);
    g.case(
        37,
        "store back",
        &flaky_app,
        bearer("/access", &token),
        200,
        "",
    )
    .await;

    g.assert_no_leaks();
}

/// A store that can be taken down: only answers asynchronously, errors while down.
struct Flaky {
    down: AtomicBool,
    inner: MemoryDenylist,
}

impl Flaky {
    fn check(&self) -> Result<(), DenylistError> {
        if self.down.load(Ordering::SeqCst) {
            Err(DenylistError::new("connection refused"))
        } else {
            Ok(())
        }
    }
}

impl Denylist for Flaky {
    fn revoke<'a>(
        &'a self,
        jti: &'a str,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        Box::pin(async move {
            self.check()?;
            self.inner.insert(jti, until);
            Ok(())
        })
    }
    fn is_revoked<'a>(&'a self, token: TokenId<'a>) -> BoxFuture<'a, Result<bool, DenylistError>> {
        Box::pin(async move {
            self.check()?;
            Ok(self.inner.is_token_revoked(token))
        })
    }
}
