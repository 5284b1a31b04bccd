//! Tokens of an outside issuer verified through its JWKS: PyJWT mints RS256 and ES256
//! tokens with `kid`, a small Python server publishes the keys (tests/support/jwks_server.py).
//! A new key is picked up after the cooldown; many requests with unknown kids cause at most
//! one fetch per cooldown; the keys survive the server going away; the issuer, audience and
//! algorithm rules hold.
#![cfg(feature = "jwks")]

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::jwks::RemoteJwks;
use tower_jwt_auth::{ErrorKind, JwtManager, JwtRequiredLayer, VerifiedToken};

#[path = "support/jwks_peer.rs"]
mod peer;

const ISSUER: &str = "https://idp.example.test";
const SECRET: &str = "remote-jwks-test-secret-0123456789abcdef";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An outside issuer's claims: URL `sub`, `iss`, `aud`, no `jti`, no `type`.
fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": "api", "iat": now(), "exp": now() + 300})
}

async fn who(req: Request<RequestBody<Full<Bytes>>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let token = req.extensions().get::<VerifiedToken>().unwrap();
    Ok(Response::new(Full::from(token.identity().to_owned())))
}

/// The guard's answer: the identity, or the rejection message.
async fn guard(m: &JwtManager, token: &str) -> Result<String, (StatusCode, String)> {
    let req = Request::get("/whoami")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::default())
        .unwrap();
    let res = JwtRequiredLayer::new(m)
        .layer(service_fn(who))
        .oneshot(req)
        .await
        .unwrap();
    let status = res.status();
    let err = res.extensions().get::<tower_jwt_auth::AuthError>().cloned();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    match err {
        None => Ok(String::from_utf8(body.to_vec()).unwrap()),
        Some(err) => Err((status, err.message().to_owned())),
    }
}

async fn setup(cooldown: Duration) -> Option<(peer::Issuer, RemoteJwks, JwtManager)> {
    let python = peer::python()?;
    let idp = peer::Issuer::start(&python, ISSUER);
    idp.key("rsa-1", "RS256", true).await;
    idp.key("ec-1", "ES256", true).await;
    let remote = RemoteJwks::builder(idp.url("/jwks.json"))
        .issuer(ISSUER)
        .audience("api")
        .cooldown(cooldown)
        .refresh_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    assert_eq!(remote.start().await.unwrap(), 2);
    let m = JwtManager::builder()
        .secret(SECRET)
        .trust_jwks(&remote)
        .build()
        .unwrap();
    Some((idp, remote, m))
}

#[tokio::test]
async fn outside_tokens_verify_through_the_jwks() {
    let Some((idp, remote, m)) = setup(Duration::from_secs(30)).await else {
        return;
    };
    let mut ids = remote.key_ids();
    ids.sort();
    assert_eq!(ids, ["ec-1", "rsa-1"]);
    for kid in ["rsa-1", "ec-1"] {
        let token = idp
            .mint(kid, claims("https://idp.example.test/users/42"), json!({}))
            .await;
        assert_eq!(
            guard(&m, &token).await,
            Ok("https://idp.example.test/users/42".into()),
            "{kid}"
        );
        let verified = m.verify_token(&token).await.unwrap();
        assert_eq!(verified.token_type(), &tower_jwt_auth::TokenType::Access);
        assert!(verified.jti().is_none());
    }
    // The manager's own tokens still work.
    let own = m.create_access_token("ada").unwrap();
    assert_eq!(guard(&m, &own).await, Ok("ada".into()));

    // Issuer and audience: required and checked for outside tokens.
    let mut wrong_iss = claims("u");
    wrong_iss["iss"] = json!("https://evil.example");
    let mut no_iss = claims("u");
    no_iss.as_object_mut().unwrap().remove("iss");
    let mut wrong_aud = claims("u");
    wrong_aud["aud"] = json!("other-api");
    let mut no_aud = claims("u");
    no_aud.as_object_mut().unwrap().remove("aud");
    let mut no_exp = claims("u");
    no_exp.as_object_mut().unwrap().remove("exp");
    for (claims, message) in [
        (wrong_iss, "Invalid issuer"),
        (no_iss, "Token is missing the \"iss\" claim"),
        (wrong_aud, "Audience doesn't match"),
        (no_aud, "Token is missing the \"aud\" claim"),
        (no_exp, "Token is missing the \"exp\" claim"),
    ] {
        let token = idp.mint("rsa-1", claims, json!({})).await;
        assert_eq!(
            guard(&m, &token).await,
            Err((StatusCode::UNAUTHORIZED, message.into()))
        );
    }

    // No jti: a token cannot be revoked alone, but the identity's cut-off applies.
    let token = idp.mint("ec-1", claims("bob"), json!({})).await;
    let verified = m.verify_token(&token).await.unwrap();
    assert!(m.revoke(&verified).await.is_err());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    m.revoke_all("bob").await.unwrap();
    assert_eq!(
        guard(&m, &token).await,
        Err((StatusCode::UNAUTHORIZED, "Token has been revoked".into()))
    );
}

