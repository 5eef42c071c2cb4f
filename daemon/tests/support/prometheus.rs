//! The real Prometheus (Debian `prometheus`) on loopback, scraping one target every second;
//! killed on drop. Queried through its HTTP API. [`Options`] add rule files, an evaluation
//! interval and an Alertmanager to send alerts to.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

/// What [`Prometheus::start_with`] adds to the plain scrape config.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `rule_files` (absolute paths).
    pub rule_files: Vec<PathBuf>,
    /// `global.evaluation_interval` (Prometheus' default, 1m, when None).
    pub evaluation_interval: Option<Duration>,
    /// An Alertmanager (`alerting.alertmanagers` static target) to send alerts to.
    pub alertmanager: Option<SocketAddr>,
}

/// A Prometheus duration: whole seconds as `Ns`, else milliseconds.
fn prom_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl Prometheus {
    /// Start Prometheus scraping `target` as job `prober` every second, and wait until its API
    /// answers.
    pub fn start(target: SocketAddr) -> Prometheus {
        Prometheus::start_with(target, &Options::default())
    }

    /// [`Prometheus::start`] with rule files, an evaluation interval and an Alertmanager.
    pub fn start_with(target: SocketAddr, options: &Options) -> Prometheus {
        let binary = super::debian_tool("prometheus", "prometheus");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        let mut yaml = String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n");
        if let Some(every) = options.evaluation_interval {
            yaml.push_str(&format!(
                "  evaluation_interval: {}\n",
                prom_duration(every)
            ));
        }
        if !options.rule_files.is_empty() {
            yaml.push_str("rule_files:\n");
            for f in &options.rule_files {
                yaml.push_str(&format!("  - '{}'\n", f.display()));
            }
        }
        if let Some(am) = options.alertmanager {
            yaml.push_str(&format!(
                "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n"
            ));
        }
        yaml.push_str(&format!(
            "scrape_configs:\n  - job_name: prober\n    static_configs:\n      - targets: ['{target}']\n"
        ));
        std::fs::write(&config, yaml).unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let ready = format!("{url}/-/ready");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut p = Prometheus {
            child,
            url,
            _dir: dir,
        };
        loop {
            let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && ureq_get(&ready).is_some_and(|(code, _)| code == 200);
            if up {
                return p;
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                let log = std::fs::read_to_string(p._dir.path().join("prometheus.log"))
                    .unwrap_or_default();
                panic!("prometheus exited ({status}): {log}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "prometheus did not get ready"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// An instant query: the `data.result` array.
    pub async fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let r = super::client()
            .get(
                reqwest::Url::parse_with_params(
                    &format!("{}/api/v1/query", self.url),
                    [("query", promql)],
                )
                .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(v["status"], "success", "{v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// GET an API path (`/api/v1/rules`, `/api/v1/alertmanagers`, …): its `data`.
    pub async fn api(&self, path: &str) -> serde_json::Value {
        let r = super::client()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(v["status"], "success", "{v}");
        v["data"].clone()
    }

    /// Its log so far (stderr), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The type Prometheus recorded for a metric (by its series name or family name).
    pub async fn metadata(&self, name: &str) -> String {
        let family = name.strip_suffix("_total").unwrap_or(name);
        for metric in [name, family] {
            let r = super::client()
                .get(
                    reqwest::Url::parse_with_params(
                        &format!("{}/api/v1/metadata", self.url),
                        [("metric", metric)],
                    )
                    .unwrap(),
                )
                .send()
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
            if let Some(t) = v["data"][metric][0]["type"].as_str() {
                return t.to_string();
            }
        }
        panic!("no metadata for {name}");
    }
}

/// A blocking GET with a plain TCP socket (used before the async client is needed).
pub(crate) fn ureq_get(url: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let code = body.split(' ').nth(1)?.parse().ok()?;
    Some((code, body))
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
