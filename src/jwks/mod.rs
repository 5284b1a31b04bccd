//! JWKS: publishing a manager's public keys ([`JwksService`], mounted at
//! `/.well-known/jwks.json`), and (feature `jwks`) verifying an outside issuer's tokens
//! through its published keys ([`RemoteJwks`]).
//!
//! Only public keys are published: `kty`, `kid`, `alg`, `use: "sig"` and the public members
//! (RSA `n`/`e`, EC `crv`/`x`/`y`, OKP `crv`/`x`). HMAC secrets never are: a manager with only
//! secrets answers 404.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use http::{Request, StatusCode};
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//! use tower_jwt_auth::jwks::JwksService;
//! use tower_jwt_auth::JwtManager;
//! use tower_jwt_auth::jsonwebtoken::Algorithm;
//! use tower_jwt_auth::keys::JwtKey;
//!
//! # let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/catalogue/keys/ec_private.pem")).unwrap();
//! let key = JwtKey::from_pem(Algorithm::ES256, &pem).unwrap();
//! let kid = key.kid().unwrap().to_owned(); // its RFC 7638 thumbprint
//! let manager = JwtManager::builder().key(key).build().unwrap();
//!
//! let res = JwksService::new(&manager)
//!     .oneshot(Request::get("/.well-known/jwks.json").body(()).unwrap())
//!     .await
//!     .unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! assert!(res.headers()["cache-control"].to_str().unwrap().contains("max-age"));
//! let body = res.into_body().collect().await.unwrap().to_bytes();
//! let jwks: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! assert_eq!(jwks["keys"][0]["kid"], kid.as_str());
//! assert_eq!(jwks["keys"][0]["crv"], "P-256");
//! assert!(jwks["keys"][0].get("d").is_none(), "no private member");
//!
//! // A manager with only a secret publishes nothing.
//! let hmac = JwtManager::builder().secret("an-example-secret-that-is-32-bytes!").build().unwrap();
//! let res = JwksService::new(&hmac).oneshot(Request::get("/").body(()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::NOT_FOUND);
//! # }
//! ```

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::Full;
use serde_json::{json, Value};
use tower_service::Service;

use crate::manager::JwtManager;
use crate::respond::{json_document, public_max_age};

#[cfg(feature = "jwks")]
mod fetch_error;
#[cfg(feature = "jwks")]
mod refresh;
#[cfg(feature = "jwks")]
mod remote;
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub use refresh::{RefreshHandle, StartError};
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub use remote::{JwksError, RemoteJwks, RemoteJwksBuilder};
/// The HTTP client the fetcher uses, for [`RemoteJwksBuilder::http_client`]: a
/// `reqwest::ClientBuilder` of the very version this crate builds with.
///
/// **Policy**: as for [`crate::jsonwebtoken`]: a public dependency (behind `jwks`),
/// re-exported whole; a semver-incompatible version of reqwest (0.12 → 0.13) is a breaking
/// release of this crate.
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub use reqwest;

impl JwtManager {
    /// The JWK set of the manager's public keys, `{"keys": [...]}` (HMAC secrets are never
    /// in it). Keys being rotated in are published as soon as they are added.
    pub fn jwks(&self) -> Value {
        let set = self.core().settings.keys.ring.load();
        let keys: Vec<Value> = set
            .keys
            .iter()
            .filter_map(|k| k.public_jwk.clone().map(Value::Object))
            .collect();
        json!({ "keys": keys })
    }
}

/// Serves a manager's [`jwks`](JwtManager::jwks) to `GET` (and `HEAD`), whatever the path:
/// mount it at `/.well-known/jwks.json`. `Cache-Control: public, max-age=300` by default,
/// 404 when there is no public key, 405 for other methods.
#[derive(Clone, Debug)]
#[must_use = "a service does nothing until it is mounted"]
pub struct JwksService {
    manager: JwtManager,
    cache_control: HeaderValue,
}

impl JwksService {
    /// Publishes `manager`'s public keys.
    pub fn new(manager: &JwtManager) -> Self {
        Self {
            manager: manager.clone(),
            cache_control: public_max_age(Duration::from_secs(300)),
        }
    }

    /// How long clients may cache the set (default 5 minutes). Keep it well under the time
    /// between adding a key and promoting it, so that verifiers know a key before it signs.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.cache_control = public_max_age(max_age);
        self
    }

    fn answer(&self, method: &Method) -> Response<Full<Bytes>> {
        json_document(
            method,
            self.manager.message_key(),
            &self.cache_control,
            "No public keys",
            || {
                let jwks = self.manager.jwks();
                let empty = jwks["keys"].as_array().is_none_or(Vec::is_empty);
                (!empty).then(|| Bytes::from(jwks.to_string()))
            },
        )
    }
}

impl<B> Service<Request<B>> for JwksService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ready(Ok(self.answer(req.method())))
    }
}
