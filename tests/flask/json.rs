//! Port of `tests/test_json.py`, plus the body limits and the body handed on unchanged.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::manager::{JwtManagerBuilder, TokenLocation};
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::{JwtManager, JwtRequiredLayer, RefreshRequiredLayer};

use crate::common::*;

fn json_builder(policy: StatusPolicy) -> JwtManagerBuilder {
    builder(policy).token_locations([TokenLocation::Json])
}

fn post(uri: &str, content_type: Option<&str>, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    let mut req = Request::post(uri);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req.body(Full::new(body.into())).unwrap()
}

fn json_post(uri: &str, body: serde_json::Value) -> Request<Full<Bytes>> {
    post(uri, Some("application/json"), body.to_string())
}

fn tokens_of(m: &JwtManager) -> (String, String) {
    (
        m.create_access_token("username").unwrap(),
        m.create_refresh_token("username").unwrap(),
    )
}

#[tokio::test]
async fn content_type() {
    for policy in POLICIES {
        let m = json_builder(policy).build().unwrap();
        let (access, refresh) = tokens_of(&m);
        let expected = (401, "Invalid content-type. Must be application/json.");
        let form = "application/x-www-form-urlencoded";
        let r = call(
            &JwtRequiredLayer::new(&m),
            post("/protected", Some(form), format!("access_token={access}")),
        )
        .await;
        assert_eq!(r.status_msg(), expected);
        let r = call(
            &RefreshRequiredLayer::new(&m),
            post("/refresh", Some(form), format!("refresh_token={refresh}")),
        )
        .await;
        assert_eq!(r.status_msg(), expected);
    }
}

