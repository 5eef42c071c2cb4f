//! `kind = "latency"`: N requests per run (back to back, or paced) into an HDR sliding window;
//! the verdict compares percentiles with their budgets, and is `inconclusive` while the window
//! holds fewer samples than the configured minimum.

use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::client::HttpClient;
use crate::exchange::exchange;
use crate::expect::{ExpectSpec, Expectation, StatusSet, fmt_duration};
use crate::failed::{Failed, FailureTally};
use crate::request::{ClientOverrides, Credential, RequestSpec, RequestTemplate};
use crate::spec::BuildCx;
use crate::target::Target;
use crate::template::{RUN_ID, Vars};
use crate::window::LatencyWindow;
use crate::{FailureReason, Kind, LatencySummary, Outcome, Probe, RunContext};

/// A percentile budget: the `quantile` of the window must stay under `under`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// Quantile in (0, 1], e.g. 0.99.
    pub quantile: f64,
    /// The latency it must stay under.
    #[serde(with = "humantime_serde")]
    pub under: Duration,
}

/// Configuration of a `latency` probe.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySpec {
    /// The request measured.
    pub request: RequestSpec,
    /// What each response must satisfy (default: any 2xx).
    #[serde(default)]
    pub expect: ExpectSpec,
    /// Client limit overrides.
    #[serde(default)]
    pub client: ClientOverrides,
    /// Requests per run (default 20).
    #[serde(default = "default_requests")]
    pub requests: u32,
    /// Requests in a one-shot run (`prober check`), enough for a P99 on their own (default 200).
    #[serde(default = "default_check_requests")]
    pub check_requests: u32,
    /// Pause between requests (default none: back to back).
    #[serde(default, with = "humantime_serde")]
    pub pace: Option<Duration>,
    /// Sliding window the percentiles are computed over (default 5m).
    #[serde(default = "default_window", with = "humantime_serde")]
    pub window: Duration,
    /// Fewer samples than this in the window: `inconclusive` (default 100).
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
    /// Percentile budgets (default P99 under 200 ms).
    #[serde(default = "default_budgets")]
    pub budgets: Vec<BudgetSpec>,
}

fn default_requests() -> u32 {
    20
}
fn default_check_requests() -> u32 {
    200
}
fn default_window() -> Duration {
    Duration::from_secs(300)
}
fn default_min_samples() -> u64 {
    100
}
fn default_budgets() -> Vec<BudgetSpec> {
    vec![BudgetSpec {
        quantile: 0.99,
        under: Duration::from_millis(200),
    }]
}

/// Slots in the sliding window ring.
const WINDOW_SLOTS: usize = 10;

/// A validated `latency` probe; holds its window across runs.
#[derive(Debug)]
pub struct LatencyProbe {
    target: Target,
    client: HttpClient,
    request: RequestTemplate,
    expect: Expectation,
    requests: u32,
    check_requests: u32,
    pace: Option<Duration>,
    min_samples: u64,
    budgets: Vec<(f64, Duration)>,
    window: Mutex<LatencyWindow>,
}

impl LatencySpec {
    /// Validate into a probe.
    pub fn build(&self, cx: &mut BuildCx<'_>) -> Option<LatencyProbe> {
        let request = self.request.build(cx, &[RUN_ID]);
        let expect = self.expect.build(cx, StatusSet::success());
        let client = self.client.build(cx);
        if self.requests == 0 {
            cx.error("requests", "must be at least 1");
        }
        if u64::from(self.check_requests) < self.min_samples {
            cx.error(
                "check_requests",
                format!(
                    "must be at least min_samples ({}) so a one-shot run can judge",
                    self.min_samples
                ),
            );
        }
        if self.window.is_zero() {
            cx.error("window", "must be greater than zero");
        }
        if self.budgets.is_empty() {
            cx.error("budgets", "needs at least one budget");
        }
        for (i, b) in self.budgets.iter().enumerate() {
            if !(b.quantile > 0.0 && b.quantile <= 1.0) {
                cx.error(
                    &format!("budgets[{i}].quantile"),
                    format!("must be in (0, 1], got {}", b.quantile),
                );
            }
            if b.under.is_zero() {
                cx.error(&format!("budgets[{i}].under"), "must be greater than zero");
            }
        }
        if cx.has_errors() {
            return None;
        }
        Some(LatencyProbe {
            target: cx.target.clone(),
            client: client?,
            request: request?,
            expect: expect?,
            requests: self.requests,
            check_requests: self.check_requests,
            pace: self.pace,
            min_samples: self.min_samples,
            budgets: self.budgets.iter().map(|b| (b.quantile, b.under)).collect(),
            window: Mutex::new(LatencyWindow::new(self.window, WINDOW_SLOTS)),
        })
    }
}

