//! Browser-style flows: the auth service in cookie mode and implicit refresh of the access
//! cookie, with the traps Flask-JWT-Extended users fall into (refresh on logout, from a
//! revoked token, twice on one response).
#![cfg(feature = "testing")]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::manager::TokenLocation;
use tower_jwt_auth::service::AuthService;
use tower_jwt_auth::testing;
use tower_jwt_auth::testing::{InsecureTestUsers, TestClock};
use tower_jwt_auth::{JwtManager, JwtRequiredLayer, RefreshRequiredLayer};

const SECRET: &str = "cookie-flow-test-secret-0123456789abcdef";

fn manager(clock: &TestClock, locations: &[TokenLocation], within: Option<u64>) -> JwtManager {
    let mut b = JwtManager::builder()
        .secret(SECRET)
        .clock(clock.clone())
        .token_locations(locations.iter().copied())
        .access_token_lifetime(Duration::from_secs(900));
    if let Some(within) = within {
        b = b.implicit_refresh_within(Duration::from_secs(within));
    }
    b.build().unwrap()
}

/// `name=value` of every cookie a response sets (value empty when unset).
fn set_cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| {
            let c = cookie::Cookie::parse(v.to_str().unwrap().to_owned()).unwrap();
            (c.name().to_owned(), c.value().to_owned())
        })
        .collect()
}

fn cookie_value<'a>(set: &'a [(String, String)], name: &str) -> Option<&'a str> {
    set.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// The inner service (of any request body type: behind one guard or two).
async fn ok<B>(_: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::<Bytes>::from("ok")))
}

fn with_cookie(req: http::request::Builder, token: &str) -> Request<Full<Bytes>> {
    req.header(COOKIE, format!("access_token_cookie={token}"))
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn implicit_refresh_sets_a_new_access_cookie_near_expiry() {
    let clock = TestClock::new();
    let m = manager(&clock, &[TokenLocation::Cookies], Some(300));
    let fresh = testing::token(&m, "ada")
        .fresh(true)
        .claim("role", "admin")
        .mint();
    let svc = JwtRequiredLayer::new(&m).layer(service_fn(ok));

    // Plenty of time left: nothing set.
    let res = svc
        .clone()
        .oneshot(with_cookie(Request::get("/"), &fresh))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(set_cookies(res.headers()).is_empty());

    // Less than 300 s left: a new access cookie and CSRF cookie.
    clock.advance(Duration::from_secs(700));
    let res = svc
        .clone()
        .oneshot(with_cookie(Request::get("/"), &fresh))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let set = set_cookies(res.headers());
    assert_eq!(set.len(), 2, "{set:?}");
    let new = cookie_value(&set, "access_token_cookie").unwrap();
    let new = m.decode_token(new).unwrap();
    assert_eq!(new.identity(), "ada");
    assert!(
        !new.is_fresh(),
        "an implicitly refreshed token is never fresh"
    );
    assert_eq!(new.expires_at().unwrap() - new.issued_at().unwrap(), 900.0);
    assert_eq!(cookie_value(&set, "csrf_access_token"), new.csrf());

    // The refreshed cookie's response body is the handler's, unchanged.
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "ok");
}

#[tokio::test]
async fn implicit_refresh_only_for_cookie_borne_access_tokens() {
    let clock = TestClock::new();
    let m = manager(
        &clock,
        &[TokenLocation::Headers, TokenLocation::Cookies],
        Some(300),
    );
    let access = testing::token(&m, "ada").mint();
    let refresh = testing::token(&m, "ada").refresh().mint();
    clock.advance(Duration::from_secs(800));

    // A header token: no cookie appears.
    let svc = JwtRequiredLayer::new(&m).layer(service_fn(ok));
    let req = Request::get("/")
        .header("authorization", format!("Bearer {access}"))
        .body(Full::default())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(set_cookies(res.headers()).is_empty());

    // A refresh token in its cookie, near expiry of nothing: never refreshed implicitly.
    let svc = RefreshRequiredLayer::new(&m)
        .implicit_refresh_within(Duration::from_secs(10 * 86400 * 365))
        .layer(service_fn(ok));
    let req = Request::get("/")
        .header(COOKIE, format!("refresh_token_cookie={refresh}"))
        .body(Full::default())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(set_cookies(res.headers()).is_empty());
}

