//! Shared by the benches: criterion's settings, polling futures that complete at once,
//! reading criterion's medians back, and timing routines in turns to print ratios measured
//! in the same fraction of a second.

use std::future::Future;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};

/// A benchmark group with the settings the benches share: 40 samples over 2 s after a
/// 0.5 s warm-up (each routine is a microsecond or less).
pub fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(40)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    group
}
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Polls a future that completes without waiting (every guarded call here does).
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Criterion's output folder.
pub fn target_dir() -> String {
    std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| format!("{}/target", env!("CARGO_MANIFEST_DIR")))
}

/// The median of one benchmark of this run, in nanoseconds (NaN when missing).
pub fn median(group: &str, bench: &str) -> f64 {
    let path = format!(
        "{}/criterion/{group}/{bench}/new/estimates.json",
        target_dir()
    );
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json["median"]["point_estimate"].as_f64())
        .unwrap_or(f64::NAN)
}

/// Writes the medians of a bench's interleaved rounds, in nanoseconds per call, to
/// `target/criterion/<bench>-medians.json` as `{"<case>": {"<routine>": ns}}`: what
/// `scripts/chart.py` draws (`cases` pairs a case's name with its `(routine, ns)` medians).
#[allow(dead_code)] // not every bench draws
pub fn write_medians(bench: &str, cases: &[(&str, Vec<(&str, f64)>)]) {
    let json: serde_json::Map<String, serde_json::Value> = cases
        .iter()
        .filter(|(_, medians)| !medians.is_empty())
        .map(|(case, medians)| {
            let routines = medians
                .iter()
                .filter(|(_, ns)| ns.is_finite())
                .map(|(name, ns)| (name.to_string(), serde_json::json!(ns)))
                .collect();
            (case.to_string(), serde_json::Value::Object(routines))
        })
        .collect();
    let path = format!("{}/criterion/{bench}-medians.json", target_dir());
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    if std::fs::write(&path, text).is_ok() {
        println!("medians written to {path}");
    }
}

/// One measured routine: its name in criterion and a call that does the work once.
#[allow(dead_code)] // the benches that compare in turns
pub type Routine<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Per-call times of one round, by routine name.
#[allow(dead_code)] // the benches that compare in turns
pub type Round = Vec<(&'static str, f64)>;

/// Whether this run measures `case` (criterion's filter names it, or there is none) and is
/// a measuring run at all (not `--profile-time`, `--list` or `--test`).
#[allow(dead_code)] // the benches that compare in turns
pub fn selected(case: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args
        .iter()
        .any(|a| ["--profile-time", "--list", "--test"].contains(&a.as_str()))
    {
        return false;
    }
    match args.iter().find(|a| !a.starts_with('-')) {
        None => true,
        Some(filter) => {
            filter.contains(case) || case.contains(filter.split('/').next().unwrap_or(""))
        }
    }
}

/// The routines timed in turns, 25 rounds of ~20 ms batches each, so that every ratio can
/// be taken between measurements made within the same fraction of a second: on a shared
/// machine whose speed drifts over seconds, this is what keeps a ratio honest.
#[allow(dead_code)] // the benches that compare in turns
pub fn interleaved(routines: &mut [Routine]) -> Vec<Round> {
    const ROUNDS: usize = 25;
    const BATCH: Duration = Duration::from_millis(20);
    let batch_sizes: Vec<u32> = routines
        .iter_mut()
        .map(|(_, routine)| {
            let (start, mut n) = (Instant::now(), 0u32);
            while start.elapsed() < BATCH / 4 {
                routine();
                n += 1;
            }
            (n * 4).max(1)
        })
        .collect();
    (0..ROUNDS)
        .map(|_| {
            routines
                .iter_mut()
                .zip(&batch_sizes)
                .map(|((name, routine), &n)| {
                    let start = Instant::now();
                    for _ in 0..n {
                        routine();
                    }
                    (*name, start.elapsed().as_nanos() as f64 / n as f64)
                })
                .collect()
        })
        .collect()
}

/// Each routine's median over the rounds, in nanoseconds per call.
#[allow(dead_code)] // the benches that compare in turns
pub fn interleaved_medians(rounds: &[Round]) -> Vec<(&'static str, f64)> {
    let names: Vec<&'static str> = rounds
        .first()
        .map(|r| r.iter().map(|(n, _)| *n).collect())
        .unwrap_or_default();
    names
        .into_iter()
        .map(|name| {
            let times = rounds
                .iter()
                .flat_map(|r| r.iter().filter(|(n, _)| *n == name));
            (name, quartiles(times.map(|(_, t)| *t).collect()).0)
        })
        .collect()
}

/// The median, first and third quartiles of per-round values.
#[allow(dead_code)] // the benches that compare in turns
pub fn quartiles(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}

/// A denylist holding `env`'s number of revoked uuid `jti`s (else `default`), live for an
/// hour: the guard benches' realistic load.
#[allow(dead_code)] // the guard benches
pub fn full_denylist(env: &str, default: usize) -> tower_jwt_auth::denylist::MemoryDenylist {
    let list = tower_jwt_auth::denylist::MemoryDenylist::new();
    let until = Some(std::time::SystemTime::now() + Duration::from_secs(3600));
    let n = std::env::var(env)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    for _ in 0..n {
        list.insert(&uuid::Uuid::new_v4().to_string(), until);
    }
    list
}

/// A pool's parallel efficiency: `rounds` alternating rounds of 10 calls of `one` (one job
/// alone) and 10 of `full` (`cores` jobs at once), the order swapped every round; each
/// round's throughput with every core busy against `cores` ÷ the time of one job alone.
/// Sorted.
#[allow(dead_code)] // the password and login benches
pub fn pool_efficiency(one: &dyn Fn(), full: &dyn Fn(), rounds: usize) -> Vec<f64> {
    let time = |f: &dyn Fn(), n: u32| {
        let start = std::time::Instant::now();
        for _ in 0..n {
            f();
        }
        start.elapsed().as_secs_f64() / f64::from(n)
    };
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|round| {
            let (single, batch) = if round % 2 == 0 {
                (time(one, 10), time(full, 10))
            } else {
                let batch = time(full, 10);
                (time(one, 10), batch)
            };
            // `full` runs `cores` jobs in `batch`: (cores / batch) / (cores / single).
            single / batch
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios
}
