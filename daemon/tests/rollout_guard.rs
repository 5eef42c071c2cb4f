//! The rollout guard end to end: `prober run` as a real process, the simulator as Godel, a fake
//! Kubernetes API server speaking real Kubernetes JSON and watch streams (Deployments,
//! ReplicaSets, Helm release Secrets, Events, Leases) and a stub `helm` that records its
//! arguments and writes the new release Secret as Helm would. No API server can run here: the
//! fake stands in for one (see `support/kube_fake`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::path::PathBuf;
use std::time::Duration;

use prober_sim::{Faults, SimHandle};
use support::kube_fake::{KubeFake, helm_calls, write_stub_helm};
use support::{Daemon, config, eventually};
use tokio::time::Instant;

const NS: &str = "godel";

const PROBES: &str = r#"
[[probe]]
name = "health"
kind = "http"
every = "1s"
request = { method = "GET", path = "/api/health" }

[[probe]]
name = "api-latency"
kind = "latency"
every = "1s"
request = { method = "GET", path = "/api/agents", auth = true }
requests = 10
window = "1m"
min_samples = 10
budgets = [{ quantile = 0.99, under = "5s" }]

[[probe]]
name = "auth-required"
kind = "auth"
every = "1s"
requests = [{ method = "GET", path = "/api/agents" }]
credentials = ["none"]
"#;

/// Everything a guard test needs: Godel (the simulator), Kubernetes (the fake) with a rolled
/// out `godel` Deployment and its Helm history (1 superseded, 2 deployed), and a stub helm.
struct World {
    sim: SimHandle,
    fake: KubeFake,
    dir: tempfile::TempDir,
    helm: PathBuf,
    kubeconfig: PathBuf,
}

impl World {
    async fn new() -> World {
        let sim = support::sim().await;
        let fake = KubeFake::start().await;
        let dir = tempfile::tempdir().unwrap();
        let helm = write_stub_helm(dir.path(), &fake);
        let kubeconfig = fake.kubeconfig(dir.path());
        fake.create_deployment(NS, "godel", 2, "godel:1");
        fake.put_helm_release(
            NS,
            "godel",
            1,
            "superseded",
            "1.0.0",
            "1",
            "Install complete",
        );
        fake.put_helm_release(NS, "godel", 2, "deployed", "1.1.0", "2", "Upgrade complete");
        World {
            sim,
            fake,
            dir,
            helm,
            kubeconfig,
        }
    }

    /// The daemon's config: fast analyses (1 s, 3 in a row), a 5 s latency window, 20 s of
    /// verification after a rollout (unless `extra` sets `verify_for`), and `extra` lines in
    /// `[guard]`.
    fn config(&self, extra: &str) -> String {
        let verify = if extra.contains("verify_for") {
            ""
        } else {
            "verify_for = \"20s\""
        };
        let guard = format!(
            r#"
[guard]
kubeconfig = "{kubeconfig}"
analysis_every = "1s"
consecutive_failures = 3
warmup = "1s"
{verify}
probe_speedup = 1.0
{extra}

[[guard.release]]
namespace = "{NS}"
deployment = "godel"
release = "godel"

[guard.gates]
availability_probes = ["health"]
latency_probe = "api-latency"
latency_window = "5s"
min_latency_samples = 10
security_probes = ["auth-required"]
resources = false

[guard.rollback]
command = ["{helm}"]
timeout = "10s"
cooldown = "1h"

[guard.lease]
duration = "3s"
"#,
            kubeconfig = self.kubeconfig.display(),
            helm = self.helm.display(),
        );
        config(&self.sim.base_url(), &guard, PROBES)
    }

    fn calls(&self) -> Vec<Vec<String>> {
        helm_calls(self.dir.path())
    }

