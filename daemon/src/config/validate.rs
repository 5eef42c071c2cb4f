//! Raw configuration → [`Config`]: resolves secrets, checks every key, and builds every probe,
//! collecting all problems (each with its key path) before giving up.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use prober_probes::Url;
use prober_probes::secret::Secret;
use prober_probes::spec::BuildCx;
use prober_probes::target::{Auth, HttpLimits, Redirects};
use prober_probes::{SpecError, Target};

use super::load::Overrides;
use super::raw::{RawAuth, RawClient, RawConfig, RawDaemon, RawProbe, RawTarget};
use super::{Config, ConfigError, DaemonSettings, ProbeDef, Schedule};
use crate::schedule::cron::Cron;

/// Validate `raw` from the file `name` (relative paths resolve against `base_dir`).
pub fn validate(
    raw: RawConfig,
    name: &str,
    base_dir: Option<&Path>,
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();
    let mut problem = |path: &str, message: String| {
        problems.push(SpecError {
            path: path.to_string(),
            message,
        })
    };
    let target = target(&raw.target, base_dir, overrides, &mut problem);
    if raw.defaults.every.is_zero() {
        problem("defaults.every", "must be greater than zero".into());
    }
    if raw.defaults.deadline.is_zero() {
        problem("defaults.deadline", "must be greater than zero".into());
    }
    let daemon = daemon(&raw.daemon, &mut problem);
    let resources = crate::resources::validate(&raw.resources, base_dir, &mut problem);
    let Some(target) = target else {
        return Err(ConfigError::Invalid {
            file: name.to_string(),
            problems,
        });
    };
    let mut probes = Vec::new();
    let mut build_problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, value) in raw.probes.iter().enumerate() {
        let at = format!("probe[{i}]");
        let p = match RawProbe::parse(value) {
            Ok(p) => p,
            Err(errors) => {
                for (key, message) in errors {
                    let path = if key.is_empty() {
                        at.clone()
                    } else {
                        format!("{at}.{}", dotted_to_indexed(&key))
                    };
                    build_problems.push(SpecError { path, message });
                }
                continue;
            }
        };
        let valid_name = !p.name.is_empty()
            && p.name.len() <= 64
            && p.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            problem(
                &format!("{at}.name"),
                format!("expected 1-64 letters, digits, - or _, got {:?}", p.name),
            );
        } else if !seen.insert(p.name.clone()) {
            problem(
                &format!("{at}.name"),
                format!("probe name {:?} is used twice", p.name),
            );
        }
        let every = p.every.unwrap_or(raw.defaults.every);
        let deadline = p.deadline.unwrap_or(raw.defaults.deadline);
        if every.is_zero() {
            problem(&format!("{at}.every"), "must be greater than zero".into());
        }
        let schedule = match &p.schedule {
            None => Schedule::Every(every),
            Some(_) if p.every.is_some() => {
                problem(
                    &format!("{at}.schedule"),
                    "set either every (an interval) or schedule (cron), not both".into(),
                );
                Schedule::Every(every)
            }
            Some(expr) => match expr.parse::<Cron>() {
                Ok(cron) => Schedule::Cron(Arc::new(cron)),
                Err(e) => {
                    problem(
                        &format!("{at}.schedule"),
                        format!("invalid cron expression {expr:?}: {e}"),
                    );
                    Schedule::Every(every)
                }
            },
        };
        if deadline.is_zero() {
            problem(
                &format!("{at}.deadline"),
                "must be greater than zero".into(),
            );
        }
        let mut cx = BuildCx::new(&target, at);
        cx.base_dir = base_dir;
        let built = p.spec.build(&mut cx);
        build_problems.extend(cx.into_errors());
        if let Some(probe) = built {
            probes.push(ProbeDef {
                name: p.name.clone(),
                schedule,
                deadline,
                spec: p.spec.clone(),
                probe: Arc::new(probe),
            });
        }
    }
    problems.extend(build_problems);
    let guard = raw.guard.as_ref().and_then(|g| {
        crate::guard::config::validate(g, &probes, base_dir, &mut |key, message| {
            problems.push(SpecError {
                path: key.to_string(),
                message,
            })
        })
    });
    if problems.is_empty() {
        Ok(Config {
            source: name.to_string(),
            target,
            probes,
            daemon,
            resources,
            guard,
        })
    } else {
        Err(ConfigError::Invalid {
            file: name.to_string(),
            problems,
        })
    }
}

/// `[daemon]`: problems are reported, and the default stands in so validation can go on.
fn daemon(raw: &RawDaemon, problem: &mut impl FnMut(&str, String)) -> DaemonSettings {
    let listen = raw.listen.parse().unwrap_or_else(|e| {
        problem(
            "daemon.listen",
            format!(
                "expected an address like 0.0.0.0:17373, got {:?}: {e}",
                raw.listen
            ),
        );
        SocketAddr::from(([127, 0, 0, 1], 0))
    });
    if raw.max_concurrent_runs == 0 {
        problem("daemon.max_concurrent_runs", "must be at least 1".into());
    }
    if !(0.0..1.0).contains(&raw.jitter) {
        problem(
            "daemon.jitter",
            format!(
                "expected a share of the interval in [0, 1), got {}",
                raw.jitter
            ),
        );
    }
    if raw.shutdown_timeout.is_zero() {
        problem(
            "daemon.shutdown_timeout",
            "must be greater than zero".into(),
        );
    }
    DaemonSettings {
        listen,
        max_concurrent_runs: raw.max_concurrent_runs.max(1),
        jitter: if (0.0..1.0).contains(&raw.jitter) {
            raw.jitter
        } else {
            0.0
        },
        startup_stagger: raw.startup_stagger,
        shutdown_timeout: raw.shutdown_timeout,
    }
}

