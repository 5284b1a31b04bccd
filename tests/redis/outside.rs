//! An outside issuer's tokens through a shared Redis denylist: revoked by `jti` or all of a
//! subject's at once on one instance, refused on the others and by an instance started
//! later; the names carry the issuer, so the local identity and `jti` of the same spelling
//! stay valid.

use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use tower_jwt_auth::jwks::RemoteJwks;
use tower_jwt_auth::JwtManager;

use super::fleet::HasTarget;
use super::{app, call, refused_within, REVOKED, SECRET};

#[path = "../support/jwks_idp.rs"]
mod idp;
use idp::{Idp, ISSUER};

async fn outside_instance(redis: &impl HasTarget, idp: &Idp, prefix: &str) -> JwtManager {
    let denylist = super::trusted_denylist(redis.target(), prefix).await;
    let remote = RemoteJwks::builder(idp.url("/jwks.json"))
        .issuer(ISSUER)
        .build()
        .unwrap();
    remote.refresh().await.unwrap();
    JwtManager::builder()
        .secret(SECRET)
        .denylist(denylist)
        .trust_jwks(&remote)
        .build()
        .unwrap()
}

on_every_topology! {
async fn outside_revocations_reach_every_instance_under_their_issuers_name(redis: &Fleet) {
    let idp = idp::start_es256().await;
    let a = outside_instance(&redis, &idp, "po:").await;
    let b = outside_instance(&redis, &idp, "po:").await;
    let b_app = app(&b);

    // By `jti`: a local token with the same `jti` spelling stays valid.
    let outside = idp::token("1", json!({"jti": "same-spelling"}));
    let local = tower_jwt_auth::testing::token(&a, "1")
        .claim("jti", "same-spelling")
        .mint();
    assert_eq!(call(&b_app, "/", &outside).await.0, StatusCode::OK);
    a.revoke(&a.verify_token(&outside).await.unwrap())
        .await
        .unwrap();
    assert_eq!(
        refused_within(&b_app, &outside, Duration::from_secs(5)).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
    assert_eq!(call(&b_app, "/", &local).await.0, StatusCode::OK);

    // All of the outside subject's tokens (they have no `jti`): local user "1" unaffected.
    let no_jti = idp::token("1", json!({}));
    assert_eq!(call(&b_app, "/", &no_jti).await.0, StatusCode::OK);
    let subject = a.verify_token(&no_jti).await.unwrap();
    a.revoke_all(&subject).await.unwrap();
    assert_eq!(
        refused_within(&b_app, &no_jti, Duration::from_secs(5)).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
    assert_eq!(call(&b_app, "/", &local).await.0, StatusCode::OK);

    // An instance started later loads both from Redis.
    let c = outside_instance(&redis, &idp, "po:").await;
    let c_app = app(&c);
    assert_eq!(
        call(&c_app, "/", &outside).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
    assert_eq!(
        call(&c_app, "/", &no_jti).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
    assert_eq!(call(&c_app, "/", &local).await.0, StatusCode::OK);
}
}
