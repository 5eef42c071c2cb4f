//! Latency percentiles in bounded memory: a ring of per-interval HDR histograms. Recording is
//! O(1); percentiles merge the slots still inside the window. Values are microseconds from
//! 1 µs to 60 s at 2 significant figures (1 % precision: plenty for a 200 ms budget), with u32
//! counts: 10 KiB per slot.

use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::LatencySummary;

const LOWEST_MICROS: u64 = 1;
const HIGHEST_MICROS: u64 = 60_000_000;
const SIGFIG: u8 = 2;

fn new_histogram() -> Histogram<u32> {
    // The bounds are constants that hdrhistogram accepts; failing here would be a programming
    // error caught by every test, so fall back to auto-resizing rather than panic.
    Histogram::new_with_bounds(LOWEST_MICROS, HIGHEST_MICROS, SIGFIG)
        .or_else(|_| Histogram::new(SIGFIG))
        .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid"))
}

/// A sliding window of latency samples.
#[derive(Debug, Clone)]
pub struct LatencyWindow {
    slot_len: Duration,
    slots: Vec<(Instant, Histogram<u32>)>,
    head: usize,
}

impl LatencyWindow {
    /// A window of `span` made of `slots` intervals (at least 1).
    pub fn new(span: Duration, slots: usize) -> Self {
        let slots = slots.max(1);
        let slot_len = (span / slots as u32).max(Duration::from_millis(1));
        let now = Instant::now();
        LatencyWindow {
            slot_len,
            slots: (0..slots).map(|_| (now, new_histogram())).collect(),
            head: 0,
        }
    }

    /// Record one sample taken at `now` (values are clamped into 1 µs..60 s).
    pub fn record(&mut self, now: Instant, sample: Duration) {
        self.rotate(now);
        let micros = (sample.as_micros() as u64).clamp(LOWEST_MICROS, HIGHEST_MICROS);
        let _ = self.slots[self.head].1.record(micros);
    }

    fn rotate(&mut self, now: Instant) {
        if now.saturating_duration_since(self.slots[self.head].0) >= self.slot_len {
            self.head = (self.head + 1) % self.slots.len();
            let slot = &mut self.slots[self.head];
            slot.0 = now;
            slot.1.reset();
        }
    }

    /// Percentiles over the samples recorded within the window ending at `now`.
    pub fn summary(&self, now: Instant) -> LatencySummary {
        summarize(&self.merged(now))
    }

    /// Samples within the window ending at `now` that are above `limit` (to the histogram's
    /// 1 % precision), and all samples: what a significance test of a quantile needs.
    pub fn count_above(&self, now: Instant, limit: Duration) -> (u64, u64) {
        let merged = self.merged(now);
        let micros = (limit.as_micros() as u64).clamp(LOWEST_MICROS, HIGHEST_MICROS);
        let at_or_below = merged.count_between(0, micros);
        (merged.len().saturating_sub(at_or_below), merged.len())
    }

    fn merged(&self, now: Instant) -> Histogram<u32> {
        let span = self.slot_len * self.slots.len() as u32;
        let mut merged = new_histogram();
        for (started, h) in &self.slots {
            if now.saturating_duration_since(*started) < span {
                let _ = merged.add(h);
            }
        }
        merged
    }

    /// Memory held by the histograms, in bytes (for the footprint budget).
    pub fn memory_bytes(&self) -> usize {
        self.slots
            .iter()
            .map(|(_, h)| h.distinct_values() * 4)
            .sum()
    }
}

/// A one-shot histogram: record everything, summarise once.
#[derive(Debug, Clone)]
pub struct Recorder(Histogram<u32>);

impl Default for Recorder {
    fn default() -> Self {
        Recorder(new_histogram())
    }
}

impl Recorder {
    /// Record one sample.
    pub fn record(&mut self, sample: Duration) {
        let micros = (sample.as_micros() as u64).clamp(LOWEST_MICROS, HIGHEST_MICROS);
        let _ = self.0.record(micros);
    }

