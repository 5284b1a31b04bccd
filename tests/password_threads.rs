//! The password pool's threads, counted in `/proc/self/task` (Linux): none start when a
//! hasher or an auth service is built, they start on first use up to the limit, and they end
//! with the last handle. One test in this binary, so that no other test's threads count.
#![cfg(all(target_os = "linux", feature = "testing"))]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use tower::ServiceExt;
use tower_jwt_auth::password::PasswordHasher;
use tower_jwt_auth::service::AuthService;
use tower_jwt_auth::testing::InsecureTestUsers;
use tower_jwt_auth::JwtManager;

/// The threads of this process named like the pool's (`password-hasher-<n>`, which Linux
/// shortens to 15 bytes).
fn hashing_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("password-hash"))
        .count()
}

/// Waits (bounded) until `hashing_threads()` is `expected`.
async fn until_threads(expected: usize) {
    let start = Instant::now();
    while hashing_threads() != expected {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} hashing threads, expected {expected}",
            hashing_threads()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn login(auth: &AuthService<InsecureTestUsers>) -> StatusCode {
    let req = Request::post("/token")
        .header("content-type", "application/json")
        .body(Full::<Bytes>::from(
            r#"{"email":"ada@example.com","password":"correct horse"}"#,
        ))
        .unwrap();
    auth.clone().oneshot(req).await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_threads_start_on_first_use_up_to_the_limit() {
    let jwt = JwtManager::builder()
        .secret("password-threads-test-secret-0123456789")
        .build()
        .unwrap();
    let users = || InsecureTestUsers::new().with_user("ada@example.com", "1", "correct horse");

    // Building spawns nothing: neither the default hasher nor one passed in.
    let default = AuthService::builder(&jwt, users()).build();
    let hasher = PasswordHasher::with_limits(3, Duration::from_secs(30));
    let auth = AuthService::builder(&jwt, users())
        .password_hasher(hasher.clone())
        .build();
    assert_eq!(hashing_threads(), 0, "no thread before the first hash");

    // The first login starts one thread; logins one after another need no other.
    for _ in 0..3 {
        assert_eq!(login(&auth).await, StatusCode::OK);
        assert_eq!(hashing_threads(), 1);
    }

    // Six hashes at once on a pool of three: three threads, never more.
    let hashes: Vec<_> = (0..6)
        .map(|_| {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash("correct horse").await })
        })
        .collect();
    for hash in hashes {
        hash.await.unwrap().unwrap();
    }
    assert_eq!(hashing_threads(), 3);
    assert_eq!(hasher.threads_started(), 3);

    // The default hasher starts its own thread on its first login.
    assert_eq!(login(&default).await, StatusCode::OK);
    assert_eq!(hashing_threads(), 4);

    // The threads end with the last handle of their pool.
    drop((auth, hasher));
    until_threads(1).await;
    drop(default);
    until_threads(0).await;
}
