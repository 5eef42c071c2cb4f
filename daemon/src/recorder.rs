//! Outcomes → metrics, histories and logs. The scheduler hands every finished run here; the
//! HTTP server reads metrics and status from here. Every failure streak is logged once (and
//! its recovery once), not once per run.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use prober_probes::secret::Secret;
use prober_probes::{FailureReason, Kind, Outcome, Target, Verdict};
use prometheus_client::registry::Registry;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::ProbeDef;
use crate::history::{ProbeHistory, Transition};
use crate::metrics::catalog::{
    Metrics, NfrLabels, ProbeKindLabels, ProbeLabels, QuantileLabels, ReasonLabels, ResultLabels,
    StepLabels,
};
use crate::metrics::exposition::{self, Format};
use crate::status::model::{NfrStatus, ReloadStatus, RolloutStatus, StatusSnapshot};

/// `/healthz` fails when the scheduler has not beaten for this long.
const HEARTBEAT_STALE: Duration = Duration::from_secs(15);
/// …or when a run is still in flight this long after its deadline (runs are bounded by their
/// deadline plus a cleanup budget, so this means a stuck task).
const RUN_OVERDUE: Duration = Duration::from_secs(60);

/// Lock a mutex even if a panicking thread poisoned it: the data is bookkeeping that stays
/// consistent per operation, and a status page must not take the daemon down.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A finished run, as the rollout guard sees it (it keeps its own windows since a rollout
/// started; the recorder's are since the probe was loaded).
#[derive(Debug, Clone)]
pub struct RunEvent {
    /// The probe's name.
    pub probe: String,
    /// The verdict.
    pub verdict: Verdict,
    /// When the run finished.
    pub finished: SystemTime,
    /// Its request latencies (latency kind).
    pub samples: Vec<Duration>,
}

/// Runs kept for a slow subscriber before it lags (a lagging guard re-reads nothing: it
/// judges on what it got, and says so).
const RUN_EVENTS: usize = 1024;

/// One configured probe as the daemon tracks it.
#[derive(Debug)]
pub struct ProbeSlot {
    /// Its definition.
    pub def: ProbeDef,
    /// Its history (kept across reloads while the definition is unchanged).
    pub history: Mutex<ProbeHistory>,
    /// Step names seen, to remove their series when the probe goes.
    steps: Mutex<BTreeSet<String>>,
}

impl ProbeSlot {
    /// A slot with an empty history.
    pub fn new(def: ProbeDef) -> Self {
        let history = ProbeHistory::new(&def.name, def.probe.kind(), def.schedule_text());
        ProbeSlot {
            def,
            history: Mutex::new(history),
            steps: Mutex::new(BTreeSet::new()),
        }
    }

    /// A slot for `def` that carries on `history` (the same probe on a new target).
    pub fn with_history(def: ProbeDef, history: ProbeHistory) -> Self {
        ProbeSlot {
            def,
            history: Mutex::new(history),
            steps: Mutex::new(BTreeSet::new()),
        }
    }

    fn kind(&self) -> Kind {
        self.def.probe.kind()
    }
}

