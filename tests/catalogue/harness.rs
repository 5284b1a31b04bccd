//! Shared by the catalogue groups: one app with every guard and the auth service, a
//! numbered-case runner, and the leak check over captured tracing output and bodies.

use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::routing::get as route_get;
use axum::Router;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_jwt_auth::manager::JwtManagerBuilder;
use tower_jwt_auth::service::{AuthService, MemoryUserStore};
use tower_jwt_auth::{
    FreshRequiredLayer, JwtManager, JwtOptionalLayer, JwtRequiredLayer, RefreshRequiredLayer,
};

pub const SECRET: &str = "catalogue-secret-do-not-leak-0123456789";
pub const PASSWORD: &str = "catalogue password do not leak";

pub fn builder() -> JwtManagerBuilder {
    JwtManager::builder().secret(SECRET)
}

pub fn users() -> MemoryUserStore {
    let users = MemoryUserStore::new();
    users.add_user("ada@example.com", "1", PASSWORD).unwrap();
    users
}

/// `/access`, `/optional`, `/refresh`, `/fresh` behind their guards; the auth service at
/// `/token`, `/refresh-token` is not needed: `/auth/token`, `/auth/refresh`, `/auth/revoke`.
pub fn app(jwt: &JwtManager) -> Router {
    app_with(jwt, AuthService::new(jwt, users()))
}

pub fn app_with(jwt: &JwtManager, auth: AuthService<MemoryUserStore>) -> Router {
    Router::new()
        .route(
            "/access",
            route_get(|| async { "ok" }).route_layer(JwtRequiredLayer::new(jwt)),
        )
        .route(
            "/optional",
            route_get(|| async { "ok" }).route_layer(JwtOptionalLayer::new(jwt)),
        )
        .route(
            "/refresh",
            route_get(|| async { "ok" }).route_layer(RefreshRequiredLayer::new(jwt)),
        )
        .route(
            "/fresh",
            route_get(|| async { "ok" }).route_layer(FreshRequiredLayer::new(jwt)),
        )
        .nest_service("/auth", auth)
}

/// Tracing output of the whole test binary, captured from the first call on.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        buffer
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One group's run: every response body, and every value that must never be echoed.
pub struct Group {
    bodies: Mutex<String>,
    sensitive: Mutex<Vec<String>>,
}

impl Group {
    pub fn new() -> Self {
        logs();
        let group = Self {
            bodies: Mutex::new(String::new()),
            sensitive: Mutex::new(Vec::new()),
        };
        group.sensitive(SECRET);
        group.sensitive(PASSWORD);
        group
    }

    /// Registers a value (token, header value, password) that must appear in no log line and
    /// no response body.
    pub fn sensitive(&self, value: &str) {
        self.sensitive.lock().unwrap().push(value.to_owned());
    }

    /// Sends `req` to `app`, registering its `Authorization` values as sensitive, and
    /// returns the status and body.
    pub async fn send(&self, app: &Router, req: Request<Body>) -> (StatusCode, String) {
        for value in req.headers().get_all("authorization") {
            if let Ok(value) = value.to_str() {
                // Short values such as "Bearer" also occur in our own fixed messages.
                if value.len() > 24 {
                    self.sensitive(value);
                    if let Some((_, token)) = value.split_once(' ') {
                        self.sensitive(token.trim());
                    }
                }
            }
        }
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body).into_owned();
        self.bodies.lock().unwrap().push_str(&body);
        (status, body)
    }

    /// Runs case `id` and asserts its exact outcome: the status and the `msg` (or, for a
    /// success, the body `ok`).
    pub async fn case(
        &self,
        id: u32,
        what: &str,
        app: &Router,
        req: Request<Body>,
        status: u16,
        msg: &str,
    ) {
        let (got, body) = self.send(app, req).await;
        let expected_body = if status == 200 && msg.is_empty() {
            "ok".to_owned()
        } else {
            serde_json::json!({ "msg": msg }).to_string()
        };
        assert_eq!(
            (got.as_u16(), body.as_str()),
            (status, expected_body.as_str()),
            "case {id} ({what})"
        );
    }

    /// Case 42: none of the sensitive values appears in the captured logs or bodies.
    pub fn assert_no_leaks(&self) {
        let logs = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
        assert!(!logs.is_empty(), "tracing output was captured");
        let bodies = self.bodies.lock().unwrap();
        for value in self.sensitive.lock().unwrap().iter() {
            assert!(
                !logs.contains(value.as_str()),
                "case 42: a sensitive value reached the logs"
            );
            assert!(
                !bodies.contains(value.as_str()),
                "case 42: a sensitive value reached a body"
            );
        }
    }
}

pub fn get(path: &str, auth: Option<&str>) -> Request<Body> {
    let mut req = Request::get(path);
    if let Some(auth) = auth {
        req = req.header("authorization", HeaderValue::from_str(auth).unwrap());
    }
    req.body(Body::empty()).unwrap()
}

pub fn bearer(path: &str, token: &str) -> Request<Body> {
    get(path, Some(&format!("Bearer {token}")))
}

pub fn post_json(path: &str, auth: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut req = Request::post(path).header("content-type", "application/json");
    if let Some(auth) = auth {
        req = req.header("authorization", format!("Bearer {auth}"));
    }
    req.body(body.into()).unwrap()
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

/// Signs raw header and payload bytes with the HMAC secret: a token whose signature is
/// valid whatever its content, to reach the checks after the signature.
pub fn signed_raw(header: &[u8], payload: &[u8]) -> String {
    signed_segments(
        &b64(header),
        &b64(payload),
        jsonwebtoken::Algorithm::HS256,
        SECRET.as_bytes(),
    )
}

pub fn signed_segments(
    header: &str,
    payload: &str,
    alg: jsonwebtoken::Algorithm,
    secret: &[u8],
) -> String {
    let _ = builder().build(); // selects jsonwebtoken's crypto backend
    let input = format!("{header}.{payload}");
    let key = jsonwebtoken::EncodingKey::from_secret(secret).unwrap();
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, alg).unwrap();
    format!("{input}.{sig}")
}

/// Default access-token claims, valid now.
pub fn claims() -> serde_json::Value {
    let now = now();
    serde_json::json!({
        "fresh": false, "iat": now, "jti": uuid::Uuid::new_v4().to_string(),
        "type": "access", "sub": "1", "nbf": now, "exp": now + 900,
    })
}

pub const HS256_HEADER: &[u8] = br#"{"alg":"HS256","typ":"JWT"}"#;

pub fn signed_claims(claims: &serde_json::Value) -> String {
    signed_raw(HS256_HEADER, claims.to_string().as_bytes())
}
