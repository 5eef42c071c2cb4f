//! JUnit XML, the format CI systems read: one testcase per probe, failures carry the reason as
//! their type and the message as their text; inconclusive probes are skipped.

use std::fmt::Write as _;

use prober_probes::Verdict;

use super::{ProbeResult, summarize};

/// The JUnit document.
pub fn junit(results: &[ProbeResult]) -> String {
    let s = summarize(results);
    let secs = s.duration.as_secs_f64();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        r#"<testsuites name="prober check" tests="{}" failures="{}" skipped="{}" time="{secs:.3}">"#,
        results.len(),
        s.failed,
        s.inconclusive
    );
    let _ = writeln!(
        out,
        r#"  <testsuite name="prober check" tests="{}" failures="{}" errors="0" skipped="{}" time="{secs:.3}">"#,
        results.len(),
        s.failed,
        s.inconclusive
    );
    for r in results {
        let o = &r.outcome;
        let _ = write!(
            out,
            r#"    <testcase name="{}" classname="prober.{}" time="{:.3}">"#,
            escape(&r.name),
            r.kind.as_label(),
            o.duration.as_secs_f64()
        );
        match o.verdict {
            Verdict::Success => {}
            Verdict::Failure(reason) => {
                let _ = write!(
                    out,
                    "\n      <failure type=\"{0}\" message=\"{0}: {1}\">{1}</failure>\n    ",
                    reason.as_label(),
                    escape(&o.message)
                );
            }
            Verdict::Inconclusive => {
                let _ = write!(
                    out,
                    "\n      <skipped message=\"inconclusive: {}\"/>\n    ",
                    escape(&o.message)
                );
            }
        }
        if o.verdict == Verdict::Success {
            let _ = write!(
                out,
                "\n      <system-out>{}</system-out>\n    ",
                escape(&o.message)
            );
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Escape for XML text and attributes; characters XML 1.0 forbids are dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_invalid_characters() {
        assert_eq!(escape("a<b>&\"'\u{1}c"), "a&lt;b&gt;&amp;&quot;&apos;c");
    }
}
