//! Port of `tests/test_decode_tokens.py` (through `JwtManager::decode_token` and the layers).

use std::time::Duration;

use serde_json::json;
use tower_jwt_auth::claims::{Freshness, TokenType};
use tower_jwt_auth::issue::TokenOptions;
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::{ErrorKind, JwtManager, JwtRequiredLayer};

use crate::common::*;

fn m() -> JwtManager {
    manager(StatusPolicy::Default)
}

#[test]
fn missing_claims() {
    for claim in ["sub", "exp"] {
        let mut claims = default_claims();
        claims.as_object_mut().unwrap().remove(claim);
        let err = m().decode_token(&encode(&claims)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidClaim, "{claim}");
    }
}

#[test]
fn default_decode_token_values() {
    let mut claims = default_claims();
    for claim in ["type", "jti", "fresh"] {
        claims.as_object_mut().unwrap().remove(claim);
    }
    let decoded = m().decode_token(&encode(&claims)).unwrap();
    assert_eq!(decoded.token_type(), &TokenType::Access);
    assert_eq!(decoded.jti(), None);
    assert_eq!(decoded.freshness(), Freshness::NotFresh);
}

#[tokio::test]
async fn supports_decoding_other_token_types() {
    let mut claims = default_claims();
    claims["type"] = json!("app");
    let token = encode(&claims);
    let decoded = m().decode_token(&token).unwrap();
    assert_eq!(decoded.token_type(), &TokenType::Other("app".into()));
    // An access route accepts it (only "refresh" is refused there).
    assert_eq!(
        send(&JwtRequiredLayer::new(&m()), Some(&bearer(&token)))
            .await
            .status,
        200
    );
}

#[test]
fn encode_decode_audience() {
    let token = m().create_access_token("username").unwrap();
    assert!(!m()
        .decode_token(&token)
        .unwrap()
        .claims_json()
        .contains_key("aud"));

    let foo = builder(StatusPolicy::Default)
        .audience("foo")
        .build()
        .unwrap();
    let token = foo.create_access_token("username").unwrap();
    assert_eq!(
        foo.decode_token(&token).unwrap().claims_json()["aud"],
        "foo"
    );

    let bar = builder(StatusPolicy::Default)
        .encode_audience("foo")
        .decode_audience(["bar"])
        .build()
        .unwrap();
    let token = bar.create_access_token("username").unwrap();
    assert_eq!(
        bar.decode_token(&token).unwrap_err().message(),
        "Audience doesn't match"
    );

    let missing = builder(StatusPolicy::Default)
        .decode_audience(["foo"])
        .build()
        .unwrap();
    let token = missing.create_access_token("username").unwrap();
    assert_eq!(
        missing.decode_token(&token).unwrap_err().message(),
        r#"Token is missing the "aud" claim"#
    );

    let only_encode = builder(StatusPolicy::Default)
        .encode_audience("foo")
        .build()
        .unwrap();
    let token = only_encode.create_access_token("username").unwrap();
    assert_eq!(
        only_encode.decode_token(&token).unwrap().claims_json()["aud"],
        "foo"
    );
}

#[test]
fn expired_token() {
    let mut claims = default_claims();
    claims["exp"] = json!(now() - 1);
    let token = encode(&claims);
    assert_eq!(
        m().decode_token(&token).unwrap_err().kind(),
        ErrorKind::Expired
    );
    // Within the leeway it is still accepted.
    let lenient = builder(StatusPolicy::Default)
        .leeway(Duration::from_secs(30))
        .build()
        .unwrap();
    assert!(lenient.decode_token(&token).is_ok());
}

#[test]
fn never_expire_token() {
    let never = builder(StatusPolicy::Default)
        .access_token_lifetime(tower_jwt_auth::manager::Lifetime::Never)
        .refresh_token_lifetime(tower_jwt_auth::manager::Lifetime::Never)
        .build()
        .unwrap();
    for token in [
        never.create_access_token("username").unwrap(),
        never.create_refresh_token("username").unwrap(),
    ] {
        assert!(!never
            .decode_token(&token)
            .unwrap()
            .claims_json()
            .contains_key("exp"));
    }
}

#[test]
fn nbf_token_in_future() {
    let token = m()
        .create_access_token_with("username", TokenOptions::new().claim("nbf", now() + 20))
        .unwrap();
    let err = m().decode_token(&token).unwrap_err();
    assert_eq!(
        (err.kind(), err.message()),
        (ErrorKind::NotYetValid, "The token is not yet valid (nbf)")
    );
    let lenient = builder(StatusPolicy::Default)
        .leeway(Duration::from_secs(30))
        .build()
        .unwrap();
    assert_eq!(lenient.decode_token(&token).unwrap().identity(), "username");
}

