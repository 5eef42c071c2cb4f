//! `prober selftest` as a real process. The shipped assets pass; a copy of them with exactly
//! one defect (built at test time from the real `rules/`, `runbooks/` and `dashboards/`) fails
//! with exit 1 and a message naming the file and the defect, and nothing else fails. The live
//! checks pass against the embedded simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn selftest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prober"))
        .arg("selftest")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// A copy of the real assets in a temp dir.
fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["rules", "runbooks", "dashboards"] {
        copy_dir(&repo().join(sub), &dir.path().join(sub));
    }
    dir
}

fn edit(dir: &Path, rel: &str, f: impl FnOnce(String) -> String) {
    let path = dir.join(rel);
    let before = std::fs::read_to_string(&path).unwrap();
    let after = f(before.clone());
    assert_ne!(before, after, "the defect was not applied to {rel}");
    std::fs::write(path, after).unwrap();
}

fn edit_json(dir: &Path, rel: &str, f: impl FnOnce(&mut Value)) {
    edit(dir, rel, |text| {
        let mut v: Value = serde_json::from_str(&text).unwrap();
        f(&mut v);
        serde_json::to_string_pretty(&v).unwrap()
    });
}

/// The first panel with a query (rows have none).
fn first_query_panel(dash: &mut Value) -> &mut Value {
    dash["panels"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["targets"].as_array().is_some_and(|t| !t.is_empty()))
        .unwrap()
}

