//! The latency sparkline on the status page: a fixed-size inline SVG of a probe's recent runs,
//! failed runs marked with red dots and inconclusive ones with amber dots. Pure string building:
//! no scripts, no external assets, no state.

use std::fmt::Write as _;

use super::model::RecentRun;
use super::page::format::fmt_ms;

/// Width of the SVG, in px.
pub const WIDTH: f64 = 160.0;
/// Height of the SVG, in px.
pub const HEIGHT: f64 = 32.0;
/// Room kept free at the edges so dots are not clipped.
const PAD: f64 = 3.0;

/// An `<svg>` plotting the latency of `recent` (oldest first) on a scale from 0 to its maximum,
/// so that a millisecond of jitter looks like one and a spike stands out; all-zero values draw a
/// flat line through the middle. Non-finite or negative latencies are drawn as 0. Carries a
/// `<title>` with the run count, range and failures.
pub fn sparkline(recent: &[RecentRun]) -> String {
    let values: Vec<f64> = recent
        .iter()
        .map(|r| {
            let v = r.latency_seconds;
            if v.is_finite() && v > 0.0 { v } else { 0.0 }
        })
        .collect();
    let failed = recent.iter().filter(|r| r.result == "failure").count();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let label = match values.len() {
        0 => "no runs yet".to_owned(),
        n => format!(
            "last {n} runs: {} to {}, {failed} failed",
            fmt_ms(Some(lo)),
            fmt_ms(Some(hi))
        ),
    };
    let mut out = format!(
        r#"<svg class="spark" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}"><title>{label}</title>"#
    );
    if values.is_empty() {
        let y = HEIGHT / 2.0;
        let _ = write!(
            out,
            r##"<line x1="{PAD}" y1="{y}" x2="{}" y2="{y}" stroke="#bbb" stroke-dasharray="3 3"/></svg>"##,
            WIDTH - PAD
        );
        return out;
    }
    let n = values.len();
    let x = |i: usize| {
        if n == 1 {
            WIDTH / 2.0
        } else {
            PAD + i as f64 * (WIDTH - 2.0 * PAD) / (n - 1) as f64
        }
    };
    let y = |v: f64| {
        if hi > 0.0 {
            PAD + (hi - v) / hi * (HEIGHT - 2.0 * PAD)
        } else {
            HEIGHT / 2.0
        }
    };
    if n > 1 {
        out.push_str(r##"<polyline fill="none" stroke="#3b6ea8" stroke-width="1.5" points=""##);
        for (i, v) in values.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(out, "{sep}{:.1},{:.1}", x(i), y(*v));
        }
        out.push_str(r#""/>"#);
    }
    for (i, (run, v)) in recent.iter().zip(&values).enumerate() {
        let (class, fill, r) = match run.result {
            "failure" => ("fail", "#d32f2f", 2.5),
            "inconclusive" => ("inc", "#e69b00", 2.2),
            _ if n == 1 => ("ok", "#3b6ea8", 2.0),
            _ => continue,
        };
        let _ = write!(
            out,
            r#"<circle class="{class}" cx="{:.1}" cy="{:.1}" r="{r}" fill="{fill}"/>"#,
            x(i),
            y(*v)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(result: &'static str, latency_seconds: f64) -> RecentRun {
        RecentRun {
            at: 0.0,
            result,
            latency_seconds,
        }
    }

    /// The (x, y) pairs of the polyline.
    fn points(svg: &str) -> Vec<(f64, f64)> {
        let Some(start) = svg.find(r#"points=""#) else {
            return Vec::new();
        };
        let rest = &svg[start + 8..];
        let list = &rest[..rest.find('"').unwrap()];
        list.split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    fn assert_inside(svg: &str) {
        for (x, y) in points(svg) {
            assert!(
                (0.0..=WIDTH).contains(&x) && (0.0..=HEIGHT).contains(&y),
                "{x},{y}"
            );
        }
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn no_runs_draw_a_dashed_baseline() {
        let svg = sparkline(&[]);
        assert_inside(&svg);
        assert!(svg.contains("no runs yet") && svg.contains("stroke-dasharray"));
        assert!(points(&svg).is_empty());
    }

    #[test]
    fn one_run_is_a_single_dot() {
        let svg = sparkline(&[run("success", 0.012)]);
        assert_inside(&svg);
        assert!(points(&svg).is_empty());
        assert!(
            svg.contains(r#"<circle class="ok" cx="80.0" cy="3.0""#),
            "{svg}"
        );
        let svg = sparkline(&[run("failure", 0.0)]);
        assert!(
            svg.contains(r#"<circle class="fail" cx="80.0" cy="16.0""#),
            "{svg}"
        );
    }

    #[test]
    fn sixty_runs_give_sixty_points_and_a_red_dot_per_failure() {
        let recent: Vec<RecentRun> = (0..60)
            .map(|i| {
                let result = if i % 20 == 7 { "failure" } else { "success" };
                run(result, 0.010 + f64::from(i % 7) * 0.003)
            })
            .collect();
        let svg = sparkline(&recent);
        assert_inside(&svg);
        let pts = points(&svg);
        assert_eq!(pts.len(), 60);
        assert_eq!(pts[0].0, PAD);
        assert_eq!(pts[59].0, WIDTH - PAD);
        assert_eq!(svg.matches(r#"class="fail""#).count(), 3);
        assert!(svg.contains("3 failed"));
    }

    #[test]
    fn all_equal_and_degenerate_values_do_not_divide_by_zero() {
        let svg = sparkline(&[run("success", 0.5); 5]);
        assert_inside(&svg);
        assert!(points(&svg).iter().all(|&(_, y)| y == PAD));
        let svg = sparkline(&[run("success", 0.0); 5]);
        assert_inside(&svg);
        assert!(points(&svg).iter().all(|&(_, y)| y == HEIGHT / 2.0));
        let svg = sparkline(&[
            run("success", f64::NAN),
            run("inconclusive", f64::INFINITY),
            run("failure", -1.0),
        ]);
        assert_inside(&svg);
        assert_eq!(points(&svg).len(), 3);
        assert_eq!(svg.matches(r#"class="inc""#).count(), 1);
    }
}
