//! `[guard]`: which Deployments and Helm releases to guard, how to judge them, how to roll
//! back. Raw serde types (the config reference is their `///` docs), validated into
//! [`GuardConfig`] against the configured probes, and the worst-case time from breach onset to
//! the `helm rollback` call that follows from it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use prober_probes::Kind;
use serde::Deserialize;

use super::rollback::RollbackSettings;
use crate::config::{ProbeDef, Schedule};

/// `[guard]` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuard {
    /// Guard at all (default true when the section is present).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Kubeconfig file; absent: `$KUBECONFIG` / `~/.kube/config`, then in-cluster.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// Judge and explain, but never run helm (counted as `dry_run`). Default false.
    #[serde(default)]
    pub dry_run: bool,
    /// Interval between analyses while a rollout is analysed (default 5s).
    #[serde(default = "d_analysis_every", with = "humantime_serde")]
    pub analysis_every: Duration,
    /// Consecutive failing analyses before a rollback (default 3; a security violation needs one).
    #[serde(default = "d_consecutive")]
    pub consecutive_failures: u32,
    /// Grace after a rollout starts before analyses count (default 30s).
    #[serde(default = "d_warmup", with = "humantime_serde")]
    pub warmup: Duration,
    /// Analysis goes on this long after the rollout completes (default 10m).
    #[serde(default = "d_verify_for", with = "humantime_serde")]
    pub verify_for: Duration,
    /// While a rollout is analysed, the gate probes run this many times as often (default 3).
    #[serde(default = "d_speedup")]
    pub probe_speedup: f64,
    /// Annotation on the Deployment: `"false"` or `"disabled"` opts the release out of rollbacks.
    #[serde(default = "d_opt_out")]
    pub opt_out_annotation: String,
    /// Budget for the worst-case time from breach onset to the rollback call (default 60s):
    /// `prober config check` prints the computed time, selftest fails when it is over.
    #[serde(default = "d_budget", with = "humantime_serde")]
    pub budget: Duration,
    /// The Deployments and their Helm releases.
    #[serde(default, rename = "release")]
    pub releases: Vec<RawRelease>,
    /// The NFR gates.
    #[serde(default)]
    pub gates: RawGates,
    /// How to roll back.
    #[serde(default)]
    pub rollback: RawRollback,
    /// Leader election: only the Lease holder rolls back.
    #[serde(default)]
    pub lease: RawLease,
}

/// `[[guard.release]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelease {
    /// Namespace of the Deployment and the release.
    pub namespace: String,
    /// The Deployment's name (or use `selector`).
    #[serde(default)]
    pub deployment: Option<String>,
    /// A label selector for the release's Deployments, e.g. `app.kubernetes.io/instance=godel`
    /// (instead of `deployment`): a rollout of any of them is the release's rollout.
    #[serde(default)]
    pub selector: Option<String>,
    /// The Helm release's name (default: the Deployment's; required with `selector`).
    #[serde(default)]
    pub release: Option<String>,
}

/// `[guard.gates]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGates {
    /// NFR1: a rollout must complete within this (default 15m).
    #[serde(default = "d_rollout_max", with = "humantime_serde")]
    pub rollout_max: Duration,
    /// NFR2: probes whose failure during a rollout is downtime (default health, ready).
    #[serde(default = "d_availability")]
    pub availability_probes: Vec<String>,
    /// NFR3: the `latency` probe whose request samples are judged (default api-latency; empty
    /// string: no latency gate).
    #[serde(default = "d_latency_probe")]
    pub latency_probe: String,
    /// NFR3 quantile (default 0.99).
    #[serde(default = "d_quantile")]
    pub latency_quantile: f64,
    /// NFR3 limit (default 200ms).
    #[serde(default = "d_latency_under", with = "humantime_serde")]
    pub latency_under: Duration,
    /// NFR3 sliding window of post-rollout samples (default 30s).
    #[serde(default = "d_latency_window", with = "humantime_serde")]
    pub latency_window: Duration,
    /// NFR3: fewer samples in the window is inconclusive (default 50).
    #[serde(default = "d_min_samples")]
    pub min_latency_samples: u64,
    /// `auth` probes whose `auth_not_enforced` failure fails at once (default auth-required,
    /// admin-required).
    #[serde(default = "d_security")]
    pub security_probes: Vec<String>,
    /// Judge NFR5/NFR6 from `[resources]` too (default true).
    #[serde(default = "yes")]
    pub resources: bool,
    /// A probe of something other than Godel: while it fails the prober itself is unhealthy and
    /// every verdict is inconclusive (default none).
    #[serde(default)]
    pub baseline_probe: Option<String>,
}