/// A key published after the first fetch is picked up when a token names it, once the
/// cooldown allows a fetch; a burst of requests naming unknown keys costs at most one fetch
/// per cooldown.
#[tokio::test]
async fn new_keys_are_picked_up_and_misses_share_fetches() {
    let cooldown = Duration::from_millis(1500);
    let Some((idp, remote, m)) = setup(cooldown).await else {
        return;
    };
    assert_eq!(idp.fetches().await, 1);
    idp.key("rsa-2", "RS256", false).await;
    let token = idp.mint("rsa-2", claims("carol"), json!({})).await;

    // Within the cooldown of the first fetch, a miss fetches nothing.
    assert!(guard(&m, &token).await.is_err());
    assert_eq!(idp.fetches().await, 1);

    // Unknown to the issuer's JWKS too: refused, with one fetch (the first miss after the
    // cooldown).
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    let refused = guard(&m, &token).await;
    assert_eq!(
        refused,
        Err((
            StatusCode::UNAUTHORIZED,
            "No key matches the token's key id (kid)".into()
        ))
    );
    assert_eq!(idp.fetches().await, 2);

    // Published now, but within the cooldown: still refused, no fetch; a burst of 50
    // requests naming unknown keys changes nothing.
    idp.post("/publish", json!({"kid": "rsa-2"})).await;
    let burst: Vec<_> = (0..50)
        .map(|i| {
            let m = m.clone();
            let idp_token = token.clone();
            tokio::spawn(async move {
                let forged = if i % 2 == 0 {
                    idp_token
                } else {
                    rename_kid(&idp_token, &format!("unknown-{i}"))
                };
                guard(&m, &forged).await
            })
        })
        .collect();
    for task in burst {
        assert!(task.await.unwrap().is_err());
    }
    assert_eq!(idp.fetches().await, 2, "no fetch within the cooldown");

    // After the cooldown, concurrent misses share one fetch, and the new key verifies.
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    let concurrent: Vec<_> = (0..20)
        .map(|_| {
            let (m, token) = (m.clone(), token.clone());
            tokio::spawn(async move { guard(&m, &token).await })
        })
        .collect();
    for task in concurrent {
        assert_eq!(task.await.unwrap(), Ok("carol".into()));
    }
    assert_eq!(idp.fetches().await, 3, "one fetch for 20 concurrent misses");
    assert_eq!(remote.fetches(), 3);
}

/// The header of `token` with another `kid` (the signature no longer matters: the key
/// lookup comes first).
fn rename_kid(token: &str, kid: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.splitn(2, '.');
    let mut header: Value =
        serde_json::from_slice(&b64.decode(parts.next().unwrap()).unwrap()).unwrap();
    header["kid"] = json!(kid);
    format!(
        "{}.{}",
        b64.encode(header.to_string()),
        parts.next().unwrap()
    )
}

