//! The agent store: creation, lazy status from age, listing, deletion and bounded memory.
//!
//! One `std::sync::Mutex` guards the map; it is held only for map operations, never across an
//! `.await`. Status is never stored: it is derived from the agent's age and its fate, which is
//! fixed at creation from the faults active then.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

/// How often, at most, an insert scans for expired agents.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// What an agent reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Spawning,
    Running,
    Completed,
    Failed,
}

/// How an agent ends, decided at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Complete,
    Fail,
    Stuck,
}

#[derive(Debug)]
struct Agent {
    seq: u64,
    id: String,
    kind: String,
    task: String,
    created: Instant,
    created_at: String,
    fate: Fate,
}

/// The JSON view of an agent.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AgentView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub task: String,
    pub status: Status,
    pub created_at: String,
}

/// Why an agent could not be created.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum CreateError {
    #[error("agent capacity reached ({0} live agents)")]
    Full(usize),
}

#[derive(Debug)]
struct Inner {
    by_id: HashMap<String, Agent>,
    /// Creation order (seq → id), for "newest first" listing and oldest-first pruning.
    order: BTreeMap<u64, String>,
    last_prune: Instant,
}

/// All agents of one simulator.
#[derive(Debug)]
pub(crate) struct AgentStore {
    inner: Mutex<Inner>,
    next_seq: AtomicU64,
    created: AtomicU64,
    deleted: AtomicU64,
    spawning_for: Duration,
    running_for: Duration,
    retention: Duration,
    cap: usize,
}

