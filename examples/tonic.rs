//! gRPC with tonic: the standard `grpc.health.v1.Health` service (from `tonic-health`) and
//! a small `example.v1.Account` service, every method guarded by `JwtRequired`, an
//! `example.v1.Admin` service behind its own guard that also requires the role `admin`
//! (`PERMISSION_DENIED` for anyone else), plus the HTTP auth service (login, refresh,
//! revoke) for gRPC clients, all on one port.
//!
//! Run it with `cargo run --example tonic --features tonic,axum`, then:
//!
//! ```sh
//! TOKEN=$(curl -s 127.0.0.1:50051/auth/token -H 'content-type: application/json' \
//!      -d '{"email":"demo@example.com","password":"demo password"}' | jq -r .access_token)
//! grpcurl -plaintext -H "authorization: Bearer $TOKEN" 127.0.0.1:50051 grpc.health.v1.Health/Check
//! grpcurl -plaintext 127.0.0.1:50051 grpc.health.v1.Health/Check   # Unauthenticated
//! ```
//!
//! `example.v1.Admin/Hello` answers tokens of `admin@example.com` / `"admin password"`
//! (they carry `roles: ["admin"]`) and `PermissionDenied` "Role required: admin" to the demo
//! user's. Without a `.proto`, grpcurl cannot call it; the tests call it with tonic's client
//! and Python's grpcio.
//!
//! Environment: `GRPC_ADDR` (default `127.0.0.1:50051`), `JWT_SECRET_KEY` (default: random).
//!
//! To guard a plain tonic server, the layer goes on the builder:
//! `Server::builder().layer(JwtRequiredLayer::new(&jwt)).add_service(...)`. A single service
//! can have its own guard: `.add_service(FreshRequiredLayer::new(&jwt).layer(svc))`, with
//! requirements of its own: `JwtRequiredLayer::new(&jwt).require_role("admin").layer(svc)`.
//! No `.proto` is compiled: the messages are written with `prost`'s derive.

#[path = "demo/mod.rs"]
mod demo;

use std::convert::Infallible;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::{Request, Response, Status};
use tower::{service_fn, Layer, Service};
use tower_jwt_auth::service::{AuthService, MemoryUserStore};
use tower_jwt_auth::tonic::RequestExt;
use tower_jwt_auth::{JwtManager, JwtRequiredLayer};

/// `example.v1.Empty`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

/// `example.v1.WhoAmIReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WhoAmIReply {
    /// The caller's identity.
    #[prost(string, tag = "1")]
    pub sub: String,
    /// Whether the caller's token is fresh.
    #[prost(bool, tag = "2")]
    pub fresh: bool,
}

/// A hand-written tonic service (no `protoc` needed): its unary methods by path.
macro_rules! grpc_service {
    ($server:ty { $($path:literal => $method:expr),* $(,)? }) => {
        impl<B> Service<http::Request<B>> for $server
        where
            B: http_body::Body + Send + 'static,
            B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
        {
            type Response = http::Response<Body>;
            type Error = Infallible;
            type Future =
                tower_jwt_auth::BoxFuture<'static, Result<Self::Response, Infallible>>;

            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, req: http::Request<B>) -> Self::Future {
                Box::pin(async move {
                    let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
                    Ok(match req.uri().path() {
                        $($path => grpc.unary(service_fn($method), req).await,)*
                        _ => Status::unimplemented("no such method").into_http(),
                    })
                })
            }
        }
    };
}

/// `example.v1.Account`: `WhoAmI` needs a valid token; `ChangeSecret` a fresh one.
#[derive(Clone, Debug, Default)]
pub struct AccountServer;

impl NamedService for AccountServer {
    const NAME: &'static str = "example.v1.Account";
}

async fn who_am_i(req: Request<Empty>) -> Result<Response<WhoAmIReply>, Status> {
    let token = req
        .verified_token()
        .ok_or_else(|| Status::internal("no guard on this service"))?;
    Ok(Response::new(WhoAmIReply {
        sub: token.identity().to_owned(),
        fresh: req.require_fresh().is_ok(),
    }))
}

async fn change_secret(req: Request<Empty>) -> Result<Response<WhoAmIReply>, Status> {
    let token = req.require_fresh()?;
    Ok(Response::new(WhoAmIReply {
        sub: token.identity().to_owned(),
        fresh: true,
    }))
}

grpc_service!(AccountServer {
    "/example.v1.Account/WhoAmI" => who_am_i,
    "/example.v1.Account/ChangeSecret" => change_secret,
});

/// `example.v1.HelloReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    /// A greeting naming the caller.
    #[prost(string, tag = "1")]
    pub msg: String,
}

/// `example.v1.Admin`: `Hello`, for tokens with the role `admin` only. The requirement is
/// its guard's (see [`routes`]): the handler sees admins only.
#[derive(Clone, Debug, Default)]
pub struct AdminServer;

impl NamedService for AdminServer {
    const NAME: &'static str = "example.v1.Admin";
}

async fn hello_admin(req: Request<Empty>) -> Result<Response<HelloReply>, Status> {
    let id = req
        .identity()
        .ok_or_else(|| Status::internal("no guard on this service"))?;
    Ok(Response::new(HelloReply {
        msg: format!("hello admin {id}"),
    }))
}

grpc_service!(AdminServer {
    "/example.v1.Admin/Hello" => hello_admin,
});

/// gRPC (Health and Account behind `JwtRequired`, Admin behind its own `JwtRequired` that
/// requires the role `admin`) and the HTTP auth service under `/auth`, as one set of routes
/// for one port.
pub fn routes(jwt: &JwtManager, users: MemoryUserStore) -> Routes {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let grpc = Routes::new(health)
        .add_service(AccountServer)
        .into_axum_router()
        .layer(JwtRequiredLayer::new(jwt));
    let http = axum::Router::new().nest_service("/auth", AuthService::new(jwt, users));
    // Added after `.layer(...)`, so the router-wide guard does not run on it too: the token
    // is verified once, by the guard that also checks the role.
    let admin = JwtRequiredLayer::new(jwt)
        .require_role("admin")
        .layer(AdminServer);
    Routes::from(grpc.merge(http)).add_service(admin)
}

#[allow(dead_code)] // the tests include this file as a module
#[tokio::main]
async fn main() {
    let (jwt, users) = demo::demo();

    let addr = std::env::var("GRPC_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:50051".into())
        .parse()
        .expect("GRPC_ADDR is host:port");
    println!(
        "gRPC and HTTP on {addr}; log in as demo@example.com / \"demo password\" at POST /auth/token"
    );
    tonic::transport::Server::builder()
        .accept_http1(true)
        .add_routes(routes(&jwt, users))
        .serve(addr)
        .await
        .expect("serve");
}