/// `[guard.rollback]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRollback {
    /// Program and leading arguments (default `["helm"]`).
    #[serde(default = "d_command")]
    pub command: Vec<String>,
    /// Appended to every call, e.g. `["--kube-context", "prod"]`.
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Bound on the helm call, also passed as `--timeout` (default 5m).
    #[serde(default = "d_rb_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// No second rollback of a release within this (default 30m).
    #[serde(default = "d_cooldown", with = "humantime_serde")]
    pub cooldown: Duration,
    /// At most this many rollbacks of a release per `window` (default 3).
    #[serde(default = "d_max_per_window")]
    pub max_per_window: u32,
    /// Window of that cap (default 24h).
    #[serde(default = "d_window", with = "humantime_serde")]
    pub window: Duration,
}

/// `[guard.lease]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLease {
    /// Lease name (default godel-prober).
    #[serde(default = "d_lease_name")]
    pub name: String,
    /// Lease namespace (default: the first release's).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Lease duration; renewed at a third of it (default 15s).
    #[serde(default = "d_lease_duration", with = "humantime_serde")]
    pub duration: Duration,
}

fn yes() -> bool {
    true
}
fn d_analysis_every() -> Duration {
    Duration::from_secs(5)
}
fn d_consecutive() -> u32 {
    3
}
fn d_warmup() -> Duration {
    Duration::from_secs(30)
}
fn d_verify_for() -> Duration {
    Duration::from_secs(600)
}
fn d_speedup() -> f64 {
    3.0
}
fn d_opt_out() -> String {
    "godel-prober.io/rollback".into()
}
fn d_budget() -> Duration {
    Duration::from_secs(60)
}
fn d_rollout_max() -> Duration {
    Duration::from_secs(900)
}
fn d_availability() -> Vec<String> {
    vec!["health".into(), "ready".into()]
}
fn d_latency_probe() -> String {
    "api-latency".into()
}
fn d_quantile() -> f64 {
    0.99
}
fn d_latency_under() -> Duration {
    Duration::from_millis(200)
}
fn d_latency_window() -> Duration {
    Duration::from_secs(30)
}
fn d_min_samples() -> u64 {
    50
}
fn d_security() -> Vec<String> {
    vec!["auth-required".into(), "admin-required".into()]
}
fn d_command() -> Vec<String> {
    vec!["helm".into()]
}
fn d_rb_timeout() -> Duration {
    Duration::from_secs(300)
}
fn d_cooldown() -> Duration {
    Duration::from_secs(1800)
}
fn d_max_per_window() -> u32 {
    3
}
fn d_window() -> Duration {
    Duration::from_secs(86_400)
}
fn d_lease_name() -> String {
    "godel-prober".into()
}
fn d_lease_duration() -> Duration {
    Duration::from_secs(15)
}

macro_rules! default_from_serde {
    ($($t:ty),+) => {$(
        impl Default for $t {
            fn default() -> Self {
                // Every field has a serde default: an empty table is the default.
                serde_json::from_value(serde_json::json!({}))
                    .unwrap_or_else(|_| unreachable!("all fields have defaults"))
            }
        }
    )+};
}
default_from_serde!(RawGates, RawRollback, RawLease);

/// A guarded Deployment (or Deployments, by selector) and its release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardedRelease {
    /// Namespace.
    pub namespace: String,
    /// Deployment name, or the label selector (the `deployment` label of the rollout metrics).
    pub deployment: String,
    /// `deployment` is a label selector.
    pub by_selector: bool,
    /// Helm release name.
    pub release: String,
}

/// The validated gates.
#[derive(Debug, Clone, PartialEq)]
pub struct Gates {
    /// NFR1 limit.
    pub rollout_max: Duration,
    /// NFR2 probes.
    pub availability_probes: Vec<String>,
    /// NFR3 probe, if any.
    pub latency_probe: Option<String>,
    /// NFR3 quantile.
    pub latency_quantile: f64,
    /// NFR3 limit.
    pub latency_under: Duration,
    /// NFR3 window.
    pub latency_window: Duration,
    /// NFR3 minimum samples.
    pub min_latency_samples: u64,
    /// Security probes.
    pub security_probes: Vec<String>,
    /// Judge NFR5/NFR6.
    pub resources: bool,
    /// The prober's own health check.
    pub baseline_probe: Option<String>,
}

