//! An in-memory simulator of the Godel API (DESIGN.md §2) with runtime fault injection (§9).
//!
//! The simulator is the default target of `prober sim`, `prober demo`, `selftest` and the tests. It
//! implements exactly the default target contract, keeps everything in memory (bounded: old
//! finished agents are dropped, live agents are capped) and injects the faults of [`Faults`],
//! which can be changed at run time through [`SimHandle::set_faults`] or the admin-only control
//! endpoint `/__sim/faults`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use prober_sim::{Faults, SimConfig, SimHandle};
//! let sim = SimHandle::start("127.0.0.1:0".parse().unwrap(), SimConfig::default()).await?;
//! println!("simulator at {}", sim.base_url());
//! sim.set_faults(Faults { unhealthy: true, ..Faults::default() });
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! This file owns the public configuration and re-exports; the HTTP surface lives in `api`
//! (the contract), `inject` (fault application) and `control` (`/__sim/*`). Nothing here may
//! block or hold a lock across an `.await`.

mod agents;
mod api;
mod control;
mod faults;
mod handle;
mod inject;
mod reply;
mod state;
mod stats;

use std::time::Duration;

pub use faults::Faults;
pub use handle::SimHandle;
pub use stats::Stats;

/// Default admin API key of the simulator (full access, including `/api/admin` and `/__sim/*`).
pub const DEFAULT_ADMIN_KEY: &str = "dev-admin-key";
/// Default non-admin API key of the simulator (valid everywhere except admin routes).
pub const DEFAULT_USER_KEY: &str = "dev-user-key";
/// Finished (completed or failed) agents older than this are dropped, lazily, on insert.
pub const AGENT_RETENTION: Duration = Duration::from_secs(10 * 60);
/// At most this many agents are held; `POST /api/agents` answers 503 beyond it.
pub const MAX_LIVE_AGENTS: usize = 100_000;
/// `GET /api/agents` lists at most this many agents, newest first.
pub const MAX_LISTED_AGENTS: usize = 100;
/// Request bodies above this size are refused with 413.
pub const MAX_REQUEST_BODY_BYTES: usize = 64 * 1024;
/// Upper bound of `body_bytes` padding accepted by [`Faults::validate`].
pub const MAX_PADDING_BYTES: u64 = 16 * 1024 * 1024;

/// Simulator settings, fixed for the lifetime of a [`SimHandle`] (faults can change later).
/// `Debug` prints the keys as `***`.
#[derive(Clone)]
pub struct SimConfig {
    /// The admin API key (header `X-API-Key`); default [`DEFAULT_ADMIN_KEY`].
    pub admin_key: String,
    /// A valid API key that is not admin; default [`DEFAULT_USER_KEY`].
    pub user_key: String,
    /// How long a new agent reports `spawning`; default 500 ms.
    pub spawning_for: Duration,
    /// How long an agent then reports `running` before it finishes; default 1 s.
    pub running_for: Duration,
    /// The faults active at start.
    pub faults: Faults,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("admin_key", &"***")
            .field("user_key", &"***")
            .field("spawning_for", &self.spawning_for)
            .field("running_for", &self.running_for)
            .field("faults", &self.faults)
            .finish()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            admin_key: DEFAULT_ADMIN_KEY.to_owned(),
            user_key: DEFAULT_USER_KEY.to_owned(),
            spawning_for: Duration::from_millis(500),
            running_for: Duration::from_secs(1),
            faults: Faults::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_keys() {
        let config = SimConfig {
            admin_key: "s3cret-admin".into(),
            user_key: "s3cret-user".into(),
            ..SimConfig::default()
        };
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }
}
