//! One probe's history in the daemon: its last result, failure streak, counts, recent runs for
//! the sparkline and a sliding window of run durations. Pure bookkeeping (no metrics, no
//! logging): the recorder decides what to export and log from what [`ProbeHistory::record`]
//! returns. Memory is bounded: 60 recent runs and one HDR window.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use prober_probes::window::LatencyWindow;
use prober_probes::{FailureReason, Kind, LatencySummary, Outcome, Verdict};
use tokio::time::Instant;

use crate::status::model::{
    LatencyStatus, ProbeHealth, ProbeStatus, RecentRun, RunCounts, RunSummary,
};

/// Runs kept for the sparkline.
pub const RECENT_RUNS: usize = 60;
/// Span of the run-duration window behind P50/P99 of probes that do not measure a distribution
/// themselves.
pub const DURATION_WINDOW: Duration = Duration::from_secs(300);
/// Slots of that window (each an HDR histogram of 10 KiB).
const DURATION_WINDOW_SLOTS: usize = 5;
/// Longest message kept (messages come from the target's answers, so they are bounded here).
const MAX_MESSAGE: usize = 512;

/// How a run changed the probe's state: what the recorder logs, once per streak.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Passing (or inconclusive) as before: nothing to say.
    Steady,
    /// The first failure of a streak, or a failure for a different reason than the last.
    Failing(FailureReason),
    /// Failing again for the same reason.
    StillFailing,
    /// A success after `failures` failed runs lasting `for_`.
    Recovered {
        /// Failed runs in the streak.
        failures: u32,
        /// From the first failure to this success.
        for_: Duration,
    },
}

