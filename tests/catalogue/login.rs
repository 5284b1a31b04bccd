//! Cases 39-41: login. (Case 39's timing half is `tests/login_timing.rs`.)

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tower_jwt_auth::password::PasswordHasher;
use tower_jwt_auth::service::AuthService;

use crate::harness::*;

const FAILED: &str = "email or password is incorrect";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_group() {
    let g = Group::new();
    let jwt = builder().build().unwrap();
    let app = app(&jwt);

    let login = |email: &str, password: &str| {
        post_json(
            "/auth/token",
            None,
            json!({"email": email, "password": password}).to_string(),
        )
    };
    g.case(
        39,
        "unknown email",
        &app,
        login("nobody@example.com", PASSWORD),
        401,
        FAILED,
    )
    .await;
    g.case(
        39,
        "wrong password",
        &app,
        login("ada@example.com", "wrong password"),
        401,
        FAILED,
    )
    .await;

    let big_password = "p".repeat(1024 * 1024);
    g.sensitive(&big_password);
    g.case(
        40,
        "1 MB password",
        &app,
        login("ada@example.com", &big_password),
        413,
        "The request body is larger than 16384 bytes",
    )
    .await;
    let roomy = AuthService::builder(&jwt, users())
        .max_body_size(4 * 1024 * 1024)
        .build();
    g.case(
        40,
        "1 MB password, large body cap",
        &app_with(&jwt, roomy),
        login("ada@example.com", &big_password),
        400,
        "password is longer than 1024 bytes",
    )
    .await;
    g.case(
        40,
        "10 MB body",
        &app,
        post_json("/auth/token", None, vec![b' '; 10 * 1024 * 1024]),
        413,
        "The request body is larger than 16384 bytes",
    )
    .await;
    g.case(
        40,
        "empty password",
        &app,
        login("ada@example.com", ""),
        401,
        FAILED,
    )
    .await;

    // Case 41: 100 concurrent logins against two hashing slots: memory stays bounded (two
    // hashes at once), the excess is answered 503, and a guarded route keeps answering.
    let limited = AuthService::builder(&jwt, users())
        .password_hasher(PasswordHasher::with_limits(2, Duration::from_millis(50)))
        .build();
    let storm_app = Arc::new(app_with(&jwt, limited));
    let access = jwt.create_access_token("1").unwrap();
    let logins: Vec<_> = (0..100)
        .map(|_| {
            let app = storm_app.clone();
            tokio::spawn(async move {
                let req = post_json(
                    "/auth/token",
                    None,
                    json!({"email": "ada@example.com", "password": PASSWORD}).to_string(),
                );
                let res = tower::ServiceExt::oneshot((*app).clone(), req)
                    .await
                    .unwrap();
                res.status().as_u16()
            })
        })
        .collect();
    for _ in 0..20 {
        let (status, _) = g.send(&storm_app, bearer("/access", &access)).await;
        assert_eq!(status, 200, "case 41: a guarded route during the storm");
    }
    let mut statuses = Vec::new();
    for task in logins {
        statuses.push(task.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "case 41: {statuses:?}"
    );
    assert!(statuses.contains(&503), "case 41: the excess was refused");
    assert!(statuses.contains(&200), "case 41: some logins went through");

    g.assert_no_leaks();
}
