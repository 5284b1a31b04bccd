//! Port of `tests/test_view_decorators.py`.

use std::time::Duration;

use serde_json::json;
use tower_jwt_auth::issue::TokenOptions;
use tower_jwt_auth::manager::Lifetime;
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::{
    FreshRequiredLayer, JwtOptionalLayer, JwtRequiredLayer, RefreshRequiredLayer,
};

use crate::common::*;

#[tokio::test]
async fn jwt_required() {
    for policy in POLICIES {
        let m = manager(policy);
        let layer = JwtRequiredLayer::new(&m);
        let (access, fresh, refresh) = tokens(&m);

        for token in [&access, &fresh] {
            let r = send(&layer, Some(&bearer(token))).await;
            assert_eq!(
                (r.status.as_u16(), r.json.clone()),
                (200, json!({"foo": "baz"}))
            );
        }
        let r = send(&layer, None).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json, json!({"msg": "Missing Authorization Header"}));

        let r = send(&layer, Some(&bearer(&refresh))).await;
        assert_eq!(r.status, expect(policy, 422));
        assert_eq!(
            r.json,
            json!({"msg": "Only non-refresh tokens are allowed"})
        );
    }
}

#[tokio::test]
async fn fresh_jwt_required() {
    for policy in POLICIES {
        let m = manager(policy);
        let layer = FreshRequiredLayer::new(&m);
        let (access, fresh, refresh) = tokens(&m);
        let fresh_timed = m
            .create_access_token_with(
                "username",
                TokenOptions::new().fresh(Duration::from_secs(300)),
            )
            .unwrap();
        // A "fresh until" that has already passed.
        let mut stale = default_claims();
        stale["fresh"] = json!(now() as f64 - 300.0);
        let stale = encode(&stale);

        for token in [&fresh, &fresh_timed] {
            let r = send(&layer, Some(&bearer(token))).await;
            assert_eq!(r.status, 200, "{}", r.json);
        }
        for token in [&access, &stale] {
            let r = send(&layer, Some(&bearer(token))).await;
            assert_eq!(r.status, 401);
            assert_eq!(r.json, json!({"msg": "Fresh token required"}));
        }
        assert_eq!(
            send(&layer, None).await.status_msg(),
            (401, "Missing Authorization Header")
        );
        let r = send(&layer, Some(&bearer(&refresh))).await;
        assert_eq!(r.status, expect(policy, 422));
        assert_eq!(r.msg(), "Only non-refresh tokens are allowed");
    }
}

#[tokio::test]
async fn fresh_route_custom_response() {
    // `needs_fresh_token_loader` returning 201 {"msg": "foobar"}.
    let m = builder(StatusPolicy::Default)
        .error_responder(fixed_response(
            Some(tower_jwt_auth::ErrorKind::FreshTokenRequired),
            201,
            r#"{"msg":"foobar"}"#,
        ))
        .build()
        .unwrap();
    let layer = FreshRequiredLayer::new(&m);
    let access = m.create_access_token("username").unwrap();
    let r = send(&layer, Some(&bearer(&access))).await;
    assert_eq!((r.status.as_u16(), r.json), (201, json!({"msg": "foobar"})));
    // Other errors keep the default response.
    assert_eq!(
        send(&layer, None).await.status_msg(),
        (401, "Missing Authorization Header")
    );
}

#[tokio::test]
async fn refresh_jwt_required() {
    for policy in POLICIES {
        let m = manager(policy);
        let layer = RefreshRequiredLayer::new(&m);
        let (access, fresh, refresh) = tokens(&m);

        for token in [&access, &fresh] {
            let r = send(&layer, Some(&bearer(token))).await;
            assert_eq!(r.status, expect(policy, 422));
            assert_eq!(r.json, json!({"msg": "Only refresh tokens are allowed"}));
        }
        assert_eq!(
            send(&layer, None).await.status_msg(),
            (401, "Missing Authorization Header")
        );
        let r = send(&layer, Some(&bearer(&refresh))).await;
        assert_eq!(r.status, 200);
        // A custom `type` is not a refresh token.
        let mut app = default_claims();
        app["type"] = json!("app");
        let r = send(&layer, Some(&bearer(&encode(&app)))).await;
        assert_eq!(r.msg(), "Only refresh tokens are allowed");
    }
}

