//! PromQL for the self-test: parse an expression (after substituting Grafana's variables),
//! collect the metric names it reads, and decide whether a name is one we know: the binary's
//! catalog (with the series a histogram or summary expands to), a recording rule of ours, or a
//! short explicit list of external metrics.

use std::collections::BTreeSet;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, VectorSelector};

use crate::metrics::catalog::{CATALOG, MetricType};

/// Metrics we read but do not export: Prometheus's own series.
const EXTERNAL: &[&str] = &["up", "ALERTS", "ALERTS_FOR_STATE"];
/// Prefixes of external metric families (kube-state-metrics).
const EXTERNAL_PREFIXES: &[&str] = &["kube_"];

/// The metric names an expression may read.
#[derive(Debug, Clone, Default)]
pub struct Known {
    names: BTreeSet<String>,
}

impl Known {
    /// The catalog's series names plus `recording` (our recording rules).
    pub fn new(recording: impl IntoIterator<Item = String>) -> Self {
        let mut names: BTreeSet<String> = recording.into_iter().collect();
        for m in CATALOG {
            names.insert(m.name.to_string());
            let suffixes: &[&str] = match m.kind {
                MetricType::Histogram => &["_bucket", "_sum", "_count"],
                MetricType::Summary => &["_sum", "_count"],
                MetricType::Counter | MetricType::Gauge => &[],
            };
            for s in suffixes {
                names.insert(format!("{}{s}", m.name));
            }
        }
        Known { names }
    }

    /// Whether `name` is ours or allowed.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
            || EXTERNAL.contains(&name)
            || EXTERNAL_PREFIXES.iter().any(|p| name.starts_with(p))
    }

    /// The names of `expr` that are not known, sorted.
    pub fn unknown(&self, expr: &Expr) -> Vec<String> {
        let mut names = BTreeSet::new();
        metric_names(expr, &mut names);
        names.into_iter().filter(|n| !self.contains(n)).collect()
    }
}

/// Parse PromQL; the error is the parser's message.
pub fn parse(expr: &str) -> Result<Expr, String> {
    parser::parse(expr).map_err(|e| e.trim().replace('\n', " "))
}

/// Every metric name `expr` selects: vector selectors' names and `__name__="…"` matchers.
pub fn metric_names(expr: &Expr, out: &mut BTreeSet<String>) {
    match expr {
        Expr::Aggregate(a) => {
            metric_names(&a.expr, out);
            if let Some(p) = &a.param {
                metric_names(p, out);
            }
        }
        Expr::Unary(u) => metric_names(&u.expr, out),
        Expr::Binary(b) => {
            metric_names(&b.lhs, out);
            metric_names(&b.rhs, out);
        }
        Expr::Paren(p) => metric_names(&p.expr, out),
        Expr::Subquery(s) => metric_names(&s.expr, out),
        Expr::VectorSelector(vs) => selector_names(vs, out),
        Expr::MatrixSelector(ms) => selector_names(&ms.vs, out),
        Expr::Call(c) => {
            for a in &c.args.args {
                metric_names(a, out);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn selector_names(vs: &VectorSelector, out: &mut BTreeSet<String>) {
    if let Some(n) = &vs.name {
        out.insert(n.clone());
    }
    let or = vs.matchers.or_matchers.iter().flatten();
    for m in vs.matchers.matchers.iter().chain(or) {
        if m.name == "__name__" && matches!(m.op, MatchOp::Equal) {
            out.insert(m.value.clone());
        }
    }
}

/// Replace Grafana's variables so the query parses: interval variables become `5m` (or their
/// number of seconds or milliseconds), every other variable (`$namespace`, `${probe:regex}`,
/// `[[x]]`) becomes `x`.
pub fn substitute_grafana(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(i) = rest.find(['$', '[']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(inner) = tail.strip_prefix("[[")
            && let Some(end) = inner.find("]]")
            && is_ident(&inner[..end])
        {
            out.push_str(value_of(&inner[..end]));
            rest = &inner[end + 2..];
        } else if let Some(inner) = tail.strip_prefix("${")
            && let Some(end) = inner.find('}')
        {
            let name = inner[..end].split(':').next().unwrap_or_default();
            out.push_str(value_of(name));
            rest = &inner[end + 1..];
        } else if let Some(inner) = tail.strip_prefix('$') {
            let end = inner
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(inner.len());
            if end == 0 {
                out.push('$');
            } else {
                out.push_str(value_of(&inner[..end]));
            }
            rest = &inner[end..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn value_of(name: &str) -> &'static str {
    match name {
        "__rate_interval" | "__interval" | "__range" => "5m",
        "__rate_interval_ms" | "__interval_ms" | "__range_ms" => "300000",
        "__range_s" | "__interval_s" => "300",
        _ => "x",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_grafana_variables() {
        assert_eq!(
            substitute_grafana(
                r#"rate(a{ns=~"$namespace",p="${probe:regex}"}[$__rate_interval]) * $__range_s"#
            ),
            r#"rate(a{ns=~"x",p="x"}[5m]) * 300"#
        );
        assert_eq!(substitute_grafana("b[[x]] [5m] $"), "bx [5m] $");
    }

    #[test]
    fn collects_names_including_recording_rules_and_name_matchers() {
        let e = parse(
            r#"sum(rate(prober_probe_runs_total[5m])) / probe:prober_probe_runs:rate5m + on() {__name__="up"} + time()"#,
        )
        .unwrap();
        let mut names = BTreeSet::new();
        metric_names(&e, &mut names);
        let names: Vec<_> = names.into_iter().collect();
        assert_eq!(
            names,
            [
                "probe:prober_probe_runs:rate5m",
                "prober_probe_runs_total",
                "up"
            ]
        );
    }

    #[test]
    fn known_expands_histograms_and_allows_externals() {
        let k = Known::new(["a:b:c".to_string()]);
        for n in [
            "prober_probe_duration_seconds_bucket",
            "prober_latency_seconds",
            "prober_probe_runs_total",
            "a:b:c",
            "up",
            "kube_deployment_status_replicas",
        ] {
            assert!(k.contains(n), "{n}");
        }
        assert!(!k.contains("prober_probe_runs"));
        assert!(!k.contains("prober_probe_sucess"));
    }
}
