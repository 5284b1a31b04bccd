//! The login throttle's cost, and what it saves.
//!
//! - `memory/reserve`: `MemoryThrottle::reserve` of an attempt on its three keys, admitted
//!   (limits high enough never to refuse): the check a login pays before hashing;
//! - `memory/admitted`: `reserve`, then `succeeded` (so that the keys never fill up): a
//!   successful login's whole cost to the throttle;
//! - `memory/refused`: `reserve` of an attempt whose (account, client) key is exhausted: what
//!   a throttled attempt costs the throttle;
//! - `login/401`: the auth service answering a wrong password (one Argon2id verification at
//!   the default parameters), and `login/429`: the same request once its key is exhausted
//!   (no lookup, no hashing). Both through `tower::ServiceExt::oneshot`, body included.
//!
//! The ratio printed at the end, `401 / 429`, is the issue's "a 429 answer ≥ 100× cheaper
//! than a 401"; the throttle check is to stay ≤ 1 µs.
//!
//! `cargo bench --bench throttle`

#[path = "support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use criterion::Criterion;
use http::Request;
use http_body_util::Full;
use tower::ServiceExt;
use tower_jwt_auth::audit::PeerAddr;
use tower_jwt_auth::service::{AuthService, MemoryUserStore};
use tower_jwt_auth::throttle::{Admission, Attempt, Limits, LoginThrottle, MemoryThrottle};
use tower_jwt_auth::JwtManager;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let ip: IpAddr = "192.0.2.1".parse().unwrap();
    let throttle = MemoryThrottle::new(Limits::default());
    let attempt = Attempt::new("ada@example.com", Some(ip));
    let exhausted = MemoryThrottle::new(Limits::default().per_account_client(1));
    assert!(support::ready(exhausted.reserve(&attempt))
        .unwrap()
        .is_admitted());

    let high = Limits::default()
        .per_account_client(u32::MAX)
        .per_account(u32::MAX)
        .per_client(u32::MAX);
    let never_full = MemoryThrottle::new(high);
    let mut group = support::group(&mut c, "memory");
    group.bench_function("reserve", |b| {
        b.iter(|| {
            let admitted = support::ready(never_full.reserve(black_box(&attempt))).unwrap();
            assert!(admitted.is_admitted());
        })
    });
    group.bench_function("admitted", |b| {
        b.iter(|| {
            let Admission::Admitted(r) =
                support::ready(throttle.reserve(black_box(&attempt))).unwrap()
            else {
                panic!("admitted")
            };
            support::ready(throttle.succeeded(&attempt, r)).unwrap();
        })
    });
    group.bench_function("refused", |b| {
        b.iter(|| {
            let refused = support::ready(exhausted.reserve(black_box(&attempt))).unwrap();
            assert!(!refused.is_admitted());
        })
    });
    group.finish();

    // The auth service: one user, the default hasher; its (account, client) key exhausted for
    // the 429s by a second service sharing nothing with the first.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let jwt = JwtManager::builder()
        .secret("throttle-bench-secret-0123456789abcdefgh")
        .build()
        .unwrap();
    let users = || {
        let store = MemoryUserStore::new();
        store
            .add_user("ada@example.com", "1", "bench password")
            .unwrap();
        store
    };
    let unlimited = Limits::default()
        .per_account_client(0)
        .per_account(0)
        .per_client(0);
    let fails = AuthService::builder(&jwt, users())
        .login_throttle(MemoryThrottle::new(unlimited))
        .build();
    let throttled = AuthService::builder(&jwt, users())
        .login_throttle(MemoryThrottle::new(Limits::default().per_account_client(1)))
        .build();
    let request = || {
        let mut req = Request::post("/token")
            .header("content-type", "application/json")
            .body(Full::<Bytes>::from(
                r#"{"email":"ada@example.com","password":"wrong password"}"#,
            ))
            .unwrap();
        req.extensions_mut()
            .insert(PeerAddr(SocketAddr::new(ip, 40000)));
        req
    };
    let status = |svc: &AuthService<MemoryUserStore>| {
        runtime
            .block_on(svc.clone().oneshot(request()))
            .unwrap()
            .status()
    };
    assert_eq!(status(&throttled), 401);
    assert_eq!(status(&throttled), 429);
    let mut group = support::group(&mut c, "login");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    group.bench_function("401", |b| b.iter(|| assert_eq!(status(&fails), 401)));
    group.bench_function("429", |b| b.iter(|| assert_eq!(status(&throttled), 429)));
    group.finish();
    c.final_summary();

    let m = support::median;
    println!(
        "\nthrottle check: {:.0} ns (admitted), {:.0} ns with the success given back, refused: {:.0} ns\n\
         login 401 / 429: {:.0}x ({:.2} ms against {:.1} µs)",
        m("memory", "reserve"),
        m("memory", "admitted"),
        m("memory", "refused"),
        m("login", "401") / m("login", "429"),
        m("login", "401") / 1e6,
        m("login", "429") / 1e3,
    );
}