/// `steps.1.request` → `steps[1].request`.
fn dotted_to_indexed(path: &str) -> String {
    let mut out = String::new();
    for segment in path.split('.') {
        if !segment.is_empty() && segment.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

fn target(
    raw: &RawTarget,
    base_dir: Option<&Path>,
    overrides: &Overrides,
    problem: &mut impl FnMut(&str, String),
) -> Option<Target> {
    let base_url = match Url::parse(&raw.base_url) {
        // Credentials in the URL would be printed with every report: they belong in auth.
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            problem(
                "target.base_url",
                "must not contain credentials; use [target.auth]".into(),
            );
            None
        }
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        Ok(u) => {
            problem(
                "target.base_url",
                format!(
                    "expected an http(s) URL with a host, got scheme {:?}",
                    u.scheme()
                ),
            );
            None
        }
        Err(e) => {
            problem("target.base_url", format!("expected an http(s) URL: {e}"));
            None
        }
    };
    let auth = match &raw.auth {
        Some(a) => auth(a, base_dir, overrides, problem),
        None => Some(None),
    };
    let limits = limits(&raw.client, base_dir, problem);
    Some(Target {
        base_url: base_url?,
        auth: auth?,
        limits: limits?,
    })
}

fn auth(
    raw: &RawAuth,
    base_dir: Option<&Path>,
    overrides: &Overrides,
    problem: &mut impl FnMut(&str, String),
) -> Option<Option<Auth>> {
    if !raw.value.contains("${key}") {
        problem(
            "target.auth.value",
            format!("must contain ${{key}}, got {:?}", raw.value),
        );
    }
    let key = match &overrides.api_key {
        Some(k) => Some(k.clone()),
        None => secret(
            "target.auth.key",
            raw.key_env.as_deref(),
            raw.key_file.as_deref(),
            base_dir,
            problem,
        ),
    };
    let non_admin = if let Some(k) = &overrides.non_admin_key {
        Some(k.clone())
    } else if raw.non_admin_key_env.is_some() || raw.non_admin_key_file.is_some() {
        Some(secret(
            "target.auth.non_admin_key",
            raw.non_admin_key_env.as_deref(),
            raw.non_admin_key_file.as_deref(),
            base_dir,
            problem,
        )?)
    } else {
        None
    };
    Some(Some(Auth {
        header: raw.header.clone(),
        value_template: raw.value.clone(),
        key: key?,
        non_admin_key: non_admin,
    }))
}

/// Read a secret from exactly one of an environment variable or a file. Messages name the
/// variable or file, never the value.
fn secret(
    key: &str,
    env: Option<&str>,
    file: Option<&Path>,
    base_dir: Option<&Path>,
    problem: &mut impl FnMut(&str, String),
) -> Option<Secret> {
    let value = match (env, file) {
        (Some(_), Some(_)) => {
            problem(
                &format!("{key}_env"),
                format!("set either {key}_env or {key}_file, not both"),
            );
            return None;
        }
        (None, None) => {
            problem(
                key,
                format!("set {key}_env (an environment variable) or {key}_file"),
            );
            return None;
        }
        (Some(var), None) => match std::env::var(var) {
            Ok(v) => v,
            Err(_) => {
                problem(
                    &format!("{key}_env"),
                    format!("environment variable {var} is not set"),
                );
                return None;
            }
        },
        (None, Some(path)) => {
            let path = match base_dir {
                Some(dir) if path.is_relative() => dir.join(path),
                _ => path.to_path_buf(),
            };
            match std::fs::read_to_string(&path) {
                Ok(v) => v,
                Err(e) => {
                    problem(
                        &format!("{key}_file"),
                        format!("cannot read {}: {e}", path.display()),
                    );
                    return None;
                }
            }
        }
    };
    let secret = Secret::new(value);
    if secret.is_empty() {
        problem(key, "the key is empty".into());
        return None;
    }
    Some(secret)
}

fn limits(
    raw: &RawClient,
    base_dir: Option<&Path>,
    problem: &mut impl FnMut(&str, String),
) -> Option<HttpLimits> {
    let d = HttpLimits::default();
    let positive = |v: Option<Duration>,
                    key: &str,
                    default: Duration,
                    problem: &mut dyn FnMut(&str, String)| match v {
        Some(x) if x.is_zero() => {
            problem(key, "must be greater than zero".into());
            default
        }
        Some(x) => x,
        None => default,
    };
    let limits = HttpLimits {
        connect_timeout: positive(
            raw.connect_timeout,
            "target.client.connect_timeout",
            d.connect_timeout,
            problem,
        ),
        request_timeout: positive(
            raw.timeout,
            "target.client.timeout",
            d.request_timeout,
            problem,
        ),
        max_body_bytes: match raw.max_body_bytes {
            Some(0) => {
                problem(
                    "target.client.max_body_bytes",
                    "must be greater than zero".into(),
                );
                d.max_body_bytes
            }
            Some(b) => b,
            None => d.max_body_bytes,
        },
        redirects: Redirects {
            max_hops: raw.max_redirects.unwrap_or(d.redirects.max_hops),
            cross_host: raw.cross_host_redirects.unwrap_or(d.redirects.cross_host),
        },
        ca_file: raw.ca_file.as_ref().map(|p| match base_dir {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.clone(),
        }),
        insecure_skip_verify: raw.insecure_skip_verify,
    };
    if let Some(ca) = &limits.ca_file
        && let Err(e) = std::fs::metadata(ca)
    {
        problem(
            "target.client.ca_file",
            format!("cannot read {}: {e}", ca.display()),
        );
        return None;
    }
    Some(limits)
}
