//! `prober sim`: the Godel simulator alone, until interrupted.

use prober_sim::{DEFAULT_ADMIN_KEY, DEFAULT_USER_KEY, Faults, SimConfig, SimHandle};
use tracing::info;

use crate::cli::{FaultArgs, SimArgs};
use crate::{EXIT_OK, Failure};

impl FaultArgs {
    /// The fault set these flags describe.
    pub fn to_faults(&self) -> Faults {
        Faults {
            latency: self.latency,
            latency_jitter: self.latency_jitter,
            latency_fraction: self.latency_fraction,
            error_rate: self.error_rate,
            unhealthy: self.unhealthy,
            unready: self.unready,
            auth_bypass: self.auth_bypass,
            stuck_agents: self.stuck_agents,
            failing_agents: self.failing_agents,
            hang_rate: self.hang_rate,
            rate_limit: self.rate_limit,
            body_bytes: self.body_bytes,
        }
    }
}

/// Serve until SIGINT/SIGTERM; returns the exit code.
pub async fn run(args: &SimArgs) -> Result<i32, Failure> {
    let faults = args.faults.to_faults();
    faults.validate().map_err(Failure::usage)?;
    let config = SimConfig {
        admin_key: args
            .api_key
            .clone()
            .unwrap_or_else(|| DEFAULT_ADMIN_KEY.into()),
        user_key: args
            .user_key
            .clone()
            .unwrap_or_else(|| DEFAULT_USER_KEY.into()),
        spawning_for: args.agent_spawning,
        running_for: args.agent_running,
        faults,
    };
    let sim = SimHandle::start(args.listen, config)
        .await
        .map_err(|e| Failure::usage(format!("--listen {}: cannot listen: {e}", args.listen)))?;
    let url = sim.base_url();
    println!("Godel simulator on {url}");
    println!("  health:  curl {url}/api/health");
    println!(
        "  faults:  curl -X POST -H 'X-API-Key: <admin key>' -d '{{\"latency\":\"300ms\"}}' {url}/__sim/faults"
    );
    println!("  stats:   curl -H 'X-API-Key: <admin key>' {url}/__sim/stats");
    crate::shutdown_signal().await;
    info!("shutting down");
    sim.shutdown().await;
    Ok(EXIT_OK)
}
