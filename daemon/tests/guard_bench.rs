//! Benchmarks of the rollout guard with the DEFAULT probes and DEFAULT `[guard]` settings
//! (`prober config print-default` plus only the `[guard]` keys that must differ here), in the
//! world of `rollout_guard.rs`: the simulator as Godel, the fake Kubernetes API, a stub helm.
//!
//! - `bench_time_to_rollback`: time from fault injection (300 ms on every request, after a
//!   completed rollout is past its warm-up) to the helm call, over `GUARD_BENCH_RUNS` runs.
//! - `bench_noisy_but_healthy`: one long run (`GUARD_BENCH_NOISY_SECS`) with 0.5 % slow
//!   requests after a rollout: how many rollbacks (goal zero).
//!
//! Benchmarks, not tests: `#[ignore]`d, and no timing is asserted (only that the guard did
//! what it should, once the record is written). Run with `bench/guard_rollback.sh`, or
//! `cargo test --release -p prober --test guard_bench -- --ignored --nocapture`.
//! The record (JSON) goes to `GUARD_BENCH_OUT` (default `target/guard-bench.json`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use prober_sim::{Faults, SimHandle};
use serde_json::{Value, json};
use support::kube_fake::{KubeFake, helm_calls, write_stub_helm};
use support::{ADMIN_KEY, Daemon, USER_KEY, eventually};
use tokio::time::Instant;

const NS: &str = "godel";

/// The injected latency: on every request in the time-to-rollback runs
/// (`GUARD_BENCH_FAULT_MS` there), on a few in the noisy run.
const FAULT_LATENCY: Duration = Duration::from_millis(300);
/// The share of slow requests in the noisy run (under the 1 % a P99 allows).
const NOISE_FRACTION: f64 = 0.005;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?}: {e}")),
        Err(_) => default,
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The workspace's root (this package is `daemon/`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn out_path() -> PathBuf {
    let p = PathBuf::from(
        std::env::var("GUARD_BENCH_OUT").unwrap_or_else(|_| "target/guard-bench.json".into()),
    );
    if p.is_absolute() {
        p
    } else {
        workspace_root().join(p)
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mem_kib: Option<u64> = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok());
    json!({
        "nproc": command_line("nproc", &[]),
        "available_parallelism": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "kernel": command_line("uname", &["-r"]),
        "uname": command_line("uname", &["-srvmo"]),
        "cpu": cpu,
        "mem_total_kib": mem_kib,
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "git_commit": command_line("git", &["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"]),
        "prober": env!("CARGO_BIN_EXE_prober"),
    })
}

/// The record both benchmarks add to (they run in one process, possibly at once): started
/// empty by the first writer, so nothing of an earlier invocation is kept.
static RECORD: Mutex<Option<Value>> = Mutex::new(None);

fn write_record(key: &str, section: Value) {
    let mut guard = RECORD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let record = guard.get_or_insert_with(|| json!({ "benchmark": "guard_rollback" }));
    record[key] = section;
    record["machine"] = machine();
    record["written_at"] = json!(command_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]));
    let path = out_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&path, serde_json::to_string_pretty(record).unwrap() + "\n").unwrap();
    eprintln!("guard bench: {key} written to {}", path.display());
}

