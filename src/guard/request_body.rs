//! [`RequestBody`]: the body a guard hands on to its inner service, whatever the body type
//! of the request it was given; and the reading behind it.
//!
//! A guard is generic over its request body, and a body cannot be rebuilt from bytes in
//! general (hyper's `Incoming`, tonic's body, `Limited<B>`, boxed bodies...). So a guard never
//! rebuilds one: it hands on a [`RequestBody<B>`], which is the request's own body untouched
//! (every request whose token is not looked for in the body, at no cost: no allocation, no
//! boxing), or the bytes the guard read followed by whatever it did not read, as tower-http's
//! `RequestBodyLimit` hands on a `Limited<B>`. Only routes with a body location get to read,
//! and only for requests whose token (or CSRF value) is not found before the body.
//!
//! A body declared larger than the limit (`Content-Length`, or the body's size hint) is
//! never read. A body found larger, or failing while it is read, is refused (413, 400) on a
//! route that requires a token; on an optional route the request is verified as if the body
//! held nothing (for the JSON location: no token) and the inner service gets the whole body,
//! or its error, as the client sent it.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::config::locations::declared_length;
use crate::error::{AuthError, ErrorKind};

pin_project! {
    /// The request body a [`Guard`](super::Guard) hands on to its inner service: the
    /// request's body of type `B` as it came, or, when the guard read it to find a token or
    /// a CSRF value, the same content (the bytes read, then what was not read, the trailers
    /// or the error the body ended with), like tower-http's `RequestBodyLimit` hands on a
    /// `Limited<B>`. A body is read only on routes with the JSON location (or cookies with
    /// CSRF values in forms), only when no location before the body holds a token, and never
    /// when it is declared larger than the limit
    /// ([`max_json_body_size`](crate::manager::JwtManagerBuilder::max_json_body_size)); every other request's
    /// body is handed on untouched, at no cost.
    ///
    /// Its `Debug` output never shows the content (it may hold a token).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bytes::Bytes;
    /// use http::{Request, Response, StatusCode};
    /// use http_body_util::{BodyExt, Full, Limited};
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower_jwt_auth::guard::RequestBody;
    /// use tower_jwt_auth::{JwtManager, JwtRequiredLayer, VerifiedToken};
    /// use tower_jwt_auth::manager::TokenLocation;
    ///
    /// let manager = JwtManager::builder()
    ///     .secret("an-example-secret-that-is-32-bytes!")
    ///     .token_locations([TokenLocation::Json])
    ///     .build()
    ///     .unwrap();
    ///
    /// // Any body type: here another layer's `Limited<Full<Bytes>>`.
    /// type Body = Limited<Full<Bytes>>;
    /// let service = JwtRequiredLayer::new(&manager).layer(service_fn(
    ///     |req: Request<RequestBody<Body>>| async move {
    ///         let who = req.extensions().get::<VerifiedToken>().unwrap().identity().to_owned();
    ///         // The body the guard read is still all there.
    ///         let body = req.into_body().collect().await?.to_bytes();
    ///         let answer = format!("{who} sent {} bytes", body.len());
    ///         Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Response::new(Full::from(answer)))
    ///     },
    /// ));
    ///
    /// let token = manager.create_access_token("alice").unwrap();
    /// let json = format!(r#"{{"access_token": "{token}"}}"#);
    /// let req = Request::post("/")
    ///     .header("content-type", "application/json")
    ///     .body(Limited::new(Full::from(json.clone()), 1 << 20))
    ///     .unwrap();
    /// let res = service.oneshot(req).await.unwrap();
    /// assert_eq!(res.status(), StatusCode::OK);
    /// let answer = res.into_body().collect().await.unwrap().to_bytes();
    /// assert_eq!(answer, format!("alice sent {} bytes", json.len()));
    /// # }
    /// ```
    pub struct RequestBody<B>
    where
        B: Body,
    {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B>
    where
        B: Body,
    {
        Untouched { #[pin] body: B },
        Read { data: Option<Bytes>, rest: Rest<B> },
    }
}

/// What follows the bytes a guard read.
enum Rest<B: Body> {
    /// The body had ended; its trailers, if it had any.
    End(Option<HeaderMap>),
    /// The guard stopped reading at its limit: the rest of the body.
    More(Pin<Box<B>>),
    /// The body failed while the guard read it: that error.
    Failed(Option<B::Error>),
}

impl<B: Body> RequestBody<B> {
    /// `body`, handed on as it is (what a guard does with a body it does not read); for
    /// calling a guarded service's inner service directly, in tests say.
    pub fn new(body: B) -> Self {
        Self {
            kind: Kind::Untouched { body },
        }
    }

    /// The body as it came, when the guard did not read it (else itself, moved straight on:
    /// the size of the `Err` costs nothing).
    #[cfg(feature = "axum")]
    #[allow(clippy::result_large_err)]
    pub(super) fn into_untouched(self) -> Result<B, Self> {
        match self.kind {
            Kind::Untouched { body } => Ok(body),
            kind => Err(Self { kind }),
        }
    }

    /// Whether the guard read (some of) this body to find a token or a CSRF value in it.
    pub fn was_read(&self) -> bool {
        matches!(self.kind, Kind::Read { .. })
    }

    fn read(data: Bytes, rest: Rest<B>) -> Self {
        Self {
            kind: Kind::Read {
                data: (!data.is_empty()).then_some(data),
                rest,
            },
        }
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Untouched { body } => body.poll_frame(cx),
            KindProj::Read { data, rest } => {
                if let Some(data) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                match rest {
                    Rest::End(trailers) => {
                        Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))))
                    }
                    Rest::More(body) => body.as_mut().poll_frame(cx),
                    Rest::Failed(error) => Poll::Ready(error.take().map(Err)),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Untouched { body } => body.is_end_stream(),
            Kind::Read { data, rest } => {
                data.is_none()
                    && match rest {
                        Rest::End(trailers) => trailers.is_none(),
                        Rest::More(body) => body.is_end_stream(),
                        Rest::Failed(error) => error.is_none(),
                    }
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Untouched { body } => body.size_hint(),
            Kind::Read { data, rest } => {
                let read = data.as_ref().map_or(0, |d| d.len() as u64);
                let rest = match rest {
                    Rest::More(body) => body.size_hint(),
                    Rest::End(_) | Rest::Failed(_) => SizeHint::with_exact(0),
                };
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower().saturating_add(read));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper.saturating_add(read));
                }
                hint
            }
        }
    }
}

