//! End to end alerting (DESIGN §8): a real Prometheus scrapes a running `prober`, which probes
//! the simulator; a fault is injected; Prometheus evaluates the repository's real rules
//! (`rules/*.yaml`) and the alert goes through a real Alertmanager to a webhook in this test,
//! then resolves when the fault is removed. Prints the delay from each fault change to the
//! webhook's receipt.
//!
//! Intervals: scrape and rule evaluation every 1 s; Alertmanager `group_wait` 1 s,
//! `group_interval` 1 s, `repeat_interval` 1h, `resolve_timeout` 5 s. The rules are copied
//! unchanged except for two documented replacements ([`SHORTENED`]) so the test takes about a
//! minute and a half instead of ten.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "support/alertmanager.rs"]
mod alertmanager;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use alertmanager::{Alertmanager, Webhook};
use prober_sim::Faults;
use support::prometheus::{Options, Prometheus};
use support::{Daemon, config};
use tokio::time::Instant;

/// Health, an auth probe and a latency probe, every second. The latency probe makes 10
/// requests per run into a 40 s window: 400 samples healthy, still more than the 100 that
/// GodelLatencyP99High requires with 300 ms per request (a run then takes 3 s), and a slow
/// sample leaves the window 40 s after the fault is gone.
const PROBES: &str = r#"
[[probe]]
name = "health"
kind = "http"
every = "1s"
request = { method = "GET", path = "/api/health" }
expect = { status = [200] }

[[probe]]
name = "auth-required"
kind = "auth"
every = "1s"
requests = [{ method = "GET", path = "/api/agents" }]
credentials = ["none", "wrong"]
deny_status = [401, 403]

[[probe]]
name = "api-latency"
kind = "latency"
every = "1s"
request = { method = "GET", path = "/api/agents", auth = true }
requests = 10
window = "40s"
min_samples = 100
budgets = [{ quantile = 0.99, under = "200ms" }]
"#;

/// The only changes to the copied rules: (file, alert, text in that alert's rule, replacement).
/// GodelLatencyP99High waits 5 minutes (`for: 5m`) before firing: 10 s here. GodelAuthNotEnforced
/// has no `for` and fires at once, but its `increase(…[5m])` holds it for 5 minutes after the
/// last violation: a 15 s range here, so it resolves within the test. Everything else (the
/// thresholds, the 100-sample minimum, the other alerts and files) is the repository's.
const SHORTENED: [(&str, &str, &str, &str); 2] = [
    (
        "prober.alerts.yaml",
        "GodelLatencyP99High",
        "for: 5m",
        "for: 10s",
    ),
    (
        "prober.alerts.yaml",
        "GodelAuthNotEnforced",
        r#"increase(prober_probe_failures_total{reason="auth_not_enforced"}[5m])"#,
        r#"increase(prober_probe_failures_total{reason="auth_not_enforced"}[15s])"#,
    ),
];

/// Copy `rules/*.yaml` into `dir` with [`SHORTENED`] applied (each replacement must match
/// exactly once, inside its alert's rule); returns the copies.
fn copy_rules(dir: &Path) -> Vec<PathBuf> {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let mut copies = Vec::new();
    for entry in std::fs::read_dir(&rules).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (file, alert, from, to) in SHORTENED {
            if file != name {
                continue;
            }
            let start = text
                .find(&format!("- alert: {alert}\n"))
                .unwrap_or_else(|| panic!("{alert} not in {name}"));
            let end = text[start + 1..]
                .find("- alert: ")
                .map_or(text.len(), |i| start + 1 + i);
            let rule = &text[start..end];
            assert_eq!(
                rule.matches(from).count(),
                1,
                "`{from}` once in {alert}'s rule: {rule}"
            );
            let rule = rule.replace(from, to);
            text.replace_range(start..end, &rule);
        }
        let copy = dir.join(&name);
        std::fs::write(&copy, text).unwrap();
        copies.push(copy);
    }
    assert!(
        copies.iter().any(|p| p.ends_with("prober.alerts.yaml"))
            && copies.iter().any(|p| p.ends_with("prober.rules.yaml")),
        "{copies:?}"
    );
    copies
}

/// Everything the test runs, for waiting with diagnostics.
struct Stack {
    webhook: Webhook,
    alertmanager: Alertmanager,
    prometheus: Prometheus,
}