/// The daemon's record of one probe definition.
#[derive(Debug)]
pub struct ProbeHistory {
    name: String,
    kind: Kind,
    schedule: String,
    last: Option<RunSummary>,
    last_reason: Option<FailureReason>,
    consecutive_failures: u32,
    failing_since: Option<SystemTime>,
    runs: RunCounts,
    failures: BTreeMap<&'static str, u64>,
    recent: VecDeque<RecentRun>,
    durations: LatencyWindow,
    reported_latency: Option<LatencySummary>,
    in_flight_since: Option<Instant>,
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn truncate(message: &str) -> String {
    if message.len() <= MAX_MESSAGE {
        return message.to_string();
    }
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

impl ProbeHistory {
    /// An empty history.
    pub fn new(name: &str, kind: Kind, schedule: String) -> Self {
        ProbeHistory {
            name: name.to_string(),
            kind,
            schedule,
            last: None,
            last_reason: None,
            consecutive_failures: 0,
            failing_since: None,
            runs: RunCounts::default(),
            failures: BTreeMap::new(),
            recent: VecDeque::with_capacity(RECENT_RUNS),
            durations: LatencyWindow::new(DURATION_WINDOW, DURATION_WINDOW_SLOTS),
            reported_latency: None,
            in_flight_since: None,
        }
    }

    /// A run started.
    pub fn started(&mut self, now: Instant) {
        self.in_flight_since = Some(now);
    }

    /// Since when a run has been in flight, if one is.
    pub fn in_flight_since(&self) -> Option<Instant> {
        self.in_flight_since
    }

    /// Runs were skipped because the previous one was still in flight.
    pub fn skipped(&mut self, runs: u64) {
        self.runs.skipped += runs;
    }

    /// Whether any run has finished.
    pub fn has_run(&self) -> bool {
        self.last.is_some()
    }

    /// Record a finished run; `message` is already redacted.
    pub fn record(
        &mut self,
        outcome: &Outcome,
        message: &str,
        finished: SystemTime,
        now: Instant,
    ) -> Transition {
        self.in_flight_since = None;
        let reason = outcome.verdict.reason();
        match outcome.verdict {
            Verdict::Success => self.runs.success += 1,
            Verdict::Failure(r) => {
                self.runs.failure += 1;
                *self.failures.entry(r.as_label()).or_default() += 1;
            }
            Verdict::Inconclusive => self.runs.inconclusive += 1,
        }
        self.last = Some(RunSummary {
            at: unix(finished),
            result: outcome.verdict.as_label(),
            reason: reason.map(FailureReason::as_label),
            message: truncate(message),
            duration_seconds: outcome.duration.as_secs_f64(),
        });
        match &outcome.latency {
            Some(summary) => self.reported_latency = Some(*summary),
            None => self.durations.record(now, outcome.duration),
        }
        let plotted = outcome.latency.map_or(outcome.duration, |l| l.p50);
        if self.recent.len() == RECENT_RUNS {
            self.recent.pop_front();
        }
        self.recent.push_back(RecentRun {
            at: unix(finished),
            result: outcome.verdict.as_label(),
            latency_seconds: plotted.as_secs_f64(),
        });
        self.transition(reason, finished)
    }

    fn transition(&mut self, reason: Option<FailureReason>, finished: SystemTime) -> Transition {
        let previous = self.last_reason;
        match reason {
            Some(r) => {
                self.consecutive_failures += 1;
                self.failing_since.get_or_insert(finished);
                self.last_reason = Some(r);
                if previous == Some(r) {
                    Transition::StillFailing
                } else {
                    Transition::Failing(r)
                }
            }
            // An inconclusive run neither ends nor extends a failure streak.
            None if self
                .last
                .as_ref()
                .is_some_and(|l| l.result == "inconclusive") =>
            {
                Transition::Steady
            }
            None => {
                let failures = std::mem::take(&mut self.consecutive_failures);
                self.last_reason = None;
                match self.failing_since.take() {
                    Some(since) if failures > 0 => Transition::Recovered {
                        failures,
                        for_: finished.duration_since(since).unwrap_or_default(),
                    },
                    _ => Transition::Steady,
                }
            }
        }
    }

    /// Percentiles: the probe's own (latency and burst kinds), else of run durations over
    /// [`DURATION_WINDOW`]. None before any sample.
    pub fn latency(&self, now: Instant) -> Option<LatencySummary> {
        let summary = self
            .reported_latency
            .unwrap_or_else(|| self.durations.summary(now));
        (summary.samples > 0).then_some(summary)
    }

    /// The status view.
    pub fn status(&self, now: Instant) -> ProbeStatus {
        let health = match self.last.as_ref().map(|l| l.result) {
            None => ProbeHealth::Pending,
            Some("success") => ProbeHealth::Passing,
            Some("failure") => ProbeHealth::Failing,
            Some(_) => ProbeHealth::Inconclusive,
        };
        ProbeStatus {
            name: self.name.clone(),
            kind: self.kind.as_label(),
            schedule: self.schedule.clone(),
            health,
            last: self.last.clone(),
            consecutive_failures: self.consecutive_failures,
            failing_since: self.failing_since.map(unix),
            latency: self.latency(now).map(|l| LatencyStatus {
                samples: l.samples,
                p50_seconds: l.p50.as_secs_f64(),
                p90_seconds: l.p90.as_secs_f64(),
                p99_seconds: l.p99.as_secs_f64(),
                p999_seconds: l.p999.as_secs_f64(),
            }),
            runs: self.runs,
            failures_by_reason: self.failures.clone(),
            recent: self.recent.iter().copied().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(verdict: Verdict, ms: u64) -> Outcome {
        let mut o = match verdict {
            Verdict::Success => Outcome::success("ok"),
            Verdict::Failure(r) => Outcome::failure(r, "bad"),
            Verdict::Inconclusive => Outcome::inconclusive("few"),
        };
        o.duration = Duration::from_millis(ms);
        o
    }

    #[test]
    fn a_failure_streak_is_reported_once_and_its_recovery_once() {
        let mut h = ProbeHistory::new("health", Kind::Http, "every 10s".into());
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let now = Instant::now();
        let fail = Verdict::Failure(FailureReason::Status);
        assert_eq!(
            h.record(&run(Verdict::Success, 5), "ok", t0, now),
            Transition::Steady
        );
        assert_eq!(
            h.record(&run(fail, 5), "bad", t0 + Duration::from_secs(10), now),
            Transition::Failing(FailureReason::Status)
        );
        assert_eq!(
            h.record(&run(fail, 5), "bad", t0 + Duration::from_secs(20), now),
            Transition::StillFailing
        );
        // A different reason is news.
        assert_eq!(
            h.record(
                &run(Verdict::Failure(FailureReason::Timeout), 5),
                "slow",
                t0 + Duration::from_secs(30),
                now
            ),
            Transition::Failing(FailureReason::Timeout)
        );
        // Inconclusive neither ends nor extends the streak.
        assert_eq!(
            h.record(
                &run(Verdict::Inconclusive, 5),
                "few",
                t0 + Duration::from_secs(35),
                now
            ),
            Transition::Steady
        );
        let status = h.status(now);
        assert_eq!(status.consecutive_failures, 3);
        assert_eq!(status.failing_since, Some(1_010.0));
        assert_eq!(
            h.record(
                &run(Verdict::Success, 5),
                "ok",
                t0 + Duration::from_secs(40),
                now
            ),
            Transition::Recovered {
                failures: 3,
                for_: Duration::from_secs(30)
            }
        );
        let status = h.status(now);
        assert_eq!(status.health, ProbeHealth::Passing);
        assert_eq!(status.consecutive_failures, 0);
        assert_eq!(status.failing_since, None);
        assert_eq!(status.runs.failure, 3);
        assert_eq!(status.failures_by_reason.get("status"), Some(&2));
        assert_eq!(status.failures_by_reason.get("timeout"), Some(&1));
    }

    #[test]
    fn recent_runs_and_messages_are_bounded() {
        let mut h = ProbeHistory::new("p", Kind::Http, "every 1s".into());
        let now = Instant::now();
        let long = "x".repeat(10_000);
        for i in 0..(RECENT_RUNS as u64 + 25) {
            h.record(&run(Verdict::Success, i), &long, SystemTime::now(), now);
        }
        let status = h.status(now);
        assert_eq!(status.recent.len(), RECENT_RUNS);
        // Oldest first: the first 25 runs were dropped.
        assert_eq!(status.recent[0].latency_seconds, 0.025);
        assert!(status.last.unwrap().message.len() <= MAX_MESSAGE + 3);
    }

    #[test]
    fn percentiles_come_from_run_durations_unless_the_probe_reports_its_own() {
        let mut h = ProbeHistory::new("p", Kind::Http, "every 1s".into());
        let now = Instant::now();
        assert!(h.latency(now).is_none(), "no samples, no percentiles");
        for ms in 1..=100 {
            h.record(&run(Verdict::Success, ms), "", SystemTime::now(), now);
        }
        let l = h.latency(now).unwrap();
        assert_eq!(l.samples, 100);
        let p50 = l.p50.as_secs_f64();
        assert!((0.049..=0.051).contains(&p50), "{p50}");

        let mut own = run(Verdict::Success, 500);
        own.latency = Some(LatencySummary {
            samples: 7,
            p50: Duration::from_millis(3),
            p90: Duration::from_millis(4),
            p99: Duration::from_millis(5),
            p999: Duration::from_millis(6),
            max: Duration::from_millis(6),
        });
        h.record(&own, "", SystemTime::now(), now);
        assert_eq!(h.latency(now).unwrap().samples, 7);
        assert_eq!(h.status(now).recent.last().unwrap().latency_seconds, 0.003);
    }
}
