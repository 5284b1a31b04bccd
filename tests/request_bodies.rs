//! Request bodies of any type: the JSON location and the form CSRF field read hyper's
//! `Incoming` (from a real hyper server on loopback), `Limited<B>`, boxed bodies and bodies
//! of types the crate has never heard of, and hand the same bytes on to the inner service.
//! `Content-Length` over the limit is refused without reading; on optional routes a body
//! over the limit, or one that fails while being read, means "no token". JSON is
//! `application/json` and `application/*+json`, for the guard and the auth service alike.
#![cfg(feature = "testing")]

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tower::{Layer, Service, ServiceExt};
use tower_jwt_auth::manager::TokenLocation;
use tower_jwt_auth::service::{AuthService, MemoryUserStore};
use tower_jwt_auth::{testing, JwtManager, JwtOptionalLayer, JwtRequiredLayer, VerifiedToken};

const SECRET: &str = "request-bodies-test-secret-0123456789abcdef";
const FORM: &str = "application/x-www-form-urlencoded";

/// The inner service: answers `<identity or "anonymous">|<the body it was handed>` (or
/// `|<unreadable>` when the body fails), or only the identity when it is not to read the body.
#[derive(Clone, Copy)]
struct Echo {
    read_body: bool,
}

const ECHO: Echo = Echo { read_body: true };
const WHO: Echo = Echo { read_body: false };

impl<B> Service<Request<B>> for Echo
where
    B: Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let read_body = self.read_body;
        Box::pin(async move {
            let who = req
                .extensions()
                .get::<VerifiedToken>()
                .map_or("anonymous".to_owned(), |t| t.identity().to_owned());
            if !read_body {
                return Ok(Response::new(Full::from(who)));
            }
            let body = match req.into_body().collect().await {
                Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
                Err(_) => "<unreadable>".to_owned(),
            };
            Ok(Response::new(Full::from(format!("{who}|{body}"))))
        })
    }
}

fn json_manager(limit: usize) -> JwtManager {
    JwtManager::builder()
        .secret(SECRET)
        .token_locations([TokenLocation::Json])
        .max_json_body_size(limit)
        .build()
        .unwrap()
}

fn form_manager() -> JwtManager {
    JwtManager::builder()
        .secret(SECRET)
        .token_locations([TokenLocation::Cookies])
        .csrf_check_form(true)
        .build()
        .unwrap()
}

fn token_json(m: &JwtManager) -> String {
    testing::json_with_token(&testing::token(m, "alice").mint(), false)
}

/// A POST whose access cookie's CSRF value is only in the form field, and that body.
fn form_request(m: &JwtManager) -> (http::request::Builder, String) {
    let token = testing::token(m, "alice").csrf("the-csrf-value").mint();
    let req = Request::post("/")
        .header("cookie", format!("access_token_cookie={token}"))
        .header("content-type", FORM);
    (req, "note=hi&csrf_token=the-csrf-value".to_owned())
}

async fn answer<B>(res: Response<B>) -> (StatusCode, String)
where
    B: Body,
    B::Error: std::fmt::Debug,
{
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Serves `svc` with hyper on a loopback port: its requests carry hyper's `Incoming` body.
async fn serve<S, B>(svc: S) -> std::net::SocketAddr
where
    S: Service<Request<hyper::body::Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc = hyper_util::service::TowerToHyperService::new(svc.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc),
            );
        }
    });
    addr
}

/// Sends `req` to `addr` with a hyper client, within 10 s.
async fn send(addr: std::net::SocketAddr, req: Request<Full<Bytes>>) -> (StatusCode, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let res = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
        .await
        .expect("answered within 10 s")
        .unwrap();
    answer(res).await
}

#[tokio::test]
async fn json_location_with_hyper_incoming() {
    let m = json_manager(16 * 1024);
    let addr = serve(JwtRequiredLayer::new(&m).layer(ECHO)).await;
    let body = token_json(&m);
    let req = Request::get("/")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::from(body.clone()))
        .unwrap();
    assert_eq!(
        send(addr, req).await,
        (StatusCode::OK, format!("alice|{body}"))
    );

    let no_token = Request::get("/")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::from(r#"{"other": 1}"#))
        .unwrap();
    assert_eq!(
        send(addr, no_token).await,
        (
            StatusCode::UNAUTHORIZED,
            r#"{"msg":"Missing \"access_token\" key in json data."}"#.to_owned()
        )
    );
}

