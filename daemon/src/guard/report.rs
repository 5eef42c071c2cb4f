//! Explaining the guard: every verdict and action becomes a Kubernetes Event on the
//! Deployment, a structured log line and metrics, carrying value, threshold, window, sample
//! count and revision. Publishing failures are logged, never fatal.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder as EventRecorder};
use tracing::{info, warn};

use super::judge::{Analysis, GateVerdict, Verdict};
use crate::metrics::catalog::{
    DeploymentLabels, NfrLabels, NoLabels, ReleaseLabels, RollbackLabels, VerdictLabels,
};
use crate::recorder::Recorder;

/// Event notes are limited to 1 kB by the API.
const MAX_NOTE: usize = 1000;

/// The verdict labels of `prober_rollout_verdict`.
pub const VERDICTS: [&str; 4] = ["analysing", "pass", "fail", "inconclusive"];

/// Where a release's explanations go.
#[derive(Clone)]
pub struct Reporter {
    /// Kubernetes Events (None when only metrics and logs are wanted, e.g. in unit tests).
    pub events: Option<EventRecorder>,
    /// The daemon's recorder (metrics).
    pub recorder: std::sync::Arc<Recorder>,
    /// Namespace.
    pub namespace: String,
    /// Deployment.
    pub deployment: String,
    /// Helm release.
    pub release: String,
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_NOTE {
        let mut end = MAX_NOTE - 3;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

impl Reporter {
    fn release_labels(&self) -> ReleaseLabels {
        ReleaseLabels {
            namespace: self.namespace.clone(),
            release: self.release.clone(),
        }
    }

    /// Publish an Event on the Deployment (`reference`), and log it.
    pub async fn event(
        &self,
        reference: &ObjectReference,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let note = truncate(note);
        if warning {
            warn!(namespace = %self.namespace, deployment = %self.deployment, release = %self.release,
                reason, action, note = %note, "rollout guard");
        } else {
            info!(namespace = %self.namespace, deployment = %self.deployment, release = %self.release,
                reason, action, note = %note, "rollout guard");
        }
        let Some(events) = &self.events else { return };
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = events.publish(&event, reference).await {
            warn!(error = %e, reason, "cannot publish the Kubernetes Event");
        }
    }

    /// The rollout is (not) in progress; its duration so far or in total.
    pub fn rollout(&self, in_progress: bool, duration: std::time::Duration) {
        let labels = DeploymentLabels {
            namespace: self.namespace.clone(),
            deployment: self.deployment.clone(),
        };
        let m = self.recorder.metrics();
        m.rollout_in_progress
            .get_or_create(&labels)
            .set(i64::from(in_progress));
        m.rollout_duration
            .get_or_create(&labels)
            .set(duration.as_secs_f64());
    }

    /// The current verdict (1 for it, 0 for the others).
    pub fn verdict(&self, verdict: &str) {
        let m = self.recorder.metrics();
        for v in VERDICTS {
            let labels = VerdictLabels {
                namespace: self.namespace.clone(),
                release: self.release.clone(),
                verdict: v,
            };
            m.rollout_verdict
                .get_or_create(&labels)
                .set(i64::from(v == verdict));
        }
    }

    /// The gate values of an analysis as `prober_nfr_value|threshold|breached` (NFR1–NFR3;
    /// NFR5/NFR6 come from the resource probe itself).
    pub fn gates(&self, analysis: &Analysis) {
        let m = self.recorder.metrics();
        for r in &analysis.results {
            let nfr = r.measurement.gate.id();
            if !matches!(nfr, "NFR1" | "NFR2" | "NFR3") {
                continue;
            }
            let labels = NfrLabels { nfr };
            m.nfr_threshold
                .get_or_create(&labels)
                .set(r.measurement.threshold);
            match r.measurement.value {
                Some(v) => {
                    m.nfr_value.get_or_create(&labels).set(v);
                    m.nfr_breached
                        .get_or_create(&labels)
                        .set(i64::from(r.verdict == GateVerdict::Fail));
                }
                None => {
                    m.nfr_value.remove(&labels);
                    m.nfr_breached.remove(&labels);
                }
            }
        }
    }

    /// A rollback decision with its result label.
    pub fn rollback(&self, result: &'static str, attempted: bool) {
        let m = self.recorder.metrics();
        let labels = RollbackLabels {
            namespace: self.namespace.clone(),
            release: self.release.clone(),
            result,
        };
        m.rollbacks.get_or_create(&labels).inc();
        if attempted {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            m.rollback_last
                .get_or_create(&self.release_labels())
                .set(now);
        }
    }

    /// Whether the revision rolled back to still breaches.
    pub fn no_recovery(&self, stuck: bool) {
        let m = self.recorder.metrics();
        m.rollback_no_recovery
            .get_or_create(&self.release_labels())
            .set(i64::from(stuck));
    }

    /// Whether the release's current revision is pending.
    pub fn pending(&self, pending: bool) {
        let m = self.recorder.metrics();
        m.release_pending
            .get_or_create(&self.release_labels())
            .set(i64::from(pending));
    }

    /// Zeroed series for a release the guard starts watching.
    pub fn init(&self) {
        let m = self.recorder.metrics();
        for result in ["success", "failure", "dry_run", "skipped"] {
            let labels = RollbackLabels {
                namespace: self.namespace.clone(),
                release: self.release.clone(),
                result,
            };
            let _ = m.rollbacks.get_or_create(&labels);
        }
        self.no_recovery(false);
        self.pending(false);
        self.rollout(false, std::time::Duration::ZERO);
    }
}

/// Whether this replica holds the Lease.
pub fn leader(recorder: &Recorder, leader: bool) {
    recorder
        .metrics()
        .leader
        .get_or_create(&NoLabels {})
        .set(i64::from(leader));
}

/// The Event reason of an analysis verdict.
pub fn analysis_reason(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "AnalysisPassed",
        Verdict::Fail { .. } => "AnalysisFailed",
        Verdict::Inconclusive => "AnalysisInconclusive",
    }
}
