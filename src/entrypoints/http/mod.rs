//! The HTTP side shared by `run` and `serve`: binding the listener, the probe endpoints
//! (`GET /healthz`, `GET /readyz`, `GET /metrics`), graceful shutdown, and RFC 9457 problem
//! responses.
//!
//! - [`prometheus`]: a tiny writer of the Prometheus text exposition format (0.0.4);
//! - [`worker_metrics`]: the worker's metric families.
//!
//! Invariants: `/healthz` answers 200 while the process serves HTTP at all (liveness);
//! `/readyz` answers 200 only when the verb's readiness holds (503 otherwise), both with a
//! small JSON body; `/metrics` never fails. Nothing here blocks an executor thread.

pub mod prometheus;
pub mod worker_metrics;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::settings::SettingsError;

/// The default of `--http-addr` / `HTTP_ADDR`.
pub const DEFAULT_ADDR: &str = "0.0.0.0:8080";

/// The content type of `/metrics`.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why the HTTP server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr} (--http-addr / HTTP_ADDR): {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// Readiness (with details for the body) and the metrics text, as the verb computes them.
#[derive(Clone)]
pub struct Probes {
    pub ready: Arc<dyn Fn() -> (bool, Value) + Send + Sync>,
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
}

/// Checks that `addr` is `host:port` (an IP address and a port).
pub fn parse_addr(addr: &str) -> Result<SocketAddr, SettingsError> {
    addr.parse().map_err(|_| SettingsError::Invalid {
        what: "HTTP address (--http-addr / HTTP_ADDR)",
        message: format!("`{addr}` is not ip:port, e.g. 0.0.0.0:8080"),
    })
}

/// Binds the listener (port 0 picks a free port; the bound address is logged).
pub async fn bind(addr: &str) -> Result<tokio::net::TcpListener, HttpError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind {
            addr: addr.to_owned(),
            source,
        })?;
    if let Ok(local) = listener.local_addr() {
        tracing::info!(addr = %local, "http listening");
    }
    Ok(listener)
}

/// Serves `router` until `stop` turns true (in-flight requests finish).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let shutdown = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "http server failed");
    }
}

/// `/healthz`, `/readyz`, `/metrics`.
pub fn probes_router(probes: Probes) -> Router {
    let ready = Arc::clone(&probes.ready);
    let metrics = Arc::clone(&probes.metrics);
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route(
            "/readyz",
            get(move || {
                let ready = Arc::clone(&ready);
                async move {
                    let (is_ready, details) = ready();
                    let status = if is_ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    (status, Json(json!({"ready": is_ready, "details": details})))
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = Arc::clone(&metrics);
                async move { ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], metrics()) }
            }),
        )
}

/// An RFC 9457 problem response (`application/problem+json`).
pub fn problem(status: StatusCode, title: &str, detail: impl Into<String>) -> Response {
    let body = json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail.into(),
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_must_be_ip_and_port() {
        assert!(parse_addr("0.0.0.0:8080").is_ok());
        assert!(parse_addr("[::]:0").is_ok());
        assert!(parse_addr("localhost").is_err());
        assert!(parse_addr(":8080").is_err());
    }
}
