//! An outside issuer inside the test process: a hyper server on 127.0.0.1 publishing a JWKS
//! of the vendored RSA and EC keys (tests/data/keys), and jsonwebtoken minting its tokens.
//!
//! Paths (each request counted by path):
//! - `/jwks.json`: the published keys, or the answers queued with [`Idp::queue`] first;
//! - `/.well-known/openid-configuration`: discovery naming `/jwks.json`;
//! - `/redirect`: `302` to `/valid.json`, which always answers the keys;
//! - `/hang`: never answers;
//! - `/big-length`: the keys padded to 4 KiB, with a `Content-Length`;
//! - `/big-chunked` and `/small-chunked`: the keys padded to 4 KiB or not padded, chunked
//!   (no `Content-Length`).

#![allow(dead_code)] // each test uses a part

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tower_jwt_auth::keys::JwtKey;

pub const ISSUER: &str = "https://idp.example.test";

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A signing key of the issuer: RS256 (`rsa2048_pkcs8.pem`) or ES256 (`ec256_pkcs8.pem`).
fn key_pem(alg: Algorithm) -> Vec<u8> {
    match alg {
        Algorithm::RS256 => pem("rsa2048_pkcs8.pem"),
        Algorithm::ES256 => pem("ec256_pkcs8.pem"),
        other => panic!("no test key for {other:?}"),
    }
}

/// The public JWK of the test key of `alg`, named `kid`.
pub fn public_jwk(alg: Algorithm, kid: &str) -> Value {
    JwtKey::from_pem(alg, &key_pem(alg))
        .unwrap()
        .with_kid(kid)
        .public_jwk()
        .unwrap()
}

/// The public JWK of the second ES256 test key (`ec256_b_pkcs8.pem`, another issuer's),
/// named `kid`.
pub fn public_jwk_b(kid: &str) -> Value {
    JwtKey::from_pem(Algorithm::ES256, &pem("ec256_b_pkcs8.pem"))
        .unwrap()
        .with_kid(kid)
        .public_jwk()
        .unwrap()
}

/// A token signed with the second ES256 test key (see [`public_jwk_b`]).
pub fn mint_b(kid: Option<&str>, claims: &Value) -> String {
    mint_pem(Algorithm::ES256, &pem("ec256_b_pkcs8.pem"), kid, claims)
}

/// A token of the issuer signed with the test key of `alg`, with this `kid` (or none).
pub fn mint(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    mint_pem(alg, &key_pem(alg), kid, claims)
}

fn mint_pem(alg: Algorithm, pem: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem),
        _ => EncodingKey::from_ec_pem(pem),
    }
    .unwrap();
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// An outside issuer's claims: URL-like `sub`, `iss`, `aud`, no `jti`, no `type`.
pub fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": "api", "iat": now(), "exp": now() + 300})
}

/// What `/jwks.json` answers next.
#[derive(Clone, Debug)]
pub enum Answer {
    /// This status, with a small JSON body.
    Status(u16),
}

#[derive(Default)]
struct State {
    keys: Vec<Value>,
    queued: VecDeque<Answer>,
    hits: HashMap<String, usize>,
}

/// The issuer's HTTP server; stops when dropped.
pub struct Idp {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
    /// Closes the open connections too (clients keep them alive).
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.server.abort();
        let _ = self.shutdown.send(true);
    }
}

impl Idp {
    /// Listens on a free loopback port, publishing `keys` (public JWKs).
    pub async fn start(keys: Vec<Value>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            keys,
            ..State::default()
        }));
        let shared = state.clone();
        let (shutdown, closed) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                let mut closed = closed.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(&state, addr, req).await) }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = connection => {}
                        _ = closed.wait_for(|closed| *closed) => {}
                    }
                });
            }
        });
        Self {
            addr,
            state,
            server,
            shutdown,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many requests `path` has had.
    pub fn hits(&self, path: &str) -> usize {
        let state = self.state.lock().unwrap();
        state.hits.get(path).copied().unwrap_or(0)
    }

    /// Publishes one more key.
    pub fn publish(&self, jwk: Value) {
        self.state.lock().unwrap().keys.push(jwk);
    }

    /// Stops publishing the key `kid`.
    #[allow(dead_code)] // not every test crate including this module withdraws keys
    pub fn withdraw(&self, kid: &str) {
        self.state
            .lock()
            .unwrap()
            .keys
            .retain(|jwk| jwk["kid"] != kid);
    }

    /// The next answers of `/jwks.json`, before the keys again.
    pub fn queue(&self, answers: impl IntoIterator<Item = Answer>) {
        self.state.lock().unwrap().queued.extend(answers);
    }
}

