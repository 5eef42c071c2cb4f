//! The guard at work: per guarded release, a loop that follows the Deployment with the kube
//! runtime watcher, feeds the gate probes' runs into [`Evidence`], analyses every
//! `analysis_every` during the rollout and the verification window, rolls back through the
//! [`RollbackPolicy`] when the [`Streak`] says so (only on the Lease holder), checks recovery,
//! and reports releases stuck in `pending-*`. One leader loop per daemon.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::api::{Api, ListParams};
use kube::runtime::events::{Recorder as EventRecorder, Reporter as EventReporter};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use tokio::sync::{Mutex, broadcast, watch};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::config::{GuardConfig, GuardedRelease};
use super::evidence::Evidence;
use super::judge::{Action, Streak, Verdict, analyse};
use super::report::{self, Reporter, analysis_reason};
use super::rollback::{RollbackPolicy, RollbackRequest, RollbackResult, rollback};
use crate::kube::client::connect;
use crate::kube::helm_release::ReleaseHistory;
use crate::kube::lease::{self, LeaderElector};
use crate::kube::rollout::{DeploymentView, RolloutEvent, RolloutTracker};
use crate::recorder::{Recorder, RunEvent};
use crate::scheduler::Speedup;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// How often a release's Helm history is checked for a stuck `pending-*` revision.
const PENDING_CHECK: Duration = Duration::from_secs(30);
/// Retry interval when the API server cannot be reached at start.
const RETRY: Duration = Duration::from_secs(10);