impl LatencyProbe {
    fn record(&self, sample: Duration) {
        if let Ok(mut w) = self.window.lock() {
            w.record(Instant::now(), sample);
        }
    }

    fn summary(&self) -> Option<LatencySummary> {
        self.window.lock().ok().map(|w| w.summary(Instant::now()))
    }

    /// In a one-shot run of `n` requests, more than `(1 - q) * n` samples over a budget means
    /// that quantile is over budget whatever the remaining samples are: stop early rather than
    /// spend the deadline on a slow target and end `inconclusive`.
    fn certain_breach(&self, over: &mut [u32], sample: Duration, n: u32) -> Option<String> {
        for (i, &(q, under)) in self.budgets.iter().enumerate() {
            if sample > under {
                over[i] += 1;
                let allowed = ((1.0 - q) * f64::from(n)).floor() as u32;
                if over[i] > allowed {
                    return Some(format!(
                        "p{} over budget {}: {} of {n} planned samples already slower",
                        q * 100.0,
                        fmt_duration(under),
                        over[i]
                    ));
                }
            }
        }
        None
    }

    fn judge(&self, s: &LatencySummary) -> Outcome {
        let samples = s.samples;
        let percentiles = format!(
            "p50 {} p99 {} (n={samples})",
            fmt_duration(s.p50),
            fmt_duration(s.p99)
        );
        if samples < self.min_samples {
            return Outcome::inconclusive(format!(
                "{percentiles}: fewer than {} samples",
                self.min_samples
            ));
        }
        for &(q, under) in &self.budgets {
            let value = quantile_of(s, q);
            if value > under {
                return Outcome::failure(
                    FailureReason::Latency,
                    format!(
                        "p{} {} over budget {}; {percentiles}",
                        q * 100.0,
                        fmt_duration(value),
                        fmt_duration(under)
                    ),
                );
            }
        }
        Outcome::success(percentiles)
    }
}

/// The summary's value for a configured quantile (the nearest one it holds, rounding up).
fn quantile_of(s: &LatencySummary, q: f64) -> Duration {
    match q {
        q if q <= 0.5 => s.p50,
        q if q <= 0.9 => s.p90,
        q if q <= 0.99 => s.p99,
        q if q <= 0.999 => s.p999,
        _ => s.max,
    }
}

impl Probe for LatencyProbe {
    fn kind(&self) -> Kind {
        Kind::Latency
    }

    async fn run(&self, cx: &RunContext) -> Outcome {
        let what = self.request.describe();
        let n = if cx.one_shot {
            self.check_requests
        } else {
            self.requests
        };
        let vars: Vars = [(RUN_ID.to_string(), cx.run_id.clone())].into();
        let req = match self
            .request
            .prepare(&self.target, &vars, Credential::AsConfigured)
        {
            Ok(r) => r,
            Err(e) => return Outcome::failure(FailureReason::Protocol, format!("{what}: {e}")),
        };
        // In a one-shot run only this run's samples count.
        if cx.one_shot
            && let Ok(mut w) = self.window.lock()
        {
            *w = LatencyWindow::new(Duration::from_secs(3600), 1);
        }
        let mut failures = FailureTally::default();
        let mut over_budget = vec![0u32; self.budgets.len()];
        let mut samples = Vec::with_capacity(n as usize);
        for i in 0..n {
            if i > 0
                && let Some(pace) = self.pace
            {
                tokio::time::sleep(pace.min(cx.remaining())).await;
            }
            if cx.remaining().is_zero() || cx.cancel.is_cancelled() {
                break;
            }
            match exchange(&self.client, &req, &self.expect, cx, 0).await {
                Ok(resp) => {
                    self.record(resp.elapsed);
                    samples.push(resp.elapsed);
                    if cx.one_shot
                        && let Some(breach) = self.certain_breach(&mut over_budget, resp.elapsed, n)
                    {
                        let mut o = Outcome::failure(FailureReason::Latency, breach);
                        o.latency = self.summary();
                        o.samples = samples;
                        return o;
                    }
                }
                Err(f) => failures.add(f),
            }
        }
        let Some(summary) = self.summary() else {
            return Outcome::inconclusive("latency window unavailable");
        };
        // Failed requests are the http probes' business, but a latency run that mostly failed
        // says nothing about latency: report the most common failure instead.
        let failed = failures.total();
        let mut outcome = match failures.most_common() {
            Some((count, f)) if failed * 2 > n || summary.samples < self.min_samples => {
                let mut o = Failed {
                    message: format!("{count} of {n} requests failed, e.g. {}", f.message),
                    ..f
                }
                .context(&what)
                .into_outcome();
                o.latency = Some(summary);
                o.samples = samples;
                return o;
            }
            _ => self.judge(&summary),
        };
        outcome.latency = Some(summary);
        outcome.samples = samples;
        outcome
    }
}
