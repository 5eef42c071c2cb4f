//! `prober run` as a real process against the simulator: what `/metrics` holds (parsed here
//! and by promtool), faults and recovery, reload, graceful shutdown, status JSON and page,
//! readiness, and a real Prometheus scraping it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use prober_sim::Faults;
use support::exposition::{self, Format};
use support::{ADMIN_KEY, Daemon, USER_KEY, config, eventually};

const HEALTH: &str = r#"
[[probe]]
name = "health"
kind = "http"
every = "1s"
request = { method = "GET", path = "/api/health" }
expect = { status = [200], json = [{ pointer = "/data/status", one_of = ["healthy"] }] }
"#;

const SPAWN: &str = r#"
[[probe]]
name = "agent-spawn"
kind = "transaction"
every = "1s"
deadline = "30s"
steps = [
  { name = "spawn", request = { method = "POST", path = "/api/agents", auth = true, json = { type = "test", task = "t ${run_id}" } }, expect = { status = [201] }, capture = { agent = "/data/id" } },
  { name = "wait", request = { method = "GET", path = "/api/agents/${agent}", auth = true }, poll = { every = "100ms", until = { pointer = "/data/status", one_of = ["completed"] } } },
]
cleanup = [{ name = "delete", request = { method = "DELETE", path = "/api/agents/${agent}", auth = true } }]
"#;

const AUTH: &str = r#"
[[probe]]
name = "auth-required"
kind = "auth"
every = "1s"
requests = [{ method = "GET", path = "/api/agents" }]
credentials = ["none", "wrong"]
deny_status = [401, 403]
"#;

const MORE: &str = r#"
[[probe]]
name = "api-latency"
kind = "latency"
every = "1s"
request = { method = "GET", path = "/api/agents", auth = true }
requests = 5
window = "1m"
min_samples = 5
budgets = [{ quantile = 0.99, under = "2s" }]

[[probe]]
name = "api-burst"
kind = "burst"
every = "2s"
request = { method = "GET", path = "/api/agents", auth = true }
concurrency = 5
"#;

