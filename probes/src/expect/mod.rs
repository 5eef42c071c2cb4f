//! Assertions on a response (cloudprober's "validators"): status set, headers, body regexes,
//! JSON pointers and a per-request latency budget. Built once from config; checking never
//! panics on whatever the target sent.

pub mod json;
pub mod status;

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use crate::FailureReason;
use crate::client::HttpResponse;
use crate::spec::BuildCx;

pub use json::{JsonAssertion, JsonSpec};
pub use status::{StatusSet, StatusSpec};

/// What a response must satisfy, as configured.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// Accepted statuses: codes or classes (`[200]`, `["2xx"]`); default any 2xx.
    #[serde(default)]
    pub status: Vec<StatusSpec>,
    /// JSON-pointer assertions on the body.
    #[serde(default)]
    pub json: Vec<JsonSpec>,
    /// Header name → regex its value must match.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Regex the body must match.
    #[serde(default)]
    pub body_matches: Option<String>,
    /// Regex the body must not match.
    #[serde(default)]
    pub body_not_matches: Option<String>,
    /// The request must complete within this (reason `latency` otherwise).
    #[serde(default, with = "humantime_serde")]
    pub latency_under: Option<Duration>,
}

/// A validated set of assertions.
#[derive(Debug, Clone)]
pub struct Expectation {
    status: StatusSet,
    json: Vec<JsonAssertion>,
    headers: Vec<(String, Regex)>,
    body_matches: Option<Regex>,
    body_not_matches: Option<Regex>,
    latency_under: Option<Duration>,
}

/// Why a response did not satisfy an expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    /// Bounded reason.
    pub reason: FailureReason,
    /// What was found.
    pub message: String,
}

impl ExpectSpec {
    /// Validate under the key `expect`; `default_status` applies when `status` is empty.
    pub fn build(&self, cx: &mut BuildCx<'_>, default_status: StatusSet) -> Option<Expectation> {
        cx.scoped("expect", |cx| {
            let status = if self.status.is_empty() {
                Some(default_status)
            } else {
                StatusSet::parse(&self.status)
                    .map_err(|e| cx.error("status", e))
                    .ok()
            };
            let mut json = Vec::new();
            for (i, j) in self.json.iter().enumerate() {
                match j.build() {
                    Ok(a) => json.push(a),
                    Err(e) => cx.error(&format!("json[{i}]"), e),
                }
            }
            let regex = |cx: &mut BuildCx<'_>, key: &str, pattern: &str| {
                Regex::new(pattern)
                    .map_err(|e| cx.error(key, format!("invalid regex: {e}")))
                    .ok()
            };
            let mut headers = Vec::new();
            for (name, pattern) in &self.headers {
                if let Some(r) = regex(cx, &format!("headers.{name}"), pattern) {
                    headers.push((name.clone(), r));
                }
            }
            let body_matches = self
                .body_matches
                .as_deref()
                .and_then(|p| regex(cx, "body_matches", p));
            let body_not_matches = self
                .body_not_matches
                .as_deref()
                .and_then(|p| regex(cx, "body_not_matches", p));
            if self.latency_under.is_some_and(|d| d.is_zero()) {
                cx.error("latency_under", "must be greater than zero");
            }
            Some(Expectation {
                status: status?,
                json,
                headers,
                body_matches,
                body_not_matches,
                latency_under: self.latency_under,
            })
        })
    }
}

impl Expectation {
    /// Only a status set: no body, header, JSON or latency assertion.
    pub fn status_only(status: StatusSet) -> Self {
        Expectation {
            status,
            json: Vec::new(),
            headers: Vec::new(),
            body_matches: None,
            body_not_matches: None,
            latency_under: None,
        }
    }

    /// The accepted statuses.
    pub fn status(&self) -> &StatusSet {
        &self.status
    }

    /// Check a response. A 429 (unless explicitly accepted) is `rate_limited`, not `status`.
    pub fn check(&self, resp: &HttpResponse) -> Result<(), Unmet> {
        let unmet = |reason, message: String| Err(Unmet { reason, message });
        if !self.status.contains(resp.status) {
            let reason = if resp.status == 429 {
                FailureReason::RateLimited
            } else {
                FailureReason::Status
            };
            return unmet(
                reason,
                format!("status {}, expected {}", resp.status, self.status),
            );
        }
        for (name, re) in &self.headers {
            let value = resp
                .headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok());
            match value {
                Some(v) if re.is_match(v) => {}
                Some(_) => {
                    return unmet(
                        FailureReason::Assertion,
                        format!("header {name} does not match"),
                    );
                }
                None => {
                    return unmet(
                        FailureReason::Assertion,
                        format!("header {name} is missing"),
                    );
                }
            }
        }
        if self.body_matches.is_some() || self.body_not_matches.is_some() {
            let text = String::from_utf8_lossy(&resp.body);
            if let Some(re) = &self.body_matches
                && !re.is_match(&text)
            {
                return unmet(
                    FailureReason::Assertion,
                    format!("body does not match /{re}/"),
                );
            }
            if let Some(re) = &self.body_not_matches
                && re.is_match(&text)
            {
                return unmet(FailureReason::Assertion, format!("body matches /{re}/"));
            }
        }
        if !self.json.is_empty() {
            let doc = parse_json(&resp.body).map_err(|m| Unmet {
                reason: FailureReason::Assertion,
                message: m,
            })?;
            for a in &self.json {
                a.check(&doc).map_err(|m| Unmet {
                    reason: FailureReason::Assertion,
                    message: m,
                })?;
            }
        }
        if let Some(budget) = self.latency_under
            && resp.elapsed > budget
        {
            return unmet(
                FailureReason::Latency,
                format!(
                    "took {}, budget {}",
                    fmt_duration(resp.elapsed),
                    fmt_duration(budget)
                ),
            );
        }
        Ok(())
    }
}

