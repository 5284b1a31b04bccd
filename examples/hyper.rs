//! A bare hyper 1.x server (hyper-util) whose routes are wrapped with the guard layers by
//! `tower::ServiceBuilder`: no framework.
//!
//! Run it with `cargo run --example hyper`, then:
//!
//! ```sh
//! curl -s localhost:3000/token -H 'content-type: application/json' \
//!      -d '{"email":"demo@example.com","password":"demo password"}'
//! curl -s localhost:3000/me -H "Authorization: Bearer <access_token>"
//! ```
//!
//! `/admin` also requires the role `admin`: log in as `admin@example.com` /
//! `"admin password"` for it; the demo user's token gets 403 `insufficient_scope`.
//!
//! Environment: `APP_ADDR` (default `127.0.0.1:3000`), `JWT_SECRET_KEY` (default: random).

#[path = "demo/mod.rs"]
mod demo;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::service::{AuthService, MemoryUserStore};
use tower_jwt_auth::{JwtManager, JwtRequiredLayer, VerifiedToken};

type Body = BoxBody<Bytes, Infallible>;

/// A request as a guard hands it on: its `Incoming` body in a `RequestBody` (untouched, or
/// when tokens may come in JSON bodies, the bytes the guard read, then the rest).
type Guarded = Request<RequestBody<Incoming>>;

/// One service for the whole server: the auth service for `/token`, `/refresh` and
/// `/revoke`, `/me` behind `JwtRequired`, `/admin` behind `JwtRequired` with the role
/// `admin` required, 404 otherwise.
pub fn app(
    jwt: &JwtManager,
    users: MemoryUserStore,
) -> impl Service<Request<Incoming>, Response = Response<Body>, Error = Infallible, Future = impl Send>
       + Clone
       + Send
       + 'static {
    let auth = AuthService::new(jwt, users);
    let me = ServiceBuilder::new()
        .layer(JwtRequiredLayer::new(jwt))
        .service(service_fn(|req: Guarded| async move {
            let sub = req
                .extensions()
                .get::<VerifiedToken>()
                .map(|t| t.identity());
            let body = serde_json::json!({ "sub": sub }).to_string();
            Ok::<_, Infallible>(Response::new(Full::from(body)))
        }));
    // A valid token without the role is answered 403 by the guard, before the handler.
    let admin = ServiceBuilder::new()
        .layer(JwtRequiredLayer::new(jwt).require_role("admin"))
        .service(service_fn(|req: Guarded| async move {
            let sub = req
                .extensions()
                .get::<VerifiedToken>()
                .map(|t| t.identity());
            let body = serde_json::json!({ "msg": "admins only", "sub": sub }).to_string();
            Ok::<_, Infallible>(Response::new(Full::from(body)))
        }));
    service_fn(move |req: Request<Incoming>| {
        let (auth, me, admin) = (auth.clone(), me.clone(), admin.clone());
        async move {
            let res = match req.uri().path() {
                "/token" | "/refresh" | "/revoke" => auth.oneshot(req).await?.map(BodyExt::boxed),
                "/me" => me.oneshot(req).await?.map(BodyExt::boxed),
                "/admin" => admin.oneshot(req).await?.map(BodyExt::boxed),
                _ => {
                    let mut res = Response::new(Full::from(r#"{"msg":"Not found"}"#).boxed());
                    *res.status_mut() = StatusCode::NOT_FOUND;
                    res
                }
            };
            Ok::<_, Infallible>(res)
        }
    })
}

/// Accepts connections on `listener` and serves `app` on each.
pub async fn serve(listener: tokio::net::TcpListener, jwt: JwtManager, users: MemoryUserStore) {
    let app = app(&jwt, users);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[allow(dead_code)] // the tests include this file as a module
#[tokio::main]
async fn main() {
    let (jwt, users) = demo::demo();
    let addr = std::env::var("APP_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .expect("bind APP_ADDR");
    println!(
        "listening on http://{addr}; log in as demo@example.com / \"demo password\" at POST /token"
    );
    serve(listener, jwt, users).await;
}
