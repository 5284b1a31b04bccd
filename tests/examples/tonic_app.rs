#[path = "../support/skip.rs"]
mod skip;

#[path = "../../examples/tonic.rs"]
#[allow(dead_code)]
mod example;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use http::uri::PathAndQuery;
use serde_json::Value;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower::Layer;
use tower_jwt_auth::issue::TokenOptions;
use tower_jwt_auth::{FreshRequiredLayer, JwtManager, JwtRequiredLayer};

use example::{AccountServer, AdminServer, Empty, HelloReply, WhoAmIReply};

fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut req = Request::new(message);
    if let Some(token) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    req.set_timeout(Duration::from_secs(10));
    req
}

async fn check(channel: &Channel, token: Option<&str>) -> Result<ServingStatus, Status> {
    let reply = HealthClient::new(channel.clone())
        .check(with_token(
            HealthCheckRequest {
                service: String::new(),
            },
            token,
        ))
        .await?;
    Ok(reply.into_inner().status())
}

/// A hand-written client call of `path` with an empty request.
async fn unary<R>(channel: &Channel, path: &str, token: Option<&str>) -> Result<R, Status>
where
    R: prost::Message + Default + Send + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unknown(e.to_string()))?;
    let path = PathAndQuery::try_from(path.to_owned()).unwrap();
    let reply = grpc
        .unary(
            with_token(Empty {}, token),
            path,
            tonic_prost::ProstCodec::default(),
        )
        .await?;
    Ok(reply.into_inner())
}

/// `example.v1.Account/<method>`.
async fn account(
    channel: &Channel,
    method: &str,
    token: Option<&str>,
) -> Result<WhoAmIReply, Status> {
    unary(channel, &format!("/example.v1.Account/{method}"), token).await
}

/// `example.v1.Admin/Hello`.
async fn admin_hello(channel: &Channel, token: Option<&str>) -> Result<HelloReply, Status> {
    unary(channel, "/example.v1.Admin/Hello", token).await
}

async fn connect(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap()
}

async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn tokens(jwt: &JwtManager) -> (String, String, String) {
    (
        jwt.create_access_token("1").unwrap(),
        jwt.create_access_token_with("1", TokenOptions::new().fresh(true))
            .unwrap(),
        jwt.create_refresh_token("1").unwrap(),
    )
}

#[tokio::test]
async fn tonic_server_builder_layer_guards_every_method() {
    let jwt = super::manager();
    let (listener, addr) = listener().await;
    let (_, health) = tonic_health::server::health_reporter();
    let server = tokio::spawn(
        Server::builder()
            .layer(JwtRequiredLayer::new(&jwt))
            .add_service(health)
            .add_service(AccountServer)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = connect(addr).await;
    let (access, fresh, refresh) = tokens(&jwt);

    // No token: UNAUTHENTICATED with Flask-JWT-Extended's message, on every method.
    let status = check(&channel, None).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unauthenticated, "Missing Authorization Header")
    );
    let status = account(&channel, "WhoAmI", None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // A valid token: OK, and the handler saw the identity.
    assert_eq!(
        check(&channel, Some(&access)).await.unwrap(),
        ServingStatus::Serving
    );
    let me = account(&channel, "WhoAmI", Some(&access)).await.unwrap();
    assert_eq!((me.sub.as_str(), me.fresh), ("1", false));

    // A refresh token is refused.
    let status = check(&channel, Some(&refresh)).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unauthenticated, "Only non-refresh tokens are allowed")
    );

    // The fresh-required method refuses a non-fresh token, accepts a fresh one.
    let status = account(&channel, "ChangeSecret", Some(&access))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unauthenticated, "Fresh token required")
    );
    assert_eq!(
        account(&channel, "ChangeSecret", Some(&fresh))
            .await
            .unwrap()
            .sub,
        "1"
    );

    // A revoked token is refused.
    jwt.revoke(&jwt.decode_token(&access).unwrap())
        .await
        .unwrap();
    let status = check(&channel, Some(&access)).await.unwrap_err();
    assert_eq!(status.message(), "Token has been revoked");
    server.abort();
}

