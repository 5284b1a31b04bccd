//! The example server's keys, against the contract: `JWT_ALGORITHM` and `JWT_PRIVATE_KEY`
//! (the first key signs, all verify and are published at `/.well-known/jwks.json`), rotation
//! by restarting with `new.pem,old.pem`, and an outside issuer's tokens through
//! `JWT_JWKS_URL`. Real peers: PyJWT's `PyJWKClient` reads our JWKS and verifies our tokens;
//! Flask-JWT-Extended verifies them with our public key; PyJWT mints the outside tokens.

use std::path::PathBuf;
#[cfg(feature = "jwks")]
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::StatusCode;
use serde_json::{json, Value};

use crate::harness::{Server, TempDb};
use crate::{flask, login, register};

// Its outside-issuer half (minting, publishing) serves the `jwks` feature's test only.
#[cfg_attr(not(feature = "jwks"), allow(dead_code))]
#[path = "../support/jwks_peer.rs"]
mod peer;
// An outside issuer inside the test process (no Python); its failure modes serve
// tests/jwks_remote.rs.
#[cfg(feature = "jwks")]
#[path = "../support/jwks_idp.rs"]
mod idp;

fn key_path(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/keys")
        .join(name)
        .display()
        .to_string()
}

fn header(token: &str) -> Value {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn asymmetric_keys_are_published_and_verified_by_pyjwt_and_flask() {
    let python = peer::python();
    for (alg, private, public) in [
        ("ES256", "ec256_pkcs8.pem", "ec256_public.pem"),
        ("RS256", "rsa2048_pkcs1.pem", "rsa2048_public.pem"),
        ("EdDSA", "ed25519_pkcs8.pem", "ed25519_public.pem"),
    ] {
        let db = TempDb::new("keys");
        let s = Server::start(
            &db.path(),
            &[
                ("JWT_ALGORITHM", alg),
                ("JWT_PRIVATE_KEY", &key_path(private)),
            ],
        );
        register(&s, "ada", "ada@example.com", "pw-of-ada").await;
        let (access, refresh) = login(&s, "ada@example.com", "pw-of-ada").await;
        assert_eq!(header(&access)["alg"], alg);
        let (status, jwks) = s.get("/.well-known/jwks.json", None).await;
        assert_eq!(status, StatusCode::OK);
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{jwks}");
        assert_eq!(keys[0]["kid"], header(&access)["kid"]);
        assert_eq!(keys[0]["alg"], alg);
        assert!(keys[0].get("d").is_none());
        assert_eq!(s.get("/me", Some(&access)).await.0, StatusCode::OK);
        assert_eq!(
            s.post("/refresh", Some(&refresh), None).await.0,
            StatusCode::OK
        );

        let Some(python) = &python else {
            continue;
        };
        // PyJWT's PyJWKClient: our JWKS, our token.
        let idp = peer::Issuer::start(python, "unused");
        let jwks_url = format!("http://{}/.well-known/jwks.json", s.addr);
        let out = idp.verify_with_pyjwkclient(&jwks_url, &access).await;
        assert!(out.get("error").is_none(), "{alg}: PyJWKClient: {out}");
        assert_eq!(out["claims"]["sub"], "1");
        assert_eq!(out["alg"], alg);
        // Flask-JWT-Extended with our public key.
        if flask::python().is_some() {
            let public_pem = std::fs::read_to_string(key_path(public)).unwrap();
            let out = flask::run_script(
                python,
                "fje.py",
                &json!({"algorithm": alg, "public_key": public_pem, "tokens": [access, refresh]}),
            );
            for decoded in out["decoded"].as_array().unwrap() {
                assert!(decoded.get("error").is_none(), "{alg}: Flask: {decoded}");
                assert_eq!(decoded["claims"]["sub"], "1");
            }
        }
    }
}

/// `JWT_PRIVATE_KEY=new.pem,old.pem` signs with the new key and keeps the old key's tokens
/// working; dropping `old.pem` refuses them.
#[tokio::test]
async fn rotation_by_restart() {
    let db = TempDb::new("rotation");
    let (old, new) = (key_path("ec256_pkcs8.pem"), key_path("ec256_sec1_b.pem"));
    let start = |keys: String| {
        Server::start(
            &db.path(),
            &[("JWT_ALGORITHM", "ES256"), ("JWT_PRIVATE_KEY", &keys)],
        )
    };

    let s = start(old.clone());
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (old_token, _) = login(&s, "ada@example.com", "pw-of-ada").await;
    drop(s);

    let s = start(format!("{new},{old}"));
    let (status, jwks) = s.get("/.well-known/jwks.json", None).await;
    assert_eq!(
        (status, jwks["keys"].as_array().unwrap().len()),
        (StatusCode::OK, 2)
    );
    assert_eq!(s.get("/me", Some(&old_token)).await.0, StatusCode::OK);
    let (new_token, _) = login(&s, "ada@example.com", "pw-of-ada").await;
    assert_ne!(header(&new_token)["kid"], header(&old_token)["kid"]);
    assert_eq!(
        jwks["keys"][0]["kid"],
        header(&new_token)["kid"],
        "the first key signs"
    );
    drop(s);

    let s = start(new);
    assert_eq!(
        s.get("/me", Some(&old_token)).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "No key matches the token's key id (kid)"})
        )
    );
    assert_eq!(s.get("/me", Some(&new_token)).await.0, StatusCode::OK);
}

