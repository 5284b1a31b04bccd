//! [`AxumGuard`]: a guard that hands on and answers axum's own [`Body`], so that axum does
//! not box the guard's body types again (feature `axum`).
//!
//! A [`Guard`] hands its inner service a [`RequestBody<B>`] and answers a
//! [`ResponseBody<B>`]: any body type passes through it. Under axum both are boxed once more
//! by axum ([`Body::new`]), two allocations per request for nothing. [`GuardLayer::for_axum`]
//! builds the same guard with axum's `Body` on both sides: a body the guard did not read is
//! handed on as itself, a rejection is answered with its bytes. See
//! [`GuardLayer::for_axum`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum_core::body::Body;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::future::ResponseFuture;
use super::request_body::RequestBody;
use super::response_body::ResponseBody;
use super::service::Guard;
use super::GuardLayer;

impl<K> GuardLayer<K> {
    /// The same guard for axum: it hands on and answers axum's own [`Body`] (see
    /// [`AxumGuard`]). Use it in `route_layer` / `layer` of an axum `Router` or handler;
    /// call it last, after the layer's other settings (`require_role`, ...).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, routing::get, Router};
    /// use http::{Request, StatusCode};
    /// use tower::ServiceExt;
    /// use tower_jwt_auth::{JwtManager, JwtRequiredLayer, VerifiedToken};
    ///
    /// let jwt = JwtManager::builder()
    ///     .secret("an-example-secret-that-is-32-bytes!")
    ///     .build()
    ///     .unwrap();
    /// async fn whoami(token: VerifiedToken) -> String {
    ///     token.identity().to_owned()
    /// }
    /// let app = Router::new()
    ///     .route("/whoami", get(whoami))
    ///     .route_layer(JwtRequiredLayer::new(&jwt).for_axum());
    ///
    /// let token = jwt.create_access_token("alice").unwrap();
    /// let req = Request::get("/whoami")
    ///     .header("authorization", format!("Bearer {token}"))
    ///     .body(Body::empty())
    ///     .unwrap();
    /// let res = app.clone().oneshot(req).await.unwrap();
    /// assert_eq!(res.status(), StatusCode::OK);
    ///
    /// let req = Request::get("/whoami").body(Body::empty()).unwrap();
    /// assert_eq!(app.oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    /// # }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn for_axum(self) -> AxumGuardLayer<K> {
        AxumGuardLayer(self)
    }
}

/// Builds [`AxumGuard`]s: a [`GuardLayer`] for axum, from [`GuardLayer::for_axum`].
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct AxumGuardLayer<K>(GuardLayer<K>);

impl<K> Clone for AxumGuardLayer<K> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<K> fmt::Debug for AxumGuardLayer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AxumGuardLayer").field(&self.0).finish()
    }
}

impl<S, K> Layer<S> for AxumGuardLayer<K> {
    type Service = AxumGuard<S, K>;

    fn layer(&self, inner: S) -> Self::Service {
        AxumGuard(Guard::new(Unwrap(inner), self.0.config.clone()))
    }
}

/// A [`Guard`] for axum: the same checks, answers and extensions, with axum's [`Body`]
/// handed on and answered (no second boxing). Built by [`GuardLayer::for_axum`].
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub struct AxumGuard<S, K>(Guard<Unwrap<S>, K>);

impl<S, K> AxumGuard<S, K> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.0.get_ref().0
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.0.get_mut().0
    }

    /// Consumes the guard, returning the inner service.
    pub fn into_inner(self) -> S {
        self.0.into_inner().0
    }
}

impl<S: Clone, K> Clone for AxumGuard<S, K> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<S: fmt::Debug, K> fmt::Debug for AxumGuard<S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AxumGuard")
            .field("inner", self.get_ref())
            .field("requirement", &self.0.config.route.requirement)
            .finish_non_exhaustive()
    }
}

impl<S, K> Service<Request<Body>> for AxumGuard<S, K>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = AxumResponseFuture<S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        AxumResponseFuture {
            inner: self.0.call(req),
        }
    }
}

/// The inner service of an [`AxumGuard`], given axum's `Body` back.
#[derive(Clone, Debug)]
pub(crate) struct Unwrap<S>(S);

impl<S> Service<Request<RequestBody<Body>>> for Unwrap<S>
where
    S: Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<RequestBody<Body>>) -> Self::Future {
        self.0.call(req.map(RequestBody::into_axum))
    }
}

pin_project! {
    /// Response future of an [`AxumGuard`] (feature `axum`).
    pub struct AxumResponseFuture<S>
    where
        S: Service<Request<Body>>,
    {
        #[pin]
        inner: ResponseFuture<Unwrap<S>, Body>,
    }
}

impl<S> Future for AxumResponseFuture<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone,
{
    type Output = Result<Response<Body>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(self.project().inner.poll(cx))?;
        Poll::Ready(Ok(response.map(ResponseBody::into_axum)))
    }
}

impl<S: Service<Request<Body>>> fmt::Debug for AxumResponseFuture<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AxumResponseFuture").finish_non_exhaustive()
    }
}

impl RequestBody<Body> {
    /// axum's body: itself when the guard did not read it, else boxed (the bytes read, then
    /// the rest).
    fn into_axum(self) -> Body {
        match self.into_untouched() {
            Ok(body) => body,
            Err(read) => Body::new(read),
        }
    }
}

impl ResponseBody<Body> {
    /// axum's body: the inner service's as it is, or a rejection's bytes.
    fn into_axum(self) -> Body {
        match self.into_inner() {
            Ok(body) => body,
            Err(Some(bytes)) => Body::from(bytes),
            Err(None) => Body::empty(),
        }
    }
}
