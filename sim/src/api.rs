//! The Godel contract routes (DESIGN.md §2): health, readiness, agents and admin.
//!
//! Handlers decide answers from the request, the agent store and the fault snapshot that
//! `inject` attached to the request. They never sleep or fail on purpose: latency, errors,
//! hangs and rate limits are `inject`'s.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use crate::agents::{CreateError, Fate};
use crate::reply::{self, Denied};
use crate::state::{Caller, SimState};
use crate::{Faults, MAX_LISTED_AGENTS, MAX_REQUEST_BODY_BYTES};

/// Longest accepted `task`, in bytes (agents are kept in memory).
const MAX_TASK_BYTES: usize = 1024;
/// Longest accepted `type`, in bytes.
const MAX_TYPE_BYTES: usize = 64;

/// The routes under `/api`, with JSON 404/405 answers for everything else.
pub(crate) fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/health/ready", get(ready))
        .route("/api/agents", get(list_agents).post(create_agent))
        .route("/api/agents/{id}", get(get_agent).delete(delete_agent))
        .route("/api/admin", get(admin))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
}

/// The fault snapshot `inject` attaches to each `/api` request.
type FaultsExt = Option<axum::Extension<Arc<Faults>>>;

/// The attached fault snapshot; the current faults if absent.
fn faults_of(faults: FaultsExt, state: &SimState) -> Arc<Faults> {
    faults.map_or_else(|| state.faults(), |axum::Extension(f)| f)
}

/// The effective caller: auth_bypass turns anyone into an admin.
fn authenticate(state: &SimState, headers: &HeaderMap, faults: &Faults) -> Caller {
    if faults.auth_bypass {
        Caller::Admin
    } else {
        state.caller(headers)
    }
}

/// Ok for a valid key (or bypass), else the 401 answer.
fn require_key(state: &SimState, headers: &HeaderMap, faults: &Faults) -> Result<Caller, Denied> {
    match authenticate(state, headers, faults) {
        Caller::Anonymous => Err(Denied::Unauthorized),
        caller => Ok(caller),
    }
}

async fn health(State(state): State<Arc<SimState>>, faults: FaultsExt) -> Response {
    if faults_of(faults, &state).unhealthy {
        return reply::failed(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "unhealthy" }),
        );
    }
    reply::ok(
        StatusCode::OK,
        json!({
            "status": "healthy",
            "version": concat!("sim-", env!("CARGO_PKG_VERSION")),
            "uptime_seconds": state.started.elapsed().as_secs(),
        }),
    )
}

async fn ready(State(state): State<Arc<SimState>>, faults: FaultsExt) -> Response {
    if faults_of(faults, &state).unready {
        return reply::failed(StatusCode::SERVICE_UNAVAILABLE, json!({ "ready": false }));
    }
    reply::ok(StatusCode::OK, json!({ "ready": true }))
}

async fn list_agents(
    State(state): State<Arc<SimState>>,
    faults: FaultsExt,
    headers: HeaderMap,
) -> Response {
    let faults = faults_of(faults, &state);
    if let Err(denied) = require_key(&state, &headers, &faults) {
        return denied.into_response();
    }
    reply::ok(StatusCode::OK, state.agents.list(MAX_LISTED_AGENTS))
}

/// The accepted body of `POST /api/agents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAgent {
    #[serde(rename = "type")]
    kind: String,
    task: String,
}

async fn create_agent(
    State(state): State<Arc<SimState>>,
    faults: FaultsExt,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let faults = faults_of(faults, &state);
    if let Err(denied) = require_key(&state, &headers, &faults) {
        return denied.into_response();
    }
    let Ok(bytes) = to_bytes(body, MAX_REQUEST_BODY_BYTES).await else {
        return reply::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body larger than {MAX_REQUEST_BODY_BYTES} bytes"),
        );
    };
    let request = match parse_create(&bytes) {
        Ok(request) => request,
        Err(message) => return reply::error(StatusCode::BAD_REQUEST, &message),
    };
    let fate = if faults.stuck_agents {
        Fate::Stuck
    } else if faults.failing_agents {
        Fate::Fail
    } else {
        Fate::Complete
    };
    match state.agents.create(request.kind, request.task, fate) {
        Ok(agent) => reply::ok(StatusCode::CREATED, agent),
        Err(e @ CreateError::Full(_)) => {
            reply::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
    }
}

/// Parses and checks a create body; the message says what was expected.
fn parse_create(bytes: &[u8]) -> Result<CreateAgent, String> {
    const SHAPE: &str = r#"expected a JSON object {"type":"<string>","task":"<string>"}"#;
    let invalid = |e: serde_json::Error| format!("invalid body: {e}; {SHAPE}");
    // Via a Value: serde would otherwise also accept a struct written as a JSON array.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(invalid)?;
    if !value.is_object() {
        return Err(format!("invalid body: not an object; {SHAPE}"));
    }
    let request: CreateAgent = serde_json::from_value(value).map_err(invalid)?;
    if request.kind.is_empty() || request.kind.len() > MAX_TYPE_BYTES {
        return Err(format!(
            "invalid body: type must be 1 to {MAX_TYPE_BYTES} bytes"
        ));
    }
    if request.task.len() > MAX_TASK_BYTES {
        return Err(format!(
            "invalid body: task must be at most {MAX_TASK_BYTES} bytes"
        ));
    }
    Ok(request)
}

async fn get_agent(
    State(state): State<Arc<SimState>>,
    faults: FaultsExt,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let faults = faults_of(faults, &state);
    if let Err(denied) = require_key(&state, &headers, &faults) {
        return denied.into_response();
    }
    match state.agents.get(&id) {
        Some(agent) => reply::ok(StatusCode::OK, agent),
        None => agent_not_found(),
    }
}

async fn delete_agent(
    State(state): State<Arc<SimState>>,
    faults: FaultsExt,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let faults = faults_of(faults, &state);
    if let Err(denied) = require_key(&state, &headers, &faults) {
        return denied.into_response();
    }
    if state.agents.delete(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        agent_not_found()
    }
}

async fn admin(
    State(state): State<Arc<SimState>>,
    faults: FaultsExt,
    headers: HeaderMap,
) -> Response {
    let faults = faults_of(faults, &state);
    match authenticate(&state, &headers, &faults) {
        Caller::Anonymous => Denied::Unauthorized.into_response(),
        Caller::User => Denied::Forbidden.into_response(),
        Caller::Admin => reply::ok(StatusCode::OK, json!({ "admin": true })),
    }
}

fn agent_not_found() -> Response {
    reply::error(StatusCode::NOT_FOUND, "agent not found")
}

async fn not_found() -> Response {
    reply::error(StatusCode::NOT_FOUND, "not found")
}

async fn method_not_allowed() -> Response {
    reply::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn create_body_shapes() {
        assert!(parse_create(br#"{"type":"test","task":"x"}"#).is_ok());
        for bad in [
            &br#"{"type":"test"}"#[..],
            br#"{"type":1,"task":"x"}"#,
            br#"{"type":"test","task":"x","extra":1}"#,
            br#"[]"#,
            b"not json",
            br#"{"type":"","task":"x"}"#,
        ] {
            let err = parse_create(bad).unwrap_err();
            assert!(err.starts_with("invalid body"), "{err}");
        }
        let long = format!(
            r#"{{"type":"test","task":"{}"}}"#,
            "x".repeat(MAX_TASK_BYTES + 1)
        );
        assert!(parse_create(long.as_bytes()).unwrap_err().contains("task"));
    }
}
