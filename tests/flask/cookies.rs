//! Port of `tests/test_cookies.py`: cookie-borne tokens, CSRF double submit, the cookie
//! helpers and their attributes. Where this crate's defaults differ from
//! Flask-JWT-Extended's (`Secure` and `SameSite=Lax` on), the test says so.

use bytes::Bytes;
use http::Request;
use tower_jwt_auth::cookies::SameSite;
use tower_jwt_auth::manager::{JwtManagerBuilder, TokenLocation};
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::JwtManager;

use crate::client::{cookie_from_response, Client};
use crate::common::*;

fn cookies_builder(policy: StatusPolicy) -> JwtManagerBuilder {
    builder(policy).token_locations([TokenLocation::Cookies])
}

fn client(m: JwtManager) -> Client {
    Client::new(m)
}

/// `(login url, cookie, protected url, delete url)` for refresh and access tokens.
const REQUIRED: [(&str, &str, &str, &str); 2] = [
    (
        "/refresh_token",
        "refresh_token_cookie",
        "/refresh_protected",
        "/delete_refresh_tokens",
    ),
    (
        "/access_token",
        "access_token_cookie",
        "/protected",
        "/delete_access_tokens",
    ),
];

/// `(login url, CSRF cookie, POST url)`.
const POSTS: [(&str, &str, &str); 2] = [
    (
        "/refresh_token",
        "csrf_refresh_token",
        "/post_refresh_protected",
    ),
    ("/access_token", "csrf_access_token", "/post_protected"),
];

#[tokio::test]
async fn jwt_required_with_cookies() {
    for policy in POLICIES {
        for (auth_url, cookie_name, protected_url, delete_url) in REQUIRED {
            let mut c = client(cookies_builder(policy).build().unwrap());
            let missing = format!("Missing cookie \"{cookie_name}\"");

            let r = c.get(protected_url).await;
            assert_eq!(r.status_msg(), (401, missing.as_str()));

            c.get(auth_url).await;
            let r = c.get(protected_url).await;
            assert_eq!(r.status, 200);
            assert_eq!(r.json["foo"], "bar");

            c.get(delete_url).await;
            let r = c.get(protected_url).await;
            assert_eq!(r.status_msg(), (401, missing.as_str()));

            c.get(auth_url).await;
            assert_eq!(c.get(protected_url).await.status, 200);
            c.get("/delete_tokens").await;
            let r = c.get(protected_url).await;
            assert_eq!(r.status_msg(), (401, missing.as_str()));
        }
    }
}

#[tokio::test]
async fn default_access_csrf_protection() {
    for policy in POLICIES {
        for (auth_url, csrf_cookie, post_url) in POSTS {
            let mut c = client(cookies_builder(policy).build().unwrap());
            let r = c.get(auth_url).await;
            let csrf = cookie_from_response(&r, csrf_cookie).unwrap()[csrf_cookie].clone();

            let r = c.post(post_url).await;
            assert_eq!(r.status_msg(), (401, "Missing CSRF token"));

            let r = c
                .send(Request::post(post_url).header("X-CSRF-TOKEN", &csrf))
                .await;
            assert_eq!(r.status, 200, "{}", r.json);
        }
    }
}

#[tokio::test]
async fn non_matching_csrf_token() {
    for policy in POLICIES {
        for (auth_url, _, post_url) in POSTS {
            let mut c = client(cookies_builder(policy).build().unwrap());
            c.get(auth_url).await;
            let r = c
                .send(Request::post(post_url).header("X-CSRF-TOKEN", "totally_wrong_token"))
                .await;
            assert_eq!(
                r.status_msg(),
                (401, "CSRF double submit tokens do not match")
            );
        }
    }
}

#[tokio::test]
async fn csrf_disabled() {
    for (auth_url, _, post_url) in POSTS {
        let m = cookies_builder(StatusPolicy::Default)
            .csrf_protect(false)
            .build()
            .unwrap();
        let mut c = client(m);
        c.get(auth_url).await;
        assert_eq!(c.post(post_url).await.status, 200);
    }
}

