//! `/metrics` on its own listener: the Prometheus text exposition of every family.
//!
//! Kept apart from the device API (STYLE.md §5) so scraping never competes with device
//! requests and the API's timeouts and token never apply to Prometheus.
//!
//! Rendering takes CPU in proportion to the fleet (about 100 ms at 10,000 stations), so it
//! runs on the blocking pool, where it cannot hold up the actors' threads, and one render at a
//! time: a burst of scrapes waits in line (bounded by the listener's connection cap) rather
//! than taking every core.

use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use cp_actors::Metrics;
use tokio::sync::Semaphore;

/// The content type Prometheus expects for the text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics listener's router: `GET /metrics`. Its errors (another path, another method)
/// are JSON, as the API's are.
pub fn metrics_router(metrics: Metrics) -> Router {
    let renders = Arc::new(Semaphore::new(1));
    Router::new()
        .route(
            "/metrics",
            get(move || render(metrics.clone(), Arc::clone(&renders))),
        )
        .layer(middleware::from_fn(super::error::json_errors))
}

/// `GET /metrics`: the text exposition, rendered off the runtime, one render at a time.
async fn render(metrics: Metrics, renders: Arc<Semaphore>) -> axum::response::Response {
    // The semaphore is never closed, so acquiring fails only if it were.
    let Ok(_turn) = renders.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    match tokio::task::spawn_blocking(move || metrics.render()).await {
        Ok(text) => ([(CONTENT_TYPE, TEXT_FORMAT)], text).into_response(),
        // Only a panic inside the render ends here; the panic hook has logged it.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use super::*;

    async fn answer(method: Method, uri: &str) -> (StatusCode, Value) {
        let metrics = Metrics::new().expect("the families register");
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .expect("a valid request");
        let response = metrics_router(metrics)
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn errors_of_the_metrics_listener_are_json() {
        assert_eq!(
            answer(Method::GET, "/nope").await,
            (
                StatusCode::NOT_FOUND,
                json!({"error": {"kind": "not_found", "message": "no endpoint GET /nope"}})
            )
        );
        let (status, body) = answer(Method::POST, "/metrics").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["error"]["kind"], "method_not_allowed", "{body}");
        assert_eq!(answer(Method::GET, "/metrics").await.0, StatusCode::OK);
    }
}
