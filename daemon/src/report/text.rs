//! The text table `prober check` prints.

use prober_probes::Verdict;
use prober_probes::expect::fmt_duration;

use super::{ProbeResult, summarize};

/// A fixed-width table, one row per probe, then a summary line.
pub fn table(target: &str, results: &[ProbeResult]) -> String {
    let name_w = results
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!("target {target}\n\n");
    out.push_str(&format!(
        "{:<name_w$}  {:<11}  {:<12}  {:>9}  {:<17}  MESSAGE\n",
        "PROBE", "KIND", "RESULT", "DURATION", "REASON"
    ));
    for r in results {
        let (result, reason) = match r.outcome.verdict {
            Verdict::Success => ("ok", String::new()),
            Verdict::Failure(reason) => ("FAIL", reason.as_label().to_string()),
            Verdict::Inconclusive => ("inconclusive", String::new()),
        };
        out.push_str(&format!(
            "{:<name_w$}  {:<11}  {:<12}  {:>9}  {:<17}  {}\n",
            r.name,
            r.kind.as_label(),
            result,
            fmt_duration(r.outcome.duration),
            reason,
            one_line(&r.outcome.message),
        ));
    }
    let s = summarize(results);
    out.push_str(&format!(
        "\n{} probes: {} passed, {} failed, {} inconclusive ({})\n",
        results.len(),
        s.passed,
        s.failed,
        s.inconclusive,
        fmt_duration(s.duration)
    ));
    out
}

/// Messages are one line in a table; control characters from a target never reach a terminal.
fn one_line(message: &str) -> String {
    message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
