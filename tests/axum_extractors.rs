//! The axum extractors (feature `axum`): with and without a token, typed claims,
//! `Option<...>` behind the optional layer, and the missing-layer message.
#![cfg(feature = "axum")]

#[path = "support/axum_get.rs"]
mod axum_support;
use axum_support::axum_get;

use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use tower_jwt_auth::axum::{Claims, CurrentUser, Identity};
use tower_jwt_auth::claims::TokenType;
use tower_jwt_auth::issue::TokenOptions;
use tower_jwt_auth::{JwtManager, JwtOptionalLayer, JwtRequiredLayer, VerifiedToken};

const SECRET: &str = "axum-extractor-test-secret-0123456789abcdef";

#[derive(Debug, Deserialize)]
struct Role {
    sub: String,
    role: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct NeedsLevel {
    level: u32,
}

#[derive(Debug)]
struct User {
    name: String,
}

fn manager() -> JwtManager {
    JwtManager::builder()
        .secret(SECRET)
        .user_lookup(|t: &VerifiedToken| {
            let id = t.identity().to_owned();
            async move {
                (id != "ghost").then(|| User {
                    name: format!("user {id}"),
                })
            }
        })
        .build()
        .unwrap()
}

fn routes() -> Router {
    Router::new()
        .route("/identity", get(|Identity(id): Identity| async move { id }))
        .route(
            "/token",
            get(|t: VerifiedToken| async move {
                Json(json!({"sub": t.identity(), "refresh": t.token_type() == &TokenType::Refresh}))
            }),
        )
        .route(
            "/claims",
            get(|Claims(c): Claims<Role>| async move { format!("{} is {}", c.sub, c.role) }),
        )
        .route(
            "/level",
            get(|Claims(c): Claims<NeedsLevel>| async move { c.level.to_string() }),
        )
        .route(
            "/user",
            get(|u: CurrentUser<User>| async move { u.name.clone() }),
        )
        .route(
            "/optional",
            get(
                |id: Option<Identity>,
                 t: Option<VerifiedToken>,
                 c: Option<Claims<Role>>,
                 u: Option<CurrentUser<User>>| async move {
                    Json(json!({
                        "identity": id.map(|i| i.0),
                        "token": t.map(|t| t.identity().to_owned()),
                        "role": c.map(|c| c.0.role),
                        "user": u.map(|u| u.name.clone()),
                    }))
                },
            ),
        )
}

#[tokio::test]
async fn extractors_behind_the_required_layer() {
    let m = manager();
    let app = routes().layer(JwtRequiredLayer::new(&m));
    let token = m
        .create_access_token_with("7", TokenOptions::new().claim("role", "admin"))
        .unwrap();

    assert_eq!(
        axum_get(&app, "/identity", Some(&token)).await,
        (StatusCode::OK, "7".into())
    );
    let (status, body) = axum_get(&app, "/token", Some(&token)).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (StatusCode::OK, json!({"sub": "7", "refresh": false}))
    );
    assert_eq!(
        axum_get(&app, "/claims", Some(&token)).await,
        (StatusCode::OK, "7 is admin".into())
    );
    assert_eq!(
        axum_get(&app, "/user", Some(&token)).await,
        (StatusCode::OK, "user 7".into())
    );

    // Typed claims that do not fit: 401, without echoing claim values.
    let (status, body) = axum_get(&app, "/level", Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        r#"{"msg":"Token claims are not in the expected form"}"#
    );

    // Without a token the guard answers before any extractor runs.
    for path in ["/identity", "/token", "/claims", "/user"] {
        let (status, body) = axum_get(&app, path, None).await;
        assert_eq!(
            (status, body.as_str()),
            (
                StatusCode::UNAUTHORIZED,
                r#"{"msg":"Missing Authorization Header"}"#
            )
        );
    }
    // The user-lookup hook finding nobody is the guard's 401.
    let ghost = m.create_access_token("ghost").unwrap();
    assert_eq!(
        axum_get(&app, "/identity", Some(&ghost)).await,
        (
            StatusCode::UNAUTHORIZED,
            r#"{"msg":"Error loading the user ghost"}"#.into()
        )
    );
}

