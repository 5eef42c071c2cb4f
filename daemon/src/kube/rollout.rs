//! Rollouts of a Deployment, from its object alone (DESIGN §6): a rollout starts when
//! `metadata.generation` moves past `status.observedGeneration` or the
//! `deployment.kubernetes.io/revision` annotation changes; it completes when updated, ready and
//! available replicas all equal the desired count for the observed generation (and no old
//! replica is left); it fails on the `Progressing` condition with reason
//! `ProgressDeadlineExceeded`. Pure: the watcher feeds [`RolloutTracker::observe`].

use std::time::{Duration, SystemTime};

use k8s_openapi::api::apps::v1::Deployment;

/// The revision annotation the deployment controller maintains.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

/// What the tracker needs of a Deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeploymentView {
    /// `metadata.generation`.
    pub generation: i64,
    /// `status.observedGeneration`.
    pub observed_generation: i64,
    /// The revision annotation.
    pub revision: Option<String>,
    /// `spec.replicas` (default 1).
    pub desired: i32,
    /// `status.replicas`: all pods, old and new.
    pub replicas: i32,
    /// `status.updatedReplicas`.
    pub updated: i32,
    /// `status.readyReplicas`.
    pub ready: i32,
    /// `status.availableReplicas`.
    pub available: i32,
    /// The `Progressing` condition says `ProgressDeadlineExceeded`.
    pub deadline_exceeded: bool,
}

impl DeploymentView {
    /// Read a Deployment (missing fields read as Kubernetes defaults).
    pub fn of(d: &Deployment) -> Self {
        let status = d.status.clone().unwrap_or_default();
        DeploymentView {
            generation: d.metadata.generation.unwrap_or(0),
            observed_generation: status.observed_generation.unwrap_or(0),
            revision: d
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REVISION_ANNOTATION).cloned()),
            desired: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            replicas: status.replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            ready: status.ready_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            deadline_exceeded: status.conditions.unwrap_or_default().iter().any(|c| {
                c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
            }),
        }
    }

    /// The controller has seen the latest spec and every replica is updated, ready and
    /// available, with no old replica left.
    pub fn complete(&self) -> bool {
        self.observed_generation >= self.generation
            && self.updated == self.desired
            && self.ready == self.desired
            && self.available == self.desired
            && self.replicas == self.desired
    }
}

/// Where a Deployment's rollout stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Nothing rolling out.
    Idle,
    /// A rollout of `revision` started at `since`.
    Progressing {
        /// The new revision (annotation), if known yet.
        revision: Option<String>,
        /// When the tracker saw it start.
        since: SystemTime,
    },
}

/// A change worth acting on.
#[derive(Debug, Clone, PartialEq)]
pub enum RolloutEvent {
    /// A rollout started.
    Started {
        /// The new revision, if the annotation is already there.
        revision: Option<String>,
    },
    /// It completed after `duration`.
    Completed {
        /// The revision now running.
        revision: Option<String>,
        /// From start to completion.
        duration: Duration,
    },
    /// The controller gave up (`ProgressDeadlineExceeded`) after `duration`.
    Failed {
        /// The revision that did not make it.
        revision: Option<String>,
        /// From start to the failure.
        duration: Duration,
    },
}

/// Follows one Deployment's rollouts.
#[derive(Debug, Clone)]
pub struct RolloutTracker {
    phase: Phase,
    revision: Option<String>,
    generation: Option<i64>,
}

