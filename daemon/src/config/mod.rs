//! Configuration: the raw file types (`raw`), loading with figment layers (`load`) and
//! validation into a [`Config`] whose probes are built and ready to run (`validate`).

mod load;
mod raw;
mod validate;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prober_probes::{AnyProbe, ProbeSpec, SpecError, Target};

use crate::resources::ResourcesConfig;
use crate::schedule::cron::Cron;

pub use load::{ConfigSource, Overrides, load};

/// The built-in default configuration (probes the default Godel profile).
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// A validated configuration: every probe is built and can run.
#[derive(Debug)]
pub struct Config {
    /// Where it came from (a file path, or `built-in default`), for messages.
    pub source: String,
    /// The target.
    pub target: Target,
    /// The probes, in file order.
    pub probes: Vec<ProbeDef>,
    /// Settings of the daemon.
    pub daemon: DaemonSettings,
    /// Resource NFRs to measure (None when disabled).
    pub resources: Option<ResourcesConfig>,
    /// The rollout guard (None when not configured).
    pub guard: Option<crate::guard::config::GuardConfig>,
}

/// `[daemon]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSettings {
    /// HTTP server address.
    pub listen: SocketAddr,
    /// Most runs in flight at once (at least 1).
    pub max_concurrent_runs: usize,
    /// Share of an interval added at random to each run, in [0, 1).
    pub jitter: f64,
    /// First runs are spread over this long (capped by each probe's interval).
    pub startup_stagger: Duration,
    /// Bound on a graceful shutdown.
    pub shutdown_timeout: Duration,
}

/// One configured probe.
#[derive(Debug, Clone)]
pub struct ProbeDef {
    /// Unique name (the `probe` label).
    pub name: String,
    /// When it runs.
    pub schedule: Schedule,
    /// Deadline of one run.
    pub deadline: Duration,
    /// The definition it was built from (reload keeps probes whose definition is unchanged).
    pub spec: ProbeSpec,
    /// The runnable probe.
    pub probe: Arc<AnyProbe>,
}

/// When a probe runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Every interval, with jitter.
    Every(Duration),
    /// At the times of a cron expression (UTC).
    Cron(Arc<Cron>),
}

impl Schedule {
    /// Whether runs follow a cron expression (rather than an interval).
    pub fn is_cron(&self) -> bool {
        matches!(self, Schedule::Cron(_))
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Every(d) => write!(f, "every {}", humantime::format_duration(*d)),
            Schedule::Cron(c) => write!(f, "cron {c}"),
        }
    }
}

impl ProbeDef {
    /// The schedule as people read it: `every 10s`, `cron 0 3 * * *`.
    pub fn schedule_text(&self) -> String {
        self.schedule.to_string()
    }

    /// Whether `other` is the same probe: same name, schedule, deadline and definition. Such a
    /// probe keeps its history across a reload.
    pub fn same_as(&self, other: &ProbeDef) -> bool {
        self.name == other.name
            && self.schedule == other.schedule
            && self.deadline == other.deadline
            && self.spec == other.spec
    }
}

/// Why a configuration could not be used. Every message names the file and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file has an extension we cannot parse.
    #[error("{file}: unknown format, expected a .toml, .yaml or .yml file")]
    Format {
        /// The file.
        file: String,
    },
    /// Parse or validation problems, all of them.
    #[error("{}", format_problems(file, problems))]
    Invalid {
        /// The file (or `built-in default`).
        file: String,
        /// Each problem with its key path.
        problems: Vec<SpecError>,
    },
}

impl Config {
    /// Replace every configured secret in `text` with `***`: a hostile target could echo a key
    /// into a value a message quotes, and no report may carry it.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Some(auth) = &self.target.auth {
            for key in std::iter::once(&auth.key).chain(auth.non_admin_key.as_ref()) {
                if !key.is_empty() {
                    out = out.replace(key.expose(), "***");
                }
            }
        }
        out
    }
}

fn format_problems(file: &str, problems: &[SpecError]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("{file}: {p}")).collect();
    lines.join("\n")
}
