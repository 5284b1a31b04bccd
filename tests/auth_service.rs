//! The mountable auth service: login, refresh, revoke, caps and failure paths.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tower::ServiceExt;
use tower_jwt_auth::claims::{Freshness, TokenType};
use tower_jwt_auth::password;
use tower_jwt_auth::password::PasswordHasher;
use tower_jwt_auth::service::{AuthService, StoredUser, UserStore, UserStoreError};
use tower_jwt_auth::{ErrorKind, JwtManager};

const SECRET: &str = "auth-service-test-secret-0123456789abcdef";

#[derive(Clone, Default)]
struct Users {
    by_login: Arc<Mutex<HashMap<String, StoredUser>>>,
    lookups: Arc<AtomicUsize>,
    upgrades: Arc<Mutex<Vec<(String, String)>>>,
}

impl Users {
    fn with(login: &str, id: &str, phc: String) -> Self {
        let users = Self::default();
        users
            .by_login
            .lock()
            .unwrap()
            .insert(login.into(), StoredUser::new(id, phc));
        users
    }
}

impl UserStore for Users {
    async fn find_user(&self, login: &str) -> Result<Option<StoredUser>, UserStoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        Ok(self.by_login.lock().unwrap().get(login).cloned())
    }

    async fn update_password_hash(&self, id: &str, phc: &str) -> Result<(), UserStoreError> {
        self.upgrades.lock().unwrap().push((id.into(), phc.into()));
        for user in self.by_login.lock().unwrap().values_mut() {
            if user.id == id {
                user.password_hash = phc.into();
            }
        }
        Ok(())
    }
}

fn setup() -> (JwtManager, Users, AuthService<Users>) {
    let m = JwtManager::builder().secret(SECRET).build().unwrap();
    let users = Users::with(
        "ada@example.com",
        "1",
        password::hash("correct horse").unwrap(),
    );
    let svc = AuthService::new(&m, users.clone());
    (m, users, svc)
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    json: Value,
}

