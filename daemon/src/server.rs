//! The HTTP server: `/metrics` (OpenMetrics or Prometheus text, by `Accept`), `/healthz`,
//! `/readyz`, `/api/v1/status` (JSON), `/` (the status page) and `POST /-/reload`. Read-only
//! views of the recorder, except reload, which asks the daemon's main loop and waits for its
//! answer.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::exposition;
use crate::recorder::Recorder;

/// A reload request: the main loop answers with what changed, or why the config was refused.
pub type ReloadRequest = oneshot::Sender<Result<String, String>>;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Metrics and status.
    pub recorder: Arc<Recorder>,
    /// To the main loop.
    pub reload: mpsc::Sender<ReloadRequest>,
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/status", get(status))
        .route("/-/reload", post(reload))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = exposition::negotiate(accept);
    let body = state.recorder.encode(format);
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.recorder.health() {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.recorder.ready() {
        return (StatusCode::OK, "ready\n").into_response();
    }
    let waiting: Vec<String> = state
        .recorder
        .snapshot()
        .probes
        .into_iter()
        .filter(|p| p.last.is_none())
        .map(|p| p.name)
        .collect();
    let body = format!(
        "not ready: waiting for the first run of {}\n",
        waiting.join(", ")
    );
    (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}

async fn status(State(state): State<AppState>) -> Response {
    axum::Json(state.recorder.snapshot()).into_response()
}

async fn page(State(state): State<AppState>) -> Response {
    Html(crate::status::page::render(&state.recorder.snapshot())).into_response()
}

async fn reload(State(state): State<AppState>) -> Response {
    let (reply, answer) = oneshot::channel();
    if state.reload.send(reply).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match answer.await {
        Ok(Ok(message)) => (StatusCode::OK, format!("{message}\n")).into_response(),
        Ok(Err(errors)) => (StatusCode::BAD_REQUEST, format!("{errors}\n")).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}
