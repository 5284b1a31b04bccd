//! Shared by the benches: criterion's settings, polling futures that complete at once, and
//! reading criterion's medians back to print ratios measured in the same run.

use std::future::Future;
use std::time::Duration;

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
