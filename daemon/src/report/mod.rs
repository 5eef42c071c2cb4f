//! Reports of a set of probe results: a text table, JSON and JUnit XML. Every text a report
//! carries has passed through the config's redaction first (see `check`).

mod junit;
mod text;

use std::time::Duration;

use prober_probes::{Kind, Outcome, Verdict};
use serde_json::{Value, json};

pub use junit::{escape as xml_escape, junit};
pub use text::table;

/// One probe's result in a report.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// The probe's configured name.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// What the run found (message already redacted).
    pub outcome: Outcome,
}

/// Counts over a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Succeeded.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Inconclusive.
    pub inconclusive: usize,
    /// Sum of run durations.
    pub duration: Duration,
}

/// Count the results.
pub fn summarize(results: &[ProbeResult]) -> Summary {
    let mut s = Summary::default();
    for r in results {
        match r.outcome.verdict {
            Verdict::Success => s.passed += 1,
            Verdict::Failure(_) => s.failed += 1,
            Verdict::Inconclusive => s.inconclusive += 1,
        }
        s.duration += r.outcome.duration;
    }
    s
}

/// The JSON report.
pub fn json(target: &str, results: &[ProbeResult]) -> Value {
    let s = summarize(results);
    let probes: Vec<Value> = results
        .iter()
        .map(|r| {
            let o = &r.outcome;
            let mut v = json!({
                "name": r.name,
                "kind": r.kind.as_label(),
                "result": o.verdict.as_label(),
                "reason": o.verdict.reason().map(|x| x.as_label()),
                "duration_seconds": o.duration.as_secs_f64(),
                "message": o.message,
                "steps": o.steps.iter().map(|st| json!({
                    "name": st.name, "duration_seconds": st.duration.as_secs_f64(), "ok": st.ok,
                })).collect::<Vec<_>>(),
            });
            if let Some(l) = &o.latency {
                v["latency"] = json!({
                    "samples": l.samples,
                    "p50_seconds": l.p50.as_secs_f64(),
                    "p90_seconds": l.p90.as_secs_f64(),
                    "p99_seconds": l.p99.as_secs_f64(),
                    "p999_seconds": l.p999.as_secs_f64(),
                    "max_seconds": l.max.as_secs_f64(),
                });
            }
            if let Some(ratio) = o.burst_success_ratio {
                v["burst_success_ratio"] = json!(ratio);
            }
            if let Some(t) = o.cert_not_after
                && let Ok(since) = t.duration_since(std::time::UNIX_EPOCH)
            {
                v["cert_not_after_unix"] = json!(since.as_secs());
            }
            if let Some(ra) = o.retry_after {
                v["retry_after_seconds"] = json!(ra.as_secs());
            }
            v
        })
        .collect();
    json!({
        "target": target,
        "summary": {
            "passed": s.passed,
            "failed": s.failed,
            "inconclusive": s.inconclusive,
            "duration_seconds": s.duration.as_secs_f64(),
        },
        "probes": probes,
    })
}