/// Run the static self-test on `dir`: exit 1, exactly one failing check, whose line names
/// every one of `expected`.
fn assert_one_failure(dir: &Path, expected: &[&str]) {
    let out = selftest(&["--static-only", "--assets", dir.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let fails: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(fails.len(), 1, "exactly one failing check:\n{text}");
    for e in expected {
        assert!(fails[0].contains(e), "{e:?} not in {:?}", fails[0]);
    }
    assert!(text.contains(" 1 failed,"), "{text}");
}

#[test]
fn the_shipped_assets_pass_statically() {
    let out = selftest(&["--static-only"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("FAIL")), "{text}");
    assert!(
        text.contains("SKIP   chart")
            && text.contains("built-in assets: no charts/godel-prober/ to compare"),
        "the chart check is skipped visibly: {text}"
    );
    assert!(text.contains(" 0 failed,"), "{text}");
}

#[test]
fn an_unmodified_copy_passes() {
    let dir = checkout();
    let out = selftest(&["--static-only", "--assets", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// A copy of the real assets and the chart's copies of them.
fn checkout_with_chart() -> tempfile::TempDir {
    let dir = checkout();
    let files = "charts/godel-prober/files";
    copy_dir(&repo().join(files), &dir.path().join(files));
    dir
}

#[test]
fn the_checkout_passes_with_its_chart() {
    let out = selftest(&["--static-only", "--assets", repo().to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("PASS") && l.contains("chart: copies of rules and dashboards")),
        "{text}"
    );
}

#[test]
fn a_chart_copy_that_differs_fails() {
    let dir = checkout_with_chart();
    edit(
        dir.path(),
        "charts/godel-prober/files/rules/prober.rules.yaml",
        |t| t + "\n",
    );
    assert_one_failure(
        dir.path(),
        &["files/rules/prober.rules.yaml differs from rules/prober.rules.yaml"],
    );
}

#[test]
fn a_missing_chart_copy_fails() {
    let dir = checkout_with_chart();
    std::fs::remove_file(
        dir.path()
            .join("charts/godel-prober/files/dashboards/prober-internals.json"),
    )
    .unwrap();
    assert_one_failure(
        dir.path(),
        &["files/dashboards/prober-internals.json missing"],
    );
}

#[test]
fn an_extra_chart_copy_fails() {
    let dir = checkout_with_chart();
    std::fs::write(
        dir.path().join("charts/godel-prober/files/rules/old.yaml"),
        "groups: []\n",
    )
    .unwrap();
    assert_one_failure(dir.path(), &["files/rules/old.yaml extra"]);
}

#[test]
fn alert_without_runbook_url_fails() {
    let dir = checkout();
    edit(dir.path(), "rules/prober.alerts.yaml", |t| {
        let line = t
            .lines()
            .find(|l| l.trim_start().starts_with("runbook_url:"))
            .unwrap()
            .to_string();
        t.replacen(&format!("{line}\n"), "", 1)
    });
    assert_one_failure(
        dir.path(),
        &[
            "rules/prober.alerts.yaml",
            "alert GodelDown has no annotations.runbook_url",
        ],
    );
}

#[test]
fn runbook_url_to_a_missing_runbook_fails() {
    let dir = checkout();
    edit(dir.path(), "rules/prober.alerts.yaml", |t| {
        t.replacen("runbooks/GodelDown.md", "runbooks/GodelDwn.md", 1)
    });
    assert_one_failure(
        dir.path(),
        &[
            "rules/prober.alerts.yaml",
            "GodelDown",
            "runbooks/GodelDwn.md, which does not exist",
        ],
    );
}

#[test]
fn dashboard_query_with_a_misspelt_metric_fails() {
    let dir = checkout();
    edit_json(
        dir.path(),
        "dashboards/godel-synthetic-overview.json",
        |d| {
            let target = &mut first_query_panel(d)["targets"][0]["expr"];
            let expr = target
                .as_str()
                .unwrap()
                .replace("prober_probe_success", "prober_probe_sucess");
            *target = expr.into();
        },
    );
    assert_one_failure(
        dir.path(),
        &[
            "dashboards/godel-synthetic-overview.json",
            "unknown metric prober_probe_sucess",
        ],
    );
}

#[test]
fn invalid_promql_in_a_rule_fails() {
    let dir = checkout();
    edit(dir.path(), "rules/prober.rules.yaml", |t| {
        t.replacen(
            "expr: avg_over_time(prober_probe_success[5m])",
            "expr: avg_over_time(prober_probe_success[5m]",
            1,
        )
    });
    assert_one_failure(
        dir.path(),
        &[
            "rules/prober.rules.yaml",
            "probe:prober_probe_success:avg5m",
            "not valid PromQL",
        ],
    );
}

#[test]
fn orphan_runbook_fails() {
    let dir = checkout();
    std::fs::copy(
        dir.path().join("runbooks/GodelDown.md"),
        dir.path().join("runbooks/GodelGone.md"),
    )
    .unwrap();
    assert_one_failure(
        dir.path(),
        &[
            "runbooks/GodelGone.md",
            "orphaned: no alert named GodelGone",
        ],
    );
}

#[test]
fn alert_without_a_promtool_test_fails() {
    let dir = checkout();
    edit(dir.path(), "rules/prober.alerts.yaml", |t| {
        t + "\n      - alert: GodelUntested\n        expr: prober_probe_success == 0\n        \
             for: 5m\n        labels:\n          severity: warning\n        annotations:\n          \
             summary: untested\n          description: an alert nobody tested\n          \
             runbook_url: https://example.test/runbooks/GodelUntested.md\n"
    });
    std::fs::copy(
        dir.path().join("runbooks/GodelDown.md"),
        dir.path().join("runbooks/GodelUntested.md"),
    )
    .unwrap();
    assert_one_failure(
        dir.path(),
        &[
            "rules/prober.alerts.yaml",
            "alert GodelUntested has no alert_rule_test",
        ],
    );
}

#[test]
fn panel_without_the_datasource_variable_fails() {
    let dir = checkout();
    edit_json(dir.path(), "dashboards/prober-internals.json", |d| {
        first_query_panel(d)["datasource"] =
            serde_json::json!({"type": "prometheus", "uid": "prometheus"});
    });
    assert_one_failure(
        dir.path(),
        &[
            "dashboards/prober-internals.json",
            "does not use the datasource variable",
        ],
    );
}

#[test]
fn junit_report_has_one_testcase_per_check_and_the_defect_as_failure() {
    let dir = checkout();
    std::fs::copy(
        dir.path().join("runbooks/GodelDown.md"),
        dir.path().join("runbooks/GodelGone.md"),
    )
    .unwrap();
    let report = dir.path().join("selftest.xml");
    let out = selftest(&[
        "--static-only",
        "--assets",
        dir.path().to_str().unwrap(),
        "--format",
        "junit",
        "--output",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("1 failed"), "summary on stdout");
    let xml = std::fs::read_to_string(&report).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(root.attribute("tests"), Some(cases.to_string().as_str()));
    assert!(cases > 20);
    let failures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0]
            .attribute("message")
            .unwrap()
            .contains("runbooks/GodelGone.md: orphaned")
    );
    assert!(doc.descendants().any(|n| n.has_tag_name("skipped")
        && n.attribute("message") == Some("no chart: charts/godel-prober/ missing")));
}

#[test]
fn json_report_lists_every_check() {
    let out = selftest(&["--static-only", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["failed"], 0);
    let checks = v["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .all(|c| c["name"].is_string() && c["status"].is_string())
    );
    assert!(
        checks
            .iter()
            .any(|c| c["group"] == "live" && c["status"] == "skip")
    );
}

#[test]
fn bad_assets_dir_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = selftest(&["--static-only", "--assets", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_full_selftest_passes_against_the_simulator() {
    let out = selftest(&[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for fault in [
        "latency",
        "error_rate",
        "auth_bypass",
        "stuck_agents",
        "unready",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("PASS") && l.contains(&format!("fault {fault}"))),
            "fault {fault} checked: {text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("PASS") && l.contains("live: judge")),
        "{text}"
    );
}

/// A P99 budget the dashboards do not show: the P99 panels' threshold line would lie.
#[test]
fn a_p99_budget_missing_from_the_dashboards_fails() {
    let dir = tempfile::tempdir().unwrap();
    let default = Command::new(env!("CARGO_BIN_EXE_prober"))
        .args(["config", "print-default"])
        .output()
        .unwrap();
    let cfg = String::from_utf8(default.stdout)
        .unwrap()
        .replace("under = \"200ms\"", "under = \"150ms\"");
    assert!(cfg.contains("under = \"150ms\""));
    let file = dir.path().join("p.toml");
    std::fs::write(&file, cfg).unwrap();
    let out = selftest(&["--static-only", "--config", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = text.lines().find(|l| l.contains("SLO thresholds")).unwrap();
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(
        line.contains("dashboards/godel-synthetic-overview.json") && line.contains("0.15"),
        "{line}"
    );
}
