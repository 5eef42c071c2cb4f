//! What the guard has seen of its gate probes since a rollout started: availability runs and
//! failures (NFR2), security violations, the latency samples of the last `latency_window`
//! (NFR3) and, for the delta in reports, the same quantile before the rollout. Fed with the
//! recorder's [`RunEvent`]s; turned into the judge's [`Measurement`]s. No I/O.

use std::time::{Duration, SystemTime};

use prober_probes::window::LatencyWindow;
use prober_probes::{FailureReason, Verdict};
use tokio::time::Instant;

use super::config::Gates;
use super::judge::{Gate, Measurement};
use crate::recorder::RunEvent;
use crate::status::model::NfrStatus;

/// How much further back (× `latency_window`) the latency gate looks when the window holds too
/// few samples.
const LONG_WINDOW: u32 = 4;
/// The baseline window kept before a rollout, for the delta.
const BASELINE_WINDOW: Duration = Duration::from_secs(300);
const SLOTS: usize = 6;

/// Evidence for one release's analysis.
#[derive(Debug)]
pub struct Evidence {
    gates: Gates,
    since: Option<SystemTime>,
    availability_runs: u64,
    availability_failures: u64,
    security_runs: u64,
    security_violations: u64,
    latency: LatencyWindow,
    latency_long: LatencyWindow,
    before: LatencyWindow,
    baseline_quantile: Option<f64>,
    baseline_ok: Option<bool>,
}

fn quantile_of(window: &LatencyWindow, q: f64, now: Instant) -> (Option<f64>, u64) {
    let s = window.summary(now);
    if s.samples == 0 {
        return (None, 0);
    }
    // The window's summary holds fixed quantiles; pick the nearest not below `q`.
    let value = if q <= 0.5 {
        s.p50
    } else if q <= 0.9 {
        s.p90
    } else if q <= 0.99 {
        s.p99
    } else {
        s.p999
    };
    (Some(value.as_secs_f64()), s.samples)
}

impl Evidence {
    /// Nothing seen yet.
    pub fn new(gates: Gates) -> Self {
        let latency = LatencyWindow::new(gates.latency_window, SLOTS);
        let latency_long = LatencyWindow::new(gates.latency_window * LONG_WINDOW, SLOTS);
        Evidence {
            gates,
            since: None,
            availability_runs: 0,
            availability_failures: 0,
            security_runs: 0,
            security_violations: 0,
            latency,
            latency_long,
            before: LatencyWindow::new(BASELINE_WINDOW, SLOTS),
            baseline_quantile: None,
            baseline_ok: None,
        }
    }

    /// A rollout started at `at`: counts restart, the pre-rollout quantile is kept as baseline.
    pub fn start(&mut self, at: SystemTime, now: Instant) {
        self.baseline_quantile = quantile_of(&self.before, self.gates.latency_quantile, now).0;
        self.since = Some(at);
        self.availability_runs = 0;
        self.availability_failures = 0;
        self.security_runs = 0;
        self.security_violations = 0;
        self.latency = LatencyWindow::new(self.gates.latency_window, SLOTS);
        self.latency_long = LatencyWindow::new(self.gates.latency_window * LONG_WINDOW, SLOTS);
    }

    /// No rollout analysed any more.
    pub fn stop(&mut self) {
        self.since = None;
    }

