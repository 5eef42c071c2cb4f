//! Dashboard checks: every `dashboards/*.json` is valid JSON with a `uid` unique across the
//! dashboards, unique panel ids (rows' nested panels included), a `datasource` template
//! variable of type `datasource` that every panel and query uses (no hard-coded data source),
//! and queries that parse as PromQL (after substituting Grafana's variables) and read only
//! known metrics.

use std::collections::BTreeMap;

use serde_json::Value;

use super::promql::{self, Known};
use super::{Assets, Item};

const GROUP: &str = "dashboards";
/// The only data-source uids a panel or query may use.
const DS_VARS: [&str; 2] = ["${datasource}", "$datasource"];

/// Run the dashboard checks, appending items.
pub fn check(assets: &Assets, known: &Known, items: &mut Vec<Item>) {
    let mut uids: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut n = 0;
    for (path, text) in assets.matching("dashboards/", &[".json"]) {
        n += 1;
        let dash: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                items.push(Item::verdict(
                    GROUP,
                    format!("{path}: json"),
                    false,
                    format!("{path}: invalid JSON: {e}"),
                ));
                continue;
            }
        };
        let title = dash["title"].as_str().unwrap_or("(untitled)");
        let mut panels = Vec::new();
        collect_panels(&dash["panels"], &mut panels);
        items.push(Item::verdict(
            GROUP,
            format!("{path}: json"),
            true,
            format!("{title}: {} panels", panels.len()),
        ));
        match dash["uid"].as_str().filter(|u| !u.is_empty()) {
            Some(uid) => uids.entry(uid.to_string()).or_default().push(path),
            None => items.push(Item::verdict(
                GROUP,
                format!("{path}: uid"),
                false,
                format!("{path}: no uid"),
            )),
        }

        let mut ids: BTreeMap<i64, usize> = BTreeMap::new();
        let mut id_defects = Vec::new();
        for p in &panels {
            match p["id"].as_i64() {
                Some(id) => *ids.entry(id).or_default() += 1,
                None => id_defects.push(format!(
                    "{path}: panel {:?} has no numeric id",
                    p["title"].as_str().unwrap_or("")
                )),
            }
        }
        id_defects.extend(
            ids.iter()
                .filter(|(_, c)| **c > 1)
                .map(|(id, c)| format!("{path}: panel id {id} is used by {c} panels")),
        );
        items.push(Item::from_defects(
            GROUP,
            format!("{path}: panel ids"),
            format!("{} unique panel ids", ids.len()),
            id_defects,
        ));

        let vars = dash["templating"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let ds_var = vars
            .iter()
            .find(|v| v["name"].as_str() == Some("datasource"));
        let var_defect = match ds_var.map(|v| v["type"].as_str()) {
            None => vec![format!("{path}: no templating variable named datasource")],
            Some(Some("datasource")) => vec![],
            Some(t) => vec![format!(
                "{path}: templating variable datasource has type {:?}, expected datasource",
                t.unwrap_or("")
            )],
        };
        items.push(Item::from_defects(
            GROUP,
            format!("{path}: datasource variable"),
            "a datasource variable of type datasource",
            var_defect,
        ));

        let mut ds_defects = Vec::new();
        for v in vars.iter().filter(|v| v["type"].as_str() == Some("query")) {
            if !uses_ds_var(&v["datasource"]) {
                ds_defects.push(format!(
                    "{path}: variable {} does not use the datasource variable (datasource {})",
                    v["name"].as_str().unwrap_or("?"),
                    v["datasource"]
                ));
            }
        }
        let mut syntax = Vec::new();
        let mut unknown = Vec::new();
        let mut n_queries = 0;
        for p in &panels {
            let pid = p["id"].as_i64().unwrap_or(-1);
            let ptitle = p["title"].as_str().unwrap_or("");
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            let has_ds = !p["datasource"].is_null();
            if (has_ds || !targets.is_empty()) && !uses_ds_var(&p["datasource"]) {
                ds_defects.push(format!(
                    "{path}: panel {pid} ({ptitle}) does not use the datasource variable (datasource {})",
                    p["datasource"]
                ));
            }
            for (i, t) in targets.iter().enumerate() {
                let refid = t["refId"]
                    .as_str()
                    .map_or_else(|| i.to_string(), String::from);
                if !uses_ds_var(&t["datasource"]) {
                    ds_defects.push(format!(
                        "{path}: panel {pid} ({ptitle}) query {refid} does not use the datasource variable (datasource {})",
                        t["datasource"]
                    ));
                }
                let Some(expr) = t["expr"].as_str() else {
                    continue;
                };
                n_queries += 1;
                match promql::parse(&promql::substitute_grafana(expr)) {
                    Ok(e) => {
                        let missing = known.unknown(&e);
                        if !missing.is_empty() {
                            unknown.push(format!(
                                "{path}: panel {pid} ({ptitle}) query {refid} uses unknown metric {}",
                                missing.join(", ")
                            ));
                        }
                    }
                    Err(e) => syntax.push(format!(
                        "{path}: panel {pid} ({ptitle}) query {refid} is not valid PromQL: {e}"
                    )),
                }
            }
        }
        items.push(Item::from_defects(
            GROUP,
            format!("{path}: panel datasources"),
            "every panel and query uses ${datasource}",
            ds_defects,
        ));
        items.push(Item::from_defects(
            GROUP,
            format!("{path}: promql"),
            format!("{n_queries} queries parse"),
            syntax,
        ));
        items.push(Item::from_defects(
            GROUP,
            format!("{path}: metrics"),
            "every metric is in the catalog, a recording rule or allowed",
            unknown,
        ));
    }
    if n == 0 {
        items.push(Item::verdict(
            GROUP,
            "dashboards",
            false,
            format!("no dashboards under dashboards/ in {}", assets.origin),
        ));
        return;
    }
    let dupes: Vec<String> = uids
        .iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(uid, files)| format!("uid {uid} is used by {}", files.join(" and ")))
        .collect();
    items.push(Item::from_defects(
        GROUP,
        "dashboards: unique uids",
        format!("{} dashboards, unique uids", uids.len()),
        dupes,
    ));
}

