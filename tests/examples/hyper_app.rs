#[path = "../../examples/hyper.rs"]
#[allow(dead_code)]
mod example;

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

async fn call(addr: std::net::SocketAddr, req: Request<Full<Bytes>>) -> (StatusCode, Value) {
    let (status, _, body) = call_with_challenge(addr, req).await;
    (status, body)
}

/// The status, the `WWW-Authenticate` header and the JSON body of `req`'s answer.
async fn call_with_challenge(
    addr: std::net::SocketAddr,
    req: Request<Full<Bytes>>,
) -> (StatusCode, Option<String>, Value) {
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
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        challenge,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn login(email: &str, password: &str) -> Request<Full<Bytes>> {
    Request::post("/token")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::from(
            json!({"email": email, "password": password}).to_string(),
        ))
        .unwrap()
}

fn get(path: &str, token: Option<&str>) -> Request<Full<Bytes>> {
    let mut req = Request::get(path).header("host", "localhost");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    req.body(Full::default()).unwrap()
}

/// `/admin` requires the role `admin` on its guard: the admin's token (logged in over HTTP)
/// is 200, the demo user's valid token 403 with the `insufficient_scope` challenge, no token
/// 401; `/me` still serves the demo user.
#[tokio::test]
async fn hyper_example_admin_route() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(example::serve(listener, super::manager(), super::users()));

    let (status, tokens) = call(addr, login("admin@example.com", "admin password")).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let admin = tokens["access_token"].as_str().unwrap().to_owned();
    let (status, tokens) = call(addr, login("demo@example.com", "demo password")).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let user = tokens["access_token"].as_str().unwrap().to_owned();

    assert_eq!(
        call_with_challenge(addr, get("/admin", Some(&admin))).await,
        (
            StatusCode::OK,
            None,
            json!({"msg": "admins only", "sub": "2"})
        )
    );
    assert_eq!(
        call_with_challenge(addr, get("/admin", Some(&user))).await,
        (
            StatusCode::FORBIDDEN,
            Some(r#"Bearer error="insufficient_scope""#.into()),
            json!({"msg": "Role required: admin"})
        )
    );
    assert_eq!(
        call_with_challenge(addr, get("/admin", None)).await,
        (
            StatusCode::UNAUTHORIZED,
            Some("Bearer".into()),
            json!({"msg": "Missing Authorization Header"})
        )
    );
    assert_eq!(
        call(addr, get("/me", Some(&user))).await,
        (StatusCode::OK, json!({"sub": "1"}))
    );
    server.abort();
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
        .token_locations([tower_jwt_auth::manager::TokenLocation::Json])
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
