//! What the metrics cost the guard: the same guarded call (HS256, memo off, in-process
//! denylist) in a build without the `metrics` feature (`off`), with it and no recorder
//! (`noop`), and with a Prometheus recorder installed (`prometheus`, when
//! `METRICS_RECORDER=prometheus`). One process measures one configuration;
//! `scripts/metrics-bench.sh` builds both binaries and runs the three in turn, several rounds,
//! and prints the ratios (BENCHMARKS.md §7).

#[path = "support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::Criterion;
use http::{Request, Response};
use http_body_util::Empty;
use support::ready;
use tower::{service_fn, Layer, Service};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::{JwtManager, JwtRequiredLayer};

fn main() {
    let label = configuration();
    let jwt = JwtManager::builder()
        .secret("benchmark-secret-0123456789abcdefghijklmnop")
        .verified_token_cache(false)
        .build()
        .unwrap();
    let token = jwt.create_access_token("42").unwrap();
    let auth = format!("Bearer {token}");
    let echo = service_fn(|_: Request<RequestBody<Empty<Bytes>>>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    });
    let mut guarded = JwtRequiredLayer::new(&jwt).layer(echo);
    let accepted = || {
        Request::get("/")
            .header("authorization", auth.as_str())
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let refused = || Request::get("/").body(Empty::<Bytes>::new()).unwrap();
    assert_eq!(ready(guarded.call(accepted())).unwrap().status(), 200);
    assert_eq!(ready(guarded.call(refused())).unwrap().status(), 401);

    // A fixed number of calls and nothing else, for an instruction count:
    // `METRICS_BENCH_CALLS=100000 valgrind --tool=callgrind <bench> --bench`.
    if let Some(calls) = std::env::var("METRICS_BENCH_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        for _ in 0..calls {
            ready(guarded.call(black_box(accepted()))).unwrap();
        }
        for _ in 0..calls {
            ready(guarded.call(black_box(refused()))).unwrap();
        }
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let mut group = support::group(&mut c, "metrics_guard");
    group.bench_function(format!("{label}/accepted"), |b| {
        b.iter(|| ready(guarded.call(black_box(accepted()))).unwrap())
    });
    group.bench_function(format!("{label}/refused"), |b| {
        b.iter(|| ready(guarded.call(black_box(refused()))).unwrap())
    });
    group.finish();
    c.final_summary();
    let median = |case: &str| support::median("metrics_guard", &format!("{label}_{case}"));
    println!(
        "MEDIAN {label} accepted {:.1} refused {:.1}",
        median("accepted"),
        median("refused")
    );
}

/// `off`, `noop` or `prometheus` (installing the recorder before any guard runs).
fn configuration() -> &'static str {
    #[cfg(feature = "metrics")]
    {
        if std::env::var("METRICS_RECORDER").as_deref() == Ok("prometheus") {
            let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .unwrap();
            tower_jwt_auth::telemetry::register_all();
            std::mem::forget(handle);
            return "prometheus";
        }
        "noop"
    }
    #[cfg(not(feature = "metrics"))]
    "off"
}