impl<B: Body> fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("RequestBody");
        match &self.kind {
            Kind::Untouched { .. } => out.field("read", &false),
            Kind::Read { data, rest } => out
                .field("read", &true)
                .field("buffered", &data.as_ref().map_or(0, Bytes::len))
                .field(
                    "then",
                    &match rest {
                        Rest::End(None) => "end",
                        Rest::End(Some(_)) => "trailers",
                        Rest::More(_) => "the unread rest",
                        Rest::Failed(_) => "an error",
                    },
                ),
        }
        .finish_non_exhaustive()
    }
}

/// `413`: the body is larger than `limit`.
pub(super) fn too_large(limit: usize) -> AuthError {
    AuthError::new(
        ErrorKind::BodyTooLarge,
        format!("The request body is larger than {limit} bytes"),
    )
}

/// Whether a request declares a body larger than `limit`, by its `Content-Length` or its
/// body's size hint: such a body is not read at all.
pub(super) fn declared_too_large<B: Body>(req: &Request<B>, limit: usize) -> bool {
    let declared = declared_length(req.headers());
    let limit = limit as u64;
    declared.is_some_and(|len| len > limit) || req.body().size_hint().lower() > limit
}

/// Reading a body up to a limit (the body boxed, so that it can be handed on unfinished).
pub(super) struct Reading<B: Body> {
    body: Option<Pin<Box<B>>>,
    read: Collected,
    len: usize,
    limit: usize,
}

