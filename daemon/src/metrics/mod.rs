//! Metrics: the catalog (every metric, one list) and the exposition formats.

pub mod catalog;
pub mod exposition;

use crate::cli::ReportFormat;

/// `prober metrics catalog`: the catalog as a table or JSON (for selftest and the docs).
pub fn catalog_listing(format: ReportFormat) -> String {
    match format {
        ReportFormat::Json => {
            let json = serde_json::to_string_pretty(catalog::CATALOG).unwrap_or_default();
            format!("{json}\n")
        }
        ReportFormat::Text => {
            let mut out = String::new();
            for m in catalog::CATALOG {
                out.push_str(&format!(
                    "{:<46} {:<9} {:<26} {}\n",
                    m.name,
                    m.kind.as_str(),
                    if m.labels.is_empty() {
                        "-".to_string()
                    } else {
                        m.labels.join(",")
                    },
                    m.help
                ));
            }
            out
        }
    }
}
