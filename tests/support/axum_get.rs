//! `GET path` through an axum `Router`, with an optional bearer token; shared by the
//! framework test binaries.

use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// The status and the body (as text) of `GET path`, with `Authorization: Bearer <token>`
/// when a token is given.
pub async fn axum_get(app: &Router, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let (status, _, body) = axum_get_with_challenge(app, path, token).await;
    (status, body)
}

/// [`axum_get`] with the `WWW-Authenticate` header too.
#[allow(dead_code)]
pub async fn axum_get_with_challenge(
    app: &Router,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let mut req = Request::get(path);
    if let Some(token) = token {
        req = req.header("Authorization", format!("Bearer {token}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, challenge, String::from_utf8(body.to_vec()).unwrap())
}
