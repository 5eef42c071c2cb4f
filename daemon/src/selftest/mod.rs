//! `prober selftest`: checks that what we ship fits together (rules, dashboards, runbooks, the
//! chart and the config), then, unless `--static-only`, that the probes catch every fault of
//! the embedded simulator. Each check is one [`Item`] (pass, fail or skip, with a message naming
//! the file and the defect); the report is a table, JSON or JUnit XML. This module owns the
//! report and the wiring; the checks live in the submodules. It never changes a file.

mod chart;
mod dashboards;
mod live;
mod promql;
mod rules;
mod runbooks;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use prober_probes::secret::Secret;
use prober_sim::{DEFAULT_ADMIN_KEY, DEFAULT_USER_KEY};
use serde::Serialize;
use tokio::time::Instant;

use crate::cli::{SelftestArgs, SelftestFormat};
use crate::config::{self, Config, ConfigSource, Overrides};
use crate::{EXIT_FAILED, EXIT_OK, Failure};

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It holds.
    Pass,
    /// It does not: the message says where and why.
    Fail,
    /// It could not run (the message says why); never counts as a pass.
    Skip,
}

impl Status {
    /// `PASS`, `FAIL` or `SKIP`.
    pub fn as_upper(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// The area: rules, dashboards, runbooks, chart, config or live.
    pub group: &'static str,
    /// What was checked, e.g. `rules/prober.alerts.yaml: promql`.
    pub name: String,
    /// Result.
    pub status: Status,
    /// What was found; for a failure, every defect with its file.
    pub message: String,
    /// Time the check took (live checks; static ones are near zero).
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Item {
    /// Pass when `defects` is empty (with `ok` as the message), else fail listing them.
    pub fn from_defects(
        group: &'static str,
        name: impl Into<String>,
        ok: impl Into<String>,
        defects: Vec<String>,
    ) -> Self {
        let (status, message) = if defects.is_empty() {
            (Status::Pass, ok.into())
        } else {
            (Status::Fail, defects.join("; "))
        };
        Item {
            group,
            name: name.into(),
            status,
            message,
            duration: Duration::ZERO,
        }
    }

    /// A skipped check.
    pub fn skip(group: &'static str, name: impl Into<String>, why: impl Into<String>) -> Self {
        Item {
            group,
            name: name.into(),
            status: Status::Skip,
            message: why.into(),
            duration: Duration::ZERO,
        }
    }

    /// A passed (`ok`) or failed check.
    pub fn verdict(
        group: &'static str,
        name: impl Into<String>,
        ok: bool,
        message: impl Into<String>,
    ) -> Self {
        Item {
            group,
            name: name.into(),
            status: if ok { Status::Pass } else { Status::Fail },
            message: message.into(),
            duration: Duration::ZERO,
        }
    }
}

/// The files under check: `(path relative to the checkout, contents)`, sorted by path.
#[derive(Debug, Clone)]
pub struct Assets {
    /// Where they come from, for messages: `built-in` or the directory.
    pub origin: String,
    /// The files.
    pub files: Vec<(String, String)>,
    /// The checkout, when checking one (`--assets`): where to look for `charts/godel-prober/`.
    pub root: Option<PathBuf>,
}

impl Assets {
    /// The copies built into the binary.
    pub fn built_in() -> Self {
        Assets {
            origin: "built-in".into(),
            files: crate::assets::all()
                .iter()
                .map(|(p, c)| ((*p).to_string(), (*c).to_string()))
                .collect(),
            root: None,
        }
    }

    /// `rules/`, `runbooks/` and `dashboards/` under `dir`. Unreadable (non-UTF-8) files are
    /// kept with a marker so the checks report them rather than skip them.
    pub fn from_dir(dir: &Path) -> Result<Self, String> {
        if !dir.is_dir() {
            return Err(format!("--assets {}: not a directory", dir.display()));
        }
        let mut files = Vec::new();
        for sub in ["rules", "runbooks", "dashboards"] {
            collect(dir, &dir.join(sub), &mut files);
        }
        if files.is_empty() {
            return Err(format!(
                "--assets {}: no rules/, runbooks/ or dashboards/ there",
                dir.display()
            ));
        }
        files.sort();
        Ok(Assets {
            origin: dir.display().to_string(),
            files,
            root: Some(dir.to_path_buf()),
        })
    }

    /// Files directly in `prefix` (not in a subdirectory) whose name ends with one of
    /// `suffixes`.
    pub fn matching<'a>(
        &'a self,
        prefix: &'a str,
        suffixes: &'a [&'a str],
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.files.iter().filter_map(move |(p, c)| {
            let rest = p.strip_prefix(prefix)?;
            (!rest.contains('/') && suffixes.iter().any(|s| rest.ends_with(s)))
                .then_some((p.as_str(), c.as_str()))
        })
    }
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let contents =
                std::fs::read_to_string(&path).unwrap_or_else(|e| format!("\u{0}unreadable: {e}"));
            files.push((rel.join("/"), contents));
        }
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Where the assets came from.
    pub assets: String,
    /// Every check, in order.
    pub checks: Vec<Item>,
    /// Wall time.
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
}