async fn post(
    svc: &AuthService<Users>,
    path: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: impl Into<Bytes>,
) -> Reply {
    let mut req = Request::post(path);
    if let Some(ct) = ct {
        req = req.header("content-type", ct);
    }
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let res = svc
        .clone()
        .oneshot(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn login(svc: &AuthService<Users>, body: Value) -> Reply {
    post(
        svc,
        "/token",
        None,
        Some("application/json"),
        body.to_string(),
    )
    .await
}

#[tokio::test]
async fn login_issues_a_fresh_access_token_and_a_refresh_token() {
    let (m, _, svc) = setup();
    let r = login(
        &svc,
        json!({"email": "ada@example.com", "password": "correct horse"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.headers["content-type"], "application/json");
    let access = m
        .decode_token(r.json["access_token"].as_str().unwrap())
        .unwrap();
    let refresh = m
        .decode_token(r.json["refresh_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        (access.identity(), access.freshness()),
        ("1", Freshness::Fresh)
    );
    assert_eq!(
        (refresh.identity(), refresh.token_type()),
        ("1", &TokenType::Refresh)
    );
}

#[tokio::test]
async fn every_login_failure_answers_the_same() {
    let (_, users, svc) = setup();
    let expected = json!({"msg": "email or password is incorrect"});
    for body in [
        json!({"email": "nobody@example.com", "password": "correct horse"}),
        json!({"email": "ada@example.com", "password": "wrong horse"}),
        json!({"email": "ada@example.com", "password": ""}),
        json!({"email": "", "password": "x"}),
    ] {
        let r = login(&svc, body.clone()).await;
        assert_eq!(
            (r.status, &r.json),
            (StatusCode::UNAUTHORIZED, &expected),
            "{body}"
        );
    }
    assert_eq!(
        users.lookups.load(Ordering::SeqCst),
        2,
        "empty credentials skip the store"
    );
}

#[tokio::test]
async fn bad_requests_are_refused_without_hashing() {
    let (_, users, svc) = setup();
    let cases: Vec<(Option<&str>, Bytes, u16, &str)> = vec![
        (
            Some("application/json"),
            "{not json".into(),
            400,
            "The request body must be a JSON object",
        ),
        (
            Some("application/json"),
            "[1]".into(),
            400,
            "The request body must be a JSON object with \"email\" and \"password\" strings",
        ),
        (
            Some("application/json"),
            r#"{"email":"a"}"#.into(),
            400,
            "The request body must be a JSON object with \"email\" and \"password\" strings",
        ),
        (
            Some("application/json"),
            r#"{"email":"a","password":1}"#.into(),
            400,
            "The request body must be a JSON object with \"email\" and \"password\" strings",
        ),
        (
            Some("text/plain"),
            r#"{"email":"a","password":"b"}"#.into(),
            415,
            "Content-Type must be application/json",
        ),
        (
            None,
            r#"{"email":"a","password":"b"}"#.into(),
            415,
            "Content-Type must be application/json",
        ),
        (
            Some("application/json"),
            json!({"email": "ada@example.com", "password": "p".repeat(1025)})
                .to_string()
                .into(),
            400,
            "password is longer than 1024 bytes",
        ),
        (
            Some("application/json"),
            Bytes::from(vec![b' '; 16 * 1024 + 1]),
            413,
            "The request body is larger than 16384 bytes",
        ),
        (
            Some("application/json"),
            Bytes::from(vec![b'x'; 10 * 1024 * 1024]),
            413,
            "The request body is larger than 16384 bytes",
        ),
    ];
    for (ct, body, status, msg) in cases {
        let r = post(&svc, "/token", None, ct, body).await;
        assert_eq!(
            (r.status.as_u16(), r.json["msg"].as_str().unwrap()),
            (status, msg)
        );
    }
    assert_eq!(users.lookups.load(Ordering::SeqCst), 0);
    // A charset parameter and +json types are JSON too.
    let ok = post(
        &svc,
        "/token",
        None,
        Some("application/json; charset=utf-8"),
        json!({"email": "ada@example.com", "password": "correct horse"}).to_string(),
    )
    .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn login_field_is_configurable() {
    let m = JwtManager::builder().secret(SECRET).build().unwrap();
    let users = Users::with("ada", "1", password::hash("pw").unwrap());
    let svc = AuthService::builder(&m, users)
        .login_field("username")
        .build();
    let r = login(&svc, json!({"username": "ada", "password": "pw"})).await;
    assert_eq!(r.status, 200);
    let r = login(&svc, json!({"username": "ada", "password": "nope"})).await;
    assert_eq!(r.json, json!({"msg": "username or password is incorrect"}));
}

#[tokio::test]
async fn weak_hashes_are_upgraded_on_login() {
    use argon2::{Argon2, Params, PasswordHasher as _};
    let weak = Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        Params::new(1024, 1, 1, None).unwrap(),
    )
    .hash_password(b"pw")
    .unwrap()
    .to_string();
    let m = JwtManager::builder().secret(SECRET).build().unwrap();
    let users = Users::with("ada", "1", weak);
    let svc = AuthService::builder(&m, users.clone())
        .login_field("username")
        .build();
    assert_eq!(
        login(&svc, json!({"username": "ada", "password": "pw"}))
            .await
            .status,
        200
    );
    let upgrades = users.upgrades.lock().unwrap().clone();
    assert_eq!(upgrades.len(), 1);
    assert_eq!(upgrades[0].0, "1");
    assert!(upgrades[0].1.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    // The new hash logs in and is not upgraded again.
    assert_eq!(
        login(&svc, json!({"username": "ada", "password": "pw"}))
            .await
            .status,
        200
    );
    assert_eq!(users.upgrades.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_beyond_the_limit_get_503() {
    let m = JwtManager::builder().secret(SECRET).build().unwrap();
    let users = Users::with("ada", "1", password::hash("pw").unwrap());
    let svc = AuthService::builder(&m, users)
        .login_field("username")
        .password_hasher(PasswordHasher::with_limits(1, Duration::from_millis(1)))
        .build();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(
                async move { login(&svc, json!({"username": "ada", "password": "pw"})).await },
            )
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let r = task.await.unwrap();
        if r.status == 503 {
            assert_eq!(
                r.json["msg"],
                "Too many logins in progress, try again shortly"
            );
            assert_eq!(r.headers["retry-after"], "1");
        }
        statuses.push(r.status.as_u16());
    }
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(statuses.contains(&503), "{statuses:?}");
}

#[tokio::test]
async fn refresh_issues_a_non_fresh_access_token() {
    let (m, _, svc) = setup();
    let refresh = m.create_refresh_token("1").unwrap();
    let r = post(&svc, "/refresh", Some(&refresh), None, "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json.as_object().unwrap().len(), 1);
    let access = m
        .decode_token(r.json["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        (access.identity(), access.freshness(), access.token_type()),
        ("1", Freshness::NotFresh, &TokenType::Access)
    );

    let access = m.create_access_token("1").unwrap();
    let r = post(&svc, "/refresh", Some(&access), None, "").await;
    assert_eq!(
        (r.status.as_u16(), r.json.clone()),
        (401, json!({"msg": "Only refresh tokens are allowed"}))
    );
    let r = post(&svc, "/refresh", None, None, "").await;
    assert_eq!(
        (r.status.as_u16(), r.json),
        (401, json!({"msg": "Missing Authorization Header"}))
    );
}

#[tokio::test]
async fn revoke_access_refresh_and_both() {
    let (m, _, svc) = setup();
    // Access token alone.
    let access = m.create_access_token("1").unwrap();
    let r = post(&svc, "/revoke", Some(&access), None, "").await;
    assert_eq!(
        (r.status.as_u16(), r.json),
        (200, json!({"msg": "Successfully logged out"}))
    );
    assert_eq!(
        m.verify_token(&access).await.unwrap_err().kind(),
        ErrorKind::Revoked
    );
    let r = post(&svc, "/revoke", Some(&access), None, "").await;
    assert_eq!(
        (r.status.as_u16(), r.json),
        (401, json!({"msg": "Token has been revoked"}))
    );

    // Refresh token alone.
    let refresh = m.create_refresh_token("1").unwrap();
    assert_eq!(
        post(&svc, "/revoke", Some(&refresh), None, "").await.status,
        200
    );
    let r = post(&svc, "/refresh", Some(&refresh), None, "").await;
    assert_eq!(r.json, json!({"msg": "Token has been revoked"}));

    // Both in one call.
    let access = m.create_access_token("1").unwrap();
    let refresh = m.create_refresh_token("1").unwrap();
    let r = post(
        &svc,
        "/revoke",
        Some(&access),
        Some("application/json"),
        json!({"refresh_token": refresh}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        m.verify_token(&access).await.unwrap_err().kind(),
        ErrorKind::Revoked
    );
    assert_eq!(
        m.verify_token(&refresh).await.unwrap_err().kind(),
        ErrorKind::Revoked
    );
}

#[tokio::test]
async fn revoke_refuses_someone_elses_refresh_token() {
    let (m, _, svc) = setup();
    let access = m.create_access_token("1").unwrap();
    let theirs = m.create_refresh_token("2").unwrap();
    let r = post(
        &svc,
        "/revoke",
        Some(&access),
        Some("application/json"),
        json!({"refresh_token": theirs}).to_string(),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json),
        (
            400,
            json!({"msg": "\"refresh_token\" belongs to another identity"})
        )
    );
    // Nothing was revoked.
    assert!(m.verify_token(&access).await.is_ok());
    assert!(m.verify_token(&theirs).await.is_ok());
    let other_access = m.create_access_token("1").unwrap();
    let r = post(
        &svc,
        "/revoke",
        Some(&access),
        Some("application/json"),
        json!({"refresh_token": other_access}).to_string(),
    )
    .await;
    assert_eq!(
        r.json,
        json!({"msg": "\"refresh_token\" is not a refresh token"})
    );
    let r = post(
        &svc,
        "/revoke",
        Some(&access),
        Some("application/json"),
        json!({"refresh_token": "garbage"}).to_string(),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json),
        (
            400,
            json!({"msg": "Invalid \"refresh_token\": Not enough segments"})
        )
    );
}

#[tokio::test]
async fn routing() {
    let (_, _, svc) = setup();
    let r = post(&svc, "/nope", None, None, "").await;
    assert_eq!(
        (r.status.as_u16(), r.json),
        (404, json!({"msg": "Not found"}))
    );
    let res = svc
        .clone()
        .oneshot(
            Request::get("/token")
                .body(Full::<Bytes>::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
}

#[tokio::test]
async fn mounts_in_axum() {
    let (m, _, svc) = setup();
    let app: Router = Router::new()
        .nest_service("/auth", svc.clone())
        .route_service("/token", svc);
    for path in ["/auth/token", "/token"] {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                json!({"email": "ada@example.com", "password": "correct horse"}).to_string(),
            ))
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let refresh = m.create_refresh_token("1").unwrap();
    let req = Request::post("/auth/refresh")
        .header("authorization", format!("Bearer {refresh}"))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(app.oneshot(req).await.unwrap().status(), 200);
}
