//! `kind = "transaction"`: ordered HTTP steps with captures into `${vars}`, poll steps (until a
//! condition, failing on another, with backoff and a deadline) and cleanup steps that always run,
//! also after a failure, the run's deadline or a shutdown. A failed cleanup is reason `cleanup`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::HttpClient;
use crate::exchange::exchange;
use crate::expect::json::brief;
use crate::expect::{
    ExpectSpec, Expectation, JsonAssertion, JsonSpec, StatusSet, fmt_duration, parse_json,
};
use crate::failed::Failed;
use crate::request::{ClientOverrides, Credential, RequestSpec, RequestTemplate};
use crate::spec::BuildCx;
use crate::target::Target;
use crate::template::{RUN_ID, Vars};
use crate::{FailureReason, Kind, Outcome, Probe, RunContext, StepTiming};

/// Configuration of a `transaction` probe.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionSpec {
    /// Steps, run in order; the first failure ends the run (cleanup still runs).
    pub steps: Vec<StepSpec>,
    /// Cleanup requests, always run after the steps; one whose variables were never captured
    /// (nothing was created) is skipped.
    #[serde(default)]
    pub cleanup: Vec<CleanupSpec>,
    /// Client limit overrides.
    #[serde(default)]
    pub client: ClientOverrides,
    /// Budget for all cleanup requests, on top of the run's deadline (default 10s).
    #[serde(default = "default_cleanup_timeout", with = "humantime_serde")]
    pub cleanup_timeout: Duration,
}

/// One step of a transaction.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Step name (the `step` label).
    pub name: String,
    /// The request; may use `run_id` and variables captured by earlier steps.
    pub request: RequestSpec,
    /// What the response must satisfy (default any 2xx).
    #[serde(default)]
    pub expect: ExpectSpec,
    /// Variable name → JSON pointer into the response, e.g. `{ agent = "/data/id" }`.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// Repeat the request until a condition holds.
    #[serde(default)]
    pub poll: Option<PollSpec>,
}

/// Polling of a step.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSpec {
    /// First pause between requests (default 1s).
    #[serde(default = "default_poll_every", with = "humantime_serde")]
    pub every: Duration,
    /// Factor the pause grows by after each request (default 1: constant).
    #[serde(default = "default_backoff")]
    pub backoff: f64,
    /// Longest pause (default: `every` × 10).
    #[serde(default, with = "humantime_serde")]
    pub max_every: Option<Duration>,
    /// Success: the condition that ends the poll.
    pub until: JsonSpec,
    /// Failure: a condition that ends the poll as an assertion failure (e.g. status `failed`).
    #[serde(default)]
    pub fail_if: Option<JsonSpec>,
    /// Give up after this long (default: the run's deadline); reason `deadline`.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

/// A cleanup request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupSpec {
    /// Name for reports (default `cleanup`).
    #[serde(default)]
    pub name: Option<String>,
    /// The request; may use any captured variable.
    pub request: RequestSpec,
    /// Accepted answer (default any 2xx or 404: already gone is clean).
    #[serde(default)]
    pub expect: ExpectSpec,
}

fn default_cleanup_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_poll_every() -> Duration {
    Duration::from_secs(1)
}
fn default_backoff() -> f64 {
    1.0
}

/// Longest captured value kept; a longer one is an assertion failure, not a huge variable.
const MAX_CAPTURE_LEN: usize = 1024;

#[derive(Debug)]
struct Poll {
    every: Duration,
    backoff: f64,
    max_every: Duration,
    until: JsonAssertion,
    fail_if: Option<JsonAssertion>,
    timeout: Option<Duration>,
}

#[derive(Debug)]
struct Step {
    name: String,
    request: RequestTemplate,
    expect: Expectation,
    capture: Vec<(String, String)>,
    poll: Option<Poll>,
}

#[derive(Debug)]
struct Cleanup {
    name: String,
    request: RequestTemplate,
    expect: Expectation,
}

/// A validated `transaction` probe.
#[derive(Debug)]
pub struct TransactionProbe {
    target: Target,
    client: HttpClient,
    steps: Vec<Step>,
    cleanup: Vec<Cleanup>,
    cleanup_timeout: Duration,
}

