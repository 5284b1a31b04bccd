//! The login throttle in the auth service: each key's limit of failures, 429 with
//! `Retry-After` before any hashing (the right password too), the same answers for known and
//! unknown accounts, a success that resets (account, client), the real user from another
//! address while one is locked out, forged forwarding headers ignored without trusted
//! proxies and honoured behind one; and memory bounded under a million distinct clients.
#![cfg(feature = "testing")]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tower::ServiceExt;
use tower_jwt_auth::audit::PeerAddr;
use tower_jwt_auth::service::{AuthService, StoredUser, UserStore, UserStoreError};
use tower_jwt_auth::testing::{insecure_fast_password_hasher, InsecureTestUsers};
use tower_jwt_auth::throttle::{Attempt, Limits, LoginThrottle, MemoryThrottle, TrustedProxies};
use tower_jwt_auth::JwtManager;

const SECRET: &str = "throttle-test-secret-0123456789abcdefghij";
const THROTTLED: &str = r#"{"msg":"Too many login attempts, try again later"}"#;
const FAILED: &str = r#"{"msg":"email or password is incorrect"}"#;

/// The test kit's users, counting lookups (a throttled attempt must not reach them).
#[derive(Clone)]
struct Counted(Arc<InsecureTestUsers>, Arc<AtomicUsize>);

impl UserStore for Counted {
    async fn find_user(&self, login: &str) -> Result<Option<StoredUser>, UserStoreError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.find_user(login).await
    }
}

struct Fixture {
    svc: AuthService<Counted>,
    lookups: Arc<AtomicUsize>,
}

fn fixture(limits: Limits, proxies: TrustedProxies) -> Fixture {
    let jwt = JwtManager::builder().secret(SECRET).build().unwrap();
    let users = InsecureTestUsers::new().with_user("ada@example.com", "1", "the password");
    let lookups = Arc::new(AtomicUsize::new(0));
    let svc = AuthService::builder(&jwt, Counted(Arc::new(users), lookups.clone()))
        .password_hasher(insecure_fast_password_hasher())
        .login_throttle(MemoryThrottle::new(limits))
        .trusted_proxies(proxies)
        .build();
    Fixture { svc, lookups }
}

/// A login as `email` with `password` from `peer` (none: no peer address), with
/// `X-Forwarded-For: forwarded` when given: status, `Retry-After`, body.
async fn login(
    f: &Fixture,
    email: &str,
    password: &str,
    peer: Option<&str>,
    forwarded: Option<&str>,
) -> (StatusCode, Option<u64>, String) {
    let mut req = Request::post("/token").header("content-type", "application/json");
    if let Some(xff) = forwarded {
        req = req.header("x-forwarded-for", xff);
    }
    let mut req = req
        .body(Full::<Bytes>::from(
            json!({"email": email, "password": password}).to_string(),
        ))
        .unwrap();
    if let Some(peer) = peer {
        let ip: IpAddr = peer.parse().unwrap();
        req.extensions_mut()
            .insert(PeerAddr(SocketAddr::new(ip, 40000)));
    }
    let res = f.svc.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, retry, String::from_utf8(body.to_vec()).unwrap())
}

/// `POST /token` as ada with `password`, from 192.0.2.1.
fn ada_login(password: &str) -> Request<Full<Bytes>> {
    let mut req = Request::post("/token")
        .header("content-type", "application/json")
        .body(Full::<Bytes>::from(
            json!({"email": "ada@example.com", "password": password}).to_string(),
        ))
        .unwrap();
    req.extensions_mut()
        .insert(PeerAddr("192.0.2.1:4000".parse().unwrap()));
    req
}

fn limits(account_client: u32, account: u32, client: u32) -> Limits {
    Limits::new(Duration::from_secs(900))
        .per_account_client(account_client)
        .per_account(account)
        .per_client(client)
}