#[tokio::test]
async fn jwt_required_no_typecheck() {
    let m = manager(StatusPolicy::Default);
    let layer = JwtRequiredLayer::new(&m).verify_type(false);
    for token in [
        m.create_access_token("username").unwrap(),
        m.create_refresh_token("username").unwrap(),
    ] {
        assert_eq!(send(&layer, Some(&bearer(&token))).await.status, 200);
    }
    assert_eq!(
        send(&layer, None).await.status_msg(),
        (401, "Missing Authorization Header")
    );
}

/// Setters can be called in any order and any number of times; none changes the kind of
/// guard a layer builds.
#[tokio::test]
async fn layer_setters_are_idempotent_and_keep_the_kind() {
    let m = manager(StatusPolicy::Default);
    let access = bearer(&m.create_access_token("username").unwrap());
    let refresh = bearer(&m.create_refresh_token("username").unwrap());
    let layer = RefreshRequiredLayer::new(&m)
        .verify_type(false)
        .verify_type(true);
    assert_eq!(send(&layer, Some(&refresh)).await.status, 200);
    assert_eq!(
        send(&layer, Some(&access)).await.status_msg(),
        (401, "Only refresh tokens are allowed")
    );
    let layer = JwtRequiredLayer::new(&m)
        .verify_type(true)
        .verify_type(false)
        .verify_type(true);
    assert_eq!(send(&layer, Some(&access)).await.status, 200);
    assert_eq!(
        send(&layer, Some(&refresh)).await.status_msg(),
        (401, "Only non-refresh tokens are allowed")
    );
    let layer = FreshRequiredLayer::new(&m).verify_type(false);
    assert_eq!(
        send(&layer, Some(&access)).await.status_msg(),
        (401, "Fresh token required"),
        "turning the type check off keeps freshness"
    );
}

#[tokio::test]
async fn jwt_optional() {
    for policy in POLICIES {
        let m = manager(policy);
        let layer = JwtOptionalLayer::new(&m);
        let (access, fresh, refresh) = tokens(&m);
        let mut expired = default_claims();
        expired["exp"] = json!(now() - 60);
        let expired = encode(&expired);

        for token in [&fresh, &access] {
            let r = send(&layer, Some(&bearer(token))).await;
            assert_eq!((r.status.as_u16(), r.json), (200, json!({"foo": "baz"})));
        }
        let r = send(&layer, Some(&bearer(&refresh))).await;
        assert_eq!(r.status, expect(policy, 422));
        assert_eq!(r.msg(), "Only non-refresh tokens are allowed");
        let r = send(&layer, Some(&bearer(&expired))).await;
        assert_eq!(r.status_msg(), (401, "Token has expired"));
    }
}

#[tokio::test]
async fn jwt_optional_with_no_valid_jwt() {
    const BAD: &str = "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'";
    for policy in POLICIES {
        let layer = JwtOptionalLayer::new(&manager(policy));
        let cases: &[(Option<&str>, u16, &str)] = &[
            (None, 200, ""),
            (Some("basic creds"), 200, ""),
            (Some("Bearer "), 422, BAD),
            (Some("Bearer xxx"), 422, "Not enough segments"),
            (Some("Foo 1, Bar 2, Baz, 3"), 200, ""),
            (Some("Foo 1, Bearer, Baz, 3"), 422, BAD),
            (Some("Foo 1, Bearer 2, Baz, 3"), 422, "Not enough segments"),
            (Some("Bearer ,,0"), 422, BAD),
        ];
        for &(auth, flask_status, msg) in cases {
            let r = send(&layer, auth).await;
            let status = if flask_status == 200 {
                200
            } else {
                expect(policy, flask_status)
            };
            assert_eq!(r.status, status, "{auth:?}");
            if flask_status == 200 {
                assert_eq!(r.json, json!({"foo": "bar"}), "{auth:?}");
            } else {
                assert_eq!(r.json, json!({"msg": msg}), "{auth:?}");
            }
        }
    }
}

