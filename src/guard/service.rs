//! [`Guard`]: the service that verifies each request before its inner service sees it.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::future::ResponseFuture;
use super::request_body::{self, Reading, RequestBody};
use super::response_body::ResponseBody;
use super::{Anonymous, GuardConfig};
use crate::claims::VerifiedToken;
use crate::telemetry;
use crate::verify::{Admitted, RequestView, Verdict};

/// Lets a request through: the verified token into its extensions, or for a request
/// without one, why (what a required extractor answers). Gives back the token when the
/// response is to refresh its cookie.
pub(super) fn admit<B>(
    config: &Arc<GuardConfig>,
    admitted: Admitted,
    req: &mut Request<B>,
) -> Option<VerifiedToken> {
    config.route.admit(&admitted);
    telemetry::guard_accepted(matches!(admitted, Admitted::Anonymous(_)));
    match admitted {
        Admitted::Token(token) => {
            let due = config.refresh_due(&token).then(|| token.clone());
            req.extensions_mut().insert(token);
            due
        }
        Admitted::Anonymous(why) => {
            req.extensions_mut().insert(Anonymous {
                why,
                config: config.clone(),
            });
            None
        }
    }
}

/// A service guarded by a JWT requirement; built by a [`GuardLayer`](super::GuardLayer).
/// See the [module docs](crate::guard).
pub struct Guard<S, K> {
    inner: S,
    pub(super) config: Arc<GuardConfig>,
    _kind: PhantomData<fn() -> K>,
}

impl<S, K> Guard<S, K> {
    pub(super) fn new(inner: S, config: Arc<GuardConfig>) -> Self {
        Self {
            inner,
            config,
            _kind: PhantomData,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the guard, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, K> Clone for Guard<S, K> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.config.clone())
    }
}

impl<S: fmt::Debug, K> fmt::Debug for Guard<S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("inner", &self.inner)
            .field("requirement", &self.config.route.requirement)
            .finish_non_exhaustive()
    }
}

impl<S, K, ReqBody, ResBody> Service<Request<ReqBody>> for Guard<S, K>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>> + Clone,
    ReqBody: Body<Data = Bytes>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let route = &self.config.route;
        if route.needs_body(&RequestView::of(&req)) {
            let limit = route.body_limit();
            if !request_body::declared_too_large(&req, limit) {
                let (parts, body) = req.into_parts();
                let reading = Reading::new(body, limit);
                let ready = take_ready(&mut self.inner);
                return ResponseFuture::reading(reading, parts, ready, self.config.clone());
            }
            // Not read at all: refused, or on an optional route, verified as if it held
            // nothing and handed on untouched.
            if !route.requirement.optional {
                let err = request_body::too_large(limit);
                return ResponseFuture::rejected(self.config.refuse(
                    req.headers(),
                    req.extensions(),
                    err,
                ));
            }
        }
        let timer = telemetry::guard_timer();
        let verdict = route.verify(&RequestView::of(&req));
        if let Verdict::Ready(decided) = &verdict {
            telemetry::guard_duration(timer, decided.is_ok());
        }
        let req = req.map(RequestBody::new);
        ResponseFuture::decided(&self.config, verdict, req, &mut self.inner)
    }
}

/// The service that was driven to readiness, to go with a request whose verification must
/// be awaited; a clone stays behind for the next call.
pub(super) fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}
