//! The metric catalog: every metric the binary exports, with its type, help and labels, in one
//! list ([`CATALOG`]); and [`Metrics`], the prometheus-client families registered from that list.
//! Names are DESIGN §4's. Nothing else in the daemon names a metric.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};
use serde::Serialize;
use std::sync::atomic::AtomicU64;

/// The prefix of every metric.
pub const PREFIX: &str = "prober";

/// A metric's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    /// Only goes up; `_total` in its name.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Buckets, `_sum` and `_count`.
    Histogram,
    /// Precomputed quantiles over a sliding window (`quantile` label). prometheus-client has
    /// no summary type: the family is a gauge family, typed `summary` by the exposition.
    Summary,
}

impl MetricType {
    /// As written in `# TYPE`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
        }
    }
}

/// One metric of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetricInfo {
    /// Full name as scraped (counters end in `_total`).
    pub name: &'static str,
    /// Type.
    #[serde(rename = "type")]
    pub kind: MetricType,
    /// Help text (plain ASCII: no quotes or backslashes, the same in both text formats; no
    /// final period, prometheus-client adds one).
    pub help: &'static str,
    /// Label names, in order.
    pub labels: &'static [&'static str],
    /// Exported only when this part is configured (`guard`), else always.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_with: Option<&'static str>,
}

impl MetricInfo {
    /// The name to register with prometheus-client: without the prefix, and without `_total`
    /// for counters (the library appends it).
    fn registered_name(&self) -> &'static str {
        let name = self
            .name
            .strip_prefix(PREFIX)
            .and_then(|n| n.strip_prefix('_'))
            .unwrap_or(self.name);
        match self.kind {
            MetricType::Counter => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        }
    }
}

macro_rules! catalog {
    ($($const:ident = $name:literal, $kind:ident, [$($label:literal),*], $help:literal $(, only_with $part:literal)?;)+) => {
        $(
            #[doc = concat!("`", $name, "`: ", $help)]
            pub const $const: MetricInfo = MetricInfo {
                name: $name,
                kind: MetricType::$kind,
                help: $help,
                labels: &[$($label),*],
                only_with: catalog!(@part $($part)?),
            };
        )+
        /// Every metric the binary exports, in exposition order.
        pub const CATALOG: &[MetricInfo] = &[$($const),+];
    };
    (@part) => { None };
    (@part $part:literal) => { Some($part) };
}

catalog! {
    PROBE_SUCCESS = "prober_probe_success", Gauge, ["probe", "kind"],
        "1 if the last run of the probe succeeded, else 0";
    PROBE_DURATION = "prober_probe_duration_seconds", Histogram, ["probe", "kind"],
        "Wall time of probe runs in seconds";
    PROBE_RUNS = "prober_probe_runs_total", Counter, ["probe", "kind", "result"],
        "Probe runs by result: success, failure or inconclusive";
    PROBE_FAILURES = "prober_probe_failures_total", Counter, ["probe", "kind", "reason"],
        "Failed probe runs by reason, from a closed set";
    PROBE_SKIPPED = "prober_probe_skipped_runs_total", Counter, ["probe", "kind"],
        "Scheduled runs skipped because the previous run of the probe was still in flight";
    PROBE_LAST_RUN = "prober_probe_last_run_timestamp_seconds", Gauge, ["probe"],
        "Unix time when the last run of the probe finished";
    LATENCY = "prober_latency_seconds", Summary, ["probe", "quantile"],
        "Latency percentiles over the sliding window, from an HDR histogram";
    LATENCY_SAMPLES = "prober_latency_window_samples", Gauge, ["probe"],
        "Samples in the sliding window behind prober_latency_seconds";
    STEP_DURATION = "prober_step_duration_seconds", Histogram, ["probe", "step"],
        "Wall time of each step of a multi-step probe in seconds";
    BURST_RATIO = "prober_burst_success_ratio", Gauge, ["probe"],
        "Share of the last burst's requests that succeeded";
    TLS_EXPIRY = "prober_tls_cert_expiry_timestamp_seconds", Gauge, ["probe"],
        "Unix time when the earliest certificate of the chain expires";
    NFR_VALUE = "prober_nfr_value", Gauge, ["nfr"],
        "Measured value of a non-functional requirement (resource NFRs: used / limit)";
    NFR_THRESHOLD = "prober_nfr_threshold", Gauge, ["nfr"],
        "Limit of a non-functional requirement";
    NFR_BREACHED = "prober_nfr_breached", Gauge, ["nfr"],
        "1 while the measured value exceeds the limit";
    RELOAD_SUCCESS = "prober_config_reload_success", Gauge, [],
        "1 if the last configuration load or reload succeeded, 0 if it was refused";
    RELOAD_TIMESTAMP = "prober_config_last_reload_timestamp_seconds", Gauge, [],
        "Unix time of the last successful configuration load or reload";
    BUILD_INFO = "prober_build_info", Gauge, ["version", "revision"],
        "Always 1; the labels say which build is running";
    ROLLOUT_IN_PROGRESS = "prober_rollout_in_progress", Gauge, ["namespace", "deployment"],
        "1 while a rollout of the Deployment is in progress", only_with "guard";
    ROLLOUT_DURATION = "prober_rollout_duration_seconds", Gauge, ["namespace", "deployment"],
        "Duration of the current or last rollout of the Deployment", only_with "guard";
    ROLLOUT_VERDICT = "prober_rollout_verdict", Gauge, ["namespace", "release", "verdict"],
        "1 for the verdict of the current or last rollout analysis: analysing, pass, fail or inconclusive",
        only_with "guard";
    ROLLBACKS = "prober_rollbacks_total", Counter, ["namespace", "release", "result"],
        "Rollback decisions by result: success, failure, dry_run or skipped", only_with "guard";
    ROLLBACK_LAST = "prober_rollback_last_timestamp_seconds", Gauge, ["namespace", "release"],
        "Unix time of the last rollback attempt of the release", only_with "guard";
    ROLLBACK_NO_RECOVERY = "prober_rollback_no_recovery", Gauge, ["namespace", "release"],
        "1 when the revision rolled back to still breaches its NFRs", only_with "guard";
    RELEASE_PENDING = "prober_release_pending", Gauge, ["namespace", "release"],
        "1 while the release's current revision is stuck in a pending state", only_with "guard";
    LEADER = "prober_leader", Gauge, [],
        "1 on the replica that holds the Lease and may roll back", only_with "guard";
}

