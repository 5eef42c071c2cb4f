//! The status page: one self-contained HTML5 document rendered on the server from a
//! [`StatusSnapshot`]. Inline CSS only, no JavaScript, no external assets; it refreshes itself
//! with a meta tag. Every string taken from the snapshot is HTML-escaped here, because probe
//! messages can quote whatever a (possibly hostile) target sent.

pub mod format;

use std::fmt::Write as _;

use super::model::{ProbeHealth, ProbeStatus, StatusSnapshot};
use super::sparkline::sparkline;
use format::{escape, fmt_age, fmt_ms, fmt_pct, fmt_utc, truncate};

/// Longest message shown in a row; the full text is in the cell's tooltip.
const MESSAGE_CHARS: usize = 160;

/// Inline stylesheet (kept in its own file so it can be edited as CSS).
const STYLE: &str = include_str!("page.css");

/// The complete HTML document for `s`.
pub fn render(s: &StatusSnapshot) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let count = |h: ProbeHealth| s.probes.iter().filter(|p| p.health == h).count();
    let (pass, fail) = (count(ProbeHealth::Passing), count(ProbeHealth::Failing));
    let (inc, pend) = (
        count(ProbeHealth::Inconclusive),
        count(ProbeHealth::Pending),
    );
    let (class, overall) = match () {
        _ if fail > 0 => ("fail", format!("✖ {fail} FAILING")),
        _ if inc > 0 => ("inc", format!("? {inc} INCONCLUSIVE")),
        _ if !s.ready => ("pend", "… STARTING".to_owned()),
        _ if s.probes.is_empty() => ("pend", "NO PROBES".to_owned()),
        _ => ("pass", format!("✔ ALL {pass} PASSING")),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"10\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{overall} · prober · {}</title><style>{STYLE}</style></head><body>\n<header>\
         <h1>godel-prober <span class=\"overall {class}\">{overall}</span></h1>\
         <p class=\"summary\">{pass} passing · {fail} failing · {inc} inconclusive · {pend} pending \
         · <b>{}</b></p>",
        escape(&s.target),
        if s.ready { "ready" } else { "starting" },
    );
    let failing: Vec<String> = (s.probes.iter().enumerate())
        .filter(|(_, p)| p.health == ProbeHealth::Failing)
        .map(|(i, p)| format!("<a href=\"#p{i}\">{}</a>", escape(&p.name)))
        .collect();
    if !failing.is_empty() {
        let _ = write!(out, "<p class=\"bad\">Failing: {}</p>", failing.join(", "));
    }
    let _ = write!(
        out,
        "<dl><dt>target</dt><dd>{}</dd><dt>config</dt><dd>{}</dd><dt>version</dt><dd>{}</dd>\
         <dt>up since</dt><dd>{} ({})</dd><dt>as of</dt><dd>{}</dd><dt>last reload</dt><dd>",
        escape(&s.target),
        escape(&s.config_source),
        escape(s.version),
        fmt_utc(s.started_at),
        fmt_age(s.now - s.started_at),
        fmt_utc(s.now),
    );
    match &s.last_reload {
        None => out.push_str("none since start"),
        Some(r) if r.success => {
            let _ = write!(
                out,
                "ok, {} ago: {}",
                fmt_age(s.now - r.at),
                escape(&r.message)
            );
        }
        Some(r) => {
            let _ = write!(
                out,
                "<div class=\"reload-failed\"><span class=\"bad\">✖ RELOAD FAILED</span> {} ago \
                 ({}); still running the previous config<pre>{}</pre></div>",
                fmt_age(s.now - r.at),
                fmt_utc(r.at),
                escape(&r.message)
            );
        }
    }
    out.push_str(
        "</dd></dl></header>\n<main><table class=\"probes\"><thead><tr><th>state</th>\
         <th>probe</th><th>last run</th><th>failing</th><th class=\"num\">P50</th>\
         <th class=\"num\">P99</th><th>recent latency</th></tr></thead><tbody>\n",
    );
    for (i, p) in s.probes.iter().enumerate() {
        probe_row(&mut out, i, p, s.now);
    }
    if s.probes.is_empty() {
        out.push_str("<tr><td colspan=\"7\" class=\"muted\">no probes configured</td></tr>");
    }
    out.push_str("</tbody></table>\n");
    nfr_table(&mut out, s);
    super::rollouts::rollout_table(&mut out, s);
    out.push_str(
        "</main>\n<footer>Refreshes every 10 s. <a href=\"/metrics\">/metrics</a> · \
         <a href=\"/api/v1/status\">/api/v1/status</a> (JSON)</footer>\n</body></html>\n",
    );
    out
}

