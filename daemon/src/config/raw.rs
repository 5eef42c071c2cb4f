//! The configuration file as written: serde types with `deny_unknown_fields`. Doc comments on
//! fields are the configuration reference. Nothing here is trusted until `validate` has run.

use std::path::PathBuf;
use std::time::Duration;

use prober_probes::ProbeSpec;
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The service under test.
    pub target: RawTarget,
    /// Defaults for every probe.
    #[serde(default)]
    pub defaults: RawDefaults,
    /// The daemon (`prober run`): where it listens and how it schedules.
    #[serde(default)]
    pub daemon: RawDaemon,
    /// Resource NFRs (NFR5 memory, NFR6 CPU): of the host or container, or of Godel's pods.
    #[serde(default)]
    pub resources: crate::resources::RawResources,
    /// The rollout guard: watch Godel's Deployments, judge rollouts, roll back with Helm.
    #[serde(default)]
    pub guard: Option<crate::guard::config::RawGuard>,
    /// The probes, `[[probe]]` tables; parsed by [`RawProbe::parse`] so that errors inside a
    /// probe keep their full key path.
    #[serde(default, rename = "probe")]
    pub probes: Vec<figment::value::Value>,
}

/// `[target]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Base URL (http or https); probe paths are appended to it.
    pub base_url: String,
    /// How requests with `auth = true` authenticate.
    #[serde(default)]
    pub auth: Option<RawAuth>,
    /// Client limits for every HTTP request (probes may override them).
    #[serde(default)]
    pub client: RawClient,
}

/// `[target.auth]`. Keys come from an environment variable or a file, never from the config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// Header name (default `X-API-Key`).
    #[serde(default = "default_auth_header")]
    pub header: String,
    /// Header value template; `${key}` is the key (default `${key}`; e.g. `ApiKey ${key}`).
    #[serde(default = "default_auth_value")]
    pub value: String,
    /// Environment variable holding the key.
    #[serde(default)]
    pub key_env: Option<String>,
    /// File holding the key (a mounted Kubernetes Secret); re-read on every load.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Environment variable holding a valid key without admin rights (auth probes).
    #[serde(default)]
    pub non_admin_key_env: Option<String>,
    /// File holding a valid key without admin rights.
    #[serde(default)]
    pub non_admin_key_file: Option<PathBuf>,
}

fn default_auth_header() -> String {
    "X-API-Key".into()
}
fn default_auth_value() -> String {
    "${key}".into()
}

/// `[target.client]`: limits that bound every request whatever the target does.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    /// Bound on a whole request: connect, TLS, headers, body (default 10s).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Bound on connecting (default 3s).
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    /// Most body bytes read, after decompression (default 1048576).
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// Most redirect hops followed (default 5; 0 returns the 3xx).
    #[serde(default)]
    pub max_redirects: Option<usize>,
    /// Follow redirects to another host (default false).
    #[serde(default)]
    pub cross_host_redirects: Option<bool>,
    /// Extra CA certificates (PEM) trusted besides the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Skip TLS certificate verification (throwaway test targets only; default false).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// `[defaults]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// Interval between runs of a probe (default 30s).
    #[serde(default = "default_every", with = "humantime_serde")]
    pub every: Duration,
    /// Deadline of one run (default 10s).
    #[serde(default = "default_deadline", with = "humantime_serde")]
    pub deadline: Duration,
}

impl Default for RawDefaults {
    fn default() -> Self {
        RawDefaults {
            every: default_every(),
            deadline: default_deadline(),
        }
    }
}

fn default_every() -> Duration {
    Duration::from_secs(30)
}
fn default_deadline() -> Duration {
    Duration::from_secs(10)
}

/// `[daemon]`: settings of `prober run` (ignored by `prober check`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    /// Address of the HTTP server (`/metrics`, `/healthz`, `/readyz`, `/api/v1/status`, `/`,
    /// `POST /-/reload`). Default `0.0.0.0:17373`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Most probe runs in flight at once, across all probes (default 4). Runs wait for a slot;
    /// a run's deadline starts when it gets one.
    #[serde(default = "default_max_concurrent_runs")]
    pub max_concurrent_runs: usize,
    /// Random delay added to each interval run, as a share of the interval (default 0.1).
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// First runs after start are spread at random over this long, or the probe's interval if
    /// shorter (default 10s).
    #[serde(default = "default_startup_stagger", with = "humantime_serde")]
    pub startup_stagger: Duration,
    /// On SIGTERM/SIGINT, in-flight runs are cancelled (cleanups still run) and the process
    /// exits within this long (default 10s).
    #[serde(default = "default_shutdown_timeout", with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

