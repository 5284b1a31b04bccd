//! Start-up shared by the `axum`, `hyper` and `tonic` examples (not an example itself).

use tower_jwt_auth::service::MemoryUserStore;
use tower_jwt_auth::JwtManager;

/// A manager signing with `JWT_SECRET_KEY` (a random key per start when unset), and two demo
/// users: `demo@example.com` / `demo password`, id `1`, and `admin@example.com` /
/// `admin password`, id `2`, whose tokens carry the role `admin` (see [`claims`]).
pub fn demo() -> (JwtManager, MemoryUserStore) {
    let secret = std::env::var("JWT_SECRET_KEY").unwrap_or_else(|_| {
        eprintln!("JWT_SECRET_KEY is not set: using a random key for this run");
        format!("{}{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4())
    });
    let jwt = JwtManager::builder()
        .secret(secret)
        .additional_claims(claims)
        .build()
        .expect("JWT settings");
    let users = MemoryUserStore::new();
    users
        .add_user("demo@example.com", "1", "demo password")
        .expect("hash the demo password");
    users
        .add_user("admin@example.com", "2", "admin password")
        .expect("hash the admin password");
    (jwt, users)
}

/// The claims every token of `identity` carries: `roles: ["admin"]` for user `2` (the
/// manager's default roles claim), nothing for anyone else.
pub fn claims(identity: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut claims = serde_json::Map::new();
    if identity == "2" {
        claims.insert("roles".into(), serde_json::json!(["admin"]));
    }
    claims
}