fn probe_row(out: &mut String, i: usize, p: &ProbeStatus, now: f64) {
    let (class, badge) = match p.health {
        ProbeHealth::Passing => ("pass", "✔ PASSING"),
        ProbeHealth::Failing => ("fail", "✖ FAILING"),
        ProbeHealth::Inconclusive => ("inc", "? INCONCLUSIVE"),
        ProbeHealth::Pending => ("pend", "… PENDING"),
    };
    let _ = write!(
        out,
        "<tr id=\"p{i}\" class=\"row-{class}\"><td><span class=\"badge {class}\">{badge}</span>\
         </td><td><div class=\"name\">{}</div><div class=\"sub\">{} · {}</div></td><td>",
        escape(&p.name),
        escape(p.kind),
        escape(&p.schedule),
    );
    match &p.last {
        None => out.push_str("<span class=\"muted\">no run yet</span>"),
        Some(last) => {
            let bad = if last.result == "failure" {
                " class=\"bad\""
            } else {
                ""
            };
            let _ = write!(out, "<span{bad}>{}", escape(last.result));
            if let Some(reason) = last.reason {
                let _ = write!(out, " · {}", escape(reason));
            }
            let _ = write!(
                out,
                "</span> <span class=\"muted\" title=\"{}\">{} ago, took {}</span>",
                fmt_utc(last.at),
                fmt_age(now - last.at),
                fmt_ms(Some(last.duration_seconds))
            );
            if !last.message.is_empty() {
                let _ = write!(
                    out,
                    "<div class=\"msg\" title=\"{}\">{}</div>",
                    escape(&truncate(&last.message, 2000)),
                    escape(&truncate(&last.message, MESSAGE_CHARS))
                );
            }
        }
    }
    out.push_str("</td><td class=\"nowrap\">");
    match p.failing_since {
        Some(since) => {
            let _ = write!(
                out,
                "<span class=\"bad\" title=\"{}\">for {}</span><div class=\"sub\">{} consecutive</div>",
                fmt_utc(since),
                fmt_age(now - since),
                p.consecutive_failures
            );
        }
        None if p.consecutive_failures > 0 => {
            let _ = write!(out, "{} consecutive", p.consecutive_failures);
        }
        None => out.push_str("<span class=\"muted\">—</span>"),
    }
    let _ = writeln!(
        out,
        "</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
        fmt_ms(p.latency.map(|l| l.p50_seconds)),
        fmt_ms(p.latency.map(|l| l.p99_seconds)),
        sparkline(&p.recent)
    );
}

