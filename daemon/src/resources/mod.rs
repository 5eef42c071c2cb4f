//! The resource probe (NFR5 memory, NFR6 CPU): the `[resources]` config section, its
//! validation, and [`ResourceSampler`], which measures used / limit for either Godel's pods
//! (metrics.k8s.io, `pods`) or the local container or host (`cgroup`, `host`, combined in
//! `local`). Owns measuring only: it never touches the metrics registry, never judges a
//! breach, and never schedules itself (the scheduler calls [`ResourceSampler::sample`]).

mod cgroup;
mod host;
mod local;
mod pods;
mod quantity;
mod selector;
pub mod task;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use local::Local;
use pods::PodsSampler;

/// `[resources]`: measure memory and CPU against their limits (NFR5, NFR6).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    /// Measure at all (default true).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Interval between measurements (default "15s"). CPU is the average over this interval.
    #[serde(default = "default_every", with = "humantime_serde")]
    pub every: Duration,
    /// NFR5 limit: memory used / limit, a ratio in (0, 1] (default 0.8).
    #[serde(default = "default_memory_threshold")]
    pub memory_threshold: f64,
    /// NFR6 limit: CPU used / limit, a ratio in (0, 1] (default 0.7).
    #[serde(default = "default_cpu_threshold")]
    pub cpu_threshold: f64,
    /// Godel's pods through metrics.k8s.io; absent = measure this process's container (its
    /// cgroup limits) or, where no limit is set, the host.
    #[serde(default)]
    pub pods: Option<RawPods>,
}

/// `[resources.pods]`: which pods are Godel's, and how to reach the Kubernetes API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPods {
    /// Namespace of Godel's pods.
    pub namespace: String,
    /// Label selector of Godel's pods, e.g. "app.kubernetes.io/name=godel".
    pub selector: String,
    /// Kubeconfig file (relative to the config file's directory); absent = kube's inference:
    /// $KUBECONFIG or ~/.kube/config if present, else the in-cluster service account.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
}

fn default_enabled() -> bool {
    true
}
fn default_every() -> Duration {
    Duration::from_secs(15)
}
fn default_memory_threshold() -> f64 {
    0.8
}
fn default_cpu_threshold() -> f64 {
    0.7
}

impl Default for RawResources {
    fn default() -> Self {
        RawResources {
            enabled: default_enabled(),
            every: default_every(),
            memory_threshold: default_memory_threshold(),
            cpu_threshold: default_cpu_threshold(),
            pods: None,
        }
    }
}

/// A validated `[resources]`: enabled, interval positive, thresholds in (0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcesConfig {
    every: Duration,
    memory_threshold: f64,
    cpu_threshold: f64,
    pods: Option<PodsConfig>,
}

impl ResourcesConfig {
    /// Interval between measurements.
    pub fn every(&self) -> Duration {
        self.every
    }

    /// The configured limit of `nfr`.
    pub fn threshold(&self, nfr: Nfr) -> f64 {
        match nfr {
            Nfr::Memory => self.memory_threshold,
            Nfr::Cpu => self.cpu_threshold,
        }
    }

    /// The pods scope, if configured (else the local container or host is measured).
    #[cfg(test)]
    pub fn pods(&self) -> Option<&PodsConfig> {
        self.pods.as_ref()
    }
}

/// A validated `[resources.pods]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PodsConfig {
    namespace: String,
    selector: String,
    kubeconfig: Option<PathBuf>,
}

impl PodsConfig {
    /// Namespace (a valid DNS label).
    #[cfg(test)]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Label selector (syntactically valid).
    #[cfg(test)]
    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// Kubeconfig file, resolved against the config file's directory.
    #[cfg(test)]
    pub fn kubeconfig(&self) -> Option<&Path> {
        self.kubeconfig.as_deref()
    }
}

