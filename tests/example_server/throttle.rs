//! The login throttle of the example server (issue #22), from outside: its settings, the
//! client's address (`X-Forwarded-For` believed from trusted proxies only), one count for
//! `/token` and `/web/token`, counts shared through Redis, and the password change's audit
//! event and `RUST_LOG`.

use std::time::{Duration, Instant};

use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{run_to_exit, Server, TempDb};
use crate::{login, register};

const ADA: &str = "ada@example.com";
const PASSWORD: &str = "pw-of-ada-long";

fn throttled_body() -> Value {
    json!({"msg": "Too many login attempts, try again later"})
}

fn failed_body() -> Value {
    json!({"msg": "email or password is incorrect"})
}

/// `POST path` with `email` and `password`, from `client` (an `X-Forwarded-For` value) when
/// given; returns the answer and how long it took.
async fn attempt(
    s: &Server,
    path: &str,
    email: &str,
    password: &str,
    client: Option<&str>,
) -> ((StatusCode, HeaderMap, Value), Duration) {
    let headers: Vec<(&str, &str)> = client.map(|c| ("x-forwarded-for", c)).into_iter().collect();
    let start = Instant::now();
    let answer = s
        .call_with(
            Method::POST,
            path,
            &headers,
            Some(json!({"email": email, "password": password})),
        )
        .await;
    (answer, start.elapsed())
}

/// A 401 login failure; returns how long it took.
async fn fails(s: &Server, email: &str, password: &str, client: Option<&str>) -> Duration {
    let ((status, _, body), took) = attempt(s, "/token", email, password, client).await;
    assert_eq!(
        (status, body),
        (StatusCode::UNAUTHORIZED, failed_body()),
        "{email} from {client:?}"
    );
    took
}

/// A throttled login (429, `Retry-After` at least 1 s); returns the `Retry-After` and how
/// long the answer took.
async fn throttled_on(
    s: &Server,
    path: &str,
    email: &str,
    password: &str,
    client: Option<&str>,
) -> (u64, Duration) {
    let ((status, headers, body), took) = attempt(s, path, email, password, client).await;
    assert_eq!(
        (status, body),
        (StatusCode::TOO_MANY_REQUESTS, throttled_body()),
        "{email} from {client:?} on {path}"
    );
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "Retry-After: {retry_after}");
    (retry_after, took)
}

async fn throttled(s: &Server, email: &str, password: &str, client: Option<&str>) -> u64 {
    throttled_on(s, "/token", email, password, client).await.0
}

