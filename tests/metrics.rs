//! The metrics (feature `metrics`) through a real Prometheus recorder: each outcome moves its
//! series, and the label sets are finite: the number of series does not grow with the number
//! of users, tokens or client addresses, and no label carries one of them.
#![cfg(all(feature = "metrics", feature = "testing"))]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use tower::ServiceExt;
use tower_jwt_auth::audit::PeerAddr;
use tower_jwt_auth::issue::TokenOptions;
use tower_jwt_auth::service::AuthService;
use tower_jwt_auth::testing::{insecure_fast_password_hasher, InsecureTestUsers};
use tower_jwt_auth::throttle::{Limits, MemoryThrottle};
use tower_jwt_auth::{JwtManager, JwtRequiredLayer};

const SECRET: &str = "metrics-test-secret-0123456789abcdefghijk";

/// The process's recorder, installed before anything records.
fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        // Not `register_all()`. The crate's handles (every series of the table) are
        // registered at the first event; a series beyond them, say a label taken from a
        // user, a token or an address, would show as new series as traffic grows.
        PrometheusBuilder::new().install_recorder().unwrap()
    })
}

/// Every series now: `name{labels}` → value.
fn series() -> Vec<(String, f64)> {
    recorder()
        .render()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn value(name: &str) -> f64 {
    series()
        .into_iter()
        .find(|(n, _)| n == name)
        .map_or(0.0, |(_, v)| v)
}

struct World {
    jwt: JwtManager,
    app: Router,
    auth: AuthService<InsecureTestUsers>,
}

fn world(users: usize) -> World {
    let jwt = JwtManager::builder().secret(SECRET).build().unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|| async { "ok" }).route_layer(JwtRequiredLayer::new(&jwt)),
        )
        .route(
            "/admin",
            get(|| async { "ok" }).route_layer(JwtRequiredLayer::new(&jwt).require_role("admin")),
        );
    let mut store = InsecureTestUsers::new();
    for i in 0..users {
        store = store.with_user(&format!("user{i}@example.com"), &format!("{i}"), "pw");
    }
    let auth = AuthService::builder(&jwt, store)
        .password_hasher(insecure_fast_password_hasher())
        .login_throttle(MemoryThrottle::new(
            Limits::new(Duration::from_secs(60)).per_account_client(2),
        ))
        .build();
    World { jwt, app, auth }
}

async fn get_with(app: &Router, path: &str, token: Option<&str>) -> StatusCode {
    let mut req = Request::get(path);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let req = req.body(axum::body::Body::empty()).unwrap();
    app.clone().oneshot(req).await.unwrap().status()
}

async fn login(w: &World, email: &str, password: &str, client: u32) -> StatusCode {
    let mut req = Request::post("/token")
        .header("content-type", "application/json")
        .body(Full::<Bytes>::from(
            json!({"email": email, "password": password}).to_string(),
        ))
        .unwrap();
    let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + client));
    req.extensions_mut()
        .insert(PeerAddr(SocketAddr::new(ip, 40000)));
    w.auth.clone().oneshot(req).await.unwrap().status()
}

/// Users `from..to`, each: a login, a failed login, three failures more (throttled), a
/// guarded request with its token, one with an expired token, one forbidden, a logout,
/// then its revoked token again; and requests without a token.
async fn traffic(w: &World, from: usize, to: usize) {
    for i in from..to {
        let email = format!("user{i}@example.com");
        let client = i as u32;
        assert_eq!(login(w, &email, "pw", client).await, StatusCode::OK);
        for _ in 0..3 {
            login(w, &email, "wrong", client).await;
        }
        let token = w.jwt.create_access_token(format!("{i}")).unwrap();
        assert_eq!(get_with(&w.app, "/", Some(&token)).await, StatusCode::OK);
        assert_eq!(
            get_with(&w.app, "/admin", Some(&token)).await,
            StatusCode::FORBIDDEN
        );
        let expired = w
            .jwt
            .create_access_token_with(
                format!("{i}"),
                TokenOptions::new().claim("exp", json!(1_000_000_000)),
            )
            .unwrap();
        assert_eq!(
            get_with(&w.app, "/", Some(&expired)).await,
            StatusCode::UNAUTHORIZED
        );
        w.jwt
            .revoke(&w.jwt.decode_token(&token).unwrap())
            .await
            .unwrap();
        assert_eq!(
            get_with(&w.app, "/", Some(&token)).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(get_with(&w.app, "/", None).await, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_move_their_series_and_labels_stay_finite() {
    recorder();
    let w = world(300);
    let before = |name: &str| value(name);
    let names = [
        r#"tower_jwt_auth_login_attempts_total{result="success"}"#,
        r#"tower_jwt_auth_login_attempts_total{result="failure"}"#,
        r#"tower_jwt_auth_login_attempts_total{result="throttled"}"#,
        r#"tower_jwt_auth_login_throttled_total{key="account_client"}"#,
        r#"tower_jwt_auth_guard_requests_total{result="accepted",reason="none"}"#,
        r#"tower_jwt_auth_guard_requests_total{result="refused",reason="missing"}"#,
        r#"tower_jwt_auth_guard_requests_total{result="refused",reason="expired"}"#,
        r#"tower_jwt_auth_guard_requests_total{result="refused",reason="revoked"}"#,
        r#"tower_jwt_auth_guard_requests_total{result="refused",reason="forbidden"}"#,
        r#"tower_jwt_auth_revocations_total{kind="token"}"#,
    ];
    let start: Vec<f64> = names.iter().map(|n| before(n)).collect();

    traffic(&w, 0, 10).await;
    let after_10: BTreeSet<String> = series().into_iter().map(|(n, _)| n).collect();
    for (name, was) in names.iter().zip(&start) {
        assert!(
            value(name) >= was + 10.0,
            "{name} moved by 10: {} -> {}",
            was,
            value(name)
        );
    }

    // 290 more users, tokens and client addresses: not one series more.
    traffic(&w, 10, 300).await;
    let after_300: BTreeSet<String> = series().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        after_10, after_300,
        "series grew with users, tokens or addresses"
    );
    for name in &after_300 {
        let labels = name.split_once('{').map_or("", |(_, l)| l);
        assert!(
            !labels.contains("example.com") && !labels.contains("10.0.") && !labels.contains("eyJ"),
            "{name}"
        );
    }
    // The labels are the documented ones only.
    for name in &after_300 {
        let labels = name
            .split_once('{')
            .map_or("", |(_, l)| l.trim_end_matches('}'));
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let key = pair.split('=').next().unwrap();
            assert!(
                ["result", "reason", "key", "kind", "store", "le", "quantile"].contains(&key),
                "{name}"
            );
        }
    }
    println!("{} series after 300 users", after_300.len());
}
