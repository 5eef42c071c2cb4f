//! The fault set: its JSON shape (the control endpoint and the `prober sim` flags) and its
//! validation. Applying faults to requests is `inject`'s job, not this module's.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::MAX_PADDING_BYTES;

/// Runtime faults of the simulator.
///
/// JSON keys are the `prober sim` flag names without dashes, `-` written `_`, e.g.
/// `{"latency":"300ms","auth_bypass":true}`. Durations are humantime strings. A missing key means
/// no fault; unknown keys are rejected. The default value injects nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Delay added before answering `/api/*` requests.
    #[serde(with = "humantime_serde")]
    pub latency: Option<Duration>,
    /// Uniformly random extra delay in `0..jitter` on top of `latency`.
    #[serde(with = "humantime_serde")]
    pub latency_jitter: Option<Duration>,
    /// Share (0..=1) of requests that get the delay; unset means all of them.
    pub latency_fraction: Option<f64>,
    /// Share (0..=1) of `/api/*` requests answered 500 `{"success":false,"error":"injected error"}`.
    pub error_rate: f64,
    /// `GET /api/health` answers 503 `{"success":false,"data":{"status":"unhealthy"}}`.
    pub unhealthy: bool,
    /// `GET /api/health/ready` answers 503.
    pub unready: bool,
    /// A missing or wrong key is accepted everywhere (as admin), and so is the user key on
    /// `/api/admin`: the "auth must be required" probes must notice.
    pub auth_bypass: bool,
    /// Agents created while set never leave `running`.
    pub stuck_agents: bool,
    /// Agents created while set end `failed` instead of `completed`.
    pub failing_agents: bool,
    /// Share (0..=1) of `/api/*` requests that never answer (until the client gives up or the
    /// simulator shuts down).
    pub hang_rate: f64,
    /// Requests per second allowed over `/api/*` (fixed 1 s window); above it 429 with
    /// `Retry-After: 1`.
    pub rate_limit: Option<u32>,
    /// Pad every `/api/*` JSON response with a `"padding"` string field of this many bytes.
    pub body_bytes: Option<u64>,
}

impl Faults {
    /// Checks ranges: shares within 0..=1, a positive rate limit, padding at most
    /// [`MAX_PADDING_BYTES`]. The message names the offending key.
    pub fn validate(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        let shares = [
            ("latency_fraction", self.latency_fraction),
            ("error_rate", Some(self.error_rate)),
            ("hang_rate", Some(self.hang_rate)),
        ];
        for (key, value) in shares {
            if let Some(v) = value
                && !(0.0..=1.0).contains(&v)
            {
                errors.push(format!("{key}: expected a share between 0 and 1, got {v}"));
            }
        }
        if self.rate_limit == Some(0) {
            errors.push("rate_limit: expected at least 1 request per second, got 0".to_owned());
        }
        if let Some(n) = self.body_bytes
            && n > MAX_PADDING_BYTES
        {
            errors.push(format!(
                "body_bytes: expected at most {MAX_PADDING_BYTES} bytes, got {n}"
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Parses and validates the control endpoint's JSON. The message names the offending key
    /// where serde alone would only give a position.
    pub(crate) fn from_json(bytes: &[u8]) -> Result<Faults, String> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let serde_json::Value::Object(map) = value else {
            return Err("expected a JSON object of faults".to_owned());
        };
        let faults = match serde_json::from_value::<Faults>(serde_json::Value::Object(map.clone()))
        {
            Ok(faults) => faults,
            Err(e) => {
                // Retry key by key to name the culprit (unknown keys are already named).
                let culprit = map.into_iter().find_map(|(key, value)| {
                    let one =
                        serde_json::Value::Object([(key.clone(), value)].into_iter().collect());
                    serde_json::from_value::<Faults>(one)
                        .err()
                        .map(|e| format!("{key}: {e}"))
                });
                return Err(culprit.unwrap_or_else(|| e.to_string()));
            }
        };
        faults.validate()?;
        Ok(faults)
    }

    /// True when nothing is injected.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_flag_style_keys_and_humantime() {
        let f: Faults =
            serde_json::from_str(r#"{"latency":"300ms","auth_bypass":true,"rate_limit":5}"#)
                .unwrap();
        assert_eq!(f.latency, Some(Duration::from_millis(300)));
        assert!(f.auth_bypass);
        assert_eq!(f.rate_limit, Some(5));
        assert_eq!(f.error_rate, 0.0);
        assert!(f.validate().is_ok());
    }

    #[test]
    fn empty_object_is_no_fault() {
        let f: Faults = serde_json::from_str("{}").unwrap();
        assert!(f.is_none());
    }

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let err = serde_json::from_str::<Faults>(r#"{"latencyy":"1s"}"#).unwrap_err();
        assert!(err.to_string().contains("latencyy"), "{err}");
    }

    #[test]
    fn from_json_names_the_bad_key() {
        let err = Faults::from_json(br#"{"unhealthy":true,"latency":"soon"}"#).unwrap_err();
        assert!(err.starts_with("latency: "), "{err}");
        let err = Faults::from_json(br#"{"bogus":1}"#).unwrap_err();
        assert!(err.contains("bogus"), "{err}");
        let err = Faults::from_json(br#"{"hang_rate":2}"#).unwrap_err();
        assert!(err.starts_with("hang_rate"), "{err}");
        assert!(Faults::from_json(b"[]").is_err());
        assert!(Faults::from_json(b"{}").unwrap().is_none());
    }

    #[test]
    fn round_trips_through_json() {
        let f = Faults {
            latency: Some(Duration::from_millis(1500)),
            latency_jitter: Some(Duration::from_millis(20)),
            latency_fraction: Some(0.5),
            error_rate: 0.25,
            body_bytes: Some(10),
            ..Faults::default()
        };
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<Faults>(&json).unwrap(), f);
        let none = serde_json::to_string(&Faults::default()).unwrap();
        assert_eq!(
            serde_json::from_str::<Faults>(&none).unwrap(),
            Faults::default()
        );
    }

    #[test]
    fn validation_names_each_bad_key() {
        let f = Faults {
            latency_fraction: Some(1.5),
            error_rate: -0.1,
            hang_rate: f64::NAN,
            rate_limit: Some(0),
            body_bytes: Some(MAX_PADDING_BYTES + 1),
            ..Faults::default()
        };
        let err = f.validate().unwrap_err();
        for key in [
            "latency_fraction",
            "error_rate",
            "hang_rate",
            "rate_limit",
            "body_bytes",
        ] {
            assert!(err.contains(key), "{key} missing from {err}");
        }
    }
}