#[tokio::test]
async fn csrf_with_custom_header_names() {
    for (auth_url, csrf_cookie, post_url) in POSTS {
        let m = cookies_builder(StatusPolicy::Default)
            .access_csrf_header_name("FOO")
            .refresh_csrf_header_name("FOO")
            .build()
            .unwrap();
        let mut c = client(m);
        let r = c.get(auth_url).await;
        let csrf = cookie_from_response(&r, csrf_cookie).unwrap()[csrf_cookie].clone();
        let r = c.send(Request::post(post_url).header("FOO", &csrf)).await;
        assert_eq!(r.status, 200);
        // The default header name no longer counts.
        let r = c
            .send(Request::post(post_url).header("X-CSRF-TOKEN", &csrf))
            .await;
        assert_eq!(r.status_msg(), (401, "Missing CSRF token"));
    }
}

async fn post_form(c: &mut Client, url: &str, form: String) -> Reply {
    let req = Request::post(url).header("content-type", "application/x-www-form-urlencoded");
    c.send_body(req, Bytes::from(form)).await
}

#[tokio::test]
async fn csrf_with_default_form_field() {
    for (auth_url, csrf_cookie, post_url) in POSTS {
        let m = cookies_builder(StatusPolicy::Default)
            .csrf_check_form(true)
            .build()
            .unwrap();
        let mut c = client(m);
        let r = c.get(auth_url).await;
        let csrf = cookie_from_response(&r, csrf_cookie).unwrap()[csrf_cookie].clone();
        let r = post_form(&mut c, post_url, format!("csrf_token={csrf}")).await;
        assert_eq!(r.status, 200, "{}", r.json);
        let r = post_form(&mut c, post_url, "csrf_token=wrong".into()).await;
        assert_eq!(
            r.status_msg(),
            (401, "CSRF double submit tokens do not match")
        );
        let r = post_form(&mut c, post_url, "other=1".into()).await;
        assert_eq!(r.status_msg(), (401, "Missing CSRF token"));
    }
}

#[tokio::test]
async fn csrf_with_custom_form_field() {
    for (auth_url, csrf_cookie, post_url) in POSTS {
        let m = cookies_builder(StatusPolicy::Default)
            .csrf_check_form(true)
            .csrf_field_name("FOO")
            .build()
            .unwrap();
        let mut c = client(m);
        let r = c.get(auth_url).await;
        let csrf = cookie_from_response(&r, csrf_cookie).unwrap()[csrf_cookie].clone();
        let r = post_form(&mut c, post_url, format!("FOO={csrf}")).await;
        assert_eq!(r.status, 200, "{}", r.json);
    }
}

#[tokio::test]
async fn form_field_is_not_read_unless_enabled() {
    let (auth_url, csrf_cookie, post_url) = POSTS[1];
    let mut c = client(cookies_builder(StatusPolicy::Default).build().unwrap());
    let r = c.get(auth_url).await;
    let csrf = cookie_from_response(&r, csrf_cookie).unwrap()[csrf_cookie].clone();
    let r = post_form(&mut c, post_url, format!("csrf_token={csrf}")).await;
    assert_eq!(r.status_msg(), (401, "Missing CSRF token"));
}

#[tokio::test]
async fn custom_csrf_methods() {
    let cases = [
        (
            "/refresh_token",
            "csrf_refresh_token",
            "/refresh_protected",
            "/post_refresh_protected",
        ),
        (
            "/access_token",
            "csrf_access_token",
            "/protected",
            "/post_protected",
        ),
    ];
    for (auth_url, csrf_cookie, get_url, post_url) in cases {
        let m = cookies_builder(StatusPolicy::Default)
            .csrf_methods([http::Method::GET])
            .build()
            .unwrap();
        let mut c = client(m);
        let r = c.get(auth_url).await;
        let csrf = cookie_from_response(&r, csrf_cookie).unwrap()[csrf_cookie].clone();

        assert_eq!(c.post(post_url).await.status, 200);
        let r = c.get(get_url).await;
        assert_eq!(r.status_msg(), (401, "Missing CSRF token"));
        let r = c
            .send(Request::get(get_url).header("X-CSRF-TOKEN", &csrf))
            .await;
        assert_eq!(r.status, 200);
    }
}