#[tokio::test]
async fn jwt_optional_invalid_as_anonymous() {
    // Beyond Flask-JWT-Extended: a switch makes bad tokens anonymous on optional routes.
    let m = manager(StatusPolicy::Default);
    let layer = JwtOptionalLayer::new(&m).invalid_as_anonymous(true);
    let mut expired = default_claims();
    expired["exp"] = json!(now() - 60);
    let refresh = m.create_refresh_token("username").unwrap();
    for auth in [
        bearer(&encode(&expired)),
        bearer(&refresh),
        "Bearer xxx".into(),
        "Bearer ".into(),
    ] {
        let r = send(&layer, Some(&auth)).await;
        assert_eq!(
            (r.status.as_u16(), r.json),
            (200, json!({"foo": "bar"})),
            "{auth}"
        );
    }
    let access = m.create_access_token("username").unwrap();
    let r = send(&layer, Some(&bearer(&access))).await;
    assert_eq!(r.json, json!({"foo": "baz"}));
}

#[tokio::test]
async fn invalid_jwt() {
    for policy in POLICIES {
        let layer = JwtRequiredLayer::new(&manager(policy));
        let r = send(
            &layer,
            Some("Bearer eyJhbGciOiJIUzI1NiI=.eyJzdWIiOiJ1In0.c2ln"),
        )
        .await;
        assert_eq!(r.status, expect(policy, 422));
        assert_eq!(r.json, json!({"msg": "Invalid header padding"}));
    }
}