#[tokio::test]
async fn a_service_can_have_its_own_guard() {
    let jwt = super::manager();
    let (listener, addr) = listener().await;
    let (_, health) = tonic_health::server::health_reporter();
    let server = tokio::spawn(
        Server::builder()
            .add_service(FreshRequiredLayer::new(&jwt).layer(health))
            .add_service(JwtRequiredLayer::new(&jwt).layer(AccountServer))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = connect(addr).await;
    let (access, fresh, _) = tokens(&jwt);
    let status = check(&channel, Some(&access)).await.unwrap_err();
    assert_eq!(status.message(), "Fresh token required");
    assert_eq!(
        check(&channel, Some(&fresh)).await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        account(&channel, "WhoAmI", Some(&access))
            .await
            .unwrap()
            .sub,
        "1"
    );
    server.abort();
}

/// The example's one port: HTTP login for gRPC clients, then gRPC with the token.
async fn serve_example(jwt: &JwtManager) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let (listener, addr) = listener().await;
    let routes = example::routes(jwt, super::users());
    let server = tokio::spawn(async move {
        Server::builder()
            .accept_http1(true)
            .add_routes(routes)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (addr, server)
}

/// Logs the demo user in over HTTP; its access token.
async fn http_login(addr: SocketAddr) -> String {
    http_login_as(addr, "demo@example.com", "demo password").await
}

async fn http_login_as(addr: SocketAddr, email: &str, password: &str) -> String {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake::<_, Full<bytes::Bytes>>(
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::post("/auth/token")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::from(
            serde_json::json!({ "email": email, "password": password }).to_string(),
        ))
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(10), send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn one_port_serves_login_and_grpc() {
    let jwt = super::manager();
    let (addr, server) = serve_example(&jwt).await;
    let token = http_login(addr).await;
    let channel = connect(addr).await;
    assert_eq!(
        check(&channel, Some(&token)).await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        check(&channel, None).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let me = account(&channel, "WhoAmI", Some(&token)).await.unwrap();
    assert_eq!((me.sub.as_str(), me.fresh), ("1", true));
    server.abort();
}

/// The example's Admin service has its own guard, which requires the role `admin`: the
/// admin's token (logged in over HTTP) is served, the demo user's valid token is
/// `PERMISSION_DENIED`, no token or an unusable one stays `UNAUTHENTICATED`; the other
/// services still serve the demo user.
#[tokio::test]
async fn example_admin_service_requires_the_admin_role() {
    let jwt = super::manager();
    let (addr, server) = serve_example(&jwt).await;
    let user = http_login(addr).await;
    let admin = http_login_as(addr, "admin@example.com", "admin password").await;
    let channel = connect(addr).await;

    assert_eq!(
        admin_hello(&channel, Some(&admin)).await.unwrap().msg,
        "hello admin 2"
    );
    let status = admin_hello(&channel, Some(&user)).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::PermissionDenied, "Role required: admin")
    );
    let status = admin_hello(&channel, None).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unauthenticated, "Missing Authorization Header")
    );
    // Authentication comes first: the admin's refresh token is no access token.
    let refresh = jwt.create_refresh_token("2").unwrap();
    let status = admin_hello(&channel, Some(&refresh)).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unauthenticated, "Only non-refresh tokens are allowed")
    );

    // The demo user is still served where no role is required.
    assert_eq!(
        account(&channel, "WhoAmI", Some(&user)).await.unwrap().sub,
        "1"
    );
    assert_eq!(
        check(&channel, Some(&user)).await.unwrap(),
        ServingStatus::Serving
    );

    // A revoked admin token is UNAUTHENTICATED, not served.
    jwt.revoke(&jwt.decode_token(&admin).unwrap())
        .await
        .unwrap();
    let status = admin_hello(&channel, Some(&admin)).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unauthenticated, "Token has been revoked")
    );
    server.abort();
}

