//! The test kit (feature `testing`): every kind of minted token is accepted or refused as
//! it says, the clock moves without sleeping, the request helpers put tokens where guards
//! look, and the insecure fast hasher makes logins quick.
#![cfg(feature = "testing")]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tower::ServiceExt;
use tower_jwt_auth::claims::{Freshness, Subject, TokenType};
use tower_jwt_auth::jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use tower_jwt_auth::service::{AuthService, UserStore};
use tower_jwt_auth::testing::{
    insecure_fast_password_hasher, json_with_token, query_with_token, token, InsecureTestUsers,
    TestClock, TestRequest,
};
use tower_jwt_auth::{ErrorKind, JwtManager};

const SECRET: &str = "test-kit-secret-0123456789abcdefghijkl";

fn manager(clock: &TestClock) -> JwtManager {
    JwtManager::builder()
        .secret(SECRET)
        .clock(clock.clone())
        .build()
        .unwrap()
}

async fn verdict(m: &JwtManager, token: &str) -> Result<(), ErrorKind> {
    m.verify_token(token).await.map(drop).map_err(|e| e.kind())
}

#[tokio::test]
async fn minted_tokens_are_what_they_say() {
    let clock = TestClock::new();
    let m = manager(&clock);
    let access = token(&m, "ada").mint();
    let t = m.decode_token(&access).unwrap();
    assert_eq!((t.identity(), t.token_type()), ("ada", &TokenType::Access));
    assert_eq!(t.freshness(), Freshness::NotFresh);
    let t = m
        .decode_token(
            &token(&m, 7)
                .refresh()
                .fresh(true)
                .claim("role", "admin")
                .mint(),
        )
        .unwrap();
    assert_eq!((t.identity(), t.token_type()), ("7", &TokenType::Refresh));
    assert_eq!(t.freshness(), Freshness::Fresh);
    assert_eq!(t.claims_json()["role"], "admin");

    assert_eq!(
        verdict(&m, &token(&m, "ada").expired().mint()).await,
        Err(ErrorKind::Expired)
    );
    assert_eq!(
        verdict(&m, &token(&m, "ada").refresh().expired().mint()).await,
        Err(ErrorKind::Expired)
    );
    assert_eq!(
        verdict(&m, &token(&m, "ada").not_yet_valid().mint()).await,
        Err(ErrorKind::NotYetValid)
    );
    assert_eq!(
        verdict(&m, &token(&m, "ada").signed_by_another_key().mint()).await,
        Err(ErrorKind::InvalidSignature)
    );
    let err = m
        .verify_token(&token(&m, "ada").without_jti().mint())
        .await
        .unwrap_err();
    assert_eq!(err.message(), r#"Token is missing the "jti" claim"#);

    // Issued at a chosen time: the claims and the revocation time follow.
    let ten_minutes_ago = clock_now(&clock) - Duration::from_secs(600);
    let t = m
        .decode_token(&token(&m, "ada").issued_at(ten_minutes_ago).mint())
        .unwrap();
    let secs = ten_minutes_ago
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64;
    assert_eq!(t.issued_at(), Some(secs));
    assert_eq!(t.expires_at(), Some(secs + 900.0));
    m.revoke_all(Subject::local("ada")).await.unwrap();
    assert_eq!(
        verdict(&m, &token(&m, "ada").issued_at(ten_minutes_ago).mint()).await,
        Err(ErrorKind::Revoked)
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(verdict(&m, &token(&m, "ada").mint()).await, Ok(()));

    // With and without `csrf`.
    let with = m.decode_token(&token(&m, "ada").csrf("c1").mint()).unwrap();
    assert_eq!(with.claims_json()["csrf"], "c1");
    let without = m.decode_token(&token(&m, "ada").csrf("c1").without_csrf().mint());
    assert!(without.unwrap().claims_json().get("csrf").is_none());
}

fn clock_now(clock: &TestClock) -> SystemTime {
    tower_jwt_auth::clock::Clock::now(clock)
}

#[tokio::test]
async fn another_key_for_asymmetric_managers() {
    let key = |name: &str| {
        std::fs::read(format!(
            "{}/tests/catalogue/keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let clock = TestClock::new();
    let eddsa = JwtManager::builder()
        .key_pair(
            EncodingKey::from_ed_pem(&key("ed25519_private.pem")).unwrap(),
            DecodingKey::from_ed_pem(&key("ed25519_public.pem")).unwrap(),
        )
        .algorithm(Algorithm::EdDSA)
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(verdict(&eddsa, &token(&eddsa, "ada").mint()).await, Ok(()));
    assert_eq!(
        verdict(&eddsa, &token(&eddsa, "ada").signed_by_another_key().mint()).await,
        Err(ErrorKind::InvalidSignature)
    );
    let es256 = JwtManager::builder()
        .key_pair(
            EncodingKey::from_ec_pem(&key("ec_private.pem")).unwrap(),
            DecodingKey::from_ec_pem(&key("ec_public.pem")).unwrap(),
        )
        .algorithm(Algorithm::ES256)
        .build()
        .unwrap();
    // No random ES256 key in the kit: a clear error, and `signed_with` for one of yours.
    assert!(token(&es256, "ada")
        .signed_by_another_key()
        .try_mint()
        .is_err());
    let other = EncodingKey::from_ec_pem(&key("ec_private.pem")).unwrap();
    let resigned = token(&es256, "ada").signed_with(other).mint();
    assert_eq!(
        verdict(&es256, &resigned).await,
        Ok(()),
        "same key: verifies"
    );
}

#[tokio::test]
async fn the_clock_moves_without_sleeping() {
    let clock = TestClock::new();
    let m = manager(&clock);
    let access = token(&m, "ada").fresh(Duration::from_secs(60)).mint();
    let started = Instant::now();
    assert!(m.decode_token(&access).unwrap().is_fresh());
    clock.advance(Duration::from_secs(61));
    assert!(!m.decode_token(&access).unwrap().is_fresh());
    clock.advance(Duration::from_secs(900));
    assert_eq!(verdict(&m, &access).await, Err(ErrorKind::Expired));
    clock.set(clock_now(&clock) - Duration::from_secs(3600));
    assert_eq!(verdict(&m, &access).await, Err(ErrorKind::NotYetValid));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn request_helpers_put_tokens_where_guards_look() {
    let clock = TestClock::new();
    let m = manager(&clock);
    let t = token(&m, "ada").csrf("c-123").mint();
    let req = Request::get("/").bearer(&t).body(()).unwrap();
    assert_eq!(req.headers()["authorization"], format!("Bearer {t}"));
    let req = Request::post("/").access_cookies(&t).body(()).unwrap();
    assert_eq!(req.headers()["cookie"], format!("access_token_cookie={t}"));
    assert_eq!(req.headers()["x-csrf-token"], "c-123");
    let req = Request::post("/").refresh_cookies(&t).body(()).unwrap();
    assert_eq!(req.headers()["cookie"], format!("refresh_token_cookie={t}"));
    assert_eq!(query_with_token("/whoami", &t), format!("/whoami?jwt={t}"));
    assert_eq!(query_with_token("/a?b=1", "x"), "/a?b=1&jwt=x");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json_with_token("x", true)).unwrap(),
        json!({"refresh_token": "x"})
    );
}

#[tokio::test]
async fn insecure_fast_users_log_in_quickly() {
    let clock = TestClock::new();
    let m = manager(&clock);
    let users = InsecureTestUsers::new().with_user("ada@example.com", "1", "pw");
    // What makes these logins fast, rather than a wall-clock time (a loaded machine would
    // fail that): the kit stores the user's hash at 8 KiB and one pass.
    let stored = users.find_user("ada@example.com").await.unwrap().unwrap();
    assert!(
        stored
            .password_hash
            .starts_with("$argon2id$v=19$m=8,t=1,p=1$"),
        "{}",
        stored.password_hash
    );
    let auth = AuthService::builder(&m, users)
        .password_hasher(insecure_fast_password_hasher())
        .build();
    let login = |password: &str| {
        Request::post("/token")
            .header("content-type", "application/json")
            .body(Full::<Bytes>::from(
                json!({"email": "ada@example.com", "password": password}).to_string(),
            ))
            .unwrap()
    };
    for _ in 0..20 {
        let res = auth.clone().oneshot(login("pw")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body: serde_json::Value =
            serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(m.decode_token(access).unwrap().identity(), "1");
        let res = auth.clone().oneshot(login("wrong")).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // 40 logins at OWASP's parameters take ~1 s here; with the kit's, milliseconds: the
    // kit's hasher checks the kit's hashes (all 40 answers above were right).
}