/// Flask-JWT-Extended's defaults write neither `Secure` nor `SameSite`; this crate's write
/// both (`Secure`, `SameSite=Lax`). The rest is the same: `Path=/`, `HttpOnly` on the token
/// cookie only, session cookies.
#[tokio::test]
async fn default_cookie_options() {
    let mut c = client(cookies_builder(StatusPolicy::Default).build().unwrap());
    for (url, jwt, csrf) in [
        ("/access_token", "access_token_cookie", "csrf_access_token"),
        (
            "/refresh_token",
            "refresh_token_cookie",
            "csrf_refresh_token",
        ),
    ] {
        let r = c.get(url).await;
        assert_eq!(r.headers.get_all("set-cookie").iter().count(), 2);
        let jwt = cookie_from_response(&r, jwt).unwrap();
        assert_eq!(jwt["path"], "/");
        assert!(jwt.contains_key("httponly"));
        assert!(jwt.contains_key("secure"));
        assert_eq!(jwt["samesite"], "Lax");
        assert!(!jwt.contains_key("max-age") && !jwt.contains_key("expires"));
        let csrf = cookie_from_response(&r, csrf).unwrap();
        assert_eq!(csrf["path"], "/");
        assert!(!csrf.contains_key("httponly"));
        assert!(csrf.contains_key("secure"));
        assert_eq!(csrf["samesite"], "Lax");
    }
    // Flask-JWT-Extended's own defaults, when asked for.
    let m = cookies_builder(StatusPolicy::Default)
        .cookie_secure(false)
        .cookie_samesite(None)
        .build()
        .unwrap();
    let r = client(m).get("/access_token").await;
    for name in ["access_token_cookie", "csrf_access_token"] {
        let cookie = cookie_from_response(&r, name).unwrap();
        assert!(!cookie.contains_key("secure") && !cookie.contains_key("samesite"));
    }
}

/// `JWT_SESSION_COOKIE = False`: Flask-JWT-Extended sets a fixed year; this crate sets
/// `Max-Age` to the token's remaining lifetime.
#[tokio::test]
async fn custom_cookie_options() {
    let m = cookies_builder(StatusPolicy::Default)
        .cookie_secure(true)
        .cookie_domain("test.com")
        .session_cookies(false)
        .cookie_samesite(Some(SameSite::Strict))
        .access_token_lifetime(std::time::Duration::from_secs(900))
        .refresh_token_lifetime(std::time::Duration::from_secs(3600))
        .build()
        .unwrap();
    let mut c = client(m);
    for (url, jwt, csrf, lifetime) in [
        (
            "/access_token",
            "access_token_cookie",
            "csrf_access_token",
            900,
        ),
        (
            "/refresh_token",
            "refresh_token_cookie",
            "csrf_refresh_token",
            3600,
        ),
    ] {
        let r = c.get(url).await;
        assert_eq!(r.headers.get_all("set-cookie").iter().count(), 2);
        for (name, http_only) in [(jwt, true), (csrf, false)] {
            let cookie = cookie_from_response(&r, name).unwrap();
            assert_eq!(cookie["domain"], "test.com");
            assert_eq!(cookie["path"], "/");
            assert!(cookie.contains_key("secure"));
            assert_eq!(cookie.contains_key("httponly"), http_only);
            assert_eq!(cookie["samesite"], "Strict");
            let max_age: u64 = cookie["max-age"].parse().unwrap();
            assert!((lifetime - 2..=lifetime).contains(&max_age), "{max_age}");
        }
    }
}