/// Validate `raw`; report every problem as (key path relative to the file, message). Returns
/// `None` if disabled or invalid. A disabled section is still checked for mistakes, except
/// that its kubeconfig file need not exist.
pub fn validate(
    raw: &RawResources,
    base_dir: Option<&Path>,
    problem: &mut impl FnMut(&str, String),
) -> Option<ResourcesConfig> {
    let mut ok = true;
    let mut report = |key: &str, message: String| {
        ok = false;
        problem(key, message);
    };
    if raw.every.is_zero() {
        report("resources.every", "must be greater than zero".into());
    }
    for (key, v) in [
        ("resources.memory_threshold", raw.memory_threshold),
        ("resources.cpu_threshold", raw.cpu_threshold),
    ] {
        // Written so that NaN fails too.
        if !(v > 0.0 && v <= 1.0) {
            report(key, format!("expected a ratio in (0, 1], got {v}"));
        }
    }
    let pods = raw.pods.as_ref().map(|p| {
        if p.namespace.is_empty() {
            report("resources.pods.namespace", "must not be empty".into());
        } else if !is_dns_label(&p.namespace) {
            report(
                "resources.pods.namespace",
                format!(
                    "expected a namespace name (at most 63 lower-case letters, digits or '-', \
                     starting and ending with a letter or digit), got {:?}",
                    p.namespace
                ),
            );
        }
        if let Err(e) = selector::check_selector(&p.selector) {
            report("resources.pods.selector", e);
        }
        let kubeconfig = p.kubeconfig.as_ref().map(|path| match base_dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.clone(),
        });
        if let Some(path) = kubeconfig.as_ref().filter(|_| raw.enabled) {
            match std::fs::metadata(path) {
                Ok(m) if m.is_file() => {}
                Ok(_) => report(
                    "resources.pods.kubeconfig",
                    format!("{} is not a file", path.display()),
                ),
                Err(e) => report(
                    "resources.pods.kubeconfig",
                    format!("cannot read {}: {e}", path.display()),
                ),
            }
        }
        PodsConfig {
            namespace: p.namespace.clone(),
            selector: p.selector.trim().to_string(),
            kubeconfig,
        }
    });
    if !ok || !raw.enabled {
        return None;
    }
    Some(ResourcesConfig {
        every: raw.every,
        memory_threshold: raw.memory_threshold,
        cpu_threshold: raw.cpu_threshold,
        pods,
    })
}

/// RFC 1123 label, what Kubernetes requires of a namespace (and what keeps it from changing
/// the API path it is put into).
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Which NFR a reading is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nfr {
    /// NFR5: memory used / limit.
    Memory,
    /// NFR6: CPU used / limit.
    Cpu,
}

impl Nfr {
    /// "NFR5" or "NFR6" (the `nfr` label).
    pub fn id(self) -> &'static str {
        match self {
            Nfr::Memory => "NFR5",
            Nfr::Cpu => "NFR6",
        }
    }

    /// What is measured.
    pub fn description(self) -> &'static str {
        match self {
            Nfr::Memory => "memory used / limit",
            Nfr::Cpu => "CPU used / limit",
        }
    }
}

/// One measurement of one NFR.
#[derive(Debug, Clone, PartialEq)]
pub struct NfrReading {
    /// Which NFR.
    pub nfr: Nfr,
    /// The ratio used / limit (0..=1 normally; CPU may exceed 1 briefly over its limit), or
    /// why there is none (e.g. "pods have no memory limit", "metrics.k8s.io: 404 …"). Never a
    /// secret.
    pub value: Result<f64, String>,
    /// The configured limit for this NFR.
    pub threshold: f64,
    /// "host", "cgroup" or "pods <namespace>/<selector>" (then the value is the worst pod's).
    pub source: String,
}

/// Why a [`ResourceSampler`] could not be built: its Kubernetes client.
pub use crate::kube::client::ClientError as ResourceError;

/// Measures the configured scope; holds what it needs between samples (CPU counters, the
/// kube client).
pub struct ResourceSampler {
    scope: Scope,
    memory_threshold: f64,
    cpu_threshold: f64,
}

enum Scope {
    Local(Box<Local>),
    Pods(PodsSampler),
}

impl ResourceSampler {
    /// Build the sampler. Local scope: detect the cgroup and take the first CPU counters.
    /// Pods scope: create the kube client (no request is made yet; API problems show up as
    /// error readings).
    pub async fn new(cfg: &ResourcesConfig) -> Result<Self, ResourceError> {
        let scope = match &cfg.pods {
            Some(p) => Scope::Pods(PodsSampler::new(p).await?),
            None => Scope::Local(Box::new(Local::new())),
        };
        Ok(ResourceSampler {
            scope,
            memory_threshold: cfg.memory_threshold,
            cpu_threshold: cfg.cpu_threshold,
        })
    }

