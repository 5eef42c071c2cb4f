//! The response envelope of the Godel contract: `{"success":true,"data":...}` and
//! `{"success":false,"error":"..."}`. Only shapes live here, no decisions.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// `{"success":true,"data":data}` with `status`.
pub(crate) fn ok<T: Serialize>(status: StatusCode, data: T) -> Response {
    (status, Json(json!({ "success": true, "data": data }))).into_response()
}

/// `{"success":false,"error":message}` with `status`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "success": false, "error": message }))).into_response()
}

/// `{"success":false,"data":data}` with `status` (health failures carry data, not an error).
pub(crate) fn failed<T: Serialize>(status: StatusCode, data: T) -> Response {
    (status, Json(json!({ "success": false, "data": data }))).into_response()
}

/// An authentication refusal: 401 `{"success":false,"error":"unauthorized"}` or 403
/// `{"success":false,"error":"forbidden"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    /// No key or an unknown key.
    Unauthorized,
    /// A valid key without the needed role.
    Forbidden,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthorized => error(StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden => error(StatusCode::FORBIDDEN, "forbidden"),
        }
    }
}

/// 429 `{"success":false,"error":"rate limited"}` with `Retry-After: 1`.
pub(crate) fn rate_limited() -> Response {
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate limited");
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// True when the response declares a JSON body.
pub(crate) fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}