/// Buckets of `prober_probe_duration_seconds`: dense around the 200 ms budget.
pub const DURATION_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// `probe`, `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProbeKindLabels {
    /// Configured probe name.
    pub probe: String,
    /// Kind label.
    pub kind: &'static str,
}

/// `probe`, `kind`, `result`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResultLabels {
    /// Configured probe name.
    pub probe: String,
    /// Kind label.
    pub kind: &'static str,
    /// `success`, `failure` or `inconclusive`.
    pub result: &'static str,
}

/// `probe`, `kind`, `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Configured probe name.
    pub probe: String,
    /// Kind label.
    pub kind: &'static str,
    /// Failure reason label.
    pub reason: &'static str,
}

/// `probe`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProbeLabels {
    /// Configured probe name.
    pub probe: String,
}

/// `probe`, `quantile`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct QuantileLabels {
    /// Configured probe name.
    pub probe: String,
    /// `0.5`, `0.9`, `0.99` or `0.999`.
    pub quantile: &'static str,
}

/// `probe`, `step`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StepLabels {
    /// Configured probe name.
    pub probe: String,
    /// Configured step name (never from the target).
    pub step: String,
}

/// `nfr`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct NfrLabels {
    /// `NFR1` … `NFR6`.
    pub nfr: &'static str,
}

/// `namespace`, `deployment`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DeploymentLabels {
    /// Namespace.
    pub namespace: String,
    /// Deployment name.
    pub deployment: String,
}

/// `namespace`, `release`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReleaseLabels {
    /// Namespace.
    pub namespace: String,
    /// Helm release name.
    pub release: String,
}

/// `namespace`, `release`, `verdict`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct VerdictLabels {
    /// Namespace.
    pub namespace: String,
    /// Helm release name.
    pub release: String,
    /// analysing, pass, fail, inconclusive.
    pub verdict: &'static str,
}

/// `namespace`, `release`, `result`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RollbackLabels {
    /// Namespace.
    pub namespace: String,
    /// Helm release name.
    pub release: String,
    /// success, failure, dry_run, skipped.
    pub result: &'static str,
}

/// `version`, `revision`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
}