    /// Measure once: one reading for Memory, then one for Cpu.
    ///
    /// Local CPU is the average since the previous call. The first call measures from
    /// [`ResourceSampler::new`] and, if that was less than sysinfo's minimum interval (200 ms
    /// on Linux) ago, waits out the rest: it never returns a "warming up" error. Pods CPU is
    /// metrics-server's own window (typically 15 s). Pods calls are bounded by a 10 s timeout.
    pub async fn sample(&mut self) -> Vec<NfrReading> {
        let ((memory, memory_src), (cpu, cpu_src)) = match &mut self.scope {
            Scope::Local(local) => {
                let ((m, ms), (c, cs)) = local.sample().await;
                ((m, ms.to_string()), (c, cs.to_string()))
            }
            Scope::Pods(p) => {
                let (m, c) = p.sample().await;
                ((m, p.source().to_string()), (c, p.source().to_string()))
            }
        };
        vec![
            NfrReading {
                nfr: Nfr::Memory,
                value: memory,
                threshold: self.memory_threshold,
                source: memory_src,
            },
            NfrReading {
                nfr: Nfr::Cpu,
                value: cpu,
                threshold: self.cpu_threshold,
                source: cpu_src,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Figment;
    use figment::providers::{Format, Toml};

    #[derive(Debug, Deserialize)]
    struct File {
        resources: RawResources,
    }

    fn parse(toml: &str) -> Result<RawResources, String> {
        Figment::from(Toml::string(toml))
            .extract::<File>()
            .map(|f| f.resources)
            .map_err(|e| e.to_string())
    }

    fn problems(raw: &RawResources, base_dir: Option<&Path>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let cfg = validate(raw, base_dir, &mut |k, m| out.push((k.to_string(), m)));
        assert_eq!(cfg.is_none(), !out.is_empty() || !raw.enabled);
        out
    }

    fn pods(namespace: &str, selector: &str) -> RawResources {
        RawResources {
            pods: Some(RawPods {
                namespace: namespace.into(),
                selector: selector.into(),
                kubeconfig: None,
            }),
            ..RawResources::default()
        }
    }

    #[test]
    fn defaults_from_an_empty_section() {
        let raw = parse("[resources]\n").unwrap();
        assert_eq!(raw, RawResources::default());
        let cfg = validate(&raw, None, &mut |k, m| panic!("{k}: {m}")).unwrap();
        assert_eq!(cfg.every(), Duration::from_secs(15));
        assert_eq!(cfg.threshold(Nfr::Memory), 0.8);
        assert_eq!(cfg.threshold(Nfr::Cpu), 0.7);
        assert_eq!(cfg.pods(), None);
    }

    #[test]
    fn parses_every_field_and_rejects_unknown_ones() {
        let raw = parse(
            "[resources]\nenabled = true\nevery = \"1m 30s\"\nmemory_threshold = 0.9\n\
             cpu_threshold = 1\n[resources.pods]\nnamespace = \"godel\"\n\
             selector = \"app=godel\"\nkubeconfig = \"kube/config\"\n",
        )
        .unwrap();
        assert_eq!(raw.every, Duration::from_secs(90));
        assert_eq!(raw.cpu_threshold, 1.0);
        assert_eq!(
            raw.pods.unwrap().kubeconfig,
            Some(PathBuf::from("kube/config"))
        );
        let e = parse("[resources]\nmemory_treshold = 0.9\n").unwrap_err();
        assert!(e.contains("memory_treshold"), "{e}");
        let e = parse("[resources.pods]\nnamespace = \"a\"\nselector = \"b\"\nlabel = \"c\"\n")
            .unwrap_err();
        assert!(e.contains("label"), "{e}");
        let e = parse("[resources]\nevery = \"soon\"\n").unwrap_err();
        assert!(e.contains("every"), "{e}");
    }

    #[test]
    fn each_rule_reports_its_key() {
        let table: Vec<(RawResources, &str, &str)> = vec![
            (
                RawResources {
                    every: Duration::ZERO,
                    ..RawResources::default()
                },
                "resources.every",
                "must be greater than zero",
            ),
            (
                RawResources {
                    memory_threshold: 1.5,
                    ..RawResources::default()
                },
                "resources.memory_threshold",
                "expected a ratio in (0, 1], got 1.5",
            ),
            (
                RawResources {
                    memory_threshold: 0.0,
                    ..RawResources::default()
                },
                "resources.memory_threshold",
                "expected a ratio in (0, 1], got 0",
            ),
            (
                RawResources {
                    cpu_threshold: -0.7,
                    ..RawResources::default()
                },
                "resources.cpu_threshold",
                "expected a ratio in (0, 1], got -0.7",
            ),
            (
                RawResources {
                    cpu_threshold: f64::NAN,
                    ..RawResources::default()
                },
                "resources.cpu_threshold",
                "expected a ratio in (0, 1], got NaN",
            ),
            (
                pods("", "app=godel"),
                "resources.pods.namespace",
                "must not be empty",
            ),
            (
                pods("../kube-system", "app=godel"),
                "resources.pods.namespace",
                "expected a namespace name (at most 63 lower-case letters, digits or '-', \
                 starting and ending with a letter or digit), got \"../kube-system\"",
            ),
            (
                pods("godel", ""),
                "resources.pods.selector",
                "expected a label selector such as app.kubernetes.io/name=godel, got an \
                 empty string (it would select every pod in the namespace)",
            ),
            (
                pods("godel", "app=go del"),
                "resources.pods.selector",
                "invalid label value \"go del\": expected at most 63 letters, digits, '-', '_' \
                 or '.', starting and ending with a letter or digit",
            ),
        ];
        for (raw, key, message) in table {
            assert_eq!(
                problems(&raw, None),
                vec![(key.to_string(), message.to_string())],
                "{key}"
            );
        }
    }

    #[test]
    fn all_problems_are_collected() {
        let mut raw = pods("Godel", "app=(");
        raw.every = Duration::ZERO;
        raw.memory_threshold = 2.0;
        raw.cpu_threshold = 0.0;
        let keys: Vec<String> = problems(&raw, None).into_iter().map(|p| p.0).collect();
        assert_eq!(
            keys,
            [
                "resources.every",
                "resources.memory_threshold",
                "resources.cpu_threshold",
                "resources.pods.namespace",
                "resources.pods.selector",
            ]
        );
    }

    #[test]
    fn kubeconfig_resolves_against_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("kube")).unwrap();
        std::fs::write(dir.path().join("kube/config"), "").unwrap();
        let mut raw = pods("godel", " app=godel ");
        raw.pods.as_mut().unwrap().kubeconfig = Some("kube/config".into());
        let cfg = validate(&raw, Some(dir.path()), &mut |k, m| panic!("{k}: {m}")).unwrap();
        let p = cfg.pods().unwrap();
        assert_eq!(p.kubeconfig(), Some(&*dir.path().join("kube/config")));
        assert_eq!((p.namespace(), p.selector()), ("godel", "app=godel"));

        // Missing, or a directory: reported with the resolved path.
        raw.pods.as_mut().unwrap().kubeconfig = Some("nope".into());
        let got = problems(&raw, Some(dir.path()));
        let missing = dir.path().join("nope");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "resources.pods.kubeconfig");
        assert!(
            got[0]
                .1
                .starts_with(&format!("cannot read {}: ", missing.display())),
            "{}",
            got[0].1
        );
        raw.pods.as_mut().unwrap().kubeconfig = Some("kube".into());
        assert_eq!(
            problems(&raw, Some(dir.path())),
            [(
                "resources.pods.kubeconfig".to_string(),
                format!("{} is not a file", dir.path().join("kube").display())
            )]
        );

        // An absolute path is taken as is.
        raw.pods.as_mut().unwrap().kubeconfig = Some(dir.path().join("kube/config"));
        let cfg = validate(&raw, Some(Path::new("/elsewhere")), &mut |k, m| {
            panic!("{k}: {m}")
        })
        .unwrap();
        assert_eq!(
            cfg.pods().unwrap().kubeconfig(),
            Some(&*dir.path().join("kube/config"))
        );
    }

