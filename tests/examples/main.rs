//! The examples, driven over real loopback connections with real clients: the hyper
//! example with a hyper client, the tonic example with tonic's client and Python's grpcio,
//! the axum example through its router.
#![cfg(all(feature = "axum", feature = "tonic"))]
// Each example includes the shared `examples/demo` module; this crate includes all three.
#![allow(clippy::duplicate_mod)]

#[path = "../../examples/demo/mod.rs"]
#[allow(dead_code)]
mod demo;

mod axum_app;
mod hyper_app;
mod tonic_app;

pub const SECRET: &str = "examples-test-secret-0123456789abcdefgh";

/// The examples' manager (`demo::demo`) with a fixed secret: user `2`'s tokens carry the
/// role `admin`.
pub fn manager() -> tower_jwt_auth::JwtManager {
    tower_jwt_auth::JwtManager::builder()
        .secret(SECRET)
        .additional_claims(demo::claims)
        .build()
        .unwrap()
}

pub fn users() -> tower_jwt_auth::service::MemoryUserStore {
    let users = tower_jwt_auth::service::MemoryUserStore::new();
    users
        .add_user("demo@example.com", "1", "demo password")
        .unwrap();
    users
        .add_user("admin@example.com", "2", "admin password")
        .unwrap();
    users
}