/// The catalog as the binary prints it.
fn catalog() -> Vec<serde_json::Value> {
    let out = support::prober()
        .args(["metrics", "catalog", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn tls_probe(addr: std::net::SocketAddr, ca: &std::path::Path) -> String {
    format!(
        r#"
[[probe]]
name = "cert"
kind = "tls"
every = "2s"
address = "{addr}"
server_name = "localhost"
ca_file = "{}"
min_days_left = 1
"#,
        ca.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_hold_every_catalog_metric_with_its_type_and_labels() {
    let sim = support::sim().await;
    let (tls_addr, pem) = support::tls_server(30).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let probes = format!("{HEALTH}{SPAWN}{AUTH}{MORE}{}", tls_probe(tls_addr, &ca));
    let cfg = config(&sim.base_url(), "", &probes).replace(
        "[resources]\nenabled = false",
        "[resources]\nevery = \"1s\"",
    );
    let daemon = Daemon::start(&cfg);
    // The guard's metrics exist only with a guard (see rollout_guard.rs).
    let catalog: Vec<serde_json::Value> = catalog()
        .into_iter()
        .filter(|m| m.get("only_with").is_none())
        .collect();
    assert!(catalog.len() >= 17, "{catalog:?}");

    // Wait until every family has a series (steps, bursts and certificates need a run).
    let text = eventually(
        Duration::from_secs(60),
        "a series of every metric",
        || async {
            let (_, text) = daemon.get("/metrics").await;
            let e = exposition::parse(&text, Format::PrometheusText);
            let missing: Vec<&str> = catalog
                .iter()
                .map(|m| m["name"].as_str().unwrap())
                .filter(|name| e.families.get(*name).is_none_or(|f| f.samples.is_empty()))
                .collect();
            missing.is_empty().then_some(text)
        },
    )
    .await;
    let e = exposition::parse(&text, Format::PrometheusText);
    for m in &catalog {
        let name = m["name"].as_str().unwrap();
        let family = &e.families[name];
        assert_eq!(family.kind, m["type"].as_str().unwrap(), "{name}");
        assert!(!family.help.is_empty(), "{name} has no help");
        let want: BTreeSet<&str> = m["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        for s in &family.samples {
            let got: BTreeSet<&str> = s
                .labels
                .keys()
                .map(String::as_str)
                .filter(|l| *l != "le")
                .collect();
            assert_eq!(got, want, "labels of {}", s.name);
        }
    }
    // Nothing exported that the catalog does not list.
    let listed: BTreeSet<&str> = catalog
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    for name in e.families.keys() {
        assert!(
            listed.contains(name.as_str()),
            "{name} is not in the catalog"
        );
    }
    // Values that mean something (a run can fail on a starved machine: wait for a pass).
    for probe in ["health", "cert"] {
        eventually(Duration::from_secs(30), "a passing run", || async {
            let e = daemon.metrics().await;
            (e.value("prober_probe_success", &[("probe", probe)]) == Some(1.0)).then_some(())
        })
        .await;
    }
    let expiry = e
        .value(
            "prober_tls_cert_expiry_timestamp_seconds",
            &[("probe", "cert")],
        )
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (expiry - now - 30.0 * 86_400.0).abs() < 86_400.0,
        "expiry {expiry}, now {now}"
    );
    assert_eq!(
        e.value("prober_burst_success_ratio", &[("probe", "api-burst")]),
        Some(1.0)
    );
    assert_eq!(
        e.label_values("prober_step_duration_seconds_count", "step"),
        ["delete", "spawn", "wait"].map(String::from).into()
    );
    assert_eq!(
        e.label_values("prober_probe_failures_total", "reason")
            .len(),
        13,
        "every reason zeroed"
    );
    assert_eq!(e.value("prober_config_reload_success", &[]), Some(1.0));
    let nfr5 = e.value("prober_nfr_value", &[("nfr", "NFR5")]).unwrap();
    assert!(nfr5 > 0.0 && nfr5 < 1.0, "memory ratio {nfr5}");
    assert_eq!(
        e.value("prober_nfr_threshold", &[("nfr", "NFR6")]),
        Some(0.7)
    );
    let build = e.families["prober_build_info"].samples[0].clone();
    assert_eq!(build.labels["version"], env!("CARGO_PKG_VERSION"));

    // promtool agrees (the real parser and linter).
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let promtool = support::debian_tool("promtool", "prometheus");
    let out = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // OpenMetrics when the scraper prefers it, as Prometheus does.
    let r = support::client()
        .get(daemon.url("/metrics"))
        .header("Accept", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.2,*/*;q=0.1")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    let om = exposition::parse(&r.text().await.unwrap(), Format::OpenMetrics);
    assert_eq!(om.families["prober_probe_runs"].kind, "counter");
    assert!(
        om.value(
            "prober_probe_runs_total",
            &[("probe", "health"), ("result", "success")]
        )
        .unwrap()
            >= 1.0
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_fails_the_probe_and_healing_recovers_it() {
    let sim = support::sim().await;
    let daemon = Daemon::start(&config(&sim.base_url(), "", HEALTH));
    let success =
        |e: &exposition::Exposition| e.value("prober_probe_success", &[("probe", "health")]);
    eventually(Duration::from_secs(30), "health passing", || async {
        (success(&daemon.metrics().await) == Some(1.0)).then_some(())
    })
    .await;

    sim.set_faults(Faults {
        unhealthy: true,
        ..Faults::default()
    });
    let e = eventually(Duration::from_secs(30), "health failing", || async {
        let e = daemon.metrics().await;
        (success(&e) == Some(0.0)).then_some(e)
    })
    .await;
    let failures = |e: &exposition::Exposition, reason: &str| {
        e.value(
            "prober_probe_failures_total",
            &[("probe", "health"), ("reason", reason)],
        )
        .unwrap()
    };
    assert!(failures(&e, "status") >= 1.0);
    assert_eq!(failures(&e, "timeout"), 0.0);
    // Let the streak grow, then heal.
    let before = failures(&e, "status");
    eventually(Duration::from_secs(30), "a second failure", || async {
        (failures(&daemon.metrics().await, "status") > before).then_some(())
    })
    .await;
    sim.set_faults(Faults::default());
    eventually(Duration::from_secs(30), "health recovered", || async {
        (success(&daemon.metrics().await) == Some(1.0)).then_some(())
    })
    .await;
    // One log line for the streak and one for the recovery, not one per run.
    eventually(Duration::from_secs(5), "the recovery log", || async {
        (daemon.logged("probe recovered", Some("health")) == 1).then_some(())
    })
    .await;
    assert_eq!(
        daemon.logged("probe failing", Some("health")),
        1,
        "{:#?}",
        daemon.logs()
    );
    let failing = daemon
        .logs()
        .into_iter()
        .find(|l| l["fields"]["message"] == "probe failing")
        .unwrap();
    assert_eq!(failing["fields"]["reason"], "status");
    assert_eq!(failing["level"], "WARN");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_refuses_a_broken_config_and_keeps_histories_on_a_good_one() {
    let sim = support::sim().await;
    let ready = HEALTH
        .replace("\"health\"", "\"ready\"")
        .replace("/api/health\"", "/api/health/ready\"")
        .replace(
            ", json = [{ pointer = \"/data/status\", one_of = [\"healthy\"] }]",
            "",
        );
    let good = config(&sim.base_url(), "", &format!("{HEALTH}{ready}"));
    let daemon = Daemon::start(&good);
    let runs = |p: serde_json::Value| p["runs"]["success"].as_u64().unwrap();
    eventually(Duration::from_secs(30), "three health runs", || async {
        (runs(daemon.probe_status("health").await) >= 3).then_some(())
    })
    .await;

    // A broken file, by SIGHUP: refused, reported, and the old probes keep running.
    std::fs::write(
        &daemon.config_path,
        good.replace("every = \"1s\"", "every = \"often\""),
    )
    .unwrap();
    daemon.signal("HUP");
    eventually(Duration::from_secs(30), "reload_success 0", || async {
        (daemon
            .metrics()
            .await
            .value("prober_config_reload_success", &[])
            == Some(0.0))
        .then_some(())
    })
    .await;
    let status = daemon.status().await;
    assert_eq!(status["last_reload"]["success"], false);
    let message = status["last_reload"]["message"].as_str().unwrap();
    assert!(
        message.contains("probe[0].every") && message.contains("often"),
        "{message}"
    );
    let after_refusal = runs(daemon.probe_status("health").await);
    eventually(Duration::from_secs(30), "health still running", || async {
        (runs(daemon.probe_status("health").await) > after_refusal).then_some(())
    })
    .await;
    // The same by POST: 400 with the problems.
    let r = support::client()
        .post(daemon.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("probe[0].every"));

    // A good one: health unchanged (history kept), ready changed, smoke added.
    let smoke = "[[probe]]\nname = \"smoke\"\nkind = \"http\"\nevery = \"1s\"\nrequest = { method = \"GET\", path = \"/api/agents\", auth = true }\n";
    let changed = ready.replacen("every = \"1s\"", "every = \"2s\"", 1);
    std::fs::write(
        &daemon.config_path,
        config(&sim.base_url(), "", &format!("{HEALTH}{changed}{smoke}")),
    )
    .unwrap();
    let health_before = runs(daemon.probe_status("health").await);
    let r = support::client()
        .post(daemon.url("/-/reload"))
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("1 kept, 1 changed, 1 added, 0 removed"),
        "{body}"
    );
    let health = daemon.probe_status("health").await;
    assert!(
        runs(health.clone()) >= health_before,
        "health lost its history: {health:#}"
    );
    assert_eq!(daemon.probe_status("ready").await["schedule"], "every 2s");
    let e = daemon.metrics().await;
    assert_eq!(e.value("prober_config_reload_success", &[]), Some(1.0));
    eventually(Duration::from_secs(30), "the new probe runs", || async {
        (daemon
            .metrics()
            .await
            .value("prober_probe_success", &[("probe", "smoke")])
            == Some(1.0))
        .then_some(())
    })
    .await;
    // Removing a probe removes its series.
    std::fs::write(&daemon.config_path, config(&sim.base_url(), "", HEALTH)).unwrap();
    let r = support::client()
        .post(daemon.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("1 kept, 0 changed, 0 added, 2 removed")
    );
    let e = daemon.metrics().await;
    assert!(
        !e.label_values("prober_probe_runs_total", "probe")
            .contains("smoke")
    );
    assert!(
        e.label_values("prober_probe_runs_total", "probe")
            .contains("health")
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_runs_runs_cleanups_and_exits_zero() {
    let sim = support::sim().await;
    sim.set_faults(Faults {
        stuck_agents: true,
        ..Faults::default()
    });
    let mut daemon = Daemon::start(&config(&sim.base_url(), "", SPAWN));
    // A transaction is in flight, polling an agent that never completes.
    eventually(Duration::from_secs(30), "an agent spawned", || async {
        (sim.stats().agents_created >= 1).then_some(())
    })
    .await;
    daemon.signal("TERM");
    let status = daemon
        .wait_exit(Duration::from_secs(20))
        .expect("exited within the bound");
    assert_eq!(status.code(), Some(0), "{:#?}", daemon.logs());
    let stats = sim.stats();
    assert_eq!(
        stats.agents_deleted, stats.agents_created,
        "every spawned agent cleaned up: {stats:?}"
    );
    assert!(
        stats
            .requests
            .get("DELETE /api/agents/{id}")
            .copied()
            .unwrap_or(0)
            >= 1,
        "{stats:?}"
    );
    assert_eq!(stats.agents_live, 0);
    assert_eq!(daemon.logged("stopped", None), 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_and_page_show_a_failing_probe_and_no_secret() {
    let sim = support::sim().await;
    sim.set_faults(Faults {
        auth_bypass: true,
        ..Faults::default()
    });
    let daemon = Daemon::start(&config(&sim.base_url(), "", &format!("{HEALTH}{AUTH}")));
    let auth = eventually(Duration::from_secs(30), "auth-required failing", || async {
        let p = daemon.probe_status("auth-required").await;
        (p["health"] == "failing").then_some(p)
    })
    .await;
    assert_eq!(auth["last"]["reason"], "auth_not_enforced");
    assert!(
        auth["failures_by_reason"]["auth_not_enforced"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert_eq!(auth["kind"], "auth");
    eventually(
        Duration::from_secs(30),
        "health passing with percentiles",
        || async {
            let p = daemon.probe_status("health").await;
            (p["health"] == "passing" && p["latency"]["p99_seconds"].as_f64().is_some())
                .then_some(())
        },
    )
    .await;
    let status = daemon.status().await;
    assert_eq!(status["ready"], true);
    assert_eq!(
        status["target"].as_str().unwrap().trim_end_matches('/'),
        sim.base_url().trim_end_matches('/')
    );

    let (code, page) = daemon.get("/").await;
    assert_eq!(code, 200);
    let row = |name: &str| {
        page.split("<tr")
            .skip(1)
            .map(|r| r.split("</tr>").next().unwrap())
            .find(|r| r.contains(&format!(">{name}<")))
            .unwrap_or_else(|| panic!("no row for {name}"))
            .to_string()
    };
    let auth_row = row("auth-required");
    assert!(
        auth_row.contains("FAILING") && auth_row.contains("auth_not_enforced"),
        "{auth_row}"
    );
    let health_row = row("health");
    assert!(
        health_row.contains("PASSING") && health_row.contains("<svg"),
        "{health_row}"
    );
    assert!(!page.contains("<script"));

    assert_eq!(daemon.get("/healthz").await.0, 200);
    assert_eq!(daemon.get("/readyz").await.0, 200);
    // No key anywhere: not in metrics, status, page, or logs.
    let (_, metrics) = daemon.get("/metrics").await;
    let logs = serde_json::to_string(&daemon.logs()).unwrap();
    for text in [metrics, status.to_string(), page, logs] {
        assert!(
            !text.contains(ADMIN_KEY) && !text.contains(USER_KEY),
            "a key leaked"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_the_first_round_of_probes() {
    let sim = support::sim().await;
    sim.set_faults(Faults {
        stuck_agents: true,
        ..Faults::default()
    });
    // The first run cannot end before its 3 s deadline: not ready until it has.
    let spawn = SPAWN.replace("deadline = \"30s\"", "deadline = \"3s\"");
    let daemon = Daemon::start(&config(&sim.base_url(), "", &format!("{HEALTH}{spawn}")));
    let (code, body) = daemon.get("/readyz").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("agent-spawn"), "{body}");
    assert_eq!(daemon.get("/healthz").await.0, 200);
    eventually(
        Duration::from_secs(30),
        "ready after the first round",
        || async { (daemon.get("/readyz").await.0 == 200).then_some(()) },
    )
    .await;
    let spawn = daemon.probe_status("agent-spawn").await;
    assert_eq!(spawn["last"]["reason"], "deadline", "{spawn:#}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_every_probe() {
    let sim = support::sim().await;
    let probes = format!("{HEALTH}{SPAWN}{AUTH}");
    let daemon = Daemon::start(&config(&sim.base_url(), "", &probes));
    let prometheus = support::prometheus::Prometheus::start(daemon.addr);
    let names: BTreeSet<String> = ["health", "agent-spawn", "auth-required"]
        .map(String::from)
        .into();
    let found = eventually(
        Duration::from_secs(90),
        "prober_probe_success of every probe in Prometheus",
        || async {
            let result = prometheus.query("prober_probe_success").await;
            let found: BTreeSet<String> = result
                .iter()
                .map(|s| s["metric"]["probe"].as_str().unwrap().to_string())
                .collect();
            (found == names).then_some(result)
        },
    )
    .await;
    for series in &found {
        assert_eq!(series["metric"]["job"], "prober");
        assert_eq!(series["value"][1], "1", "{series}");
    }
    // Prometheus read the counters as counters (metadata from the exposition).
    let meta = prometheus.metadata("prober_probe_runs_total").await;
    assert_eq!(meta, "counter");
    sim.shutdown().await;
}

/// The most agents alive at once in the simulator while `daemon` runs, sampled every 20 ms for
/// `span`. With stuck agents, each in-flight transaction holds one until its cleanup.
async fn max_live_agents(sim: &prober_sim::SimHandle, span: Duration) -> u64 {
    let end = tokio::time::Instant::now() + span;
    let mut max = 0;
    while tokio::time::Instant::now() < end {
        max = max.max(sim.stats().agents_live);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    max
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_longer_than_its_interval_is_skipped_not_overlapped() {
    let sim = support::sim().await;
    sim.set_faults(Faults {
        stuck_agents: true,
        ..Faults::default()
    });
    // Every second, but each run takes its whole 3 s deadline.
    let spawn = SPAWN.replace("deadline = \"30s\"", "deadline = \"3s\"");
    let daemon = Daemon::start(&config(&sim.base_url(), "", &spawn));
    assert_eq!(
        max_live_agents(&sim, Duration::from_secs(8)).await,
        1,
        "runs overlapped"
    );
    let e = eventually(Duration::from_secs(30), "two finished runs", || async {
        let e = daemon.metrics().await;
        let failed = e.value(
            "prober_probe_runs_total",
            &[("probe", "agent-spawn"), ("result", "failure")],
        );
        (failed >= Some(2.0)).then_some(e)
    })
    .await;
    let skipped = e
        .value(
            "prober_probe_skipped_runs_total",
            &[("probe", "agent-spawn")],
        )
        .unwrap();
    assert!(
        skipped >= 2.0,
        "each 3 s run covers 2-3 one-second ticks: {skipped}"
    );
    let status = daemon.probe_status("agent-spawn").await;
    assert!(
        status["runs"]["skipped"].as_u64().unwrap() >= 2,
        "{status:#}"
    );
    assert_eq!(status["last"]["reason"], "deadline");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_limit_bounds_runs_in_flight() {
    let sim = support::sim().await;
    sim.set_faults(Faults {
        stuck_agents: true,
        ..Faults::default()
    });
    let spawn = SPAWN.replace("deadline = \"30s\"", "deadline = \"2s\"");
    let two = format!(
        "{spawn}{}",
        spawn.replace("\"agent-spawn\"", "\"agent-spawn-2\"")
    );
    let limited = |limit: usize| {
        config(&sim.base_url(), "", &two).replace(
            "[daemon]\n",
            &format!("[daemon]\nmax_concurrent_runs = {limit}\n"),
        )
    };
    // Limit 1: the two probes take turns.
    let daemon = Daemon::start(&limited(1));
    assert_eq!(
        max_live_agents(&sim, Duration::from_secs(8)).await,
        1,
        "the limit was exceeded"
    );
    let e = daemon.metrics().await;
    for probe in ["agent-spawn", "agent-spawn-2"] {
        let runs = e.value(
            "prober_probe_runs_total",
            &[("probe", probe), ("result", "failure")],
        );
        assert!(runs >= Some(1.0), "{probe} never ran: {runs:?}");
    }
    let mut daemon = daemon;
    daemon.signal("TERM");
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(20)).unwrap().code(),
        Some(0)
    );
    // The control: with a limit of 2 they do overlap, so the check above can fail.
    eventually(
        Duration::from_secs(10),
        "the first daemon's agents cleaned",
        || async { (sim.stats().agents_live == 0).then_some(()) },
    )
    .await;
    let _daemon = Daemon::start(&limited(2));
    assert_eq!(max_live_agents(&sim, Duration::from_secs(8)).await, 2);
    sim.shutdown().await;
}

/// A fake Kubernetes API server on 127.0.0.1:0 (real Kubernetes JSON) serving one Godel pod
/// using 90 MiB of a 100 MiB limit and 300m of a 1-CPU limit; returns a kubeconfig for it.
async fn fake_kube_api(dir: &std::path::Path) -> std::path::PathBuf {
    use axum::routing::get;
    let pods = serde_json::json!({
        "kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
        "items": [{
            "metadata": {"name": "godel-0", "namespace": "godel", "labels": {"app": "godel"}},
            "spec": {"containers": [{"name": "api", "image": "godel:1",
                "resources": {"limits": {"cpu": "1", "memory": "100Mi"}}}]},
            "status": {"phase": "Running"}
        }]
    });
    let metrics = serde_json::json!({
        "kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
        "items": [{
            "metadata": {"name": "godel-0", "namespace": "godel"},
            "timestamp": "2026-11-22T10:00:00Z", "window": "15s",
            "containers": [{"name": "api", "usage": {"cpu": "300m", "memory": "90Mi"}}]
        }]
    });
    let app = axum::Router::new()
        .route(
            "/api/v1/namespaces/godel/pods",
            get(move || async move { axum::Json(pods) }),
        )
        .route(
            "/apis/metrics.k8s.io/v1beta1/namespaces/godel/pods",
            get(move || async move { axum::Json(metrics) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\nusers:\n- name: fake\n  user:\n    token: kube-token-9f8e7d\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn godel_pods_resources_become_nfr_metrics() {
    let sim = support::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = fake_kube_api(dir.path()).await;
    let resources = format!(
        "[resources]\nevery = \"1s\"\npods = {{ namespace = \"godel\", selector = \"app=godel\", kubeconfig = \"{}\" }}",
        kubeconfig.display()
    );
    let cfg =
        config(&sim.base_url(), "", HEALTH).replace("[resources]\nenabled = false", &resources);
    let daemon = Daemon::start(&cfg);
    let e = eventually(
        Duration::from_secs(30),
        "NFR values from the pods",
        || async {
            let e = daemon.metrics().await;
            e.value("prober_nfr_value", &[("nfr", "NFR6")])
                .is_some()
                .then_some(e)
        },
    )
    .await;
    let nfr = |name: &str, id: &str| e.value(name, &[("nfr", id)]).unwrap();
    assert!((nfr("prober_nfr_value", "NFR5") - 0.9).abs() < 1e-9);
    assert_eq!(
        nfr("prober_nfr_breached", "NFR5"),
        1.0,
        "90 % of memory is over 80 %"
    );
    assert!((nfr("prober_nfr_value", "NFR6") - 0.3).abs() < 1e-9);
    assert_eq!(nfr("prober_nfr_breached", "NFR6"), 0.0);
    assert_eq!(nfr("prober_nfr_threshold", "NFR5"), 0.8);
    let status = daemon.status().await;
    let nfrs = status["nfrs"].as_array().unwrap();
    assert_eq!(nfrs[0]["nfr"], "NFR5");
    assert_eq!(nfrs[0]["breached"], true);
    assert!(
        nfrs[0]["source"]
            .as_str()
            .unwrap()
            .contains("godel/app=godel"),
        "{nfrs:?}"
    );
    // The breach is logged once, however many samples see it.
    eventually(Duration::from_secs(10), "more samples", || async {
        (daemon
            .logs()
            .iter()
            .filter(|l| l["fields"]["message"] == "probe run")
            .count()
            >= 3)
            .then_some(())
    })
    .await;
    let breaches = daemon
        .logs()
        .iter()
        .filter(|l| l["fields"]["nfr"] == "NFR5" && l["level"] == "WARN")
        .count();
    assert_eq!(breaches, 1, "{:#?}", daemon.logs());
    assert!(
        !serde_json::to_string(&daemon.logs())
            .unwrap()
            .contains("kube-token-9f8e7d")
    );
    sim.shutdown().await;
}
