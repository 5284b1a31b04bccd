//! The example server's administrators: `ADMIN_EMAILS` puts `"roles": ["admin"]` into the
//! tokens of those users (at login, on the page's login, at refresh, with rotation and on
//! implicit refresh, as the database and the list say at that moment), and
//! `GET /admin/users` requires that role: 200 with every user for an admin, 403
//! `insufficient_scope` for any other valid token, 401 without one or with a revoked one.
//! Outside issuers' roles come from `JWT_ROLES_CLAIM` (nested with dots).

use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Server, TempDb};
use crate::{login, manager, register};

/// The claims of one of the server's own tokens.
fn claims(token: &str) -> serde_json::Map<String, Value> {
    manager().decode_token(token).unwrap().claims_json()
}

fn roles(token: &str) -> Option<Value> {
    claims(token).get("roles").cloned()
}

/// The value of the cookie `name` a response sets.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().unwrap();
        let value = v.strip_prefix(name)?.strip_prefix('=')?;
        Some(value.split(';').next().unwrap().to_owned())
    })
}

/// Asserts `token` gets the 403 of a missing role at `GET /admin/users`.
async fn assert_forbidden(s: &Server, token: &str) {
    let auth = format!("Bearer {token}");
    let (status, headers, body) = s
        .call_with(
            Method::GET,
            "/admin/users",
            &[("authorization", auth.as_str())],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let challenge = headers
        .get("www-authenticate")
        .expect("a challenge")
        .to_str()
        .unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    let msg = body["msg"].as_str().expect("a msg");
    assert!(!msg.is_empty(), "{body}");
}

#[tokio::test]
async fn admins_list_the_users_and_no_one_else_does() {
    let db = TempDb::new("admin-list");
    // Spaces and case do not matter; an email no user has changes nothing.
    let s = Server::start(
        &db.path(),
        &[("ADMIN_EMAILS", " nobody@example.com,  ADA@Example.COM ")],
    );
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    register(&s, "bob", "bob@example.com", "pw-of-bob").await;
    let (ada, _) = login(&s, "ada@example.com", "pw-of-ada").await;
    let (bob, bob_refresh) = login(&s, "bob@example.com", "pw-of-bob").await;
    assert_eq!(roles(&ada), Some(json!(["admin"])));
    // Not an admin: no roles claim at all, in either token.
    assert_eq!(roles(&bob), None);
    assert_eq!(roles(&bob_refresh), None);

    let (status, users) = s.get("/admin/users", Some(&ada)).await;
    assert_eq!(status, StatusCode::OK, "{users}");
    assert_eq!(
        users,
        json!([
            {"id": 1, "username": "ada", "email": "ada@example.com"},
            {"id": 2, "username": "bob", "email": "bob@example.com"},
        ])
    );
    for user in users.as_array().unwrap() {
        assert_eq!(user.as_object().unwrap().len(), 3, "{user}");
    }
    assert!(!users.to_string().contains("argon2"), "{users}");

    assert_forbidden(&s, &bob).await;
    // The page's cookie login of a non-admin is no admin either.
    let (status, _, body) = s
        .call_with(
            Method::GET,
            "/admin/users",
            &[("cookie", &format!("access_token_cookie={bob}"))],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // No token, a bad one: 401.
    let (status, body) = s.get("/admin/users", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = s.get("/admin/users", Some("not.a.jwt")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // A revoked admin token is refused as revoked (401), not as lacking a role.
    assert_eq!(s.post("/revoke", Some(&ada), None).await.0, StatusCode::OK);
    assert_eq!(
        s.get("/admin/users", Some(&ada)).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Token has been revoked"})
        )
    );
}

#[tokio::test]
async fn no_admin_emails_no_admins() {
    let db = TempDb::new("admin-none");
    let s = Server::start(&db.path(), &[]);
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (ada, refresh) = login(&s, "ada@example.com", "pw-of-ada").await;
    assert_eq!(roles(&ada), None);
    assert_forbidden(&s, &ada).await;
    let (status, body) = s.post("/refresh", Some(&refresh), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(roles(body["access_token"].as_str().unwrap()), None);
}

#[tokio::test]
async fn refresh_reads_the_role_anew() {
    let db = TempDb::new("admin-refresh");
    let s = Server::start(&db.path(), &[]);
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (ada, refresh) = login(&s, "ada@example.com", "pw-of-ada").await;
    assert_forbidden(&s, &ada).await;
    drop(s);

    // Made an admin: the refresh token issued before says nothing about roles, the access
    // token it gets now does.
    let s = Server::start(&db.path(), &[("ADMIN_EMAILS", "ada@example.com")]);
    for _ in 0..2 {
        let (status, body) = s.post("/refresh", Some(&refresh), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(roles(access), Some(json!(["admin"])));
        assert_eq!(s.get("/admin/users", Some(access)).await.0, StatusCode::OK);
    }
    drop(s);

    // No longer one: the next refresh has no role.
    let s = Server::start(&db.path(), &[("ADMIN_EMAILS", "bob@example.com")]);
    let (status, body) = s.post("/refresh", Some(&refresh), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(roles(access), None);
    assert_forbidden(&s, access).await;
}

#[tokio::test]
async fn rotation_the_page_and_implicit_refresh_keep_the_role() {
    let db = TempDb::new("admin-rotation");
    let s = Server::start(
        &db.path(),
        &[
            ("ADMIN_EMAILS", "ada@example.com"),
            ("JWT_REFRESH_ROTATION", "true"),
            ("JWT_ACCESS_TOKEN_EXPIRES", "120"),
            ("JWT_IMPLICIT_REFRESH_WITHIN", "300"),
        ],
    );
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (_, refresh) = login(&s, "ada@example.com", "pw-of-ada").await;
    let (status, body) = s.post("/refresh", Some(&refresh), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap();
    let rotated = body["refresh_token"].as_str().unwrap();
    assert_ne!(rotated, refresh);
    assert_eq!(roles(access), Some(json!(["admin"])));
    assert!(claims(access).contains_key("sid"), "a token of the session");
    assert_eq!(s.get("/admin/users", Some(access)).await.0, StatusCode::OK);

    // The page's login sets the cookie of an admin's token.
    let (status, headers, body) = s
        .call_with(
            Method::POST,
            "/web/token",
            &[],
            Some(json!({"email": "ada@example.com", "password": "pw-of-ada"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie = set_cookie(&headers, "access_token_cookie").expect("an access cookie");
    assert_eq!(roles(&cookie), Some(json!(["admin"])));
    // Near its expiry, it is refreshed implicitly: the new cookie keeps the role.
    let (status, headers, body) = s
        .call_with(
            Method::GET,
            "/admin/users",
            &[("cookie", &format!("access_token_cookie={cookie}"))],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let renewed = set_cookie(&headers, "access_token_cookie").expect("a renewed cookie");
    assert_ne!(renewed, cookie);
    assert_eq!(roles(&renewed), Some(json!(["admin"])));
    assert_eq!(claims(&renewed)["sid"], claims(&cookie)["sid"]);
}

#[cfg(feature = "jwks")]
#[path = "../support/jwks_idp.rs"]
mod idp;

#[cfg(feature = "jwks")]
mod outside {
    use super::*;

    fn start(idp: &idp::Idp, db: &TempDb, extra: &[(&str, &str)]) -> Server {
        let jwks_url = idp.url("/jwks.json");
        let mut env = vec![
            ("JWT_JWKS_URL", jwks_url.as_str()),
            ("JWT_JWKS_ISSUER", idp::ISSUER),
        ];
        env.extend_from_slice(extra);
        Server::start(&db.path(), &env)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_outside_admin_by_the_roles_claim() {
        let idp = idp::start_es256().await;
        let db = TempDb::new("admin-outside");
        let s = start(&idp, &db, &[]);
        register(&s, "ada", "ada@example.com", "pw-of-ada").await;

        let admin = idp::token("root", json!({"roles": ["admin"], "jti": "o-admin"}));
        let (status, users) = s.get("/admin/users", Some(&admin)).await;
        assert_eq!(status, StatusCode::OK, "{users}");
        assert_eq!(
            users,
            json!([{"id": 1, "username": "ada", "email": "ada@example.com"}])
        );
        for token in [
            idp::token("someone", json!({})),
            idp::token("someone", json!({"roles": ["user"]})),
            idp::token("someone", json!({"roles": "admins"})),
            idp::token("someone", json!({"realm_access": {"roles": ["admin"]}})),
        ] {
            assert_forbidden(&s, &token).await;
        }
        // Revoked: 401.
        assert_eq!(
            s.post("/revoke", Some(&admin), None).await.0,
            StatusCode::OK
        );
        assert_eq!(
            s.get("/admin/users", Some(&admin)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_nested_roles_claim_for_outside_tokens_only() {
        let idp = idp::start_es256().await;
        let db = TempDb::new("admin-nested");
        let s = start(
            &idp,
            &db,
            &[
                ("JWT_ROLES_CLAIM", "realm_access.roles"),
                ("ADMIN_EMAILS", "ada@example.com"),
            ],
        );
        let nested = idp::token("root", json!({"realm_access": {"roles": ["admin"]}}));
        assert_eq!(s.get("/admin/users", Some(&nested)).await.0, StatusCode::OK);
        let top_level = idp::token("root", json!({"roles": ["admin"]}));
        assert_forbidden(&s, &top_level).await;
        let other = idp::token("root", json!({"realm_access": {"roles": ["user"]}}));
        assert_forbidden(&s, &other).await;

        // The server's own tokens keep `roles`.
        register(&s, "ada", "ada@example.com", "pw-of-ada").await;
        let (ada, _) = login(&s, "ada@example.com", "pw-of-ada").await;
        assert_eq!(roles(&ada), Some(json!(["admin"])));
        assert_eq!(s.get("/admin/users", Some(&ada)).await.0, StatusCode::OK);
    }

    /// A `JWT_ROLES_CLAIM` that names no claim stops the server at start, naming it.
    #[test]
    fn a_roles_claim_with_an_empty_member_stops_the_server() {
        for claim in ["realm_access..roles", ".roles", "roles."] {
            let out = crate::harness::run_to_exit(&[
                ("JWT_JWKS_URL", "http://127.0.0.1:9/jwks.json"),
                ("JWT_JWKS_ISSUER", "http://127.0.0.1:9"),
                ("JWT_ROLES_CLAIM", claim),
            ]);
            assert!(!out.status.success());
            let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
            assert!(said.contains("JWT_ROLES_CLAIM"), "{said}");
            assert!(!said.contains("listening on"), "{said}");
        }
    }
}

/// An email that only Unicode case folding makes equal to an admin's (the Kelvin sign K,
/// U+212A, lowercases to `k`) is another account: stored as given (emails are
/// ASCII-lowercased), it must not be read as the admin's when roles are granted.
#[tokio::test]
async fn a_lookalike_email_is_not_the_admins() {
    let db = TempDb::new("admin-lookalike");
    let s = Server::start(&db.path(), &[("ADMIN_EMAILS", "kim@example.com")]);
    register(&s, "mallory", "\u{212A}im@example.com", "pw-of-mallory").await;
    let (mallory, _) = login(&s, "\u{212A}im@example.com", "pw-of-mallory").await;
    assert_eq!(roles(&mallory), None);
    assert_forbidden(&s, &mallory).await;
    // The real admin, registered after, is one.
    register(&s, "kim", "Kim@Example.com", "pw-of-kim").await;
    let (kim, _) = login(&s, "kim@example.com", "pw-of-kim").await;
    assert_eq!(roles(&kim), Some(json!(["admin"])));
}
