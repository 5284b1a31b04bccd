#![allow(dead_code)]

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tower::util::BoxCloneService;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::manager::JwtManagerBuilder;
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::{JwtManager, VerifiedToken};

pub const SECRET: &str = "tower-jwt-auth-tests-secret-0123456789";
pub const POLICIES: [StatusPolicy; 2] = [StatusPolicy::Default, StatusPolicy::FlaskCompatible];

pub fn builder(policy: StatusPolicy) -> JwtManagerBuilder {
    JwtManager::builder().secret(SECRET).status_policy(policy)
}

pub fn manager(policy: StatusPolicy) -> JwtManager {
    builder(policy).build().unwrap()
}

/// The status expected under `policy` for a case whose Flask-JWT-Extended status is
/// `flask`: the default policy answers 401 for every token problem (422 and 401).
pub fn expect(policy: StatusPolicy, flask: u16) -> u16 {
    match (policy, flask) {
        (StatusPolicy::Default, 422 | 401) => 401,
        _ => flask,
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs arbitrary claims with the test secret (as the tests' PyJWT `encode_token`).
pub fn encode(claims: &Value) -> String {
    encode_with(claims, jsonwebtoken::Algorithm::HS256, SECRET.as_bytes())
}

pub fn encode_with(claims: &Value, alg: jsonwebtoken::Algorithm, secret: &[u8]) -> String {
    // Building a manager selects jsonwebtoken's crypto backend when several are enabled.
    let _ = manager(StatusPolicy::Default);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

/// Flask-JWT-Extended's default access-token claims.
pub fn default_claims() -> Value {
    let now = now();
    json!({
        "fresh": false,
        "iat": now,
        "jti": uuid::Uuid::new_v4().to_string(),
        "type": "access",
        "sub": "username",
        "nbf": now,
        "exp": now + 900,
    })
}

/// What the guards hand on: requests with a [`RequestBody`] of the requests sent.
pub type Svc =
    BoxCloneService<Request<RequestBody<Full<Bytes>>>, Response<Full<Bytes>>, Infallible>;

/// The view used throughout the Flask tests: `{"foo": "baz"}` when a token identified the
/// caller, `{"foo": "bar"}` otherwise.
pub fn view() -> Svc {
    BoxCloneService::new(service_fn(
        |req: Request<RequestBody<Full<Bytes>>>| async move {
            let body = match req.extensions().get::<VerifiedToken>() {
                Some(_) => json!({"foo": "baz"}),
                None => json!({"foo": "bar"}),
            };
            Ok::<_, Infallible>(Response::new(Full::from(body.to_string())))
        },
    ))
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Reply {
    pub fn msg(&self) -> &str {
        self.json["msg"].as_str().unwrap_or_default()
    }

    /// The status code and the message, to compare in one assertion.
    pub fn status_msg(&self) -> (u16, &str) {
        (self.status.as_u16(), self.msg())
    }
}

/// Sends a request with the given `Authorization` value (if any) through `layer(view())`.
pub async fn send<L>(layer: &L, auth: Option<&str>) -> Reply
where
    L: Layer<Svc>,
    L::Service: Service<Request<Full<Bytes>>, Error = Infallible>,
    <L::Service as Service<Request<Full<Bytes>>>>::Response:
        Into<Response<tower_jwt_auth::guard::ResponseBody<Full<Bytes>>>>,
{
    let mut req = Request::get("/protected");
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    call(layer, req.body(Full::default()).unwrap()).await
}

pub async fn call<L>(layer: &L, req: Request<Full<Bytes>>) -> Reply
where
    L: Layer<Svc>,
    L::Service: Service<Request<Full<Bytes>>, Error = Infallible>,
    <L::Service as Service<Request<Full<Bytes>>>>::Response:
        Into<Response<tower_jwt_auth::guard::ResponseBody<Full<Bytes>>>>,
{
    let res: Response<_> = layer.layer(view()).oneshot(req).await.unwrap().into();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

pub fn options_request() -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/protected")
        .body(Full::default())
        .unwrap()
}

/// A responder that answers `status` with `body` for errors of kind `only` (every kind when
/// `None`) and the default response otherwise: Flask-JWT-Extended's `*_loader` callbacks.
pub fn fixed_response(
    only: Option<tower_jwt_auth::ErrorKind>,
    status: u16,
    body: &'static str,
) -> impl Fn(&tower_jwt_auth::AuthError, &tower_jwt_auth::respond::ErrorContext<'_>) -> Response<Bytes>
       + Send
       + Sync
       + 'static {
    move |err, cx| {
        if only.is_none_or(|kind| kind == err.kind()) {
            let mut res = Response::new(Bytes::from(body));
            *res.status_mut() = StatusCode::from_u16(status).unwrap();
            res
        } else {
            cx.default_response(err)
        }
    }
}

/// An access token, a fresh access token and a refresh token for "username".
pub fn tokens(m: &JwtManager) -> (String, String, String) {
    (
        m.create_access_token("username").unwrap(),
        m.create_access_token_with(
            "username",
            tower_jwt_auth::issue::TokenOptions::new().fresh(true),
        )
        .unwrap(),
        m.create_refresh_token("username").unwrap(),
    )
}

/// A freshly issued access token and refresh token for "u", decoded.
pub fn decoded_pair(m: &JwtManager) -> (VerifiedToken, VerifiedToken) {
    let decode = |token: String| m.decode_token(&token).unwrap();
    (
        decode(m.create_access_token("u").unwrap()),
        decode(m.create_refresh_token("u").unwrap()),
    )
}
