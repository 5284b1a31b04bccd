//! Login timing: an unknown user, a wrong password, and a user whose stored hash is malformed
//! or was made with weaker parameters all answer the same status and body, and cost the same,
//! so timing tells an attacker nothing about which accounts exist. A statistical check on
//! medians of 40 interleaved attempts each (which kind goes first alternates), within 15% of
//! the unknown user's, retried up to five times (the machine is noisy, and hashing runs at the
//! lowest priority); no wall-clock bound.

use std::time::{Duration, Instant};

use argon2::{Argon2, Params, PasswordHasher as _};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tower::ServiceExt;
use tower_jwt_auth::password::PasswordHasher;
use tower_jwt_auth::service::{AuthService, StoredUser, UserStore, UserStoreError};
use tower_jwt_auth::throttle::{Limits, MemoryThrottle};
use tower_jwt_auth::JwtManager;

/// Users by email, each with the stored hash under test.
struct Users(Vec<(&'static str, String)>);

impl UserStore for Users {
    async fn find_user(&self, login: &str) -> Result<Option<StoredUser>, UserStoreError> {
        Ok(self
            .0
            .iter()
            .find(|(email, _)| *email == login)
            .map(|(_, phc)| StoredUser::new("1", phc.clone())))
    }
}

async fn attempt(svc: &AuthService<Users>, email: &str) -> Duration {
    let body = json!({"email": email, "password": "not the password"}).to_string();
    let req = Request::post("/token")
        .header("content-type", "application/json")
        .body(Full::<Bytes>::from(body))
        .unwrap();
    let start = Instant::now();
    let res = svc.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let elapsed = start.elapsed();
    assert_eq!(
        (status, &bytes[..]),
        (
            StatusCode::UNAUTHORIZED,
            &br#"{"msg":"email or password is incorrect"}"#[..]
        ),
        "{email}"
    );
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failed_login_looks_the_same() {
    let jwt = JwtManager::builder()
        .secret("login-timing-test-secret-0123456789abcdef")
        .build()
        .unwrap();
    let weak = Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        Params::new(4096, 1, 1, None).unwrap(),
    )
    .hash_password(b"the real password")
    .unwrap()
    .to_string();
    let users = Users(vec![
        (
            "strong@example.com",
            tower_jwt_auth::password::hash("the real password").unwrap(),
        ),
        ("weak@example.com", weak),
        ("malformed@example.com", "$argon2id$v=19$garbage".into()),
        ("empty@example.com", String::new()),
    ]);
    // Hundreds of failures on a few accounts: the login throttle is off here (its refusals
    // are measured in tests/throttle.rs).
    let off = Limits::default()
        .per_account_client(0)
        .per_account(0)
        .per_client(0);
    // One hashing thread: which of several threads (each with its own allocator arena for
    // the 19 MiB buffers) takes a job is noise this comparison does not need.
    let svc = AuthService::builder(&jwt, users)
        .login_throttle(MemoryThrottle::new(off))
        .password_hasher(PasswordHasher::with_limits(1, Duration::from_secs(10)))
        .build();

    for known in [
        "strong@example.com",
        "weak@example.com",
        "malformed@example.com",
        "empty@example.com",
    ] {
        let mut ratios = Vec::new();
        let close = 'runs: {
            for _ in 0..5 {
                let (mut unknown, mut this) = (Vec::new(), Vec::new());
                for i in 0..40 {
                    if i % 2 == 0 {
                        unknown.push(attempt(&svc, "nobody@example.com").await);
                        this.push(attempt(&svc, known).await);
                    } else {
                        this.push(attempt(&svc, known).await);
                        unknown.push(attempt(&svc, "nobody@example.com").await);
                    }
                }
                let (u, k) = (median(unknown), median(this));
                let ratio = k.as_secs_f64() / u.as_secs_f64();
                println!("login timing: {known} {k:?} against unknown {u:?}: ratio {ratio:.3}");
                ratios.push(ratio);
                if (0.85..=1.15).contains(&ratio) {
                    break 'runs true;
                }
            }
            false
        };
        assert!(
            close,
            "{known}: medians differ by more than 15% in five runs: {ratios:?}"
        );
    }
}