    fn events(&self, reason: &str) -> Vec<serde_json::Value> {
        self.fake
            .events()
            .into_iter()
            .filter(|e| e["reason"] == reason)
            .collect()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Start the daemon and wait until it leads and the probes have run (a baseline exists).
async fn start(world: &World, extra: &str) -> Daemon {
    let daemon = Daemon::start(&world.config(extra));
    eventually(
        Duration::from_secs(30),
        "leadership and a first latency run",
        || async {
            let e = daemon.metrics().await;
            let leader = e.value("prober_leader", &[]) == Some(1.0);
            let ran = e
                .value("prober_latency_window_samples", &[("probe", "api-latency")])
                .is_some();
            (leader && ran).then_some(())
        },
    )
    .await;
    daemon
}

async fn verdict(daemon: &Daemon, v: &str) -> f64 {
    daemon
        .metrics()
        .await
        .value(
            "prober_rollout_verdict",
            &[("release", "godel"), ("verdict", v)],
        )
        .unwrap_or(0.0)
}

async fn rollbacks(daemon: &Daemon, result: &str) -> f64 {
    daemon
        .metrics()
        .await
        .value(
            "prober_rollbacks_total",
            &[("release", "godel"), ("result", result)],
        )
        .unwrap_or(0.0)
}

/// Wait `span` and check that nothing more happens (generous: several analysis intervals).
async fn quiet(span: Duration) {
    tokio::time::sleep(span).await;
}

fn rollback_argv(to: &str) -> Vec<String> {
    [
        "rollback",
        "godel",
        to,
        "--namespace",
        NS,
        "--wait",
        "--timeout",
        "10s",
    ]
    .map(String::from)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_rollout_passes_without_a_rollback() {
    let w = World::new().await;
    let daemon = start(&w, "verify_for = \"4s\"").await;
    w.fake.start_rollout(NS, "godel", "godel:2");
    eventually(Duration::from_secs(15), "analysing", || async {
        (verdict(&daemon, "analysing").await == 1.0).then_some(())
    })
    .await;
    w.fake.finish_rollout(NS, "godel");
    eventually(Duration::from_secs(40), "the pass verdict", || async {
        (verdict(&daemon, "pass").await == 1.0).then_some(())
    })
    .await;
    assert!(w.calls().is_empty(), "{:?}", w.calls());
    let passed = w.events("AnalysisPassed");
    assert_eq!(passed.len(), 1, "{:#?}", w.fake.events());
    assert_eq!(passed[0]["regarding"]["name"], "godel");
    let e = daemon.metrics().await;
    assert_eq!(
        e.value("prober_rollout_in_progress", &[("deployment", "godel")]),
        Some(0.0)
    );
    assert!(
        e.value(
            "prober_rollout_duration_seconds",
            &[("deployment", "godel")]
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(rollbacks(&daemon, "success").await, 0.0);
    // The status JSON and `prober rollout status` agree.
    let out = support::prober()
        .args([
            "rollout",
            "status",
            "--release",
            "godel",
            "--namespace",
            NS,
            "--url",
            &daemon.url(""),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("godel/godel (deployment godel): PASS"),
        "{text}"
    );
    assert!(text.contains("NFR3") && text.contains("pass"), "{text}");
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_breach_rolls_back_once_to_the_last_good_revision() {
    let w = World::new().await;
    let daemon = start(&w, "").await;
    w.fake.start_rollout(NS, "godel", "godel:2");
    w.fake.finish_rollout(NS, "godel");
    let injected = Instant::now();
    w.sim.set_faults(Faults {
        latency: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    let waited = eventually(Duration::from_secs(60), "the helm call", || async {
        (!w.calls().is_empty()).then(|| injected.elapsed())
    })
    .await;
    eprintln!("fault injected → helm rollback called: {waited:?}");
    assert!(
        waited <= Duration::from_secs(50),
        "slower than the computed budget: {waited:?}"
    );
    assert_eq!(w.calls(), vec![rollback_argv("1")]);
    let triggered = w.events("RollbackTriggered");
    assert_eq!(triggered.len(), 1);
    let note = triggered[0]["note"].as_str().unwrap();
    assert!(
        note.contains("godel revision 2 → 1") && note.contains("NFR3") && note.contains("0.3"),
        "{note}"
    );
    eventually(Duration::from_secs(15), "the success counted", || async {
        (rollbacks(&daemon, "success").await == 1.0).then_some(())
    })
    .await;
    assert_eq!(w.events("RollbackSucceeded").len(), 1);
    // Helm wrote revision 3 as a rollback to 1.
    let r3 = w.fake.helm_release(NS, "godel", 3).unwrap();
    assert_eq!(r3["info"]["description"], "Rollback to 1");
    // The fault is healed; the rolled-back revision's rollout completes: still one call.
    w.sim.set_faults(Faults::default());
    w.fake.finish_rollout(NS, "godel");
    quiet(Duration::from_secs(6)).await;
    assert_eq!(w.calls().len(), 1, "no second rollback");
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_not_enforced_rolls_back_at_once() {
    let w = World::new().await;
    let daemon = start(&w, "").await;
    w.fake.start_rollout(NS, "godel", "godel:2");
    w.sim.set_faults(Faults {
        auth_bypass: true,
        ..Faults::default()
    });
    eventually(Duration::from_secs(30), "the helm call", || async {
        (!w.calls().is_empty()).then_some(())
    })
    .await;
    let note = w.events("RollbackTriggered")[0]["note"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(note.contains("security violation"), "{note}");
    assert_eq!(w.calls(), vec![rollback_argv("1")]);
    assert_eq!(verdict(&daemon, "fail").await, 1.0);
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_samples_is_inconclusive_and_never_rolls_back() {
    let w = World::new().await;
    let daemon = start(&w, "").await;
    // A window that can never hold enough samples: the latency gate cannot judge.
    let cfg = w
        .config("")
        .replace("min_latency_samples = 10", "min_latency_samples = 100000");
    std::fs::write(&daemon.config_path, cfg).unwrap();
    daemon.signal("HUP");
    eventually(Duration::from_secs(10), "the reload", || async {
        (daemon.logged("configuration applied", None) >= 2).then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "the guard again", || async {
        (daemon.metrics().await.value("prober_leader", &[]) == Some(1.0)).then_some(())
    })
    .await;
    w.sim.set_faults(Faults {
        latency: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    w.fake.start_rollout(NS, "godel", "godel:2");
    w.fake.finish_rollout(NS, "godel");
    eventually(
        Duration::from_secs(40),
        "the inconclusive verdict",
        || async { (verdict(&daemon, "inconclusive").await == 1.0).then_some(()) },
    )
    .await;
    assert!(w.calls().is_empty(), "{:?}", w.calls());
    assert!(!w.events("AnalysisInconclusive").is_empty());
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_counts_and_explains_but_never_calls_helm() {
    let w = World::new().await;
    let daemon = start(&w, "dry_run = true").await;
    w.fake.start_rollout(NS, "godel", "godel:2");
    w.sim.set_faults(Faults {
        latency: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    eventually(Duration::from_secs(60), "a dry run", || async {
        (rollbacks(&daemon, "dry_run").await == 1.0).then_some(())
    })
    .await;
    let note = w.events("RollbackDryRun")[0]["note"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        note.contains("would have run") && note.contains("rollback godel 1"),
        "{note}"
    );
    quiet(Duration::from_secs(4)).await;
    assert!(w.calls().is_empty());
    assert_eq!(
        rollbacks(&daemon, "dry_run").await,
        1.0,
        "once per revision, dry or not"
    );
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opt_out_annotation_prevents_the_rollback() {
    let w = World::new().await;
    let mut d = w
        .fake
        .get(support::kube_fake::Kind::Deployment, NS, "godel")
        .unwrap();
    d["metadata"]["annotations"]["godel-prober.io/rollback"] = "disabled".into();
    w.fake.apply(d);
    let daemon = start(&w, "").await;
    w.fake.start_rollout(NS, "godel", "godel:2");
    w.sim.set_faults(Faults {
        auth_bypass: true,
        ..Faults::default()
    });
    eventually(Duration::from_secs(30), "the skip", || async {
        (rollbacks(&daemon, "skipped").await == 1.0).then_some(())
    })
    .await;
    assert!(w.calls().is_empty());
    let note = w.events("RollbackSkipped")[0]["note"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(note.contains("opt"), "{note}");
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_helm_is_counted_explained_and_not_retried() {
    let w = World::new().await;
    std::fs::write(w.file("helm-fail"), "").unwrap();
    let daemon = start(&w, "").await;
    w.fake.start_rollout(NS, "godel", "godel:2");
    w.sim.set_faults(Faults {
        auth_bypass: true,
        ..Faults::default()
    });
    eventually(Duration::from_secs(30), "the failure", || async {
        (rollbacks(&daemon, "failure").await == 1.0).then_some(())
    })
    .await;
    let note = w.events("RollbackFailed")[0]["note"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        note.contains("exit status 1") && note.contains("helm-fail"),
        "{note}"
    );
    quiet(Duration::from_secs(5)).await;
    assert_eq!(w.calls().len(), 1, "no retry storm: {:?}", w.calls());
    assert!(w.fake.helm_release(NS, "godel", 3).is_none());
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_release_is_reported_and_left_alone() {
    let w = World::new().await;
    w.fake.put_helm_release(
        NS,
        "godel",
        3,
        "pending-upgrade",
        "1.2.0",
        "3",
        "Preparing upgrade",
    );
    let daemon = start(&w, "").await;
    eventually(Duration::from_secs(30), "the pending metric", || async {
        let e = daemon.metrics().await;
        (e.value("prober_release_pending", &[("release", "godel")]) == Some(1.0)).then_some(())
    })
    .await;
    let note = w.events("ReleasePending")[0]["note"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(note.contains("revision 3 is pending-upgrade"), "{note}");
    assert!(w.calls().is_empty());
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_second_rollback_when_the_old_revision_still_breaches() {
    let w = World::new().await;
    let daemon = start(&w, "").await;
    w.fake.start_rollout(NS, "godel", "godel:2");
    w.sim.set_faults(Faults {
        latency: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    eventually(Duration::from_secs(60), "the rollback", || async {
        (!w.calls().is_empty()).then_some(())
    })
    .await;
    // The fault stays: revision 1 (now 3) is no better.
    eventually(
        Duration::from_secs(60),
        "the no-recovery metric",
        || async {
            let e = daemon.metrics().await;
            (e.value("prober_rollback_no_recovery", &[("release", "godel")]) == Some(1.0))
                .then_some(())
        },
    )
    .await;
    assert_eq!(w.events("NoRecovery").len(), 1);
    quiet(Duration::from_secs(4)).await;
    assert_eq!(w.calls().len(), 1, "{:?}", w.calls());
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_replicas_only_the_lease_holder_runs_helm() {
    let w = World::new().await;
    let first = start(&w, "").await;
    let second = Daemon::start(&w.config(""));
    eventually(
        Duration::from_secs(30),
        "the second replica running its guard",
        || async {
            (second.metrics().await.value("prober_leader", &[]) == Some(0.0)).then_some(())
        },
    )
    .await;
    w.fake.start_rollout(NS, "godel", "godel:2");
    w.sim.set_faults(Faults {
        auth_bypass: true,
        ..Faults::default()
    });
    eventually(Duration::from_secs(30), "both replicas decided", || async {
        let a = rollbacks(&first, "success").await;
        let b = rollbacks(&second, "skipped").await;
        (a == 1.0 && b == 1.0).then_some(())
    })
    .await;
    assert_eq!(w.calls().len(), 1, "{:?}", w.calls());
    assert_eq!(first.metrics().await.value("prober_leader", &[]), Some(1.0));
    assert_eq!(
        second.metrics().await.value("prober_leader", &[]),
        Some(0.0)
    );
    w.sim.shutdown().await;
}

/// A few slow requests (0.5 %, under the 1 % a P99 allows) put a small window's P99 over the
/// limit now and then; that is noise, not a breach: no rollback. Without the significance
/// test on exceedances this rolls back in most runs (about 3 slow requests in 30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noisy_but_healthy_never_rolls_back() {
    let w = World::new().await;
    let cfg = w
        .config("verify_for = \"30s\"")
        .replace("requests = 10\n", "requests = 20\n");
    let daemon = Daemon::start(&cfg);
    eventually(Duration::from_secs(30), "leadership", || async {
        (daemon.metrics().await.value("prober_leader", &[]) == Some(1.0)).then_some(())
    })
    .await;
    w.sim.set_faults(Faults {
        latency: Some(Duration::from_millis(300)),
        latency_fraction: Some(0.005),
        ..Faults::default()
    });
    w.fake.start_rollout(NS, "godel", "godel:2");
    w.fake.finish_rollout(NS, "godel");
    eventually(
        Duration::from_secs(60),
        "the end of the analysis",
        || async {
            let pass = verdict(&daemon, "pass").await == 1.0;
            let unsure = verdict(&daemon, "inconclusive").await == 1.0;
            (pass || unsure).then_some(())
        },
    )
    .await;
    assert!(w.calls().is_empty(), "a false rollback: {:?}", w.calls());
    assert_eq!(verdict(&daemon, "fail").await, 0.0);
    w.sim.shutdown().await;
}

/// `selector` instead of `deployment`: a rollout of any Deployment of the release is judged,
/// and a breach rolls the release back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_guards_every_deployment_of_the_release() {
    let w = World::new().await;
    w.fake.create_deployment(NS, "godel-worker", 1, "worker:1");
    for name in ["godel", "godel-worker"] {
        let mut d = w
            .fake
            .get(support::kube_fake::Kind::Deployment, NS, name)
            .unwrap();
        d["metadata"]["labels"]["app.kubernetes.io/instance"] = "godel".into();
        w.fake.apply(d);
    }
    let cfg = w.config("").replace(
        "deployment = \"godel\"\nrelease = \"godel\"",
        "selector = \"app.kubernetes.io/instance=godel\"\nrelease = \"godel\"",
    );
    assert!(cfg.contains("selector = "), "{cfg}");
    let daemon = Daemon::start(&cfg);
    eventually(Duration::from_secs(30), "leadership", || async {
        (daemon.metrics().await.value("prober_leader", &[]) == Some(1.0)).then_some(())
    })
    .await;
    // Only the worker rolls out, and it breaks auth.
    w.fake.start_rollout(NS, "godel-worker", "worker:2");
    w.sim.set_faults(Faults {
        auth_bypass: true,
        ..Faults::default()
    });
    eventually(Duration::from_secs(30), "the helm call", || async {
        (!w.calls().is_empty()).then_some(())
    })
    .await;
    assert_eq!(w.calls(), vec![rollback_argv("1")]);
    let triggered = w.events("RollbackTriggered");
    assert_eq!(triggered[0]["regarding"]["name"], "godel-worker");
    let watch = w
        .fake
        .requests()
        .into_iter()
        .find(|r| r.is_watch() && r.path.contains("deployments"))
        .unwrap();
    assert_eq!(
        watch.param("labelSelector"),
        Some("app.kubernetes.io/instance=godel")
    );
    w.sim.shutdown().await;
}

/// The controller gives up (`ProgressDeadlineExceeded`): the rollout failed, roll back at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_past_its_progress_deadline_rolls_back() {
    let w = World::new().await;
    let daemon = start(&w, "").await;
    w.fake.start_rollout(NS, "godel", "godel:2");
    eventually(Duration::from_secs(15), "analysing", || async {
        (verdict(&daemon, "analysing").await == 1.0).then_some(())
    })
    .await;
    w.fake.fail_rollout(NS, "godel");
    eventually(Duration::from_secs(30), "the helm call", || async {
        (!w.calls().is_empty()).then_some(())
    })
    .await;
    let note = w.events("RollbackTriggered")[0]["note"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(note.contains("ProgressDeadlineExceeded"), "{note}");
    assert_eq!(w.calls(), vec![rollback_argv("1")]);
    w.sim.shutdown().await;
}