/// Parse a body as JSON; serde_json's recursion limit turns hostile nesting into an error.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("body is not valid JSON: {e}"))
}

/// A duration for humans: `812 µs`, `12.3 ms`, `4.20 s`.
pub fn fmt_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1_000 {
        format!("{micros} µs")
    } else if micros < 1_000_000 {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Target;
    use bytes::Bytes;
    use reqwest::header::HeaderMap;

    fn resp(status: u16, body: &str, ms: u64) -> HttpResponse {
        HttpResponse {
            status,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
            elapsed: Duration::from_millis(ms),
        }
    }

    fn build(v: serde_json::Value) -> Expectation {
        let spec: ExpectSpec = serde_json::from_value(v).unwrap();
        let t = Target::for_tests("http://127.0.0.1:1");
        let mut cx = BuildCx::new(&t, "probe[0]");
        let e = spec.build(&mut cx, StatusSet::success()).unwrap();
        assert!(!cx.has_errors(), "{:?}", cx.into_errors());
        e
    }

    #[test]
    fn status_then_json_then_latency() {
        let e = build(
            serde_json::json!({"status": [200], "json": [{"pointer": "/data/status", "one_of": ["healthy"]}], "latency_under": "100ms"}),
        );
        assert!(
            e.check(&resp(200, r#"{"data":{"status":"healthy"}}"#, 5))
                .is_ok()
        );
        assert_eq!(
            e.check(&resp(503, "", 5)).unwrap_err().reason,
            FailureReason::Status
        );
        assert_eq!(
            e.check(&resp(429, "", 5)).unwrap_err().reason,
            FailureReason::RateLimited
        );
        assert_eq!(
            e.check(&resp(200, "<html>", 5)).unwrap_err().reason,
            FailureReason::Assertion
        );
        assert_eq!(
            e.check(&resp(200, r#"{"data":{"status":"healthy"}}"#, 150))
                .unwrap_err()
                .reason,
            FailureReason::Latency
        );
    }

    #[test]
    fn hostile_json_fails_the_assertion_not_the_process() {
        let e = build(serde_json::json!({"json": [{"pointer": "/a", "exists": true}]}));
        let deep = "[".repeat(100_000);
        assert_eq!(
            e.check(&resp(200, &deep, 1)).unwrap_err().reason,
            FailureReason::Assertion
        );
        assert_eq!(
            e.check(&resp(200, r#"{"a": 1"#, 1)).unwrap_err().reason,
            FailureReason::Assertion
        );
    }

    #[test]
    fn body_regexes() {
        let e = build(serde_json::json!({"body_matches": "ok", "body_not_matches": "(?i)error"}));
        assert!(e.check(&resp(200, "all ok", 1)).is_ok());
        assert!(e.check(&resp(200, "ok but Error", 1)).is_err());
        assert!(e.check(&resp(200, "nope", 1)).is_err());
    }

    #[test]
    fn invalid_regex_and_status_are_reported_with_keys() {
        let spec: ExpectSpec =
            serde_json::from_value(serde_json::json!({"status": ["2x"], "body_matches": "("}))
                .unwrap();
        let t = Target::for_tests("http://127.0.0.1:1");
        let mut cx = BuildCx::new(&t, "probe[3]");
        assert!(spec.build(&mut cx, StatusSet::success()).is_none());
        let errs = cx.into_errors();
        assert_eq!(errs[0].path, "probe[3].expect.status");
        assert_eq!(errs[1].path, "probe[3].expect.body_matches");
    }

    #[test]
    fn durations_print_for_humans() {
        assert_eq!(fmt_duration(Duration::from_micros(812)), "812 µs");
        assert_eq!(fmt_duration(Duration::from_micros(12_345)), "12.3 ms");
        assert_eq!(fmt_duration(Duration::from_millis(4200)), "4.20 s");
    }
}
