//! Several outside issuers on one manager, against two issuers inside the test process
//! (tests/support/jwks_idp.rs, on two loopback ports) publishing different ES256 keys under
//! the same `kid`: a token's `iss` selects its issuer's keys, so each issuer's tokens verify
//! with its own key whatever order the issuers were trusted in, a key of one never verifies
//! a token claiming the other, each issuer's audience is its own, and a token naming an
//! unknown key makes only its own issuer fetch.
#![cfg(feature = "jwks")]

use std::time::Duration;

use http::StatusCode;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use tower_jwt_auth::jwks::RemoteJwks;
use tower_jwt_auth::JwtManager;

#[path = "support/jwks_idp.rs"]
mod idp;
use idp::{guard, mint, mint_b, public_jwk, public_jwk_b, Idp};

const SECRET: &str = "several-issuers-test-secret-0123456789ab";
const ES: Algorithm = Algorithm::ES256;
const KID: &str = "k1";

fn claims(sub: &str, iss: &str, aud: &str) -> Value {
    json!({"sub": sub, "iss": iss, "aud": aud, "iat": idp::now(), "exp": idp::now() + 300})
}

/// Issuer A (its keys at a JWKS URL, audience "a") and issuer B (found by discovery,
/// audience "b"), both publishing their own ES256 key as `k1`; fetched once each.
struct Two {
    a: Idp,
    b: Idp,
    remote_a: RemoteJwks,
    remote_b: RemoteJwks,
}

impl Two {
    async fn start() -> Self {
        let a = Idp::start(vec![public_jwk(ES, KID)]).await;
        let b = Idp::start(vec![public_jwk_b(KID)]).await;
        let remote_a = RemoteJwks::builder(a.url("/jwks.json"))
            .issuer(a.url(""))
            .audience("a")
            .cooldown(Duration::from_millis(1))
            .build()
            .unwrap();
        let remote_b = RemoteJwks::discover(b.url(""))
            .audience("b")
            .cooldown(Duration::from_millis(1))
            .build()
            .unwrap();
        for remote in [&remote_a, &remote_b] {
            let refresh = remote.start().await.unwrap();
            assert_eq!(refresh.first_fetch().unwrap(), 1);
            refresh.detach();
        }
        Self {
            a,
            b,
            remote_a,
            remote_b,
        }
    }

    /// A manager trusting both, in this order.
    fn manager(&self, a_first: bool) -> JwtManager {
        let (first, second) = if a_first {
            (&self.remote_a, &self.remote_b)
        } else {
            (&self.remote_b, &self.remote_a)
        };
        JwtManager::builder()
            .secret(SECRET)
            .trust_jwks(first)
            .trust_jwks(second)
            .build()
            .unwrap()
    }

    fn iss_a(&self) -> String {
        self.a.url("")
    }

    fn iss_b(&self) -> String {
        self.b.url("")
    }
}

/// Each issuer's tokens verify with its own key, whichever issuer was trusted first, and the
/// manager's own tokens still do.
#[tokio::test]
async fn each_issuer_verifies_its_own_tokens_under_a_shared_kid() {
    let two = Two::start().await;
    for a_first in [true, false] {
        let m = two.manager(a_first);
        let of_a = mint(ES, Some(KID), &claims("alice", &two.iss_a(), "a"));
        let of_b = mint_b(Some(KID), &claims("bob", &two.iss_b(), "b"));
        assert_eq!(
            guard(&m, &of_a).await,
            Ok("alice".into()),
            "A first: {a_first}"
        );
        assert_eq!(
            guard(&m, &of_b).await,
            Ok("bob".into()),
            "A first: {a_first}"
        );
        let own = m.create_access_token("ada").unwrap();
        assert_eq!(guard(&m, &own).await, Ok("ada".into()));
    }
}