type Reply = Response<http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>>;

fn json_reply(status: StatusCode, body: String) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)).boxed_unsync())
        .unwrap()
}

async fn answer(state: &Mutex<State>, addr: SocketAddr, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_owned();
    let (jwks, queued) = {
        let mut state = state.lock().unwrap();
        *state.hits.entry(path.clone()).or_default() += 1;
        let queued = if path == "/jwks.json" {
            state.queued.pop_front()
        } else {
            None
        };
        (json!({"keys": state.keys}).to_string(), queued)
    };
    // Whitespace after the JSON document: still a valid JWKS, only larger.
    let padded = || format!("{jwks}{}", " ".repeat(4096 - jwks.len().min(4096)));
    match (path.as_str(), queued) {
        (_, Some(Answer::Status(status))) => json_reply(
            StatusCode::from_u16(status).unwrap(),
            r#"{"error": "queued"}"#.into(),
        ),
        ("/jwks.json" | "/valid.json", None) => json_reply(StatusCode::OK, jwks),
        ("/.well-known/openid-configuration", None) => json_reply(
            StatusCode::OK,
            json!({"issuer": format!("http://{addr}"), "jwks_uri": format!("http://{addr}/jwks.json")})
                .to_string(),
        ),
        ("/redirect", None) => Response::builder()
            .status(StatusCode::FOUND)
            .header("location", format!("http://{addr}/valid.json"))
            .body(Full::new(Bytes::new()).boxed_unsync())
            .unwrap(),
        ("/hang", None) => std::future::pending().await,
        ("/big-length", None) => json_reply(StatusCode::OK, padded()),
        ("/big-chunked", None) => chunked(padded()),
        ("/small-chunked", None) => chunked(jwks),
        _ => json_reply(StatusCode::NOT_FOUND, r#"{"error": "not found"}"#.into()),
    }
}

/// A body sent in 512-byte chunks, its length unknown beforehand (chunked encoding).
fn chunked(body: String) -> Reply {
    let chunks: VecDeque<Bytes> = Bytes::from(body)
        .chunks(512)
        .map(Bytes::copy_from_slice)
        .collect();
    Response::builder()
        .header("content-type", "application/json")
        .body(Chunks(chunks).boxed_unsync())
        .unwrap()
}

struct Chunks(VecDeque<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// The issuer with its ES256 test key published as `ec-1`.
pub async fn start_es256() -> Idp {
    Idp::start(vec![public_jwk(Algorithm::ES256, "ec-1")]).await
}

/// A token of the `ec-1` key: [`claims`] of `sub`, then `extra` (which may override them).
pub fn token(sub: &str, extra: Value) -> String {
    let mut all = claims(sub);
    for (name, value) in extra.as_object().unwrap() {
        all[name] = value.clone();
    }
    mint(Algorithm::ES256, Some("ec-1"), &all)
}

async fn who(
    req: Request<tower_jwt_auth::guard::RequestBody<Full<Bytes>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let token = req
        .extensions()
        .get::<tower_jwt_auth::VerifiedToken>()
        .unwrap();
    Ok(Response::new(Full::from(token.identity().to_owned())))
}

/// What a `JwtRequired` guard of `m` answers `token` (a bearer): the identity, or the
/// rejection's status and message.
pub async fn guard(
    m: &tower_jwt_auth::JwtManager,
    token: &str,
) -> Result<String, (StatusCode, String)> {
    use tower::{Layer, ServiceExt};
    let req = Request::get("/whoami")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::default())
        .unwrap();
    let res = tower_jwt_auth::JwtRequiredLayer::new(m)
        .layer(tower::service_fn(who))
        .oneshot(req)
        .await
        .unwrap();
    let status = res.status();
    let err = res.extensions().get::<tower_jwt_auth::AuthError>().cloned();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    match err {
        None => Ok(String::from_utf8(body.to_vec()).unwrap()),
        Some(err) => Err((status, err.message().to_owned())),
    }
}
