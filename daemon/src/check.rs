//! `prober check`: every configured probe once, in order, then a report and an exit code.
//! Probes run one after another so a burst never skews a latency measurement.

use std::sync::Arc;

use anyhow::Context as _;
use prober_probes::secret::Secret;
use prober_probes::{RunContext, Verdict};
use prober_sim::{DEFAULT_ADMIN_KEY, DEFAULT_USER_KEY, Faults, SimConfig, SimHandle};
use tracing::{info, warn};

use crate::cli::{CheckArgs, ReportFormat};
use crate::config::{self, Config, ConfigSource, Overrides};
use crate::report::{self, ProbeResult};
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Failure};

/// Run the check; returns the exit code.
pub async fn run(args: &CheckArgs) -> Result<i32, Failure> {
    let sim = if args.sim {
        Some(start_sim(args).await?)
    } else {
        None
    };
    let overrides = Overrides {
        base_url: args
            .target
            .clone()
            .or_else(|| sim.as_ref().map(SimHandle::base_url)),
        api_key: sim.as_ref().map(|_| Secret::new(DEFAULT_ADMIN_KEY)),
        non_admin_key: sim.as_ref().map(|_| Secret::new(DEFAULT_USER_KEY)),
    };
    let source = match &args.config {
        Some(path) => ConfigSource::File(path),
        None => ConfigSource::Default,
    };
    let config = config::load(source, &overrides).map_err(|e| Failure::usage(e.to_string()))?;
    let selected = select(&config, &args.probes)?;
    let results = run_probes(&config, &selected).await;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    let target = config.target.base_url.to_string();
    match args.format {
        ReportFormat::Text => print!("{}", report::table(&target, &results)),
        ReportFormat::Json => println!("{:#}", report::json(&target, &results)),
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&results))
            .with_context(|| format!("cannot write JUnit report to {}", path.display()))
            .map_err(|e| Failure::failed(format!("{e:#}")))?;
    }
    let failed = results.iter().any(|r| match r.outcome.verdict {
        Verdict::Success => false,
        Verdict::Failure(_) => true,
        Verdict::Inconclusive => !args.allow_inconclusive,
    });
    Ok(if failed { EXIT_FAILED } else { EXIT_OK })
}

async fn start_sim(args: &CheckArgs) -> Result<SimHandle, Failure> {
    let faults: Faults = match &args.sim_faults {
        Some(json) => {
            serde_json::from_str(json).map_err(|e| Failure::usage(format!("--sim-faults: {e}")))?
        }
        None => Faults::default(),
    };
    faults
        .validate()
        .map_err(|e| Failure::usage(format!("--sim-faults: {e}")))?;
    let config = SimConfig {
        faults,
        ..SimConfig::default()
    };
    let addr = ([127, 0, 0, 1], 0).into();
    let sim = SimHandle::start(addr, config)
        .await
        .map_err(|e| Failure::failed(format!("cannot start the simulator: {e}")))?;
    info!(url = %sim.base_url(), "embedded simulator started");
    Ok(sim)
}

/// The probes to run: all, or those named (an unknown name is a usage error listing the known).
fn select<'c>(config: &'c Config, names: &[String]) -> Result<Vec<&'c config::ProbeDef>, Failure> {
    if names.is_empty() {
        return Ok(config.probes.iter().collect());
    }
    let known: Vec<&str> = config.probes.iter().map(|p| p.name.as_str()).collect();
    for n in names {
        if !known.contains(&n.as_str()) {
            return Err(Failure {
                code: EXIT_USAGE,
                message: format!(
                    "--probe {n}: no such probe in {} (known: {})",
                    config.source,
                    known.join(", ")
                ),
            });
        }
    }
    Ok(config
        .probes
        .iter()
        .filter(|p| names.contains(&p.name))
        .collect())
}

/// Run `probes` once each, one after another (as `prober check` does).
pub async fn run_probes(config: &Config, probes: &[&config::ProbeDef]) -> Vec<ProbeResult> {
    let mut results = Vec::new();
    for def in probes {
        results.push(run_probe(config, def, def.deadline).await);
    }
    results
}

/// Run one probe once with this deadline (its own, or a shorter one: `selftest` times out a
/// stuck transaction in seconds rather than the configured 45 s); the message and step names
/// are redacted.
pub async fn run_probe(
    config: &Config,
    def: &config::ProbeDef,
    deadline: std::time::Duration,
) -> ProbeResult {
    let cx = RunContext::new(deadline).one_shot();
    let probe = Arc::clone(&def.probe);
    let mut outcome = probe.run(&cx).await;
    outcome.message = config.redact(&outcome.message);
    for step in &mut outcome.steps {
        step.name = config.redact(&step.name);
    }
    match outcome.verdict.reason() {
        Some(reason) => {
            warn!(probe = %def.name, kind = probe.kind().as_label(), reason = reason.as_label(), detail = %outcome.message, "probe failed")
        }
        None => info!(probe = %def.name, result = outcome.verdict.as_label(), "probe done"),
    }
    ProbeResult {
        name: def.name.clone(),
        kind: probe.kind(),
        outcome,
    }
}