/// A token signed with one issuer's key but claiming the other issuer is refused, whichever
/// issuer was trusted first: the claimed issuer's key is the only one tried.
#[tokio::test]
async fn a_key_of_one_issuer_never_verifies_a_token_claiming_the_other() {
    let two = Two::start().await;
    for a_first in [true, false] {
        let m = two.manager(a_first);
        // B's key, claiming A (with A's audience); A's key, claiming B.
        let b_as_a = mint_b(Some(KID), &claims("mallory", &two.iss_a(), "a"));
        let a_as_b = mint(ES, Some(KID), &claims("mallory", &two.iss_b(), "b"));
        for token in [b_as_a, a_as_b] {
            assert_eq!(
                guard(&m, &token).await,
                Err((
                    StatusCode::UNAUTHORIZED,
                    "Signature verification failed".into()
                )),
                "A first: {a_first}"
            );
        }
        // Nor does a token without `iss`, or with an issuer nobody trusts.
        let mut no_iss = claims("mallory", "", "a");
        no_iss.as_object_mut().unwrap().remove("iss");
        let other = claims("mallory", "https://evil.example", "a");
        for (claims, message) in [
            (no_iss, "Token is missing the \"iss\" claim"),
            (other, "Invalid issuer"),
        ] {
            assert_eq!(
                guard(&m, &mint(ES, Some(KID), &claims)).await,
                Err((StatusCode::UNAUTHORIZED, message.into()))
            );
        }
    }
}

/// Each issuer's audience is its own: a token of B naming A's audience is refused, and the
/// other way round.
#[tokio::test]
async fn audience_per_issuer() {
    let two = Two::start().await;
    let m = two.manager(true);
    let b_for_a = mint_b(Some(KID), &claims("bob", &two.iss_b(), "a"));
    let a_for_b = mint(ES, Some(KID), &claims("alice", &two.iss_a(), "b"));
    for token in [b_for_a, a_for_b] {
        assert_eq!(
            guard(&m, &token).await,
            Err((StatusCode::UNAUTHORIZED, "Audience doesn't match".into()))
        );
    }
}

/// A token naming a key nobody holds makes only the issuer its `iss` names fetch again; a
/// token claiming no trusted issuer makes none fetch.
#[tokio::test]
async fn only_the_named_issuer_fetches_on_an_unknown_key() {
    let two = Two::start().await;
    let m = two.manager(true);
    let jwks = "/jwks.json";
    assert_eq!((two.a.hits(jwks), two.b.hits(jwks)), (1, 1));
    // Past the 1 ms cooldown of the first fetches.
    tokio::time::sleep(Duration::from_millis(20)).await;

    let of_b = mint_b(Some("k2"), &claims("bob", &two.iss_b(), "b"));
    assert!(guard(&m, &of_b).await.is_err());
    assert_eq!((two.a.hits(jwks), two.b.hits(jwks)), (1, 2));

    tokio::time::sleep(Duration::from_millis(20)).await;
    let of_a = mint(ES, Some("k2"), &claims("alice", &two.iss_a(), "a"));
    assert!(guard(&m, &of_a).await.is_err());
    assert_eq!((two.a.hits(jwks), two.b.hits(jwks)), (2, 2));

    tokio::time::sleep(Duration::from_millis(20)).await;
    let nobody = mint(ES, Some("k2"), &claims("eve", "https://evil.example", "a"));
    assert!(guard(&m, &nobody).await.is_err());
    assert_eq!((two.a.hits(jwks), two.b.hits(jwks)), (2, 2));
}