#[test]
fn iat_in_future() {
    let mut claims = default_claims();
    claims["iat"] = json!(now() + 86_400);
    let err = m().decode_token(&encode(&claims)).unwrap_err();
    assert_eq!(err.message(), "The token is not yet valid (iat)");
}

#[test]
fn alternate_identity_claim() {
    let banana = builder(StatusPolicy::Default)
        .identity_claim("banana")
        .build()
        .unwrap();
    // A token with `sub` but no `banana`.
    let err = banana.decode_token(&encode(&default_claims())).unwrap_err();
    assert_eq!(err.message(), "Missing claim: banana");

    let token = banana.create_access_token("username").unwrap();
    let decoded = banana.decode_token(&token).unwrap();
    assert_eq!(decoded.identity(), "username");
    let claims = decoded.claims_json();
    assert!(claims.contains_key("banana"));
    assert!(!claims.contains_key("sub"));
}

#[test]
fn get_jti() {
    let claims = default_claims();
    let decoded = m().decode_token(&encode(&claims)).unwrap();
    assert_eq!(decoded.jti(), claims["jti"].as_str());
}

#[test]
fn tokens_signed_with_another_secret_fail() {
    let other = "another-secret-that-is-long-enough-0123456789";
    let token = encode_with(
        &default_claims(),
        jsonwebtoken::Algorithm::HS256,
        other.as_bytes(),
    );
    let err = m().decode_token(&token).unwrap_err();
    assert_eq!(
        (err.kind(), err.message()),
        (ErrorKind::InvalidSignature, "Signature verification failed")
    );
}

#[test]
fn valid_and_invalid_aud() {
    let m = builder(StatusPolicy::Default)
        .decode_audience(["foo", "bar"])
        .build()
        .unwrap();
    for aud in [json!("foo"), json!(["bar"]), json!(["foo", "bar", "baz"])] {
        let mut claims = default_claims();
        claims["aud"] = aud.clone();
        assert_eq!(
            m.decode_token(&encode(&claims)).unwrap().claims_json()["aud"],
            aud
        );
    }
    let foo_only = builder(StatusPolicy::Default)
        .decode_audience(["foo"])
        .build()
        .unwrap();
    for aud in [json!("bar"), json!(["bar"]), json!(["bar", "baz"])] {
        let mut claims = default_claims();
        claims["aud"] = aud;
        assert_eq!(
            foo_only.decode_token(&encode(&claims)).unwrap_err().kind(),
            ErrorKind::InvalidAudience
        );
    }
    let mut claims = default_claims();
    claims["aud"] = json!(3);
    assert_eq!(
        foo_only
            .decode_token(&encode(&claims))
            .unwrap_err()
            .message(),
        "Invalid audience"
    );
}

#[test]
fn invalid_sub_values() {
    for sub in [json!(123), json!({}), json!([]), json!(false)] {
        let mut claims = default_claims();
        claims["sub"] = sub;
        let err = m().decode_token(&encode(&claims)).unwrap_err();
        assert_eq!(
            (err.kind(), err.message()),
            (ErrorKind::InvalidSubject, "Subject must be a string")
        );
    }
}

#[test]
fn issuer() {
    let enc = builder(StatusPolicy::Default)
        .encode_issuer("foobar")
        .build()
        .unwrap();
    let token = enc.create_access_token("username").unwrap();
    assert_eq!(
        enc.decode_token(&token).unwrap().claims_json()["iss"],
        "foobar"
    );

    let mismatch = builder(StatusPolicy::Default)
        .encode_issuer("foobar")
        .decode_issuer("baz")
        .build()
        .unwrap();
    let token = mismatch.create_access_token("username").unwrap();
    assert_eq!(
        mismatch.decode_token(&token).unwrap_err().message(),
        "Invalid issuer"
    );

    let mut claims = default_claims();
    claims["iss"] = json!("foobar");
    let valid = builder(StatusPolicy::Default)
        .decode_issuer("foobar")
        .build()
        .unwrap();
    assert!(valid.decode_token(&encode(&claims)).is_ok());
    // An array never matches (unlike jsonwebtoken's "any overlap").
    claims["iss"] = json!(["evil", "foobar"]);
    assert_eq!(
        valid.decode_token(&encode(&claims)).unwrap_err().message(),
        "Invalid issuer"
    );
}