#[tokio::test]
async fn implicit_refresh_is_a_guard_option() {
    let clock = TestClock::new();
    let off = manager(&clock, &[TokenLocation::Cookies], None);
    let token = testing::token(&off, "ada").mint();
    clock.advance(Duration::from_secs(800));
    let req = || with_cookie(Request::get("/"), &token);

    let res = JwtRequiredLayer::new(&off)
        .layer(service_fn(ok))
        .oneshot(req())
        .await
        .unwrap();
    assert!(set_cookies(res.headers()).is_empty(), "off by default");

    let on = JwtRequiredLayer::new(&off).implicit_refresh_within(Duration::from_secs(300));
    let res = on.layer(service_fn(ok)).oneshot(req()).await.unwrap();
    assert_eq!(set_cookies(res.headers()).len(), 2);

    let m = manager(&clock, &[TokenLocation::Cookies], Some(300));
    let off_here = JwtRequiredLayer::new(&m).implicit_refresh_within(Duration::ZERO);
    let res = off_here.layer(service_fn(ok)).oneshot(req()).await.unwrap();
    assert!(set_cookies(res.headers()).is_empty());
}

/// Flask-JWT-Extended's `after_request` refresh puts a new access cookie on the logout
/// response, undoing it; here a response that sets or unsets the access cookie is left
/// alone, and two guards never both refresh.
#[tokio::test]
async fn implicit_refresh_never_undoes_a_logout_nor_runs_twice() {
    let clock = TestClock::new();
    let m = manager(&clock, &[TokenLocation::Cookies], Some(300));
    let token = testing::token(&m, "ada").mint();
    clock.advance(Duration::from_secs(800));

    let logout_manager = m.clone();
    let logout = service_fn(move |_: Request<RequestBody<Full<Bytes>>>| {
        let m = logout_manager.clone();
        async move {
            let mut res = Response::new(Full::<Bytes>::from("bye"));
            m.cookies().unset_all(res.headers_mut());
            Ok::<_, Infallible>(res)
        }
    });
    let req = with_cookie(Request::post("/logout"), &token);
    let csrf = m.decode_token(&token).unwrap().csrf().unwrap().to_owned();
    let mut req = req;
    req.headers_mut()
        .insert("x-csrf-token", csrf.parse().unwrap());
    let res = JwtRequiredLayer::new(&m)
        .layer(logout)
        .oneshot(req)
        .await
        .unwrap();
    let set = set_cookies(res.headers());
    assert_eq!(set.len(), 4, "{set:?}");
    assert!(
        set.iter().all(|(_, v)| v.is_empty()),
        "only unset cookies: {set:?}"
    );

    // Two guards, both refreshing: one new access cookie.
    let inner = JwtRequiredLayer::new(&m).layer(service_fn(ok));
    let outer = JwtRequiredLayer::new(&m).layer(inner);
    let res = outer
        .oneshot(with_cookie(Request::get("/"), &token))
        .await
        .unwrap();
    let set = set_cookies(res.headers());
    let access: Vec<_> = set
        .iter()
        .filter(|(n, _)| n == "access_token_cookie")
        .collect();
    assert_eq!(access.len(), 1, "{set:?}");
}