#[tokio::test]
async fn an_exhausted_account_and_client_answers_429_before_any_hashing() {
    let f = fixture(limits(3, 100, 100), TrustedProxies::none());
    let here = Some("192.0.2.1");
    for _ in 0..3 {
        let answer = login(&f, "ada@example.com", "wrong", here, None).await;
        assert_eq!(
            (answer.0, answer.2.as_str()),
            (StatusCode::UNAUTHORIZED, FAILED)
        );
    }
    let lookups = f.lookups.load(Ordering::SeqCst);
    // The right password too, and without looking the user up (so without hashing).
    for password in ["wrong", "the password"] {
        let (status, retry, body) = login(&f, "ada@example.com", password, here, None).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::TOO_MANY_REQUESTS, THROTTLED)
        );
        let retry = retry.expect("Retry-After");
        assert!((890..=900).contains(&retry), "{retry}");
    }
    assert_eq!(
        f.lookups.load(Ordering::SeqCst),
        lookups,
        "no lookup, no hashing"
    );
    // Case and spaces do not make another account.
    let (status, _, _) = login(&f, " ADA@example.com", "wrong", here, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The real user, from another address, logs in.
    let (status, _, _) = login(
        &f,
        "ada@example.com",
        "the password",
        Some("198.51.100.7"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn known_and_unknown_accounts_answer_alike() {
    let f = fixture(limits(2, 100, 100), TrustedProxies::none());
    let mut answers = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(login(&f, email, "wrong", Some("192.0.2.1"), None).await);
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0][1].0, StatusCode::UNAUTHORIZED);
    assert_eq!(answers[0][2].0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_success_resets_the_account_and_client() {
    let f = fixture(limits(3, 100, 100), TrustedProxies::none());
    let here = Some("192.0.2.1");
    for round in 0..3 {
        for _ in 0..2 {
            let (status, _, _) = login(&f, "ada@example.com", "typo", here, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "round {round}");
        }
        let (status, _, _) = login(&f, "ada@example.com", "the password", here, None).await;
        assert_eq!(status, StatusCode::OK, "round {round}");
    }
}

#[tokio::test]
async fn the_account_and_the_client_have_limits_of_their_own() {
    // Per account: failures from many addresses.
    let f = fixture(limits(0, 4, 0), TrustedProxies::none());
    for i in 0..4 {
        let peer = format!("192.0.2.{i}");
        assert_eq!(
            login(&f, "ada@example.com", "x", Some(&peer), None).await.0,
            401
        );
    }
    assert_eq!(
        login(&f, "ada@example.com", "x", Some("192.0.2.99"), None)
            .await
            .0,
        429
    );
    // Per client: one address trying many accounts.
    let f = fixture(limits(0, 0, 4), TrustedProxies::none());
    for i in 0..4 {
        let email = format!("user{i}@example.com");
        assert_eq!(login(&f, &email, "x", Some("192.0.2.1"), None).await.0, 401);
    }
    assert_eq!(
        login(
            &f,
            "ada@example.com",
            "the password",
            Some("192.0.2.1"),
            None
        )
        .await
        .0,
        429
    );
    assert_eq!(
        login(
            &f,
            "ada@example.com",
            "the password",
            Some("192.0.2.2"),
            None
        )
        .await
        .0,
        200
    );
    // Without a peer address only the account counts.
    let f = fixture(limits(1, 2, 1), TrustedProxies::none());
    for _ in 0..2 {
        assert_eq!(login(&f, "ada@example.com", "x", None, None).await.0, 401);
    }
    assert_eq!(login(&f, "ada@example.com", "x", None, None).await.0, 429);
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_trusted_proxies() {
    // Untrusted: rotating forged X-Forwarded-For values is one client.
    let f = fixture(limits(0, 0, 3), TrustedProxies::none());
    for i in 0..3 {
        let forged = format!("203.0.113.{i}");
        assert_eq!(
            login(
                &f,
                &format!("u{i}@x.org"),
                "x",
                Some("192.0.2.1"),
                Some(&forged)
            )
            .await
            .0,
            401
        );
    }
    let answer = login(
        &f,
        "u9@x.org",
        "x",
        Some("192.0.2.1"),
        Some("203.0.113.200"),
    )
    .await;
    assert_eq!(answer.0, 429);
    // Behind a trusted proxy, each forwarded client is its own; a hop the client wrote to
    // the left of the real one changes nothing.
    let f = fixture(
        limits(0, 0, 3),
        TrustedProxies::parse("10.0.0.0/8").unwrap(),
    );
    let proxy = Some("10.0.0.1");
    for i in 0..3 {
        let xff = format!("6.6.6.{i}, 203.0.113.7");
        assert_eq!(
            login(&f, &format!("u{i}@x.org"), "x", proxy, Some(&xff))
                .await
                .0,
            401
        );
    }
    assert_eq!(
        login(&f, "u9@x.org", "x", proxy, Some("1.1.1.1, 203.0.113.7"))
            .await
            .0,
        429
    );
    assert_eq!(
        login(&f, "u9@x.org", "x", proxy, Some("203.0.113.8"))
            .await
            .0,
        401
    );
}

/// A million distinct clients, each failing once: the throttle keeps at most its capacity
/// of keys.
#[tokio::test]
async fn memory_stays_bounded_under_a_million_clients() {
    let capacity = 10_000;
    let throttle = MemoryThrottle::with_capacity(limits(0, 0, 5), capacity);
    for i in 0u32..1_000_000 {
        let attempt = Attempt::new(
            "",
            Some(IpAddr::V4(Ipv4Addr::from(i.wrapping_mul(2_654_435_761)))),
        );
        assert!(throttle.reserve(&attempt).await.unwrap().is_admitted());
        if i % 100_000 == 0 {
            let (keys, _) = throttle.tracked();
            assert!(keys <= capacity, "{keys} at {i}");
        }
    }
    let (keys, failures) = throttle.tracked();
    assert!(
        keys <= capacity && failures <= capacity,
        "{keys} keys, {failures} failures"
    );
    // A key under steady attack is still counted.
    let steady = Attempt::new("", Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))));
    for _ in 0..5 {
        assert!(throttle.reserve(&steady).await.unwrap().is_admitted());
    }
    assert!(!throttle.reserve(&steady).await.unwrap().is_admitted());
}

/// An attempt the service could not decide (its user store failed: 503) is given back: an
/// overloaded or failing server does not lock its users out.
#[tokio::test]
async fn undecided_attempts_do_not_count() {
    #[derive(Clone)]
    struct FailsFirst(Arc<AtomicUsize>, Arc<InsecureTestUsers>);
    impl UserStore for FailsFirst {
        async fn find_user(&self, login: &str) -> Result<Option<StoredUser>, UserStoreError> {
            if self.0.fetch_add(1, Ordering::SeqCst) < 5 {
                return Err(UserStoreError::new("down"));
            }
            self.1.find_user(login).await
        }
    }
    let jwt = JwtManager::builder().secret(SECRET).build().unwrap();
    let users = InsecureTestUsers::new().with_user("ada@example.com", "1", "the password");
    let svc = AuthService::builder(&jwt, FailsFirst(Arc::default(), Arc::new(users)))
        .password_hasher(insecure_fast_password_hasher())
        .login_throttle(MemoryThrottle::new(limits(2, 2, 2)))
        .build();
    let call = |password: &'static str| {
        let svc = svc.clone();
        async move { svc.oneshot(ada_login(password)).await.unwrap().status() }
    };
    for _ in 0..5 {
        assert_eq!(call("wrong").await, StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(call("wrong").await, StatusCode::UNAUTHORIZED);
    assert_eq!(call("the password").await, StatusCode::OK);
}

/// A login whose client went away mid-check (its future dropped) is given back to the
/// account (hanging up locks nobody out) but stays counted for its client (hanging up as
/// soon as hashing starts is no free way to keep the hashing pool busy).
#[tokio::test]
async fn a_cancelled_login_counts_for_its_client_only() {
    #[derive(Clone)]
    struct HangsFirst(Arc<AtomicUsize>, Arc<InsecureTestUsers>);
    impl UserStore for HangsFirst {
        async fn find_user(&self, login: &str) -> Result<Option<StoredUser>, UserStoreError> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                std::future::pending::<()>().await;
            }
            self.1.find_user(login).await
        }
    }
    let jwt = JwtManager::builder().secret(SECRET).build().unwrap();
    let users = InsecureTestUsers::new().with_user("ada@example.com", "1", "the password");
    let svc = AuthService::builder(&jwt, HangsFirst(Arc::default(), Arc::new(users)))
        .password_hasher(insecure_fast_password_hasher())
        .login_throttle(MemoryThrottle::new(limits(0, 1, 1)))
        .build();
    let hung = tokio::time::timeout(
        Duration::from_millis(50),
        svc.clone().oneshot(ada_login("wrong")),
    );
    assert!(
        hung.await.is_err(),
        "the first login hangs, then is dropped"
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The account is free again: another client's failure is a 401, not a 429...
    let mut other = ada_login("wrong");
    other
        .extensions_mut()
        .insert(PeerAddr("198.51.100.7:4000".parse().unwrap()));
    let res = svc.clone().oneshot(other).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "not throttled");
    // ... while the client that hung up has used its one attempt.
    let res = svc.oneshot(ada_login("the password")).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// The window slides on the real clock, also for the cache that holds the keys: a key whose
/// first failure left the window keeps its later ones (a cache entry living a window from
/// its creation would have let a double burst through at its edge).
#[tokio::test]
async fn the_window_slides_in_the_cache_too() {
    let throttle = MemoryThrottle::new(
        Limits::new(Duration::from_secs(1))
            .per_account_client(2)
            .per_account(0)
            .per_client(0),
    );
    let attempt = Attempt::new("ada", Some("192.0.2.1".parse().unwrap()));
    assert!(throttle.reserve(&attempt).await.unwrap().is_admitted()); // t = 0
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(throttle.reserve(&attempt).await.unwrap().is_admitted()); // t = 0.9
    tokio::time::sleep(Duration::from_millis(250)).await;
    // t = 1.15: the first has left, the second has not: one more, then none.
    assert!(throttle.reserve(&attempt).await.unwrap().is_admitted());
    assert!(!throttle.reserve(&attempt).await.unwrap().is_admitted());
}

/// An IPv6 client is its /64 by default: rotating addresses within a subscriber's network
/// buys no more attempts.
#[tokio::test]
async fn ipv6_clients_count_by_network() {
    let per_client = |limits: Limits| {
        MemoryThrottle::new(limits.per_account_client(0).per_account(0).per_client(2))
    };
    let from = |ip: &str| Attempt::new("", Some(ip.parse().unwrap()));
    let t = per_client(Limits::default());
    assert!(t.reserve(&from("2001:db8::1")).await.unwrap().is_admitted());
    assert!(t
        .reserve(&from("2001:db8::ffff:2"))
        .await
        .unwrap()
        .is_admitted());
    assert!(!t.reserve(&from("2001:db8::3")).await.unwrap().is_admitted());
    assert!(t
        .reserve(&from("2001:db8:0:1::1"))
        .await
        .unwrap()
        .is_admitted());
    // Each address alone, when so configured.
    let t = per_client(Limits::default().ipv6_prefix(128));
    for i in 1..=5 {
        assert!(t
            .reserve(&from(&format!("2001:db8::{i}")))
            .await
            .unwrap()
            .is_admitted());
    }
}
