//! `prober check` and `prober sim` as real processes: exit codes, the table, JSON and JUnit
//! reports, and that a known API key appears in no output of any command.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

const ADMIN_KEY: &str = "tk-admin-5f1e9c2b7a";
const USER_KEY: &str = "tk-user-8d3a6e0f4c";

fn prober(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_prober"));
    c.args(args).env("NO_COLOR", "1");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `prober sim` on a free loopback port with our own keys; killed on drop.
struct Sim {
    child: Child,
    stdout: BufReader<ChildStdout>,
    first_line: String,
    url: String,
}

impl Sim {
    fn start(extra: &[&str]) -> Sim {
        let mut args = vec![
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            ADMIN_KEY,
            "--user-key",
            USER_KEY,
        ];
        args.extend_from_slice(extra);
        let mut child = prober(&args)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first_line = String::new();
        stdout.read_line(&mut first_line).unwrap();
        let url = first_line.trim().rsplit(' ').next().unwrap().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{first_line}");
        Sim {
            child,
            stdout,
            first_line,
            url,
        }
    }

    /// Everything the simulator printed, after stopping it.
    fn output(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut all = std::mem::take(&mut self.first_line);
        let _ = self.stdout.read_to_string(&mut all);
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut all);
        }
        all
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check(sim: &Sim, extra: &[&str]) -> Output {
    let mut args = vec!["check", "--target", &sim.url];
    args.extend_from_slice(extra);
    prober(&args)
        .env("GODEL_API_KEY", ADMIN_KEY)
        .env("GODEL_USER_KEY", USER_KEY)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap()
}

const PROBES: [&str; 8] = [
    "health",
    "ready",
    "api-smoke",
    "auth-required",
    "admin-required",
    "api-latency",
    "api-burst",
    "agent-spawn",
];

#[test]
fn check_against_the_embedded_simulator_passes_and_exits_0() {
    let out = prober(&["check", "--sim"]).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    for p in PROBES {
        assert!(
            all.lines().any(|l| l.starts_with(p) && l.contains(" ok ")),
            "{p} not ok:\n{all}"
        );
    }
    assert!(
        all.contains("8 probes: 8 passed, 0 failed, 0 inconclusive"),
        "{all}"
    );
}

#[test]
fn a_failing_probe_exits_1_with_json_and_junit_reports() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let out = prober(&[
        "check",
        "--sim",
        "--sim-faults",
        r#"{"auth_bypass":true}"#,
        "--format",
        "json",
        "--junit",
        junit.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["failed"], 2, "{report:#}");
    let probes = report["probes"].as_array().unwrap();
    assert_eq!(probes.len(), PROBES.len());
    let auth = probes
        .iter()
        .find(|p| p["name"] == "auth-required")
        .unwrap();
    assert_eq!(auth["result"], "failure");
    assert_eq!(auth["reason"], "auth_not_enforced");
    let latency = probes.iter().find(|p| p["name"] == "api-latency").unwrap();
    assert!(
        latency["latency"]["samples"].as_u64().unwrap() >= 100,
        "{latency:#}"
    );

    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), PROBES.len(), "{xml}");
    for p in PROBES {
        assert!(
            cases.iter().any(|c| c.attribute("name") == Some(p)),
            "{p} missing:\n{xml}"
        );
    }
    let failures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failures.len(), 2, "{xml}");
    assert!(
        failures
            .iter()
            .all(|f| f.attribute("type") == Some("auth_not_enforced")),
        "{xml}"
    );
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("failures"), Some("2"));
}