impl Stack {
    /// Poll every 100 ms, at most `bound`, until the webhook got `alertname` for `probe` with
    /// `status` after `since`; returns the receipt time and the alert. On timeout, fails with
    /// what the webhook, Prometheus and Alertmanager hold.
    async fn wait_alert(
        &self,
        alertname: &str,
        probe: &str,
        status: &str,
        since: Instant,
        bound: Duration,
    ) -> (Instant, serde_json::Value) {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(found) = self
                .webhook
                .find(alertname, &[("probe", probe)], status, since)
            {
                return found;
            }
            if Instant::now() >= deadline {
                let alerts = self.prometheus.query("ALERTS").await;
                panic!(
                    "timed out after {bound:?} waiting for {alertname} ({probe}) {status} at the \
                     webhook.\nwebhook got: {:#?}\nPrometheus ALERTS: {alerts:#?}\n\
                     Alertmanager holds: {:#}\nAlertmanager log: {}\nPrometheus log: {}",
                    self.webhook.summary(),
                    self.alertmanager.alerts().await,
                    self.alertmanager.log(),
                    self.prometheus.log(),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_fire_alerts_through_prometheus_and_alertmanager_to_a_webhook_and_resolve() {
    let sim = support::sim().await;
    let daemon = Daemon::start(&config(&sim.base_url(), "", PROBES));
    let rules = tempfile::tempdir().unwrap();
    let rule_files = copy_rules(rules.path());
    let webhook = Webhook::start().await;
    let alertmanager = Alertmanager::start(&webhook.url);
    let prometheus = Prometheus::start_with(
        daemon.addr,
        &Options {
            rule_files,
            evaluation_interval: Some(Duration::from_secs(1)),
            alertmanager: Some(alertmanager.addr),
        },
    );
    let stack = Stack {
        webhook,
        alertmanager,
        prometheus,
    };

    // Ready: the rules loaded, the Alertmanager known, the daemon scraped with a full latency
    // window (so the latency alert below waits for the fault, not for samples).
    support::eventually(Duration::from_secs(60), "rules loaded", || async {
        let data = stack.prometheus.api("/api/v1/rules").await;
        let names: Vec<String> = data["groups"]
            .as_array()?
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| r["name"].as_str().map(String::from))
            .collect();
        (names.iter().any(|n| n == "GodelAuthNotEnforced")
            && names.iter().any(|n| n == "GodelLatencyP99High")
            && names.iter().any(|n| n == "GodelRollbackFailed"))
        .then_some(())
    })
    .await;
    support::eventually(
        Duration::from_secs(60),
        "Prometheus sends to the Alertmanager",
        || async {
            let data = stack.prometheus.api("/api/v1/alertmanagers").await;
            (!data["activeAlertmanagers"].as_array()?.is_empty()).then_some(())
        },
    )
    .await;
    support::eventually(
        Duration::from_secs(90),
        "api-latency's window holds 100 samples, in Prometheus",
        || async {
            let r = stack
                .prometheus
                .query(r#"prober_latency_window_samples{job="prober",probe="api-latency"} >= 100"#)
                .await;
            (!r.is_empty()).then_some(())
        },
    )
    .await;
    // Healthy so far: neither alert fired (rule evaluation has run for seconds by now).
    let quiet = stack
        .prometheus
        .query(r#"ALERTS{alertname=~"GodelAuthNotEnforced|GodelLatencyP99High"}"#)
        .await;
    assert!(quiet.is_empty(), "alerts while healthy: {quiet:#?}");

    // 1. Godel stops enforcing auth: GodelAuthNotEnforced (no `for`) reaches the webhook.
    let bypass = Faults {
        auth_bypass: true,
        ..Faults::default()
    };
    let t_auth = Instant::now();
    sim.set_faults(bypass.clone());
    let (at, alert) = stack
        .wait_alert(
            "GodelAuthNotEnforced",
            "auth-required",
            "firing",
            t_auth,
            Duration::from_secs(90),
        )
        .await;
    let auth_fired = at - t_auth;
    eprintln!("GodelAuthNotEnforced: auth_bypass injected -> webhook (firing) in {auth_fired:.1?}");
    assert_eq!(
        alert["annotations"]["runbook_url"],
        "https://github.com/godel/godel-prober/blob/main/runbooks/GodelAuthNotEnforced.md",
        "{alert:#}"
    );
    assert_eq!(alert["labels"]["severity"], "critical", "{alert:#}");
    assert_eq!(alert["labels"]["reason"], "auth_not_enforced", "{alert:#}");
    assert_eq!(alert["labels"]["job"], "prober", "{alert:#}");

    // 2. And 300 ms per request: api-latency's P99 goes over 200 ms with ≥ 100 samples, held
    // for the (shortened) `for`.
    let t_latency = Instant::now();
    sim.set_faults(Faults {
        latency: Some(Duration::from_millis(300)),
        ..bypass
    });
    let (at, alert) = stack
        .wait_alert(
            "GodelLatencyP99High",
            "api-latency",
            "firing",
            t_latency,
            Duration::from_secs(120),
        )
        .await;
    let latency_fired = at - t_latency;
    eprintln!(
        "GodelLatencyP99High: 300 ms latency injected -> webhook (firing) in {latency_fired:.1?} \
         (of which `for: 10s`)"
    );
    assert_eq!(
        alert["annotations"]["runbook_url"],
        "https://github.com/godel/godel-prober/blob/main/runbooks/GodelLatencyP99High.md",
        "{alert:#}"
    );
    assert_eq!(alert["labels"]["severity"], "warning", "{alert:#}");
    assert_eq!(alert["labels"]["quantile"], "0.99", "{alert:#}");

    // 3. The faults go: both resolve (`send_resolved`), once the 15 s range no longer sees a
    // violation and the slow samples have left the 40 s window.
    let t_clear = Instant::now();
    sim.set_faults(Faults::default());
    let (at, _) = stack
        .wait_alert(
            "GodelAuthNotEnforced",
            "auth-required",
            "resolved",
            t_clear,
            Duration::from_secs(120),
        )
        .await;
    eprintln!(
        "GodelAuthNotEnforced: faults removed -> webhook (resolved) in {:.1?}",
        at - t_clear
    );
    let (at, alert) = stack
        .wait_alert(
            "GodelLatencyP99High",
            "api-latency",
            "resolved",
            t_clear,
            Duration::from_secs(150),
        )
        .await;
    eprintln!(
        "GodelLatencyP99High: faults removed -> webhook (resolved) in {:.1?}",
        at - t_clear
    );
    assert_ne!(alert["endsAt"], "0001-01-01T00:00:00Z", "{alert:#}");
    drop(stack);
    sim.shutdown().await;
}