    /// Take in a finished run.
    pub fn observe(&mut self, run: &RunEvent, now: Instant) {
        if self.gates.baseline_probe.as_deref() == Some(run.probe.as_str()) {
            match run.verdict {
                Verdict::Success => self.baseline_ok = Some(true),
                Verdict::Failure(_) => self.baseline_ok = Some(false),
                Verdict::Inconclusive => {}
            }
        }
        let is_latency = self.gates.latency_probe.as_deref() == Some(run.probe.as_str());
        if is_latency {
            for s in &run.samples {
                self.before.record(now, *s);
            }
        }
        let Some(since) = self.since else { return };
        if run.finished < since {
            return;
        }
        if is_latency {
            for s in &run.samples {
                self.latency.record(now, *s);
                self.latency_long.record(now, *s);
            }
        }
        if self.gates.availability_probes.contains(&run.probe) {
            match run.verdict {
                Verdict::Success => self.availability_runs += 1,
                // A 429 is never an outage by itself.
                Verdict::Failure(FailureReason::RateLimited) => {}
                Verdict::Failure(_) => {
                    self.availability_runs += 1;
                    self.availability_failures += 1;
                }
                Verdict::Inconclusive => {}
            }
        }
        if self.gates.security_probes.contains(&run.probe) {
            match run.verdict {
                Verdict::Failure(FailureReason::AuthNotEnforced) => {
                    self.security_runs += 1;
                    self.security_violations += 1;
                }
                Verdict::Inconclusive => {}
                _ => self.security_runs += 1,
            }
        }
    }

    /// The prober can judge: its baseline probe (if any) does not fail.
    pub fn prober_healthy(&self) -> bool {
        self.baseline_ok != Some(false)
    }

