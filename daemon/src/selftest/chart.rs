//! Chart check: the chart's generated copies of the rules and dashboards
//! (`charts/godel-prober/files/{rules,dashboards}/`) are byte-identical to the sources
//! (`rules/*.yaml`, not the tests, and `dashboards/*.json`): no copy differs, none is missing,
//! none is extra. Without a checkout (built-in assets) or without the chart directory the check
//! is reported as skipped, visibly, never as passed.

use std::collections::BTreeSet;

use super::{Assets, Item};

const GROUP: &str = "chart";

/// Where the chart lives in a checkout.
pub const CHART_DIR: &str = "charts/godel-prober";

/// The copied sources: (subfolder, file suffix).
const COPIED: [(&str, &str); 2] = [("rules", ".yaml"), ("dashboards", ".json")];

/// Run the chart check.
pub fn check(assets: &Assets) -> Item {
    let Some(root) = assets.root.as_ref() else {
        return Item::skip(
            GROUP,
            "chart",
            format!("built-in assets: no {CHART_DIR}/ to compare (use --assets)"),
        );
    };
    let chart = CHART_DIR.split('/').fold(root.clone(), |p, s| p.join(s));
    if !chart.is_dir() {
        return Item::skip(GROUP, "chart", format!("no chart: {CHART_DIR}/ missing"));
    }
    let files = chart.join("files");
    let fix = "regenerate: scripts/sync-chart-assets";
    let mut defects = Vec::new();
    let mut n = 0;
    for (sub, suffix) in COPIED {
        let prefix = format!("{sub}/");
        let dir = files.join(sub);
        let mut expected = BTreeSet::new();
        for (rel, contents) in assets.matching(&prefix, &[suffix]) {
            n += 1;
            let name = &rel[prefix.len()..];
            expected.insert(name.to_string());
            let copy = dir.join(name);
            match std::fs::read(&copy) {
                Ok(c) if c == contents.as_bytes() => {}
                Ok(_) => defects.push(format!("{} differs from {rel} ({fix})", copy.display())),
                Err(_) => {
                    defects.push(format!("{} missing (copy of {rel}; {fix})", copy.display()))
                }
            }
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut extra: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !expected.contains(name))
            .collect();
        extra.sort();
        for name in extra {
            defects.push(format!(
                "{} extra: no {sub}/{name} to be a copy of ({fix})",
                dir.join(&name).display()
            ));
        }
    }
    Item::from_defects(
        GROUP,
        "chart: copies of rules and dashboards",
        format!("{n} files identical in {}", files.display()),
        defects,
    )
}
