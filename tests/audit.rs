//! Audit events (target `tower_jwt_auth::audit`), captured by a small subscriber on the
//! test's thread: logins (success, failure, lock), revocations (the auth service's
//! `/revoke`, `JwtManager::revoke`, `revoke_all`), refresh-token reuse, and the guards'
//! refusals (`authn_token_invalid`, `authz_fail`); never a password, a token or a raw `jti`
//! or session id in any field.
#![cfg(feature = "testing")]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::audit::PeerAddr;
use tower_jwt_auth::claims::Subject;
use tower_jwt_auth::service::AuthService;
use tower_jwt_auth::sessions::MemorySessionStore;
use tower_jwt_auth::testing;
use tower_jwt_auth::testing::{insecure_fast_password_hasher, InsecureTestUsers};
use tower_jwt_auth::throttle::{Limits, MemoryThrottle};
use tower_jwt_auth::{JwtManager, JwtRequiredLayer};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

const SECRET: &str = "audit-events-test-secret-0123456789abcdef";
const PASSWORD: &str = "correct horse";
const WRONG: &str = "wrong battery";
const PEER: &str = "203.0.113.7:40000";
const UA: &str = "audit-test/1.0 (\"quoted\")";

// -- the capturing subscriber ---------------------------------------------------------

#[derive(Clone, Debug)]
struct Captured {
    level: Level,
    target: String,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    fn event(&self) -> &str {
        self.field("event").unwrap_or("")
    }
}

struct FieldVisitor<'a>(&'a mut BTreeMap<String, String>);

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
}

/// Every event (level, target, fields), and how many have been looked at; spans are
/// ignored.
#[derive(Default)]
struct Events {
    all: Vec<Captured>,
    seen: usize,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Events>>);

impl Capture {
    /// The events since the last call.
    fn take(&self) -> Vec<Captured> {
        let mut events = self.0.lock().unwrap();
        let new = events.all[events.seen..].to_vec();
        events.seen = events.all.len();
        new
    }

    /// The audit events since the last [`take`](Self::take).
    fn take_audit(&self) -> Vec<Captured> {
        (self.take().into_iter())
            .filter(|e| e.target == "tower_jwt_auth::audit")
            .collect()
    }

    /// Every field value of every event captured.
    fn all_values(&self) -> Vec<String> {
        let events = self.0.lock().unwrap();
        (events.all.iter())
            .flat_map(|e| e.fields.values().cloned())
            .collect()
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut FieldVisitor(&mut fields));
        self.0.lock().unwrap().all.push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().into(),
            fields,
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// A capture installed on this thread until the guard drops.
fn capture() -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let guard = tracing::subscriber::set_default(capture.clone());
    (capture, guard)
}

/// No field of any event so far contains any of `secrets`.
fn assert_no_secret(capture: &Capture, secrets: &[&str]) {
    let values = capture.all_values();
    assert!(!values.is_empty());
    for secret in secrets {
        assert!(!secret.is_empty());
        for value in &values {
            assert!(!value.contains(secret), "{value:?} contains {secret:?}");
        }
    }
}

