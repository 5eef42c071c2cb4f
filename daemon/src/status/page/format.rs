//! Text helpers of the status page: HTML escaping, and the formatting of latencies, ratios,
//! timestamps and ages. Pure functions; they decide nothing about layout.

use time::OffsetDateTime;

/// `s` with `&`, `<`, `>`, `"` and `'` replaced by entities: safe in element text and in quoted
/// attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Seconds as milliseconds: `0.42 ms`, `12.3 ms`, `1234 ms`; `—` when absent or not finite.
pub fn fmt_ms(seconds: Option<f64>) -> String {
    match seconds.map(|s| s * 1000.0) {
        Some(ms) if ms.is_finite() && ms < 1.0 => format!("{ms:.2} ms"),
        Some(ms) if ms.is_finite() && ms < 1000.0 => format!("{ms:.1} ms"),
        Some(ms) if ms.is_finite() => format!("{ms:.0} ms"),
        _ => "—".to_owned(),
    }
}

/// A ratio as a percentage with one decimal: `0.734` → `73.4%`.
pub fn fmt_pct(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{:.1}%", ratio * 100.0)
    } else {
        "—".to_owned()
    }
}

/// Unix seconds as `2026-11-12 03:04:05 UTC`.
pub fn fmt_utc(unix: f64) -> String {
    let t = unix.is_finite().then(|| unix.floor() as i64);
    match t.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()) {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        None => "?".to_owned(),
    }
}

/// A duration in seconds, coarsely: `42s`, `5m 3s`, `3h 4m`, `2d 5h`.
pub fn fmt_age(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".to_owned();
    }
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

/// At most `max` characters of `s`, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_every_special_character() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain ünïcode"), "plain ünïcode");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn formatters_handle_edges() {
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("äöü", 3), "äöü");
        assert_eq!(fmt_ms(Some(0.0123)), "12.3 ms");
        assert_eq!(fmt_ms(Some(0.00042)), "0.42 ms");
        assert_eq!(fmt_ms(Some(1.5)), "1500 ms");
        assert_eq!(fmt_ms(Some(f64::NAN)), "—");
        assert_eq!(fmt_ms(None), "—");
        assert_eq!(fmt_age(90_000.0), "1d 1h");
        assert_eq!(fmt_utc(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_utc(f64::NAN), "?");
        assert_eq!(fmt_pct(0.734), "73.4%");
        assert_eq!(fmt_pct(f64::NAN), "—");
        assert_eq!(fmt_age(-5.0), "0s");
        assert_eq!(fmt_age(840.0), "14m 0s");
        assert_eq!(fmt_age(3.0 * 3600.0 + 61.0), "3h 1m");
    }
}