impl TransactionSpec {
    /// Validate into a probe.
    pub fn build(&self, cx: &mut BuildCx<'_>) -> Option<TransactionProbe> {
        let mut known: Vec<String> = vec![RUN_ID.to_string()];
        let mut steps = Vec::new();
        if self.steps.is_empty() {
            cx.error("steps", "needs at least one step");
        }
        for (i, spec) in self.steps.iter().enumerate() {
            let step = cx.scoped(&format!("steps[{i}]"), |cx| spec.build(cx, &mut known));
            steps.extend(step);
        }
        let mut names: Vec<&str> = self.steps.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            cx.error("steps", format!("step name {:?} is used twice", w[0]));
        }
        let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
        let mut cleanup = Vec::new();
        for (i, c) in self.cleanup.iter().enumerate() {
            let built = cx.scoped(&format!("cleanup[{i}]"), |cx| {
                let request = c.request.build(cx, &known_refs);
                // Already gone (404) is clean.
                let expect = c.expect.build(cx, StatusSet::success_and(&[404]));
                Some(Cleanup {
                    name: c.name.clone().unwrap_or_else(|| "cleanup".into()),
                    request: request?,
                    expect: expect?,
                })
            });
            cleanup.extend(built);
        }
        if self.cleanup_timeout.is_zero() {
            cx.error("cleanup_timeout", "must be greater than zero");
        }
        let client = self.client.build(cx);
        if cx.has_errors() {
            return None;
        }
        Some(TransactionProbe {
            target: cx.target.clone(),
            client: client?,
            steps,
            cleanup,
            cleanup_timeout: self.cleanup_timeout,
        })
    }
}

impl StepSpec {
    fn build(&self, cx: &mut BuildCx<'_>, known: &mut Vec<String>) -> Option<Step> {
        if self.name.trim().is_empty() {
            cx.error("name", "must not be empty");
        }
        let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
        let request = self.request.build(cx, &known_refs);
        let expect = self.expect.build(cx, StatusSet::success());
        let mut capture = Vec::new();
        for (var, pointer) in &self.capture {
            let key = format!("capture.{var}");
            if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                cx.error(&key, "variable names are letters, digits and _");
            } else if known.contains(var) {
                cx.error(&key, format!("variable {var} is already defined"));
            }
            if !pointer.starts_with('/') {
                cx.error(
                    &key,
                    format!("pointer must start with \"/\", got {pointer:?}"),
                );
            }
            capture.push((var.clone(), pointer.clone()));
        }
        known.extend(capture.iter().map(|(v, _)| v.clone()));
        let poll = self
            .poll
            .as_ref()
            .and_then(|p| cx.scoped("poll", |cx| p.build(cx)));
        if self.poll.is_some() && poll.is_none() {
            return None;
        }
        Some(Step {
            name: self.name.clone(),
            request: request?,
            expect: expect?,
            capture,
            poll,
        })
    }
}

impl PollSpec {
    fn build(&self, cx: &mut BuildCx<'_>) -> Option<Poll> {
        if self.every.is_zero() {
            cx.error("every", "must be greater than zero");
        }
        if !(1.0..=10.0).contains(&self.backoff) {
            cx.error(
                "backoff",
                format!("must be in [1, 10], got {}", self.backoff),
            );
        }
        let until = self.until.build().map_err(|e| cx.error("until", e)).ok();
        let fail_if = match &self.fail_if {
            Some(f) => Some(f.build().map_err(|e| cx.error("fail_if", e)).ok()?),
            None => None,
        };
        Some(Poll {
            every: self.every,
            backoff: self.backoff,
            max_every: self.max_every.unwrap_or(self.every * 10).max(self.every),
            until: until?,
            fail_if,
            timeout: self.timeout,
        })
    }
}

impl TransactionProbe {
    async fn run_step(&self, step: &Step, vars: &mut Vars, cx: &RunContext) -> Result<(), Failed> {
        let req = step
            .request
            .prepare(&self.target, vars, Credential::AsConfigured)
            .map_err(|e| Failed::new(FailureReason::Protocol, e))?;
        let Some(poll) = &step.poll else {
            let resp = exchange(&self.client, &req, &step.expect, cx, 1).await?;
            return capture(step, &resp.body, vars);
        };
        let started = Instant::now();
        let mut pcx = cx.clone();
        if let Some(t) = poll.timeout {
            pcx.deadline = pcx.deadline.min(started + t);
        }
        let mut pause = poll.every;
        let mut last_seen = String::from("nothing");
        loop {
            let resp = match exchange(&self.client, &req, &step.expect, &pcx, 1).await {
                Ok(resp) => resp,
                Err(f) if f.is(FailureReason::Deadline) => {
                    return Err(still_waiting(poll, &last_seen, started));
                }
                Err(f) => return Err(f),
            };
            let doc =
                parse_json(&resp.body).map_err(|e| Failed::new(FailureReason::Assertion, e))?;
            last_seen = doc
                .pointer(poll.until.pointer())
                .map(brief)
                .unwrap_or_else(|| "missing".into());
            if let Some(fail_if) = &poll.fail_if
                && fail_if.holds(&doc)
            {
                return Err(Failed::new(
                    FailureReason::Assertion,
                    format!("{} is {last_seen}", fail_if.pointer()),
                ));
            }
            if poll.until.holds(&doc) {
                return capture(step, &resp.body, vars);
            }
            if pcx.remaining() <= pause {
                return Err(still_waiting(poll, &last_seen, started));
            }
            tokio::select! {
                () = cx.cancel.cancelled() => return Err(Failed::cancelled("cancelled while polling")),
                () = tokio::time::sleep(pause) => {}
            }
            pause = pause.mul_f64(poll.backoff).min(poll.max_every);
        }
    }

