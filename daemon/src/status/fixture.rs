//! A sample status snapshot for the page tests and the preview: one probe in each state, a
//! hostile message, a failed reload and three NFRs. Test-only.

use std::collections::BTreeMap;

use super::model::{
    LatencyStatus, NfrStatus, ProbeHealth, ProbeStatus, RecentRun, ReloadStatus, RunCounts,
    RunSummary, StatusSnapshot,
};

/// The snapshot's "now" (Unix seconds, 2026-11-06 21:20 UTC).
pub const NOW: f64 = 1_794_000_000.0;
/// The failing probes' message: markup a hostile target might send.
pub const HOSTILE: &str = "got <script>alert('x')</script> & \"more\"";

/// A probe in state `health`; failing ones fail with reason `status`, 7 runs in a row, and
/// (when it has run) 60 recent runs, the last 7 failed.
pub fn probe(name: &str, health: ProbeHealth) -> ProbeStatus {
    let (result, reason) = match health {
        ProbeHealth::Failing => ("failure", Some("status")),
        ProbeHealth::Inconclusive => ("inconclusive", None),
        _ => ("success", None),
    };
    let ran = health != ProbeHealth::Pending;
    ProbeStatus {
        name: name.to_owned(),
        kind: "http",
        schedule: "every 10s".to_owned(),
        health,
        last: ran.then(|| RunSummary {
            at: NOW - 4.0,
            result,
            reason,
            message: match health {
                ProbeHealth::Failing => HOSTILE.to_owned(),
                _ => "200 OK in 12 ms".to_owned(),
            },
            duration_seconds: 0.0123,
        }),
        consecutive_failures: if reason.is_some() { 7 } else { 0 },
        failing_since: reason.map(|_| NOW - 840.0),
        latency: ran.then_some(LatencyStatus {
            samples: 60,
            p50_seconds: 0.0123,
            p90_seconds: 0.02,
            p99_seconds: 0.0456,
            p999_seconds: 0.05,
        }),
        runs: RunCounts::default(),
        failures_by_reason: BTreeMap::new(),
        recent: if ran {
            (0..60)
                .map(|i| RecentRun {
                    at: NOW - 600.0 + f64::from(i) * 10.0,
                    result: if reason.is_some() && i >= 53 {
                        "failure"
                    } else {
                        "success"
                    },
                    latency_seconds: if reason.is_some() && i >= 53 {
                        0.050
                    } else {
                        0.011 + f64::from((i * 7) % 5) * 0.0006
                    },
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// A passing, a failing, an inconclusive and a pending probe; a failed reload; NFRs within,
/// breached and unmeasured.
pub fn snapshot() -> StatusSnapshot {
    StatusSnapshot {
        version: "0.1.0",
        started_at: NOW - 3.0 * 3600.0,
        now: NOW,
        config_source: "/etc/prober/config.toml".to_owned(),
        target: "https://godel.example.com".to_owned(),
        last_reload: Some(ReloadStatus {
            at: NOW - 120.0,
            success: false,
            message: "probes[2].every: expected a duration like 10s, got <ten>".to_owned(),
        }),
        ready: true,
        probes: vec![
            probe("homepage", ProbeHealth::Passing),
            probe("checkout-api", ProbeHealth::Failing),
            probe("search-latency", ProbeHealth::Inconclusive),
            probe("nightly-load", ProbeHealth::Pending),
        ],
        nfrs: vec![
            NfrStatus {
                nfr: "NFR5",
                description: "memory used / limit",
                value: Some(0.734),
                threshold: 0.8,
                breached: false,
                source: "cgroup".to_owned(),
                error: None,
            },
            NfrStatus {
                nfr: "NFR6",
                description: "cpu used / limit",
                value: Some(0.9125),
                threshold: 0.5,
                breached: true,
                source: "pods godel/app=api".to_owned(),
                error: None,
            },
            NfrStatus {
                nfr: "NFR5",
                description: "memory used / limit",
                value: None,
                threshold: 0.8,
                breached: false,
                source: "host".to_owned(),
                error: Some("cannot read <cgroup>".to_owned()),
            },
        ],
        rollouts: Vec::new(),
    }
}
