//! Key sets: keys chosen by `kid`, each pinning its algorithm (the algorithm-confusion cases
//! refused), PEM formats, RFC 7638 thumbprints, rotation at run time against a guard with
//! the memo of verified tokens on, and the published JWKS.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::jsonwebtoken::Algorithm;
use tower_jwt_auth::jwks::JwksService;
use tower_jwt_auth::keys::{JwtKey, KeyError};
use tower_jwt_auth::{BuildError, ErrorKind, JwtManager, JwtRequiredLayer};

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_json(value: &Value) -> String {
    b64(value.to_string().as_bytes())
}

/// The header of an encoded token.
fn header(token: &str) -> Value {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

const SECRET: &str = "key-set-test-secret-0123456789abcdefgh";

/// SEC1 EC private keys (`-----BEGIN EC PRIVATE KEY-----`, what `openssl ecparam -genkey`
/// writes, after its `EC PARAMETERS` block) load as their PKCS#8 form does, for P-256 and
/// P-384; a key of another curve than the algorithm's, or a damaged one, is refused.
#[test]
fn sec1_ec_private_keys() {
    for (alg, sec1, pkcs8, params) in [
        (
            Algorithm::ES256,
            "ec256_sec1.pem",
            "ec256_pkcs8.pem",
            "BggqhkjOPQMBBw==",
        ),
        (
            Algorithm::ES384,
            "ec384_sec1.pem",
            "ec384_pkcs8.pem",
            "BgUrgQQAIg==",
        ),
    ] {
        let from_sec1 = JwtKey::from_pem(alg, &pem(sec1)).unwrap_or_else(|e| panic!("{sec1}: {e}"));
        let from_pkcs8 = JwtKey::from_pem(alg, &pem(pkcs8)).unwrap();
        assert_eq!(from_sec1.kid(), from_pkcs8.kid(), "{sec1}");
        let genkey = format!(
            "-----BEGIN EC PARAMETERS-----\n{params}\n-----END EC PARAMETERS-----\n{}",
            String::from_utf8(pem(sec1)).unwrap()
        );
        let with_params = JwtKey::from_pem(alg, genkey.as_bytes()).unwrap();
        assert_eq!(with_params.kid(), from_pkcs8.kid(), "{sec1}");
        // It signs what the PKCS#8 form verifies.
        let signer = JwtManager::builder().key(from_sec1).build().unwrap();
        let verifier = JwtManager::builder().key(from_pkcs8).build().unwrap();
        let token = signer.create_access_token("ada").unwrap();
        assert_eq!(verifier.decode_token(&token).unwrap().identity(), "ada");
    }
    assert!(JwtKey::from_pem(Algorithm::ES384, &pem("ec256_sec1.pem")).is_err());
    assert!(JwtKey::from_pem(Algorithm::ES256, &pem("ec384_sec1.pem")).is_err());
    let text = String::from_utf8(pem("ec256_sec1.pem")).unwrap();
    for damaged in [
        text.replacen("MHcCAQEE", "MHcCAQEF", 1),
        text.replacen("MHcCAQEE", "MHcC", 1),
        text.replace("-----END EC PRIVATE KEY-----", ""),
    ] {
        assert!(
            JwtKey::from_pem(Algorithm::ES256, damaged.as_bytes()).is_err(),
            "{damaged}"
        );
    }
}

#[test]
fn pem_formats_and_thumbprints() {
    for (alg, file) in [
        (Algorithm::ES256, "ec256_pkcs8.pem"),
        (Algorithm::ES256, "ec256_sec1.pem"),
        (Algorithm::ES384, "ec384_pkcs8.pem"),
        (Algorithm::RS256, "rsa2048_pkcs8.pem"),
        (Algorithm::RS256, "rsa2048_pkcs1.pem"),
        (Algorithm::PS256, "rsa2048_pkcs8.pem"),
        (Algorithm::EdDSA, "ed25519_pkcs8.pem"),
    ] {
        let key = JwtKey::from_pem(alg, &pem(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(key.can_sign());
        let jwk = key.public_jwk().unwrap();
        // RFC 7638: SHA-256 over the required members in lexicographic order.
        let required = match jwk["kty"].as_str().unwrap() {
            "RSA" => json!({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}),
            "EC" => json!({"crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"]}),
            "OKP" => json!({"crv": jwk["crv"], "kty": "OKP", "x": jwk["x"]}),
            other => panic!("{other}"),
        };
        use sha2::Digest;
        let thumbprint = b64(&sha2::Sha256::digest(required.to_string().as_bytes()));
        assert_eq!(key.kid(), Some(thumbprint.as_str()), "{file}");
        assert_eq!(jwk["kid"], thumbprint.as_str());
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], serde_json::to_value(alg).unwrap());
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(
                jwk.get(private).is_none(),
                "{file}: private member {private}"
            );
        }
        // It signs, and verifies what it signs; the token names it.
        let m = JwtManager::builder().key(key).build().unwrap();
        let token = m.create_access_token("ada").unwrap();
        assert_eq!(header(&token)["kid"], thumbprint.as_str());
        assert_eq!(m.decode_token(&token).unwrap().identity(), "ada");
    }
    // The same key through SEC1 and PKCS#8: the same thumbprint.
    let sec1 = JwtKey::from_pem(Algorithm::ES256, &pem("ec256_sec1.pem")).unwrap();
    let pkcs8 = JwtKey::from_pem(Algorithm::ES256, &pem("ec256_pkcs8.pem")).unwrap();
    assert_eq!(sec1.kid(), pkcs8.kid());
    // Public keys verify only, with the private key's thumbprint.
    let public = JwtKey::from_public_pem(Algorithm::ES256, &pem("ec256_public.pem")).unwrap();
    assert!(!public.can_sign());
    assert_eq!(public.kid(), pkcs8.kid());
    // Refused: a key that does not fit the algorithm, a secret for an asymmetric one.
    assert!(JwtKey::from_pem(Algorithm::ES384, &pem("ec256_pkcs8.pem")).is_err());
    assert!(JwtKey::from_pem(Algorithm::RS256, &pem("ec256_pkcs8.pem")).is_err());
    assert!(JwtKey::from_pem(Algorithm::HS256, &pem("ec256_pkcs8.pem")).is_err());
    assert!(JwtKey::hmac(Algorithm::ES256, SECRET).is_err());
}