    /// Run every cleanup whose variables exist, on a fresh budget that a shutdown does not
    /// cancel: a resource the probe created must not outlive it.
    async fn run_cleanup(
        &self,
        vars: &Vars,
        cx: &RunContext,
        steps: &mut Vec<StepTiming>,
    ) -> Option<String> {
        let ccx = RunContext {
            deadline: Instant::now() + self.cleanup_timeout,
            cancel: CancellationToken::new(),
            run_id: cx.run_id.clone(),
            one_shot: cx.one_shot,
        };
        let mut failure = None;
        for c in &self.cleanup {
            let Ok(req) = c
                .request
                .prepare(&self.target, vars, Credential::AsConfigured)
            else {
                continue; // a variable was never captured: nothing was created to clean up
            };
            let started = Instant::now();
            let result = exchange(&self.client, &req, &c.expect, &ccx, 1).await;
            steps.push(StepTiming {
                name: c.name.clone(),
                duration: started.elapsed(),
                ok: result.is_ok(),
            });
            if let Err(f) = result {
                failure.get_or_insert(format!(
                    "{} {}: {}",
                    c.name,
                    c.request.describe(),
                    f.message
                ));
            }
        }
        failure
    }
}

fn still_waiting(poll: &Poll, last_seen: &str, started: Instant) -> Failed {
    Failed::new(
        FailureReason::Deadline,
        format!(
            "{} still {last_seen} after {}",
            poll.until.pointer(),
            fmt_duration(started.elapsed())
        ),
    )
}

fn capture(step: &Step, body: &[u8], vars: &mut Vars) -> Result<(), Failed> {
    if step.capture.is_empty() {
        return Ok(());
    }
    let doc = parse_json(body).map_err(|e| Failed::new(FailureReason::Assertion, e))?;
    for (var, pointer) in &step.capture {
        let value = match doc.pointer(pointer) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => {
                return Err(Failed::new(
                    FailureReason::Assertion,
                    format!("capture {var}: {pointer} is missing"),
                ));
            }
            Some(other) => other.to_string(),
        };
        if value.len() > MAX_CAPTURE_LEN {
            return Err(Failed::new(
                FailureReason::Assertion,
                format!("capture {var}: value longer than {MAX_CAPTURE_LEN} bytes"),
            ));
        }
        vars.insert(var.clone(), value);
    }
    Ok(())
}

impl Probe for TransactionProbe {
    fn kind(&self) -> Kind {
        Kind::Transaction
    }

    async fn run(&self, cx: &RunContext) -> Outcome {
        let mut vars: Vars = [(RUN_ID.to_string(), cx.run_id.clone())].into();
        let mut steps = Vec::new();
        let mut failure: Option<(String, Failed)> = None;
        for step in &self.steps {
            let started = Instant::now();
            let result = self.run_step(step, &mut vars, cx).await;
            steps.push(StepTiming {
                name: step.name.clone(),
                duration: started.elapsed(),
                ok: result.is_ok(),
            });
            if let Err(f) = result {
                failure = Some((
                    format!("step {} ({})", step.name, step.request.describe()),
                    f,
                ));
                break;
            }
        }
        let cleanup_failure = self.run_cleanup(&vars, cx, &mut steps).await;
        let timings = steps
            .iter()
            .map(|s| format!("{} {}", s.name, fmt_duration(s.duration)))
            .collect::<Vec<_>>()
            .join(", ");
        let mut outcome = match (failure, cleanup_failure) {
            (None, None) => Outcome::success(timings),
            (None, Some(c)) => Outcome::failure(FailureReason::Cleanup, c),
            (Some((what, f)), None) => f.context(&what).into_outcome(),
            (Some((what, f)), Some(c)) => {
                let mut o = f.context(&what).into_outcome();
                o.message.push_str(&format!("; cleanup also failed: {c}"));
                o
            }
        };
        outcome.steps = steps;
        outcome
    }
}
