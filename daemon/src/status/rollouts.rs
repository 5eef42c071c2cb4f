//! The status page's rollout section: per guarded release the verdict of its current or last
//! analysis, gate by gate, and the last rollback decision. Every string is escaped.

use std::fmt::Write as _;

use super::model::StatusSnapshot;
use super::page::format::{escape, fmt_utc};

/// Append the rollout table (nothing without a guard).
pub fn rollout_table(out: &mut String, s: &StatusSnapshot) {
    if s.rollouts.is_empty() {
        return;
    }
    out.push_str(
        "<h2>Rollouts</h2><table class=\"rollouts\"><thead><tr><th>release</th><th>verdict</th>\
         <th>revision</th><th>since</th><th>gates</th><th>last rollback</th></tr></thead><tbody>\n",
    );
    for r in &s.rollouts {
        let class = match r.verdict.as_str() {
            "pass" => "pass",
            "fail" => "fail",
            "idle" => "pend",
            _ => "inc",
        };
        let gates: Vec<String> = r
            .gates
            .iter()
            .map(|g| {
                let mark = match g.verdict {
                    "pass" => "✔",
                    "fail" => "✖",
                    _ => "?",
                };
                format!(
                    "<span title=\"{}\">{mark} {}</span>",
                    escape(&g.reason),
                    escape(g.gate)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "<tr class=\"row-{class}\"><td><b>{}/{}</b><br><span class=\"muted\">deployment {}</span></td>\
             <td><span class=\"badge {class}\">{}</span>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.namespace),
            escape(&r.release),
            escape(&r.deployment),
            escape(&r.verdict.to_uppercase()),
            if r.consecutive_failures > 0 {
                format!("<br>{} failing in a row", r.consecutive_failures)
            } else {
                String::new()
            },
            escape(r.revision.as_deref().unwrap_or("—")),
            r.started_at.map(fmt_utc).unwrap_or_else(|| "—".into()),
            gates.join(" · "),
            escape(r.last_rollback.as_deref().unwrap_or("—")),
        );
    }
    out.push_str("</tbody></table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::fixture::snapshot;
    use crate::status::model::{GateStatus, RolloutStatus};

    #[test]
    fn a_failed_analysis_shows_its_gates_and_the_rollback() {
        let mut s = snapshot();
        let mut out = String::new();
        rollout_table(&mut out, &s);
        assert!(out.is_empty(), "no guard, no section");
        s.rollouts.push(RolloutStatus {
            namespace: "godel".into(),
            deployment: "godel".into(),
            release: "godel<x>".into(),
            verdict: "fail".into(),
            revision: Some("7".into()),
            started_at: Some(s.now - 60.0),
            gates: vec![GateStatus {
                gate: "NFR3",
                verdict: "fail",
                value: Some(0.3),
                threshold: 0.2,
                samples: 80,
                reason: "P99 latency (s) 0.300 > 0.200 over 80 samples".into(),
            }],
            consecutive_failures: 3,
            last_rollback: Some("success: godel 7 → 6".into()),
        });
        rollout_table(&mut out, &s);
        assert!(
            out.contains("badge fail\">FAIL") && out.contains("✖ NFR3"),
            "{out}"
        );
        assert!(
            out.contains("0.300 &gt; 0.200") || out.contains("0.300 > 0.200"),
            "{out}"
        );
        assert!(out.contains("godel&lt;x&gt;") && out.contains("success: godel 7 → 6"));
        assert!(out.contains("3 failing in a row"));
    }
}
