#[path = "../../examples/hyper.rs"]
#[allow(dead_code)]
mod example;

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

async fn call(addr: std::net::SocketAddr, req: Request<Full<Bytes>>) -> (StatusCode, Value) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let res = tokio::time::timeout(Duration::from_secs(10), send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn hyper_example_over_loopback() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(example::serve(listener, super::manager(), super::users()));

    let login = Request::post("/token")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::from(
            json!({"email": "demo@example.com", "password": "demo password"}).to_string(),
        ))
        .unwrap();
    let (status, tokens) = call(addr, login).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();

    let me = |token: Option<&str>| {
        let mut req = Request::get("/me").header("host", "localhost");
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        req.body(Full::default()).unwrap()
    };
    assert_eq!(
        call(addr, me(Some(access))).await,
        (StatusCode::OK, json!({"sub": "1"}))
    );
    assert_eq!(
        call(addr, me(None)).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Missing Authorization Header"})
        )
    );
    let revoke = Request::post("/revoke")
        .header("host", "localhost")
        .header("authorization", format!("Bearer {access}"))
        .body(Full::default())
        .unwrap();
    assert_eq!(call(addr, revoke).await.0, StatusCode::OK);
    assert_eq!(
        call(addr, me(Some(access))).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Token has been revoked"})
        )
    );
    let nowhere = Request::get("/nowhere")
        .header("host", "localhost")
        .body(Full::default())
        .unwrap();
    assert_eq!(call(addr, nowhere).await.0, StatusCode::NOT_FOUND);
    server.abort();
}

/// The example's own body type (hyper's `Incoming`) read by the guard: with the token in the
/// JSON body, `/me` finds it there.
#[tokio::test]
async fn hyper_example_with_the_json_location() {
    let jwt = tower_jwt_auth::JwtManager::builder()
        .secret(super::SECRET)
        .token_locations([tower_jwt_auth::TokenLocation::Json])
        .build()
        .unwrap();
    let access = jwt.create_access_token("1").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(example::serve(listener, jwt, super::users()));

    let me = |content_type: &str, body: String| {
        Request::get("/me")
            .header("host", "localhost")
            .header("content-type", content_type)
            .body(Full::from(body))
            .unwrap()
    };
    let with_token = json!({ "access_token": access }).to_string();
    for content_type in [
        "application/json",
        "application/vnd.api+json; charset=utf-8",
    ] {
        assert_eq!(
            call(addr, me(content_type, with_token.clone())).await,
            (StatusCode::OK, json!({"sub": "1"})),
            "{content_type}"
        );
    }
    assert_eq!(
        call(addr, me("application/json", "{}".into())).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Missing \"access_token\" key in json data."})
        )
    );
    server.abort();
}