impl Default for RawDaemon {
    fn default() -> Self {
        RawDaemon {
            listen: default_listen(),
            max_concurrent_runs: default_max_concurrent_runs(),
            jitter: default_jitter(),
            startup_stagger: default_startup_stagger(),
            shutdown_timeout: default_shutdown_timeout(),
        }
    }
}

fn default_listen() -> String {
    "0.0.0.0:17373".into()
}
fn default_max_concurrent_runs() -> usize {
    4
}
fn default_jitter() -> f64 {
    0.1
}
fn default_startup_stagger() -> Duration {
    Duration::from_secs(10)
}
fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(10)
}

/// One `[[probe]]`: common keys, then the kind's own keys beside them.
#[derive(Debug, Clone, PartialEq)]
pub struct RawProbe {
    /// Unique name: the `probe` label. Letters, digits, `-` and `_`.
    pub name: String,
    /// Interval between runs (default `defaults.every`).
    pub every: Option<Duration>,
    /// Deadline of one run (default `defaults.deadline`).
    pub deadline: Option<Duration>,
    /// A cron expression (5 fields, UTC, e.g. `0 3 * * *`) instead of `every`, for heavy
    /// probes such as a nightly load run.
    pub schedule: Option<String>,
    /// `kind` and the kind's keys. Unknown keys are rejected by the kind's own spec.
    pub spec: ProbeSpec,
}

/// The keys every probe has besides its kind's own.
const COMMON_KEYS: [&str; 5] = ["name", "every", "schedule", "deadline", "kind"];

impl RawProbe {
    /// Parse one `[[probe]]` table: the common keys, then the rest by its `kind`. Errors carry
    /// key paths relative to the table (`concurrency`, `request.path`).
    pub fn parse(value: &figment::value::Value) -> Result<RawProbe, Vec<(String, String)>> {
        use figment::value::Value;
        let Value::Dict(tag, dict) = value else {
            return Err(vec![(String::new(), "expected a table".into())]);
        };
        let mut errors = Vec::new();
        let text = |key: &str, errors: &mut Vec<(String, String)>| -> Option<String> {
            match dict.get(key) {
                None => None,
                Some(v) => match v.deserialize::<String>() {
                    Ok(s) => Some(s),
                    Err(e) => {
                        errors.push((key.to_string(), e.kind.to_string()));
                        None
                    }
                },
            }
        };
        let duration = |key: &str, errors: &mut Vec<(String, String)>| -> Option<Duration> {
            let s = text(key, errors)?;
            humantime::parse_duration(&s)
                .map_err(|e| errors.push((key.to_string(), format!("invalid duration {s:?}: {e}"))))
                .ok()
        };
        let name = text("name", &mut errors);
        if name.is_none() && !dict.contains_key("name") {
            errors.push(("name".into(), "missing: every probe needs a name".into()));
        }
        let every = duration("every", &mut errors);
        let deadline = duration("deadline", &mut errors);
        let schedule = text("schedule", &mut errors);
        let kind = text("kind", &mut errors);
        if kind.is_none() && !dict.contains_key("kind") {
            errors.push((
                "kind".into(),
                format!("missing: one of {}", ProbeSpec::KINDS.join(", ")),
            ));
        }
        let rest: figment::value::Dict = dict
            .iter()
            .filter(|(k, _)| !COMMON_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let spec = kind.and_then(|kind| {
            ProbeSpec::deserialize_kind(&kind, &Value::Dict(*tag, rest))
                .map_err(|e| {
                    for e in e {
                        let path = e.path.join(".");
                        let key = if path.is_empty() && e.kind.to_string().contains("variant") {
                            "kind".to_string()
                        } else {
                            path
                        };
                        errors.push((key, unknown_field_hint(e.kind.to_string())));
                    }
                })
                .ok()
        });
        match (name, spec) {
            (Some(name), Some(spec)) if errors.is_empty() => Ok(RawProbe {
                name,
                every,
                deadline,
                schedule,
                spec,
            }),
            _ => Err(errors),
        }
    }
}

/// serde lists a kind's own keys for an unknown field; the common keys are valid too.
fn unknown_field_hint(message: String) -> String {
    if message.starts_with("unknown field") {
        format!(
            "{message} (or one of the common keys {})",
            COMMON_KEYS.join(", ")
        )
    } else {
        message
    }
}