#[tokio::test]
async fn custom_cookie_names_and_paths() {
    let m = cookies_builder(StatusPolicy::Default)
        .access_csrf_cookie_name("access_foo_csrf")
        .refresh_csrf_cookie_name("refresh_foo_csrf")
        .access_csrf_cookie_path("/protected")
        .refresh_csrf_cookie_path("/refresh_protected")
        .access_cookie_name("access_foo")
        .refresh_cookie_name("refresh_foo")
        .access_cookie_path("/protected")
        .refresh_cookie_path("/refresh_protected")
        .build()
        .unwrap();
    let mut c = client(m);
    let r = c.get("/access_token").await;
    assert_eq!(r.headers.get_all("set-cookie").iter().count(), 2);
    assert_eq!(
        cookie_from_response(&r, "access_foo").unwrap()["path"],
        "/protected"
    );
    assert_eq!(
        cookie_from_response(&r, "access_foo_csrf").unwrap()["path"],
        "/protected"
    );
    let r = c.get("/refresh_token").await;
    assert_eq!(
        cookie_from_response(&r, "refresh_foo").unwrap()["path"],
        "/refresh_protected"
    );
    assert_eq!(
        cookie_from_response(&r, "refresh_foo_csrf").unwrap()["path"],
        "/refresh_protected"
    );
    // The guard reads the renamed cookie, and names it when it is missing.
    assert_eq!(c.get("/protected").await.status, 200);
    c.jar.clear();
    let r = c.get("/protected").await;
    assert_eq!(r.status_msg(), (401, "Missing cookie \"access_foo\""));
}

#[tokio::test]
async fn csrf_token_not_in_cookie() {
    let m = cookies_builder(StatusPolicy::Default)
        .csrf_in_cookies(false)
        // The application sends the values another way (FJE's `get_csrf_token`).
        .csrf_in_response_body(true)
        .build()
        .unwrap();
    let mut c = client(m);
    for (url, name) in [
        ("/access_token", "access_token_cookie"),
        ("/refresh_token", "refresh_token_cookie"),
    ] {
        let r = c.get(url).await;
        assert_eq!(r.headers.get_all("set-cookie").iter().count(), 1);
        assert!(cookie_from_response(&r, name).is_some());
    }
}

#[tokio::test]
async fn cookies_without_csrf() {
    let m = cookies_builder(StatusPolicy::Default)
        .csrf_protect(false)
        .build()
        .unwrap();
    let mut c = client(m.clone());
    for (url, name) in [
        ("/access_token", "access_token_cookie"),
        ("/refresh_token", "refresh_token_cookie"),
    ] {
        let r = c.get(url).await;
        assert_eq!(r.headers.get_all("set-cookie").iter().count(), 1);
        assert!(cookie_from_response(&r, name).is_some());
    }
    // Nor do the tokens carry a `csrf` claim.
    let token = m.create_access_token("username").unwrap();
    assert!(m.decode_token(&token).unwrap().csrf().is_none());
}

#[tokio::test]
async fn jwt_optional_with_csrf_enabled() {
    for policy in POLICIES {
        let mut c = client(cookies_builder(policy).build().unwrap());
        let r = c.post("/optional_post_protected").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json["location"], serde_json::Value::Null);

        c.get("/access_token").await;
        let r = c.post("/optional_post_protected").await;
        assert_eq!(r.status_msg(), (401, "Missing CSRF token"));
    }
}

