//! The Prometheus endpoint: `GET /metrics` on its own HTTP/1 port.
use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use super::OpsError;
use super::telemetry::Metrics;

/// Bind the metrics port (port 0 picks a free one); returns the listener and bound address.
///
/// # Errors
/// [`OpsError::Metrics`] when the address cannot be bound.
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), OpsError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| OpsError::Metrics {
            context: format!("binding {addr}"),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| OpsError::Metrics {
        context: "reading the bound address".into(),
        source,
    })?;
    Ok((listener, local))
}

/// The router: `GET /metrics` renders `metrics` in the Prometheus text format.
pub fn router(metrics: &'static Metrics) -> Router {
    Router::new().route(
        "/metrics",
        get(move || async move {
            (
                [(
                    http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                metrics.render(),
            )
        }),
    )
}

/// Serve `/metrics` on `listener` until `shutdown` resolves.
///
/// # Errors
/// [`OpsError::Metrics`] when serving fails.
pub async fn serve(
    listener: TcpListener,
    metrics: &'static Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), OpsError> {
    axum::serve(listener, router(metrics))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| OpsError::Metrics {
            context: "serving".into(),
            source,
        })
}
