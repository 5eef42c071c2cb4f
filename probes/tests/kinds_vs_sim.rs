//! Every HTTP-based kind against the real simulator over loopback: passes when healthy, and
//! each injected fault fails the right probe with the right reason.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use prober_probes::secret::Secret;
use prober_probes::spec::BuildCx;
use prober_probes::target::Auth;
use prober_probes::{AnyProbe, FailureReason, ProbeSpec, RunContext, Target, Verdict};
use prober_sim::{Faults, SimConfig, SimHandle};
use serde_json::json;

async fn sim(faults: Faults) -> SimHandle {
    let config = SimConfig {
        spawning_for: Duration::from_millis(50),
        running_for: Duration::from_millis(100),
        faults,
        ..SimConfig::default()
    };
    SimHandle::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

fn target(sim: &SimHandle) -> Target {
    let mut t = Target::for_tests(&sim.base_url());
    t.auth = Some(Auth {
        header: "X-API-Key".into(),
        value_template: "${key}".into(),
        key: Secret::new(prober_sim::DEFAULT_ADMIN_KEY),
        non_admin_key: Some(Secret::new(prober_sim::DEFAULT_USER_KEY)),
    });
    t
}

fn build(target: &Target, spec: serde_json::Value) -> AnyProbe {
    let spec: ProbeSpec = serde_json::from_value(spec).unwrap();
    let mut cx = BuildCx::new(target, "probe[0]");
    let probe = spec.build(&mut cx);
    assert!(!cx.has_errors(), "{:?}", cx.into_errors());
    probe.unwrap()
}

fn health() -> serde_json::Value {
    json!({"kind": "http", "request": {"path": "/api/health"},
           "expect": {"status": [200], "json": [{"pointer": "/data/status", "one_of": ["healthy"]}]}})
}

fn spawn(poll_timeout: &str) -> serde_json::Value {
    json!({"kind": "transaction",
        "steps": [
            {"name": "spawn", "request": {"method": "POST", "path": "/api/agents", "auth": true,
              "json": {"type": "test", "task": "synthetic ${run_id}"}},
             "expect": {"status": [201]}, "capture": {"agent": "/data/id"}},
            {"name": "wait", "request": {"path": "/api/agents/${agent}", "auth": true},
             "poll": {"every": "50ms", "timeout": poll_timeout,
                      "until": {"pointer": "/data/status", "one_of": ["completed"]},
                      "fail_if": {"pointer": "/data/status", "one_of": ["failed"]}}}],
        "cleanup": [{"name": "delete", "request": {"method": "DELETE", "path": "/api/agents/${agent}", "auth": true}}]})
}

fn auth_required() -> serde_json::Value {
    json!({"kind": "auth", "requests": [{"path": "/api/agents"}, {"method": "POST", "path": "/api/agents", "json": {"type": "t", "task": "x"}}],
           "absent": ["/data"]})
}

fn admin_required() -> serde_json::Value {
    json!({"kind": "auth", "requests": [{"path": "/api/admin"}], "credentials": ["none", "non_admin"]})
}

fn latency(check_requests: u32) -> serde_json::Value {
    json!({"kind": "latency", "request": {"path": "/api/agents", "auth": true},
           "requests": 10, "check_requests": check_requests, "min_samples": check_requests.min(100),
           "budgets": [{"quantile": 0.99, "under": "200ms"}]})
}

fn burst(n: u32) -> serde_json::Value {
    json!({"kind": "burst", "request": {"path": "/api/agents", "auth": true}, "concurrency": n})
}

async fn run(probe: &AnyProbe, deadline: Duration) -> prober_probes::Outcome {
    probe.run(&RunContext::new(deadline).one_shot()).await
}

fn assert_reason(o: &prober_probes::Outcome, reason: FailureReason) {
    assert_eq!(o.verdict, Verdict::Failure(reason), "{}", o.message);
}

#[tokio::test]
async fn every_http_kind_passes_against_a_healthy_simulator() {
    let sim = sim(Faults::default()).await;
    let t = target(&sim);
    for spec in [
        health(),
        spawn("10s"),
        auth_required(),
        admin_required(),
        latency(200),
        burst(100),
    ] {
        let kind = spec["kind"].clone();
        let o = run(&build(&t, spec), Duration::from_secs(30)).await;
        assert_eq!(o.verdict, Verdict::Success, "{kind}: {}", o.message);
    }
    let stats = sim.stats();
    assert_eq!(stats.count("DELETE", "/api/agents/{id}"), 1, "{stats:?}");
    assert_eq!(stats.agents_live, 0);
}

#[tokio::test]
async fn latency_fault_breaks_the_latency_budget() {
    let sim = sim(Faults {
        latency: Some(Duration::from_millis(250)),
        ..Faults::default()
    })
    .await;
    let o = run(&build(&target(&sim), latency(100)), Duration::from_secs(30)).await;
    assert_reason(&o, FailureReason::Latency);
    assert!(o.latency.unwrap().p99 >= Duration::from_millis(250));
}

#[tokio::test]
async fn error_rate_is_a_status_failure() {
    let sim = sim(Faults {
        error_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let o = run(&build(&target(&sim), health()), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::Status);
    assert!(o.message.contains("500"), "{}", o.message);
}

#[tokio::test]
async fn auth_bypass_is_auth_not_enforced() {
    let sim = sim(Faults {
        auth_bypass: true,
        ..Faults::default()
    })
    .await;
    let t = target(&sim);
    for spec in [auth_required(), admin_required()] {
        let o = run(&build(&t, spec), Duration::from_secs(10)).await;
        assert_reason(&o, FailureReason::AuthNotEnforced);
        assert!(o.steps.iter().any(|s| !s.ok));
    }
}

#[tokio::test]
async fn stuck_agents_hit_the_deadline_and_are_still_cleaned_up() {
    let sim = sim(Faults {
        stuck_agents: true,
        ..Faults::default()
    })
    .await;
    let o = run(&build(&target(&sim), spawn("1s")), Duration::from_secs(20)).await;
    assert_reason(&o, FailureReason::Deadline);
    assert!(o.message.contains("still \"running\""), "{}", o.message);
    let stats = sim.stats();
    assert_eq!(stats.count("DELETE", "/api/agents/{id}"), 1, "{stats:?}");
    assert_eq!(stats.agents_live, 0);
    assert_eq!(
        o.steps
            .iter()
            .map(|s| (s.name.as_str(), s.ok))
            .collect::<Vec<_>>(),
        [("spawn", true), ("wait", false), ("delete", true)]
    );
}

#[tokio::test]
async fn the_run_deadline_also_ends_a_poll_and_cleanup_still_runs() {
    let sim = sim(Faults {
        stuck_agents: true,
        ..Faults::default()
    })
    .await;
    let o = run(
        &build(&target(&sim), spawn("1h")),
        Duration::from_millis(700),
    )
    .await;
    assert_reason(&o, FailureReason::Deadline);
    assert_eq!(sim.stats().count("DELETE", "/api/agents/{id}"), 1);
}

#[tokio::test]
async fn failing_agents_fail_the_assertion() {
    let sim = sim(Faults {
        failing_agents: true,
        ..Faults::default()
    })
    .await;
    let o = run(&build(&target(&sim), spawn("10s")), Duration::from_secs(20)).await;
    assert_reason(&o, FailureReason::Assertion);
    assert!(o.message.contains("\"failed\""), "{}", o.message);
    assert_eq!(sim.stats().count("DELETE", "/api/agents/{id}"), 1);
}

#[tokio::test]
async fn a_failed_cleanup_is_reported_as_cleanup() {
    let sim = sim(Faults::default()).await;
    let mut spec = spawn("10s");
    spec["cleanup"][0]["request"]["path"] = json!("/api/nowhere/${agent}");
    spec["cleanup"][0]["expect"] = json!({"status": [204]});
    let o = run(&build(&target(&sim), spec), Duration::from_secs(20)).await;
    assert_reason(&o, FailureReason::Cleanup);
}

#[tokio::test]
async fn a_hanging_target_is_a_timeout() {
    let sim = sim(Faults {
        hang_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let mut spec = health();
    spec["client"] = json!({"timeout": "300ms"});
    let o = run(&build(&target(&sim), spec), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::Timeout);
}

#[tokio::test]
async fn a_padded_body_over_the_limit_is_body_too_large() {
    let sim = sim(Faults {
        body_bytes: Some(2 * 1024 * 1024),
        ..Faults::default()
    })
    .await;
    let o = run(&build(&target(&sim), health()), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::BodyTooLarge);
}

#[tokio::test]
async fn rate_limiting_is_rate_limited_not_an_outage() {
    let sim = sim(Faults {
        rate_limit: Some(5),
        ..Faults::default()
    })
    .await;
    let o = run(&build(&target(&sim), burst(50)), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::RateLimited);
    let ratio = o.burst_success_ratio.unwrap();
    assert!(ratio > 0.0 && ratio < 1.0, "{ratio}");
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after_when_it_fits_the_deadline() {
    let sim = sim(Faults {
        rate_limit: Some(1),
        ..Faults::default()
    })
    .await;
    let probe = build(&target(&sim), health());
    assert!(run(&probe, Duration::from_secs(10)).await.is_success());
    // The second request in the same second is refused with Retry-After: 1, then retried.
    let o = run(&probe, Duration::from_secs(10)).await;
    assert!(o.is_success(), "{}", o.message);
    assert_eq!(sim.stats().count("GET", "/api/health"), 3);
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_fails_fast_as_rate_limited() {
    let sim = sim(Faults {
        rate_limit: Some(1),
        ..Faults::default()
    })
    .await;
    let probe = build(&target(&sim), health());
    assert!(run(&probe, Duration::from_secs(10)).await.is_success());
    let started = tokio::time::Instant::now();
    let o = run(&probe, Duration::from_millis(500)).await;
    assert_reason(&o, FailureReason::RateLimited);
    assert_eq!(o.retry_after, Some(Duration::from_secs(1)));
    // It did not sleep the Retry-After second: the run ended within its 500 ms deadline.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn too_few_latency_samples_are_inconclusive_until_the_window_fills() {
    let sim = sim(Faults::default()).await;
    let spec = json!({"kind": "latency", "request": {"path": "/api/health"},
                      "requests": 40, "min_samples": 100});
    let probe = build(&target(&sim), spec);
    let continuous = || RunContext::new(Duration::from_secs(10));
    let first = probe.run(&continuous()).await;
    assert_eq!(first.verdict, Verdict::Inconclusive, "{}", first.message);
    assert_eq!(first.latency.unwrap().samples, 40);
    assert_eq!(
        probe.run(&continuous()).await.verdict,
        Verdict::Inconclusive
    );
    let third = probe.run(&continuous()).await;
    assert_eq!(third.verdict, Verdict::Success, "{}", third.message);
    assert_eq!(third.latency.unwrap().samples, 120);
    // Each run also hands out its own samples (the window holds all three runs'), in order.
    assert_eq!(third.samples.len(), 40);
    assert!(
        third
            .samples
            .iter()
            .all(|d| *d > Duration::ZERO && *d < Duration::from_secs(5))
    );
}

/// A run cancelled mid-way (shutdown) has not judged the target: inconclusive, not a failure.
async fn cancel_after(probe: &AnyProbe, after: Duration) -> prober_probes::Outcome {
    let cx = RunContext::new(Duration::from_secs(30));
    let cancel = cx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        cancel.cancel();
    });
    probe.run(&cx).await
}

#[tokio::test]
async fn a_cancelled_request_is_inconclusive() {
    let sim = sim(Faults {
        hang_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let o = cancel_after(&build(&target(&sim), health()), Duration::from_millis(200)).await;
    assert_eq!(o.verdict, Verdict::Inconclusive, "{}", o.message);
}

#[tokio::test]
async fn a_cancelled_transaction_is_inconclusive_and_still_cleans_up() {
    let sim = sim(Faults {
        stuck_agents: true,
        ..Faults::default()
    })
    .await;
    let o = cancel_after(
        &build(&target(&sim), spawn("1h")),
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(o.verdict, Verdict::Inconclusive, "{}", o.message);
    assert_eq!(sim.stats().count("DELETE", "/api/agents/{id}"), 1);
}