/// The bytes read so far: one frame kept as it came (no copy for a body of one frame), or
/// frames copied into one buffer, so that a body sent a byte at a time costs its bytes, not
/// a `Bytes` handle per byte.
enum Collected {
    Nothing,
    One(Bytes),
    Many(BytesMut),
}

impl Collected {
    fn push(&mut self, data: Bytes, capacity: usize) {
        *self = match std::mem::replace(self, Collected::Nothing) {
            Collected::Nothing => Collected::One(data),
            Collected::One(first) => {
                let mut joined = BytesMut::with_capacity(capacity.max(first.len() + data.len()));
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&data);
                Collected::Many(joined)
            }
            Collected::Many(mut joined) => {
                joined.extend_from_slice(&data);
                Collected::Many(joined)
            }
        }
    }

    fn take(&mut self) -> Bytes {
        match std::mem::replace(self, Collected::Nothing) {
            Collected::Nothing => Bytes::new(),
            Collected::One(data) => data,
            Collected::Many(joined) => joined.freeze(),
        }
    }
}

/// What reading gave: the body to hand on (all of it, as the client sent it), and the
/// bytes to look into, or why there are none (413 over the limit, 400 unreadable).
pub(super) struct Read<B: Body> {
    pub(super) body: RequestBody<B>,
    pub(super) bytes: Result<Bytes, AuthError>,
}

impl<B: Body<Data = Bytes>> Reading<B> {
    pub(super) fn new(body: B, limit: usize) -> Self {
        Self {
            body: Some(Box::pin(body)),
            read: Collected::Nothing,
            len: 0,
            limit,
        }
    }

