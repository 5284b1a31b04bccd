//! # tower-jwt-auth
//!
//! Flask-JWT-Extended's authentication model for [Tower]: issue access and refresh tokens
//! with a [`JwtManager`], and guard routes of any axum, hyper or tonic service with
//! [`JwtRequiredLayer`], [`JwtOptionalLayer`], [`RefreshRequiredLayer`] and
//! [`FreshRequiredLayer`]. Verified tokens land in request extensions as
//! [`VerifiedToken`]; revoked tokens are refused through a [`Denylist`](denylist::Denylist).
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
mod error;
pub mod guard;
pub mod issue;
pub mod jwks;
pub mod keys;
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

/// A boxed, sendable future, as the [`Denylist`](denylist::Denylist) methods and the hooks
/// return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

// The root holds what the quick start names; everything else is reached through its module,
// and every type has exactly one public path (`tests/public_api.rs` checks both).
pub use claims::verified::VerifiedToken;
pub use config::BuildError;
pub use error::{AuthError, ErrorKind};
pub use manager::handle::JwtManager;

/// Requires a valid access token: Flask-JWT-Extended's `@jwt_required()`. Its service is
/// [`guard::JwtRequired`].
pub type JwtRequiredLayer = guard::GuardLayer<guard::kind::Required>;
/// Lets requests without a token through: `@jwt_required(optional=True)`. Its service is
/// [`guard::JwtOptional`].
pub type JwtOptionalLayer = guard::GuardLayer<guard::kind::Optional>;
/// Requires a valid refresh token: `@jwt_required(refresh=True)`. Its service is
/// [`guard::RefreshRequired`].
pub type RefreshRequiredLayer = guard::GuardLayer<guard::kind::Refresh>;
/// Requires a valid fresh access token: `@jwt_required(fresh=True)`. Its service is
/// [`guard::FreshRequired`].
pub type FreshRequiredLayer = guard::GuardLayer<guard::kind::Fresh>;

/// [jsonwebtoken](https://docs.rs/jsonwebtoken) 12, whose [`Algorithm`](jsonwebtoken::Algorithm),
/// [`EncodingKey`](jsonwebtoken::EncodingKey) and [`DecodingKey`](jsonwebtoken::DecodingKey)
/// appear in this crate's signatures ([`keys::JwtKey`], the builder's `algorithm`, `key_pair`
/// and `verification_key`).
///
/// **Policy**: jsonwebtoken is a public dependency. It is re-exported whole, so that the
/// version you name is always the one this crate uses, and its semver-compatible version
/// (12) is part of this crate's: moving to a semver-incompatible version of jsonwebtoken is
/// a breaking release of tower-jwt-auth, named in the CHANGELOG. The same holds for the
/// other crates whose types appear in this crate's signatures: `http` 1, `http-body` 1,
/// `tower-service` / `tower-layer` 0.3, and behind their features `axum-core` 0.5 (`axum`),
/// `tonic` 0.14 (`tonic`) and `reqwest` 0.12 (`jwks`, re-exported as `jwks::reqwest`).
/// `tests/public_api.rs` records the version of each re-exported crate.
pub use jsonwebtoken;

/// The [cookie](https://docs.rs/cookie) crate (0.18), whose `Cookie` the
/// [`Cookies`](cookies::Cookies) helpers return for cookie jars (e.g. axum-extra's).
///
/// **Policy**: as for [`jsonwebtoken`]: a public dependency, re-exported whole; a
/// semver-incompatible version of it (0.18 → 0.19) is a breaking release of this crate. The builder takes this crate's own
/// [`cookies::SameSite`], so the settings never name it.
pub use cookie;
