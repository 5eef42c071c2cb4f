//! The command line (clap derive). Exit codes: 0 all good, 1 a probe or check failed, 2 a usage
//! or configuration error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// godel-prober: synthetic probes, CI gate and simulator for Godel.
#[derive(Debug, Parser)]
#[command(name = "prober", version, about)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon: run the probes continuously; serve metrics, status and health.
    Run(RunArgs),
    /// The simulator and the daemon together on loopback, with the built-in config; no setup.
    Demo(DemoArgs),
    /// Run every configured probe once and report; a CI/CD gate (exit 1 on any failure).
    Check(CheckArgs),
    /// Run the Godel simulator alone, with optional faults.
    Sim(SimArgs),
    /// Print or validate configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// What the daemon exports.
    #[command(subcommand)]
    Metrics(MetricsCommand),
    /// The rollout guard's analyses, as a running daemon sees them.
    #[command(subcommand)]
    Rollout(RolloutCommand),
    /// Check the shipped rules, dashboards, runbooks and config, then the probes against the
    /// embedded simulator with each fault injected; exit 1 on any failure.
    Selftest(SelftestArgs),
    /// The rules, dashboards and runbooks built into the binary.
    #[command(subcommand)]
    Assets(AssetsCommand),
}

/// `prober assets …`.
#[derive(Debug, Subcommand)]
pub enum AssetsCommand {
    /// Write every embedded file under DIR, preserving its relative path (`rules/…`,
    /// `runbooks/…`, `dashboards/…`); prints the paths written.
    Export {
        /// The directory (created if missing).
        dir: PathBuf,
    },
}

/// `prober selftest`.
#[derive(Debug, Args)]
pub struct SelftestArgs {
    /// Configuration file to check (and to probe the simulator with); default: the built-in
    /// configuration.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Check the `rules/`, `runbooks/` and `dashboards/` (and `charts/godel-prober/`) of this checkout
    /// instead of the copies built into the binary.
    #[arg(long, value_name = "DIR")]
    pub assets: Option<PathBuf>,
    /// Only the static checks: no simulator, no probes.
    #[arg(long)]
    pub static_only: bool,
    /// Report format.
    #[arg(long, value_enum, default_value_t = SelftestFormat::Text)]
    pub format: SelftestFormat,
    /// Write the report here instead of stdout (a summary line still goes to stdout).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `prober selftest` report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SelftestFormat {
    /// A table and a summary line.
    Text,
    /// JSON.
    Json,
    /// JUnit XML: one testcase per check.
    Junit,
}

/// `prober rollout …`.
#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// One release's current or last analysis; exit 1 when it failed. A deploy gate:
    /// `prober rollout status --release godel --namespace prod --wait 15m`.
    Status(RolloutStatusArgs),
}

/// `prober rollout status`.
#[derive(Debug, Args)]
pub struct RolloutStatusArgs {
    /// Helm release.
    #[arg(long)]
    pub release: String,
    /// Namespace.
    #[arg(long)]
    pub namespace: String,
    /// The daemon's HTTP address.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:17373")]
    pub url: String,
    /// Wait until the analysis ends (pass, fail or inconclusive), at most this long; an
    /// inconclusive end or the timeout exits 1.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub wait: Option<Duration>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

/// `prober run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file (TOML or YAML); default: the built-in configuration. Reloaded on
    /// SIGHUP and `POST /-/reload`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address of the HTTP server (overrides `daemon.listen`, default 0.0.0.0:17373).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

/// `prober demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address of the daemon's HTTP server.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:17373")]
    pub listen: SocketAddr,
    /// Address of the simulator.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7373")]
    pub sim_listen: SocketAddr,
}

/// `prober metrics …`.
#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Every metric the binary can export: name, type, labels and help.
    Catalog {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
}

/// `prober check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Base URL of the Godel API (overrides `target.base_url`).
    #[arg(long, value_name = "URL", conflicts_with = "sim")]
    pub target: Option<String>,
    /// Configuration file (TOML or YAML); default: the built-in configuration.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Only these probes (repeatable).
    #[arg(long = "probe", value_name = "NAME")]
    pub probes: Vec<String>,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// An inconclusive probe (too few samples) does not fail the check.
    #[arg(long)]
    pub allow_inconclusive: bool,
    /// Start the embedded simulator on a free loopback port and check it (no setup needed).
    #[arg(long)]
    pub sim: bool,
    /// Faults for the embedded simulator, as the control endpoint's JSON
    /// (e.g. '{"latency":"300ms"}').
    #[arg(long, value_name = "JSON", requires = "sim")]
    pub sim_faults: Option<String>,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A table.
    Text,
    /// JSON.
    Json,
}

/// `prober sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7373")]
    pub listen: SocketAddr,
    /// Admin API key (default dev-admin-key).
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Valid non-admin API key (default dev-user-key).
    #[arg(long, value_name = "KEY")]
    pub user_key: Option<String>,
    /// How long a new agent is `spawning`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    pub agent_spawning: Duration,
    /// How long an agent is then `running` before it completes.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub agent_running: Duration,
    /// Faults at start.
    #[command(flatten)]
    pub faults: FaultArgs,
}

/// Simulator fault flags (the same keys as `POST /__sim/faults`).
#[derive(Debug, Args)]
pub struct FaultArgs {
    /// Delay added to /api requests.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub latency: Option<Duration>,
    /// Random extra delay, 0..jitter.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub latency_jitter: Option<Duration>,
    /// Share of requests delayed (0..1).
    #[arg(long)]
    pub latency_fraction: Option<f64>,
    /// Share of requests answered 500 (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Health answers 503.
    #[arg(long)]
    pub unhealthy: bool,
    /// Readiness answers 503.
    #[arg(long)]
    pub unready: bool,
    /// Missing or wrong keys are accepted.
    #[arg(long)]
    pub auth_bypass: bool,
    /// Agents never complete.
    #[arg(long)]
    pub stuck_agents: bool,
    /// Agents end `failed`.
    #[arg(long)]
    pub failing_agents: bool,
    /// Share of requests that never answer (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub hang_rate: f64,
    /// Requests per second before 429s.
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Pad JSON responses with this many bytes.
    #[arg(long)]
    pub body_bytes: Option<u64>,
}

/// `prober config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the built-in default configuration (TOML).
    PrintDefault,
    /// Validate a configuration file; exit 2 with every problem if it is invalid.
    Check {
        /// The file.
        file: PathBuf,
    },
}
