//! The status snapshot: what `/api/v1/status` serves as JSON and the status page renders. Built
//! from the recorder's per-probe state at request time; holds no secrets (messages are redacted
//! before they are recorded).

use std::collections::BTreeMap;

use serde::Serialize;

/// Everything the status endpoints show.
#[derive(Debug, Clone, Serialize)]
pub struct StatusSnapshot {
    /// `prober` version.
    pub version: &'static str,
    /// When the daemon started (Unix seconds).
    pub started_at: f64,
    /// When this snapshot was taken (Unix seconds).
    pub now: f64,
    /// Where the running configuration came from.
    pub config_source: String,
    /// The target's base URL (no credentials: validation refuses them in URLs).
    pub target: String,
    /// The last reload attempt, if any.
    pub last_reload: Option<ReloadStatus>,
    /// Config loaded and every probe has finished at least one run.
    pub ready: bool,
    /// Every configured probe, in config order.
    pub probes: Vec<ProbeStatus>,
    /// Resource NFRs (NFR5 memory, NFR6 CPU), when measured.
    pub nfrs: Vec<NfrStatus>,
    /// The rollout guard's view of each guarded release (empty without `[guard]`).
    pub rollouts: Vec<RolloutStatus>,
}

/// One guarded release: its current or last rollout analysis.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutStatus {
    /// Namespace.
    pub namespace: String,
    /// Deployment.
    pub deployment: String,
    /// Helm release.
    pub release: String,
    /// analysing, pass, fail, inconclusive; `idle` before any rollout was seen.
    pub verdict: String,
    /// The revision analysed (the Deployment's revision annotation).
    pub revision: Option<String>,
    /// When the analysis started (Unix seconds).
    pub started_at: Option<f64>,
    /// The last analysis, gate by gate.
    pub gates: Vec<GateStatus>,
    /// Consecutive failing analyses so far.
    pub consecutive_failures: u32,
    /// The last rollback decision, if any (e.g. `success: godel 7 → 6`).
    pub last_rollback: Option<String>,
}

/// One gate of an analysis.
#[derive(Debug, Clone, Serialize)]
pub struct GateStatus {
    /// `NFR1`…`NFR6` or `security`.
    pub gate: &'static str,
    /// pass, fail, inconclusive.
    pub verdict: &'static str,
    /// The measured value, if any.
    pub value: Option<f64>,
    /// The limit.
    pub threshold: f64,
    /// Samples behind the value.
    pub samples: u64,
    /// Why, with the numbers.
    pub reason: String,
}

/// One reload attempt.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadStatus {
    /// When (Unix seconds).
    pub at: f64,
    /// Whether the new configuration was applied.
    pub success: bool,
    /// What happened: counts of kept/changed/added/removed probes, or the validation errors.
    pub message: String,
}

/// A probe's state at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeHealth {
    /// Not run yet.
    Pending,
    /// The last run succeeded.
    Passing,
    /// The last run failed.
    Failing,
    /// The last run could not reach a verdict (e.g. too few latency samples).
    Inconclusive,
}

/// One probe.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeStatus {
    /// Configured name.
    pub name: String,
    /// Kind label (`http`, `transaction`, …).
    pub kind: &'static str,
    /// Human schedule: `every 10s` or `cron 0 3 * * *`.
    pub schedule: String,
    /// State of the last run.
    pub health: ProbeHealth,
    /// The last finished run.
    pub last: Option<RunSummary>,
    /// Consecutive failed runs up to now (0 when passing).
    pub consecutive_failures: u32,
    /// Start of the current failure streak (Unix seconds).
    pub failing_since: Option<f64>,
    /// Latency percentiles over the sliding window (the probe's own for latency probes, else
    /// of run durations).
    pub latency: Option<LatencyStatus>,
    /// Run counts since this probe's definition was loaded.
    pub runs: RunCounts,
    /// Failures by reason label since this probe's definition was loaded.
    pub failures_by_reason: BTreeMap<&'static str, u64>,
    /// The most recent runs, oldest first (at most 60), for the sparkline.
    pub recent: Vec<RecentRun>,
}

/// One finished run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// When it finished (Unix seconds).
    pub at: f64,
    /// `success`, `failure` or `inconclusive`.
    pub result: &'static str,
    /// Failure reason label, for failures.
    pub reason: Option<&'static str>,
    /// Short explanation (redacted).
    pub message: String,
    /// Wall time of the run.
    pub duration_seconds: f64,
}

/// Percentiles over the window.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencyStatus {
    /// Samples behind the percentiles.
    pub samples: u64,
    /// Median, seconds.
    pub p50_seconds: f64,
    /// 90th percentile, seconds.
    pub p90_seconds: f64,
    /// 99th percentile, seconds.
    pub p99_seconds: f64,
    /// 99.9th percentile, seconds.
    pub p999_seconds: f64,
}

/// Run counts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RunCounts {
    /// Successful runs.
    pub success: u64,
    /// Failed runs.
    pub failure: u64,
    /// Inconclusive runs.
    pub inconclusive: u64,
    /// Runs skipped because the previous run of the probe was still in flight.
    pub skipped: u64,
}

/// A point of the sparkline.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RecentRun {
    /// When it finished (Unix seconds).
    pub at: f64,
    /// `success`, `failure` or `inconclusive`.
    pub result: &'static str,
    /// The latency plotted: the run's P50 for latency probes, else the run's duration.
    pub latency_seconds: f64,
}

/// One resource NFR.
#[derive(Debug, Clone, Serialize)]
pub struct NfrStatus {
    /// `NFR5` or `NFR6`.
    pub nfr: &'static str,
    /// What it limits, e.g. `memory used / limit`.
    pub description: &'static str,
    /// Measured value (a ratio, 0..1), if the last measurement succeeded.
    pub value: Option<f64>,
    /// The limit (ratio).
    pub threshold: f64,
    /// Whether the value exceeds the threshold.
    pub breached: bool,
    /// Where the value comes from: `host`, `cgroup`, or `pods ns/selector` (the worst pod).
    pub source: String,
    /// Why there is no value, when there is none.
    pub error: Option<String>,
}
