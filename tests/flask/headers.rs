//! Port of `tests/test_headers.py`, plus RFC 9110 scheme case and repeated headers.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::json;
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::JwtRequiredLayer;

use crate::common::*;

#[tokio::test]
async fn default_headers() {
    for policy in POLICIES {
        let m = manager(policy);
        let layer = JwtRequiredLayer::new(&m);
        let token = m.create_access_token("username").unwrap();

        let r = send(&layer, Some("Basic basiccreds")).await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.msg(),
            "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'"
        );
        for auth in [
            format!("Bearer {token}"),
            format!("Bearer {token}, Basic creds"),
            format!("Basic creds, Bearer {token}"),
            format!("Bearer {token},   "),
            // RFC 9110 §11.1: the scheme is case-insensitive.
            format!("bearer {token}"),
            format!("BEARER {token}"),
        ] {
            let r = send(&layer, Some(&auth)).await;
            assert_eq!(
                (r.status.as_u16(), r.json),
                (200, json!({"foo": "baz"})),
                "{auth}"
            );
        }
    }
}

#[tokio::test]
async fn custom_header_name() {
    let m = builder(StatusPolicy::Default)
        .header_name("Foo")
        .build()
        .unwrap();
    let layer = JwtRequiredLayer::new(&m);
    let token = m.create_access_token("username").unwrap();

    let r = send(&layer, Some(&bearer(&token))).await;
    assert_eq!(r.status_msg(), (401, "Missing Foo Header"));
    for value in [
        format!("Bearer {token}"),
        format!("Bearer {token}, Basic randomcredshere"),
        format!("Basic randomcredshere, Bearer {token}"),
    ] {
        let req = Request::get("/")
            .header("Foo", value)
            .body(Full::<Bytes>::default())
            .unwrap();
        assert_eq!(call(&layer, req).await.status, 200);
    }
}

#[tokio::test]
async fn custom_header_type() {
    for policy in POLICIES {
        let m = builder(policy).header_type("JWT").build().unwrap();
        let layer = JwtRequiredLayer::new(&m);
        let token = m.create_access_token("username").unwrap();

        let r = send(&layer, Some(&bearer(&token))).await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.msg(),
            "Missing 'JWT' type in 'Authorization' header. Expected 'Authorization: JWT <JWT>'"
        );
        for auth in [
            format!("JWT {token}"),
            format!("JWT {token}, Basic creds"),
            format!("Basic creds, JWT {token}"),
        ] {
            assert_eq!(send(&layer, Some(&auth)).await.status, 200, "{auth}");
        }

        // No type: the bare token.
        let m = builder(policy).header_type("").build().unwrap();
        let layer = JwtRequiredLayer::new(&m);
        assert_eq!(send(&layer, Some(&token)).await.status, 200);
        let r = send(&layer, Some(&bearer(&token))).await;
        assert_eq!(r.status, expect(policy, 422));
        assert_eq!(
            r.json,
            json!({"msg": "Bad Authorization header. Expected 'Authorization: <JWT>'"})
        );
    }
}

#[tokio::test]
async fn missing_headers() {
    let m = manager(StatusPolicy::FlaskCompatible);
    let r = send(&JwtRequiredLayer::new(&m), None).await;
    assert_eq!(
        (r.status.as_u16(), r.json),
        (401, json!({"msg": "Missing Authorization Header"}))
    );
    // Flask's test_client sends no WWW-Authenticate; the default policy adds the RFC 6750 one.
    assert!(r.headers.get("www-authenticate").is_none());
    let r = send(
        &JwtRequiredLayer::new(&manager(StatusPolicy::Default)),
        None,
    )
    .await;
    assert_eq!(r.headers["www-authenticate"], "Bearer");

    let layer =
        JwtRequiredLayer::new(&m).error_responder(fixed_response(None, 201, r#"{"foo":"bar"}"#));
    let r = send(&layer, None).await;
    assert_eq!((r.status.as_u16(), r.json), (201, json!({"foo": "bar"})));
}

#[tokio::test]
async fn header_without_jwt() {
    for policy in POLICIES {
        let layer = JwtRequiredLayer::new(&manager(policy));
        for auth in ["Bearer ", "Bearer"] {
            let r = send(&layer, Some(auth)).await;
            assert_eq!(r.status, expect(policy, 422));
            assert_eq!(
                r.json,
                json!({"msg": "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'"})
            );
        }
        let r = send(&layer, Some("Bearer ")).await;
        if policy == StatusPolicy::Default {
            assert_eq!(
                r.headers["www-authenticate"],
                r#"Bearer error="invalid_token""#
            );
        }
    }
}

#[tokio::test]
async fn custom_error_msg_key() {
    let m = builder(StatusPolicy::Default)
        .error_message_key("message")
        .build()
        .unwrap();
    let r = send(&JwtRequiredLayer::new(&m), None).await;
    assert_eq!(r.json, json!({"message": "Missing Authorization Header"}));
}

#[tokio::test]
async fn malformed_header_values_are_rejected() {
    let m = manager(StatusPolicy::Default);
    let layer = JwtRequiredLayer::new(&m);
    let token = m.create_access_token("username").unwrap();
    let mid = token.len() / 2;
    for auth in [
        format!("Bearer {token} extra"),
        format!("Bearer {}\t{}", &token[..mid], &token[mid..]),
        format!("Bearer{token}"),
        format!("Token {token}"),
        format!("Bearer {token}, Bearer {token}"),
    ] {
        let r = send(&layer, Some(&auth)).await;
        assert_eq!(r.status, 401, "{auth}");
        assert_ne!(r.json, json!({"foo": "baz"}));
    }
}

#[tokio::test]
async fn several_authorization_headers_are_rejected() {
    let m = manager(StatusPolicy::Default);
    let layer = JwtRequiredLayer::new(&m);
    let token = m.create_access_token("username").unwrap();
    for (first, second) in [
        (bearer(&token), "Bearer garbage".to_owned()),
        ("Bearer garbage".into(), bearer(&token)),
    ] {
        let req = Request::get("/")
            .header("Authorization", first)
            .header("Authorization", second)
            .body(Full::<Bytes>::default())
            .unwrap();
        let r = call(&layer, req).await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.msg(),
            "Bad Authorization header. Expected a single 'Authorization' header"
        );
    }
}

#[tokio::test]
async fn non_ascii_header_value_is_a_bad_header() {
    let layer = JwtRequiredLayer::new(&manager(StatusPolicy::FlaskCompatible));
    let req = Request::get("/")
        .header(
            "Authorization",
            http::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .body(Full::<Bytes>::default())
        .unwrap();
    let r = call(&layer, req).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.msg(),
        "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'"
    );
}