#[tokio::test]
async fn custom_body_key() {
    let m = json_builder(StatusPolicy::Default)
        .json_key("Foo")
        .refresh_json_key("Bar")
        .build()
        .unwrap();
    let (access, refresh) = tokens_of(&m);
    let access_layer = JwtRequiredLayer::new(&m);
    let refresh_layer = RefreshRequiredLayer::new(&m);

    let r = call(
        &access_layer,
        json_post("/protected", json!({"access_token": access})),
    )
    .await;
    assert_eq!(r.status_msg(), (401, "Missing \"Foo\" key in json data."));
    let r = call(
        &refresh_layer,
        json_post("/refresh", json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(r.status_msg(), (401, "Missing \"Bar\" key in json data."));

    let r = call(
        &access_layer,
        json_post("/protected", json!({"Foo": access})),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = call(
        &refresh_layer,
        json_post("/refresh", json!({"Bar": refresh})),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn missing_keys() {
    let m = json_builder(StatusPolicy::Default).build().unwrap();
    let layer = JwtRequiredLayer::new(&m);
    let missing = (401, "Missing \"access_token\" key in json data.");
    for body in [
        "",
        "not json",
        "[1, 2]",
        r#"{"access_token": 7}"#,
        r#"{"access_token": ""}"#,
    ] {
        let r = call(&layer, post("/protected", Some("application/json"), body)).await;
        assert_eq!(r.status_msg(), missing, "{body}");
    }
    let custom =
        JwtRequiredLayer::new(&m).error_responder(fixed_response(None, 201, r#"{"foo":"bar"}"#));
    let r = call(&custom, post("/protected", Some("application/json"), "")).await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn defaults() {
    let m = json_builder(StatusPolicy::Default).build().unwrap();
    let (access, refresh) = tokens_of(&m);
    let r = call(
        &JwtRequiredLayer::new(&m),
        json_post("/protected", json!({"access_token": access})),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = call(
        &RefreshRequiredLayer::new(&m),
        json_post("/refresh", json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn custom_content_type() {
    let m = json_builder(StatusPolicy::Default).build().unwrap();
    let (access, refresh) = tokens_of(&m);
    let ct = Some("application/json;charset=UTF-8");
    let body = json!({"access_token": access}).to_string();
    let r = call(&JwtRequiredLayer::new(&m), post("/protected", ct, body)).await;
    assert_eq!(r.status, 200);
    let body = json!({"refresh_token": refresh}).to_string();
    let r = call(&RefreshRequiredLayer::new(&m), post("/refresh", ct, body)).await;
    assert_eq!(r.status, 200);
}

/// The inner service gets the very bytes the client sent, whatever the body type.
#[cfg(feature = "axum")]
#[tokio::test]
async fn body_reaches_the_inner_service_unchanged() {
    let m = json_builder(StatusPolicy::Default).build().unwrap();
    let (access, _) = tokens_of(&m);
    let sent = format!(r#"{{"access_token": "{access}", "note": "ünïcode", "n": [1,2,3]}}"#);
    let echo = service_fn(|req: Request<RequestBody<Full<Bytes>>>| async move {
        let bytes = req.into_body().collect().await.unwrap().to_bytes();
        Ok::<_, Infallible>(Response::new(Full::new(bytes)))
    });
    let res = JwtRequiredLayer::new(&m)
        .layer(echo)
        .oneshot(post("/protected", Some("application/json"), sent.clone()))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let got = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(got, sent.as_bytes());

    // The same with a `String` body and with axum's body.
    let echo = service_fn(|req: Request<RequestBody<String>>| async move {
        let bytes = req.into_body().collect().await.unwrap().to_bytes();
        Ok::<_, Infallible>(Response::new(Full::new(bytes)))
    });
    let req = Request::post("/")
        .header("content-type", "application/json")
        .body(sent.clone())
        .unwrap();
    let res = JwtRequiredLayer::new(&m)
        .layer(echo)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        sent.as_bytes()
    );

    let echo = service_fn(|req: Request<RequestBody<axum::body::Body>>| async move {
        let bytes = req.into_body().collect().await.unwrap().to_bytes();
        Ok::<_, Infallible>(Response::new(Full::new(bytes)))
    });
    let req = Request::post("/")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(sent.clone()))
        .unwrap();
    let res = JwtRequiredLayer::new(&m)
        .layer(echo)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        sent.as_bytes()
    );
}

/// Bodies over the limit answer 413 without reaching the inner service; a body that fails
/// to arrive answers 400; a header token never makes the guard read the body.
#[cfg(feature = "axum")]
#[tokio::test]
async fn body_limits_and_failures() {
    let m = json_builder(StatusPolicy::Default)
        .max_json_body_size(1024)
        .build()
        .unwrap();
    let (access, _) = tokens_of(&m);
    let layer = JwtRequiredLayer::new(&m);
    let big = format!(
        r#"{{"access_token": "{access}", "pad": "{}"}}"#,
        "x".repeat(2000)
    );
    let r = call(
        &layer,
        post("/protected", Some("application/json"), big.clone()),
    )
    .await;
    assert_eq!(
        r.status_msg(),
        (413, "The request body is larger than 1024 bytes")
    );

    let req = Request::post("/")
        .header("content-type", "application/json")
        .body(axum::body::Body::new(Failing(true)))
        .unwrap();
    let echo = service_fn(|_: Request<RequestBody<axum::body::Body>>| async move {
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
    });
    let res = layer.layer(echo).oneshot(req).await.unwrap();
    assert_eq!(res.status(), 400);

    // With headers first, a header token is used and the (oversized) body is not read.
    let both = builder(StatusPolicy::Default)
        .token_locations([TokenLocation::Headers, TokenLocation::Json])
        .max_json_body_size(1024)
        .build()
        .unwrap();
    let token = both.create_access_token("username").unwrap();
    let req = Request::post("/")
        .header("content-type", "application/json")
        .header("authorization", bearer(&token))
        .body(Full::from(big))
        .unwrap();
    assert_eq!(call(&JwtRequiredLayer::new(&both), req).await.status, 200);
}

/// A body that sends a first chunk, then fails (a connection reset).
#[cfg(feature = "axum")]
struct Failing(bool);

#[cfg(feature = "axum")]
impl http_body::Body for Failing {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        let first = std::mem::replace(&mut self.0, false);
        std::task::Poll::Ready(Some(if first {
            Ok(http_body::Frame::data(Bytes::from_static(b"{\"access")))
        } else {
            Err(std::io::Error::other("connection reset"))
        }))
    }
}

/// A body of another layer's type (boxed here) is read like any other, and handed on
/// whole.
#[tokio::test]
async fn boxed_bodies_are_read() {
    type Boxed = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;
    let m = json_builder(StatusPolicy::Default).build().unwrap();
    let (access, _) = tokens_of(&m);
    let body = json!({"access_token": access}).to_string();
    let req = Request::post("/")
        .header("content-type", "application/json")
        .body(Boxed::new(
            Full::from(body.clone()).map_err(|never| match never {}),
        ))
        .unwrap();
    let inner = service_fn(|req: Request<RequestBody<Boxed>>| async move {
        let bytes = req.into_body().collect().await.unwrap().to_bytes();
        Ok::<_, Infallible>(Response::new(Full::new(bytes)))
    });
    let res = JwtRequiredLayer::new(&m)
        .layer(inner)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), body);
}
