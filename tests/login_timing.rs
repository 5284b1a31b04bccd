//! Login timing: an unknown user and a wrong password answer the same status and body, and
//! cost the same. A statistical check on medians of 50 interleaved attempts each (which kind
//! goes first alternates), within 15% of each other, retried up to five times (the machine is
//! noisy, and hashing runs at the lowest priority); no wall-clock bound.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tower::ServiceExt;
use tower_jwt_auth::password::PasswordHasher;
use tower_jwt_auth::{AuthService, JwtManager, MemoryUserStore};

async fn attempt(svc: &AuthService<MemoryUserStore>, email: &str) -> (Duration, StatusCode, Bytes) {
    let body = json!({"email": email, "password": "not the password"}).to_string();
    let req = Request::post("/token")
        .header("content-type", "application/json")
        .body(Full::<Bytes>::from(body))
        .unwrap();
    let start = Instant::now();
    let res = svc.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (start.elapsed(), status, bytes)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_and_wrong_password_look_the_same() {
    let jwt = JwtManager::builder()
        .secret("login-timing-test-secret-0123456789abcdef")
        .build()
        .unwrap();
    let users = MemoryUserStore::new();
    users
        .add_user("ada@example.com", "1", "the real password")
        .unwrap();
    // One hashing thread: which of several threads (each with its own allocator arena for
    // the 19 MiB buffers) takes a job is noise this comparison does not need.
    let svc = AuthService::builder(&jwt, users)
        .password_hasher(PasswordHasher::with_limits(1, Duration::from_secs(10)))
        .build();

    let mut ratios = Vec::new();
    for _ in 0..3 {
        let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
        for _ in 0..50 {
            let (t, status, body) = attempt(&svc, "nobody@example.com").await;
            assert_eq!(
                (status, &body[..]),
                (
                    StatusCode::UNAUTHORIZED,
                    &br#"{"msg":"email or password is incorrect"}"#[..]
                )
            );
            unknown.push(t);
            let (t, status, body) = attempt(&svc, "ada@example.com").await;
            assert_eq!(
                (status, &body[..]),
                (
                    StatusCode::UNAUTHORIZED,
                    &br#"{"msg":"email or password is incorrect"}"#[..]
                )
            );
            wrong.push(t);
        }
        let (u, w) = (median(unknown), median(wrong));
        let ratio = u.as_secs_f64() / w.as_secs_f64();
        println!("login timing: median unknown user {u:?}, wrong password {w:?}, ratio {ratio:.3}");
        ratios.push(ratio);
        if (0.85..=1.15).contains(&ratio) {
            return;
        }
    }
    panic!("medians differ by more than 15% in five runs: {ratios:?}");
}