#[tokio::test]
async fn invalid_jwt_custom_response() {
    // `invalid_token_loader` returning 201 {"msg": "foobar"}.
    let m = builder(StatusPolicy::FlaskCompatible)
        .error_responder(fixed_response(None, 201, r#"{"msg":"foobar"}"#))
        .build()
        .unwrap();
    for auth in [None, Some("Bearer a.b"), Some("Bearer a=.b.c")] {
        let r = send(&JwtRequiredLayer::new(&m), auth).await;
        assert_eq!((r.status.as_u16(), r.json), (201, json!({"msg": "foobar"})));
    }
}

#[tokio::test]
async fn jwt_missing_claims() {
    for policy in POLICIES {
        let layer = JwtRequiredLayer::new(&manager(policy));
        let mut claims = default_claims();
        claims.as_object_mut().unwrap().remove("sub");
        let r = send(&layer, Some(&bearer(&encode(&claims)))).await;
        assert_eq!(r.status, expect(policy, 422));
        assert_eq!(r.json, json!({"msg": "Missing claim: sub"}));
    }
}

#[tokio::test]
async fn jwt_invalid_audience() {
    for policy in POLICIES {
        // No decode audience configured: any aud is fine.
        let m = manager(policy);
        let mut claims = default_claims();
        claims["aud"] = json!("bar");
        let token = encode(&claims);
        assert_eq!(
            send(&JwtRequiredLayer::new(&m), Some(&bearer(&token)))
                .await
                .status,
            200
        );

        let m = builder(policy)
            .decode_audience(["my_audience"])
            .build()
            .unwrap();
        let layer = JwtRequiredLayer::new(&m);
        let no_aud = encode(&default_claims());
        let r = send(&layer, Some(&bearer(&no_aud))).await;
        assert_eq!(r.status, expect(policy, 422));
        assert_eq!(r.msg(), r#"Token is missing the "aud" claim"#);
        let r = send(&layer, Some(&bearer(&token))).await;
        assert_eq!(r.status, expect(policy, 422));
        assert_eq!(r.msg(), "Audience doesn't match");
    }
}

#[tokio::test]
async fn jwt_invalid_issuer() {
    for policy in POLICIES {
        let m = manager(policy);
        let mut claims = default_claims();
        claims["iss"] = json!("foobar");
        let token = encode(&claims);
        assert_eq!(
            send(&JwtRequiredLayer::new(&m), Some(&bearer(&token)))
                .await
                .status,
            200
        );

        let m = builder(policy).decode_issuer("my_issuer").build().unwrap();
        let layer = JwtRequiredLayer::new(&m);
        let r = send(&layer, Some(&bearer(&encode(&default_claims())))).await;
        assert_eq!(r.status, expect(policy, 422));
        assert_eq!(r.msg(), r#"Token is missing the "iss" claim"#);
        let r = send(&layer, Some(&bearer(&token))).await;
        assert_eq!(r.status, expect(policy, 422));
        assert_eq!(r.msg(), "Invalid issuer");
    }
}

#[tokio::test]
async fn malformed_token() {
    for policy in POLICIES {
        let layer = JwtRequiredLayer::new(&manager(policy));
        let r = send(&layer, Some("Bearer banana")).await;
        assert_eq!(r.status, expect(policy, 422));
        assert_eq!(r.json, json!({"msg": "Not enough segments"}));
    }
}

#[tokio::test]
async fn expired_token() {
    for policy in POLICIES {
        let m = manager(policy);
        let layer = JwtRequiredLayer::new(&m);
        let expired = m
            .create_access_token_with(
                "username",
                TokenOptions::new().lifetime(Duration::from_secs(1)),
            )
            .unwrap();
        let mut claims = default_claims();
        claims["exp"] = json!(now() - 60);
        for token in [encode(&claims)] {
            let r = send(&layer, Some(&bearer(&token))).await;
            assert_eq!(r.status_msg(), (401, "Token has expired"));
        }
        // An expired refresh token on an access route: expiry is checked before type.
        claims["type"] = json!("refresh");
        let r = send(&layer, Some(&bearer(&encode(&claims)))).await;
        assert_eq!(r.status_msg(), (401, "Token has expired"));
        // Still valid within its lifetime.
        assert_eq!(send(&layer, Some(&bearer(&expired))).await.status, 200);
    }
}

#[tokio::test]
async fn no_token_and_custom_unauthorized_response() {
    let m = manager(StatusPolicy::FlaskCompatible);
    assert_eq!(
        send(&JwtRequiredLayer::new(&m), None).await.status_msg(),
        (401, "Missing Authorization Header")
    );
    // `unauthorized_loader` replaced on this route only.
    let layer =
        JwtRequiredLayer::new(&m).error_responder(fixed_response(None, 201, r#"{"msg":"foobar"}"#));
    let r = send(&layer, None).await;
    assert_eq!((r.status.as_u16(), r.json), (201, json!({"msg": "foobar"})));
}

#[tokio::test]
async fn different_token_algorithm() {
    let secret = "a-sixty-four-byte-secret-for-hs512-tokens-0123456789abcdefghijklm";
    for policy in POLICIES {
        let m = tower_jwt_auth::JwtManager::builder()
            .secret(secret)
            .algorithm(jsonwebtoken::Algorithm::HS512)
            .status_policy(policy)
            .build()
            .unwrap();
        let token = encode_with(
            &default_claims(),
            jsonwebtoken::Algorithm::HS256,
            secret.as_bytes(),
        );
        let r = send(&JwtRequiredLayer::new(&m), Some(&bearer(&token))).await;
        assert_eq!(r.status, expect(policy, 422));
        assert_eq!(
            r.json,
            json!({"msg": "The specified alg value is not allowed"})
        );
        let ok = m.create_access_token("username").unwrap();
        assert_eq!(
            send(&JwtRequiredLayer::new(&m), Some(&bearer(&ok)))
                .await
                .status,
            200
        );
    }
}

#[tokio::test]
async fn non_string_identity() {
    for policy in POLICIES {
        let layer = JwtRequiredLayer::new(&manager(policy));
        for sub in [json!(1), json!({}), json!([]), json!(false)] {
            let mut claims = default_claims();
            claims["sub"] = sub;
            let r = send(&layer, Some(&bearer(&encode(&claims)))).await;
            assert_eq!(r.status, expect(policy, 422));
            assert_eq!(r.json, json!({"msg": "Subject must be a string"}));
        }
    }
}

#[tokio::test]
async fn never_expiring_tokens() {
    let m = builder(StatusPolicy::Default)
        .access_token_lifetime(Lifetime::Never)
        .build()
        .unwrap();
    let token = m.create_access_token("username").unwrap();
    assert!(m.decode_token(&token).unwrap().expires_at().is_none());
    assert_eq!(
        send(&JwtRequiredLayer::new(&m), Some(&bearer(&token)))
            .await
            .status,
        200
    );
    // Where tokens are meant to expire, a token without `exp` is refused.
    let strict = manager(StatusPolicy::Default);
    let r = send(&JwtRequiredLayer::new(&strict), Some(&bearer(&token))).await;
    assert_eq!(r.status_msg(), (401, r#"Token is missing the "exp" claim"#));
}