/// A float gauge.
pub type FloatGauge = Gauge<f64, AtomicU64>;
type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Every family, registered from the catalog.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// `prober_probe_success`.
    pub probe_success: Family<ProbeKindLabels, Gauge>,
    /// `prober_probe_duration_seconds`.
    pub probe_duration: HistogramFamily<ProbeKindLabels>,
    /// `prober_probe_runs_total`.
    pub probe_runs: Family<ResultLabels, Counter>,
    /// `prober_probe_failures_total`.
    pub probe_failures: Family<ReasonLabels, Counter>,
    /// `prober_probe_skipped_runs_total`.
    pub probe_skipped: Family<ProbeKindLabels, Counter>,
    /// `prober_probe_last_run_timestamp_seconds`.
    pub probe_last_run: Family<ProbeLabels, FloatGauge>,
    /// `prober_latency_seconds`.
    pub latency: Family<QuantileLabels, FloatGauge>,
    /// `prober_latency_window_samples`.
    pub latency_samples: Family<ProbeLabels, Gauge>,
    /// `prober_step_duration_seconds`.
    pub step_duration: HistogramFamily<StepLabels>,
    /// `prober_burst_success_ratio`.
    pub burst_ratio: Family<ProbeLabels, FloatGauge>,
    /// `prober_tls_cert_expiry_timestamp_seconds`.
    pub tls_expiry: Family<ProbeLabels, FloatGauge>,
    /// `prober_nfr_value`.
    pub nfr_value: Family<NfrLabels, FloatGauge>,
    /// `prober_nfr_threshold`.
    pub nfr_threshold: Family<NfrLabels, FloatGauge>,
    /// `prober_nfr_breached`.
    pub nfr_breached: Family<NfrLabels, Gauge>,
    /// `prober_config_reload_success`.
    pub reload_success: Gauge,
    /// `prober_config_last_reload_timestamp_seconds`.
    pub reload_timestamp: FloatGauge,
    /// `prober_rollout_in_progress`.
    pub rollout_in_progress: Family<DeploymentLabels, Gauge>,
    /// `prober_rollout_duration_seconds`.
    pub rollout_duration: Family<DeploymentLabels, FloatGauge>,
    /// `prober_rollout_verdict`.
    pub rollout_verdict: Family<VerdictLabels, Gauge>,
    /// `prober_rollbacks_total`.
    pub rollbacks: Family<RollbackLabels, Counter>,
    /// `prober_rollback_last_timestamp_seconds`.
    pub rollback_last: Family<ReleaseLabels, FloatGauge>,
    /// `prober_rollback_no_recovery`.
    pub rollback_no_recovery: Family<ReleaseLabels, Gauge>,
    /// `prober_release_pending`.
    pub release_pending: Family<ReleaseLabels, Gauge>,
    /// `prober_leader` (only registered series once the guard runs: see `leader_set`).
    pub leader: Family<NoLabels, Gauge>,
}

/// No labels (a family so that the series can be absent until the guard runs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct NoLabels {}

