//! Test support for the daemon as a real process: the embedded simulator in the test, `prober
//! run` as a child with JSON logs, a strict parser of both exposition formats, a TLS server
//! with a certificate made here, and the real Prometheus and promtool (Debian `prometheus`; a
//! missing binary fails the test with the package to install, it never skips).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod exposition;
pub mod kube_fake;
pub mod prometheus;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prober_sim::{SimConfig, SimHandle};

/// The simulator's keys in these tests (not its defaults: a leak check can find them).
pub const ADMIN_KEY: &str = "tk-daemon-admin-3c9e1f";
/// A valid key without admin rights.
pub const USER_KEY: &str = "tk-daemon-user-7b2d4a";

/// A simulator in this process, with quick agents and our keys.
pub async fn sim() -> SimHandle {
    let config = SimConfig {
        admin_key: ADMIN_KEY.into(),
        user_key: USER_KEY.into(),
        spawning_for: Duration::from_millis(100),
        running_for: Duration::from_millis(200),
        ..SimConfig::default()
    };
    SimHandle::start(([127, 0, 0, 1], 0).into(), config)
        .await
        .unwrap()
}

/// A config file for `sim_url` with `probes` (TOML `[[probe]]` tables) and fast daemon
/// settings. `extra` goes before the probes (e.g. a `[resources]` table).
pub fn config(sim_url: &str, extra: &str, probes: &str) -> String {
    format!(
        r#"
[target]
base_url = "{sim_url}"
[target.auth]
key_env = "TEST_GODEL_KEY"
non_admin_key_env = "TEST_GODEL_USER_KEY"

[daemon]
listen = "127.0.0.1:0"
startup_stagger = "500ms"
shutdown_timeout = "10s"

[resources]
enabled = false

{extra}

{probes}
"#
    )
}

/// `prober run` as a child process; killed on drop.
pub struct Daemon {
    child: Child,
    /// Where its HTTP server listens.
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<serde_json::Value>>>,
    /// The config file.
    pub config_path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// The binary under test.
pub fn prober() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_prober"));
    c.env("NO_COLOR", "1")
        .env("TEST_GODEL_KEY", ADMIN_KEY)
        .env("TEST_GODEL_USER_KEY", USER_KEY);
    c
}

impl Daemon {
    /// Write `config` to a temp file and run `prober run` on it.
    pub fn start(config: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prober.toml");
        std::fs::write(&path, config).unwrap();
        let mut d = Daemon::start_with(&["run", "--config", path.to_str().unwrap()], &path);
        d._dir = Some(dir);
        d
    }

    /// Like [`Daemon::start`], with `env` set on the process (e.g. `PROBER_…` overrides, or
    /// the keys a config's `key_env` names).
    pub fn start_env(config: &str, env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prober.toml");
        std::fs::write(&path, config).unwrap();
        let mut d =
            Daemon::start_with_env(&["run", "--config", path.to_str().unwrap()], &path, env);
        d._dir = Some(dir);
        d
    }

    /// Run `prober --log-format json ARGS` and wait for its `listening` log line.
    pub fn start_with(args: &[&str], config_path: &Path) -> Daemon {
        Daemon::start_with_env(args, config_path, &[])
    }

    /// [`Daemon::start_with`] with `env` set on the process.
    pub fn start_with_env(args: &[&str], config_path: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut child = prober()
            .arg("--log-format")
            .arg("json")
            .args(args)
            .env("RUST_LOG", "info,prober=debug")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                let value: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
                if value["fields"]["message"] == "listening" {
                    let _ = tx.send(value["fields"]["addr"].as_str().unwrap().to_string());
                }
                sink.lock().unwrap().push(value);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the daemon did not log `listening`: {:#?}",
                    logs.lock().unwrap()
                );
            }
        };
        Daemon {
            child,
            addr,
            logs,
            config_path: config_path.to_path_buf(),
            _dir: None,
        }
    }

    /// `http://ADDR`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET `path`: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = client().get(self.url(path)).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// `/metrics` in the Prometheus text format, parsed.
    pub async fn metrics(&self) -> exposition::Exposition {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200);
        exposition::parse(&body, exposition::Format::PrometheusText)
    }

    /// The status JSON.
    pub async fn status(&self) -> serde_json::Value {
        let (code, body) = self.get("/api/v1/status").await;
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// The status JSON of one probe.
    pub async fn probe_status(&self, name: &str) -> serde_json::Value {
        let status = self.status().await;
        status["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no probe {name} in {status:#}"))
            .clone()
    }

    /// Send a signal (`TERM`, `HUP`, …).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Wait for the process to exit, at most `bound`.
    pub fn wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + bound;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Log records so far.
    pub fn logs(&self) -> Vec<serde_json::Value> {
        self.logs.lock().unwrap().clone()
    }

    /// Log records whose message is `message` (and whose `probe` field is `probe`, if given).
    pub fn logged(&self, message: &str, probe: Option<&str>) -> usize {
        self.logs()
            .iter()
            .filter(|l| l["fields"]["message"] == message)
            .filter(|l| probe.is_none_or(|p| l["fields"]["probe"] == p))
            .count()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client for the tests.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Poll `check` every 100 ms until it returns `Some`, at most `bound` (generous: the daemon's
/// intervals in these tests are 1 s). Panics with `what` on timeout.
pub async fn eventually<T, F, Fut>(bound: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {bound:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A TLS server on 127.0.0.1:0 with a fresh self-signed certificate for `localhost` valid for
/// `days`; returns its address and the certificate's PEM (to trust as a CA file).
pub async fn tls_server(days: u64) -> (SocketAddr, String) {
    use tokio::io::AsyncReadExt;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap();
    params.not_before = rcgen::date_time_ymd(1970, 1, 1) + (now - Duration::from_secs(3600));
    params.not_after =
        rcgen::date_time_ymd(1970, 1, 1) + (now + Duration::from_secs(days * 86_400));
    let cert = params.self_signed(&key).unwrap();
    let pem = cert.pem();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(sock).await {
                    let mut buf = [0u8; 256];
                    while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    (addr, pem)
}

/// A Debian tool: its path, or a failure naming the package to install.
pub fn debian_tool(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} not found: install the Debian package `{package}` (scripts/test does)");
}
