//! The response future of a guard: awaiting the checks that could not be decided at once,
//! then the inner service, or answering the rejection.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::body::ResponseBody;
use super::GuardConfig;
use crate::error::AuthError;
use crate::verify::Admitted;
use crate::BoxFuture;

pin_project! {
    /// Response future of a [`Guard`](super::Guard).
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        kind: Kind<S, ReqBody>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Checking {
            check: BoxFuture<'static, Result<Admitted, AuthError>>,
            inner: S,
            request: Option<Request<ReqBody>>,
            config: Arc<GuardConfig>,
        },
        Inner {
            #[pin]
            future: S::Future,
        },
        Rejected {
            response: Option<Response<Bytes>>,
        },
    }
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(super) fn inner(future: S::Future) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    pub(super) fn rejected(response: Response<Bytes>) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(response),
            },
        }
    }

    pub(super) fn checking(
        check: BoxFuture<'static, Result<Admitted, AuthError>>,
        inner: S,
        request: Request<ReqBody>,
        config: Arc<GuardConfig>,
    ) -> Self {
        Self {
            kind: Kind::Checking {
                check,
                inner,
                request: Some(request),
                config,
            },
        }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            let future = match this.kind.as_mut().project() {
                KindProj::Inner { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                KindProj::Rejected { response } => {
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                }
                KindProj::Checking {
                    check,
                    inner,
                    request,
                    config,
                } => {
                    let verdict = ready!(check.as_mut().poll(cx));
                    let mut req = request.take().expect("polled after completion");
                    match verdict {
                        Ok(admitted) => {
                            super::service::admit(config, admitted, &mut req);
                            inner.call(req)
                        }
                        Err(err) => {
                            let response = config.reject(req.headers(), err);
                            return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                        }
                    }
                }
            };
            this.kind.set(Kind::Inner { future });
        }
    }
}

impl<S, ReqBody> fmt::Debug for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
