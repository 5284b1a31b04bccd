//! The example server's token locations over real HTTP, against the contract: cookies with
//! CSRF double submit (the default `headers,cookies`), implicit refresh, the cookie
//! settings from the environment, the query string and the JSON body.

use std::collections::BTreeMap;

use http::header::SET_COOKIE;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Server, TempDb};
use crate::{manager, register};

/// The cookies a response sets: name → (value, attributes as written).
fn set_cookies(headers: &HeaderMap) -> BTreeMap<String, (String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_owned(), (value.to_owned(), attrs.to_owned()))
        })
        .collect()
}

const FOUR: [&str; 4] = [
    "access_token_cookie",
    "csrf_access_token",
    "csrf_refresh_token",
    "refresh_token_cookie",
];

pub(super) async fn cookie_login(s: &Server) -> (BTreeMap<String, (String, String)>, Value) {
    let (status, headers, body) = s
        .call_with(
            Method::POST,
            "/token",
            &[],
            Some(json!({"email": "ada@example.com", "password": "pw-of-ada"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (set_cookies(&headers), body)
}

pub(super) fn jar(cookies: &BTreeMap<String, (String, String)>) -> String {
    cookies
        .iter()
        .map(|(name, (value, _))| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn cookies_with_csrf_double_submit() {
    let db = TempDb::new("cookies");
    let s = Server::start(&db.path(), &[]);
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;

    // Login sets the four cookies (Path=/, no Secure by default in the example, SameSite=Lax,
    // HttpOnly on the tokens only) and, with headers a location too, returns the tokens.
    let (cookies, body) = cookie_login(&s).await;
    assert_eq!(cookies.keys().map(String::as_str).collect::<Vec<_>>(), FOUR);
    for (name, (_, attrs)) in &cookies {
        assert!(attrs.contains("Path=/"), "{name}: {attrs}");
        assert!(attrs.contains("SameSite=Lax"), "{name}: {attrs}");
        assert!(!attrs.contains("Secure"), "{name}: {attrs}");
        assert_eq!(
            attrs.contains("HttpOnly"),
            !name.starts_with("csrf"),
            "{name}: {attrs}"
        );
    }
    assert_eq!(body["access_token"], cookies["access_token_cookie"].0);
    assert_eq!(body["refresh_token"], cookies["refresh_token_cookie"].0);
    let jar = jar(&cookies);
    let csrf_access = cookies["csrf_access_token"].0.clone();
    let csrf_refresh = cookies["csrf_refresh_token"].0.clone();

    // GET needs no CSRF value.
    let (status, _, body) = s
        .call_with(Method::GET, "/me", &[("cookie", &jar)], None)
        .await;
    assert_eq!(
        (status, body["username"].as_str()),
        (StatusCode::OK, Some("ada"))
    );

    // PUT /me/password needs it.
    let change = json!({"old_password": "pw-of-ada", "new_password": "pw2-of-ada"});
    let (status, _, body) = s
        .call_with(
            Method::PUT,
            "/me/password",
            &[("cookie", &jar)],
            Some(change.clone()),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Missing CSRF token"})
        )
    );
    let (status, _, body) = s
        .call_with(
            Method::PUT,
            "/me/password",
            &[("cookie", &jar), ("x-csrf-token", "wrong")],
            Some(change),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "CSRF double submit tokens do not match"})
        )
    );

    // Refresh with the refresh cookie and its CSRF value: a new access cookie and CSRF cookie.
    let (status, headers, body) = s
        .call_with(
            Method::POST,
            "/refresh",
            &[("cookie", &jar), ("x-csrf-token", &csrf_refresh)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refreshed = set_cookies(&headers);
    assert_eq!(
        refreshed.keys().map(String::as_str).collect::<Vec<_>>(),
        ["access_token_cookie", "csrf_access_token"]
    );
    assert_eq!(body["access_token"], refreshed["access_token_cookie"].0);

    // Revoke with the access cookie and its CSRF value: both tokens, all four cookies.
    let (status, headers, body) = s
        .call_with(
            Method::POST,
            "/revoke",
            &[("cookie", &jar), ("x-csrf-token", &csrf_access)],
            None,
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"msg": "Successfully logged out"}))
    );
    let unset = set_cookies(&headers);
    assert_eq!(unset.keys().map(String::as_str).collect::<Vec<_>>(), FOUR);
    assert!(unset
        .values()
        .all(|(value, attrs)| value.is_empty() && attrs.contains("Max-Age=0")));
    let revoked = json!({"msg": "Token has been revoked"});
    let access = &cookies["access_token_cookie"].0;
    let refresh = &cookies["refresh_token_cookie"].0;
    assert_eq!(
        s.get("/me", Some(access)).await,
        (StatusCode::UNAUTHORIZED, revoked.clone())
    );
    assert_eq!(
        s.post("/refresh", Some(refresh), None).await,
        (StatusCode::UNAUTHORIZED, revoked)
    );
}

#[tokio::test]
async fn cookie_settings_from_the_environment() {
    let db = TempDb::new("cookie-env");
    let s = Server::start(
        &db.path(),
        &[
            ("JWT_COOKIE_SECURE", "true"),
            ("JWT_COOKIE_SAMESITE", "Strict"),
        ],
    );
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (cookies, _) = cookie_login(&s).await;
    // Secure cookies carry the `__Host-` prefix: only this host over HTTPS can set them,
    // so a sibling subdomain cannot plant its own (cookie tossing).
    assert_eq!(
        cookies.keys().cloned().collect::<Vec<String>>(),
        FOUR.map(|name| format!("__Host-{name}"))
    );
    for (name, (_, attrs)) in &cookies {
        let attrs: Vec<&str> = attrs.split(';').map(str::trim).collect();
        assert!(
            attrs.contains(&"Secure")
                && attrs.contains(&"SameSite=Strict")
                && attrs.contains(&"Path=/")
                && !attrs.iter().any(|a| a.starts_with("Domain")),
            "{name}: {attrs:?}"
        );
    }
    // The guards read them (with the CSRF value from its prefixed cookie).
    let (status, _, body) = s
        .call_with(
            Method::POST,
            "/revoke",
            &[
                ("cookie", &jar(&cookies)),
                ("x-csrf-token", &cookies["__Host-csrf_access_token"].0),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// `SameSite=None` cookies that are not `Secure` are dropped by browsers: the server refuses
/// to start with them, naming both variables, before it listens.
#[test]
fn same_site_none_without_secure_stops_the_server() {
    let out = crate::harness::run_to_exit(&[
        ("JWT_SECRET_KEY", crate::harness::SECRET),
        ("JWT_COOKIE_SAMESITE", "None"),
        ("JWT_COOKIE_SECURE", "false"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("listening on"), "{stdout}");
    assert!(
        stderr.contains("JWT_COOKIE_SAMESITE") && stderr.contains("JWT_COOKIE_SECURE"),
        "{stderr}"
    );
}

/// Implicit refresh: the example's default is 300 s. An access token with less left (a 120 s
/// lifetime here) gets a new access cookie on any guarded response; `0` turns it off.
#[tokio::test]
async fn implicit_refresh_of_the_access_cookie() {
    for (within, refreshed) in [(None, true), (Some("0"), false)] {
        let db = TempDb::new("implicit");
        let mut env = vec![("JWT_ACCESS_TOKEN_EXPIRES", "120")];
        if let Some(within) = within {
            env.push(("JWT_IMPLICIT_REFRESH_WITHIN", within));
        }
        let s = Server::start(&db.path(), &env);
        register(&s, "ada", "ada@example.com", "pw-of-ada").await;
        let (cookies, _) = cookie_login(&s).await;
        let (status, headers, _) = s
            .call_with(Method::GET, "/me", &[("cookie", &jar(&cookies))], None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let set = set_cookies(&headers);
        if refreshed {
            assert_eq!(
                set.keys().map(String::as_str).collect::<Vec<_>>(),
                ["access_token_cookie", "csrf_access_token"]
            );
            let new = manager()
                .decode_token(&set["access_token_cookie"].0)
                .unwrap();
            assert_eq!(new.identity(), "1");
            assert!(!new.is_fresh());
        } else {
            assert!(set.is_empty(), "{set:?}");
        }
    }
}

#[tokio::test]
async fn query_string_and_json_locations() {
    let db = TempDb::new("query-json");
    let s = Server::start(
        &db.path(),
        &[("JWT_TOKEN_LOCATION", "headers,query_string,json")],
    );
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (status, headers, body) = s
        .call_with(
            Method::POST,
            "/token",
            &[],
            Some(json!({"email": "ada@example.com", "password": "pw-of-ada"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        set_cookies(&headers).is_empty(),
        "no cookies without the cookies location"
    );
    let access = body["access_token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();

    assert_eq!(
        s.get(&format!("/whoami?jwt={access}"), None).await,
        (StatusCode::OK, json!({"sub": "1"}))
    );
    let (status, body) = s
        .post("/refresh", None, Some(json!({"refresh_token": refresh})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string());
    assert_eq!(
        s.get("/whoami", None).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Missing JWT in headers, query_string or json (Missing Authorization \
                           Header; Missing 'jwt' query paramater; Invalid content-type. Must be \
                           application/json.)"})
        )
    );
}

/// With the token in the JSON body only, every guarded route reads it from a JSON body,
/// whatever the JSON media type (`application/json`, `application/*+json`, with parameters
/// or not); other content types do not count as JSON.
#[tokio::test]
async fn json_location_on_guarded_routes() {
    let db = TempDb::new("json-only");
    let s = Server::start(&db.path(), &[("JWT_TOKEN_LOCATION", "json")]);
    register(&s, "ada", "ada@example.com", "pw-of-ada").await;
    let (status, _, body) = s
        .call_with(
            Method::POST,
            "/token",
            &[],
            Some(json!({"email": "ada@example.com", "password": "pw-of-ada"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap();
    let token_body = json!({ "access_token": access }).to_string();

    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "application/vnd.api+json",
        "application/vnd.api+json; charset=utf-8",
    ] {
        let headers = [("content-type", content_type)];
        let (status, _, me) = s
            .send(Method::GET, "/me", &headers, token_body.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "GET /me as {content_type}: {me}");
        assert_eq!(me["username"], "ada", "{me}");
        let (status, _, whoami) = s
            .send(Method::GET, "/whoami", &headers, token_body.clone())
            .await;
        assert_eq!(
            (status, whoami),
            (StatusCode::OK, json!({"sub": "1"})),
            "GET /whoami as {content_type}"
        );
    }

    // A route that also reads the body itself (and needs a fresh token): the password
    // change, as `application/vnd.api+json`.
    let change =
        json!({"access_token": access, "old_password": "pw-of-ada", "new_password": "pw2-of-ada"});
    let (status, _, body) = s
        .send(
            Method::PUT,
            "/me/password",
            &[("content-type", "application/vnd.api+json; charset=utf-8")],
            change.to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let not_json = json!({"msg": "Invalid content-type. Must be application/json."});
    for content_type in ["text/plain", "application/jsonx", "application/json+xml"] {
        let headers = [("content-type", content_type)];
        let (status, _, body) = s
            .send(Method::GET, "/me", &headers, token_body.clone())
            .await;
        assert_eq!(
            (status, body),
            (StatusCode::UNAUTHORIZED, not_json.clone()),
            "GET /me as {content_type}"
        );
    }
}
