//! The judge: pure functions from measurements to verdicts. One analysis gives each NFR gate
//! pass, fail or inconclusive (too few samples, no measurement, or the prober itself is
//! unhealthy); [`Streak`] turns a sequence of analyses into an action: a rollback needs
//! `needed` consecutive failing analyses, a security violation fails at once, and inconclusive
//! never rolls back. No I/O, no clocks: everything it needs is passed in.

use std::fmt;

/// One NFR gate of the rollout analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Gate {
    /// NFR1: the rollout completes within its budget (value: seconds since it started).
    RolloutDuration,
    /// NFR2: zero downtime (value: failed availability probe runs since the rollout started).
    Availability,
    /// NFR3: P99 latency (value: seconds, over the analysis window).
    Latency,
    /// Auth must be enforced (value: security probe violations since the rollout started).
    Security,
    /// NFR5: memory used / limit.
    Memory,
    /// NFR6: CPU used / limit.
    Cpu,
}

impl Gate {
    /// The `nfr` label / id: `NFR1`…`NFR6`, or `security`.
    pub fn id(self) -> &'static str {
        match self {
            Gate::RolloutDuration => "NFR1",
            Gate::Availability => "NFR2",
            Gate::Latency => "NFR3",
            Gate::Security => "security",
            Gate::Memory => "NFR5",
            Gate::Cpu => "NFR6",
        }
    }

    /// What the value measures, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Gate::RolloutDuration => "rollout duration (s)",
            Gate::Availability => "failed availability probes during the rollout",
            Gate::Latency => "P99 latency (s)",
            Gate::Security => "auth-not-enforced violations",
            Gate::Memory => "memory used / limit",
            Gate::Cpu => "CPU used / limit",
        }
    }
}

/// What one gate measured for one analysis. Every gate reads "the value must not exceed the
/// threshold".
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// The gate.
    pub gate: Gate,
    /// The measured value; None when it could not be measured.
    pub value: Option<f64>,
    /// The limit.
    pub threshold: f64,
    /// Samples behind the value (runs, requests).
    pub samples: u64,
    /// Fewer samples than this is inconclusive.
    pub min_samples: u64,
    /// The same measurement before the rollout started, for the delta in reports.
    pub baseline: Option<f64>,
    /// For a quantile gate: samples above the threshold, and the share allowed above it
    /// (1 − q). A quantile over its threshold fails only when that many exceedances are
    /// significant, so a few slow requests in a small window never roll back.
    pub exceedances: Option<(u64, f64)>,
}

/// A quantile fails only when its exceedances would happen by chance less often than this,
/// were the true share of slow requests the allowed one (a one-sided binomial test).
pub const SIGNIFICANCE: f64 = 0.001;

/// P(X ≥ k) for X ~ Binomial(n, p): the chance of at least `k` exceedances in `n` samples.
pub fn binomial_tail(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    // Sum P(X = i) for i < k from P(X = 0) = (1 − p)^n upwards, in log space for large n.
    let mut log_pmf = n as f64 * (1.0 - p).ln();
    let ratio = (p / (1.0 - p)).ln();
    let mut below = 0.0;
    for i in 0..k {
        below += log_pmf.exp();
        log_pmf += ((n - i) as f64).ln() - ((i + 1) as f64).ln() + ratio;
    }
    (1.0 - below).clamp(0.0, 1.0)
}

/// A gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateVerdict {
    /// Within the limit, on enough samples.
    Pass,
    /// Over the limit, on enough samples.
    Fail,
    /// Not enough evidence either way.
    Inconclusive,
}

impl GateVerdict {
    /// `pass`, `fail` or `inconclusive`.
    pub fn as_label(self) -> &'static str {
        match self {
            GateVerdict::Pass => "pass",
            GateVerdict::Fail => "fail",
            GateVerdict::Inconclusive => "inconclusive",
        }
    }
}

/// A gate's verdict with the numbers behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct GateResult {
    /// The measurement judged.
    pub measurement: Measurement,
    /// The verdict.
    pub verdict: GateVerdict,
    /// Why, in a sentence with the numbers.
    pub reason: String,
}

/// The verdict of one analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every gate passed.
    Pass,
    /// A gate failed; `immediate` for a security violation (no consecutive analyses needed).
    Fail {
        /// A security gate failed.
        immediate: bool,
    },
    /// No gate failed, but at least one could not judge.
    Inconclusive,
}

impl Verdict {
    /// `pass`, `fail` or `inconclusive`: the `verdict` label.
    pub fn as_label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail { .. } => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// One analysis: each gate's result and the overall verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Per gate, in the order measured.
    pub results: Vec<GateResult>,
    /// Overall.
    pub verdict: Verdict,
}

impl Analysis {
    /// The failing gates, for messages.
    pub fn failing(&self) -> impl Iterator<Item = &GateResult> {
        self.results
            .iter()
            .filter(|r| r.verdict == GateVerdict::Fail)
    }