#[cfg(feature = "jwks")]
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `JWT_JWKS_URL` with `JWT_JWKS_ISSUER` and `JWT_JWKS_AUDIENCE`: `/whoami` answers for an
/// outside token as for an own one; a key published later is picked up after
/// `JWT_JWKS_COOLDOWN`.
#[cfg(feature = "jwks")]
#[tokio::test]
async fn outside_issuer_through_jwt_jwks_url() {
    let Some(python) = peer::python() else {
        return;
    };
    let issuer = "https://login.example.test";
    let idp = peer::Issuer::start(&python, issuer);
    idp.key("rsa-1", "RS256", true).await;
    let db = TempDb::new("outside");
    let jwks_url = idp.url("/jwks.json");
    let s = Server::start(
        &db.path(),
        &[
            ("JWT_JWKS_URL", &jwks_url),
            ("JWT_JWKS_ISSUER", issuer),
            ("JWT_JWKS_AUDIENCE", "example-api"),
            ("JWT_JWKS_COOLDOWN", "1"),
            ("JWT_JWKS_REFRESH", "600"),
        ],
    );
    let claims = |sub: &str| json!({"sub": sub, "iss": issuer, "aud": "example-api", "iat": now(), "exp": now() + 120});
    let token = idp
        .mint("rsa-1", claims("https://login.example.test/u/7"), json!({}))
        .await;
    assert_eq!(
        s.get("/whoami", Some(&token)).await,
        (
            StatusCode::OK,
            json!({"sub": "https://login.example.test/u/7"})
        )
    );
    let mut wrong = claims("x");
    wrong["aud"] = json!("another-api");
    let token = idp.mint("rsa-1", wrong, json!({})).await;
    assert_eq!(
        s.get("/whoami", Some(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );

    // A key published after the start.
    idp.key("ec-2", "ES256", true).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let token = idp.mint("ec-2", claims("grace"), json!({})).await;
    assert_eq!(
        s.get("/whoami", Some(&token)).await,
        (StatusCode::OK, json!({"sub": "grace"}))
    );
    // The server's own tokens still work beside them.
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (access, _) = login(&s, "ada@example.com", "pw-of-ada").await;
    assert_eq!(s.get("/whoami", Some(&access)).await.1, json!({"sub": "1"}));
}

/// Settings that cannot work stop the server with a message, before it listens.
#[test]
fn bad_key_settings_stop_the_server() {
    for (env, says) in [
        (vec![("JWT_ALGORITHM", "ES256")], "JWT_PRIVATE_KEY"),
        (
            vec![
                ("JWT_ALGORITHM", "ES256"),
                ("JWT_PRIVATE_KEY", "/nonexistent.pem"),
            ],
            "cannot read",
        ),
        (vec![("JWT_ALGORITHM", "XX999")], "unknown algorithm"),
        #[cfg(feature = "jwks")]
        (
            vec![("JWT_JWKS_URL", "http://127.0.0.1:9/jwks.json")],
            "JWT_JWKS_ISSUER",
        ),
    ] {
        let out = crate::harness::run_to_exit(&env);
        assert!(!out.status.success(), "{env:?}");
        let stderr = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{env:?}: {stderr}");
    }
}

/// `cargo run --example server --features jwks` with `JWT_JWKS_URL`, against an issuer in
/// the test process: its tokens verify at `/whoami`, and a key of a new type published
/// later verifies a token without `kid` once `JWT_JWKS_COOLDOWN` allows a fetch.
#[cfg(feature = "jwks")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_issuer_in_process() {
    use jsonwebtoken::Algorithm::{ES256, RS256};
    // On a worker thread: `Server::start` blocks this one while the server fetches.
    let idp = idp::Idp::start(vec![idp::public_jwk(RS256, "rsa-1")]).await;
    let db = TempDb::new("outside-in-process");
    let jwks_url = idp.url("/jwks.json");
    let s = Server::start(
        &db.path(),
        &[
            ("JWT_JWKS_URL", &jwks_url),
            ("JWT_JWKS_ISSUER", idp::ISSUER),
            ("JWT_JWKS_AUDIENCE", "api"),
            ("JWT_JWKS_COOLDOWN", "1"),
            ("JWT_JWKS_REFRESH", "600"),
        ],
    );
    assert_eq!(idp.hits("/jwks.json"), 1);
    let sub = "https://idp.example.test/u/7";
    let token = idp::mint(RS256, Some("rsa-1"), &idp::claims(sub));
    assert_eq!(
        s.get("/whoami", Some(&token)).await,
        (StatusCode::OK, json!({ "sub": sub }))
    );
    idp.publish(idp::public_jwk(ES256, "ec-2"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let token = idp::mint(ES256, None, &idp::claims("grace"));
    assert_eq!(
        s.get("/whoami", Some(&token)).await,
        (StatusCode::OK, json!({"sub": "grace"}))
    );
    assert_eq!(idp.hits("/jwks.json"), 2);
}

/// Built without the `jwks` feature (the default features: `cargo test --test example_server`),
/// the server has no HTTP client to fetch keys with: `JWT_JWKS_URL` or `JWT_JWKS_ISSUERS`
/// stops it at start, with a message naming the variable and the feature, before it listens.
#[cfg(not(feature = "jwks"))]
#[test]
fn jwt_jwks_url_without_the_jwks_feature_stops_the_server() {
    let url = [
        ("JWT_JWKS_URL", "http://127.0.0.1:9/jwks.json"),
        ("JWT_JWKS_ISSUER", "https://login.example.test"),
    ];
    let issuers = [("JWT_JWKS_ISSUERS", "https://login.example.test")];
    for (env, name) in [
        (&url[..], "JWT_JWKS_URL"),
        (&issuers[..], "JWT_JWKS_ISSUERS"),
    ] {
        let out = crate::harness::run_to_exit(env);
        assert!(!out.status.success());
        let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("--features jwks"), "{said}");
        assert!(said.contains(name), "{said}");
        assert!(!said.contains("listening on"), "{said}");
    }
    // Without the variable it starts, jwks feature or not.
    let db = TempDb::new("no-jwks");
    let s = Server::start(&db.path(), &[]);
    drop(s);
}