/// A token revoked while its request runs (the handler revokes it) gets no successor; an
/// expired or revoked token is refused before any handler runs.
#[tokio::test]
async fn implicit_refresh_never_from_a_revoked_or_expired_token() {
    let clock = TestClock::new();
    let m = manager(&clock, &[TokenLocation::Cookies], Some(300));
    let token = testing::token(&m, "ada").mint();
    clock.advance(Duration::from_secs(800));

    let revoking_manager = m.clone();
    let revoking = service_fn(move |req: Request<RequestBody<Full<Bytes>>>| {
        let m = revoking_manager.clone();
        async move {
            let token = req
                .extensions()
                .get::<tower_jwt_auth::VerifiedToken>()
                .unwrap();
            m.revoke(token).await.unwrap();
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::from("revoked")))
        }
    });
    let res = JwtRequiredLayer::new(&m)
        .layer(revoking)
        .oneshot(with_cookie(Request::get("/"), &token))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(set_cookies(res.headers()).is_empty());

    let svc = JwtRequiredLayer::new(&m).layer(service_fn(ok));
    let res = svc
        .clone()
        .oneshot(with_cookie(Request::get("/"), &token))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(set_cookies(res.headers()).is_empty());

    let other = testing::token(&m, "bob").mint();
    clock.advance(Duration::from_secs(901));
    let res = svc
        .oneshot(with_cookie(Request::get("/"), &other))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(set_cookies(res.headers()).is_empty());
}

/// The auth service with cookies and headers: `/token` sets the four cookies and returns the
/// tokens; `/refresh` with the refresh cookie and its CSRF value sets a new access cookie;
/// `/revoke` with the access cookie and its CSRF value revokes both tokens and unsets all
/// four cookies.
#[tokio::test]
async fn auth_service_in_cookie_mode() {
    let clock = TestClock::new();
    let m = manager(
        &clock,
        &[TokenLocation::Headers, TokenLocation::Cookies],
        None,
    );
    let auth = AuthService::builder(
        &m,
        InsecureTestUsers::new().with_user("ada@example.com", "7", "pw"),
    )
    .password_hasher(testing::insecure_fast_password_hasher())
    .build();
    let call = |req: Request<Full<Bytes>>| {
        let auth = auth.clone();
        async move {
            let res = auth.oneshot(req).await.unwrap();
            let (parts, body) = res.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            (parts.status, set_cookies(&parts.headers), json)
        }
    };

    let login = Request::post("/token")
        .header("content-type", "application/json")
        .body(Full::<Bytes>::from(
            json!({"email": "ada@example.com", "password": "pw"}).to_string(),
        ))
        .unwrap();
    let (status, set, body) = call(login).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = set.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "access_token_cookie",
            "csrf_access_token",
            "refresh_token_cookie",
            "csrf_refresh_token"
        ]
    );
    let access = cookie_value(&set, "access_token_cookie")
        .unwrap()
        .to_owned();
    let refresh = cookie_value(&set, "refresh_token_cookie")
        .unwrap()
        .to_owned();
    assert_eq!(
        body["access_token"],
        access.as_str(),
        "headers is a location: tokens in the body"
    );
    assert_eq!(body["refresh_token"], refresh.as_str());
    let csrf_access = cookie_value(&set, "csrf_access_token").unwrap().to_owned();
    let csrf_refresh = cookie_value(&set, "csrf_refresh_token").unwrap().to_owned();
    let cookies = format!(
        "access_token_cookie={access}; csrf_access_token={csrf_access}; \
         refresh_token_cookie={refresh}; csrf_refresh_token={csrf_refresh}"
    );

    // Refresh needs the refresh token's CSRF value.
    let refresh_req = |csrf: Option<&str>| {
        let mut req = Request::post("/refresh").header(COOKIE, &cookies);
        if let Some(csrf) = csrf {
            req = req.header("X-CSRF-TOKEN", csrf);
        }
        req.body(Full::default()).unwrap()
    };
    let (status, set, body) = call(refresh_req(None)).await;
    assert_eq!(
        (status, body["msg"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("Missing CSRF token"))
    );
    assert!(set.is_empty());
    let (status, _, body) = call(refresh_req(Some(&csrf_access))).await;
    assert_eq!(
        (status, body["msg"].as_str()),
        (
            StatusCode::UNAUTHORIZED,
            Some("CSRF double submit tokens do not match")
        )
    );
    let (status, set, body) = call(refresh_req(Some(&csrf_refresh))).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = set.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["access_token_cookie", "csrf_access_token"]);
    assert_eq!(
        body["access_token"],
        cookie_value(&set, "access_token_cookie").unwrap()
    );

    // Revoke: the access cookie with its CSRF value; both tokens revoked, four cookies unset.
    let revoke = |csrf: &str| {
        Request::post("/revoke")
            .header(COOKIE, &cookies)
            .header("X-CSRF-TOKEN", csrf)
            .body(Full::default())
            .unwrap()
    };
    let (status, _, body) = call(revoke(&csrf_refresh)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, set, body) = call(revoke(&csrf_access)).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"msg": "Successfully logged out"}))
    );
    assert_eq!(set.len(), 4);
    assert!(set.iter().all(|(_, v)| v.is_empty()));
    for token in [&access, &refresh] {
        let err = m.verify_token(token).await.unwrap_err();
        assert_eq!(err.kind(), tower_jwt_auth::ErrorKind::Revoked);
    }
    let (status, _, body) = call(refresh_req(Some(&csrf_refresh))).await;
    assert_eq!(
        (status, body["msg"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("Token has been revoked"))
    );
}

