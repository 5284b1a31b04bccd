//! Start-up shared by the `axum`, `hyper` and `tonic` examples (not an example itself).

use tower_jwt_auth::{JwtManager, MemoryUserStore};

/// A manager signing with `JWT_SECRET_KEY` (a random key per start when unset), and one demo
/// user: `demo@example.com` / `demo password`, id `1`.
pub fn demo() -> (JwtManager, MemoryUserStore) {
    let secret = std::env::var("JWT_SECRET_KEY").unwrap_or_else(|_| {
        eprintln!("JWT_SECRET_KEY is not set: using a random key for this run");
        format!("{}{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4())
    });
    let jwt = JwtManager::builder()
        .secret(secret)
        .build()
        .expect("JWT settings");
    let users = MemoryUserStore::new();
    users
        .add_user("demo@example.com", "1", "demo password")
        .expect("hash the demo password");
    (jwt, users)
}
