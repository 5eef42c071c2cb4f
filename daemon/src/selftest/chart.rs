//! Chart check: the chart's generated copies of the rules and dashboards
//! (`charts/prober/files/…`) are byte-identical to the sources. Until the chart exists the
//! check is reported as skipped, visibly, never as passed.

use super::{Assets, Item};

const GROUP: &str = "chart";

/// Run the chart check.
pub fn check(assets: &Assets) -> Item {
    let Some(chart) = assets
        .root
        .as_ref()
        .map(|r| r.join("charts").join("prober"))
        .filter(|c| c.is_dir())
    else {
        return Item::skip(GROUP, "chart", "no chart yet: charts/prober/ missing");
    };
    let files = chart.join("files");
    let mut defects = Vec::new();
    let mut n = 0;
    for (rel, contents) in assets
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("rules/") || p.starts_with("dashboards/"))
    {
        n += 1;
        let copy = rel.split('/').fold(files.clone(), |p, part| p.join(part));
        match std::fs::read_to_string(&copy) {
            Ok(c) if c == *contents => {}
            Ok(_) => defects.push(format!(
                "{} differs from {rel} (regenerate: prober assets export {})",
                copy.display(),
                files.display()
            )),
            Err(_) => defects.push(format!("{} missing (copy of {rel})", copy.display())),
        }
    }
    Item::from_defects(
        GROUP,
        "chart: copies of rules and dashboards",
        format!("{n} files identical in {}", files.display()),
        defects,
    )
}
