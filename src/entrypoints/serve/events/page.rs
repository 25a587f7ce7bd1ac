//! The live page (`GET /`): one static HTML file with inline script, embedded at compile time
//! (no build toolchain). It shows an order's allocations (`GET /allocations/{orderid}`), the
//! live event feed (`EventSource` on `/events/stream`, which resumes by itself with
//! `Last-Event-ID` after a disconnect) and forms that post `CreateBatch` and `Allocate` to
//! the command intake. It talks only to the public HTTP API of `serve`.

use axum::http::header;
use axum::response::IntoResponse;

/// The page.
pub const LIVE_PAGE: &str = include_str!("live.html");

/// `GET /`.
pub async fn live_page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        LIVE_PAGE,
    )
}