impl Report {
    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|i| i.status == status).count()
    }

    /// Any failure.
    pub fn failed(&self) -> bool {
        self.count(Status::Fail) > 0
    }

    /// `selftest: 40 passed, 0 failed, 1 skipped in 0.05s`.
    pub fn summary(&self) -> String {
        format!(
            "selftest: {} passed, {} failed, {} skipped in {:.2}s ({} assets)",
            self.count(Status::Pass),
            self.count(Status::Fail),
            self.count(Status::Skip),
            self.duration.as_secs_f64(),
            self.assets
        )
    }

    /// The table.
    pub fn text(&self) -> String {
        let width = self.checks.iter().map(|i| i.name.len()).max().unwrap_or(5);
        let mut out = format!("{:<6} {:<width$} MESSAGE\n", "STATUS", "CHECK");
        for i in &self.checks {
            let _ = writeln!(
                out,
                "{:<6} {:<width$} {}",
                i.status.as_upper(),
                i.name,
                i.message
            );
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    /// JSON: `{assets, duration, passed, failed, skipped, checks: [...]}`.
    pub fn json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("passed".into(), self.count(Status::Pass).into());
            o.insert("failed".into(), self.count(Status::Fail).into());
            o.insert("skipped".into(), self.count(Status::Skip).into());
        }
        v
    }

    /// JUnit XML: one testsuite per group, one testcase per check; a failure's message is the
    /// defect, a skip's its reason.
    pub fn junit(&self) -> String {
        let esc = crate::report::xml_escape;
        let secs = self.duration.as_secs_f64();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            r#"<testsuites name="prober selftest" tests="{}" failures="{}" skipped="{}" time="{secs:.3}">"#,
            self.checks.len(),
            self.count(Status::Fail),
            self.count(Status::Skip)
        );
        let mut groups: Vec<&str> = Vec::new();
        for i in &self.checks {
            if !groups.contains(&i.group) {
                groups.push(i.group);
            }
        }
        for g in groups {
            let items: Vec<&Item> = self.checks.iter().filter(|i| i.group == g).collect();
            let n = |s: Status| items.iter().filter(|i| i.status == s).count();
            let time: f64 = items.iter().map(|i| i.duration.as_secs_f64()).sum();
            let _ = writeln!(
                out,
                r#"  <testsuite name="selftest.{g}" tests="{}" failures="{}" errors="0" skipped="{}" time="{time:.3}">"#,
                items.len(),
                n(Status::Fail),
                n(Status::Skip)
            );
            for i in items {
                let _ = write!(
                    out,
                    r#"    <testcase name="{}" classname="selftest.{g}" time="{:.3}">"#,
                    esc(&i.name),
                    i.duration.as_secs_f64()
                );
                match i.status {
                    Status::Pass => {
                        let _ = write!(
                            out,
                            "\n      <system-out>{}</system-out>\n    ",
                            esc(&i.message)
                        );
                    }
                    Status::Fail => {
                        let _ = write!(
                            out,
                            "\n      <failure type=\"{g}\" message=\"{0}\">{0}</failure>\n    ",
                            esc(&i.message)
                        );
                    }
                    Status::Skip => {
                        let _ = write!(
                            out,
                            "\n      <skipped message=\"{}\"/>\n    ",
                            esc(&i.message)
                        );
                    }
                }
                out.push_str("</testcase>\n");
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// The embedded simulator's keys: the config is checked (and the live probes run) with them,
/// so a missing `GODEL_API_KEY` never fails a self-test.
fn sim_overrides(base_url: Option<String>) -> Overrides {
    Overrides {
        base_url,
        api_key: Some(Secret::new(DEFAULT_ADMIN_KEY)),
        non_admin_key: Some(Secret::new(DEFAULT_USER_KEY)),
    }
}

/// Load the config for the self-test (`None` = the built-in default).
fn load_config(path: Option<&Path>, base_url: Option<String>) -> Result<Config, String> {
    let source = match path {
        Some(p) => ConfigSource::File(p),
        None => ConfigSource::Default,
    };
    config::load(source, &sim_overrides(base_url)).map_err(|e| e.to_string())
}

/// The config checks: valid, and the guard's worst case within its budget.
fn config_checks(path: Option<&Path>) -> (Vec<Item>, bool) {
    let name = path.map_or("built-in default".to_string(), |p| p.display().to_string());
    match load_config(path, None) {
        Err(e) => (
            vec![Item::verdict(
                "config",
                format!("config: {name}"),
                false,
                format!("invalid: {e}"),
            )],
            false,
        ),
        Ok(config) => {
            let mut items = vec![Item::verdict(
                "config",
                format!("config: {name}"),
                true,
                format!("valid, {} probes", config.probes.len()),
            )];
            match &config.guard {
                None => items.push(Item::skip(
                    "config",
                    "config: time to rollback",
                    "no [guard] section: no rollout guard to time",
                )),
                Some(guard) => {
                    let worst = guard.worst_case_time_to_rollback(&config.probes);
                    let ok = worst <= guard.budget;
                    items.push(Item::verdict(
                        "config",
                        "config: time to rollback",
                        ok,
                        format!(
                            "{name}: worst-case time from breach to rollback {} {} budget {}",
                            humantime::format_duration(worst),
                            if ok { "within" } else { "is OVER" },
                            humantime::format_duration(guard.budget)
                        ),
                    ));
                }
            }
            (items, true)
        }
    }
}

/// The P99 budgets the config judges by (seconds): each latency probe's 0.99 budget and the
/// guard's NFR3 limit, deduplicated.
fn p99_budgets(config: &Config) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    let mut add = |v: f64| {
        if !out.iter().any(|x| (x - v).abs() < 1e-9) {
            out.push(v);
        }
    };
    for p in &config.probes {
        if let prober_probes::ProbeSpec::Latency(spec) = &p.spec {
            for b in spec
                .budgets
                .iter()
                .filter(|b| (b.quantile - 0.99).abs() < 1e-9)
            {
                add(b.under.as_secs_f64());
            }
        }
    }
    if let Some(g) = &config.guard
        && (g.gates.latency_quantile - 0.99).abs() < 1e-9
        && g.gates.latency_probe.is_some()
    {
        add(g.gates.latency_under.as_secs_f64());
    }
    out
}

/// Run every static check on `assets`.
pub fn static_checks(assets: &Assets) -> Vec<Item> {
    let mut items = Vec::new();
    let rules = rules::check(assets, &mut items);
    dashboards::check(assets, &rules.known, &mut items);
    runbooks::check(assets, &rules.alerts, &mut items);
    items.push(chart::check(assets));
    items
}

/// `prober selftest`.
pub async fn run(args: &SelftestArgs) -> Result<i32, Failure> {
    let started = Instant::now();
    let assets = match &args.assets {
        Some(dir) => Assets::from_dir(dir).map_err(Failure::usage)?,
        None => Assets::built_in(),
    };
    if let Some(path) = &args.config
        && !path.is_file()
    {
        return Err(Failure::usage(format!(
            "--config {}: no such file",
            path.display()
        )));
    }
    let mut checks = static_checks(&assets);
    let (config_items, config_ok) = config_checks(args.config.as_deref());
    checks.extend(config_items);
    if let Ok(config) = load_config(args.config.as_deref(), None) {
        dashboards::slo_thresholds(&assets, &p99_budgets(&config), &mut checks);
    }
    if args.static_only {
        checks.push(Item::skip("live", "live", "--static-only"));
    } else if !config_ok {
        checks.push(Item::skip("live", "live", "the config is invalid"));
    } else {
        checks.extend(live::check(args.config.as_deref()).await);
    }
    let report = Report {
        assets: assets.origin.clone(),
        checks,
        duration: started.elapsed(),
    };
    let rendered = match args.format {
        SelftestFormat::Text => report.text(),
        SelftestFormat::Json => format!("{:#}\n", report.json()),
        SelftestFormat::Junit => report.junit(),
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, rendered).map_err(|e| {
                Failure::usage(format!("--output {}: cannot write: {e}", path.display()))
            })?;
            println!("{}", report.summary());
        }
        None => print!("{rendered}"),
    }
    Ok(if report.failed() {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_assets_pass_every_static_check() {
        let items = static_checks(&Assets::built_in());
        let failed: Vec<_> = items.iter().filter(|i| i.status == Status::Fail).collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }

    #[test]
    fn junit_parses_and_has_one_testcase_per_check() {
        let report = Report {
            assets: "built-in".into(),
            checks: vec![
                Item::verdict("rules", "a <b>", true, "ok & fine"),
                Item::verdict("rules", "c", false, "rules/x.yaml: \"bad\""),
                Item::skip("chart", "chart", "no chart yet"),
            ],
            duration: Duration::from_millis(5),
        };
        let xml = report.junit();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let cases: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), 3);
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(failure.attribute("message"), Some("rules/x.yaml: \"bad\""));
    }
}