#[tokio::test]
async fn form_csrf_field_with_hyper_incoming() {
    let m = form_manager();
    let addr = serve(JwtRequiredLayer::new(&m).layer(ECHO)).await;
    let (req, form) = form_request(&m);
    let req = req
        .header("host", "localhost")
        .body(Full::from(form.clone()))
        .unwrap();
    assert_eq!(
        send(addr, req).await,
        (StatusCode::OK, format!("alice|{form}"))
    );

    let (req, _) = form_request(&m);
    let req = req
        .header("host", "localhost")
        .body(Full::from("note=hi&csrf_token=another-value"))
        .unwrap();
    assert_eq!(
        send(addr, req).await,
        (
            StatusCode::UNAUTHORIZED,
            r#"{"msg":"CSRF double submit tokens do not match"}"#.to_owned()
        )
    );
}

/// The same request through a guard with body types of other layers and crates.
async fn through_other_bodies(
    m: &JwtManager,
    req: impl Fn() -> http::request::Builder,
    body: &str,
    expected: (StatusCode, String),
) {
    let guard = JwtRequiredLayer::new(m).layer(ECHO);
    let limited = Limited::new(Full::from(body.to_owned()), 1 << 20);
    let res = guard
        .clone()
        .oneshot(req().body(limited).unwrap())
        .await
        .unwrap();
    assert_eq!(answer(res).await, expected, "Limited<Full<Bytes>>");

    let boxed = Full::from(body.to_owned())
        .map_err(|never| match never {})
        .boxed_unsync();
    let boxed: http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error> = boxed;
    let res = guard
        .clone()
        .oneshot(req().body(boxed).unwrap())
        .await
        .unwrap();
    assert_eq!(answer(res).await, expected, "UnsyncBoxBody");

    let tonic = tonic::body::Body::new(Full::from(body.to_owned()));
    let res = guard
        .clone()
        .oneshot(req().body(tonic).unwrap())
        .await
        .unwrap();
    assert_eq!(answer(res).await, expected, "tonic's Body");

    let chunks = Chunks::new(body.as_bytes().chunks(7));
    let res = guard.oneshot(req().body(chunks).unwrap()).await.unwrap();
    assert_eq!(answer(res).await, expected, "a body type of the test");
}

#[tokio::test]
async fn json_location_with_limited_boxed_and_unknown_bodies() {
    let m = json_manager(16 * 1024);
    let body = token_json(&m);
    let req = || Request::post("/").header("content-type", "application/json");
    through_other_bodies(&m, req, &body, (StatusCode::OK, format!("alice|{body}"))).await;
}

#[tokio::test]
async fn form_csrf_field_with_limited_boxed_and_unknown_bodies() {
    let m = form_manager();
    let (_, form) = form_request(&m);
    let req = || form_request(&m).0;
    through_other_bodies(&m, req, &form, (StatusCode::OK, format!("alice|{form}"))).await;
}

#[tokio::test]
async fn json_media_types_for_the_guard() {
    let m = json_manager(16 * 1024);
    let body = token_json(&m);
    let guard = JwtRequiredLayer::new(&m).layer(ECHO);
    for content_type in [
        "application/json",
        "APPLICATION/JSON",
        "application/json;charset=utf-8",
        "application/vnd.api+json",
        "application/vnd.api+json; charset=utf-8",
        "Application/Problem+JSON ; q=1",
    ] {
        let req = Request::post("/")
            .header("content-type", content_type)
            .body(Full::from(body.clone()))
            .unwrap();
        let res = guard.clone().oneshot(req).await.unwrap();
        assert_eq!(
            answer(res).await,
            (StatusCode::OK, format!("alice|{body}")),
            "{content_type}"
        );
    }
    for content_type in [
        "text/json",
        "application/jsonp",
        "application/json+xml",
        "application/+json",
        "application/vnd api+json",
        "text/plain; x=application/json",
    ] {
        let req = Request::post("/")
            .header("content-type", content_type)
            .body(Full::from(body.clone()))
            .unwrap();
        let res = guard.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{content_type}");
    }
}

#[tokio::test]
async fn json_media_types_for_the_auth_service() {
    let m = JwtManager::builder().secret(SECRET).build().unwrap();
    let users = MemoryUserStore::new();
    users.add_user("ada@example.com", "1", "pw").unwrap();
    let svc = AuthService::builder(&m, users)
        .password_hasher(testing::insecure_fast_password_hasher())
        .build();
    let login = r#"{"email": "ada@example.com", "password": "pw"}"#;
    for content_type in [
        "application/json",
        "application/vnd.api+json; charset=utf-8",
        "APPLICATION/VND.API+JSON",
    ] {
        let req = Request::post("/token")
            .header("content-type", content_type)
            .body(Full::<Bytes>::from(login))
            .unwrap();
        let (status, body) = answer(svc.clone().oneshot(req).await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{content_type}: {body}");
    }
    for content_type in ["text/plain", "application/+json", "application/jsonx"] {
        let req = Request::post("/token")
            .header("content-type", content_type)
            .body(Full::<Bytes>::from(login))
            .unwrap();
        let (status, body) = answer(svc.clone().oneshot(req).await.unwrap()).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}: {body}"
        );
    }
}