    /// One line: each gate's verdict and numbers.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .results
            .iter()
            .map(|r| {
                format!(
                    "{} {}: {}",
                    r.measurement.gate.id(),
                    r.verdict.as_label(),
                    r.reason
                )
            })
            .collect();
        parts.join("; ")
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e12 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// Judge one gate.
pub fn judge_gate(m: &Measurement) -> GateResult {
    let (verdict, reason) = match m.value {
        None => (GateVerdict::Inconclusive, "no measurement".to_string()),
        Some(_) if m.samples < m.min_samples => (
            GateVerdict::Inconclusive,
            format!("{} samples, at least {} needed", m.samples, m.min_samples),
        ),
        Some(v) => {
            let delta = m
                .baseline
                .map(|b| {
                    let sign = if v >= b { "+" } else { "-" };
                    format!(
                        ", {sign}{} against before the rollout",
                        number((v - b).abs())
                    )
                })
                .unwrap_or_default();
            let over = v > m.threshold;
            let cmp = if over { ">" } else { "<=" };
            let text = format!(
                "{} {} {cmp} {} over {} samples{delta}",
                m.gate.describe(),
                number(v),
                number(m.threshold),
                m.samples
            );
            match m.exceedances {
                Some((k, allowed)) if over => {
                    let chance = binomial_tail(k, m.samples, allowed);
                    if chance < SIGNIFICANCE {
                        (GateVerdict::Fail, format!("{text} ({k} over the limit)"))
                    } else {
                        (
                            GateVerdict::Inconclusive,
                            format!("{text}, but {k} over the limit is not significant"),
                        )
                    }
                }
                _ if over => (GateVerdict::Fail, text),
                _ => (GateVerdict::Pass, text),
            }
        }
    };
    GateResult {
        measurement: m.clone(),
        verdict,
        reason,
    }
}

/// Judge every gate. When the prober itself is unhealthy (its baseline target fails too), no
/// gate can judge Godel: everything is inconclusive.
pub fn analyse(measurements: &[Measurement], prober_healthy: bool) -> Analysis {
    let results: Vec<GateResult> = measurements
        .iter()
        .map(|m| {
            if prober_healthy {
                judge_gate(m)
            } else {
                GateResult {
                    measurement: m.clone(),
                    verdict: GateVerdict::Inconclusive,
                    reason: "the prober itself is unhealthy (its baseline fails)".into(),
                }
            }
        })
        .collect();
    let failed = |gate: Option<Gate>| {
        results
            .iter()
            .any(|r| r.verdict == GateVerdict::Fail && gate.is_none_or(|g| r.measurement.gate == g))
    };
    let verdict = if failed(Some(Gate::Security)) {
        Verdict::Fail { immediate: true }
    } else if failed(None) {
        Verdict::Fail { immediate: false }
    } else if results
        .iter()
        .any(|r| r.verdict == GateVerdict::Inconclusive)
    {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    };
    Analysis { results, verdict }
}

/// What the guard should do after an analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Keep analysing.
    Continue,
    /// Roll back, for this reason.
    Rollback(String),
}

/// Consecutive failing analyses. A pass resets the count; an inconclusive analysis neither
/// resets nor extends it (it is no evidence either way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streak {
    needed: u32,
    failures: u32,
}

impl Streak {
    /// A streak that rolls back after `needed` (at least 1) consecutive failing analyses.
    pub fn new(needed: u32) -> Self {
        Streak {
            needed: needed.max(1),
            failures: 0,
        }
    }

