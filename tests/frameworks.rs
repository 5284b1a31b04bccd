//! Each guard behind an axum `Router`, over tonic's body type with a gRPC request, and in a
//! bare hyper 1.x server reached over a real loopback connection.

#[path = "support/axum_get.rs"]
mod axum_support;
use axum_support::{axum_get, axum_get_with_challenge};

use std::convert::Infallible;
use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::issue::TokenOptions;
use tower_jwt_auth::{
    FreshRequiredLayer, JwtManager, JwtOptionalLayer, JwtRequiredLayer, RefreshRequiredLayer,
    VerifiedToken,
};

const SECRET: &str = "frameworks-test-secret-0123456789abcdef";

fn manager() -> JwtManager {
    JwtManager::builder().secret(SECRET).build().unwrap()
}

struct Tokens {
    access: String,
    fresh: String,
    refresh: String,
}

fn tokens(m: &JwtManager) -> Tokens {
    Tokens {
        access: m.create_access_token("alice").unwrap(),
        fresh: m
            .create_access_token_with("alice", TokenOptions::new().fresh(true))
            .unwrap(),
        refresh: m.create_refresh_token("alice").unwrap(),
    }
}

async fn whoami(token: Option<Extension<VerifiedToken>>) -> String {
    token.map_or_else(|| "anonymous".into(), |t| t.identity().to_owned())
}

fn axum_app(m: &JwtManager) -> Router {
    Router::new()
        .route(
            "/required",
            get(whoami).route_layer(JwtRequiredLayer::new(m)),
        )
        .route(
            "/optional",
            get(whoami).route_layer(JwtOptionalLayer::new(m)),
        )
        .route(
            "/refresh",
            get(whoami).route_layer(RefreshRequiredLayer::new(m)),
        )
        .route(
            "/fresh",
            get(whoami).route_layer(FreshRequiredLayer::new(m)),
        )
        .route("/public", get(whoami))
}

