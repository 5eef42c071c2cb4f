//! Rule checks: every `rules/*.yaml` has the Prometheus rule-file shape, every `expr` parses,
//! every alert has a severity, summary, description and a `runbook_url` to a runbook we ship,
//! every metric a rule reads is known, and every alert has a promtool unit test in
//! `rules/tests/*.test.yaml`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::promql::{self, Known};
use super::{Assets, Item};

const GROUP: &str = "rules";
/// The severities an alert may carry.
pub const SEVERITIES: [&str; 3] = ["critical", "warning", "info"];
/// Annotations every alert must have.
const ANNOTATIONS: [&str; 3] = ["summary", "description", "runbook_url"];

/// A Prometheus rule file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<Group>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    name: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    query_offset: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    alert: Option<String>,
    expr: String,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl Rule {
    fn name(&self) -> &str {
        self.alert
            .as_deref()
            .or(self.record.as_deref())
            .unwrap_or("(unnamed)")
    }
}

/// A promtool unit-test file (only what the coverage check needs).
#[derive(Debug, Deserialize)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    tests: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
struct TestCase {
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
}

#[derive(Debug, Deserialize)]
struct AlertTest {
    alertname: String,
}

/// What the other checks need from the rules.
#[derive(Debug, Default)]
pub struct RulesInfo {
    /// Alert names, with the file defining each.
    pub alerts: BTreeMap<String, String>,
    /// Known metric names (catalog, recording rules, externals).
    pub known: Known,
}

/// Whether `path` is a rule file (not a test).
fn is_rule_file(path: &str) -> bool {
    path.strip_prefix("rules/")
        .is_some_and(|r| !r.contains('/') && (r.ends_with(".yaml") || r.ends_with(".yml")))
}

/// Run the rule checks, appending items; returns what dashboards and runbooks need.
pub fn check(assets: &Assets, items: &mut Vec<Item>) -> RulesInfo {
    let mut parsed: Vec<(&str, RuleFile)> = Vec::new();
    for (path, text) in assets.files.iter().map(|(p, c)| (p.as_str(), c.as_str())) {
        if !is_rule_file(path) {
            continue;
        }
        match parse_rule_file(text) {
            Ok(f) => {
                items.push(Item::verdict(
                    GROUP,
                    format!("{path}: yaml"),
                    true,
                    format!("{} groups, {} rules", f.groups.len(), count_rules(&f)),
                ));
                parsed.push((path, f));
            }
            Err(e) => items.push(Item::verdict(
                GROUP,
                format!("{path}: yaml"),
                false,
                format!("{path}: not a Prometheus rule file: {e}"),
            )),
        }
    }
    if parsed.is_empty() && !items.iter().any(|i| i.group == GROUP) {
        items.push(Item::verdict(
            GROUP,
            "rules",
            false,
            format!("no rule files under rules/ in {}", assets.origin),
        ));
    }
    let recording: Vec<String> = parsed
        .iter()
        .flat_map(|(_, f)| f.groups.iter().flat_map(|g| &g.rules))
        .filter_map(|r| r.record.clone())
        .collect();
    let known = Known::new(recording);
    let runbooks: BTreeSet<&str> = assets
        .matching("runbooks/", &[".md"])
        .map(|(p, _)| p)
        .collect();
    let mut alerts = BTreeMap::new();
    for (path, file) in &parsed {
        let rules: Vec<&Rule> = file.groups.iter().flat_map(|g| &g.rules).collect();
        let mut shape = Vec::new();
        let mut group_names = BTreeSet::new();
        for g in &file.groups {
            if !group_names.insert(g.name.as_str()) {
                shape.push(format!("{path}: group {} defined twice", g.name));
            }
            let _ = (&g.interval, &g.limit, &g.query_offset, &g.labels);
        }
        for r in &rules {
            match (&r.record, &r.alert) {
                (Some(_), Some(_)) => shape.push(format!(
                    "{path}: rule {} has both record and alert",
                    r.name()
                )),
                (None, None) => shape.push(format!("{path}: a rule has neither record nor alert")),
                (Some(_), None) if r.for_.is_some() || r.keep_firing_for.is_some() => {
                    shape.push(format!("{path}: recording rule {} has `for`", r.name()))
                }
                (Some(_), None) if !r.annotations.is_empty() => shape.push(format!(
                    "{path}: recording rule {} has annotations",
                    r.name()
                )),
                _ => {}
            }
            if let Some(a) = &r.alert
                && alerts.insert(a.clone(), (*path).to_string()).is_some()
            {
                shape.push(format!("{path}: alert {a} defined twice"));
            }
        }
        items.push(Item::from_defects(
            GROUP,
            format!("{path}: shape"),
            "every rule is a record or an alert",
            shape,
        ));

        let mut syntax = Vec::new();
        let mut unknown = Vec::new();
        for r in &rules {
            match promql::parse(&r.expr) {
                Ok(expr) => {
                    let missing = known.unknown(&expr);
                    if !missing.is_empty() {
                        unknown.push(format!(
                            "{path}: rule {} uses unknown metric {}",
                            r.name(),
                            missing.join(", ")
                        ));
                    }
                }
                Err(e) => syntax.push(format!(
                    "{path}: rule {}: expr is not valid PromQL: {e}",
                    r.name()
                )),
            }
        }
        items.push(Item::from_defects(
            GROUP,
            format!("{path}: promql"),
            format!("{} expressions parse", rules.len()),
            syntax,
        ));
        items.push(Item::from_defects(
            GROUP,
            format!("{path}: metrics"),
            "every metric is in the catalog, a recording rule or allowed",
            unknown,
        ));

        let mut fields = Vec::new();
        let mut links = Vec::new();
        let mut n_alerts = 0;
        for r in rules.iter().filter(|r| r.alert.is_some()) {
            n_alerts += 1;
            let name = r.name();
            match r.labels.get("severity") {
                None => fields.push(format!("{path}: alert {name} has no labels.severity")),
                Some(s) if !SEVERITIES.contains(&s.as_str()) => fields.push(format!(
                    "{path}: alert {name} has severity {s:?} (expected one of {})",
                    SEVERITIES.join(", ")
                )),
                Some(_) => {}
            }
            for a in ANNOTATIONS {
                if r.annotations.get(a).is_none_or(|v| v.trim().is_empty()) {
                    fields.push(format!("{path}: alert {name} has no annotations.{a}"));
                }
            }
            if let Some(url) = r.annotations.get("runbook_url") {
                match runbook_of(url) {
                    None => links.push(format!(
                        "{path}: alert {name}: runbook_url {url} does not end in runbooks/<File>.md"
                    )),
                    Some(file) if !runbooks.contains(format!("runbooks/{file}").as_str()) => links
                        .push(format!(
                            "{path}: alert {name}: runbook_url {url} names runbooks/{file}, which does not exist"
                        )),
                    Some(_) => {}
                }
            }
        }
        if n_alerts > 0 {
            items.push(Item::from_defects(
                GROUP,
                format!("{path}: alert fields"),
                format!("{n_alerts} alerts have severity, summary, description and runbook_url"),
                fields,
            ));
            items.push(Item::from_defects(
                GROUP,
                format!("{path}: runbook links"),
                format!("{n_alerts} runbook_urls resolve to runbooks/"),
                links,
            ));
        }
    }
    coverage(assets, &alerts, items);
    RulesInfo { alerts, known }
}