/// What the events name a `jti` or session id by: the first 8 bytes of its SHA-256.
fn short_hash(value: &str) -> String {
    Sha256::digest(value.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn assert_client(event: &Captured) {
    assert_eq!(event.field("client"), Some("203.0.113.7"), "{event:?}");
    assert_eq!(
        event.field("user_agent"),
        Some(format!("{UA:?}").as_str()),
        "{event:?}"
    );
}

// -- the auth service ------------------------------------------------------------------

fn manager(clock: &testing::TestClock) -> JwtManager {
    JwtManager::builder()
        .secret(SECRET)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn users() -> InsecureTestUsers {
    InsecureTestUsers::new().with_user("ada@example.com", "1", PASSWORD)
}

fn post(path: &str, body: String, bearer: Option<&str>) -> Request<Full<Bytes>> {
    let mut req = Request::post(path)
        .header("content-type", "application/json")
        .header("user-agent", UA);
    if let Some(token) = bearer {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let mut req = req.body(Full::from(body)).unwrap();
    let peer: SocketAddr = PEER.parse().unwrap();
    req.extensions_mut().insert(PeerAddr(peer));
    req
}

fn login_req(password: &str) -> Request<Full<Bytes>> {
    post(
        "/token",
        format!(r#"{{"email":"ada@example.com","password":"{password}"}}"#),
        None,
    )
}

async fn call(
    auth: &AuthService<InsecureTestUsers>,
    req: Request<Full<Bytes>>,
) -> (StatusCode, Value) {
    let res = auth.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn login(auth: &AuthService<InsecureTestUsers>) -> (String, String) {
    let (status, body) = call(auth, login_req(PASSWORD)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "current_thread")]
async fn login_success_failure_and_lock() {
    let (capture, _guard) = capture();
    let clock = testing::TestClock::new();
    let jwt = manager(&clock);
    let throttle = MemoryThrottle::new(Limits::default().per_account_client(2));
    let auth = AuthService::builder(&jwt, users())
        .password_hasher(insecure_fast_password_hasher())
        .login_throttle(throttle)
        .build();

    let (access, refresh) = login(&auth).await;
    let events = capture.take_audit();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event(), "authn_login_success");
    assert_eq!(events[0].level, Level::INFO);
    assert_eq!(events[0].field("user_id"), Some("1"));
    assert_client(&events[0]);

    for _ in 0..2 {
        let (status, _) = call(&auth, login_req(WRONG)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let events = capture.take_audit();
    assert_eq!(events.len(), 2, "{events:?}");
    for event in &events {
        assert_eq!(event.event(), "authn_login_fail");
        assert_eq!(event.level, Level::INFO);
        assert_eq!(event.field("reason"), Some("wrong password"));
        assert_eq!(event.field("user_id"), Some("1"));
        assert_client(event);
    }

    // The third failure in a row from this client is not even tried.
    let (status, _) = call(&auth, login_req(WRONG)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let events = capture.take_audit();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event(), "authn_login_lock");
    assert_eq!(events[0].level, Level::WARN);
    assert_eq!(events[0].field("key"), Some("account_client"));
    assert_client(&events[0]);

    let jti = jwt.decode_token(&access).unwrap().jti().unwrap().to_owned();
    assert_no_secret(&capture, &[PASSWORD, WRONG, &access, &refresh, &jti]);
}

#[tokio::test(flavor = "current_thread")]
async fn revocations_name_the_jti_by_its_hash() {
    let (capture, _guard) = capture();
    let clock = testing::TestClock::new();
    let jwt = manager(&clock);
    let auth = AuthService::builder(&jwt, users())
        .password_hasher(insecure_fast_password_hasher())
        .build();
    let (access, refresh) = login(&auth).await;
    capture.take_audit();

    // The auth service's logout: the companion refresh token first, then the one presented,
    // each with the client.
    let body = format!(r#"{{"refresh_token":"{refresh}"}}"#);
    let (status, body) = call(&auth, post("/revoke", body, Some(&access))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = capture.take_audit();
    assert_eq!(events.len(), 2, "{events:?}");
    for (event, (token, kind)) in events
        .iter()
        .zip([(&refresh, "refresh"), (&access, "access")])
    {
        let jti = jwt.decode_token(token).unwrap().jti().unwrap().to_owned();
        assert_eq!(event.event(), "authn_token_revoked");
        assert_eq!(event.level, Level::INFO);
        assert_eq!(event.field("revoked"), Some("token"));
        assert_eq!(event.field("user_id"), Some("1"));
        assert_eq!(event.field("token_type"), Some(kind));
        let hash = event.field("jti_hash").unwrap();
        assert_eq!(hash, short_hash(&jti));
        assert_eq!(hash.len(), 16);
        assert_ne!(hash, jti);
        assert_client(event);
    }

    // `JwtManager::revoke` and `revoke_all`: no request, so no client.
    let token = jwt.create_access_token("2").unwrap();
    let verified = jwt.decode_token(&token).unwrap();
    jwt.revoke(&verified).await.unwrap();
    jwt.revoke_all(Subject::local("2")).await.unwrap();
    let events = capture.take_audit();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].event(), "authn_token_revoked");
    assert_eq!(events[0].field("revoked"), Some("token"));
    assert_eq!(events[0].field("user_id"), Some("2"));
    assert_eq!(events[0].field("token_type"), Some("access"));
    let jti = verified.jti().unwrap();
    assert_eq!(events[0].field("jti_hash"), Some(short_hash(jti).as_str()));
    assert_eq!(events[0].field("client"), None);
    assert_eq!(events[1].event(), "authn_token_revoked");
    assert_eq!(events[1].level, Level::INFO);
    assert_eq!(events[1].field("revoked"), Some("all"));
    assert_eq!(events[1].field("user_id"), Some("2"));
    assert_eq!(events[1].field("jti_hash"), None);

    let access_jti = jwt.decode_token(&access).unwrap().jti().unwrap().to_owned();
    let refresh_jti = jwt
        .decode_token(&refresh)
        .unwrap()
        .jti()
        .unwrap()
        .to_owned();
    assert_no_secret(
        &capture,
        &[
            PASSWORD,
            &access,
            &refresh,
            &token,
            &access_jti,
            &refresh_jti,
            jti,
        ],
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_reused_refresh_token_is_a_warning() {
    let (capture, _guard) = capture();
    let clock = testing::TestClock::new();
    let jwt = manager(&clock);
    let auth = AuthService::builder(&jwt, users())
        .password_hasher(insecure_fast_password_hasher())
        .refresh_rotation(MemorySessionStore::new())
        .reuse_grace(Duration::ZERO)
        .build();
    let (_, first) = login(&auth).await;
    let (status, body) = call(&auth, post("/refresh", String::new(), Some(&first))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    clock.advance(Duration::from_millis(1));
    capture.take_audit();

    // The spent token again: the session ends.
    let (status, _) = call(&auth, post("/refresh", String::new(), Some(&first))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let events = capture.take_audit();
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.event(), "authn_token_reuse");
    assert_eq!(event.level, Level::WARN);
    assert_eq!(event.field("reason"), Some("reused"));
    assert_eq!(event.field("user_id"), Some("1"));
    let verified = jwt.decode_token(&first).unwrap();
    let (session, jti) = (verified.session().unwrap(), verified.jti().unwrap());
    assert_eq!(
        event.field("session_hash"),
        Some(short_hash(session).as_str())
    );
    assert_eq!(event.field("jti_hash"), Some(short_hash(jti).as_str()));
    assert_client(event);

    // The session's current token is refused now: a refused token, not a reuse.
    let (status, _) = call(&auth, post("/refresh", String::new(), Some(&second))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let events = capture.take_audit();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event(), "authn_token_invalid");
    assert_eq!(events[0].field("reason"), Some("revoked"));

    assert_no_secret(&capture, &[PASSWORD, &first, &second, session, jti]);
}

// -- the guards ------------------------------------------------------------------------

async fn guarded(layer: JwtRequiredLayer, token: Option<&str>) -> StatusCode {
    let svc = layer.layer(service_fn(|_req: Request<_>| async {
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::from("ok")))
    }));
    let mut req = Request::get("/").header("user-agent", UA);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let mut req = req.body(Full::<Bytes>::default()).unwrap();
    req.extensions_mut().insert(PeerAddr(PEER.parse().unwrap()));
    svc.oneshot(req).await.unwrap().status()
}

#[tokio::test(flavor = "current_thread")]
async fn every_refused_token_is_audited_at_info() {
    let (capture, _guard) = capture();
    let clock = testing::TestClock::new();
    let jwt = manager(&clock);
    let required = || JwtRequiredLayer::new(&jwt);

    // Accepted: nothing audited.
    let valid = testing::token(&jwt, "1").mint();
    assert_eq!(guarded(required(), Some(&valid)).await, StatusCode::OK);
    assert!(capture.take_audit().is_empty());

    // No token at all: not a refused token, nothing at INFO (a DEBUG event only).
    assert_eq!(guarded(required(), None).await, StatusCode::UNAUTHORIZED);
    let events = capture.take();
    assert!(events.iter().all(|e| e.level > Level::INFO), "{events:?}");
    assert!(events
        .iter()
        .any(|e| e.field("kind") == Some("MissingToken")));

    let expired = testing::token(&jwt, "1").expired().mint();
    let revoked = testing::token(&jwt, "1").mint();
    let revoked_jti = jwt
        .decode_token(&revoked)
        .unwrap()
        .jti()
        .unwrap()
        .to_owned();
    jwt.revoke(&jwt.decode_token(&revoked).unwrap())
        .await
        .unwrap();
    capture.take_audit();
    let malformed = "not.a-jwt";
    let forged = testing::token(&jwt, "1").signed_by_another_key().mint();
    for (token, reason) in [
        (malformed, "malformed"),
        (expired.as_str(), "expired"),
        (revoked.as_str(), "revoked"),
        (forged.as_str(), "invalid_signature"),
    ] {
        let status = guarded(required(), Some(token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{reason}");
        let events = capture.take_audit();
        assert_eq!(events.len(), 1, "{reason}: {events:?}");
        assert_eq!(events[0].event(), "authn_token_invalid");
        assert_eq!(events[0].level, Level::INFO);
        assert_eq!(events[0].field("reason"), Some(reason));
        assert_client(&events[0]);
    }

    // A valid token without the route's role: 403, an authorization failure.
    let user = testing::token(&jwt, "1").roles(["user"]).mint();
    let status = guarded(required().require_role("admin"), Some(&user)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let events = capture.take_audit();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event(), "authz_fail");
    assert_eq!(events[0].level, Level::INFO);
    assert_eq!(events[0].field("reason"), Some("insufficient_scope"));
    assert_client(&events[0]);

    assert_no_secret(
        &capture,
        &[
            &valid,
            malformed,
            &expired,
            &revoked,
            &revoked_jti,
            &forged,
            &user,
        ],
    );
}
