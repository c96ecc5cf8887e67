//! `/metrics` on its own listener: the Prometheus text exposition of every family.
//!
//! Kept apart from the device API (STYLE.md §5) so scraping never competes with device
//! requests and the API's timeouts and token never apply to Prometheus.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use cp_actors::Metrics;

/// The content type Prometheus expects for the text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics listener's router: `GET /metrics`.
pub fn metrics_router(metrics: Metrics) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { ([(CONTENT_TYPE, TEXT_FORMAT)], metrics.render()).into_response() }
        }),
    )
}