/// The validated `[guard]`.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    /// Kubeconfig file, if given.
    pub kubeconfig: Option<PathBuf>,
    /// Releases guarded.
    pub releases: Vec<GuardedRelease>,
    /// Analysis interval.
    pub analysis_every: Duration,
    /// Consecutive failing analyses needed.
    pub consecutive_failures: u32,
    /// Grace after a rollout starts.
    pub warmup: Duration,
    /// Analysis after completion.
    pub verify_for: Duration,
    /// Probe interval divisor during analysis.
    pub probe_speedup: f64,
    /// The opt-out annotation.
    pub opt_out_annotation: String,
    /// Time-to-rollback budget.
    pub budget: Duration,
    /// Gates.
    pub gates: Gates,
    /// Rollback settings (dry-run included).
    pub rollback: RollbackSettings,
    /// Lease name, namespace and duration.
    pub lease: (String, String, Duration),
}

impl GuardConfig {
    /// The worst-case time from breach onset to the rollback call: the breach must fill the
    /// latency window (a sustained breach moves the quantile within it), be sampled (the latency
    /// probe's interval while analysing), and fail `consecutive_failures` analyses in a row.
    /// Without a latency gate, availability failures count from the next run of those probes.
    pub fn worst_case_time_to_rollback(&self, probes: &[ProbeDef]) -> Duration {
        let interval = |name: &str| {
            probes
                .iter()
                .find(|p| p.name == name)
                .map(|p| match &p.schedule {
                    Schedule::Every(every) => every.div_f64(self.probe_speedup.max(1.0)),
                    Schedule::Cron(_) => Duration::from_secs(60),
                })
                .unwrap_or_default()
        };
        let detection = match &self.gates.latency_probe {
            Some(p) => self.gates.latency_window + interval(p),
            None => self
                .gates
                .availability_probes
                .iter()
                .map(|p| interval(p))
                .max()
                .unwrap_or_default(),
        };
        detection + self.analysis_every * self.consecutive_failures
    }
}

