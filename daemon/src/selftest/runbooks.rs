//! Runbook checks: one `runbooks/<AlertName>.md` per alert, none without an alert, and each
//! with the sections on-call needs as `##` headings.

use std::collections::BTreeMap;

use super::{Assets, Item};

const GROUP: &str = "runbooks";
/// The `##` sections every runbook has, in this order.
pub const SECTIONS: [&str; 5] = ["Meaning", "Impact", "Diagnosis", "Mitigation", "Escalation"];
/// Files in `runbooks/` that are not runbooks.
const NOT_RUNBOOKS: [&str; 1] = ["README.md"];

/// Run the runbook checks, appending items. `alerts`: alert name → the rule file defining it.
pub fn check(assets: &Assets, alerts: &BTreeMap<String, String>, items: &mut Vec<Item>) {
    let runbooks: Vec<(&str, &str, &str)> = assets
        .matching("runbooks/", &[".md"])
        .filter_map(|(path, text)| {
            let file = path.strip_prefix("runbooks/")?;
            (!NOT_RUNBOOKS.contains(&file)).then_some((path, file.strip_suffix(".md")?, text))
        })
        .collect();
    let missing: Vec<String> = alerts
        .iter()
        .filter(|(a, _)| !runbooks.iter().any(|(_, name, _)| name == *a))
        .map(|(a, file)| format!("{file}: alert {a} has no runbook runbooks/{a}.md"))
        .collect();
    items.push(Item::from_defects(
        GROUP,
        "runbooks: one per alert",
        format!("{} alerts, each with a runbook", alerts.len()),
        missing,
    ));
    for (path, name, text) in &runbooks {
        let mut defects = Vec::new();
        if !alerts.contains_key(*name) {
            defects.push(format!("{path}: orphaned: no alert named {name} in rules/"));
        }
        let headings: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("## "))
            .map(str::trim)
            .collect();
        for s in SECTIONS {
            if !headings.iter().any(|h| is_section(h, s)) {
                defects.push(format!("{path}: no \"## {s}\" section"));
            }
        }
        items.push(Item::from_defects(
            GROUP,
            path.to_string(),
            format!("alert {name}; sections {}", SECTIONS.join(", ")),
            defects,
        ));
    }
}

/// `Diagnosis` matches `Diagnosis`, `diagnosis` and `Diagnosis (first 5 minutes)`.
fn is_section(heading: &str, section: &str) -> bool {
    heading.len() >= section.len()
        && heading[..section.len()].eq_ignore_ascii_case(section)
        && !heading[section.len()..].starts_with(|c: char| c.is_alphanumeric())
}