impl Metrics {
    /// Create every family and register it in `registry` (which must have no prefix: the
    /// catalog's names are complete).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Metrics {
            probe_success: Family::default(),
            probe_duration: Family::new_with_constructor(duration_histogram),
            probe_runs: Family::default(),
            probe_failures: Family::default(),
            probe_skipped: Family::default(),
            probe_last_run: Family::default(),
            latency: Family::default(),
            latency_samples: Family::default(),
            step_duration: Family::new_with_constructor(duration_histogram),
            burst_ratio: Family::default(),
            tls_expiry: Family::default(),
            nfr_value: Family::default(),
            nfr_threshold: Family::default(),
            nfr_breached: Family::default(),
            reload_success: Gauge::default(),
            reload_timestamp: FloatGauge::default(),
            rollout_in_progress: Family::default(),
            rollout_duration: Family::default(),
            rollout_verdict: Family::default(),
            rollbacks: Family::default(),
            rollback_last: Family::default(),
            rollback_no_recovery: Family::default(),
            release_pending: Family::default(),
            leader: Family::default(),
        };
        let build_info: Family<BuildLabels, Gauge> = Family::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                revision: option_env!("BUILD_GIT_REVISION").unwrap_or("unknown"),
            })
            .set(1);
        let m = &metrics;
        let sub = registry.sub_registry_with_prefix(PREFIX);
        fn add(sub: &mut Registry, info: &MetricInfo, metric: impl Metric) {
            sub.register(info.registered_name(), info.help, metric);
        }
        add(sub, &PROBE_SUCCESS, m.probe_success.clone());
        add(sub, &PROBE_DURATION, m.probe_duration.clone());
        add(sub, &PROBE_RUNS, m.probe_runs.clone());
        add(sub, &PROBE_FAILURES, m.probe_failures.clone());
        add(sub, &PROBE_SKIPPED, m.probe_skipped.clone());
        add(sub, &PROBE_LAST_RUN, m.probe_last_run.clone());
        add(sub, &LATENCY, m.latency.clone());
        add(sub, &LATENCY_SAMPLES, m.latency_samples.clone());
        add(sub, &STEP_DURATION, m.step_duration.clone());
        add(sub, &BURST_RATIO, m.burst_ratio.clone());
        add(sub, &TLS_EXPIRY, m.tls_expiry.clone());
        add(sub, &NFR_VALUE, m.nfr_value.clone());
        add(sub, &NFR_THRESHOLD, m.nfr_threshold.clone());
        add(sub, &NFR_BREACHED, m.nfr_breached.clone());
        add(sub, &RELOAD_SUCCESS, m.reload_success.clone());
        add(sub, &RELOAD_TIMESTAMP, m.reload_timestamp.clone());
        add(sub, &BUILD_INFO, build_info);
        add(sub, &ROLLOUT_IN_PROGRESS, m.rollout_in_progress.clone());
        add(sub, &ROLLOUT_DURATION, m.rollout_duration.clone());
        add(sub, &ROLLOUT_VERDICT, m.rollout_verdict.clone());
        add(sub, &ROLLBACKS, m.rollbacks.clone());
        add(sub, &ROLLBACK_LAST, m.rollback_last.clone());
        add(sub, &ROLLBACK_NO_RECOVERY, m.rollback_no_recovery.clone());
        add(sub, &RELEASE_PENDING, m.release_pending.clone());
        add(sub, &LEADER, m.leader.clone());
        metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_metric_is_registered_with_its_type() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        // Families without a series are not written: give each one.
        let pk = ProbeKindLabels {
            probe: "p".into(),
            kind: "http",
        };
        let p = ProbeLabels { probe: "p".into() };
        let nfr = NfrLabels { nfr: "NFR5" };
        m.probe_success.get_or_create(&pk).set(1);
        m.probe_duration.get_or_create(&pk).observe(0.1);
        m.probe_runs
            .get_or_create(&ResultLabels {
                probe: "p".into(),
                kind: "http",
                result: "success",
            })
            .inc();
        m.probe_failures
            .get_or_create(&ReasonLabels {
                probe: "p".into(),
                kind: "http",
                reason: "status",
            })
            .inc();
        m.probe_skipped.get_or_create(&pk).inc();
        m.probe_last_run.get_or_create(&p).set(1.0);
        m.latency
            .get_or_create(&QuantileLabels {
                probe: "p".into(),
                quantile: "0.5",
            })
            .set(0.1);
        m.latency_samples.get_or_create(&p).set(1);
        m.step_duration
            .get_or_create(&StepLabels {
                probe: "p".into(),
                step: "s".into(),
            })
            .observe(0.1);
        m.burst_ratio.get_or_create(&p).set(1.0);
        m.tls_expiry.get_or_create(&p).set(1.0);
        m.nfr_value.get_or_create(&nfr).set(0.5);
        m.nfr_threshold.get_or_create(&nfr).set(0.8);
        m.nfr_breached.get_or_create(&nfr).set(0);
        let dep = DeploymentLabels {
            namespace: "n".into(),
            deployment: "d".into(),
        };
        let rel = ReleaseLabels {
            namespace: "n".into(),
            release: "r".into(),
        };
        m.rollout_in_progress.get_or_create(&dep).set(1);
        m.rollout_duration.get_or_create(&dep).set(1.0);
        m.rollout_verdict
            .get_or_create(&VerdictLabels {
                namespace: "n".into(),
                release: "r".into(),
                verdict: "pass",
            })
            .set(1);
        m.rollbacks
            .get_or_create(&RollbackLabels {
                namespace: "n".into(),
                release: "r".into(),
                result: "success",
            })
            .inc();
        m.rollback_last.get_or_create(&rel).set(1.0);
        m.rollback_no_recovery.get_or_create(&rel).set(0);
        m.release_pending.get_or_create(&rel).set(0);
        m.leader.get_or_create(&NoLabels {}).set(1);
        let text = crate::metrics::exposition::encode(
            &registry,
            crate::metrics::exposition::Format::OpenMetrics,
        );
        for info in CATALOG {
            let family = match info.kind {
                MetricType::Counter => info.name.strip_suffix("_total").unwrap(),
                _ => info.name,
            };
            let line = format!("# TYPE {family} {}", info.kind.as_str());
            assert!(text.contains(&line), "missing {line:?} in\n{text}");
        }
        assert_eq!(
            text.matches("# TYPE ").count(),
            CATALOG.len(),
            "a registered metric is not in the catalog:\n{text}"
        );
    }

    #[test]
    fn names_and_help_follow_the_conventions() {
        let mut seen = std::collections::BTreeSet::new();
        for info in CATALOG {
            assert!(info.name.starts_with("prober_"), "{}", info.name);
            assert!(seen.insert(info.name), "{} twice", info.name);
            assert_eq!(
                info.kind == MetricType::Counter,
                info.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                info.name
            );
            assert!(
                info.help.is_ascii() && !info.help.contains(['"', '\\', '\n']),
                "{}: help must read the same in both text formats",
                info.name
            );
            assert!(
                !info.help.ends_with('.'),
                "{}: the library adds the period",
                info.name
            );
            assert!(
                !info
                    .labels
                    .iter()
                    .any(|l| matches!(*l, "url" | "key" | "id")),
                "{}: unbounded label",
                info.name
            );
        }
    }
}