/// The daemon's shared state: registry, metrics, probe slots, reload and NFR status.
#[derive(Debug)]
pub struct Recorder {
    registry: Registry,
    metrics: Metrics,
    started_at: SystemTime,
    started: Instant,
    heartbeat_ms: AtomicU64,
    probes: RwLock<Vec<Arc<ProbeSlot>>>,
    secrets: RwLock<Vec<Secret>>,
    source: RwLock<(String, String)>,
    last_reload: Mutex<Option<ReloadStatus>>,
    nfrs: Mutex<Vec<NfrStatus>>,
    runs: tokio::sync::broadcast::Sender<RunEvent>,
    rollouts: Mutex<std::collections::BTreeMap<(String, String), RolloutStatus>>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// A recorder with every catalog metric registered and no probes.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        Recorder {
            registry,
            metrics,
            started_at: SystemTime::now(),
            started: Instant::now(),
            heartbeat_ms: AtomicU64::new(0),
            probes: RwLock::new(Vec::new()),
            secrets: RwLock::new(Vec::new()),
            source: RwLock::new((String::new(), String::new())),
            last_reload: Mutex::new(None),
            nfrs: Mutex::new(Vec::new()),
            runs: tokio::sync::broadcast::channel(RUN_EVENTS).0,
            rollouts: Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    /// Every finished run from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<RunEvent> {
        self.runs.subscribe()
    }

    /// The metric families, for the rollout guard's own series (`guard::report`).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The guard's view of a release (replaces the previous one).
    pub fn rollout_status(&self, status: RolloutStatus) {
        let key = (status.namespace.clone(), status.release.clone());
        lock(&self.rollouts).insert(key, status);
    }

    /// Forget the guard's views (the guard stopped or was reconfigured).
    pub fn clear_rollouts(&self) {
        lock(&self.rollouts).clear();
    }

    /// The latest resource NFR readings.
    pub fn nfrs(&self) -> Vec<NfrStatus> {
        lock(&self.nfrs).clone()
    }

    /// `/metrics` in `format`.
    pub fn encode(&self, format: Format) -> String {
        exposition::encode(&self.registry, format)
    }

    /// The scheduler is alive.
    pub fn beat(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.heartbeat_ms.store(ms, Ordering::Relaxed);
    }

    /// Install a configuration's probes (in order), its source, target and secrets. Series of
    /// probes that are gone, or whose kind changed, are removed; new probes get zeroed
    /// counters so that `rate()` sees their first failure.
    pub fn set_probes(&self, slots: Vec<Arc<ProbeSlot>>, source: &str, target: &Target) {
        let mut probes = self.probes.write().unwrap_or_else(|e| e.into_inner());
        for old in probes.iter() {
            let kept = slots.iter().any(|s| {
                Arc::ptr_eq(s, old) || (s.def.name == old.def.name && s.kind() == old.kind())
            });
            if !kept {
                self.remove_series(old);
            }
        }
        for slot in &slots {
            self.init_series(slot);
        }
        *probes = slots;
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        *secrets = target
            .auth
            .iter()
            .flat_map(|a| std::iter::once(a.key.clone()).chain(a.non_admin_key.clone()))
            .filter(|s| !s.is_empty())
            .collect();
        *self.source.write().unwrap_or_else(|e| e.into_inner()) =
            (source.to_string(), target.base_url.to_string());
    }

    /// The current slots, in config order.
    pub fn slots(&self) -> Vec<Arc<ProbeSlot>> {
        self.probes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn init_series(&self, slot: &ProbeSlot) {
        let (probe, kind) = (slot.def.name.clone(), slot.kind().as_label());
        for result in ["success", "failure", "inconclusive"] {
            let labels = ResultLabels {
                probe: probe.clone(),
                kind,
                result,
            };
            let _ = self.metrics.probe_runs.get_or_create(&labels);
        }
        for reason in FailureReason::ALL {
            let labels = ReasonLabels {
                probe: probe.clone(),
                kind,
                reason: reason.as_label(),
            };
            let _ = self.metrics.probe_failures.get_or_create(&labels);
        }
        let _ = self
            .metrics
            .probe_skipped
            .get_or_create(&ProbeKindLabels { probe, kind });
    }

    fn remove_series(&self, slot: &ProbeSlot) {
        let m = &self.metrics;
        let (probe, kind) = (slot.def.name.clone(), slot.kind().as_label());
        let pk = ProbeKindLabels {
            probe: probe.clone(),
            kind,
        };
        m.probe_success.remove(&pk);
        m.probe_duration.remove(&pk);
        m.probe_skipped.remove(&pk);
        for result in ["success", "failure", "inconclusive"] {
            m.probe_runs.remove(&ResultLabels {
                probe: probe.clone(),
                kind,
                result,
            });
        }
        for reason in FailureReason::ALL {
            m.probe_failures.remove(&ReasonLabels {
                probe: probe.clone(),
                kind,
                reason: reason.as_label(),
            });
        }
        for quantile in QUANTILES.map(|(q, _)| q) {
            m.latency.remove(&QuantileLabels {
                probe: probe.clone(),
                quantile,
            });
        }
        let p = ProbeLabels {
            probe: probe.clone(),
        };
        m.probe_last_run.remove(&p);
        m.latency_samples.remove(&p);
        m.burst_ratio.remove(&p);
        m.tls_expiry.remove(&p);
        for step in lock(&slot.steps).iter() {
            m.step_duration.remove(&StepLabels {
                probe: probe.clone(),
                step: step.clone(),
            });
        }
    }

    /// Replace every configured secret in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
        secrets
            .iter()
            .fold(text.to_string(), |t, s| t.replace(s.expose(), "***"))
    }

    /// A run of `slot` started.
    pub fn run_started(&self, slot: &ProbeSlot) {
        lock(&slot.history).started(Instant::now());
    }

    /// `runs` scheduled runs of `slot` were skipped: the previous run was still in flight.
    pub fn runs_skipped(&self, slot: &ProbeSlot, runs: u64) {
        lock(&slot.history).skipped(runs);
        let labels = ProbeKindLabels {
            probe: slot.def.name.clone(),
            kind: slot.kind().as_label(),
        };
        self.metrics
            .probe_skipped
            .get_or_create(&labels)
            .inc_by(runs);
        debug!(probe = %slot.def.name, runs, "runs skipped: the previous run was still in flight");
    }

    /// A run of `slot` finished with `outcome`.
    pub fn run_finished(&self, slot: &ProbeSlot, outcome: &Outcome) {
        let now = Instant::now();
        let finished = SystemTime::now();
        let message = self.redact(&outcome.message);
        let (transition, latency) = {
            let mut history = lock(&slot.history);
            let t = history.record(outcome, &message, finished, now);
            (t, history.latency(now))
        };
        let m = &self.metrics;
        let probe = slot.def.name.clone();
        let kind = slot.kind().as_label();
        let pk = ProbeKindLabels {
            probe: probe.clone(),
            kind,
        };
        let p = ProbeLabels {
            probe: probe.clone(),
        };
        let result = outcome.verdict.as_label();
        m.probe_runs
            .get_or_create(&ResultLabels {
                probe: probe.clone(),
                kind,
                result,
            })
            .inc();
        match outcome.verdict {
            Verdict::Success => {
                m.probe_success.get_or_create(&pk).set(1);
            }
            Verdict::Failure(reason) => {
                m.probe_success.get_or_create(&pk).set(0);
                let labels = ReasonLabels {
                    probe: probe.clone(),
                    kind,
                    reason: reason.as_label(),
                };
                m.probe_failures.get_or_create(&labels).inc();
            }
            // Not enough evidence either way: the last verdict stands.
            Verdict::Inconclusive => {}
        }
        m.probe_duration
            .get_or_create(&pk)
            .observe(outcome.duration.as_secs_f64());
        m.probe_last_run.get_or_create(&p).set(unix_now());
        if let Some(l) = latency {
            for (quantile, value) in QUANTILES.map(|(q, f)| (q, f(&l))) {
                let labels = QuantileLabels {
                    probe: probe.clone(),
                    quantile,
                };
                m.latency.get_or_create(&labels).set(value.as_secs_f64());
            }
            m.latency_samples.get_or_create(&p).set(l.samples as i64);
        }
        // Steps of a transaction (other kinds' sub-requests are not steps of a flow).
        if slot.kind() == Kind::Transaction {
            let mut seen = lock(&slot.steps);
            for step in &outcome.steps {
                if !seen.contains(&step.name) {
                    // Only new names are cloned: this runs on every transaction run.
                    seen.insert(step.name.clone());
                }
                let labels = StepLabels {
                    probe: probe.clone(),
                    step: step.name.clone(),
                };
                m.step_duration
                    .get_or_create(&labels)
                    .observe(step.duration.as_secs_f64());
            }
        }
        if let Some(ratio) = outcome.burst_success_ratio {
            m.burst_ratio.get_or_create(&p).set(ratio);
        }
        if let Some(expiry) = outcome.cert_not_after {
            let at = expiry
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            m.tls_expiry.get_or_create(&p).set(at);
        }
        // Nobody listening (no guard) is fine.
        let _ = self.runs.send(RunEvent {
            probe: probe.clone(),
            verdict: outcome.verdict,
            finished,
            samples: outcome.samples.clone(),
        });
        let duration = outcome.duration;
        match transition {
            Transition::Failing(reason) => warn!(
                probe = %probe, kind, reason = reason.as_label(), ?duration, detail = %message,
                "probe failing"
            ),
            Transition::StillFailing => debug!(
                probe = %probe, kind, reason = outcome.verdict.reason().map(FailureReason::as_label),
                detail = %message, "probe still failing"
            ),
            Transition::Recovered { failures, for_ } => info!(
                probe = %probe, kind, failures, failing_for = ?for_, "probe recovered"
            ),
            Transition::Steady => debug!(probe = %probe, kind, result, ?duration, "probe run"),
        }
    }

    /// A configuration load or reload finished.
    pub fn reload_finished(&self, success: bool, message: String) {
        let now = unix_now();
        self.metrics.reload_success.set(i64::from(success));
        if success {
            self.metrics.reload_timestamp.set(now);
        }
        *lock(&self.last_reload) = Some(ReloadStatus {
            at: now,
            success,
            message,
        });
    }

    /// New resource NFR readings (replace the previous ones).
    pub fn nfrs_measured(&self, nfrs: Vec<NfrStatus>) {
        let m = &self.metrics;
        for n in &nfrs {
            let labels = NfrLabels { nfr: n.nfr };
            m.nfr_threshold.get_or_create(&labels).set(n.threshold);
            match n.value {
                Some(v) => {
                    m.nfr_value.get_or_create(&labels).set(v);
                    m.nfr_breached
                        .get_or_create(&labels)
                        .set(i64::from(n.breached));
                }
                // No measurement: no value rather than a stale or made-up one.
                None => {
                    m.nfr_value.remove(&labels);
                    m.nfr_breached.remove(&labels);
                }
            }
        }
        *lock(&self.nfrs) = nfrs;
    }

    /// Config loaded and every interval probe has finished a run (cron probes may not run for
    /// hours and do not hold readiness back).
    pub fn ready(&self) -> bool {
        let loaded = lock(&self.last_reload).is_some();
        loaded
            && self
                .slots()
                .iter()
                .all(|s| s.def.schedule.is_cron() || lock(&s.history).has_run())
    }

    /// `Err(why)` when the scheduler has stalled: no heartbeat lately, or a run far past its
    /// deadline.
    pub fn health(&self) -> Result<(), String> {
        self.health_at(self.started.elapsed(), Instant::now())
    }

    /// [`Recorder::health`] as of `now` (`since_start` after the recorder was made).
    fn health_at(&self, since_start: Duration, instant: Instant) -> Result<(), String> {
        let now = since_start;
        let beat = Duration::from_millis(self.heartbeat_ms.load(Ordering::Relaxed));
        if now.saturating_sub(beat) > HEARTBEAT_STALE {
            return Err(format!(
                "scheduler stalled: no heartbeat for {}s",
                now.saturating_sub(beat).as_secs()
            ));
        }
        for slot in self.slots() {
            let since = lock(&slot.history).in_flight_since();
            if let Some(since) = since {
                let running = instant.saturating_duration_since(since);
                if running > slot.def.deadline + RUN_OVERDUE {
                    return Err(format!(
                        "probe {} has been running for {}s, past its deadline of {}s",
                        slot.def.name,
                        running.as_secs(),
                        slot.def.deadline.as_secs()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The status snapshot.
    pub fn snapshot(&self) -> StatusSnapshot {
        let now = Instant::now();
        let (config_source, target) = self
            .source
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // Each lock is taken and released on its own: `ready()` locks `last_reload` again.
        let last_reload = lock(&self.last_reload).clone();
        let ready = self.ready();
        let probes = self
            .slots()
            .iter()
            .map(|s| lock(&s.history).status(now))
            .collect();
        let nfrs = lock(&self.nfrs).clone();
        let rollouts = lock(&self.rollouts).values().cloned().collect();
        StatusSnapshot {
            version: env!("CARGO_PKG_VERSION"),
            started_at: self
                .started_at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
            now: unix_now(),
            config_source,
            target,
            last_reload,
            ready,
            probes,
            nfrs,
            rollouts,
        }
    }
}

type Quantile = fn(&prober_probes::LatencySummary) -> Duration;

/// The exported quantiles.
const QUANTILES: [(&str, Quantile); 4] = [
    ("0.5", |l| l.p50),
    ("0.9", |l| l.p90),
    ("0.99", |l| l.p99),
    ("0.999", |l| l.p999),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, ConfigSource, Overrides};

    fn default_slots() -> (config::Config, Vec<Arc<ProbeSlot>>) {
        let overrides = Overrides {
            base_url: Some("http://127.0.0.1:1".into()),
            api_key: Some(Secret::new("s3cr3t-admin")),
            non_admin_key: Some(Secret::new("s3cr3t-user")),
        };
        let config = config::load(ConfigSource::Default, &overrides).unwrap();
        let slots = config
            .probes
            .iter()
            .cloned()
            .map(ProbeSlot::new)
            .map(Arc::new)
            .collect();
        (config, slots)
    }

    #[test]
    fn health_fails_when_the_scheduler_stops_beating() {
        let r = Recorder::new();
        r.beat();
        let now = Instant::now();
        assert_eq!(r.health_at(Duration::from_secs(5), now), Ok(()));
        let err = r.health_at(Duration::from_secs(20), now).unwrap_err();
        assert!(err.contains("scheduler stalled"), "{err}");
    }

    #[test]
    fn health_fails_when_a_run_is_stuck_past_its_deadline() {
        let r = Recorder::new();
        let (config, slots) = default_slots();
        r.set_probes(slots.clone(), &config.source, &config.target);
        r.beat();
        let start = Instant::now();
        let health = &slots[0];
        r.run_started(health);
        let deadline = health.def.deadline;
        assert_eq!(r.health_at(Duration::ZERO, start + deadline), Ok(()));
        let err = r
            .health_at(
                Duration::ZERO,
                start + deadline + RUN_OVERDUE + Duration::from_secs(1),
            )
            .unwrap_err();
        assert!(err.contains("probe health has been running"), "{err}");
        r.run_finished(health, &Outcome::success("ok"));
        let later = start + deadline + RUN_OVERDUE + Duration::from_secs(1);
        assert_eq!(r.health_at(Duration::ZERO, later), Ok(()));
    }

    #[test]
    fn ready_after_every_interval_probe_has_run_once() {
        let r = Recorder::new();
        let (config, slots) = default_slots();
        r.set_probes(slots.clone(), &config.source, &config.target);
        assert!(!r.ready(), "no config load recorded yet");
        r.reload_finished(true, "loaded".into());
        for (i, slot) in slots.iter().enumerate() {
            assert!(!r.ready(), "ready before probe {i} ran");
            r.run_finished(slot, &Outcome::failure(FailureReason::Status, "503"));
        }
        assert!(r.ready(), "a failed run still completes the first round");
    }

    #[test]
    fn messages_are_redacted_before_they_are_kept() {
        let r = Recorder::new();
        let (config, slots) = default_slots();
        r.set_probes(slots.clone(), &config.source, &config.target);
        r.run_finished(
            &slots[0],
            &Outcome::failure(
                FailureReason::Status,
                "echoed s3cr3t-admin and s3cr3t-user!",
            ),
        );
        let status = r.snapshot();
        assert_eq!(
            status.probes[0].last.as_ref().unwrap().message,
            "echoed *** and ***!"
        );
    }
}
