//! The example server with `JWT_JWKS_URL` (issue #20's exact contract): an outside issuer's
//! token is a non-fresh access token of an identity that has no local row. It refreshes
//! nothing, changes no password, reads no local user, gets no implicitly refreshed cookie;
//! `/whoami` still answers its `sub`; `/revoke` revokes it when it has a `jti` and answers a
//! clear 4xx (never a 503 to retry) when it has none. With `JWT_JWKS_ISSUERS` (issue #21),
//! several issuers found by discovery, combined with `JWT_JWKS_URL`: a token's `iss` selects
//! its issuer's keys, also when they publish the same `kid`. The issuers run in the test
//! process.

use http::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Server, TempDb};
use crate::{login, register};

#[path = "../support/jwks_idp.rs"]
mod idp;
use idp::{Idp, ISSUER};

fn start(idp: &Idp, db: &TempDb, extra: &[(&str, &str)]) -> Server {
    let jwks_url = idp.url("/jwks.json");
    let mut env = vec![
        ("JWT_JWKS_URL", jwks_url.as_str()),
        ("JWT_JWKS_ISSUER", ISSUER),
    ];
    env.extend_from_slice(extra);
    Server::start(&db.path(), &env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_token_is_a_non_fresh_access_token_of_no_local_user() {
    let idp = idp::start_es256().await;
    let db = TempDb::new("outside-contract");
    let s = start(&idp, &db, &[]);
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (local, _) = login(&s, "ada@example.com", "pw-of-ada").await;
    // Local user 1 is ada; the outside token says `sub: "1"` too.
    assert_eq!(s.get("/me", Some(&local)).await.1["username"], "ada");

    let refresh = idp::token("1", json!({"type": "refresh", "jti": "o-refresh"}));
    assert_eq!(
        s.post("/refresh", Some(&refresh), None).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Only refresh tokens are allowed"})
        )
    );

    let fresh = idp::token("1", json!({"fresh": true, "jti": "o-fresh"}));
    let change = json!({"old_password": "pw-of-ada", "new_password": "taken-over"});
    assert_eq!(
        s.call(Method::PUT, "/me/password", Some(&fresh), Some(change))
            .await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Fresh token required"})
        )
    );
    // The password did not change.
    login(&s, "ada@example.com", "pw-of-ada").await;

    let plain = idp::token("1", json!({"jti": "o-plain"}));
    let (status, body) = s.get("/me", Some(&plain)).await;
    assert!(status.is_client_error(), "{status} {body}");
    assert!(
        body.get("email").is_none() && body.get("username").is_none(),
        "{body}"
    );
    let (status, body) = s.get("/users/ada", Some(&plain)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("email").is_none(), "the owner's view: {body}");
    assert_eq!(
        s.get("/whoami", Some(&plain)).await,
        (StatusCode::OK, json!({"sub": "1"}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_token_is_revoked_by_jti_and_without_one_gets_a_clear_4xx() {
    let idp = idp::start_es256().await;
    let db = TempDb::new("outside-revoke");
    let s = start(&idp, &db, &[]);
    let with_jti = idp::token("someone", json!({"jti": "outside-jti-1"}));
    assert_eq!(
        s.post("/revoke", Some(&with_jti), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        s.get("/whoami", Some(&with_jti)).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Token has been revoked"})
        )
    );
    let without = idp::token("someone", json!({}));
    let (status, body) = s.post("/revoke", Some(&without), None).await;
    assert!(status.is_client_error(), "{status} {body}");
    assert!(body["msg"].as_str().unwrap().contains("jti"), "{body}");
    // It still works: nothing was revoked.
    assert_eq!(s.get("/whoami", Some(&without)).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_access_cookie_is_minted_from_an_outside_token() {
    let idp = idp::start_es256().await;
    let db = TempDb::new("outside-cookie");
    let s = start(&idp, &db, &[("JWT_IMPLICIT_REFRESH_WITHIN", "300")]);
    let near_expiry = idp::token("someone", json!({"exp": idp::now() + 60}));
    let cookie = format!("access_token_cookie={near_expiry}");
    let (status, headers, body) = s
        .call_with(Method::GET, "/whoami", &[("cookie", &cookie)], None)
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"sub": "someone"})));
    let set: Vec<_> = headers.get_all("set-cookie").iter().collect();
    assert!(
        set.is_empty(),
        "cookies minted from an outside token: {set:?}"
    );

    // A local token near expiry still gets a new access cookie.
    register(&s, "bob", "bob@example.com", "pw-of-bob").await;
    let s2 = start(
        &idp,
        &db,
        &[
            ("JWT_IMPLICIT_REFRESH_WITHIN", "300"),
            ("JWT_ACCESS_TOKEN_EXPIRES", "120"),
        ],
    );
    let (local, _) = login(&s2, "bob@example.com", "pw-of-bob").await;
    let cookie = format!("access_token_cookie={local}");
    let (status, headers, _) = s2
        .call_with(Method::GET, "/whoami", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("access_token_cookie=")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_token_sees_no_local_users_sessions() {
    let idp = idp::start_es256().await;
    let db = TempDb::new("outside-sessions");
    let s = start(&idp, &db, &[("JWT_REFRESH_ROTATION", "true")]);
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (local, _) = login(&s, "ada@example.com", "pw-of-ada").await;
    let (status, mine) = s.get("/me/sessions", Some(&local)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    let id = mine[0]["id"].as_str().unwrap().to_owned();

    // `sub: "1"` of the outside issuer is not local user 1.
    let outside = idp::token("1", json!({"jti": "o-sessions"}));
    let (status, body) = s.get("/me/sessions", Some(&outside)).await;
    assert!(
        status.is_client_error() || body == json!([]),
        "{status} {body}"
    );
    assert!(!body.to_string().contains(&id), "{body}");
    // A trusted-looking `sid` changes nothing either: ada's session lives on.
    let with_sid = idp::token("1", json!({"jti": "o-sid", "sid": id}));
    assert_eq!(
        s.post("/revoke", Some(&with_sid), None).await.0,
        StatusCode::OK
    );
    assert_eq!(s.get("/me", Some(&local)).await.0, StatusCode::OK);
    assert_eq!(
        s.get("/me/sessions", Some(&local))
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// `JWT_JWKS_ISSUERS` with two issuers found by discovery, plus `JWT_JWKS_URL`'s: all three
/// publish a key as `k1` (two of them the same key); each one's tokens answer `/whoami` with
/// their `sub`, a token signed by one but claiming another is refused, and
/// `JWT_JWKS_AUDIENCE` applies to all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_issuers_by_discovery_with_a_shared_kid() {
    use jsonwebtoken::Algorithm::ES256;
    // On a worker thread: `Server::start` blocks this one while the server fetches.
    let a = Idp::start(vec![idp::public_jwk(ES256, "k1")]).await;
    let b = Idp::start(vec![idp::public_jwk_b("k1")]).await;
    let c = Idp::start(vec![idp::public_jwk(ES256, "k1")]).await;
    let (iss_a, iss_b, iss_c) = (a.url(""), b.url(""), c.url(""));
    let db = TempDb::new("several-issuers");
    let issuers = format!("{iss_a}, {iss_b}");
    let jwks_url = c.url("/jwks.json");
    let s = Server::start(
        &db.path(),
        &[
            ("JWT_JWKS_ISSUERS", issuers.as_str()),
            ("JWT_JWKS_URL", jwks_url.as_str()),
            ("JWT_JWKS_ISSUER", iss_c.as_str()),
            ("JWT_JWKS_AUDIENCE", "api"),
        ],
    );
    for idp in [&a, &b] {
        assert_eq!(idp.hits("/.well-known/openid-configuration"), 1);
        assert_eq!(idp.hits("/jwks.json"), 1);
    }
    assert_eq!(c.hits("/jwks.json"), 1);
    let claims = |sub: &str, iss: &str, aud: &str| json!({"sub": sub, "iss": iss, "aud": aud, "iat": idp::now(), "exp": idp::now() + 300});
    let unauthorized = |msg: &str| (StatusCode::UNAUTHORIZED, json!({ "msg": msg }));

    let of_a = idp::mint(ES256, Some("k1"), &claims("alice", &iss_a, "api"));
    let of_b = idp::mint_b(Some("k1"), &claims("bob", &iss_b, "api"));
    let of_c = idp::mint(ES256, Some("k1"), &claims("carol", &iss_c, "api"));
    for (token, sub) in [(&of_a, "alice"), (&of_b, "bob"), (&of_c, "carol")] {
        assert_eq!(
            s.get("/whoami", Some(token)).await,
            (StatusCode::OK, json!({ "sub": sub }))
        );
    }
    // B's key claiming A, A's key claiming B: only the claimed issuer's key is tried.
    let b_as_a = idp::mint_b(Some("k1"), &claims("mallory", &iss_a, "api"));
    let a_as_b = idp::mint(ES256, Some("k1"), &claims("mallory", &iss_b, "api"));
    for token in [&b_as_a, &a_as_b] {
        assert_eq!(
            s.get("/whoami", Some(token)).await,
            unauthorized("Signature verification failed")
        );
    }
    // The audience applies to every issuer.
    let elsewhere = idp::mint_b(Some("k1"), &claims("bob", &iss_b, "other-api"));
    assert_eq!(
        s.get("/whoami", Some(&elsewhere)).await,
        unauthorized("Audience doesn't match")
    );
    // The server's own tokens still verify.
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (local, _) = login(&s, "ada@example.com", "pw-of-ada").await;
    assert_eq!(s.get("/me", Some(&local)).await.1["username"], "ada");
}

/// An issuer named twice (in `JWT_JWKS_ISSUERS`, or there and as `JWT_JWKS_ISSUER`) stops
/// the server at start, naming it, before anything is fetched.
#[test]
fn an_issuer_named_twice_stops_the_server() {
    let iss = "http://127.0.0.1:9";
    let twice = format!("{iss}, {iss}");
    for env in [
        &[("JWT_JWKS_ISSUERS", twice.as_str())][..],
        &[
            ("JWT_JWKS_URL", "http://127.0.0.1:9/jwks.json"),
            ("JWT_JWKS_ISSUER", iss),
            ("JWT_JWKS_ISSUERS", iss),
        ],
    ] {
        let out = crate::harness::run_to_exit(env);
        assert!(!out.status.success());
        let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("is named twice"), "{said}");
        assert!(!said.contains("listening on"), "{said}");
    }
}
