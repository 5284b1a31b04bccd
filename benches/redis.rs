//! Measurements against real Redis servers (started here on free loopback ports): the
//! per-request guard cost with the Redis-backed denylist and a warm local view, as a ratio to
//! the in-process denylist in the same run; the revocation propagation time between two
//! instances on each topology (single node, 3-primary Cluster, Sentinel); and what waiting
//! for a replica (`WAIT 1`) adds to a revocation.
//!
//! `cargo bench --bench redis --features redis` (needs `redis-server` and `redis-cli`).

#[path = "../tests/redis/fleet.rs"]
#[allow(dead_code, unused_macros)]
mod fleet;
#[path = "../tests/redis/server.rs"]
#[allow(dead_code)]
mod server;
#[path = "../tests/redis/topology.rs"]
mod topology;

#[path = "support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::Criterion;
use http::{Request, Response};
use http_body_util::Empty;
use support::ready;
use tower::{service_fn, Layer, Service};
use tower_jwt_auth::denylist::{Denylist, MemoryDenylist, RedisDenylist, TokenId};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::{JwtManager, JwtRequiredLayer};

const SECRET: &str = "benchmark-secret-0123456789abcdefghijklmnop";

fn main() {
    if !server::available() {
        return;
    }
    let redis = server::RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let connect = || runtime.block_on(trusted(redis.url()));
    let (a_list, b_list) = (connect(), connect());
    let a = JwtManager::builder()
        .secret(SECRET)
        .denylist(a_list)
        .build()
        .unwrap();
    let b = JwtManager::builder()
        .secret(SECRET)
        .denylist(b_list.clone())
        .build()
        .unwrap();
    let memory = JwtManager::builder()
        .secret(SECRET)
        .denylist(MemoryDenylist::new())
        .build()
        .unwrap();

    // 10,000 revocations through Redis, heard by B.
    runtime.block_on(async {
        for _ in 0..10_000 {
            let token = a.create_access_token("1").unwrap();
            a.revoke(&a.decode_token(&token).unwrap()).await.unwrap();
        }
    });

    let token = a.create_access_token("42").unwrap();
    let auth = format!("Bearer {token}");
    let request = || {
        Request::get("/")
            .header("authorization", auth.as_str())
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let echo = service_fn(|_: Request<RequestBody<Empty<Bytes>>>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    });

    let mut c = Criterion::default().configure_from_args();
    let mut group = support::group(&mut c, "redis_guard");
    let mut in_process = JwtRequiredLayer::new(&memory).layer(echo);
    group.bench_function("in_process_denylist", |bench| {
        bench.iter(|| ready(in_process.call(black_box(request()))).unwrap())
    });
    let mut shared = JwtRequiredLayer::new(&b).layer(echo);
    assert_eq!(ready(shared.call(request())).unwrap().status(), 200);
    group.bench_function("redis_denylist_warm", |bench| {
        bench.iter(|| ready(shared.call(black_box(request()))).unwrap())
    });
    group.finish();
    c.final_summary();

    // Propagation: revoke on A, poll B's local view.
    let samples = runtime.block_on(propagation(&a, &b_list));
    let topologies = propagation_per_topology(&runtime);
    let wait = wait_cost(&runtime);
    let median = |name: &str| support::median("redis_guard", name);
    println!(
        "\nguard call (request + JwtRequired + echo), medians: in-process denylist {:.0} ns, \
         Redis denylist with a warm view {:.0} ns: ratio {:.2}x\n\
         revocation propagation A -> B (200 samples, includes A's Redis round trip): \
         median {:?}, p99 {:?}, max {:?}",
        median("in_process_denylist"),
        median("redis_denylist_warm"),
        median("redis_denylist_warm") / median("in_process_denylist"),
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
        samples[samples.len() - 1],
    );
    println!("\nrevocation propagation A -> B per topology (200 samples each):");
    for (name, samples) in topologies {
        println!(
            "  {name:<8} median {:?}, p99 {:?}, max {:?}",
            samples[samples.len() / 2],
            samples[samples.len() * 99 / 100],
            samples[samples.len() - 1]
        );
    }
    let (none, one) = wait;
    println!(
        "\na revocation, Sentinel primary with one replica (200 each, interleaved), medians: \
         without WAIT {:?}, with WAIT 1 {:?} (+{:?}; p99 {:?} / {:?})",
        none[none.len() / 2],
        one[one.len() / 2],
        one[one.len() / 2].saturating_sub(none[none.len() / 2]),
        none[none.len() * 99 / 100],
        one[one.len() * 99 / 100],
    );
}