    /// Percentiles of everything recorded.
    pub fn summary(&self) -> LatencySummary {
        summarize(&self.0)
    }
}

fn summarize(h: &Histogram<u32>) -> LatencySummary {
    // hdrhistogram reports a bucket's highest value, biasing every percentile up by up to a
    // bucket (256 µs at 50 ms, 1 ms from 131 ms); the bucket's middle halves the error and
    // removes the bias.
    let middle = |v: u64| {
        Duration::from_micros(if h.is_empty() {
            0
        } else {
            h.median_equivalent(v)
        })
    };
    let at = |q: f64| middle(h.value_at_quantile(q));
    LatencySummary {
        samples: h.len(),
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        p999: at(0.999),
        max: middle(h.max()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_above_a_limit_are_counted_within_the_window() {
        let t0 = Instant::now();
        let mut w = LatencyWindow::new(Duration::from_secs(10), 5);
        for ms in [5, 10, 150, 250, 300, 400] {
            w.record(t0, Duration::from_millis(ms));
        }
        assert_eq!(w.count_above(t0, Duration::from_millis(200)), (3, 6));
        assert_eq!(w.count_above(t0, Duration::from_secs(1)), (0, 6));
        // After the window has passed, nothing is left.
        assert_eq!(
            w.count_above(t0 + Duration::from_secs(30), Duration::from_millis(1)),
            (0, 0)
        );
    }

    #[test]
    fn percentiles_within_one_percent() {
        let mut r = Recorder::default();
        for ms in 1..=1000u64 {
            r.record(Duration::from_millis(ms));
        }
        let s = r.summary();
        assert_eq!(s.samples, 1000);
        let close = |d: Duration, ms: f64| (d.as_secs_f64() * 1e3 - ms).abs() / ms < 0.01;
        assert!(close(s.p50, 500.0), "{s:?}");
        assert!(close(s.p99, 990.0), "{s:?}");
        assert!(close(s.max, 1000.0), "{s:?}");
    }

    #[test]
    fn percentiles_are_bucket_middles_not_bucket_tops() {
        // 50 ms sits in a 256 µs bucket [49.920, 50.175] ms: its top would be 175 µs off, its
        // middle is within half a bucket.
        let mut r = Recorder::default();
        for _ in 0..1000 {
            r.record(Duration::from_millis(50));
        }
        let s = r.summary();
        for (name, d) in [("p50", s.p50), ("p99", s.p99), ("max", s.max)] {
            let off = d.as_micros() as i64 - 50_000;
            assert!(off.abs() <= 128, "{name} is {off} µs off: {s:?}");
        }
    }

    #[test]
    fn old_slots_fall_out_of_the_window() {
        let t0 = Instant::now();
        let mut w = LatencyWindow::new(Duration::from_secs(60), 6);
        for _ in 0..100 {
            w.record(t0, Duration::from_millis(500));
        }
        assert_eq!(w.summary(t0).samples, 100);
        // 2 minutes later every old slot is outside the 60 s window.
        let later = t0 + Duration::from_secs(120);
        w.record(later, Duration::from_millis(5));
        let s = w.summary(later);
        assert_eq!(s.samples, 1);
        assert!(s.p99 < Duration::from_millis(6));
    }

    #[test]
    fn memory_is_bounded_and_small() {
        let mut w = LatencyWindow::new(Duration::from_secs(300), 10);
        let t0 = Instant::now();
        for i in 0..100_000u64 {
            w.record(
                t0 + Duration::from_millis(i * 7),
                Duration::from_micros(i * 613 % 60_000_000),
            );
        }
        // Ten slots of u32 counts at 2 significant figures.
        // (19 buckets + 1) × 128 u32 counts = 10 KiB a slot; the README quotes this number.
        assert_eq!(w.memory_bytes(), 10 * 10 * 1024, "{}", w.memory_bytes());
    }
}
