//! Validation of raw probe specs into probes that cannot be invalid. Every problem is
//! collected (not just the first) with the key path it concerns, so the daemon can report
//! `file: probe[2].request.path: must start with "/"` for each of them at once.

use std::path::{Path, PathBuf};

use crate::target::Target;

/// One validation problem: the key path (relative to the config file's root) and what was
/// expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// Dotted key path, e.g. `probe[2].expect.json[0].pointer`.
    pub path: String,
    /// What was wrong and what was expected, lower case, no trailing period.
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// All validation problems of a config.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct SpecErrors(pub Vec<SpecError>);

/// What a spec's `build` needs: the target, where in the config it sits, and where to put
/// errors. Builders report through [`BuildCx::error`] and return `None` when they cannot build.
#[derive(Debug)]
pub struct BuildCx<'a> {
    /// The target every HTTP-based probe talks to.
    pub target: &'a Target,
    /// Directory relative paths in the spec (CA files, key files) are resolved against.
    pub base_dir: Option<&'a Path>,
    path: String,
    errors: Vec<SpecError>,
}

impl<'a> BuildCx<'a> {
    /// A context rooted at `path` (e.g. `probe[2]`).
    pub fn new(target: &'a Target, path: impl Into<String>) -> Self {
        BuildCx {
            target,
            base_dir: None,
            path: path.into(),
            errors: Vec::new(),
        }
    }

    /// Record a problem at `key` below this context's path (`""` for the path itself).
    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        let path = join_path(&self.path, key);
        self.errors.push(SpecError {
            path,
            message: message.into(),
        });
    }

    /// Run `f` with the path extended by `key`, e.g. `steps[1]`.
    pub fn scoped<T>(&mut self, key: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved = std::mem::take(&mut self.path);
        self.path = join_path(&saved, key);
        let out = f(self);
        self.path = saved;
        out
    }

    /// The current key path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Resolve a path from the config against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        match self.base_dir {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The errors collected so far.
    pub fn into_errors(self) -> Vec<SpecError> {
        self.errors
    }
}

fn join_path(base: &str, key: &str) -> String {
    match (base.is_empty(), key.is_empty()) {
        (_, true) => base.to_string(),
        (true, false) => key.to_string(),
        (false, false) if key.starts_with('[') => format!("{base}{key}"),
        (false, false) => format!("{base}.{key}"),
    }
}

/// Parse a `host:port` address, reporting at `key` when it is not one.
pub fn require_address(cx: &mut BuildCx<'_>, key: &str, address: &str) -> Option<String> {
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Some(address.to_string())
        }
        _ => {
            cx.error(key, format!("expected host:port, got {address:?}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_with_dots_and_brackets() {
        let target = Target::for_tests("http://127.0.0.1:1");
        let mut cx = BuildCx::new(&target, "probe[2]");
        cx.scoped("steps[1]", |cx| {
            cx.error("request.path", "must start with \"/\"")
        });
        cx.scoped("expect", |cx| cx.scoped("[0]", |cx| cx.error("", "bad")));
        let errs = cx.into_errors();
        assert_eq!(
            errs[0].to_string(),
            "probe[2].steps[1].request.path: must start with \"/\""
        );
        assert_eq!(errs[1].path, "probe[2].expect[0]");
    }

    #[test]
    fn addresses_need_a_port() {
        let target = Target::for_tests("http://127.0.0.1:1");
        let mut cx = BuildCx::new(&target, "probe[0]");
        assert!(require_address(&mut cx, "address", "127.0.0.1:6379").is_some());
        assert!(require_address(&mut cx, "address", "localhost").is_none());
        assert!(require_address(&mut cx, "address", "h:0").is_none());
        assert_eq!(cx.into_errors().len(), 2);
    }
}
