//! Case 38: cookies and CSRF double submit.

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{Method, Request};
use tower_jwt_auth::manager::TokenLocation;
use tower_jwt_auth::JwtRequiredLayer;

use crate::harness::*;

fn with_cookie(method: Method, token: &str, cookies: &str, csrf: Option<&str>) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri("/cookie")
        .header("cookie", format!("access_token_cookie={token}{cookies}"));
    if let Some(csrf) = csrf {
        req = req.header("X-CSRF-TOKEN", csrf);
    }
    req.body(Body::empty()).unwrap()
}

async fn ok() -> &'static str {
    "ok"
}

#[tokio::test]
async fn cookie_csrf() {
    let g = Group::new();
    let jwt = builder()
        .token_locations([TokenLocation::Cookies])
        .build()
        .unwrap();
    let app = Router::new().route(
        "/cookie",
        get(ok)
            .post(ok)
            .put(ok)
            .patch(ok)
            .delete(ok)
            .route_layer(JwtRequiredLayer::new(&jwt)),
    );
    let token = jwt.create_access_token("1").unwrap();
    g.sensitive(&token);
    let csrf = jwt.decode_token(&token).unwrap().csrf().unwrap().to_owned();

    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let what = |s: &str| format!("{method} {s}");
        g.case(
            38,
            &what("without X-CSRF-TOKEN"),
            &app,
            with_cookie(method.clone(), &token, "", None),
            401,
            "Missing CSRF token",
        )
        .await;
        g.case(
            38,
            &what("with a wrong value"),
            &app,
            with_cookie(method.clone(), &token, "", Some("wrong")),
            401,
            "CSRF double submit tokens do not match",
        )
        .await;
        g.case(
            38,
            &what("equal to an injected CSRF cookie, not the token's claim"),
            &app,
            with_cookie(
                method.clone(),
                &token,
                "; csrf_access_token=injected",
                Some("injected"),
            ),
            401,
            "CSRF double submit tokens do not match",
        )
        .await;
        g.case(
            38,
            &what("with the token's value"),
            &app,
            with_cookie(method.clone(), &token, "", Some(&csrf)),
            200,
            "",
        )
        .await;
    }
    g.case(
        38,
        "GET without X-CSRF-TOKEN",
        &app,
        with_cookie(Method::GET, &token, "", None),
        200,
        "",
    )
    .await;

    g.assert_no_leaks();
}
