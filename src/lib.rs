//! # tower-jwt-auth
//!
//! Flask-JWT-Extended's authentication model for [Tower]: issue access and refresh tokens
//! with a [`JwtManager`], and guard routes of any axum, hyper or tonic service with
//! [`JwtRequiredLayer`], [`JwtOptionalLayer`], [`RefreshRequiredLayer`] and
//! [`FreshRequiredLayer`]. Verified tokens land in request extensions as
//! [`VerifiedToken`]; revoked tokens are refused through a [`Denylist`].
//!
//! Tokens use Flask-JWT-Extended's claim layout and messages, so Python services and this
//! crate accept each other's tokens.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{routing::get, Extension, Router};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_jwt_auth::{JwtManager, JwtRequiredLayer, VerifiedToken};
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .build()
//!     .unwrap();
//!
//! async fn me(Extension(token): Extension<VerifiedToken>) -> String {
//!     format!("hello {}", token.identity())
//! }
//! let app = Router::new()
//!     .route("/me", get(me))
//!     .layer(JwtRequiredLayer::new(&manager));
//!
//! // Accepted.
//! let token = manager.create_access_token("alice").unwrap();
//! let req = Request::get("/me")
//!     .header("Authorization", format!("Bearer {token}"))
//!     .body(axum::body::Body::empty())
//!     .unwrap();
//! assert_eq!(app.clone().oneshot(req).await.unwrap().status(), StatusCode::OK);
//!
//! // Rejected: a refresh token cannot reach an access route.
//! let refresh = manager.create_refresh_token("alice").unwrap();
//! let req = Request::get("/me")
//!     .header("Authorization", format!("Bearer {refresh}"))
//!     .body(axum::body::Body::empty())
//!     .unwrap();
//! assert_eq!(app.oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```
//!
//! [Tower]: https://docs.rs/tower

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]
#![deny(unreachable_pub)]

use std::future::Future;
use std::pin::Pin;

pub mod audit;
pub mod authorization;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
pub mod claims;
pub mod clock;
mod config;
pub mod cookies;
pub mod denylist;
pub mod error;
pub mod guard;
pub mod issue;
pub mod jwks;
pub mod manager;
pub mod metadata;
#[cfg(feature = "service")]
#[cfg_attr(docsrs, doc(cfg(feature = "service")))]
pub mod password;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis_connection;
pub mod respond;
#[cfg(feature = "service")]
#[cfg_attr(docsrs, doc(cfg(feature = "service")))]
pub mod service;
#[cfg(feature = "service")]
#[cfg_attr(docsrs, doc(cfg(feature = "service")))]
pub mod sessions;
pub mod telemetry;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[cfg(feature = "service")]
#[cfg_attr(docsrs, doc(cfg(feature = "service")))]
pub mod throttle;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub mod tonic;
mod verify;

/// The README's code blocks, compiled as doctests.
#[cfg(all(doctest, feature = "service"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// A boxed, sendable future, as the [`Denylist`] methods and the hooks return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub use claims::{Freshness, TokenType, VerifiedToken};
pub use config::keys::{JwtKey, KeyError, KeyInfo};
pub use config::{BuildError, Lifetime, TokenLocation};
pub use cookie::SameSite;
pub use cookies::Cookies;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use denylist::RedisDenylist;
pub use denylist::{Denylist, DenylistError, MemoryDenylist};
pub use error::{AuthError, ErrorKind};
pub use guard::{
    FreshRequired, FreshRequiredLayer, JwtOptional, JwtOptionalLayer, JwtRequired,
    JwtRequiredLayer, RefreshRequired, RefreshRequiredLayer,
};
pub use issue::{Fresh, IssueError, TokenOptions};
pub use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
pub use manager::{ClaimsVerdict, JwtManager, JwtManagerBuilder, LookupOutcome, RevokeError};
pub use respond::{DefaultErrorResponder, ErrorContext, ErrorResponder, StatusPolicy};
#[cfg(feature = "service")]
#[cfg_attr(docsrs, doc(cfg(feature = "service")))]
pub use service::{AuthService, MemoryUserStore, StoredUser, UserStore};
