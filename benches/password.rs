//! The password pool's own parallel efficiency: what the login storm (BENCHMARKS.md §5)
//! can reach at best on this machine, with no HTTP at all.
//!
//! - `one_at_a_time`: one Argon2id verification on `PasswordHasher` (default parameters),
//!   awaited before the next;
//! - `pool_full`: as many verifications at once as the pool has threads (one per core).
//!
//! The "Argon2 limit" is cores ÷ the time of one hash; the ratio printed at the end,
//! `(cores / pool_full time per hash) / (cores / one_at_a_time time)`, says how much of that
//! limit the cores reach when they all hash at once (shared caches and memory bandwidth).
//! After criterion, both are timed again in 9 alternating rounds and the ratio is the median
//! of the rounds' ratios.
//!
//! `cargo bench --bench password`

#[path = "support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::time::Duration;

use criterion::Criterion;
use tower_jwt_auth::password::PasswordHasher;

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hasher = PasswordHasher::with_limits(cores, Duration::from_secs(60));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_time()
        .build()
        .unwrap();
    let phc = runtime.block_on(hasher.hash("bench password")).unwrap();
    let one = || {
        assert!(runtime
            .block_on(hasher.verify("bench password", &phc))
            .unwrap());
    };
    // `cores` verifications at once; the time of the batch.
    let full = || {
        runtime.block_on(async {
            let checks: Vec<_> = (0..cores)
                .map(|_| {
                    let (hasher, phc) = (hasher.clone(), phc.clone());
                    tokio::spawn(async move { hasher.verify("bench password", &phc).await })
                })
                .collect();
            for check in checks {
                assert!(check.await.unwrap().unwrap());
            }
        })
    };

    let mut c = Criterion::default().configure_from_args();
    // A hash takes ~20 ms: fewer samples over a longer time than the shared settings.
    let mut group = support::group(&mut c, "password");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    group.bench_function("one_at_a_time", |b| b.iter(one));
    group.bench_function("pool_full", |b| b.iter(full));
    group.finish();
    c.final_summary();
    if std::env::args().any(|a| a == "--list" || a == "--test" || a == "--profile-time") {
        return;
    }

    // Hashes per second with every core busy, against cores / time of one hash.
    let ratios = support::pool_efficiency(&one, &full, 9);
    println!(
        "\n{cores} cores hashing at once reach {:.2} of the Argon2 limit (cores / time of one \
         hash): median of 9 rounds, range {:.2}–{:.2}",
        ratios[4], ratios[0], ratios[8]
    );
}