/// A denylist on `target` (prefix `bench:`), its view loaded.
async fn trusted(
    target: impl Into<tower_jwt_auth::redis_connection::RedisTarget>,
) -> RedisDenylist {
    let list = RedisDenylist::builder(target)
        .prefix("bench:")
        .connect()
        .await
        .unwrap();
    assert!(list.wait_until_trusted(Duration::from_secs(10)).await);
    list
}

/// 200 revocations on `a`, each timed until `b_list`'s local view has it; sorted.
async fn propagation(a: &JwtManager, b_list: &RedisDenylist) -> Vec<Duration> {
    let mut samples = Vec::new();
    for _ in 0..200 {
        let token = a.create_access_token("7").unwrap();
        let verified = a.decode_token(&token).unwrap();
        let id = TokenId::new(verified.jti().unwrap(), "7", verified.issued_at().unwrap());
        let start = Instant::now();
        a.revoke(&verified).await.unwrap();
        while !matches!(b_list.is_revoked_now(id), Some(Ok(true))) {
            assert!(start.elapsed() < Duration::from_secs(10));
            tokio::task::yield_now().await;
        }
        samples.push(start.elapsed());
    }
    samples.sort();
    samples
}

/// Two instances on each topology: revoke on A, poll B's local view; 200 samples, sorted.
fn propagation_per_topology(
    runtime: &tokio::runtime::Runtime,
) -> Vec<(&'static str, Vec<Duration>)> {
    use fleet::{Fleet, Kind};
    let mut results = Vec::new();
    for (name, kind) in [
        ("single", Kind::Single),
        ("cluster", Kind::Cluster),
        ("sentinel", Kind::Sentinel),
    ] {
        let Some(redis) = Fleet::start(kind) else {
            continue;
        };
        let samples = runtime.block_on(async {
            let (a_list, b_list) = (trusted(redis.target()).await, trusted(redis.target()).await);
            let a = JwtManager::builder()
                .secret(SECRET)
                .denylist(a_list)
                .build()
                .unwrap();
            propagation(&a, &b_list).await
        });
        results.push((name, samples));
    }
    results
}

/// A revocation's time on a Sentinel primary with one replica, without waiting for the
/// replica and with `WAIT 1` (interleaved); 200 samples each, sorted.
fn wait_cost(runtime: &tokio::runtime::Runtime) -> (Vec<Duration>, Vec<Duration>) {
    use fleet::{Fleet, Kind};
    let Some(redis) = Fleet::start(Kind::Sentinel) else {
        return (vec![Duration::ZERO], vec![Duration::ZERO]);
    };
    runtime.block_on(async {
        let connect = |acks| {
            let target = redis.target();
            async move {
                RedisDenylist::builder(target)
                    .prefix("wait:")
                    .replica_acks(acks, Duration::from_millis(300))
                    .connect()
                    .await
                    .unwrap()
            }
        };
        let (without, with) = (connect(0).await, connect(1).await);
        let (mut none, mut one) = (Vec::new(), Vec::new());
        for i in 0..400 {
            let (list, into) = if i % 2 == 0 {
                (&without, &mut none)
            } else {
                (&with, &mut one)
            };
            let jti = format!("wait-{i}");
            let start = Instant::now();
            list.revoke(&jti, None).await.unwrap();
            into.push(start.elapsed());
        }
        none.sort();
        one.sort();
        (none, one)
    })
}
