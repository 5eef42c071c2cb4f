//! The shared state of one simulator: keys, agents, the current faults, counters, the rate limiter
//! window and the shutdown token. Locks here are `std` locks held for a copy or an update only.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use axum::http::HeaderMap;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::agents::AgentStore;
use crate::stats::{RequestCounter, Stats};
use crate::{AGENT_RETENTION, Faults, MAX_LIVE_AGENTS, SimConfig};

/// The API key header of the Godel contract.
pub(crate) const API_KEY_HEADER: &str = "x-api-key";

/// Who a request's key identifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    /// No key or an unknown key.
    Anonymous,
    /// The non-admin key.
    User,
    /// The admin key.
    Admin,
}

/// Everything the handlers share. `Debug` leaves the keys out.
pub(crate) struct SimState {
    admin_key: String,
    user_key: String,
    pub(crate) agents: AgentStore,
    faults: RwLock<Arc<Faults>>,
    pub(crate) requests: RequestCounter,
    /// Fixed 1 s rate-limit window: (window index since start, requests admitted in it).
    window: Mutex<(u64, u32)>,
    pub(crate) started: Instant,
    /// Cancelled on shutdown: releases hung and delayed requests.
    pub(crate) shutdown: CancellationToken,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("faults", &self.faults)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl SimState {
    pub(crate) fn new(config: SimConfig, shutdown: CancellationToken) -> Self {
        Self {
            admin_key: config.admin_key,
            user_key: config.user_key,
            agents: AgentStore::new(
                config.spawning_for,
                config.running_for,
                AGENT_RETENTION,
                MAX_LIVE_AGENTS,
            ),
            faults: RwLock::new(Arc::new(config.faults)),
            requests: RequestCounter::default(),
            window: Mutex::new((0, 0)),
            started: Instant::now(),
            shutdown,
        }
    }

    /// The current fault set (a cheap shared copy).
    pub(crate) fn faults(&self) -> Arc<Faults> {
        self.faults
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the whole fault set.
    pub(crate) fn set_faults(&self, faults: Faults) {
        *self.faults.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(faults);
    }

    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> Stats {
        let (agents_created, agents_deleted, agents_live) = self.agents.counts();
        Stats {
            requests: self.requests.snapshot(),
            agents_created,
            agents_deleted,
            agents_live,
        }
    }

    /// Identifies the caller by the `X-API-Key` header (faults not considered).
    pub(crate) fn caller(&self, headers: &HeaderMap) -> Caller {
        match headers.get(API_KEY_HEADER).map(|v| v.as_bytes()) {
            Some(k) if !self.admin_key.is_empty() && k == self.admin_key.as_bytes() => {
                Caller::Admin
            }
            Some(k) if !self.user_key.is_empty() && k == self.user_key.as_bytes() => Caller::User,
            _ => Caller::Anonymous,
        }
    }

    /// Admits one request under a limit of `limit` per second (fixed window); false = 429.
    pub(crate) fn admit(&self, limit: u32) -> bool {
        let index = self.started.elapsed().as_secs();
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if window.0 != index {
            *window = (index, 0);
        }
        if window.1 >= limit {
            return false;
        }
        window.1 += 1;
        true
    }
}
