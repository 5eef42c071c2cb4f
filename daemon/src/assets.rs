//! The rules, runbooks and dashboards built into the binary (`build.rs` lists every file under
//! `../rules`, `../runbooks` and `../dashboards` and embeds it with `include_str!`), so a released
//! binary validates and exports exactly what it ships. This module owns only the embedded copies
//! and writing them out (`prober assets export DIR`); checking them is `selftest`'s business.

use std::io;
use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// Every embedded file: (path relative to the repository, e.g. `rules/prober.alerts.yaml`,
/// contents), sorted by path.
pub fn all() -> &'static [(&'static str, &'static str)] {
    ASSETS
}

/// Write every embedded file under `dir`, preserving its relative path (directories are
/// created). Returns the paths written, in order.
pub fn export(dir: &Path) -> io::Result<Vec<PathBuf>> {
    if dir.exists() && !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("{} is not a directory", dir.display()),
        ));
    }
    let mut written = Vec::with_capacity(ASSETS.len());
    for (rel, contents) in ASSETS {
        let path = rel
            .split('/')
            .fold(dir.to_path_buf(), |p, part| p.join(part));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, contents)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeds_the_three_data_directories() {
        for prefix in ["rules/", "rules/tests/", "runbooks/", "dashboards/"] {
            assert!(
                all().iter().any(|(p, _)| p.starts_with(prefix)),
                "nothing under {prefix}"
            );
        }
        assert!(
            all().windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no duplicates"
        );
    }
}
