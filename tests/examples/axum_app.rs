#[path = "../../examples/axum.rs"]
#[allow(dead_code)]
mod example;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(json) => {
            req = req.header("content-type", "application/json");
            axum::body::Body::from(json.to_string())
        }
        None => axum::body::Body::empty(),
    };
    let res = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn axum_example_routes() {
    let jwt = super::manager();
    let app = example::app(&jwt, super::users());
    assert_eq!(
        call(&app, "GET", "/", None, None).await,
        (StatusCode::OK, json!({"msg": "public"}))
    );
    assert_eq!(
        call(&app, "GET", "/hello", None, None).await.1,
        json!({"msg": "hello stranger"})
    );

    let (status, tokens) = call(
        &app,
        "POST",
        "/auth/token",
        None,
        Some(json!({"email": "demo@example.com", "password": "demo password"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    assert_eq!(
        call(&app, "GET", "/hello", Some(access), None).await.1,
        json!({"msg": "hello user 1"})
    );
    let (status, me) = call(&app, "GET", "/me", Some(access), None).await;
    assert_eq!(
        (status, &me["sub"], &me["fresh"], &me["location"]),
        (StatusCode::OK, &json!("1"), &json!(true), &json!("headers"))
    );
    assert_eq!(
        call(&app, "POST", "/sensitive", Some(access), None).await.0,
        StatusCode::OK
    );

    let (_, refreshed) = call(&app, "POST", "/auth/refresh", Some(refresh), None).await;
    let stale = refreshed["access_token"].as_str().unwrap();
    assert_eq!(
        call(&app, "GET", "/me", Some(stale), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "POST", "/sensitive", Some(stale), None).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Fresh token required"})
        )
    );
}

/// `/admin` requires the role `admin` on its guard: the admin's token is 200, the demo
/// user's 403 with the `insufficient_scope` challenge, no token 401.
#[tokio::test]
async fn axum_example_admin_route() {
    let jwt = super::manager();
    let app = example::app(&jwt, super::users());
    let login = |email: &str, password: &str| {
        let body = json!({"email": email, "password": password});
        let app = app.clone();
        async move {
            let (status, tokens) = call(&app, "POST", "/auth/token", None, Some(body)).await;
            assert_eq!(status, StatusCode::OK, "{tokens}");
            tokens["access_token"].as_str().unwrap().to_owned()
        }
    };
    let admin = login("admin@example.com", "admin password").await;
    let user = login("demo@example.com", "demo password").await;

    assert_eq!(
        call(&app, "GET", "/admin", Some(&admin), None).await,
        (StatusCode::OK, json!({"msg": "hello admin 2"}))
    );
    let get = |token: Option<&str>| {
        let mut req = Request::get("/admin");
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        app.clone()
            .oneshot(req.body(axum::body::Body::empty()).unwrap())
    };
    let res = get(Some(&user)).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer error="insufficient_scope""#
    );
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"msg": "Role required: admin"})
    );
    let res = get(None).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
}