/// When the issuer's server goes away, the keys fetched before keep verifying, and a failed
/// fetch changes nothing.
#[tokio::test]
async fn keys_survive_the_jwks_server_going_away() {
    let Some((mut idp, remote, m)) = setup(Duration::from_millis(100)).await else {
        return;
    };
    let token = idp.mint("ec-1", claims("dave"), json!({})).await;
    assert_eq!(guard(&m, &token).await, Ok("dave".into()));
    idp.stop();
    assert!(remote.refresh().await.is_err());
    tokio::time::sleep(Duration::from_millis(150)).await;
    // An unknown kid makes it try again, and fail: the known keys stay.
    let _ = guard(&m, &rename_kid(&token, "gone")).await;
    assert_eq!(guard(&m, &token).await, Ok("dave".into()));
    let mut ids = remote.key_ids();
    ids.sort();
    assert_eq!(ids, ["ec-1", "rsa-1"]);
}

/// No token chooses its verification algorithm with an outside key either.
#[tokio::test]
async fn algorithm_confusion_with_outside_keys() {
    let Some((idp, _remote, m)) = setup(Duration::from_secs(30)).await else {
        return;
    };
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let token = idp.mint("rsa-1", claims("eve"), json!({})).await;
    let payload = token.split('.').nth(1).unwrap();
    let signature = token.split('.').nth(2).unwrap();
    let with_header = |header: Value, signature: &str| {
        format!("{}.{payload}.{signature}", b64.encode(header.to_string()))
    };
    for (header, signature, kind) in [
        (
            json!({"alg": "none", "kid": "rsa-1"}),
            "",
            ErrorKind::AlgorithmNotAllowed,
        ),
        // HS256 "signed" with whatever: the key of that kid pins RS256.
        (
            json!({"alg": "HS256", "kid": "rsa-1"}),
            signature,
            ErrorKind::AlgorithmNotAllowed,
        ),
        // The RSA signature presented under the EC key's kid.
        (
            json!({"alg": "RS256", "kid": "ec-1"}),
            signature,
            ErrorKind::AlgorithmNotAllowed,
        ),
        (
            json!({"alg": "PS256", "kid": "rsa-1"}),
            signature,
            ErrorKind::AlgorithmNotAllowed,
        ),
    ] {
        let forged = with_header(header.clone(), signature);
        let err = m.verify_token(&forged).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{header}");
    }

    // A key whose algorithm is not allowed is not used.
    let strict = RemoteJwks::builder(idp.url("/jwks.json"))
        .issuer(ISSUER)
        .allowed_algorithms([tower_jwt_auth::Algorithm::ES256])
        .build()
        .unwrap();
    assert_eq!(strict.start().await.unwrap(), 1);
    assert_eq!(strict.key_ids(), ["ec-1"]);
    // HMAC is never allowed from a JWKS, and plain HTTP only on loopback.
    assert!(RemoteJwks::builder(idp.url("/jwks.json"))
        .issuer(ISSUER)
        .allowed_algorithms([tower_jwt_auth::Algorithm::HS256])
        .build()
        .is_err());
    assert!(RemoteJwks::builder("http://idp.example.test/jwks.json")
        .issuer(ISSUER)
        .build()
        .is_err());
    assert!(
        RemoteJwks::builder(idp.url("/jwks.json")).build().is_err(),
        "the issuer is required"
    );
}

/// OpenID Connect discovery: the issuer's configuration names its JWKS.
#[tokio::test]
async fn keys_found_through_discovery() {
    let Some(python) = peer::python() else {
        return;
    };
    let idp = peer::Issuer::start(&python, "self");
    let issuer = idp.url("");
    idp.key("ec-9", "ES256", true).await;
    let remote = RemoteJwks::discover(&issuer).build().unwrap();
    assert_eq!(remote.start().await.unwrap(), 1);
    let m = JwtManager::builder()
        .secret(SECRET)
        .trust_jwks(&remote)
        .build()
        .unwrap();
    let token = idp
        .mint(
            "ec-9",
            json!({"sub": "frank", "iss": issuer, "iat": now(), "exp": now() + 60}),
            json!({}),
        )
        .await;
    assert_eq!(guard(&m, &token).await, Ok("frank".into()));
}
