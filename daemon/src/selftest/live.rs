//! Live checks: the embedded simulator on an ephemeral loopback port, every configured probe
//! once against it (all must pass), then each fault injected in turn (latency, errors, auth
//! bypass, stuck agents, not ready) with the matching probes run again: each must fail with
//! the right reason. The judge gets the latency runs' samples and must pass the healthy run and
//! fail the breach. Probes run through `check`'s functions, exactly as `prober check` runs them.

use std::path::Path;
use std::time::Duration;

use prober_probes::{FailureReason, Kind, Verdict};
use prober_sim::{Faults, SimConfig, SimHandle};
use tokio::time::Instant;

use super::Item;
use crate::check;
use crate::config::{Config, ProbeDef};
use crate::guard::judge::{self, Gate, Measurement};
use crate::report::ProbeResult;

const GROUP: &str = "live";
/// Deadline for the transaction while agents are stuck: long enough for a healthy spawn to
/// start polling, short enough not to wait the configured 45 s.
const STUCK_DEADLINE: Duration = Duration::from_secs(3);
/// NFR3 when the config has no `[guard]`: P99 under 200 ms.
const DEFAULT_QUANTILE: f64 = 0.99;
const DEFAULT_LATENCY_LIMIT: Duration = Duration::from_millis(200);

/// One fault scenario: what to inject, which probes must fail, and with which reason.
struct Scenario {
    name: &'static str,
    faults: Faults,
    kind: Kind,
    /// Only probes whose name contains this (e.g. `ready`), if set.
    name_contains: Option<&'static str>,
    reason: FailureReason,
    /// `true`: every matching probe must fail so; `false`: at least one must.
    all: bool,
    deadline: Option<Duration>,
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "latency 300ms",
            faults: Faults {
                latency: Some(Duration::from_millis(300)),
                ..Faults::default()
            },
            kind: Kind::Latency,
            name_contains: None,
            reason: FailureReason::Latency,
            all: true,
            deadline: None,
        },
        Scenario {
            name: "error_rate 1.0",
            faults: Faults {
                error_rate: 1.0,
                ..Faults::default()
            },
            kind: Kind::Http,
            name_contains: None,
            reason: FailureReason::Status,
            all: false,
            deadline: None,
        },
        Scenario {
            name: "auth_bypass",
            faults: Faults {
                auth_bypass: true,
                ..Faults::default()
            },
            kind: Kind::Auth,
            name_contains: None,
            reason: FailureReason::AuthNotEnforced,
            all: true,
            deadline: None,
        },
        Scenario {
            name: "stuck_agents",
            faults: Faults {
                stuck_agents: true,
                ..Faults::default()
            },
            kind: Kind::Transaction,
            name_contains: None,
            reason: FailureReason::Deadline,
            all: true,
            deadline: Some(STUCK_DEADLINE),
        },
        Scenario {
            name: "unready",
            faults: Faults {
                unready: true,
                ..Faults::default()
            },
            kind: Kind::Http,
            name_contains: Some("ready"),
            reason: FailureReason::Status,
            all: true,
            deadline: None,
        },
    ]
}

/// Run the live checks with the config at `path` (or the built-in one).
pub async fn check(path: Option<&Path>) -> Vec<Item> {
    let started = Instant::now();
    let sim = match SimHandle::start(([127, 0, 0, 1], 0).into(), SimConfig::default()).await {
        Ok(s) => s,
        Err(e) => {
            return vec![Item::verdict(
                GROUP,
                "live: simulator",
                false,
                format!("cannot start the simulator on 127.0.0.1:0: {e}"),
            )];
        }
    };
    let mut items = vec![timed(
        Item::verdict(
            GROUP,
            "live: simulator",
            true,
            format!("listening on {}", sim.base_url()),
        ),
        started,
    )];
    match super::load_config(path, Some(sim.base_url())) {
        Ok(config) => run_all(&config, &sim, &mut items).await,
        Err(e) => items.push(Item::verdict(
            GROUP,
            "live: config",
            false,
            format!("invalid with the simulator's URL and keys: {e}"),
        )),
    }
    sim.shutdown().await;
    items
}

