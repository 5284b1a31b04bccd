//! The in-process denylist at 1,000,000 revoked tokens: lookup (hit and miss, random keys),
//! insertion, and resident memory per revoked token, against a plain `HashSet<u128>` and a
//! moka cache keyed by `String` measured in the same run.
//!
//! `cargo bench --bench denylist`. Memory is measured in a child process per structure
//! (resident set before and after inserting 1,000,000 uuid jtis).

#[path = "support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::collections::HashSet;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion};
use tower_jwt_auth::denylist::{MemoryDenylist, TokenId};

const N: usize = 1_000_000;

fn uuids(n: usize) -> Vec<String> {
    (0..n).map(|_| uuid::Uuid::new_v4().to_string()).collect()
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Runs in a child process: bytes of resident memory per entry for one structure.
fn measure(structure: &str) -> f64 {
    let ids = uuids(N);
    let until = Some(SystemTime::now() + Duration::from_secs(3600));
    let before = resident_bytes();
    let keep: Box<dyn std::any::Any> = match structure {
        "memory_denylist" => {
            let list = MemoryDenylist::new();
            for id in &ids {
                list.insert(id, until);
            }
            assert_eq!(list.len(), N as u64);
            Box::new(list)
        }
        "hashset_u128" => {
            let set: HashSet<u128> = ids
                .iter()
                .map(|id| uuid::Uuid::parse_str(id).unwrap().as_u128())
                .collect();
            Box::new(set)
        }
        "moka_string" => {
            let cache: moka::sync::Cache<String, ()> = moka::sync::Cache::builder().build();
            for id in &ids {
                cache.insert(id.clone(), ());
            }
            cache.run_pending_tasks();
            Box::new(cache)
        }
        other => panic!("unknown structure {other}"),
    };
    let after = resident_bytes();
    black_box(&keep);
    (after - before) as f64 / N as f64
}

fn memory_in_child(structure: &str) -> f64 {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("DENYLIST_MEASURE", structure)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN)
}

fn main() {
    if let Ok(structure) = std::env::var("DENYLIST_MEASURE") {
        println!("{}", measure(&structure));
        return;
    }
    let list = MemoryDenylist::new();
    let revoked = uuids(N);
    let until = Some(SystemTime::now() + Duration::from_secs(3600));
    for id in &revoked {
        list.insert(id, until);
    }
    let unknown = uuids(100_000);
    let set: HashSet<u128> = revoked
        .iter()
        .map(|id| uuid::Uuid::parse_str(id).unwrap().as_u128())
        .collect();

    let mut c = Criterion::default().configure_from_args();
    let mut group = support::group(&mut c, "denylist_1m");
    // The key is copied outside the timed part, as a guard finds its jti in the payload it
    // just decoded (hot in cache): only the table access is measured, at random positions.
    let mut i = 0usize;
    let mut pick = |keys: &[String]| {
        i = (i + 7919) % keys.len();
        keys[i].clone()
    };
    group.bench_function("lookup_hit", |b| {
        b.iter_batched_ref(
            || pick(&revoked),
            |jti| assert!(list.contains(black_box(jti))),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("guard_check_hit", |b| {
        b.iter_batched_ref(
            || pick(&revoked),
            |jti| assert!(list.is_token_revoked(TokenId::new(black_box(jti), "u", 0.0))),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("lookup_miss", |b| {
        b.iter_batched_ref(
            || pick(&unknown),
            |jti| assert!(!list.contains(black_box(jti))),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("hashset_u128_lookup_baseline", |b| {
        b.iter_batched_ref(
            || pick(&revoked),
            |jti| {
                let id = uuid::Uuid::parse_str(black_box(jti)).unwrap().as_u128();
                assert!(set.contains(&id));
            },
            BatchSize::SmallInput,
        )
    });
    let fresh = uuids(2_000_000);
    let mut next = 0usize;
    group.bench_function("insert", |b| {
        b.iter(|| {
            next = (next + 1) % fresh.len();
            list.insert(black_box(&fresh[next]), until);
        })
    });
    group.finish();
    c.final_summary();

    let ours = memory_in_child("memory_denylist");
    let hashset = memory_in_child("hashset_u128");
    let moka = memory_in_child("moka_string");
    let m = |bench: &str| support::median("denylist_1m", bench);
    let table = format!(
        "denylist at 1,000,000 revoked tokens (medians):\n\
         lookup hit {:.0} ns (the guard's check, no clock: {:.0} ns), miss {:.0} ns (HashSet<u128> baseline {:.0} ns: {:.2}x)\n\
         insert {:.0} ns ({:.2} M inserts/s)\n\
         memory per revoked token: MemoryDenylist {:.0} B, HashSet<u128> {:.0} B ({:.2}x), moka String {:.0} B ({:.2}x)\n",
        m("lookup_hit"), m("guard_check_hit"), m("lookup_miss"), m("hashset_u128_lookup_baseline"),
        m("lookup_hit") / m("hashset_u128_lookup_baseline"),
        m("insert"), 1e3 / m("insert"),
        ours, hashset, ours / hashset, moka, ours / moka,
    );
    println!("\n{table}");
}