    /// Consecutive failing analyses so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Take an analysis into account.
    pub fn observe(&mut self, analysis: &Analysis) -> Action {
        match analysis.verdict {
            Verdict::Pass => {
                self.failures = 0;
                Action::Continue
            }
            Verdict::Inconclusive => Action::Continue,
            Verdict::Fail { immediate } => {
                self.failures += 1;
                let failing: Vec<String> = analysis
                    .failing()
                    .map(|r| format!("{} {}", r.measurement.gate.id(), r.reason))
                    .collect();
                if immediate {
                    Action::Rollback(format!("security violation: {}", failing.join("; ")))
                } else if self.failures >= self.needed {
                    Action::Rollback(format!(
                        "{} consecutive failing analyses: {}",
                        self.failures,
                        failing.join("; ")
                    ))
                } else {
                    Action::Continue
                }
            }
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(gate: Gate, value: Option<f64>, threshold: f64, samples: u64) -> Measurement {
        Measurement {
            gate,
            value,
            threshold,
            samples,
            min_samples: 10,
            baseline: None,
            exceedances: None,
        }
    }

    #[test]
    fn the_binomial_tail_matches_known_values() {
        assert_eq!(binomial_tail(0, 10, 0.5), 1.0);
        assert!((binomial_tail(1, 10, 0.5) - (1.0 - 0.5f64.powi(10))).abs() < 1e-12);
        // P(X >= 7) for n = 133, p = 0.01: Poisson(1.33) says about 4e-4.
        let t = binomial_tail(7, 133, 0.01);
        assert!(t > 2e-4 && t < 6e-4, "{t}");
        assert_eq!(binomial_tail(200, 133, 0.01), 0.0);
        assert!(binomial_tail(100, 100, 0.99) > 0.3);
    }

    #[test]
    fn a_quantile_over_its_limit_fails_only_on_significant_exceedances() {
        let mut x = m(Gate::Latency, Some(0.3), 0.2, 133);
        // Two slow requests in 133 put P99 over 200 ms, by chance: no verdict.
        x.exceedances = Some((2, 0.01));
        let r = judge_gate(&x);
        assert_eq!(r.verdict, GateVerdict::Inconclusive, "{}", r.reason);
        assert!(
            r.reason
                .ends_with("but 2 over the limit is not significant"),
            "{}",
            r.reason
        );
        // A real breach: most requests slow.
        x.exceedances = Some((120, 0.01));
        assert_eq!(judge_gate(&x).verdict, GateVerdict::Fail);
        x.value = Some(0.1);
        assert_eq!(judge_gate(&x).verdict, GateVerdict::Pass);
    }

    #[test]
    fn a_gate_needs_a_value_and_enough_samples() {
        let r = judge_gate(&m(Gate::Latency, Some(0.5), 0.2, 9));
        assert_eq!(r.verdict, GateVerdict::Inconclusive);
        assert_eq!(r.reason, "9 samples, at least 10 needed");
        assert_eq!(
            judge_gate(&m(Gate::Latency, None, 0.2, 100)).verdict,
            GateVerdict::Inconclusive
        );
        let fail = judge_gate(&m(Gate::Latency, Some(0.35), 0.2, 100));
        assert_eq!(fail.verdict, GateVerdict::Fail);
        assert_eq!(
            fail.reason,
            "P99 latency (s) 0.350 > 0.200 over 100 samples"
        );
        // At the threshold is within it.
        assert_eq!(
            judge_gate(&m(Gate::Latency, Some(0.2), 0.2, 100)).verdict,
            GateVerdict::Pass
        );
    }

    #[test]
    fn the_delta_against_the_baseline_is_reported() {
        let mut x = m(Gate::Latency, Some(0.25), 0.2, 50);
        x.baseline = Some(0.05);
        assert!(
            judge_gate(&x)
                .reason
                .ends_with(", +0.200 against before the rollout")
        );
    }

    #[test]
    fn security_fails_at_once_and_an_unhealthy_prober_judges_nothing() {
        let security = m(Gate::Security, Some(1.0), 0.0, 10);
        let latency = m(Gate::Latency, Some(0.1), 0.2, 100);
        let a = analyse(&[latency.clone(), security.clone()], true);
        assert_eq!(a.verdict, Verdict::Fail { immediate: true });
        let mut streak = Streak::new(3);
        assert!(
            matches!(streak.observe(&a), Action::Rollback(r) if r.starts_with("security violation: security"))
        );
        let a = analyse(&[latency, security], false);
        assert_eq!(a.verdict, Verdict::Inconclusive);
        assert!(
            a.results
                .iter()
                .all(|r| r.verdict == GateVerdict::Inconclusive)
        );
    }

    #[test]
    fn a_rollback_needs_consecutive_failures_and_inconclusive_never_rolls_back() {
        let fail = analyse(&[m(Gate::Latency, Some(0.3), 0.2, 100)], true);
        let pass = analyse(&[m(Gate::Latency, Some(0.1), 0.2, 100)], true);
        let unsure = analyse(&[m(Gate::Latency, Some(0.3), 0.2, 3)], true);
        assert_eq!(unsure.verdict, Verdict::Inconclusive);
        let mut s = Streak::new(3);
        assert_eq!(s.observe(&fail), Action::Continue);
        assert_eq!(s.observe(&fail), Action::Continue);
        assert_eq!(s.observe(&pass), Action::Continue, "a pass resets");
        assert_eq!(s.failures(), 0);
        assert_eq!(s.observe(&fail), Action::Continue);
        assert_eq!(s.observe(&unsure), Action::Continue, "inconclusive holds");
        assert_eq!(s.observe(&fail), Action::Continue);
        assert_eq!(s.failures(), 2);
        let Action::Rollback(reason) = s.observe(&fail) else {
            panic!("no rollback")
        };
        assert!(
            reason.starts_with("3 consecutive failing analyses: NFR3 P99"),
            "{reason}"
        );
        let mut s = Streak::new(3);
        for _ in 0..100 {
            assert_eq!(s.observe(&unsure), Action::Continue);
        }
    }

    #[test]
    fn no_failure_and_one_inconclusive_gate_is_inconclusive() {
        let a = analyse(
            &[
                m(Gate::Availability, Some(0.0), 0.0, 12),
                m(Gate::Latency, Some(0.1), 0.2, 2),
            ],
            true,
        );
        assert_eq!(a.verdict, Verdict::Inconclusive);
        let a = analyse(
            &[
                m(Gate::Availability, Some(0.0), 0.0, 12),
                m(Gate::Latency, Some(0.1), 0.2, 20),
            ],
            true,
        );
        assert_eq!(a.verdict, Verdict::Pass);
        assert!(
            a.summary()
                .starts_with("NFR2 pass: failed availability probes"),
            "{}",
            a.summary()
        );
    }
}