/// Run the guard until `stop`.
pub async fn run(
    cfg: GuardConfig,
    recorder: Arc<Recorder>,
    speedup: watch::Sender<Speedup>,
    stop: CancellationToken,
) {
    let client = loop {
        match connect(cfg.kubeconfig.as_deref(), Duration::from_secs(5), None).await {
            Ok(c) => break c,
            Err(e) => {
                error!(error = %e, "rollout guard: no Kubernetes client; retrying");
                tokio::select! {
                    () = sleep(RETRY) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    };
    let cfg = Arc::new(cfg);
    let identity = lease::identity();
    let leader = Arc::new(AtomicBool::new(false));
    report::leader(&recorder, false);
    let (lease_name, lease_ns, lease_duration) = cfg.lease.clone();
    let elector = LeaderElector::new(
        client.clone(),
        &lease_ns,
        &lease_name,
        identity.clone(),
        lease_duration,
    );
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(lead(
        elector,
        leader.clone(),
        recorder.clone(),
        stop.clone(),
    ));
    let events = EventRecorder::new(
        client.clone(),
        EventReporter {
            controller: "godel-prober".into(),
            instance: Some(identity),
        },
    );
    let policy = Arc::new(Mutex::new(RollbackPolicy::new(cfg.rollback.clone())));
    let gate_probes: std::collections::BTreeSet<String> = cfg
        .gates
        .availability_probes
        .iter()
        .chain(&cfg.gates.security_probes)
        .chain(&cfg.gates.latency_probe)
        .cloned()
        .collect();
    for target in &cfg.releases {
        let guard = ReleaseGuard {
            cfg: cfg.clone(),
            client: client.clone(),
            reporter: Reporter {
                events: Some(events.clone()),
                recorder: recorder.clone(),
                namespace: target.namespace.clone(),
                deployment: target.deployment.clone(),
                release: target.release.clone(),
            },
            target: target.clone(),
            leader: leader.clone(),
            policy: policy.clone(),
            speedup: speedup.clone(),
            gate_probes: Arc::new(gate_probes.clone()),
            runs: recorder.subscribe(),
            recorder: recorder.clone(),
            pending_reported: std::sync::atomic::AtomicU32::new(0),
        };
        tasks.spawn(guard.run(stop.clone()));
    }
    while tasks.join_next().await.is_some() {}
    recorder.clear_rollouts();
    // Back to normal probing when the guard stops (reload, shutdown).
    speedup.send_replace(Speedup::default());
}

/// The leader loop: try every third of the Lease duration; any error is "not leader".
async fn lead(
    elector: LeaderElector,
    leader: Arc<AtomicBool>,
    recorder: Arc<Recorder>,
    stop: CancellationToken,
) {
    let mut last_error = String::new();
    loop {
        let now = match elector.try_acquire_or_renew().await {
            Ok(held) => {
                last_error.clear();
                held
            }
            Err(e) => {
                let text = e.to_string();
                if text != last_error {
                    warn!(error = %text, "cannot acquire or renew the Lease; not acting as leader");
                    last_error = text;
                }
                false
            }
        };
        if leader.swap(now, Ordering::SeqCst) != now {
            info!(
                identity = elector.identity(),
                leader = now,
                "leadership changed"
            );
        }
        report::leader(&recorder, now);
        tokio::select! {
            () = sleep(elector.renew_every()) => {}
            () = stop.cancelled() => {
                leader.store(false, Ordering::SeqCst);
                report::leader(&recorder, false);
                return;
            }
        }
    }
}

/// An analysis in progress.
struct Analysing {
    started_unix: f64,
    gates: Vec<crate::status::model::GateStatus>,
    last_rollback: Option<String>,
    started_at: Instant,
    completed: Option<(Instant, Duration)>,
    failed: Option<Duration>,
    streak: Streak,
    last: Option<Verdict>,
    rolled_back: Option<Instant>,
    no_recovery: bool,
    revision: Option<String>,
}

struct ReleaseGuard {
    cfg: Arc<GuardConfig>,
    client: Client,
    reporter: Reporter,
    target: GuardedRelease,
    leader: Arc<AtomicBool>,
    policy: Arc<Mutex<RollbackPolicy>>,
    speedup: watch::Sender<Speedup>,
    gate_probes: Arc<std::collections::BTreeSet<String>>,
    runs: broadcast::Receiver<RunEvent>,
    recorder: Arc<Recorder>,
    /// The pending revision last reported with an Event (0: none).
    pending_reported: std::sync::atomic::AtomicU32,
}

impl ReleaseGuard {
    async fn run(mut self, stop: CancellationToken) {
        self.reporter.init();
        self.recorder
            .rollout_status(crate::status::model::RolloutStatus {
                namespace: self.target.namespace.clone(),
                deployment: self.target.deployment.clone(),
                release: self.target.release.clone(),
                verdict: "idle".into(),
                revision: None,
                started_at: None,
                gates: Vec::new(),
                consecutive_failures: 0,
                last_rollback: None,
            });
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), &self.target.namespace);
        let config = if self.target.by_selector {
            watcher::Config::default().labels(&self.target.deployment)
        } else {
            watcher::Config::default().fields(&format!("metadata.name={}", self.target.deployment))
        };
        let stream = watcher(api, config).default_backoff().applied_objects();
        futures_util::pin_mut!(stream);
        // One tracker per Deployment (a selector may match several).
        let mut trackers: std::collections::HashMap<String, RolloutTracker> = Default::default();
        let mut evidence = Evidence::new(self.cfg.gates.clone());
        let mut state: Option<Analysing> = None;
        let mut deployment: Option<Deployment> = None;
        let mut tick = tokio::time::interval(self.cfg.analysis_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_pending_check = Instant::now();
        info!(namespace = %self.target.namespace, deployment = %self.target.deployment,
            release = %self.target.release, "rollout guard watching");
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                item = stream.next() => match item {
                    Some(Ok(d)) => {
                        let view = DeploymentView::of(&d);
                        let name = d.metadata.name.clone().unwrap_or_default();
                        let change = trackers.entry(name).or_default().observe(&view, SystemTime::now());
                        // A completion counts once no other Deployment of the release is still
                        // rolling out.
                        let others_busy = trackers.values().any(|t| t.phase() != &crate::kube::rollout::Phase::Idle);
                        let change = match change {
                            Some(RolloutEvent::Completed { .. }) if others_busy => None,
                            other => other,
                        };
                        deployment = Some(d);
                        if let (Some(change), Some(d)) = (change, deployment.as_ref()) {
                            self.on_rollout(change, d, &mut state, &mut evidence).await;
                        }
                    }
                    Some(Err(e)) => warn!(error = %e, deployment = %self.target.deployment, "watch error; retrying"),
                    None => return,
                },
                run = self.runs.recv() => match run {
                    Ok(run) => evidence.observe(&run, Instant::now()),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        warn!(missed = n, "rollout guard fell behind the probe runs; judging on what it saw");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    if let (Some(d), Some(_)) = (deployment.as_ref(), state.as_ref()) {
                        let finished = self.analyse(d, &mut state, &evidence).await;
                        if finished {
                            evidence.stop();
                        }
                    }
                    // Events go on the Deployment: wait until the watcher has delivered it.
                    if let Some(d) = deployment.as_ref()
                        && Instant::now() >= next_pending_check
                    {
                        next_pending_check = Instant::now() + PENDING_CHECK;
                        self.check_pending(d).await;
                    }
                }
            }
        }
    }

    fn reference(&self, d: &Deployment) -> ObjectReference {
        d.object_ref(&())
    }

    fn raise_speed(&self, on: bool) {
        self.speedup.send_replace(if on {
            Speedup {
                factor: self.cfg.probe_speedup,
                probes: self.gate_probes.clone(),
            }
        } else {
            Speedup::default()
        });
    }

    async fn on_rollout(
        &self,
        change: RolloutEvent,
        d: &Deployment,
        state: &mut Option<Analysing>,
        evidence: &mut Evidence,
    ) {
        let r = &self.reporter;
        match change {
            RolloutEvent::Started { revision } => {
                // Another Deployment of the same release joining a rollout already analysed.
                if state
                    .as_ref()
                    .is_some_and(|s| s.completed.is_none() && s.rolled_back.is_none())
                    && self.target.by_selector
                {
                    return;
                }
                let rolled_back = state.as_ref().and_then(|s| s.rolled_back);
                evidence.start(SystemTime::now(), Instant::now());
                *state = Some(Analysing {
                    started_unix: unix_now(),
                    gates: Vec::new(),
                    last_rollback: state.as_ref().and_then(|s| s.last_rollback.clone()),
                    started_at: Instant::now(),
                    completed: None,
                    failed: None,
                    streak: Streak::new(self.cfg.consecutive_failures),
                    last: None,
                    // A rollout caused by our rollback is analysed to verify the recovery.
                    rolled_back,
                    no_recovery: false,
                    revision: revision.clone(),
                });
                self.raise_speed(true);
                if let Some(s) = state.as_ref() {
                    self.publish(s, "analysing");
                }
                r.rollout(true, Duration::ZERO);
                r.verdict("analysing");
                let rev = revision.unwrap_or_else(|| "?".into());
                let note = if rolled_back.is_some() {
                    format!("rollout of revision {rev} (our rollback) started; verifying recovery")
                } else {
                    format!(
                        "rollout of revision {rev} started; analysing for {} after it completes",
                        humantime::format_duration(self.cfg.verify_for)
                    )
                };
                r.event(
                    &self.reference(d),
                    false,
                    "AnalysisStarted",
                    "Analyse",
                    note,
                )
                .await;
            }
            RolloutEvent::Completed { revision, duration } => {
                if let Some(s) = state.as_mut() {
                    s.completed = Some((Instant::now(), duration));
                    s.revision = revision.or(s.revision.take());
                }
                r.rollout(false, duration);
                debug!(deployment = %self.target.deployment, ?duration, "rollout completed");
            }
            RolloutEvent::Failed { revision, duration } => {
                if let Some(s) = state.as_mut() {
                    s.failed = Some(duration);
                    s.revision = revision.or(s.revision.take());
                }
                r.rollout(false, duration);
            }
        }
    }

    /// One analysis; returns true when the analysis is over (verification window passed).
    async fn analyse(
        &self,
        d: &Deployment,
        state: &mut Option<Analysing>,
        evidence: &Evidence,
    ) -> bool {
        let Some(s) = state.as_mut() else {
            return false;
        };
        let r = &self.reporter;
        let now = Instant::now();
        let elapsed = match (s.completed, s.failed) {
            (Some((_, total)), _) => total,
            (_, Some(total)) => total,
            _ => now.duration_since(s.started_at),
        };
        if s.completed.is_none() && s.failed.is_none() {
            r.rollout(true, elapsed);
        }
        let revision = s.revision.clone().unwrap_or_else(|| "?".into());
        let analysis = if now.duration_since(s.started_at) < self.cfg.warmup && s.failed.is_none() {
            None
        } else {
            let a = analyse(
                &evidence.measurements(elapsed, &self.recorder.nfrs(), now),
                evidence.prober_healthy(),
            );
            r.gates(&a);
            s.gates = a
                .results
                .iter()
                .map(|g| crate::status::model::GateStatus {
                    gate: g.measurement.gate.id(),
                    verdict: g.verdict.as_label(),
                    value: g.measurement.value,
                    threshold: g.measurement.threshold,
                    samples: g.measurement.samples,
                    reason: g.reason.clone(),
                })
                .collect();
            Some(a)
        };
        let mut action = Action::Continue;
        if let Some(a) = &analysis {
            action = s.streak.observe(a);
            if let Some(duration) = s.failed {
                action = Action::Rollback(format!(
                    "rollout failed: ProgressDeadlineExceeded after {}",
                    humantime::format_duration(Duration::from_secs(duration.as_secs()))
                ));
            }
            if s.last != Some(a.verdict) {
                s.last = Some(a.verdict);
                let warning = a.verdict != Verdict::Pass;
                let note = format!(
                    "revision {revision}: analysis {}: {}",
                    a.verdict,
                    a.summary()
                );
                r.event(
                    &self.reference(d),
                    warning,
                    analysis_reason(a.verdict),
                    "Analyse",
                    note,
                )
                .await;
            }
        }
        if let Action::Rollback(reason) = action {
            r.verdict("fail");
            if s.rolled_back.is_some() {
                // Still breaching on the revision we rolled back to: no second rollback.
                if !s.no_recovery {
                    s.no_recovery = true;
                    r.no_recovery(true);
                    let note =
                        format!("revision {revision} still breaches after the rollback: {reason}");
                    r.event(&self.reference(d), true, "NoRecovery", "Rollback", note)
                        .await;
                }
            } else {
                s.rolled_back = Some(now);
                s.last_rollback = Some(self.roll_back(d, &reason).await);
            }
        }
        self.publish(
            s,
            if s.no_recovery || s.rolled_back.is_some() {
                "fail"
            } else {
                "analysing"
            },
        );
        // The analysis ends once the verification window after completion has passed.
        let over = s
            .completed
            .is_some_and(|(at, _)| now.duration_since(at) >= self.cfg.verify_for)
            || s.failed.is_some() && s.rolled_back.is_some();
        if over && s.rolled_back.is_none_or(|_| s.completed.is_some()) {
            let final_verdict = match s.last {
                _ if s.no_recovery => "fail",
                Some(Verdict::Pass) if s.rolled_back.is_none() => "pass",
                Some(Verdict::Pass) => "fail",
                Some(Verdict::Fail { .. }) => "fail",
                _ => "inconclusive",
            };
            r.verdict(final_verdict);
            if s.rolled_back.is_some() && !s.no_recovery {
                r.no_recovery(false);
                r.event(
                    &self.reference(d),
                    false,
                    "Recovered",
                    "Rollback",
                    format!("revision {revision} is healthy after the rollback"),
                )
                .await;
            } else if final_verdict == "pass" {
                r.event(
                    &self.reference(d),
                    false,
                    "AnalysisPassed",
                    "Analyse",
                    format!(
                        "revision {revision} passed its analysis ({} after the rollout)",
                        humantime::format_duration(self.cfg.verify_for)
                    ),
                )
                .await;
            }
            self.publish(s, final_verdict);
            self.raise_speed(false);
            *state = None;
            return true;
        }
        false
    }

    /// Roll back (or decide not to); returns the decision in a few words for the status.
    async fn roll_back(&self, d: &Deployment, reason: &str) -> String {
        let r = &self.reporter;
        let reference = self.reference(d);
        let history = match self.history().await {
            Ok(history) => history,
            Err(e) => {
                r.rollback("failure", false);
                r.event(
                    &reference,
                    true,
                    "RollbackFailed",
                    "Rollback",
                    format!(
                        "cannot read the Helm history of {}: {e}; rollback wanted because {reason}",
                        self.target.release
                    ),
                )
                .await;
                return "failure: cannot read the Helm history".into();
            }
        };
        let Some(current) = history.current() else {
            r.rollback("skipped", false);
            r.event(
                &reference,
                true,
                "RollbackSkipped",
                "Rollback",
                format!(
                    "release {} has no Helm history; rollback wanted because {reason}",
                    self.target.release
                ),
            )
            .await;
            return "skipped: no Helm history".into();
        };
        let Some(good) = history.last_good_before(current.revision) else {
            r.rollback("skipped", false);
            r.event(
                &reference,
                true,
                "RollbackSkipped",
                "Rollback",
                format!(
                    "no good revision before {}; rollback wanted because {reason}",
                    current.revision
                ),
            )
            .await;
            return format!("skipped: no good revision before {}", current.revision);
        };
        let opted_out = d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(&self.cfg.opt_out_annotation))
            .is_some_and(|v| matches!(v.as_str(), "false" | "disabled" | "off"));
        let req = RollbackRequest {
            namespace: self.target.namespace.clone(),
            release: self.target.release.clone(),
            from_revision: current.revision,
            to_revision: good.revision,
            from_is_rollback: current.is_rollback().is_some(),
            opted_out,
            is_leader: self.leader.load(Ordering::SeqCst),
            reason: reason.to_string(),
        };
        let what = format!(
            "{} revision {} → {}",
            self.target.release, current.revision, good.revision
        );
        r.event(
            &reference,
            true,
            "RollbackTriggered",
            "Rollback",
            format!("{what}: {reason}"),
        )
        .await;
        let attempt = {
            let mut policy = self.policy.lock().await;
            rollback(&mut policy, &req, Instant::now()).await
        };
        let result = attempt.result.as_label();
        let attempted = matches!(
            attempt.result,
            RollbackResult::Success | RollbackResult::Failure(_)
        );
        r.rollback(result, attempted);
        let took =
            humantime::format_duration(Duration::from_millis(attempt.duration.as_millis() as u64));
        match &attempt.result {
            RollbackResult::Success => {
                r.event(
                    &reference,
                    false,
                    "RollbackSucceeded",
                    "Rollback",
                    format!("{what} in {took}: `{}`", attempt.command.join(" ")),
                )
                .await
            }
            RollbackResult::Failure(why) => {
                r.event(
                    &reference,
                    true,
                    "RollbackFailed",
                    "Rollback",
                    format!("{what} failed after {took}: {why}"),
                )
                .await
            }
            RollbackResult::DryRun => {
                r.event(
                    &reference,
                    true,
                    "RollbackDryRun",
                    "Rollback",
                    format!(
                        "dry run: would have run `{}` because {reason}",
                        attempt.command.join(" ")
                    ),
                )
                .await
            }
            RollbackResult::Skipped(skip) => {
                r.event(
                    &reference,
                    true,
                    "RollbackSkipped",
                    "Rollback",
                    format!("{what} skipped: {skip}"),
                )
                .await
            }
        }
        format!("{result}: {what}")
    }

    fn publish(&self, s: &Analysing, verdict: &str) {
        self.recorder
            .rollout_status(crate::status::model::RolloutStatus {
                namespace: self.target.namespace.clone(),
                deployment: self.target.deployment.clone(),
                release: self.target.release.clone(),
                verdict: verdict.to_string(),
                revision: s.revision.clone(),
                started_at: Some(s.started_unix),
                gates: s.gates.clone(),
                consecutive_failures: s.streak.failures(),
                last_rollback: s.last_rollback.clone(),
            });
    }

    /// The release's Helm history from its release Secrets; unreadable ones are logged.
    async fn history(&self) -> Result<ReleaseHistory, kube::Error> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.target.namespace);
        let selector = format!("owner=helm,name={}", self.target.release);
        let list = secrets
            .list(&ListParams::default().labels(&selector))
            .await?;
        let (history, errors) = ReleaseHistory::from_secrets(&list.items);
        for e in errors {
            warn!(error = %e, "unreadable Helm release Secret");
        }
        Ok(history)
    }

    /// Report a release stuck in `pending-*`: the metric always, the Event once per revision.
    async fn check_pending(&self, d: &Deployment) {
        let Ok(history) = self.history().await else {
            return;
        };
        let pending = history.pending().cloned();
        self.reporter.pending(pending.is_some());
        let reported = self
            .pending_reported
            .swap(pending.as_ref().map_or(0, |p| p.revision), Ordering::SeqCst);
        if let Some(p) = pending
            && reported != p.revision
        {
            let note = format!(
                "release {} revision {} is {} (no action taken: finish or roll it back with helm)",
                p.name,
                p.revision,
                p.status.as_str()
            );
            self.reporter
                .event(&self.reference(d), true, "ReleasePending", "Watch", note)
                .await;
        }
    }
}