#[test]
fn usage_errors_exit_2() {
    let out = prober(&["check", "--sim", "--probe", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("--probe nope: no such probe"),
        "{}",
        text(&out)
    );
    let out = prober(&["check", "--sim", "--sim-faults", r#"{"latnecy":"1s"}"#])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("latnecy"), "{}", text(&out));
    let out = prober(&["check", "--bogus-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn one_probe_can_be_selected() {
    let out = prober(&["check", "--sim", "--probe", "health", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["probes"].as_array().unwrap().len(), 1);
}

#[test]
fn a_known_api_key_appears_in_no_output_of_any_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();

    // A simulator with our keys, checked while healthy and while failing in several ways.
    let sim = Sim::start(&[]);
    let junit = dir.path().join("ok.xml");
    outputs.push(text(&check(&sim, &["--junit", junit.to_str().unwrap()])));
    outputs.push(std::fs::read_to_string(&junit).unwrap());
    outputs.push(text(&check(&sim, &["--format", "json"])));
    outputs.push(sim.output());

    let failing = Sim::start(&["--auth-bypass", "--error-rate", "0.5", "--unhealthy"]);
    let junit = dir.path().join("fail.xml");
    let out = check(
        &failing,
        &[
            "--format",
            "json",
            "--junit",
            junit.to_str().unwrap(),
            "--log-format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    outputs.push(text(&out));
    outputs.push(std::fs::read_to_string(&junit).unwrap());
    outputs.push(failing.output());

    // A key from a file, through config check and a broken config.
    let key_file = dir.path().join("api-key");
    std::fs::write(&key_file, format!("{ADMIN_KEY}\n")).unwrap();
    let config = dir.path().join("prober.toml");
    std::fs::write(
        &config,
        format!(
            "[target]\nbase_url = \"http://127.0.0.1:9\"\nauth = {{ key_file = {key_file:?} }}\n\
             [[probe]]\nname = \"x\"\nkind = \"http\"\nrequest = {{ path = \"/\", auth = true, headers = {{ bad = \"{ADMIN_KEY}\\n\" }} }}\n"
        ),
    )
    .unwrap();
    let out = prober(&["config", "check", config.to_str().unwrap()])
        .output()
        .unwrap();
    outputs.push(text(&out));

    for (i, o) in outputs.iter().enumerate() {
        assert!(!o.is_empty(), "output {i} is empty");
        assert!(
            !o.contains(ADMIN_KEY),
            "admin key leaked in output {i}:\n{o}"
        );
        assert!(!o.contains(USER_KEY), "user key leaked in output {i}:\n{o}");
    }
}

#[test]
fn config_check_lists_interval_and_cron_schedules() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        r#"
[target]
base_url = "http://127.0.0.1:7373"
[[probe]]
name = "health"
kind = "http"
every = "10s"
request = { path = "/api/health" }
[[probe]]
name = "nightly"
kind = "http"
schedule = "0 3 * * *"
deadline = "5m"
request = { path = "/api/health" }
"#,
    )
    .unwrap();
    let out = prober(&["config", "check", file.to_str().unwrap()])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("every 10s"), "{t}");
    assert!(t.contains("cron 0 3 * * *"), "{t}");
}

#[test]
fn metrics_catalog_lists_every_metric_as_text_and_json() {
    let out = prober(&["metrics", "catalog"]).output().unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let out = prober(&["metrics", "catalog", "--format", "json"])
        .output()
        .unwrap();
    let json: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(table.lines().count(), json.len());
    for m in &json {
        let name = m["name"].as_str().unwrap();
        assert!(name.starts_with("prober_"));
        assert!(table.contains(name), "{name} missing from the table");
        assert!(
            ["counter", "gauge", "histogram", "summary"].contains(&m["type"].as_str().unwrap())
        );
    }
    for name in [
        "prober_probe_success",
        "prober_probe_failures_total",
        "prober_nfr_breached",
    ] {
        assert!(json.iter().any(|m| m["name"] == name), "{name}");
    }
}

/// `prober demo` on free ports: the URLs it prints work, a fault set with the curl line it
/// prints breaks the matching probe, and Ctrl-C (SIGINT) ends it with 0.
#[test]
fn demo_prints_working_urls_and_a_fault_breaks_a_probe() {
    let mut child = prober(&[
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--sim-listen",
        "127.0.0.1:0",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    while !banner.contains("Ctrl-C") {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "demo ended early: {banner}"
        );
        banner.push_str(&line);
    }
    let url_after = |label: &str| {
        banner
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("http://")))
            .unwrap_or_else(|| panic!("no {label} URL in {banner}"))
            .to_string()
    };
    let status_url = url_after("status JSON");
    let faults_url = url_after("simulator faults");
    let get = |url: &str| {
        let out = Command::new("curl").args(["-sf", url]).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let probe_health = |name: &str| -> String {
        let status: serde_json::Value = serde_json::from_str(&get(&status_url)).unwrap();
        let probe = status["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned();
        probe
            .map(|p| p["health"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let wait_for = |name: &str, want: &str| {
        for _ in 0..600 {
            if probe_health(name) == want {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{name} never became {want}");
    };
    wait_for("health", "passing");
    // The banner tells how to set a fault: the same request, with another fault.
    assert!(
        banner.contains(&format!(
            "curl -X POST -H 'X-API-Key: {}'",
            prober_sim::DEFAULT_ADMIN_KEY
        )) && banner.contains(&faults_url),
        "{banner}"
    );
    let set = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "POST",
            "-H",
            &format!("X-API-Key: {}", prober_sim::DEFAULT_ADMIN_KEY),
        ])
        .args(["-d", r#"{"unhealthy":true}"#, &faults_url])
        .status()
        .unwrap();
    assert!(set.success());
    wait_for("health", "failing");
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// The README's metric table is documentation of the catalog: same names, types and labels.
#[test]
fn the_readme_documents_every_metric_of_the_catalog() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let out = prober(&["metrics", "catalog", "--format", "json"])
        .output()
        .unwrap();
    let catalog: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let rows: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("| `prober_"))
        .collect();
    for m in &catalog {
        let labels: Vec<&str> = m["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        let row = format!(
            "| `{}` | {} | {} |",
            m["name"].as_str().unwrap(),
            m["type"].as_str().unwrap(),
            if labels.is_empty() {
                "-".to_string()
            } else {
                labels.join(", ")
            }
        );
        assert!(
            rows.iter().any(|r| r.starts_with(&row)),
            "README lacks the row {row}"
        );
    }
    assert_eq!(
        rows.len(),
        catalog.len(),
        "README lists metrics the binary does not export"
    );
}

/// `config check` prints the guard's worst-case time from breach to rollback and its budget.
#[test]
fn config_check_prints_the_worst_case_time_to_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("g.toml");
    let default = String::from_utf8(
        prober(&["config", "print-default"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let guard = "\n[guard]\n[[guard.release]]\nnamespace = \"godel\"\ndeployment = \"godel\"\n";
    std::fs::write(&file, format!("{default}{guard}")).unwrap();
    let out = prober(&["config", "check", file.to_str().unwrap()])
        .env("GODEL_API_KEY", "k")
        .env("GODEL_USER_KEY", "u")
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // api-latency every 15s, 3x faster while analysing = 5s; + the 30s window; + 3 x 5s.
    assert!(
        t.contains("worst-case time from breach to rollback 50s (budget 1m)"),
        "{t}"
    );
    assert!(!t.contains("OVER BUDGET"));
    let slow = guard.replace("[guard]\n", "[guard]\nanalysis_every = \"20s\"\n");
    std::fs::write(&file, format!("{default}{slow}")).unwrap();
    let out = prober(&["config", "check", file.to_str().unwrap()])
        .env("GODEL_API_KEY", "k")
        .env("GODEL_USER_KEY", "u")
        .output()
        .unwrap();
    let t = text(&out);
    assert!(t.contains("1m 35s (budget 1m): OVER BUDGET"), "{t}");
}