/// Validate `[guard]` against the configured probes; problems as (key path, message).
pub fn validate(
    raw: &RawGuard,
    probes: &[ProbeDef],
    base_dir: Option<&Path>,
    problem: &mut impl FnMut(&str, String),
) -> Option<GuardConfig> {
    if !raw.enabled {
        return None;
    }
    let mut ok = true;
    let mut bad = |key: &str, message: String| {
        ok = false;
        problem(&format!("guard.{key}"), message);
    };
    if raw.releases.is_empty() {
        bad("release", "at least one [[guard.release]] is needed".into());
    }
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    };
    let mut releases = Vec::new();
    for (i, r) in raw.releases.iter().enumerate() {
        let (deployment, by_selector) = match (&r.deployment, &r.selector) {
            (Some(d), None) => (d.clone(), false),
            (None, Some(sel)) => {
                if sel.trim().is_empty() || sel.contains(['\n', '"']) {
                    bad(
                        &format!("release[{i}].selector"),
                        format!("expected a label selector like app=godel, got {sel:?}"),
                    );
                }
                (sel.clone(), true)
            }
            _ => {
                bad(
                    &format!("release[{i}]"),
                    "set either deployment (a name) or selector (labels)".into(),
                );
                (String::new(), false)
            }
        };
        let release = match (&r.release, by_selector) {
            (Some(rel), _) => rel.clone(),
            (None, false) => deployment.clone(),
            (None, true) => {
                bad(
                    &format!("release[{i}].release"),
                    "required with a selector".into(),
                );
                String::new()
            }
        };
        let mut names = vec![
            ("namespace", r.namespace.clone()),
            ("release", release.clone()),
        ];
        if !by_selector {
            names.push(("deployment", deployment.clone()));
        }
        for (key, value) in names {
            if !name_ok(&value) {
                bad(
                    &format!("release[{i}].{key}"),
                    format!(
                        "expected a Kubernetes name (lower-case letters, digits, '-', '.'), got {value:?}"
                    ),
                );
            }
        }
        releases.push(GuardedRelease {
            namespace: r.namespace.clone(),
            deployment,
            by_selector,
            release,
        });
    }
    let positive = [
        ("analysis_every", raw.analysis_every),
        ("verify_for", raw.verify_for),
        ("budget", raw.budget),
        ("gates.rollout_max", raw.gates.rollout_max),
        ("gates.latency_under", raw.gates.latency_under),
        ("gates.latency_window", raw.gates.latency_window),
        ("rollback.timeout", raw.rollback.timeout),
        ("lease.duration", raw.lease.duration),
    ];
    for (key, d) in positive {
        if d.is_zero() {
            bad(key, "must be greater than zero".into());
        }
    }
    if raw.consecutive_failures == 0 {
        bad("consecutive_failures", "must be at least 1".into());
    }
    if !(raw.probe_speedup >= 1.0 && raw.probe_speedup <= 100.0) {
        bad(
            "probe_speedup",
            format!("expected a factor in [1, 100], got {}", raw.probe_speedup),
        );
    }
    if !(raw.gates.latency_quantile > 0.0 && raw.gates.latency_quantile < 1.0) {
        bad(
            "gates.latency_quantile",
            format!(
                "expected a quantile in (0, 1), got {}",
                raw.gates.latency_quantile
            ),
        );
    }
    if raw.rollback.command.first().is_none_or(|c| c.is_empty()) {
        bad(
            "rollback.command",
            "expected a program, e.g. [\"helm\"]".into(),
        );
    }
    let kind_of = |name: &str| {
        probes
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.probe.kind())
    };
    let mut check_probe = |key: &str, name: &str, want: Option<Kind>| match (kind_of(name), want) {
        (None, _) => bad(key, format!("no probe named {name:?} is configured")),
        (Some(k), Some(w)) if k != w => bad(
            key,
            format!(
                "probe {name:?} is of kind {}, expected {}",
                k.as_label(),
                w.as_label()
            ),
        ),
        _ => {}
    };
    for (i, p) in raw.gates.availability_probes.iter().enumerate() {
        check_probe(&format!("gates.availability_probes[{i}]"), p, None);
    }
    for (i, p) in raw.gates.security_probes.iter().enumerate() {
        check_probe(&format!("gates.security_probes[{i}]"), p, Some(Kind::Auth));
    }
    let latency_probe =
        (!raw.gates.latency_probe.is_empty()).then(|| raw.gates.latency_probe.clone());
    if let Some(p) = &latency_probe {
        check_probe("gates.latency_probe", p, Some(Kind::Latency));
    }
    if let Some(p) = &raw.gates.baseline_probe {
        check_probe("gates.baseline_probe", p, None);
    }
    let lease_namespace = raw
        .lease
        .namespace
        .clone()
        .or_else(|| releases.first().map(|r| r.namespace.clone()))
        .unwrap_or_default();
    let kubeconfig = raw.kubeconfig.as_ref().map(|p| match base_dir {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.clone(),
    });
    if let Some(k) = &kubeconfig
        && let Err(e) = std::fs::metadata(k)
    {
        bad("kubeconfig", format!("cannot read {}: {e}", k.display()));
    }
    let config = GuardConfig {
        kubeconfig,
        releases,
        analysis_every: raw.analysis_every,
        consecutive_failures: raw.consecutive_failures.max(1),
        warmup: raw.warmup,
        verify_for: raw.verify_for,
        probe_speedup: raw.probe_speedup,
        opt_out_annotation: raw.opt_out_annotation.clone(),
        budget: raw.budget,
        gates: Gates {
            rollout_max: raw.gates.rollout_max,
            availability_probes: raw.gates.availability_probes.clone(),
            latency_probe,
            latency_quantile: raw.gates.latency_quantile,
            latency_under: raw.gates.latency_under,
            latency_window: raw.gates.latency_window,
            min_latency_samples: raw.gates.min_latency_samples,
            security_probes: raw.gates.security_probes.clone(),
            resources: raw.gates.resources,
            baseline_probe: raw.gates.baseline_probe.clone(),
        },
        rollback: RollbackSettings {
            command: raw.rollback.command.clone(),
            extra_args: raw.rollback.extra_args.clone(),
            timeout: raw.rollback.timeout,
            cooldown: raw.rollback.cooldown,
            max_per_window: raw.rollback.max_per_window,
            window: raw.rollback.window,
            dry_run: raw.dry_run,
        },
        lease: (raw.lease.name.clone(), lease_namespace, raw.lease.duration),
    };
    ok.then_some(config)
}
