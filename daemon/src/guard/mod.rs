//! The rollout guard (DESIGN §6): watch Godel's rollouts, judge the NFRs on the prober's own
//! probe traffic, and roll back with Helm on a sustained breach, once, safely, explainably.
//!
//! - `config`: `[guard]`, validated against the probes; the worst-case time to rollback.
//! - `judge`: pure: measurements of one analysis → a verdict per gate; the consecutive-failure
//!   policy over analyses.
//! - `rollback`: the rollback policy (once per revision, cooldown, cap, never a rollback of a
//!   rollback, opt-out, dry-run) and the Helm CLI runner.

pub mod config;
pub mod evidence;
pub mod judge;
pub mod report;
pub mod rollback;
pub mod runner;
