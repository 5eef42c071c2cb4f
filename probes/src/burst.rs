//! `kind = "burst"`: N concurrent requests at once; all must succeed (or a minimum share).
//! Reports the success ratio, the max and the P99 of the burst.

use std::sync::Arc;

use serde::Deserialize;
use tokio::task::JoinSet;

use crate::client::{HttpClient, PreparedRequest};
use crate::exchange::exchange;
use crate::expect::{ExpectSpec, Expectation, StatusSet, fmt_duration};
use crate::failed::{Failed, FailureTally};
use crate::request::{ClientOverrides, Credential, RequestSpec, RequestTemplate};
use crate::spec::BuildCx;
use crate::target::Target;
use crate::template::{RUN_ID, Vars};
use crate::window::Recorder;
use crate::{FailureReason, Kind, Outcome, Probe, RunContext};

/// Configuration of a `burst` probe.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurstSpec {
    /// The request sent concurrently.
    pub request: RequestSpec,
    /// What each response must satisfy (default: any 2xx).
    #[serde(default)]
    pub expect: ExpectSpec,
    /// Client limit overrides.
    #[serde(default)]
    pub client: ClientOverrides,
    /// Concurrent requests (default 100, at most 10000).
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Share of requests that must succeed, in (0, 1] (default 1: all).
    #[serde(default = "default_min_success_ratio")]
    pub min_success_ratio: f64,
}

fn default_concurrency() -> u32 {
    100
}
fn default_min_success_ratio() -> f64 {
    1.0
}

/// A validated `burst` probe.
#[derive(Debug)]
pub struct BurstProbe {
    target: Target,
    shared: Arc<(HttpClient, Expectation)>,
    request: RequestTemplate,
    concurrency: u32,
    min_success_ratio: f64,
}

impl BurstSpec {
    /// Validate into a probe.
    pub fn build(&self, cx: &mut BuildCx<'_>) -> Option<BurstProbe> {
        let request = self.request.build(cx, &[RUN_ID]);
        let expect = self.expect.build(cx, StatusSet::success());
        let client = self.client.build(cx);
        if !(1..=10_000).contains(&self.concurrency) {
            cx.error(
                "concurrency",
                format!("must be 1 to 10000, got {}", self.concurrency),
            );
        }
        if !(self.min_success_ratio > 0.0 && self.min_success_ratio <= 1.0) {
            cx.error(
                "min_success_ratio",
                format!("must be in (0, 1], got {}", self.min_success_ratio),
            );
        }
        Some(BurstProbe {
            target: cx.target.clone(),
            shared: Arc::new((client?, expect?)),
            request: request?,
            concurrency: self.concurrency,
            min_success_ratio: self.min_success_ratio,
        })
    }
}

impl Probe for BurstProbe {
    fn kind(&self) -> Kind {
        Kind::Burst
    }

    async fn run(&self, cx: &RunContext) -> Outcome {
        let what = self.request.describe();
        let vars: Vars = [(RUN_ID.to_string(), cx.run_id.clone())].into();
        let req: Arc<PreparedRequest> =
            match self
                .request
                .prepare(&self.target, &vars, Credential::AsConfigured)
            {
                Ok(r) => Arc::new(r),
                Err(e) => return Outcome::failure(FailureReason::Protocol, format!("{what}: {e}")),
            };
        let mut set = JoinSet::new();
        for _ in 0..self.concurrency {
            let (shared, req, cx) = (Arc::clone(&self.shared), Arc::clone(&req), cx.clone());
            set.spawn(async move { exchange(&shared.0, &req, &shared.1, &cx, 0).await });
        }
        let mut latencies = Recorder::default();
        let mut failures = FailureTally::default();
        let mut ok = 0u32;
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(resp)) => {
                    ok += 1;
                    latencies.record(resp.elapsed);
                }
                Ok(Err(f)) => failures.add(f),
                Err(join_error) => failures.add(Failed::new(
                    FailureReason::Protocol,
                    format!("request task failed: {join_error}"),
                )),
            }
        }
        let ratio = f64::from(ok) / f64::from(self.concurrency);
        let summary = latencies.summary();
        let stats = format!(
            "{ok}/{} ok, p99 {}, max {}",
            self.concurrency,
            fmt_duration(summary.p99),
            fmt_duration(summary.max)
        );
        let mut outcome = if ratio >= self.min_success_ratio {
            Outcome::success(stats)
        } else {
            // The most common failure names the run.
            match failures.most_common() {
                Some((count, f)) => Failed {
                    message: format!("{stats}; {count} failed with: {}", f.message),
                    ..f
                }
                .context(&what)
                .into_outcome(),
                None => Outcome::failure(FailureReason::Status, stats),
            }
        };
        outcome.burst_success_ratio = Some(ratio);
        outcome.latency = Some(summary);
        outcome
    }
}
