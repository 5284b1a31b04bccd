//! The response future of a guard: reading the body when the token may be in it, awaiting
//! the checks that could not be decided at once, then the inner service (and an implicit
//! refresh of the access cookie on its response), or answering the rejection.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::request_body::{Read, Reading, RequestBody};
use super::response_body::ResponseBody;
use super::service::{admit, take_ready};
use super::GuardConfig;
use crate::claims::VerifiedToken;
use crate::error::AuthError;
use crate::verify::{Admitted, RequestView, Verdict};
use crate::BoxFuture;

pin_project! {
    /// Response future of a [`Guard`](super::Guard).
    pub struct ResponseFuture<S, ReqBody>
    where
        ReqBody: Body,
        S: Service<Request<RequestBody<ReqBody>>>,
    {
        #[pin]
        kind: Kind<S, ReqBody>,
    }
}

/// A token whose cookie the response refreshes, and the guard that does it.
struct Refresh {
    config: Arc<GuardConfig>,
    token: VerifiedToken,
}

/// Reading the body (a JSON location, or a form that may hold the CSRF value).
struct ReadingBody<S, ReqBody: Body> {
    reading: Reading<ReqBody>,
    parts: Parts,
    inner: S,
    config: Arc<GuardConfig>,
}

/// Awaiting the checks that could not be decided at once.
struct Checking<S, ReqBody: Body> {
    check: BoxFuture<'static, Result<Admitted, AuthError>>,
    inner: S,
    request: Request<RequestBody<ReqBody>>,
    config: Arc<GuardConfig>,
}

pin_project! {
    /// What the future is doing. The states that hold a request, or a response, are boxed:
    /// the usual one, the inner service's future, then moves without them (the future is
    /// returned and moved by value on every request).
    #[project = KindProj]
    enum Kind<S, ReqBody>
    where
        ReqBody: Body,
        S: Service<Request<RequestBody<ReqBody>>>,
    {
        Reading {
            state: Option<Box<ReadingBody<S, ReqBody>>>,
        },
        Checking {
            state: Option<Box<Checking<S, ReqBody>>>,
        },
        Inner {
            #[pin]
            future: S::Future,
            refresh: Option<Refresh>,
        },
        Rejected {
            response: Option<Box<Response<Bytes>>>,
        },
    }
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    ReqBody: Body<Data = Bytes>,
    S: Service<Request<RequestBody<ReqBody>>> + Clone,
{
    /// Acts on a verdict: the inner service's future for an admitted request, the
    /// rejection, or the checks to await (with the ready service).
    pub(super) fn decided(
        config: &Arc<GuardConfig>,
        verdict: Verdict,
        mut req: Request<RequestBody<ReqBody>>,
        inner: &mut S,
    ) -> Self {
        let kind = match verdict {
            Verdict::Ready(Ok(admitted)) => {
                let refresh = admit(config, admitted, &mut req).map(|token| Refresh {
                    config: config.clone(),
                    token,
                });
                Kind::Inner {
                    future: inner.call(req),
                    refresh,
                }
            }
            Verdict::Ready(Err(err)) => Kind::Rejected {
                response: Some(Box::new(config.refuse(
                    req.headers(),
                    req.extensions(),
                    err,
                ))),
            },
            Verdict::Pending(check) => Kind::Checking {
                state: Some(Box::new(Checking {
                    check,
                    inner: take_ready(inner),
                    request: req,
                    config: config.clone(),
                })),
            },
        };
        Self { kind }
    }

    /// A rejection decided before anything else.
    pub(super) fn rejected(response: Response<Bytes>) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(Box::new(response)),
            },
        }
    }

    /// Reads the body, then verifies the request with it.
    pub(super) fn reading(
        reading: Reading<ReqBody>,
        parts: Parts,
        inner: S,
        config: Arc<GuardConfig>,
    ) -> Self {
        Self {
            kind: Kind::Reading {
                state: Some(Box::new(ReadingBody {
                    reading,
                    parts,
                    inner,
                    config,
                })),
            },
        }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>> + Clone,
    ReqBody: Body<Data = Bytes>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            let next = match this.kind.as_mut().project() {
                KindProj::Inner { future, refresh } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(Refresh { config, token }) = refresh.take() {
                        config.refresh_cookies(&token, response.headers_mut());
                    }
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                KindProj::Rejected { response } => {
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                }
                KindProj::Reading { state } => {
                    let reading = &mut state.as_mut().expect("polled after completion").reading;
                    let Read { body, bytes } = ready!(reading.poll_read(cx));
                    let ReadingBody {
                        parts,
                        mut inner,
                        config,
                        ..
                    } = *state.take().expect("polled after completion");
                    // A body over the limit or unreadable: refused, or on an optional route,
                    // verified as if it held nothing (and handed on whole).
                    let bytes = match bytes {
                        Ok(bytes) => Some(bytes),
                        Err(_) if config.route.requirement.optional => None,
                        Err(err) => {
                            let response = config.refuse(&parts.headers, &parts.extensions, err);
                            return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                        }
                    };
                    let view = RequestView {
                        method: &parts.method,
                        headers: &parts.headers,
                        query: parts.uri.query(),
                        body: bytes.as_deref(),
                    };
                    let verdict = config.route.verify(&view);
                    Self::decided(
                        &config,
                        verdict,
                        Request::from_parts(parts, body),
                        &mut inner,
                    )
                }
                KindProj::Checking { state } => {
                    let check = &mut state.as_mut().expect("polled after completion").check;
                    let verdict = ready!(check.as_mut().poll(cx));
                    let Checking {
                        request,
                        mut inner,
                        config,
                        ..
                    } = *state.take().expect("polled after completion");
                    Self::decided(&config, Verdict::Ready(verdict), request, &mut inner)
                }
            };
            self.set(next);
        }
    }
}

impl<S, ReqBody> fmt::Debug for ResponseFuture<S, ReqBody>
where
    ReqBody: Body,
    S: Service<Request<RequestBody<ReqBody>>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
