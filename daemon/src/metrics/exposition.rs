//! `/metrics` bodies: OpenMetrics (what prometheus-client writes) or the Prometheus text format
//! 0.0.4, chosen from the scraper's `Accept` header. Prometheus prefers OpenMetrics; `curl`,
//! `promtool check metrics` and older scrapers get 0.0.4.

use prometheus_client::registry::Registry;

use super::catalog::{CATALOG, MetricType};

/// Content type of the OpenMetrics text format.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The two exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// Prometheus text 0.0.4.
    PrometheusText,
}

impl Format {
    /// The `Content-Type` to answer with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS,
            Format::PrometheusText => PROMETHEUS_TEXT,
        }
    }
}

/// Pick the format from an `Accept` header: OpenMetrics when the client ranks it at least as
/// high as plain text (by `q`), else 0.0.4. No header means 0.0.4.
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::PrometheusText;
    };
    let (mut openmetrics, mut text) = (0.0_f64, 0.0_f64);
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f64>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/openmetrics-text" => openmetrics = openmetrics.max(q),
            "text/plain" | "text/*" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    if openmetrics > 0.0 && openmetrics >= text {
        Format::OpenMetrics
    } else {
        Format::PrometheusText
    }
}

/// Encode `registry` in `format`.
pub fn encode(registry: &Registry, format: Format) -> String {
    let mut openmetrics = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail; an encoder error would be a bug in a label value.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut openmetrics, registry) {
        tracing::error!(error = %e, "cannot encode metrics");
    }
    let openmetrics = type_summaries(openmetrics);
    match format {
        Format::OpenMetrics => openmetrics,
        Format::PrometheusText => to_prometheus_text(&openmetrics),
    }
}

/// Percentiles over a sliding window with a `quantile` label are what a summary is (promtool
/// rejects a `quantile` label on a gauge); prometheus-client has no summary type, so the
/// catalog's summaries are registered as gauge families and typed here.
fn type_summaries(mut text: String) -> String {
    for info in CATALOG.iter().filter(|m| m.kind == MetricType::Summary) {
        let gauge = format!("# TYPE {} gauge\n", info.name);
        let summary = format!("# TYPE {} summary\n", info.name);
        text = text.replacen(&gauge, &summary, 1);
    }
    text
}

/// OpenMetrics → Prometheus 0.0.4: counters' `# HELP`/`# TYPE` name the `_total` series, and
/// `# UNIT` and `# EOF` go. Samples, labels and escaping are the same in both formats for what
/// we export (help texts are plain ASCII, checked by the catalog's tests).
fn to_prometheus_text(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some(name) = rest.strip_suffix(" counter")
        {
            counters.insert(name);
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;

    #[test]
    fn prometheus_prefers_openmetrics_curl_gets_text() {
        // Prometheus 2.x/3.x scrape Accept headers.
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assert_eq!(negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(negotiate(Some("*/*")), Format::PrometheusText);
        assert_eq!(negotiate(None), Format::PrometheusText);
        assert_eq!(
            negotiate(Some(
                "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"
            )),
            Format::PrometheusText
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text; version=1.0.0")),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text;q=0")),
            Format::PrometheusText
        );
    }

    #[test]
    fn counters_are_renamed_for_the_text_format() {
        let mut registry = Registry::default();
        let c: Counter = Counter::default();
        c.inc();
        registry.register("runs", "Runs", c);
        let om = encode(&registry, Format::OpenMetrics);
        assert!(
            om.contains("# TYPE runs counter") && om.ends_with("# EOF\n"),
            "{om}"
        );
        let text = encode(&registry, Format::PrometheusText);
        assert_eq!(
            text,
            "# HELP runs_total Runs.\n# TYPE runs_total counter\nruns_total 1\n"
        );
    }
}