/// A body of a type no crate knows, sent in chunks, without a size hint; it can fail after
/// its chunks.
struct Chunks {
    chunks: std::collections::VecDeque<Bytes>,
    fail: bool,
}

impl Chunks {
    fn new<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> Self {
        Self {
            chunks: chunks.map(Bytes::copy_from_slice).collect(),
            fail: false,
        }
    }

    fn failing(mut self) -> Self {
        self.fail = true;
        self
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(chunk) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if std::mem::take(&mut self.fail) {
            let err = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "client went away");
            return Poll::Ready(Some(Err(err)));
        }
        Poll::Ready(None)
    }
}

/// A body that records being polled (and has nothing to give).
struct Untouchable {
    polled: Arc<AtomicBool>,
}

impl Body for Untouchable {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.polled.store(true, Ordering::SeqCst);
        Poll::Ready(None)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[tokio::test]
async fn content_length_over_the_limit_is_refused_without_reading() {
    let m = json_manager(64);
    let req = |polled: &Arc<AtomicBool>| {
        Request::post("/")
            .header("content-type", "application/json")
            .header("content-length", "100000")
            .body(Untouchable {
                polled: polled.clone(),
            })
            .unwrap()
    };
    let polled = Arc::new(AtomicBool::new(false));
    let res = JwtRequiredLayer::new(&m)
        .layer(WHO)
        .oneshot(req(&polled))
        .await
        .unwrap();
    let (status, body) = answer(res).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(
        body,
        r#"{"msg":"The request body is larger than 64 bytes"}"#
    );
    assert!(!polled.load(Ordering::SeqCst), "the body was read");

    // On an optional route: no token, and the body is handed on unread.
    let polled = Arc::new(AtomicBool::new(false));
    let res = JwtOptionalLayer::new(&m)
        .layer(WHO)
        .oneshot(req(&polled))
        .await
        .unwrap();
    assert_eq!(answer(res).await, (StatusCode::OK, "anonymous".to_owned()));
    assert!(!polled.load(Ordering::SeqCst), "the body was read");
}

/// A body of axum's type (which the guard could always read) streaming `chunks`.
fn axum_body(chunks: Chunks) -> axum::body::Body {
    axum::body::Body::new(chunks)
}

fn json_post<B>(body: B) -> Request<B> {
    Request::post("/")
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
}

#[tokio::test]
async fn optional_route_with_a_body_over_the_limit_is_anonymous() {
    let m = json_manager(64);
    let body = format!(
        r#"{{"access_token": "{}", "pad": "{}"}}"#,
        testing::token(&m, "alice").mint(),
        "x".repeat(100)
    );
    let chunks = || Chunks::new(body.as_bytes().chunks(10));
    // Required: 413, as before.
    let res = JwtRequiredLayer::new(&m)
        .layer(ECHO)
        .oneshot(json_post(axum_body(chunks())))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Optional: no token, and the inner service gets the whole body.
    let optional = JwtOptionalLayer::new(&m).layer(ECHO);
    let expected = (StatusCode::OK, format!("anonymous|{body}"));
    let res = optional
        .clone()
        .oneshot(json_post(axum_body(chunks())))
        .await;
    assert_eq!(answer(res.unwrap()).await, expected, "axum's Body");
    let res = optional.oneshot(json_post(chunks())).await;
    assert_eq!(
        answer(res.unwrap()).await,
        expected,
        "a body type of the test"
    );
}

#[tokio::test]
async fn optional_route_with_an_aborted_body_is_anonymous() {
    let m = json_manager(16 * 1024);
    let body = token_json(&m);
    let aborted = || Chunks::new(body.as_bytes()[..20].chunks(10)).failing();
    // Required: 400, as before.
    let res = JwtRequiredLayer::new(&m)
        .layer(ECHO)
        .oneshot(json_post(axum_body(aborted())))
        .await
        .unwrap();
    let (status, text) = answer(res).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    // Optional: no token; the inner service sees the body fail as it did.
    let optional = JwtOptionalLayer::new(&m).layer(ECHO);
    let expected = (StatusCode::OK, "anonymous|<unreadable>".to_owned());
    let res = optional
        .clone()
        .oneshot(json_post(axum_body(aborted())))
        .await;
    assert_eq!(answer(res.unwrap()).await, expected, "axum's Body");
    let res = optional.oneshot(json_post(aborted())).await;
    assert_eq!(
        answer(res.unwrap()).await,
        expected,
        "a body type of the test"
    );
}