impl Default for RolloutTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl RolloutTracker {
    /// A tracker that has seen nothing yet.
    pub fn new() -> Self {
        RolloutTracker {
            phase: Phase::Idle,
            revision: None,
            generation: None,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Take in the Deployment as it is now; returns what changed. The first observation starts
    /// a rollout only if one is visibly under way (the prober may start mid-rollout).
    pub fn observe(&mut self, view: &DeploymentView, now: SystemTime) -> Option<RolloutEvent> {
        let first = self.generation.is_none();
        let new_generation = self.generation.is_some_and(|g| view.generation > g)
            || view.generation > view.observed_generation;
        let new_revision = !first && view.revision.is_some() && view.revision != self.revision;
        self.generation = Some(view.generation);
        if view.revision.is_some() {
            self.revision = view.revision.clone();
        }
        match &self.phase {
            Phase::Idle => {
                let started = if first {
                    !view.complete() && !view.deadline_exceeded
                } else {
                    (new_generation || new_revision) && !view.complete()
                };
                if started {
                    self.phase = Phase::Progressing {
                        revision: view.revision.clone(),
                        since: now,
                    };
                    return Some(RolloutEvent::Started {
                        revision: view.revision.clone(),
                    });
                }
                None
            }
            Phase::Progressing { since, .. } => {
                let duration = now.duration_since(*since).unwrap_or_default();
                let revision = view.revision.clone();
                if view.deadline_exceeded {
                    self.phase = Phase::Idle;
                    Some(RolloutEvent::Failed { revision, duration })
                } else if view.complete() {
                    self.phase = Phase::Idle;
                    Some(RolloutEvent::Completed { revision, duration })
                } else {
                    if let Phase::Progressing { revision: r, .. } = &mut self.phase
                        && r.is_none()
                    {
                        *r = revision;
                    }
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steady(generation: i64, revision: &str, n: i32) -> DeploymentView {
        DeploymentView {
            generation,
            observed_generation: generation,
            revision: Some(revision.into()),
            desired: n,
            replicas: n,
            updated: n,
            ready: n,
            available: n,
            deadline_exceeded: false,
        }
    }

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }

    #[test]
    fn a_rollout_starts_on_a_new_generation_and_completes_when_all_replicas_are_new() {
        let mut t = RolloutTracker::new();
        assert_eq!(
            t.observe(&steady(1, "1", 3), at(0)),
            None,
            "steady at start"
        );
        // `kubectl set image`: generation 2, not yet observed.
        let mut v = steady(2, "1", 3);
        v.observed_generation = 1;
        assert_eq!(
            t.observe(&v, at(10)),
            Some(RolloutEvent::Started {
                revision: Some("1".into())
            })
        );
        // The controller observes it, bumps the revision, surges one new pod.
        v.observed_generation = 2;
        v.revision = Some("2".into());
        v.replicas = 4;
        v.updated = 1;
        assert_eq!(t.observe(&v, at(20)), None);
        // All new, but an old pod is still terminating: not complete.
        v.updated = 3;
        assert_eq!(t.observe(&v, at(60)), None);
        v.replicas = 3;
        assert_eq!(
            t.observe(&v, at(70)),
            Some(RolloutEvent::Completed {
                revision: Some("2".into()),
                duration: Duration::from_secs(60)
            })
        );
        assert_eq!(t.phase(), &Phase::Idle);
        assert_eq!(t.observe(&v, at(80)), None, "no second completion");
    }

    #[test]
    fn a_revision_change_alone_starts_a_rollout_and_a_deadline_fails_it() {
        let mut t = RolloutTracker::new();
        t.observe(&steady(5, "7", 2), at(0));
        // A rollback by revision: same generation bump already observed, new revision annotation.
        let mut v = steady(6, "8", 2);
        v.updated = 0;
        assert!(matches!(
            t.observe(&v, at(5)),
            Some(RolloutEvent::Started { .. })
        ));
        v.deadline_exceeded = true;
        assert_eq!(
            t.observe(&v, at(605)),
            Some(RolloutEvent::Failed {
                revision: Some("8".into()),
                duration: Duration::from_secs(600)
            })
        );
    }

    #[test]
    fn starting_mid_rollout_counts_as_a_start() {
        let mut t = RolloutTracker::new();
        let mut v = steady(3, "3", 2);
        v.updated = 1;
        v.replicas = 3;
        assert!(matches!(
            t.observe(&v, at(0)),
            Some(RolloutEvent::Started { .. })
        ));
    }

    #[test]
    fn the_view_reads_a_deployment_object() {
        let d: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "godel", "generation": 4,
                         "annotations": {"deployment.kubernetes.io/revision": "9"}},
            "spec": {"replicas": 3, "selector": {}, "template": {}},
            "status": {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3,
                       "readyReplicas": 3, "availableReplicas": 2,
                       "conditions": [{"type": "Progressing", "status": "False",
                                       "reason": "ProgressDeadlineExceeded"}]}
        }))
        .unwrap();
        let v = DeploymentView::of(&d);
        assert_eq!(v.revision.as_deref(), Some("9"));
        assert_eq!((v.desired, v.available), (3, 2));
        assert!(v.deadline_exceeded && !v.complete());
    }
}
