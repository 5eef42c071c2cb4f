//! The middleware in front of the contract routes: counting and fault application.
//!
//! Order for `/api/*` requests: count in stats → rate limit → hang → latency → error rate →
//! handler → padding. Other paths are only counted; `/__sim/*` is neither counted nor faulted.
//! Hangs and delays end early when the simulator shuts down, so shutdown is never blocked.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use crate::Faults;
use crate::reply;
use crate::state::SimState;

/// Largest handler response that is re-encoded for padding; anything bigger passes unpadded.
const MAX_PADDED_SOURCE: usize = 1024 * 1024;

/// True for paths under the contract's `/api` prefix.
fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// True for the control endpoint's paths.
pub(crate) fn is_control(path: &str) -> bool {
    path == "/__sim" || path.starts_with("/__sim/")
}

/// The axum middleware (see the module docs for the order).
pub(crate) async fn inject(
    State(state): State<Arc<SimState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if is_control(path) {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    state.requests.record(request.method(), route);
    if !is_api(path) {
        return next.run(request).await;
    }
    let faults = state.faults();
    request.extensions_mut().insert(Arc::clone(&faults));
    let response = match before_handler(&state, &faults).await {
        Some(injected) => injected,
        None => next.run(request).await,
    };
    match faults.body_bytes {
        Some(n) if n > 0 => pad(response, n).await,
        _ => response,
    }
}

/// Applies rate limit, hang, latency and error rate; `Some` is the injected answer.
async fn before_handler(state: &SimState, faults: &Faults) -> Option<Response> {
    if let Some(limit) = faults.rate_limit
        && !state.admit(limit)
    {
        return Some(reply::rate_limited());
    }
    if chance(faults.hang_rate) {
        // Never answer: the client gives up (hyper then drops this future) or we shut down.
        state.shutdown.cancelled().await;
        return Some(shutting_down());
    }
    if let Some(delay) = delay(faults) {
        tokio::select! {
            () = precise_sleep(delay) => {}
            () = state.shutdown.cancelled() => return Some(shutting_down()),
        }
    }
    if chance(faults.error_rate) {
        return Some(reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected error",
        ));
    }
    None
}

/// Margin left to the timer: tokio's timer rounds up to whole milliseconds and wakes late by
/// about 1.5 ms on this class of machine, which made a 50 ms fault a measured 51.6 ms.
const TIMER_SLACK: Duration = Duration::from_millis(2);

/// Sleep `delay` to within a few tens of microseconds: the timer for all but the last
/// [`TIMER_SLACK`], then yield until the instant. The injected latency is the ground truth the
/// latency benchmark compares probes against, so it must not carry the timer's error. Yielding
/// costs at most `TIMER_SLACK` of a worker per delayed request, and lets other tasks run.
async fn precise_sleep(delay: Duration) {
    let until = tokio::time::Instant::now() + delay;
    if let Some(coarse) = delay.checked_sub(TIMER_SLACK) {
        tokio::time::sleep(coarse).await;
    }
    while tokio::time::Instant::now() < until {
        tokio::task::yield_now().await;
    }
}

/// The delay this request gets, if any: `latency + U(0, jitter)` for `latency_fraction` of them.
fn delay(faults: &Faults) -> Option<Duration> {
    if faults.latency.is_none() && faults.latency_jitter.is_none() {
        return None;
    }
    if !chance(faults.latency_fraction.unwrap_or(1.0)) {
        return None;
    }
    let base = faults.latency.unwrap_or_default();
    let jitter = faults
        .latency_jitter
        .map_or(Duration::ZERO, |j| j.mul_f64(fastrand::f64()));
    Some(base.saturating_add(jitter))
}

/// True with probability `p` (values outside 0..=1 behave as the nearest bound, NaN as 0).
fn chance(p: f64) -> bool {
    if p >= 1.0 {
        true
    } else if p > 0.0 {
        fastrand::f64() < p
    } else {
        false
    }
}

fn shutting_down() -> Response {
    reply::error(StatusCode::SERVICE_UNAVAILABLE, "shutting down")
}

/// Adds a `"padding"` string of `n` bytes to a JSON object response. Other responses (no body,
/// not JSON, not an object, too big) pass unchanged.
async fn pad(response: Response, n: u64) -> Response {
    if !reply::is_json(&response) {
        return response;
    }
    let n = usize::try_from(n.min(crate::MAX_PADDING_BYTES)).unwrap_or(0);
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_PADDED_SOURCE).await else {
        return reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "response too large to pad",
        );
    };
    let padded = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(mut object)) => {
            object.insert("padding".to_owned(), Value::String("x".repeat(n)));
            serde_json::to_vec(&object).ok()
        }
        _ => None,
    };
    let body = match padded {
        Some(padded) => {
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            Body::from(padded)
        }
        None => Body::from(bytes),
    };
    Response::from_parts(parts, body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chance_bounds() {
        assert!(chance(1.0));
        assert!(chance(2.0));
        assert!(!chance(0.0));
        assert!(!chance(-1.0));
        assert!(!chance(f64::NAN));
    }

    #[test]
    fn delay_only_when_configured() {
        assert_eq!(delay(&Faults::default()), None);
        let f = Faults {
            latency: Some(Duration::from_millis(10)),
            latency_jitter: Some(Duration::from_millis(5)),
            ..Faults::default()
        };
        let d = delay(&f).unwrap();
        assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(15));
        let never = Faults {
            latency_fraction: Some(0.0),
            ..f
        };
        assert_eq!(delay(&never), None);
    }

    #[test]
    fn api_and_control_paths() {
        assert!(is_api("/api/health"));
        assert!(!is_api("/apix"));
        assert!(is_control("/__sim/faults"));
        assert!(!is_control("/__simple"));
    }
}
