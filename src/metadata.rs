//! RFC 9728 protected resource metadata: [`ProtectedResourceService`], mounted at
//! `/.well-known/oauth-protected-resource`, publishes what OAuth and MCP clients need to
//! reach a resource guarded by a manager: its identifier (`resource`), the issuers whose
//! tokens it accepts (`authorization_servers`), how a token may be sent
//! (`bearer_methods_supported`) and, when given, its scopes (`scopes_supported`).
//!
//! The resource is named on the manager with
//! [`JwtManagerBuilder::protected_resource`](crate::manager::JwtManagerBuilder::protected_resource),
//! which also makes every 401 challenge carry `resource_metadata="<the document's URL>"`.
//! A manager that names no resource answers 404.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use http::{Request, StatusCode};
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//! use tower_jwt_auth::metadata::ProtectedResourceService;
//! use tower_jwt_auth::JwtManager;
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .protected_resource("https://api.example.com")
//!     .build()
//!     .unwrap();
//! assert_eq!(
//!     manager.resource_metadata_url(),
//!     Some("https://api.example.com/.well-known/oauth-protected-resource")
//! );
//!
//! let service = ProtectedResourceService::new(&manager)
//!     .authorization_server("https://login.example.com")
//!     .scopes_supported(["orders:read"]);
//! let req = Request::get("/.well-known/oauth-protected-resource").body(()).unwrap();
//! let res = service.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! let body = res.into_body().collect().await.unwrap().to_bytes();
//! let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! assert_eq!(doc["resource"], "https://api.example.com");
//! assert_eq!(doc["authorization_servers"][0], "https://login.example.com");
//! assert_eq!(doc["bearer_methods_supported"], serde_json::json!(["header"]));
//! assert_eq!(doc["scopes_supported"], serde_json::json!(["orders:read"]));
//! # }
//! ```

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::Full;
use serde_json::{json, Map, Value};
use tower_service::Service;

use crate::config::TokenLocation;
use crate::manager::JwtManager;
use crate::respond::{json_document, public_max_age};

/// RFC 6750's name for the parameter of the query method.
const ACCESS_TOKEN: &str = "access_token";

impl JwtManager {
    /// The protected resource metadata document (RFC 9728 §2) of the resource named with
    /// [`protected_resource`](crate::manager::JwtManagerBuilder::protected_resource); `None` when no
    /// resource is named.
    ///
    /// `authorization_servers` lists the issuers of the outside issuers the manager trusts
    /// (its `RemoteJwks`; `[]` when none; the manager's own issuer is not listed, being no
    /// OAuth authorization server: add one with `ProtectedResourceService::authorization_server`), `bearer_methods_supported` the RFC 6750 methods its token
    /// locations take: `header` for `Authorization: Bearer`, `query` for an `access_token`
    /// query parameter (RFC 6750's `body` is a form-encoded parameter, which the JSON
    /// location does not read; cookies are no bearer method; `[]` when none is taken).
    pub fn protected_resource_metadata(&self) -> Option<Value> {
        let resource = self.protected_resource()?;
        let settings = &self.core().settings;
        let mut issuers: Vec<&str> = Vec::new();
        for remote in &settings.keys.remotes {
            if !issuers.contains(&remote.trust.issuer.as_str()) {
                issuers.push(&remote.trust.issuer);
            }
        }
        let methods: Vec<&str> = settings
            .locations
            .iter()
            .filter_map(|location| match location {
                TokenLocation::Headers => (settings.header_name == AUTHORIZATION
                    && settings.header_type.eq_ignore_ascii_case("Bearer"))
                .then_some("header"),
                TokenLocation::QueryString => (settings.query.name == ACCESS_TOKEN
                    && settings.query.prefix.is_empty())
                .then_some("query"),
                // RFC 6750's "body" is a form-encoded `access_token`; the JSON location reads
                // JSON bodies, which a client told "body" would not send. Cookies are no
                // bearer method either.
                TokenLocation::Json | TokenLocation::Cookies => None,
            })
            .collect();
        let mut doc = Map::new();
        doc.insert("resource".into(), json!(resource));
        doc.insert("authorization_servers".into(), json!(issuers));
        doc.insert("bearer_methods_supported".into(), json!(methods));
        Some(Value::Object(doc))
    }
}

/// Serves a manager's [`protected_resource_metadata`](JwtManager::protected_resource_metadata)
/// to `GET` (and `HEAD`), whatever the path: mount it at
/// `/.well-known/oauth-protected-resource` (or at the path of
/// [`JwtManager::resource_metadata_url`] when the resource has one). The document is built
/// once, here. `Cache-Control: public, max-age=300` by default, 404 when the manager names
/// no resource, 405 for other methods.
#[derive(Clone, Debug)]
#[must_use = "a service does nothing until it is mounted"]
pub struct ProtectedResourceService {
    manager: JwtManager,
    servers: Vec<String>,
    scopes: Option<Vec<String>>,
    document: Option<Bytes>,
    cache_control: HeaderValue,
}

impl ProtectedResourceService {
    /// Publishes the metadata of `manager`'s protected resource.
    pub fn new(manager: &JwtManager) -> Self {
        let mut service = Self {
            manager: manager.clone(),
            servers: Vec::new(),
            scopes: None,
            document: None,
            cache_control: public_max_age(Duration::from_secs(300)),
        };
        service.render();
        service
    }

    /// Lists one more authorization server (its issuer identifier), after the issuers the
    /// manager trusts through `RemoteJwks`: e.g. the issuer of the manager's own tokens.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        if !self.servers.contains(&issuer) {
            self.servers.push(issuer);
        }
        self.render();
        self
    }

    /// The scopes the resource uses in authorization requests (`scopes_supported`, which
    /// RFC 9728 recommends); left out unless given.
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self.render();
        self
    }

    /// How long clients may cache the document (default 5 minutes).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.cache_control = public_max_age(max_age);
        self
    }

    fn render(&mut self) {
        self.document = self.manager.protected_resource_metadata().map(|mut doc| {
            if !self.servers.is_empty() {
                let servers = doc["authorization_servers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut all = servers;
                for server in &self.servers {
                    if !all.iter().any(|s| s == server.as_str()) {
                        all.push(json!(server));
                    }
                }
                doc["authorization_servers"] = Value::Array(all);
            }
            if let Some(scopes) = &self.scopes {
                doc["scopes_supported"] = json!(scopes);
            }
            Bytes::from(doc.to_string())
        });
    }

    fn answer(&self, method: &Method) -> Response<Full<Bytes>> {
        json_document(
            method,
            self.manager.message_key(),
            &self.cache_control,
            "No protected resource",
            || self.document.clone(),
        )
    }
}

impl<B> Service<Request<B>> for ProtectedResourceService {
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