/// With cookies as the only location, tokens stay out of response bodies (scripts never
/// see them); `tokens_in_body(true)` puts them back.
#[tokio::test]
async fn cookie_only_service_keeps_tokens_out_of_bodies() {
    let clock = TestClock::new();
    let m = manager(&clock, &[TokenLocation::Cookies], None);
    for (in_body, expect_tokens) in [(None, false), (Some(true), true)] {
        let mut builder = AuthService::builder(
            &m,
            InsecureTestUsers::new().with_user("ada@example.com", "7", "pw"),
        )
        .password_hasher(testing::insecure_fast_password_hasher());
        if let Some(yes) = in_body {
            builder = builder.tokens_in_body(yes);
        }
        let login = Request::post("/token")
            .header("content-type", "application/json")
            .body(Full::<Bytes>::from(
                json!({"email": "ada@example.com", "password": "pw"}).to_string(),
            ))
            .unwrap();
        let res = builder.build().oneshot(login).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(set_cookies(res.headers()).len(), 4);
        let body: Value =
            serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body.get("access_token").is_some(), expect_tokens, "{body}");
        if !expect_tokens {
            assert_eq!(body, json!({"msg": "Logged in"}));
        }
    }
}

/// CSRF values kept out of cookies (`csrf_in_cookies(false)`) reach the page in the JSON of
/// the login and refresh answers with `csrf_in_response_body(true)`; without it the manager is not
/// built (the page could never send them).
#[tokio::test]
async fn csrf_values_in_json_answers() {
    let clock = TestClock::new();
    let builder = || {
        JwtManager::builder()
            .secret(SECRET)
            .clock(clock.clone())
            .token_locations([TokenLocation::Cookies])
            .csrf_in_cookies(false)
    };
    assert!(builder().build().is_err());
    let m = builder().csrf_in_response_body(true).build().unwrap();
    let service = AuthService::builder(
        &m,
        InsecureTestUsers::new().with_user("ada@example.com", "7", "pw"),
    )
    .password_hasher(testing::insecure_fast_password_hasher())
    .build();
    let login = Request::post("/token")
        .header("content-type", "application/json")
        .body(Full::<Bytes>::from(
            json!({"email": "ada@example.com", "password": "pw"}).to_string(),
        ))
        .unwrap();
    let res = service.clone().oneshot(login).await.unwrap();
    assert_eq!(res.status(), 200);
    let set = set_cookies(res.headers());
    let names: Vec<&str> = set.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["access_token_cookie", "refresh_token_cookie"]);
    let body: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let csrf_of = |name: &str| {
        let token = cookie_value(&set, name).unwrap();
        m.decode_token(token).unwrap().csrf().unwrap().to_owned()
    };
    assert_eq!(
        body,
        json!({
            "msg": "Logged in",
            "csrf_access_token": csrf_of("access_token_cookie"),
            "csrf_refresh_token": csrf_of("refresh_token_cookie"),
        })
    );
    // The refresh answer carries the new access token's, which a guarded POST accepts.
    let refresh = Request::post("/refresh")
        .header(
            COOKIE,
            format!(
                "refresh_token_cookie={}",
                cookie_value(&set, "refresh_token_cookie").unwrap()
            ),
        )
        .header("x-csrf-token", body["csrf_refresh_token"].as_str().unwrap())
        .body(Full::<Bytes>::default())
        .unwrap();
    let res = service.oneshot(refresh).await.unwrap();
    assert_eq!(res.status(), 200);
    let set = set_cookies(res.headers());
    let body: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let access = cookie_value(&set, "access_token_cookie")
        .unwrap()
        .to_owned();
    assert_eq!(
        body,
        json!({
            "msg": "Token refreshed",
            "csrf_access_token": m.decode_token(&access).unwrap().csrf().unwrap(),
        })
    );
    let guarded = JwtRequiredLayer::new(&m).layer(service_fn(ok));
    let post = |csrf: &str| {
        let mut req = with_cookie(Request::post("/"), &access);
        req.headers_mut()
            .insert("x-csrf-token", csrf.parse().unwrap());
        req
    };
    let res = guarded
        .clone()
        .oneshot(post(body["csrf_access_token"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = guarded.oneshot(post("wrong")).await.unwrap();
    assert_eq!(res.status(), 401);
}

/// `/refresh` with the JSON location: `{"refresh_token": "..."}` in the body.
#[tokio::test]
async fn auth_service_refresh_from_json_body() {
    let clock = TestClock::new();
    let m = manager(&clock, &[TokenLocation::Headers, TokenLocation::Json], None);
    let auth = AuthService::builder(&m, InsecureTestUsers::new())
        .password_hasher(testing::insecure_fast_password_hasher())
        .build();
    let refresh = testing::token(&m, "ada").refresh().mint();
    let req = Request::post("/refresh")
        .header("content-type", "application/json")
        .body(Full::<Bytes>::from(
            json!({"refresh_token": refresh}).to_string(),
        ))
        .unwrap();
    let res = auth.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let access = m
        .decode_token(body["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(access.identity(), "ada");
}

/// A cookie value may hold bytes that are not UTF-8 (HTTP allows them): a token carrying one
/// is refused as malformed, naming the segment that holds it, as PyJWT would (a byte in the
/// payload: "Invalid payload padding"; in the signature: "Invalid crypto padding").
#[tokio::test]
async fn a_cookie_token_with_bytes_that_are_not_utf8_is_refused_naming_its_segment() {
    let clock = TestClock::new();
    let m = manager(&clock, &[TokenLocation::Cookies], None);
    let token = m.create_access_token("ada").unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let (header, payload) = input.split_once('.').unwrap();
    for (spelled, message) in [
        (
            [
                header.as_bytes(),
                b".",
                payload.as_bytes(),
                b"\xff.",
                signature.as_bytes(),
            ]
            .concat(),
            "Invalid payload padding",
        ),
        (
            [input.as_bytes(), b".", signature.as_bytes(), b"\xff"].concat(),
            "Invalid crypto padding",
        ),
    ] {
        let cookie = [b"access_token_cookie=".as_slice(), &spelled].concat();
        let req = Request::get("/")
            .header(COOKIE, http::HeaderValue::from_bytes(&cookie).unwrap())
            .body(Full::<Bytes>::default())
            .unwrap();
        let svc = JwtRequiredLayer::new(&m).layer(service_fn(
            |_: Request<RequestBody<Full<Bytes>>>| async {
                Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
            },
        ));
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let body: Value =
            serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body["msg"], message);
    }
}
