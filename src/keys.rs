//! Signing and verification keys: a [`JwtKey`] per key (HMAC secret, PEM or JWK key pair,
//! public key) with its `kid`, what a key set holds ([`KeyInfo`]), and why a key could not be
//! added, promoted or retired ([`KeyError`]). The algorithms are jsonwebtoken's
//! ([`crate::jsonwebtoken::Algorithm`]; see the re-export's policy).
//!
//! # Example
//!
//! ```
//! use tower_jwt_auth::jsonwebtoken::Algorithm;
//! use tower_jwt_auth::keys::JwtKey;
//! use tower_jwt_auth::JwtManager;
//!
//! // Two HMAC keys, told apart by `kid`: the first signs, both verify.
//! let manager = JwtManager::builder()
//!     .key(JwtKey::hmac(Algorithm::HS256, "a-first-secret-of-at-least-32-bytes!!").unwrap().with_kid("2026-11"))
//!     .key(JwtKey::hmac(Algorithm::HS256, "a-second-secret-of-at-least-32-bytes!").unwrap().with_kid("2026-12"))
//!     .build()
//!     .unwrap();
//! let token = manager.create_access_token("ada").unwrap();
//! assert_eq!(manager.decode_token(&token).unwrap().identity(), "ada");
//!
//! // Rejected: a short secret.
//! assert!(JwtKey::hmac(Algorithm::HS256, "short").is_err());
//! ```

pub use crate::config::keys::{JwtKey, KeyError, KeyInfo};