fn nfr_table(out: &mut String, s: &StatusSnapshot) {
    if s.nfrs.is_empty() {
        return;
    }
    out.push_str(
        "<h2>Resource NFRs</h2><table class=\"nfrs\"><thead><tr><th>NFR</th><th>limits</th>\
         <th class=\"num\">value</th><th class=\"num\">threshold</th><th>state</th>\
         <th>source</th></tr></thead><tbody>\n",
    );
    for n in &s.nfrs {
        let (value, state): (String, String) = match (n.value, &n.error) {
            (Some(v), _) if n.breached => {
                (fmt_pct(v), "<span class=\"bad\">✖ BREACHED</span>".into())
            }
            (Some(v), _) => (fmt_pct(v), "✔ within".into()),
            (None, Some(e)) => (
                "—".into(),
                format!("<span class=\"bad\">no value: {}</span>", escape(e)),
            ),
            (None, None) => (
                "—".into(),
                "<span class=\"muted\">not measured</span>".into(),
            ),
        };
        let _ = writeln!(
            out,
            "<tr{}><td>{}</td><td>{}</td><td class=\"num\">{value}</td>\
             <td class=\"num\">{}</td><td>{state}</td><td>{}</td></tr>",
            if n.breached {
                " class=\"row-fail\""
            } else {
                ""
            },
            escape(n.nfr),
            escape(n.description),
            fmt_pct(n.threshold),
            escape(&n.source),
        );
    }
    out.push_str("</tbody></table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::fixture::{probe, snapshot};

    /// The `<tr>` of probe `i`.
    fn row(html: &str, i: usize) -> &str {
        let start = html.find(&format!("<tr id=\"p{i}\"")).unwrap();
        let len = html[start..].find("</tr>").unwrap();
        &html[start..start + len]
    }

    #[test]
    fn rows_show_state_as_text_and_the_failure_reason() {
        let html = render(&snapshot());
        let pass = row(&html, 0);
        assert!(
            pass.contains("badge pass") && pass.contains("PASSING") && pass.contains("homepage")
        );
        let fail = row(&html, 1);
        assert!(
            fail.contains("badge fail") && fail.contains("FAILING"),
            "{fail}"
        );
        assert!(fail.contains("failure · status"), "{fail}");
        assert!(
            fail.contains("for 14m 0s") && fail.contains("7 consecutive"),
            "{fail}"
        );
        assert!(row(&html, 2).contains("INCONCLUSIVE"));
        let pending = row(&html, 3);
        assert!(pending.contains("PENDING") && pending.contains("no run yet"));
        assert!(pending.contains("<td class=\"num\">—</td>"), "{pending}");
        assert!(
            pass.contains("12.3 ms") && pass.contains("45.6 ms"),
            "{pass}"
        );
        assert!(html.contains("✖ 1 FAILING") && html.contains("<b>ready</b>"));
        assert!(html.contains("<a href=\"#p1\">checkout-api</a>"));
    }

    #[test]
    fn hostile_strings_are_escaped_everywhere() {
        let mut s = snapshot();
        s.target = "<img src=x onerror=alert(1)>".to_owned();
        s.probes[0].name = "<b>bold</b>".to_owned();
        let html = render(&s);
        assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<b>bold"));
        assert!(html.contains(
            "got &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;"
        ));
        assert!(html.contains("&lt;b&gt;bold&lt;/b&gt;"));
        assert!(html.contains("got &lt;ten&gt;") && html.contains("RELOAD FAILED"));
    }

    #[test]
    fn sparklines_have_a_point_per_run_and_red_marks_for_failures() {
        let html = render(&snapshot());
        let fail = row(&html, 1);
        let points = fail
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(points.split(' ').count(), 60);
        assert_eq!(fail.matches("class=\"fail\"").count(), 7);
        assert_eq!(row(&html, 0).matches("class=\"fail\"").count(), 0);
        assert!(row(&html, 3).contains("no runs yet"));
    }

    #[test]
    fn nfrs_are_percentages_with_breaches_in_red() {
        let html = render(&snapshot());
        let nfrs = &html[html.find("Resource NFRs").unwrap()..];
        assert!(nfrs.contains("73.4%") && nfrs.contains("80.0%") && nfrs.contains("91.2%"));
        assert!(nfrs.contains("<tr class=\"row-fail\"><td>NFR6"));
        assert!(nfrs.contains("BREACHED") && nfrs.contains("no value: cannot read &lt;cgroup&gt;"));
        let mut s = snapshot();
        s.nfrs.clear();
        assert!(!render(&s).contains("Resource NFRs"));
    }

    #[test]
    fn the_document_is_complete_and_balanced() {
        let html = render(&snapshot());
        assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
        assert!(html.contains(r#"<meta http-equiv="refresh" content="10">"#));
        assert!(html.contains(r#"href="/metrics""#) && html.contains(r#"href="/api/v1/status""#));
        assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("src="));
        for tag in [
            "svg", "table", "tr", "td", "div", "span", "dl", "header", "main", "title",
        ] {
            let open = html.matches(&format!("<{tag}>")).count()
                + html.matches(&format!("<{tag} ")).count();
            assert_eq!(
                open,
                html.matches(&format!("</{tag}>")).count(),
                "<{tag}> unbalanced"
            );
        }
        assert_eq!(html.matches("<svg").count(), 4);
    }

    /// Writes the sample page to `$TMPDIR/status.html` for a look in a browser:
    /// `cargo test -p prober -- --ignored status_page_preview`.
    #[test]
    #[ignore = "writes a preview file; run by hand"]
    fn status_page_preview() {
        let mut s = snapshot();
        let mut long = probe(
            "a-probe-with-a-rather-long-name-for-layout",
            ProbeHealth::Failing,
        );
        long.last.as_mut().unwrap().reason = Some("body");
        long.last.as_mut().unwrap().message = "expected body to match /\"ok\":true/ ".repeat(12);
        long.recent.truncate(1);
        s.probes.push(long);
        let path = std::env::temp_dir().join("status.html");
        std::fs::write(&path, render(&s)).unwrap();
        s.probes.retain(|p| p.health == ProbeHealth::Passing);
        (s.ready, s.last_reload, s.nfrs) = (false, None, Vec::new());
        std::fs::write(std::env::temp_dir().join("status-ok.html"), render(&s)).unwrap();
        println!("wrote {}", path.display());
    }

    #[test]
    fn long_messages_are_truncated_with_the_full_text_in_the_tooltip() {
        let mut s = snapshot();
        s.probes[0].last.as_mut().unwrap().message = "x".repeat(5000);
        let html = render(&s);
        assert!(html.contains(&format!(">{}…</div>", "x".repeat(MESSAGE_CHARS))));
        assert!(!html.contains(&"x".repeat(2001)));
    }
}