#[tokio::test]
async fn axum_router() {
    let m = manager();
    let t = tokens(&m);
    let app = axum_app(&m);
    let ok = |s: &str| (StatusCode::OK, s.to_owned());
    let err = |msg: &str| (StatusCode::UNAUTHORIZED, format!(r#"{{"msg":"{msg}"}}"#));

    assert_eq!(axum_get(&app, "/public", None).await, ok("anonymous"));
    assert_eq!(
        axum_get(&app, "/required", Some(&t.access)).await,
        ok("alice")
    );
    assert_eq!(
        axum_get(&app, "/required", None).await,
        err("Missing Authorization Header")
    );
    assert_eq!(
        axum_get(&app, "/required", Some(&t.refresh)).await,
        err("Only non-refresh tokens are allowed")
    );
    assert_eq!(axum_get(&app, "/optional", None).await, ok("anonymous"));
    assert_eq!(
        axum_get(&app, "/optional", Some(&t.access)).await,
        ok("alice")
    );
    assert_eq!(
        axum_get(&app, "/refresh", Some(&t.refresh)).await,
        ok("alice")
    );
    assert_eq!(
        axum_get(&app, "/refresh", Some(&t.access)).await,
        err("Only refresh tokens are allowed")
    );
    assert_eq!(axum_get(&app, "/fresh", Some(&t.fresh)).await, ok("alice"));
    assert_eq!(
        axum_get(&app, "/fresh", Some(&t.access)).await,
        err("Fresh token required")
    );

    // Router-wide layer too.
    let wide = Router::new()
        .route("/", get(whoami))
        .layer(JwtRequiredLayer::new(&m));
    assert_eq!(axum_get(&wide, "/", Some(&t.access)).await, ok("alice"));
    assert_eq!(axum_get(&wide, "/", None).await.0, StatusCode::UNAUTHORIZED);
}

const SCOPE_CHALLENGE: &str = r#"Bearer error="insufficient_scope", scope="orders:read""#;
const SCOPE_MESSAGE: &str = r#"{"msg":"Scope required: orders:read"}"#;

/// Tokens for the authorization tests: one without scopes or roles, one with the scope
/// `orders:read` (among others), one with another scope only, and an admin's.
struct Grants {
    plain: String,
    reader: String,
    writer: String,
    admin: String,
}

fn grants(m: &JwtManager) -> Grants {
    let with = |options: TokenOptions| m.create_access_token_with("alice", options).unwrap();
    Grants {
        plain: m.create_access_token("alice").unwrap(),
        reader: with(TokenOptions::new().scopes(["orders:write", "orders:read"])),
        writer: with(TokenOptions::new().scopes(["orders:write"])),
        admin: with(TokenOptions::new().roles(["admin"])),
    }
}

#[tokio::test]
async fn axum_route_requirements() {
    let m = manager();
    let g = grants(&m);
    let app = Router::new().route(
        "/orders",
        get(whoami).route_layer(JwtRequiredLayer::new(&m).require_scope("orders:read")),
    );

    // The guard's scope requirement.
    assert_eq!(
        axum_get_with_challenge(&app, "/orders", Some(&g.reader)).await,
        (StatusCode::OK, None, "alice".into())
    );
    for token in [&g.plain, &g.writer, &g.admin] {
        assert_eq!(
            axum_get_with_challenge(&app, "/orders", Some(token)).await,
            (
                StatusCode::FORBIDDEN,
                Some(SCOPE_CHALLENGE.into()),
                SCOPE_MESSAGE.into()
            )
        );
    }
    assert_eq!(
        axum_get_with_challenge(&app, "/orders", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// The `RequireRole` extractor, behind a guard without requirements, answers as a guard's
/// `require_role` does.
#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_require_role_extractor() {
    struct Admin;
    impl tower_jwt_auth::axum::Role for Admin {
        const NAME: &'static str = "admin";
    }
    async fn admin_only(token: tower_jwt_auth::axum::RequireRole<Admin>) -> String {
        format!("admin {}", token.identity())
    }

    let m = manager();
    let g = grants(&m);
    let app = Router::new().route(
        "/admin",
        get(admin_only).route_layer(JwtRequiredLayer::new(&m)),
    );
    assert_eq!(
        axum_get_with_challenge(&app, "/admin", Some(&g.admin)).await,
        (StatusCode::OK, None, "admin alice".into())
    );
    for token in [&g.plain, &g.reader] {
        assert_eq!(
            axum_get_with_challenge(&app, "/admin", Some(token)).await,
            (
                StatusCode::FORBIDDEN,
                Some(r#"Bearer error="insufficient_scope""#.into()),
                r#"{"msg":"Role required: admin"}"#.into()
            )
        );
    }
    assert_eq!(
        axum_get_with_challenge(&app, "/admin", None).await,
        (
            StatusCode::UNAUTHORIZED,
            Some("Bearer".into()),
            r#"{"msg":"Missing Authorization Header"}"#.into()
        )
    );
}

/// A gRPC "handler" over tonic's body type: answers OK with the identity it saw.
fn grpc_echo() -> impl tower::Service<
    Request<RequestBody<tonic::body::Body>>,
    Response = Response<tonic::body::Body>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(|req: Request<RequestBody<tonic::body::Body>>| async move {
        let who = req
            .extensions()
            .get::<VerifiedToken>()
            .map_or("anonymous".to_owned(), |t| t.identity().to_owned());
        let res = Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", "0")
            .header("x-identity", who)
            .body(tonic::body::Body::empty())
            .unwrap();
        Ok::<_, Infallible>(res)
    })
}

async fn grpc_call<L>(layer: L, token: Option<&str>) -> Result<String, tonic::Status>
where
    L: Layer<
        tower::util::BoxCloneService<
            Request<RequestBody<tonic::body::Body>>,
            Response<tonic::body::Body>,
            Infallible,
        >,
    >,
    L::Service: tower::Service<
        Request<tonic::body::Body>,
        Response = Response<tower_jwt_auth::guard::ResponseBody<tonic::body::Body>>,
        Error = Infallible,
    >,
{
    let mut req = Request::post("/grpc.health.v1.Health/Check")
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let svc = layer.layer(tower::util::BoxCloneService::new(grpc_echo()));
    let res = svc
        .oneshot(req.body(tonic::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "gRPC answers are HTTP 200");
    assert_eq!(res.headers()["content-type"], "application/grpc");
    match tonic::Status::from_header_map(res.headers()) {
        Some(status) if status.code() != tonic::Code::Ok => {
            // Trailers-only: nothing in the body.
            assert!(res
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .is_empty());
            Err(status)
        }
        _ => Ok(res.headers()["x-identity"].to_str().unwrap().to_owned()),
    }
}

#[tokio::test]
async fn tonic_body_and_grpc_rejections() {
    let m = manager();
    let t = tokens(&m);

    assert_eq!(
        grpc_call(JwtRequiredLayer::new(&m), Some(&t.access))
            .await
            .unwrap(),
        "alice"
    );
    let status = grpc_call(JwtRequiredLayer::new(&m), None)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(status.message(), "Missing Authorization Header");
    let status = grpc_call(JwtRequiredLayer::new(&m), Some(&t.refresh))
        .await
        .unwrap_err();
    assert_eq!(status.message(), "Only non-refresh tokens are allowed");

    assert_eq!(
        grpc_call(JwtOptionalLayer::new(&m), None).await.unwrap(),
        "anonymous"
    );
    assert_eq!(
        grpc_call(RefreshRequiredLayer::new(&m), Some(&t.refresh))
            .await
            .unwrap(),
        "alice"
    );
    let status = grpc_call(FreshRequiredLayer::new(&m), Some(&t.access))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (tonic::Code::Unauthenticated, "Fresh token required")
    );
    assert_eq!(
        grpc_call(FreshRequiredLayer::new(&m), Some(&t.fresh))
            .await
            .unwrap(),
        "alice"
    );
    // A message with characters gRPC must percent-encode survives the round trip.
    let lookup = JwtManager::builder()
        .secret(SECRET)
        .user_lookup(|_: &VerifiedToken| async { None::<()> })
        .build()
        .unwrap();
    let token = lookup.create_access_token("zoë 100%").unwrap();
    let status = grpc_call(JwtRequiredLayer::new(&lookup), Some(&token))
        .await
        .unwrap_err();
    assert_eq!(status.message(), "Error loading the user zoë 100%");
}

#[tokio::test]
async fn tonic_route_requirements() {
    let m = manager();
    let g = grants(&m);
    let orders = || JwtRequiredLayer::new(&m).require_scope("orders:read");

    assert_eq!(grpc_call(orders(), Some(&g.reader)).await.unwrap(), "alice");
    for token in [&g.plain, &g.writer] {
        let status = grpc_call(orders(), Some(token)).await.unwrap_err();
        assert_eq!(
            (status.code(), status.message()),
            (tonic::Code::PermissionDenied, "Scope required: orders:read")
        );
    }
    let status = grpc_call(orders(), None).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    let admin = || JwtRequiredLayer::new(&m).require_role("admin");
    assert_eq!(grpc_call(admin(), Some(&g.admin)).await.unwrap(), "alice");
    let status = grpc_call(admin(), Some(&g.reader)).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (tonic::Code::PermissionDenied, "Role required: admin")
    );
}

/// Serves `svc` with hyper on 127.0.0.1 for a bounded number of connections.
async fn serve_hyper<S>(svc: S, connections: usize) -> std::net::SocketAddr
where
    S: tower::Service<Request<hyper::body::Incoming>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Into<Response<tower_jwt_auth::guard::ResponseBody<Full<Bytes>>>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..connections {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = svc.clone().map_response(Into::into);
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let svc = hyper_util::service::TowerToHyperService::new(svc);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
    addr
}

async fn hyper_get(
    addr: std::net::SocketAddr,
    token: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let mut req = Request::get("/").header("host", "localhost");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        send.send_request(req.body(Full::default()).unwrap()),
    )
    .await
    .expect("answered within 10 s")
    .unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, challenge, String::from_utf8(body.to_vec()).unwrap())
}

fn hyper_echo() -> impl tower::Service<
    Request<RequestBody<hyper::body::Incoming>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send {
    service_fn(
        |req: Request<RequestBody<hyper::body::Incoming>>| async move {
            let who = req
                .extensions()
                .get::<VerifiedToken>()
                .map_or("anonymous".to_owned(), |t| t.identity().to_owned());
            Ok::<_, Infallible>(Response::new(Full::from(who)))
        },
    )
}

#[tokio::test]
async fn hyper_over_loopback() {
    let m = manager();
    let t = tokens(&m);

    let required = serve_hyper(
        ServiceBuilder::new()
            .layer(JwtRequiredLayer::new(&m))
            .service(hyper_echo()),
        3,
    )
    .await;
    assert_eq!(
        hyper_get(required, Some(&t.access)).await,
        (StatusCode::OK, None, "alice".into())
    );
    assert_eq!(
        hyper_get(required, None).await,
        (
            StatusCode::UNAUTHORIZED,
            Some("Bearer".into()),
            r#"{"msg":"Missing Authorization Header"}"#.into()
        )
    );
    assert_eq!(
        hyper_get(required, Some(&t.refresh)).await,
        (
            StatusCode::UNAUTHORIZED,
            Some(r#"Bearer error="invalid_token""#.into()),
            r#"{"msg":"Only non-refresh tokens are allowed"}"#.into()
        )
    );

    let optional = serve_hyper(
        ServiceBuilder::new()
            .layer(JwtOptionalLayer::new(&m))
            .service(hyper_echo()),
        2,
    )
    .await;
    assert_eq!(hyper_get(optional, None).await.2, "anonymous");
    assert_eq!(hyper_get(optional, Some(&t.access)).await.2, "alice");

    let refresh = serve_hyper(
        ServiceBuilder::new()
            .layer(RefreshRequiredLayer::new(&m))
            .service(hyper_echo()),
        2,
    )
    .await;
    assert_eq!(hyper_get(refresh, Some(&t.refresh)).await.0, StatusCode::OK);
    assert_eq!(
        hyper_get(refresh, Some(&t.access)).await.0,
        StatusCode::UNAUTHORIZED
    );

    let fresh = serve_hyper(
        ServiceBuilder::new()
            .layer(FreshRequiredLayer::new(&m))
            .service(hyper_echo()),
        2,
    )
    .await;
    assert_eq!(hyper_get(fresh, Some(&t.fresh)).await.0, StatusCode::OK);
    assert_eq!(
        hyper_get(fresh, Some(&t.access)).await.2,
        r#"{"msg":"Fresh token required"}"#
    );
}

#[tokio::test]
async fn hyper_route_requirements() {
    let m = manager();
    let g = grants(&m);
    let orders = serve_hyper(
        ServiceBuilder::new()
            .layer(JwtRequiredLayer::new(&m).require_scope("orders:read"))
            .service(hyper_echo()),
        4,
    )
    .await;
    assert_eq!(
        hyper_get(orders, Some(&g.reader)).await,
        (StatusCode::OK, None, "alice".into())
    );
    for token in [&g.plain, &g.writer] {
        assert_eq!(
            hyper_get(orders, Some(token)).await,
            (
                StatusCode::FORBIDDEN,
                Some(SCOPE_CHALLENGE.into()),
                SCOPE_MESSAGE.into()
            )
        );
    }
    assert_eq!(
        hyper_get(orders, None).await,
        (
            StatusCode::UNAUTHORIZED,
            Some("Bearer".into()),
            r#"{"msg":"Missing Authorization Header"}"#.into()
        )
    );

    let admin = serve_hyper(
        ServiceBuilder::new()
            .layer(JwtRequiredLayer::new(&m).require_role("admin"))
            .service(hyper_echo()),
        2,
    )
    .await;
    assert_eq!(
        hyper_get(admin, Some(&g.admin)).await,
        (StatusCode::OK, None, "alice".into())
    );
    assert_eq!(
        hyper_get(admin, Some(&g.reader)).await,
        (
            StatusCode::FORBIDDEN,
            Some(r#"Bearer error="insufficient_scope""#.into()),
            r#"{"msg":"Role required: admin"}"#.into()
        )
    );
}
