//! A minimal axum app with public, optional, required, fresh-only and admin-only routes and
//! the auth service mounted under `/auth`. Log in as `admin@example.com` /
//! `"admin password"` for `/admin`; the demo user's token gets 403 `insufficient_scope`.
//!
//! Run it with `cargo run --example axum --features axum`, then:
//!
//! ```sh
//! curl -s localhost:3000/auth/token -H 'content-type: application/json' \
//!      -d '{"email":"demo@example.com","password":"demo password"}'
//! curl -s localhost:3000/me -H "Authorization: Bearer <access_token>"
//! ```
//!
//! Environment: `APP_ADDR` (default `127.0.0.1:3000`), `JWT_SECRET_KEY` (default: random).

#[path = "demo/mod.rs"]
mod demo;

use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tower_jwt_auth::axum::{Claims, Identity};
use tower_jwt_auth::service::{AuthService, MemoryUserStore};
use tower_jwt_auth::{
    FreshRequiredLayer, JwtManager, JwtOptionalLayer, JwtRequiredLayer, VerifiedToken,
};

/// The routes, given a manager and the users who can log in. Each guard `for_axum()`: it
/// hands on and answers axum's own body (the plain layer works too, at two more
/// allocations per request).
pub fn app(jwt: &JwtManager, users: MemoryUserStore) -> Router {
    Router::new()
        .route("/", get(|| async { Json(json!({"msg": "public"})) }))
        .route(
            "/hello",
            get(hello).route_layer(JwtOptionalLayer::new(jwt).for_axum()),
        )
        .route(
            "/me",
            get(me).route_layer(JwtRequiredLayer::new(jwt).for_axum()),
        )
        .route(
            "/sensitive",
            post(sensitive).route_layer(FreshRequiredLayer::new(jwt).for_axum()),
        )
        .route(
            "/admin",
            get(admin).route_layer(JwtRequiredLayer::new(jwt).require_role("admin").for_axum()),
        )
        .nest_service("/auth", AuthService::new(jwt, users))
}

/// Anyone; greets by name when a valid token comes along.
async fn hello(who: Option<Identity>) -> Json<Value> {
    match who {
        Some(Identity(id)) => Json(json!({"msg": format!("hello user {id}")})),
        None => Json(json!({"msg": "hello stranger"})),
    }
}

#[derive(Deserialize)]
struct Standard {
    sub: String,
    exp: u64,
    fresh: Value,
}

/// A valid access token: typed claims and the whole verified token.
async fn me(Claims(claims): Claims<Standard>, token: VerifiedToken) -> Json<Value> {
    Json(json!({
        "sub": claims.sub,
        "exp": claims.exp,
        "fresh": claims.fresh,
        "jti": token.jti(),
        "location": token.location().map(|l| l.as_str()),
    }))
}

/// Only with a fresh token (straight from `/auth/token`, not from `/auth/refresh`).
async fn sensitive(Identity(id): Identity) -> Json<Value> {
    Json(json!({"msg": format!("sensitive action done for user {id}")}))
}

/// Only with a token carrying the role `admin` (the guard answers 403 to anyone else).
async fn admin(Identity(id): Identity) -> Json<Value> {
    Json(json!({"msg": format!("hello admin {id}")}))
}

#[allow(dead_code)] // the tests include this file as a module
#[tokio::main]
async fn main() {
    let (jwt, users) = demo::demo();

    let addr = std::env::var("APP_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .expect("bind APP_ADDR");
    println!("listening on http://{addr}; log in as demo@example.com / \"demo password\" at POST /auth/token");
    axum::serve(listener, app(&jwt, users)).await.unwrap();
}