impl AgentStore {
    pub(crate) fn new(
        spawning_for: Duration,
        running_for: Duration,
        retention: Duration,
        cap: usize,
    ) -> Self {
        Self {
            inner: Mutex::new(Inner {
                by_id: HashMap::new(),
                order: BTreeMap::new(),
                last_prune: Instant::now(),
            }),
            next_seq: AtomicU64::new(1),
            created: AtomicU64::new(0),
            deleted: AtomicU64::new(0),
            spawning_for,
            running_for,
            retention,
            cap,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map half-updated in a way that matters
        // to a simulator, so a poisoned lock is simply taken over.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates an agent; the id is unique ("agt_" + sequence + random suffix).
    pub(crate) fn create(
        &self,
        kind: String,
        task: String,
        fate: Fate,
    ) -> Result<AgentView, CreateError> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let id = format!("agt_{seq}_{}", random_suffix());
        let now = Instant::now();
        let agent = Agent {
            seq,
            id: id.clone(),
            kind,
            task,
            created: now,
            created_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            fate,
        };
        let view = self.view(&agent, now);
        let mut inner = self.lock();
        if now.duration_since(inner.last_prune) >= PRUNE_EVERY || inner.by_id.len() >= self.cap {
            self.prune(&mut inner, now);
        }
        if inner.by_id.len() >= self.cap {
            return Err(CreateError::Full(inner.by_id.len()));
        }
        inner.order.insert(seq, id.clone());
        inner.by_id.insert(id, agent);
        drop(inner);
        self.created.fetch_add(1, Ordering::Relaxed);
        Ok(view)
    }

    /// Drops finished agents older than the retention, oldest first. Stuck agents never finish
    /// and stay until deleted (the cap still bounds them).
    fn prune(&self, inner: &mut Inner, now: Instant) {
        inner.last_prune = now;
        let lifetime = self.spawning_for + self.running_for + self.retention;
        let mut expired = Vec::new();
        for (seq, id) in &inner.order {
            let Some(agent) = inner.by_id.get(id) else {
                expired.push(*seq);
                continue;
            };
            if now.duration_since(agent.created) < lifetime {
                break; // every later agent is younger
            }
            if agent.fate != Fate::Stuck {
                expired.push(*seq);
            }
        }
        for seq in expired {
            if let Some(id) = inner.order.remove(&seq) {
                inner.by_id.remove(&id);
            }
        }
    }

    /// The agent with this id, with its current status.
    pub(crate) fn get(&self, id: &str) -> Option<AgentView> {
        let now = Instant::now();
        let inner = self.lock();
        inner.by_id.get(id).map(|a| self.view(a, now))
    }

    /// Up to `limit` agents, newest first.
    pub(crate) fn list(&self, limit: usize) -> Vec<AgentView> {
        let now = Instant::now();
        let inner = self.lock();
        inner
            .order
            .values()
            .rev()
            .filter_map(|id| inner.by_id.get(id))
            .take(limit)
            .map(|a| self.view(a, now))
            .collect()
    }

    /// Removes an agent; false when the id is unknown.
    pub(crate) fn delete(&self, id: &str) -> bool {
        let mut inner = self.lock();
        let Some(agent) = inner.by_id.remove(id) else {
            return false;
        };
        inner.order.remove(&agent.seq);
        drop(inner);
        self.deleted.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// (created, deleted, live) counts.
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        let live = self.lock().by_id.len() as u64;
        (
            self.created.load(Ordering::Relaxed),
            self.deleted.load(Ordering::Relaxed),
            live,
        )
    }

    fn status(&self, agent: &Agent, now: Instant) -> Status {
        let age = now.duration_since(agent.created);
        if age < self.spawning_for {
            Status::Spawning
        } else if agent.fate == Fate::Stuck || age < self.spawning_for + self.running_for {
            Status::Running
        } else if agent.fate == Fate::Fail {
            Status::Failed
        } else {
            Status::Completed
        }
    }

    fn view(&self, agent: &Agent, now: Instant) -> AgentView {
        AgentView {
            id: agent.id.clone(),
            kind: agent.kind.clone(),
            task: agent.task.clone(),
            status: self.status(agent, now),
            created_at: agent.created_at.clone(),
        }
    }
}

fn random_suffix() -> String {
    (0..6)
        .map(|_| fastrand::alphanumeric().to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn store(cap: usize) -> AgentStore {
        AgentStore::new(
            Duration::from_millis(100),
            Duration::from_millis(100),
            Duration::from_millis(100),
            cap,
        )
    }

    fn make(s: &AgentStore, fate: Fate) -> AgentView {
        s.create("test".into(), "t".into(), fate).unwrap()
    }

    #[test]
    fn status_follows_age_and_fate() {
        let s = store(10);
        let ok = make(&s, Fate::Complete);
        let bad = make(&s, Fate::Fail);
        let stuck = make(&s, Fate::Stuck);
        let inner = s.lock();
        let agent = |id: &str| inner.by_id.get(id).unwrap();
        let t0 = agent(&ok.id).created;
        let ms = Duration::from_millis;
        assert_eq!(s.status(agent(&ok.id), t0), Status::Spawning);
        assert_eq!(s.status(agent(&ok.id), t0 + ms(150)), Status::Running);
        assert_eq!(s.status(agent(&ok.id), t0 + ms(250)), Status::Completed);
        let t1 = agent(&bad.id).created;
        assert_eq!(s.status(agent(&bad.id), t1 + ms(250)), Status::Failed);
        let t2 = agent(&stuck.id).created;
        assert_eq!(s.status(agent(&stuck.id), t2 + ms(150)), Status::Running);
        assert_eq!(
            s.status(agent(&stuck.id), t2 + ms(1_000_000)),
            Status::Running
        );
    }

    #[test]
    fn cap_refuses_and_delete_frees() {
        let s = store(2);
        let a = make(&s, Fate::Stuck);
        make(&s, Fate::Stuck);
        assert_eq!(
            s.create("test".into(), "t".into(), Fate::Complete)
                .unwrap_err(),
            CreateError::Full(2)
        );
        assert!(s.delete(&a.id));
        assert!(!s.delete(&a.id));
        make(&s, Fate::Complete);
        assert_eq!(s.counts(), (3, 1, 2));
    }

    #[test]
    fn prune_drops_old_finished_but_keeps_stuck_and_young() {
        let s = store(100);
        let done = make(&s, Fate::Complete);
        let failed = make(&s, Fate::Fail);
        let stuck = make(&s, Fate::Stuck);
        let young = make(&s, Fate::Complete);
        let later = {
            let inner = s.lock();
            inner.by_id.get(&stuck.id).unwrap().created + Duration::from_millis(301)
        };
        {
            let mut inner = s.lock();
            // make `young` younger than the lifetime at `later`
            inner.by_id.get_mut(&young.id).unwrap().created = later;
            s.prune(&mut inner, later);
        }
        assert!(s.get(&done.id).is_none());
        assert!(s.get(&failed.id).is_none());
        assert!(s.get(&stuck.id).is_some());
        assert!(s.get(&young.id).is_some());
        assert_eq!(s.counts().2, 2);
    }

    #[test]
    fn list_is_newest_first_and_capped() {
        let s = store(100);
        let ids: Vec<String> = (0..5).map(|_| make(&s, Fate::Complete).id).collect();
        let listed: Vec<String> = s.list(3).into_iter().map(|a| a.id).collect();
        assert_eq!(listed, vec![ids[4].clone(), ids[3].clone(), ids[2].clone()]);
    }

    #[test]
    fn ids_are_unique() {
        let s = store(10_000);
        let mut ids: Vec<String> = (0..5000).map(|_| make(&s, Fate::Complete).id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 5000);
        assert!(ids.iter().all(|id| id.starts_with("agt_")));
    }
}