async fn succeeds(s: &Server, email: &str, password: &str, client: Option<&str>) {
    let ((status, _, body), _) = attempt(s, "/token", email, password, client).await;
    assert_eq!(status, StatusCode::OK, "{email} from {client:?}: {body}");
    assert!(body["access_token"].is_string(), "{body}");
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Per (account, address): after N failures the next attempt from that address is refused,
/// even with the right password, without hashing, on `/token` and `/web/token` alike (one
/// count); the user logs in from elsewhere meanwhile; an unknown account answers the same;
/// a success resets the count.
#[tokio::test]
async fn per_account_and_address_limit() {
    let db = TempDb::new("throttle-pair");
    let s = Server::start(
        &db.path(),
        &[
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT_IP", "3"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    );
    register(&s, "ada", ADA, PASSWORD).await;
    let attacker = Some("203.0.113.1");

    let mut failures = Vec::new();
    for _ in 0..3 {
        failures.push(fails(&s, ADA, "wrong password", attacker).await);
    }
    let mut refusals = Vec::new();
    for password in ["wrong password", PASSWORD, "another guess"] {
        let (retry_after, took) = throttled_on(&s, "/token", ADA, password, attacker).await;
        assert!(retry_after > 800 && retry_after <= 900, "{retry_after}");
        refusals.push(took);
    }
    // No Argon2 behind a refusal: far quicker than a failure, which hashes.
    let (failure, refusal) = (median(failures), median(refusals));
    assert!(
        refusal < failure / 2,
        "a 429 took {refusal:?}, a 401 {failure:?}"
    );
    // The page's login shares the count.
    throttled_on(&s, "/web/token", ADA, PASSWORD, attacker).await;

    // Ada herself, from another address, is not locked out.
    succeeds(&s, ADA, PASSWORD, Some("198.51.100.2")).await;
    succeeds(&s, ADA, PASSWORD, None).await;

    // An unknown account: the same 401s, then the same 429.
    let nobody = "nobody@example.com";
    for _ in 0..3 {
        fails(&s, nobody, "wrong password", attacker).await;
    }
    throttled(&s, nobody, "wrong password", attacker).await;

    // A success resets (account, address): N-1 failures, a success, N more failures.
    let typo = Some("198.51.100.3");
    for _ in 0..2 {
        fails(&s, ADA, "typo password", typo).await;
    }
    succeeds(&s, ADA, PASSWORD, typo).await;
    for _ in 0..3 {
        fails(&s, ADA, "typo password", typo).await;
    }
    throttled(&s, ADA, PASSWORD, typo).await;
}

/// Per account (from any address) and per address (whatever the account); `0` turns the
/// (account, address) key off.
#[tokio::test]
async fn per_account_and_per_address_limits_and_zero_turns_a_key_off() {
    let db = TempDb::new("throttle-keys");
    let s = Server::start(
        &db.path(),
        &[
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT_IP", "0"),
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "11"),
            ("LOGIN_MAX_FAILURES_PER_IP", "14"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    );
    register(&s, "ada", ADA, PASSWORD).await;
    register(&s, "bob", "bob@example.com", "pw-of-bob-long").await;

    // 11 failures from one address: past the default 10 per (account, address), which is off.
    for _ in 0..11 {
        fails(&s, ADA, "wrong password", Some("203.0.113.1")).await;
    }
    // The account is locked, from any address, whatever the password.
    throttled(&s, ADA, "wrong password", Some("203.0.113.2")).await;
    throttled(&s, ADA, PASSWORD, Some("198.51.100.7")).await;
    // Another account is not.
    succeeds(&s, "bob@example.com", "pw-of-bob-long", Some("203.0.113.1")).await;

    // One address trying many accounts: 14 failures, then refused, whatever the account.
    let stuffer = Some("192.0.2.66");
    for i in 0..14 {
        fails(&s, &format!("user{i}@example.com"), "password1", stuffer).await;
    }
    throttled(&s, "user99@example.com", "password1", stuffer).await;
    throttled(&s, "bob@example.com", "pw-of-bob-long", stuffer).await;
    succeeds(&s, "bob@example.com", "pw-of-bob-long", Some("192.0.2.67")).await;
}

/// Without `TRUSTED_PROXIES`, `X-Forwarded-For` is the client's to write and is ignored:
/// every request from 127.0.0.1 is one client, rotating the header does not escape the
/// per-address limit. With `TRUSTED_PROXIES=127.0.0.1`, the header names the client.
#[tokio::test]
async fn x_forwarded_for_only_from_trusted_proxies() {
    let limits = [
        ("LOGIN_MAX_FAILURES_PER_IP", "3"),
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT_IP", "0"),
    ];
    let forged = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"];

    let db = TempDb::new("throttle-forged");
    let s = Server::start(&db.path(), &limits);
    for (i, xff) in forged[..3].iter().enumerate() {
        fails(&s, &format!("user{i}@example.com"), "password1", Some(xff)).await;
    }
    throttled(&s, "user3@example.com", "password1", Some(forged[3])).await;
    throttled(&s, "user4@example.com", "password1", None).await;
    drop(s);

    let db = TempDb::new("throttle-trusted");
    let mut env = limits.to_vec();
    env.push(("TRUSTED_PROXIES", "127.0.0.1"));
    let s = Server::start(&db.path(), &env);
    for (i, xff) in forged.iter().enumerate() {
        fails(&s, &format!("user{i}@example.com"), "password1", Some(xff)).await;
    }
    // One of them past its limit; the proxy's own address is another client.
    for i in 4..6 {
        fails(
            &s,
            &format!("user{i}@example.com"),
            "password1",
            Some(forged[0]),
        )
        .await;
    }
    throttled(&s, "user7@example.com", "password1", Some(forged[0])).await;
    fails(&s, "user8@example.com", "password1", None).await;
}

/// `LOGIN_THROTTLE_WINDOW`: once the window has passed, the address may try again.
#[tokio::test]
async fn a_short_window_lets_the_client_try_again() {
    let db = TempDb::new("throttle-window");
    let s = Server::start(
        &db.path(),
        &[
            ("LOGIN_THROTTLE_WINDOW", "2"),
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT_IP", "2"),
        ],
    );
    register(&s, "ada", ADA, PASSWORD).await;
    for _ in 0..2 {
        fails(&s, ADA, "wrong password", None).await;
    }
    let retry_after = throttled(&s, ADA, PASSWORD, None).await;
    assert!(retry_after <= 2, "Retry-After: {retry_after}");
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    succeeds(&s, ADA, PASSWORD, None).await;
}

/// Invalid throttle settings stop the server at start, naming the variable.
#[test]
fn invalid_throttle_settings_stop_the_server() {
    for (name, value) in [
        ("LOGIN_THROTTLE_WINDOW", "fifteen minutes"),
        ("LOGIN_THROTTLE_WINDOW", "0"),
        ("LOGIN_THROTTLE_WINDOW", "-5"),
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT_IP", "ten"),
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "-1"),
        ("LOGIN_MAX_FAILURES_PER_IP", "1.5"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("TRUSTED_PROXIES", "127.0.0.1, proxy.internal"),
    ] {
        let out = run_to_exit(&[(name, value)]);
        assert!(!out.status.success(), "{name}={value}");
        let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(name), "{name}={value}: {said}");
        assert!(!said.contains("listening on"), "{name}={value}: {said}");
    }
}

/// `PUT /me/password` is audited: `authn_password_change` with the user, the client's
/// address (from the trusted proxy) and its `User-Agent`, cut at 256 bytes.
#[tokio::test]
async fn a_password_change_is_audited() {
    let db = TempDb::new("throttle-audit");
    let s = Server::start(&db.path(), &[("TRUSTED_PROXIES", "127.0.0.1")]);
    register(&s, "ada", ADA, PASSWORD).await;
    let (access, _) = login(&s, ADA, PASSWORD).await;
    let auth = format!("Bearer {access}");
    let user_agent = format!("audit-test/1.0 {}", "x".repeat(300));
    let (status, _, body) = s
        .call_with(
            Method::PUT,
            "/me/password",
            &[
                ("authorization", &auth),
                ("user-agent", &user_agent),
                ("x-forwarded-for", "203.0.113.77"),
            ],
            Some(json!({"old_password": PASSWORD, "new_password": "a new long password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let line = s.log_line("authn_password_change").await;
    assert!(line.contains("event=\"authn_password_change\""), "{line}");
    assert!(line.contains("user_id=1 "), "{line}");
    assert!(line.contains("client=203.0.113.77 "), "{line}");
    let logged = format!("user_agent={:?}", &user_agent[..256]);
    assert!(line.ends_with(&logged), "{line}");
    // A refused change is not audited.
    let (access, _) = login(&s, ADA, "a new long password").await;
    let wrong = json!({"old_password": "not the password", "new_password": "a third password"});
    assert_eq!(
        s.call(Method::PUT, "/me/password", Some(&access), Some(wrong))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.log_lines("authn_password_change").len(), 1);
}

/// `RUST_LOG` is honoured (here: the audit target off); an invalid one is warned about and
/// the server logs at `info`.
#[tokio::test]
async fn rust_log_is_honoured() {
    let db = TempDb::new("throttle-rust-log");
    let s = Server::start(
        &db.path(),
        &[("RUST_LOG", "info,tower_jwt_auth::audit=off")],
    );
    register(&s, "ada", ADA, PASSWORD).await;
    login(&s, ADA, PASSWORD).await;
    fails(&s, ADA, "wrong password", None).await;
    // A marker after them: the server has written everything before it.
    let (access, _) = login(&s, ADA, PASSWORD).await;
    assert_eq!(s.get("/me", Some(&access)).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(s.log_lines("authn_login").is_empty());
    assert!(!s.log_lines("login throttle").is_empty());
    drop(s);

    let s = Server::start(&db.path(), &[("RUST_LOG", "tower_jwt_auth=loud")]);
    let warning = s.log_line("RUST_LOG").await;
    assert!(warning.contains("WARN"), "{warning}");
    login(&s, ADA, PASSWORD).await;
    s.log_line("authn_login_success").await;
}

/// Two instances on one Redis count failures together: failures on A refuse attempts on B.
#[cfg(feature = "redis")]
#[tokio::test]
async fn two_instances_share_failure_counts_through_redis() {
    use crate::server as redis_server;
    if !redis_server::available() {
        return;
    }
    let redis = redis_server::RedisServer::start();
    let db = TempDb::new("throttle-redis");
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT_IP", "3"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ];
    let a = Server::start(&db.path(), &env);
    let b = Server::start(&db.path(), &env);
    register(&a, "ada", ADA, PASSWORD).await;
    let attacker = Some("203.0.113.1");
    fails(&a, ADA, "wrong password", attacker).await;
    fails(&b, ADA, "wrong password", attacker).await;
    fails(&a, ADA, "wrong password", attacker).await;
    throttled(&b, ADA, PASSWORD, attacker).await;
    throttled(&a, ADA, PASSWORD, attacker).await;
    throttled_on(&b, "/web/token", ADA, PASSWORD, attacker).await;
    succeeds(&b, ADA, PASSWORD, Some("198.51.100.2")).await;

    // A success on B resets the pair on A too.
    let typo = Some("198.51.100.3");
    fails(&a, ADA, "typo password", typo).await;
    fails(&a, ADA, "typo password", typo).await;
    succeeds(&b, ADA, PASSWORD, typo).await;
    for s in [&a, &b, &a] {
        fails(s, ADA, "typo password", typo).await;
    }
    throttled(&b, ADA, PASSWORD, typo).await;
}

/// Checking the old password in `PUT /me/password` counts with the account's logins: a
/// stolen access token does not buy unlimited guesses at the password (which would then
/// take the account over). Wrong old passwords are audited as failed logins; the guards'
/// refusals name the client too.
#[tokio::test]
async fn a_password_change_is_throttled_with_the_logins() {
    let db = TempDb::new("throttle-change");
    let s = Server::start(&db.path(), &[("LOGIN_MAX_FAILURES_PER_ACCOUNT_IP", "2")]);
    register(&s, "ada", ADA, PASSWORD).await;
    let (access, _) = login(&s, ADA, PASSWORD).await;
    let change = |old: &str| json!({"old_password": old, "new_password": "a new long password"});
    for _ in 0..2 {
        let (status, body) = s
            .call(
                Method::PUT,
                "/me/password",
                Some(&access),
                Some(change("guess")),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (status, headers, body) = s
        .call_with(
            Method::PUT,
            "/me/password",
            &[("authorization", &format!("Bearer {access}"))],
            Some(change(PASSWORD)),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::TOO_MANY_REQUESTS, throttled_body())
    );
    assert!(headers.contains_key("retry-after"));
    // ... and the account's logins from this address with it.
    throttled(&s, ADA, PASSWORD, None).await;
    let line = s.log_line("wrong old password").await;
    assert!(
        line.contains("event=\"authn_login_fail\"") && line.contains("client=127.0.0.1"),
        "{line}"
    );
    // A refused token names its client.
    assert_eq!(
        s.get("/me", Some("not.a.jwt")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let line = s.log_line("authn_token_invalid").await;
    assert!(line.contains("client=127.0.0.1"), "{line}");
}