    #[test]
    fn disabled_is_none_but_still_checked() {
        let mut raw = pods("godel", "app=godel");
        raw.enabled = false;
        raw.pods.as_mut().unwrap().kubeconfig = Some("/does/not/exist".into());
        assert_eq!(problems(&raw, None), []);
        raw.cpu_threshold = 7.0;
        assert_eq!(
            problems(&raw, None),
            [(
                "resources.cpu_threshold".to_string(),
                "expected a ratio in (0, 1], got 7".to_string()
            )]
        );
    }

    #[test]
    fn nfr_ids() {
        assert_eq!(
            (Nfr::Memory.id(), Nfr::Memory.description()),
            ("NFR5", "memory used / limit")
        );
        assert_eq!(
            (Nfr::Cpu.id(), Nfr::Cpu.description()),
            ("NFR6", "CPU used / limit")
        );
    }

    #[tokio::test]
    async fn local_sampling_on_this_machine() {
        let cfg = validate(&RawResources::default(), None, &mut |k, m| {
            panic!("{k}: {m}")
        })
        .unwrap();
        let mut sampler = ResourceSampler::new(&cfg).await.unwrap();
        fn send<T: Send>(t: T) -> T {
            t
        }
        for _ in 0..2 {
            // The scheduler spawns it: the sampling future must be Send.
            let readings = send(sampler.sample()).await;
            assert_eq!(readings.len(), 2);
            let (mem, cpu) = (&readings[0], &readings[1]);
            assert_eq!((mem.nfr, cpu.nfr), (Nfr::Memory, Nfr::Cpu));
            assert_eq!((mem.threshold, cpu.threshold), (0.8, 0.7));
            for r in &readings {
                assert!(["host", "cgroup"].contains(&r.source.as_str()), "{r:?}");
                let v = r.value.clone().unwrap();
                assert!((0.0..=1.5).contains(&v), "{r:?}");
            }
            assert!(*mem.value.as_ref().unwrap() > 0.0, "{mem:?}");
        }
    }
}
