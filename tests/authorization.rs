//! Authorization per route: roles, scopes (string and array shapes, nested Keycloak claims),
//! predicates, on every guard; 401 before 403 (missing, invalid, wrong-type, revoked tokens,
//! users gone), the 403's challenge and body under both policies, gRPC's status, and where
//! features meet: outside issuers naming their own claims, cookies, the async pipeline.
#![cfg(all(feature = "testing", feature = "jwks"))]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::authorization::ClaimPath;
use tower_jwt_auth::guard::{GuardLayer, RequestBody};
use tower_jwt_auth::jwks::RemoteJwks;
use tower_jwt_auth::manager::TokenLocation;
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::testing;
use tower_jwt_auth::testing::TestRequest;
use tower_jwt_auth::{ErrorKind, JwtManager, JwtOptionalLayer, JwtRequiredLayer, VerifiedToken};

#[path = "support/jwks_idp.rs"]
mod idp;

const SECRET: &str = "authorization-test-secret-0123456789abcd";

fn manager() -> JwtManager {
    JwtManager::builder().secret(SECRET).build().unwrap()
}

/// What a guard answered: status, `WWW-Authenticate`, body.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: String,
}

impl Answer {
    fn forbidden(&self) -> bool {
        self.status == StatusCode::FORBIDDEN
            && self
                .challenge
                .as_deref()
                .is_some_and(|c| c.starts_with(r#"Bearer error="insufficient_scope""#))
    }
}

async fn handler(
    req: Request<RequestBody<Full<Bytes>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let who = match req.extensions().get::<VerifiedToken>() {
        Some(token) => token.subject().id().to_owned(),
        None => "anonymous".to_owned(),
    };
    Ok(Response::new(Full::from(who)))
}

async fn send<K>(layer: &GuardLayer<K>, req: Request<Full<Bytes>>) -> Answer {
    let res = layer.layer(service_fn(handler)).oneshot(req).await.unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        challenge,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn bearer<K>(layer: &GuardLayer<K>, token: &str) -> Answer {
    send(
        layer,
        Request::get("/")
            .bearer(token)
            .body(Full::default())
            .unwrap(),
    )
    .await
}

async fn anonymous<K>(layer: &GuardLayer<K>) -> Answer {
    send(layer, Request::get("/").body(Full::default()).unwrap()).await
}

#[tokio::test]
async fn roles_as_an_array_or_one_string() {
    let m = manager();
    let admins = JwtRequiredLayer::new(&m).require_role("admin");
    let with = |roles: Value| testing::token(&m, "ada").claim("roles", roles).mint();

    for roles in [
        json!(["admin"]),
        json!(["user", "admin"]),
        json!("admin"),
        // JSON escapes mean what they spell.
        json!("\u{0061}dmin"),
    ] {
        let answer = bearer(&admins, &with(roles.clone())).await;
        assert_eq!(answer.status, 200, "{roles}");
        assert_eq!(answer.body, "ada");
    }
    for roles in [
        json!(["administrator"]),
        json!(["user admin"]),
        json!([["admin"]]),
        json!({"admin": true}),
        json!(true),
        json!(null),
        json!("Admin"),
        // A string is one role (group names hold spaces), not a list.
        json!("user admin"),
        json!("Billing admin"),
        json!(""),
        json!([""]),
    ] {
        let answer = bearer(&admins, &with(roles.clone())).await;
        assert!(answer.forbidden(), "{roles}: {answer:?}");
        assert_eq!(
            answer.challenge.as_deref(),
            Some(r#"Bearer error="insufficient_scope""#)
        );
        assert_eq!(answer.body, r#"{"msg":"Role required: admin"}"#);
    }
    // No roles at all.
    let plain = m.create_access_token("bob").unwrap();
    assert!(bearer(&admins, &plain).await.forbidden());
    // The test kit and the issuing options write the manager's claim.
    let minted = testing::token(&m, "ada").roles(["admin"]).mint();
    assert_eq!(bearer(&admins, &minted).await.status, 200);
    let decoded = m.decode_token(&minted).unwrap();
    assert_eq!(decoded.claims_json()["roles"], json!(["admin"]));
    assert_eq!(decoded.roles(), ["admin"]);
}

#[tokio::test]
async fn several_requirements_all_hold_and_any_role_needs_one() {
    let m = manager();
    let both = JwtRequiredLayer::new(&m)
        .require_role("admin")
        .require_role("auditor");
    let either = JwtRequiredLayer::new(&m).require_any_role(["admin", "auditor"]);
    let admin = testing::token(&m, "a").roles(["admin"]).mint();
    let auditor = testing::token(&m, "b").roles(["auditor"]).mint();
    let all = testing::token(&m, "c").roles(["auditor", "admin"]).mint();
    let none = testing::token(&m, "d").roles(["user"]).mint();

    assert!(bearer(&both, &admin).await.forbidden());
    assert_eq!(
        bearer(&both, &admin).await.body,
        r#"{"msg":"Role required: auditor"}"#
    );
    assert!(bearer(&both, &auditor).await.forbidden());
    assert_eq!(bearer(&both, &all).await.status, 200);
    assert_eq!(bearer(&either, &admin).await.status, 200);
    assert_eq!(bearer(&either, &auditor).await.status, 200);
    let refused = bearer(&either, &none).await;
    assert!(refused.forbidden());
    assert_eq!(
        refused.body,
        r#"{"msg":"One of these roles required: admin, auditor"}"#
    );
}

#[tokio::test]
async fn scopes_name_what_is_required_in_the_challenge() {
    let m = manager();
    let layer = JwtRequiredLayer::new(&m).require_scopes(["orders:read", "orders:write"]);
    let read = testing::token(&m, "ada").scopes(["orders:read"]).mint();
    let answer = bearer(&layer, &read).await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.challenge.as_deref(),
        Some(r#"Bearer error="insufficient_scope", scope="orders:read orders:write""#)
    );
    assert_eq!(
        answer.body,
        r#"{"msg":"Scopes required: orders:read, orders:write"}"#
    );
    // RFC 8693/9068: one space-separated string.
    let both = testing::token(&m, "ada")
        .scopes(["orders:write", "profile", "orders:read"])
        .mint();
    assert_eq!(
        m.decode_token(&both).unwrap().claims_json()["scope"],
        "orders:write profile orders:read"
    );
    assert_eq!(bearer(&layer, &both).await.status, 200);
    // A role requirement failing on a route that also needs scopes names no scope.
    let mixed = JwtRequiredLayer::new(&m)
        .require_scope("orders:read")
        .require_role("admin");
    let answer = bearer(&mixed, &both).await;
    assert_eq!(
        answer.challenge.as_deref(),
        Some(r#"Bearer error="insufficient_scope""#)
    );
}

#[tokio::test]
async fn the_claims_holding_roles_and_scopes_are_configurable() {
    // Azure/Okta `scp` arrays, Auth0 `permissions`, Keycloak's nested realm roles.
    let azure = JwtManager::builder()
        .secret(SECRET)
        .scopes_claim("scp")
        .build()
        .unwrap();
    let layer = JwtRequiredLayer::new(&azure).require_scope("Files.Read");
    let scp = testing::token(&azure, "ada")
        .claim("scp", json!(["User.Read", "Files.Read"]))
        .mint();
    assert_eq!(bearer(&layer, &scp).await.status, 200);
    let scope = testing::token(&azure, "ada")
        .claim("scope", "Files.Read")
        .mint();
    assert_eq!(bearer(&layer, &scope).await.status, 403);

    let auth0 = JwtManager::builder()
        .secret(SECRET)
        .scopes_claim("permissions")
        .roles_claim("permissions")
        .build()
        .unwrap();
    let layer = JwtRequiredLayer::new(&auth0)
        .require_scope("read:orders")
        .require_role("write:orders");
    let token = testing::token(&auth0, "ada")
        .claim("permissions", json!(["read:orders", "write:orders"]))
        .mint();
    assert_eq!(bearer(&layer, &token).await.status, 200);

    let keycloak = JwtManager::builder()
        .secret(SECRET)
        .roles_claim(ClaimPath::dotted("realm_access.roles"))
        .build()
        .unwrap();
    let layer = JwtRequiredLayer::new(&keycloak).require_role("admin");
    let nested = testing::token(&keycloak, "ada").roles(["admin"]).mint();
    assert_eq!(
        keycloak.decode_token(&nested).unwrap().claims_json()["realm_access"],
        json!({"roles": ["admin"]})
    );
    assert_eq!(bearer(&layer, &nested).await.status, 200);
    let top_level = testing::token(&keycloak, "ada")
        .claim("roles", json!(["admin"]))
        .mint();
    assert_eq!(bearer(&layer, &top_level).await.status, 403);
    // A member named twice on the way holds nothing (parsers disagree about which wins).
    let twice = testing::token(&keycloak, "ada")
        .claim("realm_access", json!({"roles": ["user"]}))
        .mint();
    let twice = resign_with_payload(&keycloak, &twice, |payload| {
        payload.replace(
            r#""realm_access":{"roles":["user"]}"#,
            r#""realm_access":{"roles":["user"],"roles":["admin"]}"#,
        )
    });
    assert_eq!(bearer(&layer, &twice).await.status, 403);

    // Three levels: a client's roles.
    let client = JwtManager::builder()
        .secret(SECRET)
        .roles_claim(ClaimPath::nested(["resource_access", "api", "roles"]))
        .build()
        .unwrap();
    let layer = JwtRequiredLayer::new(&client).require_role("writer");
    let token = testing::token(&client, "ada")
        .claim(
            "resource_access",
            json!({"web": {"roles": ["writer"]}, "api": {"roles": ["reader"]}}),
        )
        .mint();
    assert_eq!(bearer(&layer, &token).await.status, 403);
    let token = testing::token(&client, "ada").roles(["writer"]).mint();
    assert_eq!(bearer(&layer, &token).await.status, 200);

    // Claims the crate reads itself cannot hold roles.
    for claim in ["sub", "aud", "exp", "type"] {
        assert!(
            JwtManager::builder()
                .secret(SECRET)
                .roles_claim(claim)
                .build()
                .is_err(),
            "{claim}"
        );
    }
}

/// A token of `m` whose payload JSON is rewritten by `edit`, signed again with `m`'s secret.
fn resign_with_payload(m: &JwtManager, token: &str, edit: impl Fn(&str) -> String) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let header = parts.next().unwrap();
    let payload = String::from_utf8(b64.decode(parts.next().unwrap()).unwrap()).unwrap();
    let payload = edit(&payload);
    let input = format!("{header}.{}", b64.encode(payload));
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    let signed = format!("{input}.{signature}");
    assert!(m.decode_token(&signed).is_ok());
    signed
}

#[tokio::test]
async fn predicates_see_the_verified_token() {
    #[derive(serde::Deserialize)]
    struct Tenant {
        tenant: String,
    }
    let m = manager();
    let acme = JwtRequiredLayer::new(&m)
        .require(|token| {
            token
                .claims::<Tenant>()
                .is_ok_and(|claims| claims.tenant == "acme")
        })
        .forbidden_message("Wrong tenant");
    let ours = testing::token(&m, "ada").claim("tenant", "acme").mint();
    let theirs = testing::token(&m, "eve").claim("tenant", "globex").mint();
    assert_eq!(bearer(&acme, &ours).await.status, 200);
    let answer = bearer(&acme, &theirs).await;
    assert!(answer.forbidden());
    assert_eq!(answer.body, r#"{"msg":"Wrong tenant"}"#);
    let unnamed = JwtRequiredLayer::new(&m).require(|_| false);
    assert_eq!(
        bearer(&unnamed, &ours).await.body,
        r#"{"msg":"Not authorized"}"#
    );
}

/// Authentication first: a missing, malformed, expired, wrong-type or revoked token is 401
/// whatever the requirements, never 403; so is a token whose user is gone, and a claims
/// hook's refusal stays its 400.
#[tokio::test]
async fn authentication_is_checked_before_requirements() {
    let m = manager();
    let admins = JwtRequiredLayer::new(&m).require_role("admin");
    let missing = anonymous(&admins).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.challenge.as_deref(), Some("Bearer"));
    assert_eq!(bearer(&admins, "not.a.jwt").await.status, 401);
    let expired = testing::token(&m, "ada").roles(["user"]).expired().mint();
    assert_eq!(bearer(&admins, &expired).await.status, 401);
    let refresh = testing::token(&m, "ada").roles(["user"]).refresh().mint();
    assert_eq!(bearer(&admins, &refresh).await.status, 401);

    for roles in [["admin"], ["user"]] {
        let token = testing::token(&m, "ada").roles(roles).mint();
        m.revoke(&m.decode_token(&token).unwrap()).await.unwrap();
        let answer = bearer(&admins, &token).await;
        assert_eq!(answer.status, 401, "{roles:?}");
        assert_eq!(answer.body, r#"{"msg":"Token has been revoked"}"#);
    }

    // The async pipeline (a user lookup): the user is loaded before roles matter.
    let with_users = JwtManager::builder()
        .secret(SECRET)
        .user_lookup(|token: &VerifiedToken| {
            let known = token.identity() != "gone";
            async move { known.then_some(()) }
        })
        .verify_claims(|token: &VerifiedToken| token.identity() != "refused")
        .build()
        .unwrap();
    let admins = JwtRequiredLayer::new(&with_users).require_role("admin");
    let token = |who: &str, role: &str| testing::token(&with_users, who).roles([role]).mint();
    assert_eq!(bearer(&admins, &token("ada", "admin")).await.status, 200);
    assert!(bearer(&admins, &token("bob", "user")).await.forbidden());
    assert_eq!(bearer(&admins, &token("gone", "user")).await.status, 401);
    assert_eq!(bearer(&admins, &token("refused", "user")).await.status, 400);
    let revoked = token("bob", "user");
    with_users
        .revoke(&with_users.decode_token(&revoked).unwrap())
        .await
        .unwrap();
    assert_eq!(bearer(&admins, &revoked).await.status, 401);
}

#[tokio::test]
async fn optional_routes_admit_no_token_but_refuse_the_wrong_one() {
    let m = manager();
    let layer = JwtOptionalLayer::new(&m)
        .invalid_as_anonymous(true)
        .require_role("admin");
    let none = anonymous(&layer).await;
    assert_eq!(
        (none.status, none.body.as_str()),
        (StatusCode::OK, "anonymous")
    );
    // An invalid token is anonymous here; a valid one without the role is not.
    assert_eq!(bearer(&layer, "not.a.jwt").await.body, "anonymous");
    let user = testing::token(&m, "bob").roles(["user"]).mint();
    assert!(bearer(&layer, &user).await.forbidden());
    let admin = testing::token(&m, "ada").roles(["admin"]).mint();
    assert_eq!(bearer(&layer, &admin).await.body, "ada");
}

#[tokio::test]
async fn the_answer_under_both_policies_with_resource_metadata_and_for_grpc() {
    let m = JwtManager::builder()
        .secret(SECRET)
        .protected_resource("https://api.example.com")
        .build()
        .unwrap();
    let user = testing::token(&m, "bob").roles(["user"]).mint();
    let metadata =
        r#"resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#;
    for policy in [StatusPolicy::Default, StatusPolicy::FlaskCompatible] {
        let admins = JwtRequiredLayer::new(&m)
            .status_policy(policy)
            .require_role("admin")
            .forbidden_message("Admins only!");
        let answer = bearer(&admins, &user).await;
        assert_eq!(answer.status, 403, "{policy:?}");
        assert_eq!(
            answer.challenge.as_deref(),
            Some(format!(r#"Bearer error="insufficient_scope", {metadata}"#).as_str())
        );
        assert_eq!(answer.body, r#"{"msg":"Admins only!"}"#);
    }
    let scoped = JwtRequiredLayer::new(&m).require_scope("orders:read");
    assert_eq!(
        bearer(&scoped, &user).await.challenge.as_deref(),
        Some(
            format!(r#"Bearer error="insufficient_scope", scope="orders:read", {metadata}"#)
                .as_str()
        )
    );

    // gRPC: a trailers-only PERMISSION_DENIED.
    let res = JwtRequiredLayer::new(&m)
        .require_role("admin")
        .layer(service_fn(handler))
        .oneshot(
            Request::post("/pkg.Svc/Method")
                .header("content-type", "application/grpc")
                .bearer(&user)
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["grpc-status"], "7");
    assert_eq!(res.headers()["grpc-message"], "Role required: admin");
    let err = res.extensions().get::<tower_jwt_auth::AuthError>().unwrap();
    assert_eq!(err.kind(), ErrorKind::InsufficientScope);
}

#[tokio::test]
async fn cookie_borne_tokens_are_authorized_after_their_csrf_check() {
    let m = JwtManager::builder()
        .secret(SECRET)
        .token_locations([TokenLocation::Cookies])
        .build()
        .unwrap();
    let admins = JwtRequiredLayer::new(&m).require_role("admin");
    let post = |token: &str| {
        Request::post("/")
            .access_cookies(token)
            .body(Full::default())
            .unwrap()
    };
    let admin = testing::token(&m, "ada").roles(["admin"]).mint();
    let user = testing::token(&m, "bob").roles(["user"]).mint();
    assert_eq!(send(&admins, post(&admin)).await.status, 200);
    assert!(send(&admins, post(&user)).await.forbidden());
    // A forged cross-site request is the CSRF 401, not a 403.
    let forged = Request::post("/")
        .header("cookie", format!("access_token_cookie={admin}"))
        .body(Full::default())
        .unwrap();
    assert_eq!(send(&admins, forged).await.status, 401);
}

#[test]
fn roles_and_scopes_no_check_could_match_are_not_issued() {
    use tower_jwt_auth::issue::{IssueError, TokenOptions};
    let m = manager();
    for options in [
        TokenOptions::new().scopes(["orders:read orders:write"]),
        TokenOptions::new().scopes([""]),
        TokenOptions::new().scopes(["say\"hi\""]),
        TokenOptions::new().roles(["admin", ""]),
    ] {
        assert!(matches!(
            m.create_access_token_with("ada", options),
            Err(IssueError::InvalidRoleOrScope(_))
        ));
    }
    // A role may hold spaces (group names do): it is one role.
    let token = m
        .create_access_token_with("ada", TokenOptions::new().roles(["Billing admin"]))
        .unwrap();
    let token = m.decode_token(&token).unwrap();
    assert!(token.has_role("Billing admin") && !token.has_role("admin"));
}

#[tokio::test]
async fn in_handler_checks_answer_as_the_guards_do() {
    let m = manager();
    let token = m
        .decode_token(
            &testing::token(&m, "ada")
                .scopes(["a", "b"])
                .roles(["r"])
                .mint(),
        )
        .unwrap();
    assert!(token.has_scope("a") && token.has_scope("b") && !token.has_scope("c"));
    assert_eq!(token.scopes(), ["a", "b"]);
    assert!(token.require_role("r").is_ok());
    let err = token.require_scope("c").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InsufficientScope);
    assert_eq!(err.scope(), Some("c"));
    assert_eq!(err.status(StatusPolicy::Default), 403);
    assert_eq!(err.grpc_code(), 7);
    assert_eq!(token.require_role("admin").unwrap_err().scope(), None);
}

/// Two outside issuers, each naming its roles and scopes in its own claims, beside the
/// manager's own tokens: a token's roles are read where its issuer keeps them, and nowhere
/// else; an issuer that names none holds none.
#[tokio::test]
async fn each_issuer_keeps_roles_where_it_says() {
    let a = idp::Idp::start(vec![idp::public_jwk(jsonwebtoken::Algorithm::ES256, "k1")]).await;
    let b = idp::Idp::start(vec![idp::public_jwk_b("k1")]).await;
    let remote_a = RemoteJwks::builder(a.url("/jwks.json"))
        .issuer(a.url(""))
        .roles_claim("roles")
        .scopes_claim("scope")
        .build()
        .unwrap();
    let remote_b = RemoteJwks::builder(b.url("/jwks.json"))
        .issuer(b.url(""))
        .roles_claim(ClaimPath::dotted("realm_access.roles"))
        .scopes_claim("scp")
        .build()
        .unwrap();
    for remote in [&remote_a, &remote_b] {
        remote.start().await.unwrap().detach();
    }
    let m = JwtManager::builder()
        .secret(SECRET)
        .trust_jwks(&remote_a)
        .trust_jwks(&remote_b)
        .build()
        .unwrap();
    let claims = |iss: &str, extra: Value| {
        let mut claims =
            json!({"sub": "1", "iss": iss, "iat": idp::now(), "exp": idp::now() + 300});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let of_a = |extra| {
        idp::mint(
            jsonwebtoken::Algorithm::ES256,
            Some("k1"),
            &claims(&a.url(""), extra),
        )
    };
    let of_b = |extra| idp::mint_b(Some("k1"), &claims(&b.url(""), extra));
    let admins = JwtRequiredLayer::new(&m).require_role("admin");
    let readers = JwtRequiredLayer::new(&m).require_scope("read");

    assert_eq!(
        bearer(&admins, &of_a(json!({"roles": ["admin"]})))
            .await
            .status,
        200
    );
    assert!(bearer(
        &admins,
        &of_a(json!({"realm_access": {"roles": ["admin"]}}))
    )
    .await
    .forbidden());
    assert_eq!(
        bearer(
            &admins,
            &of_b(json!({"realm_access": {"roles": ["admin"]}}))
        )
        .await
        .status,
        200
    );
    assert!(bearer(&admins, &of_b(json!({"roles": ["admin"]})))
        .await
        .forbidden());
    assert_eq!(
        bearer(&readers, &of_a(json!({"scope": "read write"})))
            .await
            .status,
        200
    );
    assert!(bearer(&readers, &of_a(json!({"scp": ["read"]})))
        .await
        .forbidden());
    assert_eq!(
        bearer(&readers, &of_b(json!({"scp": ["read"]})))
            .await
            .status,
        200
    );
    assert!(bearer(&readers, &of_b(json!({"scope": "read"})))
        .await
        .forbidden());
    // The manager's own tokens use its own claims.
    let own = testing::token(&m, "ada").roles(["admin"]).mint();
    assert_eq!(bearer(&admins, &own).await.status, 200);

    // An issuer that was not told where its roles and scopes are holds none: its tokens'
    // `roles` and `scope` are not believed (as their `type` and `fresh` are not).
    let unsaid = RemoteJwks::builder(a.url("/jwks.json"))
        .issuer(a.url(""))
        .build()
        .unwrap();
    unsaid.start().await.unwrap().detach();
    let m2 = JwtManager::builder()
        .secret(SECRET)
        .trust_jwks(&unsaid)
        .build()
        .unwrap();
    let full = of_a(json!({"roles": ["admin"], "scope": "read"}));
    assert!(
        bearer(&JwtRequiredLayer::new(&m2).require_role("admin"), &full)
            .await
            .forbidden()
    );
    assert!(
        bearer(&JwtRequiredLayer::new(&m2).require_scope("read"), &full)
            .await
            .forbidden()
    );
    let verified = m2.verify_token(&full).await.unwrap();
    assert!(verified.roles().is_empty() && verified.scopes().is_empty());
    assert_eq!(bearer(&JwtRequiredLayer::new(&m2), &full).await.status, 200);

    // An outside issuer's claim paths are checked too: by itself, and against the
    // identity claim of the manager trusting it.
    assert!(RemoteJwks::builder(a.url("/jwks.json"))
        .issuer(a.url(""))
        .roles_claim("iss")
        .build()
        .is_err());
    let sub = RemoteJwks::builder(a.url("/jwks.json"))
        .issuer(a.url(""))
        .scopes_claim("sub")
        .build()
        .unwrap();
    let refused = JwtManager::builder()
        .secret(SECRET)
        .trust_jwks(&sub)
        .build();
    assert!(refused.unwrap_err().to_string().contains("scopes claim"));
    tokio::time::sleep(Duration::ZERO).await;
}