/// Tokens choose among the keys by `kid`; a token without `kid` needs the set to hold one
/// key of its algorithm; an unknown `kid` is refused with a clear message.
#[test]
fn keys_are_chosen_by_kid() {
    let a = JwtKey::hmac(Algorithm::HS256, SECRET)
        .unwrap()
        .with_kid("a");
    let b = JwtKey::hmac(Algorithm::HS256, "another-secret-0123456789abcdefghijk")
        .unwrap()
        .with_kid("b");
    let ec = JwtKey::from_pem(Algorithm::ES256, &pem("ec256_pkcs8.pem")).unwrap();
    let m = JwtManager::builder().key(a).key(b).key(ec).build().unwrap();
    // `a` signs (the first key).
    let token = m.create_access_token("ada").unwrap();
    assert_eq!(header(&token)["kid"], "a");
    assert!(m.decode_token(&token).is_ok());

    // A token of `b` (signed by a manager whose only key is `b`).
    let only_b = JwtManager::builder()
        .key(
            JwtKey::hmac(Algorithm::HS256, "another-secret-0123456789abcdefghijk")
                .unwrap()
                .with_kid("b"),
        )
        .build()
        .unwrap();
    let by_b = only_b.create_access_token("ada").unwrap();
    assert!(m.decode_token(&by_b).is_ok());

    // The same token renamed: an unknown kid, or no kid with two HS256 keys.
    let renamed = resign(
        &by_b,
        json!({"alg": "HS256", "kid": "zzz", "typ": "JWT"}),
        "another-secret-0123456789abcdefghijk",
    );
    let err = m.decode_token(&renamed).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownKey);
    assert_eq!(err.message(), "No key matches the token's key id (kid)");
    let unnamed = resign(
        &by_b,
        json!({"alg": "HS256", "typ": "JWT"}),
        "another-secret-0123456789abcdefghijk",
    );
    let err = m.decode_token(&unnamed).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownKey);
    // A kid naming the ES256 key on an HS256 token: the key pins ES256.
    let ec_kid = m.keys()[2].kid.clone().unwrap();
    let confused = resign(
        &by_b,
        json!({"alg": "HS256", "kid": ec_kid, "typ": "JWT"}),
        "another-secret-0123456789abcdefghijk",
    );
    assert_eq!(
        m.decode_token(&confused).unwrap_err().kind(),
        ErrorKind::AlgorithmNotAllowed
    );

    // One key of an algorithm: a token without kid (Flask-JWT-Extended's, 0.1's) is fine.
    let single = JwtManager::builder().secret(SECRET).build().unwrap();
    let plain = resign(&token, json!({"alg": "HS256", "typ": "JWT"}), SECRET);
    assert!(single.decode_token(&plain).is_ok());
    assert!(m.decode_token(&plain).is_err(), "two HS256 keys: ambiguous");

    // Keys of one algorithm need kids.
    let err = JwtManager::builder()
        .secret(SECRET)
        .key(JwtKey::hmac(Algorithm::HS256, "another-secret-0123456789abcdefghijk").unwrap())
        .build()
        .unwrap_err();
    assert!(
        matches!(err, BuildError::KeySet(KeyError::KidRequired(_))),
        "{err}"
    );
    // The key set's error is kept as the source.
    let source = std::error::Error::source(&err).expect("a source");
    assert!(source.downcast_ref::<KeyError>().is_some(), "{source}");
}