/// An outside issuer whose `iss` is the manager's own is refused at build: its tokens would
/// be verified with that issuer's keys only.
#[tokio::test]
async fn an_outside_issuer_spelling_the_managers_own_is_refused() {
    let two = Two::start().await;
    for own in [
        JwtManager::builder().issuer(two.iss_a()),
        JwtManager::builder().encode_issuer(two.iss_a()),
        JwtManager::builder().decode_issuer(two.iss_a()),
    ] {
        let err = own
            .secret(SECRET)
            .trust_jwks(&two.remote_b)
            .trust_jwks(&two.remote_a)
            .build()
            .unwrap_err();
        assert!(
            err.to_string().contains("the manager's own issuer"),
            "{err}"
        );
    }
    // Another issuer of its own: fine, and its own tokens (carrying it) still verify.
    let m = JwtManager::builder()
        .issuer("https://api.example.test")
        .secret(SECRET)
        .trust_jwks(&two.remote_a)
        .trust_jwks(&two.remote_b)
        .build()
        .unwrap();
    let own = m.create_access_token("ada").unwrap();
    assert_eq!(guard(&m, &own).await, Ok("ada".into()));
    // An outside issuer's key under the manager's issuer: refused.
    let forged = mint(
        ES,
        Some(KID),
        &claims("mallory", "https://api.example.test", "a"),
    );
    assert_eq!(
        guard(&m, &forged).await,
        Err((StatusCode::UNAUTHORIZED, "Invalid issuer".into()))
    );
}

/// A manager whose own RS256 key has no `kid` trusting an RS256 issuer: when the issuer
/// rotates to a new `kid`, its tokens make it fetch again and verify; the manager's kid-less
/// key (which would take any `kid` of its algorithm) never answers "Invalid issuer" for them.
#[tokio::test]
async fn an_issuer_rotating_past_a_managers_kidless_key_is_fetched_again() {
    let idp = Idp::start(vec![public_jwk(Algorithm::RS256, "rsa-1")]).await;
    let remote = RemoteJwks::builder(idp.url("/jwks.json"))
        .issuer(idp::ISSUER)
        .cooldown(Duration::from_millis(1))
        .build()
        .unwrap();
    remote.refresh().await.unwrap();
    let pem = std::fs::read(format!(
        "{}/tests/data/keys/rsa2048_pkcs8.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let public = std::fs::read(format!(
        "{}/tests/data/keys/rsa2048_public.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let m = JwtManager::builder()
        .algorithm(Algorithm::RS256)
        .key_pair(
            jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
            jsonwebtoken::DecodingKey::from_rsa_pem(&public).unwrap(),
        )
        .trust_jwks(&remote)
        .build()
        .unwrap();
    let own = m.create_access_token("local").unwrap();
    assert_eq!(guard(&m, &own).await, Ok("local".into()));

    idp.publish(public_jwk(Algorithm::RS256, "rsa-2"));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let rotated = mint(Algorithm::RS256, Some("rsa-2"), &idp::claims("carol"));
    assert_eq!(guard(&m, &rotated).await, Ok("carol".into()));
    assert_eq!(idp.hits("/jwks.json"), 2);
}

/// Two issuers naming the same `sub` with the same `jti`: revoking one issuer's token, or
/// all of its subject's, leaves the other issuer's alone (names are kept under the issuer).
#[tokio::test]
async fn revocations_of_one_issuer_leave_the_other_alone() {
    let two = Two::start().await;
    let m = two.manager(true);
    let with_jti = |mut c: Value| {
        c["jti"] = json!("same-jti");
        c
    };
    let of_a = mint(ES, Some(KID), &with_jti(claims("sam", &two.iss_a(), "a")));
    let of_b = mint_b(Some(KID), &with_jti(claims("sam", &two.iss_b(), "b")));
    m.revoke(&m.verify_token(&of_a).await.unwrap())
        .await
        .unwrap();
    assert_eq!(
        guard(&m, &of_a).await,
        Err((StatusCode::UNAUTHORIZED, "Token has been revoked".into()))
    );
    assert_eq!(guard(&m, &of_b).await, Ok("sam".into()));

    let later_b = mint_b(Some(KID), &claims("sam", &two.iss_b(), "b"));
    let later_a = mint(ES, Some(KID), &claims("sam", &two.iss_a(), "a"));
    m.revoke_all(&m.verify_token(&later_b).await.unwrap())
        .await
        .unwrap();
    assert_eq!(
        guard(&m, &later_b).await,
        Err((StatusCode::UNAUTHORIZED, "Token has been revoked".into()))
    );
    assert_eq!(guard(&m, &later_a).await, Ok("sam".into()));
}
