//! Request counting keyed by method and route pattern, and the [`Stats`] snapshot.
//!
//! Keys have bounded cardinality: the route is the matched pattern (ids written `{id}`), an
//! unmatched path is `(unmatched)`, and a non-standard method is `OTHER`.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use axum::http::Method;
use serde::{Deserialize, Serialize};

/// Route name used for requests that matched no route.
pub(crate) const UNMATCHED: &str = "(unmatched)";

/// A snapshot of what the simulator has seen; also the JSON of `GET /__sim/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Request counts keyed by `"METHOD route"`, where route is the matched route pattern with
    /// ids written `{id}` (e.g. `"DELETE /api/agents/{id}"`); unmatched paths count under
    /// `"METHOD (unmatched)"`. Control requests (`/__sim/*`) are not counted.
    pub requests: BTreeMap<String, u64>,
    /// Agents created since start.
    pub agents_created: u64,
    /// Agents deleted through `DELETE /api/agents/{id}` since start (expiry is not counted).
    pub agents_deleted: u64,
    /// Agents currently held.
    pub agents_live: u64,
}

impl Stats {
    /// Requests counted for `method` and `route`, e.g. `count("GET", "/api/agents/{id}")`;
    /// 0 when none.
    pub fn count(&self, method: &str, route: &str) -> u64 {
        self.requests
            .get(&format!("{method} {route}"))
            .copied()
            .unwrap_or(0)
    }
}

/// The live counters behind [`Stats::requests`].
#[derive(Debug, Default)]
pub(crate) struct RequestCounter {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl RequestCounter {
    /// Counts one request; `route` is `None` for an unmatched path.
    pub(crate) fn record(&self, method: &Method, route: Option<&str>) {
        let key = format!("{} {}", method_label(method), route.unwrap_or(UNMATCHED));
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(key).or_insert(0) += 1;
    }

    /// A copy of the counts.
    pub(crate) fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Standard methods by name, anything else as `OTHER` (extension methods are unbounded).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_and_route() {
        let c = RequestCounter::default();
        c.record(&Method::GET, Some("/api/agents/{id}"));
        c.record(&Method::GET, Some("/api/agents/{id}"));
        c.record(&Method::DELETE, None);
        let custom = Method::from_bytes(b"FROB").unwrap();
        c.record(&custom, None);
        let stats = Stats {
            requests: c.snapshot(),
            ..Stats::default()
        };
        assert_eq!(stats.count("GET", "/api/agents/{id}"), 2);
        assert_eq!(stats.count("DELETE", UNMATCHED), 1);
        assert_eq!(stats.count("OTHER", UNMATCHED), 1);
        assert_eq!(stats.count("POST", "/api/agents"), 0);
    }
}