fn count_rules(f: &RuleFile) -> usize {
    f.groups.iter().map(|g| g.rules.len()).sum()
}

fn parse_rule_file(text: &str) -> Result<RuleFile, String> {
    serde_saphyr::from_str(text).map_err(|e| e.to_string().replace('\n', " "))
}

/// The file name a runbook URL points to: `…/runbooks/GodelDown.md` → `GodelDown.md`.
pub fn runbook_of(url: &str) -> Option<&str> {
    let url = url.split(['#', '?']).next().unwrap_or(url);
    let (_, file) = url.rsplit_once("runbooks/")?;
    (file.ends_with(".md") && file.len() > 3 && !file.contains('/')).then_some(file)
}

/// Every alert has at least one `alert_rule_test` in `rules/tests/*.test.yaml`, and every test
/// file parses and names rule files that exist.
fn coverage(assets: &Assets, alerts: &BTreeMap<String, String>, items: &mut Vec<Item>) {
    let mut tested: BTreeSet<String> = BTreeSet::new();
    let mut n_files = 0;
    for (path, text) in assets.matching("rules/tests/", &[".test.yaml", ".test.yml"]) {
        n_files += 1;
        match serde_saphyr::from_str::<TestFile>(text) {
            Ok(t) => {
                let mut defects = Vec::new();
                for rf in &t.rule_files {
                    let target = resolve("rules/tests", rf);
                    if !assets.files.iter().any(|(p, _)| *p == target) {
                        defects.push(format!("{path}: rule_files entry {rf} does not exist"));
                    }
                }
                for a in t.tests.iter().flat_map(|c| &c.alert_rule_test) {
                    if !alerts.contains_key(&a.alertname) {
                        defects.push(format!(
                            "{path}: tests alert {}, which no rule file defines",
                            a.alertname
                        ));
                    }
                    tested.insert(a.alertname.clone());
                }
                items.push(Item::from_defects(
                    GROUP,
                    format!("{path}: yaml"),
                    format!("{} test cases", t.tests.len()),
                    defects,
                ));
            }
            Err(e) => items.push(Item::verdict(
                GROUP,
                format!("{path}: yaml"),
                false,
                format!(
                    "{path}: not a promtool test file: {}",
                    e.to_string().replace('\n', " ")
                ),
            )),
        }
    }
    let defects: Vec<String> = alerts
        .iter()
        .filter(|(a, _)| !tested.contains(*a))
        .map(|(a, file)| {
            format!("{file}: alert {a} has no alert_rule_test in rules/tests/*.test.yaml")
        })
        .collect();
    items.push(Item::from_defects(
        GROUP,
        "rules/tests: alert coverage",
        format!(
            "{} alerts, each tested in {n_files} test files",
            alerts.len()
        ),
        defects,
    ));
}

/// `rules/tests` + `../prober.rules.yaml` → `rules/prober.rules.yaml`.
fn resolve(base: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = base.split('/').collect();
    for p in rel.split('/') {
        match p {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runbook_urls() {
        assert_eq!(
            runbook_of("https://x/blob/main/runbooks/GodelDown.md#diagnosis"),
            Some("GodelDown.md")
        );
        assert_eq!(runbook_of("https://x/runbooks/"), None);
        assert_eq!(runbook_of("https://x/docs/GodelDown.md"), None);
    }

    #[test]
    fn resolves_rule_files_relative_to_the_tests() {
        assert_eq!(
            resolve("rules/tests", "../prober.rules.yaml"),
            "rules/prober.rules.yaml"
        );
    }
}