async fn run_all(config: &Config, sim: &SimHandle, items: &mut Vec<Item>) {
    // Healthy: every probe passes.
    let all: Vec<&ProbeDef> = config.probes.iter().collect();
    let mut healthy_latency = Vec::new();
    for def in &all {
        let r = check::run_probe(config, def, def.deadline).await;
        let ok = r.outcome.verdict == Verdict::Success;
        if r.kind == Kind::Latency {
            healthy_latency.extend(r.outcome.samples.iter().copied());
        }
        items.push(Item {
            duration: r.outcome.duration,
            ..Item::verdict(
                GROUP,
                format!("live: probe {} ({})", r.name, r.kind.as_label()),
                ok,
                describe(&r),
            )
        });
    }

    let mut breach_latency = Vec::new();
    for s in scenarios() {
        let started = Instant::now();
        let name = format!(
            "live: fault {} → {} fails {}",
            s.name,
            s.kind.as_label(),
            s.reason.as_label()
        );
        let targets: Vec<&ProbeDef> = all
            .iter()
            .copied()
            .filter(|d| d.probe.kind() == s.kind)
            .filter(|d| s.name_contains.is_none_or(|n| d.name.contains(n)))
            .collect();
        if targets.is_empty() {
            items.push(Item::skip(
                GROUP,
                name,
                format!(
                    "no {} probe{} in {}",
                    s.kind.as_label(),
                    s.name_contains
                        .map(|n| format!(" named *{n}*"))
                        .unwrap_or_default(),
                    config.source
                ),
            ));
            continue;
        }
        sim.set_faults(s.faults.clone());
        let mut results = Vec::new();
        for def in &targets {
            results.push(check::run_probe(config, def, s.deadline.unwrap_or(def.deadline)).await);
        }
        sim.set_faults(Faults::default());
        if s.kind == Kind::Latency {
            breach_latency.extend(
                results
                    .iter()
                    .flat_map(|r| r.outcome.samples.iter().copied()),
            );
        }
        let right = |r: &ProbeResult| r.outcome.verdict == Verdict::Failure(s.reason);
        let ok = if s.all {
            results.iter().all(right)
        } else {
            results.iter().any(right)
        };
        let message = results
            .iter()
            .map(|r| format!("{}: {}", r.name, describe(r)))
            .collect::<Vec<_>>()
            .join("; ");
        let message = if ok {
            message
        } else {
            format!(
                "expected {} {} probe(s) to fail with reason {}, got {message}",
                if s.all { "every" } else { "a" },
                s.kind.as_label(),
                s.reason.as_label()
            )
        };
        items.push(timed(Item::verdict(GROUP, name, ok, message), started));
    }

    items.push(judge_check(config, &healthy_latency, &breach_latency));
}

/// The judge on the latency runs: the healthy samples pass NFR3, the 300 ms ones fail it.
fn judge_check(config: &Config, healthy: &[Duration], breach: &[Duration]) -> Item {
    let name = "live: judge NFR3 on the latency runs";
    if healthy.is_empty() || breach.is_empty() {
        return Item::skip(
            GROUP,
            name,
            "no latency samples (no latency probe configured)",
        );
    }
    let (q, limit) = config
        .guard
        .as_ref()
        .map_or((DEFAULT_QUANTILE, DEFAULT_LATENCY_LIMIT), |g| {
            (g.gates.latency_quantile, g.gates.latency_under)
        });
    let verdict = |samples: &[Duration]| {
        let m = latency_measurement(samples, q, limit);
        judge::analyse(&[m], true).verdict
    };
    let (h, b) = (verdict(healthy), verdict(breach));
    let ok = h == judge::Verdict::Pass && matches!(b, judge::Verdict::Fail { .. });
    Item::verdict(
        GROUP,
        name,
        ok,
        format!(
            "P{} under {}: healthy run ({} samples) → {} (expected pass), 300 ms run ({} samples) → {} (expected fail)",
            q * 100.0,
            humantime::format_duration(limit),
            healthy.len(),
            h.as_label(),
            breach.len(),
            b.as_label()
        ),
    )
}

fn latency_measurement(samples: &[Duration], q: f64, limit: Duration) -> Measurement {
    let mut sorted: Vec<Duration> = samples.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    let over = sorted.iter().filter(|d| **d > limit).count() as u64;
    Measurement {
        gate: Gate::Latency,
        value: sorted.get(rank).map(Duration::as_secs_f64),
        threshold: limit.as_secs_f64(),
        samples: sorted.len() as u64,
        min_samples: 1,
        baseline: None,
        exceedances: Some((over, 1.0 - q)),
    }
}

fn describe(r: &ProbeResult) -> String {
    let o = &r.outcome;
    let head = match o.verdict {
        Verdict::Success => "pass".to_string(),
        Verdict::Failure(reason) => format!("fail ({})", reason.as_label()),
        Verdict::Inconclusive => "inconclusive".to_string(),
    };
    if o.message.is_empty() {
        head
    } else {
        format!("{head}: {}", o.message)
    }
}

fn timed(mut item: Item, started: Instant) -> Item {
    item.duration = started.elapsed();
    item
}