/// Re-signs a token's payload with `header` and an HMAC `secret`.
fn resign(token: &str, header: Value, secret: &str) -> String {
    use hmac::{KeyInit, Mac};
    let payload = token.split('.').nth(1).unwrap();
    let input = format!("{}.{payload}", b64_json(&header));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// No token chooses how it is verified: `alg: none`, HS256 "signed" with the RSA public key
/// as its secret, an algorithm other than the key's.
#[test]
fn algorithm_confusion_is_refused() {
    let rsa = JwtKey::from_pem(Algorithm::RS256, &pem("rsa2048_pkcs8.pem")).unwrap();
    let kid = rsa.kid().unwrap().to_owned();
    let m = JwtManager::builder().key(rsa).build().unwrap();
    let token = m.create_access_token("ada").unwrap();
    let payload = token.split('.').nth(1).unwrap();

    let none = format!(
        "{}.{payload}.",
        b64_json(&json!({"alg": "none", "kid": kid, "typ": "JWT"}))
    );
    assert!(m.decode_token(&none).is_err());
    let public = pem("rsa2048_public.pem");
    for header in [
        json!({"alg": "HS256", "kid": kid, "typ": "JWT"}),
        json!({"alg": "HS256", "typ": "JWT"}),
    ] {
        use hmac::{KeyInit, Mac};
        let input = format!("{}.{payload}", b64_json(&header));
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&public).unwrap();
        mac.update(input.as_bytes());
        let forged = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
        let err = m.decode_token(&forged).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlgorithmNotAllowed, "{header}");
    }
    // RS256's signature presented as PS256 (same key family, another algorithm).
    let signature = token.split('.').nth(2).unwrap();
    let ps = format!(
        "{}.{payload}.{signature}",
        b64_json(&json!({"alg": "PS256", "kid": kid, "typ": "JWT"}))
    );
    assert_eq!(
        m.decode_token(&ps).unwrap_err().kind(),
        ErrorKind::AlgorithmNotAllowed
    );
}

async fn ok(req: Request<RequestBody<Full<Bytes>>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let who = req
        .extensions()
        .get::<tower_jwt_auth::VerifiedToken>()
        .map(|t| t.identity().to_owned())
        .unwrap_or_default();
    Ok(Response::new(Full::from(who)))
}

async fn status(layer: &JwtRequiredLayer, token: &str) -> (StatusCode, String) {
    let req = Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::default())
        .unwrap();
    let res = layer.layer(service_fn(ok)).oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Rotation at run time against a guard, the memo of verified tokens on: the next key
