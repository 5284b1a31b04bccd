//! `METRICS=true`: the crate's metrics (the `metrics` facade, feature `metrics`) recorded by
//! the Prometheus exporter and served as its text exposition at `GET /metrics`, without a
//! token (keep it off the public internet, or behind your own guard). Unset or `false`:
//! no recorder and no route (`GET /metrics` is the 404 of any unknown path). Without the
//! `metrics` feature the crate records nothing, so `METRICS=true` stops the server at start.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::env_parse;

/// The content type of the Prometheus text exposition format.
const EXPOSITION: &str = "text/plain; version=0.0.4";

/// The installed recorder's handle: renders what has been recorded since the start.
#[derive(Clone)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub struct Metrics {
    #[cfg(feature = "metrics")]
    handle: metrics_exporter_prometheus::PrometheusHandle,
}

/// With `METRICS=true`, installs the Prometheus recorder as the process's global one. Call it
/// before building the `JwtManager` and its layers: the crate takes its metric handles from
/// the recorder installed when they are first used.
pub fn install() -> Result<Option<Metrics>, String> {
    if !env_parse::<bool>("METRICS")?.unwrap_or(false) {
        return Ok(None);
    }
    #[cfg(feature = "metrics")]
    {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| format!("METRICS: {e}"))?;
        // Histograms and summaries are drained into their buckets by the upkeep, which
        // `install_recorder` leaves to the caller.
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                upkeep.run_upkeep();
            }
        });
        tracing::info!("metrics on: Prometheus text at GET /metrics");
        Ok(Some(Metrics { handle }))
    }
    #[cfg(not(feature = "metrics"))]
    Err(
        "METRICS=true, but the example was built without the `metrics` feature: \
         cargo run --example server --features metrics"
            .into(),
    )
}

impl Metrics {
    /// `GET /metrics`: everything recorded since the start, in the text format.
    fn response(&self) -> Response {
        #[cfg(feature = "metrics")]
        let body = self.handle.render();
        #[cfg(not(feature = "metrics"))]
        let body = String::new(); // never reached: `install` has no handle to give

        (
            [
                (CONTENT_TYPE, HeaderValue::from_static(EXPOSITION)),
                (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            body,
        )
            .into_response()
    }
}

/// `GET /metrics` when metrics are on; no route otherwise.
pub fn routes<S: Clone + Send + Sync + 'static>(metrics: Option<Metrics>) -> Router<S> {
    match metrics {
        Some(metrics) => {
            Router::new().route("/metrics", get(move || async move { metrics.response() }))
        }
        None => Router::new(),
    }
}