/// The example adds the Admin service after the router-wide guard: only its own guard
/// runs on it (each guard asks the user lookup once), while Account still has the
/// router-wide one.
#[tokio::test]
async fn example_admin_service_is_guarded_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let lookups = Arc::new(AtomicUsize::new(0));
    let counter = lookups.clone();
    let jwt = JwtManager::builder()
        .secret(super::SECRET)
        .additional_claims(super::demo::claims)
        .user_lookup(move |_: &tower_jwt_auth::VerifiedToken| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Some(()) }
        })
        .build()
        .unwrap();
    let (addr, server) = serve_example(&jwt).await;
    let channel = connect(addr).await;
    let admin = jwt.create_access_token("2").unwrap();

    assert_eq!(
        admin_hello(&channel, Some(&admin)).await.unwrap().msg,
        "hello admin 2"
    );
    assert_eq!(lookups.swap(0, Ordering::SeqCst), 1, "Admin: one guard");
    assert_eq!(
        account(&channel, "WhoAmI", Some(&admin)).await.unwrap().sub,
        "2"
    );
    assert_eq!(lookups.load(Ordering::SeqCst), 1, "Account: one guard");
    server.abort();
}

/// `require_role` on a guard given to `Server::builder().add_service`, with tokens minted
/// with `TokenOptions::roles`.
#[tokio::test]
async fn a_service_guard_can_require_a_role() {
    let jwt = super::manager();
    let (listener, addr) = listener().await;
    let server = tokio::spawn(
        Server::builder()
            .add_service(
                JwtRequiredLayer::new(&jwt)
                    .require_role("admin")
                    .layer(AdminServer),
            )
            .add_service(JwtRequiredLayer::new(&jwt).layer(AccountServer))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = connect(addr).await;
    let admin = jwt
        .create_access_token_with("ada", TokenOptions::new().roles(["admin"]))
        .unwrap();
    let other = jwt
        .create_access_token_with("bob", TokenOptions::new().roles(["auditor"]))
        .unwrap();
    assert_eq!(
        admin_hello(&channel, Some(&admin)).await.unwrap().msg,
        "hello admin ada"
    );
    assert_eq!(
        admin_hello(&channel, Some(&other))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        admin_hello(&channel, None).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(
        account(&channel, "WhoAmI", Some(&other)).await.unwrap().sub,
        "bob"
    );
    server.abort();
}

fn python_grpc() -> Option<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import grpc, grpc_health.v1.health_pb2"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    let reason = format!("{python} with grpcio and grpcio-health-checking is not available (pip install grpcio grpcio-health-checking)");
    skip::skip("Python gRPC test", &reason);
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_client() {
    let Some(python) = python_grpc() else { return };
    let jwt = super::manager();
    let (addr, server) = serve_example(&jwt).await;
    let token = http_login(addr).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/health_check_client.py"
    );
    let result = run_python(python, script, vec![addr.to_string(), token]).await;
    assert_eq!(
        result,
        serde_json::json!({
            "without": {"code": "UNAUTHENTICATED", "details": "Missing Authorization Header"},
            "with": {"status": "SERVING"},
        })
    );
    server.abort();
}

/// Python's grpcio calls the example's admin-only method: `PERMISSION_DENIED` with the
/// demo user's token, OK with the admin's (both logged in over HTTP), `UNAUTHENTICATED`
/// without a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_admin_client() {
    let Some(python) = python_grpc() else { return };
    let jwt = super::manager();
    let (addr, server) = serve_example(&jwt).await;
    let user = http_login(addr).await;
    let admin = http_login_as(addr, "admin@example.com", "admin password").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/admin_client.py");
    let result = run_python(python, script, vec![addr.to_string(), user, admin]).await;
    assert_eq!(
        result,
        serde_json::json!({
            "without": {"code": "UNAUTHENTICATED", "details": "Missing Authorization Header"},
            "user": {"code": "PERMISSION_DENIED", "details": "Role required: admin"},
            "admin": {"code": "OK", "msg": "hello admin 2"},
        })
    );
    server.abort();
}

/// Runs a Python client script with `args`; its JSON output (it must succeed).
async fn run_python(python: String, script: &'static str, args: Vec<String>) -> Value {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