/// verifies once added, signs once promoted; the old key's tokens work until it is retired,
/// then are refused even though the memo had them.
#[tokio::test]
async fn rotation_at_run_time_with_the_memo_on() {
    let old = JwtKey::from_pem(Algorithm::ES256, &pem("ec256_pkcs8.pem")).unwrap();
    let old_kid = old.kid().unwrap().to_owned();
    let m = JwtManager::builder()
        .key(old)
        .verified_token_cache(true)
        .build()
        .unwrap();
    let layer = JwtRequiredLayer::new(&m);
    let before = m.create_access_token("ada").unwrap();
    for _ in 0..3 {
        assert_eq!(status(&layer, &before).await.0, StatusCode::OK);
    }

    let next = JwtKey::from_pem(Algorithm::EdDSA, &pem("ed25519_pkcs8.pem")).unwrap();
    let next_kid = next.kid().unwrap().to_owned();
    m.add_key(next).unwrap();
    assert_eq!(
        m.jwks()["keys"].as_array().unwrap().len(),
        2,
        "published once added"
    );
    assert_eq!(
        header(&m.create_access_token("ada").unwrap())["kid"],
        old_kid.as_str(),
        "not signing yet"
    );

    m.promote_key(&next_kid).unwrap();
    let after = m.create_access_token("bob").unwrap();
    assert_eq!(header(&after)["kid"], next_kid.as_str());
    assert_eq!(header(&after)["alg"], "EdDSA");
    assert_eq!(status(&layer, &after).await, (StatusCode::OK, "bob".into()));
    assert_eq!(
        status(&layer, &before).await,
        (StatusCode::OK, "ada".into())
    );

    assert_eq!(
        m.retire_key(&next_kid),
        Err(KeyError::RetiringSigningKey(next_kid.clone()))
    );
    m.retire_key(&old_kid).unwrap();
    assert_eq!(
        status(&layer, &before).await.0,
        StatusCode::UNAUTHORIZED,
        "the memo forgets it"
    );
    assert_eq!(status(&layer, &after).await.0, StatusCode::OK);
    assert_eq!(m.jwks()["keys"].as_array().unwrap().len(), 1);
    assert_eq!(
        m.retire_key(&old_kid),
        Err(KeyError::UnknownKid(old_kid.clone()))
    );

    // Errors: a duplicate kid, a public key promoted.
    let dup = JwtKey::from_pem(Algorithm::EdDSA, &pem("ed25519_pkcs8.pem")).unwrap();
    assert_eq!(
        m.add_key(dup),
        Err(KeyError::DuplicateKid(next_kid.clone()))
    );
    let public = JwtKey::from_public_pem(Algorithm::RS256, &pem("rsa2048_public.pem")).unwrap();
    let public_kid = public.kid().unwrap().to_owned();
    m.add_key(public).unwrap();
    assert_eq!(
        m.promote_key(&public_kid),
        Err(KeyError::CannotSign(public_kid))
    );
    let listed = m.keys();
    assert_eq!(listed.len(), 2);
    assert!(listed[0].signing && listed[0].can_sign && !listed[1].signing && !listed[1].can_sign);
}

#[tokio::test]
async fn the_jwks_service_publishes_public_keys_only() {
    let ec = JwtKey::from_pem(Algorithm::ES256, &pem("ec256_pkcs8.pem")).unwrap();
    let rsa = JwtKey::from_pem(Algorithm::RS256, &pem("rsa2048_pkcs1.pem")).unwrap();
    let ed = JwtKey::from_pem(Algorithm::EdDSA, &pem("ed25519_pkcs8.pem")).unwrap();
    let hmac = JwtKey::hmac(Algorithm::HS256, SECRET)
        .unwrap()
        .with_kid("h");
    let m = JwtManager::builder()
        .key(ec)
        .key(rsa)
        .key(ed)
        .key(hmac)
        .build()
        .unwrap();
    let svc = JwksService::new(&m).max_age(std::time::Duration::from_secs(60));
    let res = svc
        .clone()
        .oneshot(Request::get("/.well-known/jwks.json").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["cache-control"], "public, max-age=60");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let jwks: Value = serde_json::from_slice(&body).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3, "the HMAC key is never published: {jwks}");
    let members = |k: &Value| {
        let mut names: Vec<String> = k.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    };
    assert_eq!(
        members(&keys[0]),
        ["alg", "crv", "kid", "kty", "use", "x", "y"]
    );
    assert_eq!(members(&keys[1]), ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(members(&keys[2]), ["alg", "crv", "kid", "kty", "use", "x"]);
    assert_eq!(
        (keys[0]["kty"].as_str(), keys[0]["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );
    assert_eq!(
        (keys[2]["kty"].as_str(), keys[2]["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );

    let res = svc
        .clone()
        .oneshot(Request::post("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let hmac_only = JwtManager::builder().secret(SECRET).build().unwrap();
    let res = JwksService::new(&hmac_only)
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