#[tokio::test]
async fn options_behind_the_optional_layer() {
    let m = manager();
    let app = routes().layer(JwtOptionalLayer::new(&m));
    let token = m
        .create_access_token_with("7", TokenOptions::new().claim("role", "admin"))
        .unwrap();
    let (status, body) = axum_get(&app, "/optional", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"identity": "7", "token": "7", "role": "admin", "user": "user 7"})
    );
    let (status, body) = axum_get(&app, "/optional", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"identity": null, "token": null, "role": null, "user": null})
    );
    // An invalid token is still refused on the optional route.
    assert_eq!(
        axum_get(&app, "/optional", Some("a.b.c")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn missing_layer_is_a_clear_500() {
    let app = routes(); // no guard at all
    for (path, what) in [
        ("/identity", "Identity"),
        ("/token", "VerifiedToken"),
        ("/claims", "Claims"),
        ("/user", "CurrentUser"),
    ] {
        let (status, body) = axum_get(&app, path, None).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        let msg = serde_json::from_str::<Value>(&body).unwrap()["msg"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            msg,
            format!("{what} requires a guard layer on this route: add JwtRequiredLayer, JwtOptionalLayer, RefreshRequiredLayer or FreshRequiredLayer")
        );
    }
    // Options simply see nothing.
    assert_eq!(axum_get(&app, "/optional", None).await.0, StatusCode::OK);

    // A guard without a user-lookup hook: CurrentUser names the missing hook.
    let plain = JwtManager::builder().secret(SECRET).build().unwrap();
    let app = routes().layer(JwtRequiredLayer::new(&plain));
    let token = plain.create_access_token("7").unwrap();
    let (status, body) = axum_get(&app, "/user", Some(&token)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("user-lookup hook"), "{body}");
}

#[tokio::test]
async fn a_required_extractor_on_an_optional_route_without_a_token_is_a_401() {
    let m = manager();
    let app = routes().layer(JwtOptionalLayer::new(&m));
    for path in ["/identity", "/token", "/claims", "/user"] {
        assert_eq!(
            axum_get(&app, path, None).await,
            (
                StatusCode::UNAUTHORIZED,
                r#"{"msg":"Missing Authorization Header"}"#.into()
            ),
            "{path}"
        );
    }
}

#[tokio::test]
async fn extractor_errors_use_the_configured_message_key() {
    let m = JwtManager::builder()
        .secret(SECRET)
        .error_message_key("error")
        .build()
        .unwrap();
    let token = m.create_access_token("7").unwrap();
    let app = routes().layer(JwtRequiredLayer::new(&m));
    assert_eq!(
        axum_get(&app, "/level", Some(&token)).await,
        (
            StatusCode::UNAUTHORIZED,
            r#"{"error":"Token claims are not in the expected form"}"#.into()
        )
    );
    let (status, body) = axum_get(&app, "/user", Some(&token)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.starts_with(r#"{"error":""#), "{body}");
    let app = routes().layer(JwtOptionalLayer::new(&m));
    assert_eq!(
        axum_get(&app, "/identity", None).await,
        (
            StatusCode::UNAUTHORIZED,
            r#"{"error":"Missing Authorization Header"}"#.into()
        )
    );
}

#[tokio::test]
async fn a_current_user_of_the_wrong_type_names_both_types() {
    #[derive(Debug)]
    struct Admin;
    let m = manager(); // its hook returns `User`
    let app = Router::new()
        .route("/admin", get(|_: CurrentUser<Admin>| async { "admin" }))
        .layer(JwtRequiredLayer::new(&m));
    let token = m.create_access_token("7").unwrap();
    let (status, body) = axum_get(&app, "/admin", Some(&token)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let msg = serde_json::from_str::<Value>(&body).unwrap()["msg"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("Admin") && msg.contains("axum_extractors::User"),
        "{msg}"
    );
}

/// `RequireRole`/`RequireScope` and in-handler checks answer 403 as the guards do (message
/// key, challenge with `scope` and `resource_metadata`); the extractors' 401s carry the
/// manager's challenge too.
#[tokio::test]
async fn requirement_extractors_answer_as_the_guards_do() {
    use tower_jwt_auth::axum::{ExtractRejection, RequireRole, RequireScope};
    struct Admin;
    impl tower_jwt_auth::axum::Role for Admin {
        const NAME: &'static str = "admin";
    }
    struct Write;
    impl tower_jwt_auth::axum::Scope for Write {
        const NAME: &'static str = "orders:write";
    }
    let m = JwtManager::builder()
        .secret(SECRET)
        .error_message_key("error")
        .protected_resource("https://api.example.com")
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/admin",
            get(|t: RequireRole<Admin>| async move { t.identity().to_owned() }),
        )
        .route("/write", get(|_: RequireScope<Write>| async { "written" }))
        .route(
            "/inline",
            get(|t: VerifiedToken| async move {
                t.require_role("auditor")
                    .map_err(|e| ExtractRejection::forbidden(&t, e))?;
                Ok::<_, ExtractRejection>("audited")
            }),
        )
        .route("/level", get(|_: Claims<NeedsLevel>| async { "" }))
        .layer(JwtRequiredLayer::new(&m));
    let call = |path: &'static str, token: String| {
        let app = app.clone();
        async move {
            use http_body_util::BodyExt;
            use tower::ServiceExt;
            let req = http::Request::get(path)
                .header("Authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            let res = app.oneshot(req).await.unwrap();
            let challenge = res
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            let status = res.status();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, challenge, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let metadata =
        r#"resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#;
    let admin = m
        .create_access_token_with(
            "ada",
            TokenOptions::new()
                .roles(["admin", "auditor"])
                .scopes(["orders:write"]),
        )
        .unwrap();
    let user = m.create_access_token("bob").unwrap();
    assert_eq!(call("/admin", admin.clone()).await.2, "ada");
    assert_eq!(call("/write", admin.clone()).await.2, "written");
    assert_eq!(call("/inline", admin).await.2, "audited");
    assert_eq!(
        call("/admin", user.clone()).await,
        (
            StatusCode::FORBIDDEN,
            Some(format!(r#"Bearer error="insufficient_scope", {metadata}"#)),
            r#"{"error":"Role required: admin"}"#.into()
        )
    );
    assert_eq!(
        call("/write", user.clone()).await,
        (
            StatusCode::FORBIDDEN,
            Some(format!(
                r#"Bearer error="insufficient_scope", scope="orders:write", {metadata}"#
            )),
            r#"{"error":"Scope required: orders:write"}"#.into()
        )
    );
    assert_eq!(call("/inline", user.clone()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        call("/level", user).await.1,
        Some(format!(r#"Bearer error="invalid_token", {metadata}"#))
    );
}

/// `for_axum()`: the same answers as the plain guard, with axum's own body handed on (a
/// body the guard read to find the token arrives whole, an unread one untouched) and
/// answered (a rejection's JSON). `tests/examples/axum_app.rs` runs the axum example, whose
/// guards are all `for_axum()`, through every requirement.
#[tokio::test]
async fn guards_for_axum_hand_on_and_answer_axum_bodies() {
    use axum::body::Body;
    use axum::routing::post;
    use http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    use tower_jwt_auth::manager::TokenLocation;

    let m = JwtManager::builder()
        .secret(SECRET)
        .token_locations([TokenLocation::Headers, TokenLocation::Json])
        .build()
        .unwrap();
    async fn echo(token: VerifiedToken, body: String) -> String {
        format!("{} sent {body}", token.identity())
    }
    let app = Router::new()
        .route(
            "/",
            post(echo).route_layer(JwtRequiredLayer::new(&m).for_axum()),
        )
        .route(
            "/optional",
            get(|token: Option<VerifiedToken>| async move {
                token.map_or("anonymous".to_owned(), |t| t.identity().to_owned())
            })
            .route_layer(JwtOptionalLayer::new(&m).for_axum()),
        );
    let token = m.create_access_token("ada").unwrap();
    let send = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let res = app.oneshot(req).await.unwrap();
            let status = res.status();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(body.to_vec()).unwrap())
        }
    };

    // The token in the JSON body: the guard reads it, the handler gets all of it.
    let json = format!(r#"{{"access_token":"{token}","x":1}}"#);
    let req = Request::post("/")
        .header("content-type", "application/json")
        .body(Body::from(json.clone()))
        .unwrap();
    assert_eq!(
        send(req).await,
        (StatusCode::OK, format!("ada sent {json}"))
    );
    // In the header: the body is handed on untouched.
    let req = Request::post("/")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from("plain"))
        .unwrap();
    assert_eq!(
        send(req).await,
        (StatusCode::OK, "ada sent plain".to_owned())
    );
    // A rejection: its JSON.
    let req = Request::post("/")
        .header("content-type", "text/plain")
        .body(Body::from("plain"))
        .unwrap();
    let (status, body) = send(req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.starts_with(r#"{"msg":"#), "{body}");
    // The optional guard lets an anonymous request through.
    let req = Request::get("/optional").body(Body::empty()).unwrap();
    assert_eq!(send(req).await, (StatusCode::OK, "anonymous".to_owned()));
}

/// `for_axum()` where it meets cookies: a cookie-borne token near expiry gets its new access
/// cookie on axum's own response body (implicit refresh), a state-changing request without
/// the CSRF value is refused, with it let through.
#[tokio::test]
async fn guards_for_axum_refresh_cookies_and_check_csrf() {
    use axum::body::Body;
    use http::Request;
    use http_body_util::BodyExt;
    use std::time::Duration;
    use tower::ServiceExt;
    use tower_jwt_auth::manager::TokenLocation;
    use tower_jwt_auth::testing::TestClock;

    let clock = TestClock::new();
    let m = JwtManager::builder()
        .secret(SECRET)
        .clock(clock.clone())
        .token_locations([TokenLocation::Cookies])
        .access_token_lifetime(Duration::from_secs(900))
        .implicit_refresh_within(Duration::from_secs(300))
        .build()
        .unwrap();
    let app = Router::new().route(
        "/",
        get(|token: VerifiedToken| async move { token.identity().to_owned() })
            .post(|token: VerifiedToken| async move { token.identity().to_owned() })
            .route_layer(JwtRequiredLayer::new(&m).for_axum()),
    );
    let token = m.create_access_token("ada").unwrap();
    let csrf = m.decode_token(&token).unwrap().csrf().unwrap().to_owned();
    let send = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let res = app.oneshot(req).await.unwrap();
            let status = res.status();
            let cookies: Vec<String> = res
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, cookies, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let get_req = || {
        Request::get("/")
            .header("cookie", format!("access_token_cookie={token}"))
            .body(Body::empty())
            .unwrap()
    };

    let (status, cookies, body) = send(get_req()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ada"));
    assert!(cookies.is_empty(), "{cookies:?}");
    clock.advance(Duration::from_secs(700));
    let (status, cookies, body) = send(get_req()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ada"));
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("access_token_cookie=")),
        "{cookies:?}"
    );

    let post_req = |csrf: Option<&str>| {
        let mut req = Request::post("/").header("cookie", format!("access_token_cookie={token}"));
        if let Some(csrf) = csrf {
            req = req.header("x-csrf-token", csrf);
        }
        req.body(Body::empty()).unwrap()
    };
    let (status, _, body) = send(post_req(None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, r#"{"msg":"Missing CSRF token"}"#);
    let (status, _, body) = send(post_req(Some(&csrf))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ada"));
}