    /// One measurement per configured gate, `elapsed` into the rollout (its whole duration,
    /// once complete), with the latest resource readings.
    pub fn measurements(
        &self,
        elapsed: Duration,
        nfrs: &[NfrStatus],
        now: Instant,
    ) -> Vec<Measurement> {
        let g = &self.gates;
        let mut out = vec![
            Measurement {
                gate: Gate::RolloutDuration,
                value: Some(elapsed.as_secs_f64()),
                threshold: g.rollout_max.as_secs_f64(),
                samples: 1,
                min_samples: 1,
                baseline: None,
                exceedances: None,
            },
            Measurement {
                gate: Gate::Availability,
                value: Some(self.availability_failures as f64),
                threshold: 0.0,
                samples: self.availability_runs,
                min_samples: 1,
                baseline: None,
                exceedances: None,
            },
        ];
        if g.latency_probe.is_some() {
            // A slowdown also slows the probe: when the window holds too few samples, look
            // further back (still only since the rollout) rather than judge nothing.
            let (_, recent) = quantile_of(&self.latency, g.latency_quantile, now);
            let window = if recent < g.min_latency_samples {
                &self.latency_long
            } else {
                &self.latency
            };
            let (value, samples) = quantile_of(window, g.latency_quantile, now);
            let (over, _) = window.count_above(now, g.latency_under);
            out.push(Measurement {
                gate: Gate::Latency,
                value,
                threshold: g.latency_under.as_secs_f64(),
                samples,
                min_samples: g.min_latency_samples,
                baseline: self.baseline_quantile,
                exceedances: Some((over, 1.0 - g.latency_quantile)),
            });
        }
        if !g.security_probes.is_empty() {
            out.push(Measurement {
                gate: Gate::Security,
                value: Some(self.security_violations as f64),
                threshold: 0.0,
                samples: self.security_runs,
                min_samples: 1,
                baseline: None,
                exceedances: None,
            });
        }
        if g.resources {
            for (gate, id) in [(Gate::Memory, "NFR5"), (Gate::Cpu, "NFR6")] {
                if let Some(n) = nfrs.iter().find(|n| n.nfr == id) {
                    out.push(Measurement {
                        gate,
                        value: n.value,
                        threshold: n.threshold,
                        samples: u64::from(n.value.is_some()),
                        min_samples: 1,
                        baseline: None,
                        exceedances: None,
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates() -> Gates {
        Gates {
            rollout_max: Duration::from_secs(900),
            availability_probes: vec!["health".into()],
            latency_probe: Some("api-latency".into()),
            latency_quantile: 0.99,
            latency_under: Duration::from_millis(200),
            latency_window: Duration::from_secs(30),
            min_latency_samples: 5,
            security_probes: vec!["auth-required".into()],
            resources: false,
            baseline_probe: Some("kube-api".into()),
        }
    }

    fn run(probe: &str, verdict: Verdict, at: SystemTime, samples_ms: &[u64]) -> RunEvent {
        RunEvent {
            probe: probe.into(),
            verdict,
            finished: at,
            samples: samples_ms
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
        }
    }

    fn value(ms: &[Measurement], gate: Gate) -> (Option<f64>, u64, Option<f64>) {
        let m = ms.iter().find(|m| m.gate == gate).unwrap();
        (m.value, m.samples, m.baseline)
    }

    #[test]
    fn only_runs_since_the_rollout_count_and_the_baseline_is_before_it() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let now = Instant::now();
        let mut e = Evidence::new(gates());
        e.observe(&run("api-latency", Verdict::Success, t0, &[10; 10]), now);
        e.observe(
            &run("health", Verdict::Failure(FailureReason::Status), t0, &[]),
            now,
        );
        e.start(t0 + Duration::from_secs(1), now);
        e.observe(
            &run("health", Verdict::Success, t0 + Duration::from_secs(2), &[]),
            now,
        );
        e.observe(
            &run(
                "health",
                Verdict::Failure(FailureReason::RateLimited),
                t0 + Duration::from_secs(3),
                &[],
            ),
            now,
        );
        e.observe(
            &run(
                "api-latency",
                Verdict::Success,
                t0 + Duration::from_secs(3),
                &[300; 10],
            ),
            now,
        );
        let ms = e.measurements(Duration::from_secs(40), &[], now);
        assert_eq!(
            value(&ms, Gate::Availability),
            (Some(0.0), 1, None),
            "the pre-rollout failure and the 429 do not count"
        );
        let (p99, samples, baseline) = value(&ms, Gate::Latency);
        assert_eq!(samples, 10);
        assert!((p99.unwrap() - 0.3).abs() < 0.01, "{p99:?}");
        assert!((baseline.unwrap() - 0.01).abs() < 0.001, "{baseline:?}");
        assert_eq!(value(&ms, Gate::RolloutDuration).0, Some(40.0));
    }

    #[test]
    fn too_few_recent_samples_look_further_back_since_the_rollout() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let start = Instant::now();
        let mut e = Evidence::new(gates());
        e.start(t0, start);
        // 3 runs of 3 slow samples, 30 s apart: the 30 s window holds 3 (< 5), the long one 9.
        for (i, at) in [0u64, 30, 60].iter().enumerate() {
            let now = start + Duration::from_secs(*at);
            e.observe(
                &run(
                    "api-latency",
                    Verdict::Success,
                    t0 + Duration::from_secs(*at + 1),
                    &[600, 600, 600],
                ),
                now,
            );
            if i == 2 {
                let (p99, samples, _) =
                    value(&e.measurements(Duration::ZERO, &[], now), Gate::Latency);
                assert_eq!(samples, 9, "the long window");
                assert!((p99.unwrap() - 0.6).abs() < 0.01);
            }
        }
    }

    #[test]
    fn auth_not_enforced_is_a_violation_and_a_failing_baseline_makes_the_prober_unhealthy() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let now = Instant::now();
        let mut e = Evidence::new(gates());
        e.start(t0, now);
        e.observe(
            &run(
                "auth-required",
                Verdict::Failure(FailureReason::Status),
                t0,
                &[],
            ),
            now,
        );
        e.observe(
            &run(
                "auth-required",
                Verdict::Failure(FailureReason::AuthNotEnforced),
                t0,
                &[],
            ),
            now,
        );
        assert_eq!(
            value(&e.measurements(Duration::ZERO, &[], now), Gate::Security),
            (Some(1.0), 2, None)
        );
        assert!(e.prober_healthy());
        e.observe(
            &run(
                "kube-api",
                Verdict::Failure(FailureReason::Connect),
                t0,
                &[],
            ),
            now,
        );
        assert!(!e.prober_healthy());
        e.observe(&run("kube-api", Verdict::Success, t0, &[]), now);
        assert!(e.prober_healthy());
    }
}
