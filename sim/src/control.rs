//! The control endpoint `/__sim/*`: read and replace the faults, read the stats.
//!
//! Admin key only (401 without or with an unknown key, 403 with the user key). Never affected by
//! faults (not even auth_bypass) and never counted: `inject` lets these paths through untouched.
//! Successful answers are plain JSON (a [`Faults`] or a [`crate::Stats`]), errors use the
//! contract's `{"success":false,"error":"..."}`.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::reply::{self, Denied};
use crate::state::{Caller, SimState};
use crate::{Faults, MAX_REQUEST_BODY_BYTES};

/// The `/__sim` routes.
pub(crate) fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route(
            "/__sim/faults",
            get(get_faults).post(set_faults).delete(reset_faults),
        )
        .route("/__sim/stats", get(stats))
}

/// Ok for the admin key, else the 401/403 answer.
fn require_admin(state: &SimState, headers: &HeaderMap) -> Result<(), Denied> {
    match state.caller(headers) {
        Caller::Admin => Ok(()),
        Caller::User => Err(Denied::Forbidden),
        Caller::Anonymous => Err(Denied::Unauthorized),
    }
}

async fn get_faults(State(state): State<Arc<SimState>>, headers: HeaderMap) -> Response {
    if let Err(denied) = require_admin(&state, &headers) {
        return denied.into_response();
    }
    Json(state.faults().as_ref().clone()).into_response()
}

async fn set_faults(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(denied) = require_admin(&state, &headers) {
        return denied.into_response();
    }
    let Ok(bytes) = to_bytes(body, MAX_REQUEST_BODY_BYTES).await else {
        return reply::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body larger than {MAX_REQUEST_BODY_BYTES} bytes"),
        );
    };
    let faults = match Faults::from_json(&bytes) {
        Ok(faults) => faults,
        Err(e) => return reply::error(StatusCode::BAD_REQUEST, &format!("invalid faults: {e}")),
    };
    tracing::info!(faults = ?faults, "simulator faults replaced");
    state.set_faults(faults.clone());
    Json(faults).into_response()
}

async fn reset_faults(State(state): State<Arc<SimState>>, headers: HeaderMap) -> Response {
    if let Err(denied) = require_admin(&state, &headers) {
        return denied.into_response();
    }
    tracing::info!("simulator faults reset");
    state.set_faults(Faults::default());
    Json(Faults::default()).into_response()
}

async fn stats(State(state): State<Arc<SimState>>, headers: HeaderMap) -> Response {
    if let Err(denied) = require_admin(&state, &headers) {
        return denied.into_response();
    }
    Json(state.stats()).into_response()
}
