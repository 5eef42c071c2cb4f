//! `prober demo`: the simulator and the daemon together on loopback with the built-in
//! configuration; no setup. Prints where to look and how to break things.

use prober_probes::secret::Secret;
use prober_sim::{DEFAULT_ADMIN_KEY, DEFAULT_USER_KEY, SimConfig, SimHandle};

use crate::Failure;
use crate::cli::DemoArgs;
use crate::config::Overrides;
use crate::run_cmd::{self, Loader};

/// `prober demo`.
pub async fn run(args: &DemoArgs) -> Result<i32, Failure> {
    let sim = SimHandle::start(args.sim_listen, SimConfig::default())
        .await
        .map_err(|e| {
            Failure::failed(format!(
                "cannot start the simulator on {}: {e} (choose another address with --sim-listen)",
                args.sim_listen
            ))
        })?;
    let loader = Loader {
        path: None,
        overrides: Overrides {
            base_url: Some(sim.base_url()),
            api_key: Some(Secret::new(DEFAULT_ADMIN_KEY)),
            non_admin_key: Some(Secret::new(DEFAULT_USER_KEY)),
        },
    };
    let config = loader.load().map_err(|e| Failure::usage(e.to_string()))?;
    let listener = run_cmd::bind(args.listen).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::failed(format!("cannot read the listening address: {e}")))?;
    let sim_url = sim.base_url();
    let sim_url = sim_url.trim_end_matches('/');
    println!(
        "\
godel-prober demo: the built-in probes against the embedded Godel simulator.

  status page       http://{addr}/
  metrics           http://{addr}/metrics
  status JSON       http://{addr}/api/v1/status
  simulator         {sim_url}/api/health
  simulator faults  {sim_url}/__sim/faults   (GET, POST a fault set, DELETE to heal)

Break something (the simulator's built-in dev admin key):
  curl -X POST -H 'X-API-Key: {DEFAULT_ADMIN_KEY}' -d '{{\"latency\":\"300ms\"}}' {sim_url}/__sim/faults
  curl -X POST -H 'X-API-Key: {DEFAULT_ADMIN_KEY}' -d '{{\"auth_bypass\":true}}' {sim_url}/__sim/faults
  curl -X DELETE -H 'X-API-Key: {DEFAULT_ADMIN_KEY}' {sim_url}/__sim/faults
Other faults: error_rate, unhealthy, unready, stuck_agents, failing_agents, hang_rate,
rate_limit, body_bytes (see `prober sim --help`). Ctrl-C stops both.
"
    );
    let result = run_cmd::serve(config, loader, listener).await;
    sim.shutdown().await;
    result
}
