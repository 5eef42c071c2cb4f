//! Loading with figment: built-in defaults (serde defaults), then the file (TOML or YAML), then
//! `PROBER_…` environment variables with `__` between nested keys
//! (`PROBER_TARGET__BASE_URL=http://…`). Files are read here, not by figment, so that a missing
//! file is an error naming it rather than silently an empty layer.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use prober_probes::SpecError;
use prober_probes::secret::Secret;
use serde_saphyr::figment::Yaml;

use super::raw::RawConfig;
use super::{Config, ConfigError, DEFAULT_CONFIG};

/// Where the configuration comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource<'a> {
    /// The built-in default.
    Default,
    /// A file.
    File(&'a Path),
}

/// Values given on the command line that win over every layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--target URL`: replaces `target.base_url`.
    pub base_url: Option<String>,
    /// A key to use instead of reading `target.auth.key_*` (the embedded simulator's).
    pub api_key: Option<Secret>,
    /// Likewise for `target.auth.non_admin_key_*`.
    pub non_admin_key: Option<Secret>,
}

/// Load, layer and validate.
pub fn load(source: ConfigSource<'_>, overrides: &Overrides) -> Result<Config, ConfigError> {
    let (name, figment, base_dir) = match source {
        ConfigSource::Default => (
            "built-in default".to_string(),
            Figment::from(Toml::string(DEFAULT_CONFIG)),
            None,
        ),
        ConfigSource::File(path) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                file: name.clone(),
                source,
            })?;
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            let figment = match ext {
                "toml" => Figment::from(Toml::string(&text)),
                "yaml" | "yml" => Figment::from(Yaml::string(&text)),
                _ => return Err(ConfigError::Format { file: name }),
            };
            (name, figment, path.parent().map(Path::to_path_buf))
        }
    };
    let mut figment = figment.merge(Env::prefixed("PROBER_").split("__"));
    if let Some(url) = &overrides.base_url {
        figment = figment.merge(("target.base_url", url));
    }
    let raw: RawConfig = figment.extract().map_err(|e| ConfigError::Invalid {
        file: name.clone(),
        problems: figment_problems(e),
    })?;
    super::validate::validate(raw, &name, base_dir.as_deref(), overrides)
}

/// Turn figment's errors into key-path problems: `probe.2.every` becomes `probe[2].every`.
fn figment_problems(error: figment::Error) -> Vec<SpecError> {
    error
        .into_iter()
        .map(|e| {
            let mut path = String::new();
            for segment in &e.path {
                if segment.chars().all(|c| c.is_ascii_digit()) && !segment.is_empty() {
                    path.push_str(&format!("[{segment}]"));
                } else {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(segment);
                }
            }
            let from_env = e
                .metadata
                .as_ref()
                .is_some_and(|m| m.name.contains("environment"));
            let mut message = e.kind.to_string();
            if from_env {
                message.push_str(" (from a PROBER_ environment variable)");
            }
            SpecError {
                path: if path.is_empty() {
                    "(top level)".into()
                } else {
                    path
                },
                message,
            }
        })
        .collect()
}