/// Godel (the simulator), Kubernetes (the fake) with a rolled out `godel` Deployment and its
/// Helm history (1 superseded, 2 deployed), and a stub helm: as in `rollout_guard.rs`.
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

    /// Only the `[guard]` keys that must differ from the defaults here.
    fn guard_section(&self) -> String {
        format!(
            r#"
[guard]
kubeconfig = "{kubeconfig}"

[[guard.release]]
namespace = "{NS}"
deployment = "godel"
release = "godel"

[guard.rollback]
command = ["{helm}"]

[guard.gates]
resources = false
"#,
            kubeconfig = self.kubeconfig.display(),
            helm = self.helm.display(),
        )
    }

    /// `prober config print-default` with [`World::guard_section`] appended.
    fn config(&self) -> String {
        let out = support::prober()
            .args(["config", "print-default"])
            .output()
            .unwrap();
        assert!(out.status.success(), "print-default: {out:?}");
        let default = String::from_utf8(out.stdout).unwrap();
        format!("{default}\n{}", self.guard_section())
    }

    /// What must differ outside `[guard]`, as environment: the simulator's URL, a free
    /// loopback port (runs may overlap), and the keys the default config's `key_env` names.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PROBER_TARGET__BASE_URL", self.sim.base_url()),
            ("PROBER_DAEMON__LISTEN", "127.0.0.1:0".into()),
            ("GODEL_API_KEY", ADMIN_KEY.into()),
            ("GODEL_USER_KEY", USER_KEY.into()),
        ]
    }

    /// `prober config check` on the config: the worst-case time from breach to rollback.
    fn config_check(&self) -> String {
        let path = self.dir.path().join("check.toml");
        std::fs::write(&path, self.config()).unwrap();
        let env = self.env();
        let out = support::prober()
            .args(["config", "check", path.to_str().unwrap()])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        assert!(out.status.success(), "config check: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn start_daemon(&self) -> Daemon {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Daemon::start_env(&self.config(), &env)
    }

    fn calls(&self) -> Vec<Vec<String>> {
        helm_calls(self.dir.path())
    }

    /// When the stub helm first appended to its log (its mtime), if it ran.
    fn first_call_mtime(&self) -> Option<SystemTime> {
        std::fs::metadata(self.dir.path().join("helm-calls.log"))
            .and_then(|m| m.modified())
            .ok()
    }

    fn event_counts(&self) -> Value {
        let mut counts = serde_json::Map::new();
        for e in self.fake.events() {
            let reason = e["reason"].as_str().unwrap_or("?").to_string();
            let n = counts.get(&reason).and_then(Value::as_u64).unwrap_or(0);
            counts.insert(reason, json!(n + 1));
        }
        Value::Object(counts)
    }

    fn event_notes(&self, reason: &str) -> Vec<String> {
        self.fake
            .events()
            .into_iter()
            .filter(|e| e["reason"] == reason)
            .map(|e| e["note"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

/// Wait until the daemon leads and the api-latency probe has run (a baseline exists).
async fn leading_with_baseline(daemon: &Daemon) {
    eventually(
        Duration::from_secs(120),
        "leadership and a first api-latency run",
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
}

/// The status JSON's rollout of release godel.
async fn rollout_status(daemon: &Daemon) -> Value {
    let status = daemon.status().await;
    status["rollouts"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["release"] == "godel"))
        .cloned()
        .unwrap_or(Value::Null)
}

fn gate(rollout: &Value, id: &str) -> Value {
    rollout["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["gate"] == id))
        .cloned()
        .unwrap_or(Value::Null)
}

/// `prober_rollbacks_total{release="godel"}` by result.
async fn rollbacks_by_result(daemon: &Daemon) -> (f64, Value) {
    let e = daemon.metrics().await;
    let mut total = 0.0;
    let mut by = serde_json::Map::new();
    for s in e.samples().filter(|s| {
        s.name == "prober_rollbacks_total"
            && s.labels.get("release").map(String::as_str) == Some("godel")
    }) {
        total += s.value;
        by.insert(
            s.labels.get("result").cloned().unwrap_or_default(),
            json!(s.value),
        );
    }
    (total, Value::Object(by))
}

/// One time-to-rollback run; its record.
async fn one_rollback_run(
    index: u64,
    fault: Duration,
    inject_after: Duration,
    bound: Duration,
) -> Value {
    let started = Instant::now();
    let w = World::new().await;
    let daemon = w.start_daemon();
    leading_with_baseline(&daemon).await;
    let ready_s = started.elapsed().as_secs_f64();
    w.fake.start_rollout(NS, "godel", "godel:2");
    w.fake.finish_rollout(NS, "godel");
    let rollout_at = Instant::now();
    tokio::time::sleep_until(rollout_at + inject_after).await;
    let before = rollout_status(&daemon).await;
    let load_before = load_average();

    let injected = Instant::now();
    let injected_wall = SystemTime::now();
    w.sim.set_faults(Faults {
        latency: Some(fault),
        ..Faults::default()
    });
    let mut first_failure: Option<f64> = None;
    let mut helm_at: Option<f64> = None;
    // The analyses as the status JSON shows them: one entry per change of the last analysis.
    let mut timeline: Vec<Value> = Vec::new();
    let mut last_key = String::new();
    while injected.elapsed() < bound {
        if !w.calls().is_empty() {
            helm_at = Some(injected.elapsed().as_secs_f64());
            break;
        }
        let r = rollout_status(&daemon).await;
        let t = injected.elapsed().as_secs_f64();
        let failures = r["consecutive_failures"].as_u64().unwrap_or(0);
        if first_failure.is_none() && failures >= 1 {
            first_failure = Some(t);
        }
        let nfr3 = gate(&r, "NFR3");
        let key = format!("{failures} {nfr3}");
        if key != last_key {
            last_key = key;
            timeline.push(json!({
                "s": round3(t),
                "consecutive_failures": failures,
                "nfr3_verdict": nfr3["verdict"],
                "nfr3_samples": nfr3["samples"],
                "nfr3_reason": nfr3["reason"],
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let helm_mtime_s = match (helm_at, w.first_call_mtime()) {
        (Some(_), Some(m)) => m
            .duration_since(injected_wall)
            .ok()
            .map(|d| d.as_secs_f64()),
        _ => None,
    };
    // Nothing more should happen: a few analysis intervals later, still one call.
    if helm_at.is_some() {
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    let calls = w.calls();
    let argv_ok = calls
        .first()
        .is_some_and(|c| c.len() >= 3 && c[..3] == ["rollback", "godel", "1"]);
    let (rollbacks, by_result) = rollbacks_by_result(&daemon).await;
    let record = json!({
        "run": index,
        "seconds_to_helm_call": helm_at.map(round3),
        "seconds_to_helm_call_by_log_mtime": helm_mtime_s.map(round3),
        "seconds_to_first_failing_analysis": first_failure.map(round3),
        "helm_calls": calls.len(),
        "helm_argv": calls.first(),
        "exactly_one_helm_call": calls.len() == 1 && argv_ok,
        "rollbacks_total": rollbacks,
        "rollbacks_by_result": by_result,
        "rollback_triggered": w.event_notes("RollbackTriggered"),
        "before_injection": {
            "seconds_after_rollout": round3(inject_after.as_secs_f64()),
            "verdict": before["verdict"],
            "consecutive_failures": before["consecutive_failures"],
            "nfr3": gate(&before, "NFR3"),
        },
        "injected_at_unix": round3(unix(injected_wall)),
        "seconds_to_leader_and_baseline": round3(ready_s),
        "load_average_at_injection": load_before,
        "events": w.event_counts(),
        "analyses_after_injection": timeline,
    });
    eprintln!(
        "guard bench: run {index}: helm call {:?} s after injection (first failing analysis {:?} s), {} call(s)",
        helm_at.map(round3),
        first_failure.map(round3),
        calls.len()
    );
    drop(daemon);
    w.sim.shutdown().await;
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark (minutes): bench/guard_rollback.sh"]
async fn bench_time_to_rollback() {
    let runs = env_u64("GUARD_BENCH_RUNS", 5);
    let concurrency = env_u64("GUARD_BENCH_CONCURRENCY", 1).max(1);
    let fault = Duration::from_millis(env_u64(
        "GUARD_BENCH_FAULT_MS",
        FAULT_LATENCY.as_millis() as u64,
    ));
    let inject_after = Duration::from_secs(env_u64("GUARD_BENCH_INJECT_AFTER_SECS", 35));
    let bound = Duration::from_secs(env_u64("GUARD_BENCH_BOUND_SECS", 180));
    let goal = env_u64("GUARD_BENCH_GOAL_SECS", 60) as f64;
    let better = env_u64("GUARD_BENCH_BETTER_SECS", 30) as f64;

    let probe_world = World::new().await;
    let config_check = probe_world.config_check();
    let guard_section = probe_world.guard_section();
    probe_world.sim.shutdown().await;

    let started = Instant::now();
    let load_start = load_average();
    let mut results: Vec<Value> = futures_util::stream::iter(1..=runs)
        .map(|i| one_rollback_run(i, fault, inject_after, bound))
        .buffer_unordered(usize::try_from(concurrency).unwrap())
        .collect()
        .await;
    results.sort_by_key(|r| r["run"].as_u64());
    let times: Vec<f64> = results
        .iter()
        .filter_map(|r| r["seconds_to_helm_call"].as_f64())
        .collect();
    let missed = results.len() - times.len();
    let med = median(&times);
    let max = times.iter().copied().reduce(f64::max);
    let min = times.iter().copied().reduce(f64::min);
    let all_once = results.iter().all(|r| r["exactly_one_helm_call"] == true);
    let section = json!({
        "runs": runs,
        "concurrency": concurrency,
        "fault": { "latency_ms": fault.as_millis() as u64, "latency_fraction": 1.0 },
        "inject_after_rollout_s": inject_after.as_secs(),
        "poll_interval_ms": 100,
        "bound_s": bound.as_secs(),
        "per_run": results,
        "seconds": times,
        "median_s": med.map(round3),
        "max_s": max.map(round3),
        "min_s": min.map(round3),
        "runs_without_rollback": missed,
        "exactly_one_helm_call_every_run": all_once,
        "goal_s": goal,
        "better_s": better,
        "goal_met": missed == 0 && max.is_some_and(|m| m <= goal),
        "better_met": missed == 0 && max.is_some_and(|m| m <= better),
        "config_check": config_check,
        "guard_section": guard_section,
        "wall_s": round3(started.elapsed().as_secs_f64()),
        "load_average_start": load_start,
        "load_average_end": load_average(),
    });
    write_record("time_to_rollback", section);
    eprintln!(
        "guard bench: time to rollback over {} run(s) (concurrency {concurrency}): {:?} s; \
         median {:?} s, max {:?} s (goal {goal} s: {}, better {better} s: {}); \
         {missed} without a rollback; exactly one helm call every run: {all_once}",
        results.len(),
        times.iter().copied().map(round3).collect::<Vec<_>>(),
        med.map(round3),
        max.map(round3),
        if missed == 0 && max.is_some_and(|m| m <= goal) {
            "met"
        } else {
            "not met"
        },
        if missed == 0 && max.is_some_and(|m| m <= better) {
            "met"
        } else {
            "not met"
        },
    );
    assert!(
        all_once,
        "not exactly one helm call in every run: see the record"
    );
}

/// Everything the noisy run saw of the NFR3 gate through the status JSON (polled every 1 s):
/// a reading is one distinct (value, samples, reason) of the last analysis.
#[derive(Default)]
struct Nfr3Seen {
    polls: u64,
    polls_over: u64,
    readings: u64,
    readings_over: u64,
    readings_over_not_significant: u64,
    readings_fail: u64,
    readings_inconclusive_few_samples: u64,
    max_value: Option<f64>,
    max_consecutive_failures: u64,
    last: Option<(String, String, String)>,
    examples_over: Vec<String>,
}

impl Nfr3Seen {
    fn observe(&mut self, rollout: &Value) {
        self.max_consecutive_failures = self
            .max_consecutive_failures
            .max(rollout["consecutive_failures"].as_u64().unwrap_or(0));
        let g = gate(rollout, "NFR3");
        if g.is_null() {
            return;
        }
        self.polls += 1;
        let value = g["value"].as_f64();
        let over = value
            .zip(g["threshold"].as_f64())
            .is_some_and(|(v, t)| v > t);
        if over {
            self.polls_over += 1;
        }
        let key = (
            g["value"].to_string(),
            g["samples"].to_string(),
            g["reason"].to_string(),
        );
        if self.last.as_ref() == Some(&key) {
            return;
        }
        self.last = Some(key);
        self.readings += 1;
        let reason = g["reason"].as_str().unwrap_or("");
        if reason.contains("needed") {
            self.readings_inconclusive_few_samples += 1;
        }
        if let Some(v) = value {
            self.max_value = Some(self.max_value.map_or(v, |m: f64| m.max(v)));
        }
        if over {
            self.readings_over += 1;
            if reason.contains("is not significant") {
                self.readings_over_not_significant += 1;
            }
            if g["verdict"] == "fail" {
                self.readings_fail += 1;
            }
            if self.examples_over.len() < 5 {
                self.examples_over.push(reason.to_string());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark (11 minutes by default): bench/guard_rollback.sh"]
async fn bench_noisy_but_healthy() {
    let secs = env_u64("GUARD_BENCH_NOISY_SECS", 660);
    let started = Instant::now();
    let load_start = load_average();
    let w = World::new().await;
    let config_check = w.config_check();
    let noise = Faults {
        latency: Some(FAULT_LATENCY),
        latency_fraction: Some(NOISE_FRACTION),
        ..Faults::default()
    };
    w.sim.set_faults(noise);
    let daemon = w.start_daemon();
    leading_with_baseline(&daemon).await;
    w.fake.start_rollout(NS, "godel", "godel:2");
    w.fake.finish_rollout(NS, "godel");
    let rollout_at = Instant::now();
    let mut seen = Nfr3Seen::default();
    let mut first_helm_call: Option<f64> = None;
    let mut analysis_over_at: Option<f64> = None;
    while rollout_at.elapsed() < Duration::from_secs(secs) {
        let r = rollout_status(&daemon).await;
        seen.observe(&r);
        if analysis_over_at.is_none()
            && r["verdict"]
                .as_str()
                .is_some_and(|v| v != "analysing" && v != "idle")
        {
            analysis_over_at = Some(rollout_at.elapsed().as_secs_f64());
        }
        if first_helm_call.is_none() && !w.calls().is_empty() {
            first_helm_call = Some(rollout_at.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let run_s = rollout_at.elapsed().as_secs_f64();
    let calls = w.calls();
    let (rollbacks, by_result) = rollbacks_by_result(&daemon).await;
    let last = rollout_status(&daemon).await;
    let stats = w.sim.stats();
    let section = json!({
        "seconds_after_rollout": round3(run_s),
        "requested_seconds": secs,
        "noise": {
            "latency_ms": FAULT_LATENCY.as_millis() as u64,
            "latency_fraction": NOISE_FRACTION,
        },
        "helm_calls": calls.len(),
        "helm_argv": calls,
        "first_helm_call_s_after_rollout": first_helm_call.map(round3),
        "rollbacks_total": rollbacks,
        "rollbacks_by_result": by_result,
        "goal_met": calls.is_empty() && rollbacks == 0.0,
        "final_verdict": last["verdict"],
        "analysis_ended_s_after_rollout": analysis_over_at.map(round3),
        "final_nfr3": gate(&last, "NFR3"),
        "nfr3": {
            "status_polls": seen.polls,
            "status_polls_over_limit": seen.polls_over,
            "distinct_readings": seen.readings,
            "distinct_readings_over_limit": seen.readings_over,
            "over_limit_not_significant": seen.readings_over_not_significant,
            "fail_verdicts": seen.readings_fail,
            "inconclusive_too_few_samples": seen.readings_inconclusive_few_samples,
            "max_p99_s": seen.max_value,
            "max_consecutive_failures": seen.max_consecutive_failures,
            "examples_over_limit": seen.examples_over,
        },
        "events": w.event_counts(),
        "sim_requests_get_api_agents": stats.count("GET", "/api/agents"),
        "sim_requests": stats.requests,
        "config_check": config_check,
        "guard_section": w.guard_section(),
        "wall_s": round3(started.elapsed().as_secs_f64()),
        "load_average_start": load_start,
        "load_average_end": load_average(),
    });
    write_record("noisy_but_healthy", section);
    eprintln!(
        "guard bench: noisy but healthy for {:.0} s after the rollout: {} helm call(s), \
         prober_rollbacks_total {rollbacks} (goal 0: {}); final verdict {}; NFR3 over the \
         limit in {} of {} distinct readings ({} not significant, {} failing), max \
         consecutive failures {}",
        run_s,
        calls.len(),
        if calls.is_empty() && rollbacks == 0.0 {
            "met"
        } else {
            "not met"
        },
        last["verdict"],
        seen.readings_over,
        seen.readings,
        seen.readings_over_not_significant,
        seen.readings_fail,
        seen.max_consecutive_failures,
    );
    drop(daemon);
    w.sim.shutdown().await;
}