/// SLO panels carry the configured thresholds: every panel that plots a P99
/// (`prober_latency_seconds{quantile="0.99"}`) has a threshold step at each configured P99
/// budget (seconds), so the line on the graph is the line the probes and the guard judge by.
pub fn slo_thresholds(assets: &Assets, p99_budgets: &[f64], items: &mut Vec<Item>) {
    if p99_budgets.is_empty() {
        items.push(Item::skip(
            GROUP,
            "SLO thresholds",
            "no P99 budget configured",
        ));
        return;
    }
    let mut panels_checked = 0;
    let mut defects = Vec::new();
    for (path, text) in assets.matching("dashboards/", &[".json"]) {
        let Ok(dash) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        let mut panels = Vec::new();
        collect_panels(&dash["panels"], &mut panels);
        for p in panels {
            let plots_p99 = p["targets"].as_array().into_iter().flatten().any(|t| {
                let e = t["expr"].as_str().unwrap_or("");
                e.contains("prober_latency_seconds") && e.contains("quantile=\"0.99\"")
            });
            if !plots_p99 {
                continue;
            }
            panels_checked += 1;
            let steps: Vec<f64> = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["value"].as_f64())
                .collect();
            for budget in p99_budgets {
                if !steps.iter().any(|v| (v - budget).abs() < 1e-9) {
                    defects.push(format!(
                        "{path}: panel {:?} plots P99 but has no threshold at the configured budget {budget} s (thresholds: {steps:?})",
                        p["title"].as_str().unwrap_or("(untitled)")
                    ));
                }
            }
        }
    }
    let ok = defects.is_empty();
    let message = if ok {
        format!("{panels_checked} P99 panel(s) carry the configured budget(s) {p99_budgets:?} s")
    } else {
        defects.join("; ")
    };
    items.push(Item::verdict(GROUP, "SLO thresholds", ok, message));
}

/// Every panel, rows' nested panels included.
fn collect_panels<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
    for p in panels.as_array().into_iter().flatten() {
        out.push(p);
        collect_panels(&p["panels"], out);
    }
}

/// `{"type": "prometheus", "uid": "${datasource}"}` (or the legacy string form).
fn uses_ds_var(ds: &Value) -> bool {
    let uid = match ds {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => o.get("uid").and_then(Value::as_str),
        _ => None,
    };
    uid.is_some_and(|u| DS_VARS.contains(&u))
}