    /// Reads until the body ends, fails or passes the limit.
    pub(super) fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Read<B>> {
        let body = self.body.as_mut().expect("polled after completion");
        loop {
            let frame = match ready!(body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(err)) => {
                    self.body = None;
                    let unreadable = AuthError::new(
                        ErrorKind::BodyUnreadable,
                        "Could not read the request body",
                    );
                    return Poll::Ready(self.finish(Rest::Failed(Some(err)), Err(unreadable)));
                }
                None => {
                    self.body = None;
                    return Poll::Ready(self.finish(Rest::End(None), Ok(())));
                }
            };
            match frame.into_data() {
                Ok(data) => {
                    self.len = self.len.saturating_add(data.len());
                    if !data.is_empty() {
                        // Room for the whole body within the limit, on the second frame.
                        self.read
                            .push(data, self.limit.min(self.len.saturating_mul(2)));
                    }
                    if self.len > self.limit {
                        let rest = self.body.take().expect("read above");
                        let over = too_large(self.limit);
                        return Poll::Ready(self.finish(Rest::More(rest), Err(over)));
                    }
                }
                // Trailers end a body.
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        self.body = None;
                        return Poll::Ready(self.finish(Rest::End(Some(trailers)), Ok(())));
                    }
                }
            }
        }
    }

    fn finish(&mut self, rest: Rest<B>, outcome: Result<(), AuthError>) -> Read<B> {
        let data = self.read.take();
        Read {
            bytes: outcome.map(|()| data.clone()),
            body: RequestBody::read(data, rest),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::task::Waker;

    use http_body_util::{BodyExt, Full};

    use super::*;

    /// A body of these frames, in turn, without a size hint.
    struct Frames(VecDeque<Result<Frame<Bytes>, std::io::Error>>);

    impl Frames {
        fn new(data: &[&str], trailers: bool, fails: bool) -> Self {
            let mut frames: VecDeque<_> = data
                .iter()
                .map(|d| Ok(Frame::data(Bytes::copy_from_slice(d.as_bytes()))))
                .collect();
            if trailers {
                let mut map = HeaderMap::new();
                map.insert("x-checksum", "42".parse().unwrap());
                frames.push_back(Ok(Frame::trailers(map)));
            }
            if fails {
                frames.push_back(Err(std::io::Error::other("reset")));
            }
            Self(frames)
        }
    }

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(self.0.pop_front())
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
    }

    fn read<B: Body<Data = Bytes>>(body: B, limit: usize) -> Read<B> {
        let mut reading = Reading::new(body, limit);
        match reading.poll_read(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(read) => read,
            Poll::Pending => panic!("these bodies are always ready"),
        }
    }

    #[tokio::test]
    async fn a_whole_body_is_handed_on_with_its_trailers() {
        let read = read(Frames::new(&["ab", "", "cd", "e"], true, false), 5);
        assert_eq!(read.bytes.unwrap(), "abcde");
        let body = read.body;
        assert!(body.was_read());
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream(), "the trailers are still to come");
        let collected = body.collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["x-checksum"], "42");
        assert_eq!(collected.to_bytes(), "abcde");
    }

    #[tokio::test]
    async fn over_the_limit_the_rest_follows_what_was_read() {
        let read = read(Frames::new(&["abc", "def", "gh"], false, false), 4);
        let err = read.bytes.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BodyTooLarge);
        assert_eq!(err.message(), "The request body is larger than 4 bytes");
        // What was read (6 bytes), then the unread rest, of unknown size.
        assert_eq!(read.body.size_hint().lower(), 6);
        assert_eq!(read.body.size_hint().upper(), None);
        assert_eq!(
            format!("{:?}", read.body),
            r#"RequestBody { read: true, buffered: 6, then: "the unread rest", .. }"#
        );
        assert_eq!(read.body.collect().await.unwrap().to_bytes(), "abcdefgh");
    }

    #[tokio::test]
    async fn a_failing_body_fails_again_after_what_was_read() {
        let read = read(Frames::new(&["abc"], false, true), 100);
        assert_eq!(read.bytes.unwrap_err().kind(), ErrorKind::BodyUnreadable);
        let mut body = std::pin::pin!(read.body);
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "abc");
        let err = body.frame().await.unwrap().unwrap_err();
        assert_eq!(err.to_string(), "reset");
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none());
    }

    #[test]
    fn an_empty_body_reads_as_nothing() {
        let read = read(Frames::new(&[], false, false), 10);
        assert_eq!(read.bytes.unwrap(), "");
        assert!(read.body.is_end_stream());
        assert_eq!(read.body.size_hint().exact(), Some(0));
    }

    #[test]
    fn an_untouched_body_forwards_its_hints_and_shows_no_content() {
        let body = RequestBody::new(Full::new(Bytes::from_static(b"secret-token")));
        assert!(!body.was_read());
        assert_eq!(body.size_hint().exact(), Some(12));
        assert!(!body.is_end_stream());
        assert_eq!(format!("{body:?}"), "RequestBody { read: false, .. }");
        let read = read(Full::new(Bytes::from_static(b"secret-token")), 100);
        let debug = format!("{:?}", read.body);
        assert!(!debug.contains("secret"), "{debug}");
        assert_eq!(
            debug,
            r#"RequestBody { read: true, buffered: 12, then: "end", .. }"#
        );
        assert!(RequestBody::new(Full::new(Bytes::new())).is_end_stream());
    }

    #[test]
    fn a_declared_length_over_the_limit_is_seen_before_reading() {
        let req = |len: Option<&str>, body: &'static str| {
            let mut req = Request::builder();
            if let Some(len) = len {
                req = req.header(http::header::CONTENT_LENGTH, len);
            }
            req.body(Full::new(Bytes::from_static(body.as_bytes())))
                .unwrap()
        };
        assert!(declared_too_large(&req(Some("11"), ""), 10));
        assert!(!declared_too_large(&req(Some("10"), ""), 10));
        // The body's own size (its exact hint) counts as declared.
        assert!(declared_too_large(&req(None, "eleven byte"), 10));
        assert!(!declared_too_large(&req(None, "ten bytes!"), 10));
        assert!(!declared_too_large(&req(Some("not a number"), ""), 10));
        let unknown = Request::new(Frames::new(&["far too long for the limit"], false, false));
        assert!(!declared_too_large(&unknown, 10));
    }
}
