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
    /// The probes, `[[probe]]` tables.
    #[serde(default, rename = "probe")]
    pub probes: Vec<RawProbe>,
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

/// One `[[probe]]`: common keys, then the kind's own keys beside them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RawProbe {
    /// Unique name: the `probe` label. Letters, digits, `-` and `_`.
    pub name: String,
    /// Interval between runs (default `defaults.every`).
    #[serde(default, with = "humantime_serde")]
    pub every: Option<Duration>,
    /// Deadline of one run (default `defaults.deadline`).
    #[serde(default, with = "humantime_serde")]
    pub deadline: Option<Duration>,
    /// `kind` and the kind's keys. Unknown keys are rejected by the kind's own spec.
    #[serde(flatten)]
    pub spec: ProbeSpec,
}