#[test]
fn malformed_token() {
    let err = m().decode_token("banana").unwrap_err();
    assert_eq!(
        (err.kind(), err.message()),
        (ErrorKind::Malformed, "Not enough segments")
    );
}

#[test]
fn jwt_headers() {
    let m = builder(StatusPolicy::Default)
        .additional_headers(|_| serde_json::from_value(json!({"foo": "bar"})).unwrap())
        .build()
        .unwrap();
    for token in [
        m.create_access_token("username").unwrap(),
        m.create_refresh_token("username").unwrap(),
    ] {
        let header = m.decode_token(&token).unwrap().header();
        assert_eq!(header["foo"], "bar");
        assert_eq!(header["alg"], "HS256");
    }
    // Per-call headers win over the loader's; `alg` cannot be changed.
    let token = m
        .create_access_token_with(
            "u",
            TokenOptions::new()
                .header("foo", "baz")
                .header("alg", "none"),
        )
        .unwrap();
    let header = m.decode_token(&token).unwrap().header();
    assert_eq!(
        (header["foo"].as_str(), header["alg"].as_str()),
        (Some("baz"), Some("HS256"))
    );
    // Default header without extras.
    let plain = manager(StatusPolicy::Default)
        .create_access_token("u")
        .unwrap();
    let header = manager(StatusPolicy::Default)
        .decode_token(&plain)
        .unwrap()
        .header();
    assert_eq!(
        serde_json::Value::Object(header),
        json!({"alg": "HS256", "typ": "JWT"})
    );
}

#[test]
fn token_expires_time() {
    let m = builder(StatusPolicy::Default)
        .access_token_lifetime(Duration::from_secs(3600))
        .refresh_token_lifetime(Duration::from_secs(7200))
        .build()
        .unwrap();
    let now = now() as f64;
    let (access, refresh) = decoded_pair(&m);
    assert!((access.expires_at().unwrap() - (now + 3600.0)).abs() < 2.0);
    assert!((refresh.expires_at().unwrap() - (now + 7200.0)).abs() < 2.0);
}

#[test]
fn nbf_presence() {
    let token = m().create_access_token("u").unwrap();
    assert!(m()
        .decode_token(&token)
        .unwrap()
        .claims_json()
        .contains_key("nbf"));
    let no_nbf = builder(StatusPolicy::Default)
        .encode_nbf(false)
        .build()
        .unwrap();
    let token = no_nbf.create_access_token("u").unwrap();
    assert!(!no_nbf
        .decode_token(&token)
        .unwrap()
        .claims_json()
        .contains_key("nbf"));
}

#[test]
fn additional_claims_loader_and_per_call_claims() {
    let m = builder(StatusPolicy::Default)
        .additional_claims(|identity| {
            serde_json::from_value(json!({"foo": "bar", "who": identity})).unwrap()
        })
        .build()
        .unwrap();
    let token = m
        .create_access_token_with("u", TokenOptions::new().claim("foo", "baz"))
        .unwrap();
    let claims = m.decode_token(&token).unwrap().claims_json();
    assert_eq!(
        (claims["foo"].as_str(), claims["who"].as_str()),
        (Some("baz"), Some("u"))
    );
}

#[test]
fn identity_is_always_a_string() {
    let token = m().create_access_token(42).unwrap();
    assert_eq!(m().decode_token(&token).unwrap().claims_json()["sub"], "42");
}

#[test]
fn fresh_for_a_duration() {
    let token = m()
        .create_access_token_with("u", TokenOptions::new().fresh(Duration::from_secs(60)))
        .unwrap();
    match m().decode_token(&token).unwrap().freshness() {
        Freshness::Until(t) => assert!((t - (now() as f64 + 60.0)).abs() < 2.0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_typed_time_claims() {
    for (claim, message) in [
        ("exp", "Expiration Time claim (exp) must be an integer."),
        ("nbf", "Not Before claim (nbf) must be an integer."),
        ("iat", "Issued At claim (iat) must be an integer."),
    ] {
        for value in [
            json!("1"),
            json!(true),
            json!(null),
            json!(-5),
            json!(1e300),
        ] {
            let mut claims = default_claims();
            claims[claim] = value.clone();
            let err = m().decode_token(&encode(&claims)).unwrap_err();
            assert_eq!(err.message(), message, "{claim} = {value}");
        }
    }
}