#[cfg(feature = "testing")]
/// An optional route that treats invalid tokens as anonymous still refuses a CSRF failure:
/// a forged cross-site request is never downgraded to an anonymous one.
#[tokio::test]
async fn csrf_failure_is_never_anonymous() {
    use tower::{Layer, ServiceExt};
    let m = cookies_builder(StatusPolicy::Default).build().unwrap();
    let token = m.create_access_token("username").unwrap();
    let layer = tower_jwt_auth::JwtOptionalLayer::new(&m).invalid_as_anonymous(true);
    for csrf in [None, Some("forged")] {
        let mut req = Request::post("/").header("cookie", format!("access_token_cookie={token}"));
        if let Some(csrf) = csrf {
            req = req.header("X-CSRF-TOKEN", csrf);
        }
        let req = req.body(http_body_util::Full::<Bytes>::default()).unwrap();
        let res = layer.layer(view()).oneshot(req).await.unwrap();
        assert_eq!(res.status(), 401, "{csrf:?}");
    }
    // An expired cookie token with the right CSRF value is a token problem: anonymous.
    let expired = tower_jwt_auth::testing::token(&m, "username")
        .expired()
        .mint();
    let csrf = expired_csrf(&expired);
    let req = Request::post("/")
        .header("cookie", format!("access_token_cookie={expired}"))
        .header("X-CSRF-TOKEN", csrf)
        .body(http_body_util::Full::<Bytes>::default())
        .unwrap();
    let res = layer.layer(view()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
}

/// The `csrf` claim of a token, read without verifying it.
#[cfg(feature = "testing")]
fn expired_csrf(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    claims["csrf"].as_str().unwrap().to_owned()
}

/// A cookie token without a `csrf` claim (e.g. issued with CSRF protection off) on a
/// state-changing request: `Missing claim: csrf` (422 in Flask-JWT-Extended).
#[tokio::test]
async fn token_without_csrf_claim() {
    for policy in POLICIES {
        let m = cookies_builder(policy).build().unwrap();
        let plain = cookies_builder(policy).csrf_protect(false).build().unwrap();
        let token = plain.create_access_token("username").unwrap();
        let mut c = client(m);
        c.jar.insert("access_token_cookie".into(), token);
        let r = c
            .send(Request::post("/post_protected").header("X-CSRF-TOKEN", "anything"))
            .await;
        assert_eq!(r.status_msg(), (expect(policy, 422), "Missing claim: csrf"));
    }
}

#[tokio::test]
async fn override_domain_option() {
    let cases = [
        (
            "/access_token",
            "/delete_access_tokens",
            "access_token_cookie",
            "csrf_access_token",
        ),
        (
            "/refresh_token",
            "/delete_refresh_tokens",
            "refresh_token_cookie",
            "csrf_refresh_token",
        ),
    ];
    for (auth_url, delete_url, jwt, csrf) in cases {
        let m = cookies_builder(StatusPolicy::Default)
            .cookie_domain("test.com")
            .build()
            .unwrap();
        let mut c = client(m.clone());
        for url in [auth_url, delete_url] {
            let r = c.get(&format!("{url}?domain=yolo.com")).await;
            assert_eq!(r.headers.get_all("set-cookie").iter().count(), 2);
            assert_eq!(cookie_from_response(&r, jwt).unwrap()["domain"], "yolo.com");
            assert_eq!(
                cookie_from_response(&r, csrf).unwrap()["domain"],
                "yolo.com"
            );
        }
        // A domain that is not a host name is refused, not written.
        assert!(m.cookies().domain("evil.com; HttpOnly").is_err());
    }
}

/// Unsetting writes the same attributes with an empty value, expired.
#[tokio::test]
async fn unset_cookies_are_expired_with_the_same_attributes() {
    let m = cookies_builder(StatusPolicy::Default)
        .cookie_domain("test.com")
        .access_cookie_path("/api")
        .build()
        .unwrap();
    let r = client(m).get("/delete_tokens").await;
    assert_eq!(r.headers.get_all("set-cookie").iter().count(), 4);
    for name in [
        "access_token_cookie",
        "csrf_access_token",
        "refresh_token_cookie",
        "csrf_refresh_token",
    ] {
        let cookie = cookie_from_response(&r, name).unwrap();
        assert_eq!(cookie[name], "");
        assert_eq!(cookie["max-age"], "0");
        assert!(cookie.contains_key("expires"));
        assert_eq!(cookie["domain"], "test.com");
        assert_eq!(cookie.contains_key("httponly"), !name.starts_with("csrf"));
        let path = if name == "access_token_cookie" {
            "/api"
        } else {
            "/"
        };
        assert_eq!(cookie["path"], path);
    }
}
