//! The real Alertmanager (Debian `prometheus-alertmanager`) on loopback, without clustering,
//! sending every alert to one webhook; killed on drop. And that webhook: an axum server on
//! 127.0.0.1:0 in the test process that keeps every POSTed notification with its receipt time.
//!
//! Included with `#[path = "support/alertmanager.rs"] mod alertmanager;` next to `mod support;`
//! (it uses `crate::support`).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::support;

/// A running Alertmanager.
pub struct Alertmanager {
    child: Child,
    /// Where it listens (Prometheus' `alerting.alertmanagers` target).
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Start it routing every alert to `webhook_url` (with `send_resolved`), and wait until
    /// `/-/ready` answers. Timings for tests: notify 1 s after a group's first alert and 1 s
    /// after any change, never repeat within a test, resolve alerts Prometheus stops sending
    /// after 5 s; `group_by: ['...']` makes each alert its own group (one per notification).
    pub fn start(webhook_url: &str) -> Alertmanager {
        let binary = support::debian_tool("prometheus-alertmanager", "prometheus-alertmanager");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                r#"global:
  resolve_timeout: 5s
route:
  receiver: webhook
  group_by: ['...']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: '{webhook_url}'
        send_resolved: true
"#
            ),
        )
        .unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut am = Alertmanager {
            child,
            addr: ([127, 0, 0, 1], port).into(),
            dir,
        };
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if support::prometheus::ureq_get(&ready).is_some_and(|(code, _)| code == 200) {
                return am;
            }
            if let Ok(Some(status)) = am.child.try_wait() {
                panic!("alertmanager exited ({status}): {}", am.log());
            }
            assert!(
                Instant::now() < deadline,
                "alertmanager did not get ready: {}",
                am.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The alerts it holds (`GET /api/v2/alerts`), for failure messages.
    pub async fn alerts(&self) -> serde_json::Value {
        let r = support::client()
            .get(format!("http://{}/api/v2/alerts", self.addr))
            .send()
            .await
            .unwrap();
        serde_json::from_str(&r.text().await.unwrap()).unwrap()
    }

    /// Its log so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One notification the webhook got: when, and Alertmanager's JSON (webhook payload version 4:
/// `status`, `alerts[]` with `status`, `labels`, `annotations`, `startsAt`, `endsAt`, …).
#[derive(Debug, Clone)]
pub struct Notification {
    /// Receipt time.
    pub at: Instant,
    /// The POSTed body.
    pub body: serde_json::Value,
}

/// A webhook receiver on 127.0.0.1:0 collecting Alertmanager's notifications.
pub struct Webhook {
    /// `http://127.0.0.1:PORT/alerts`, for Alertmanager's `webhook_configs`.
    pub url: String,
    received: Arc<Mutex<Vec<Notification>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Webhook {
    /// Start it on a random loopback port.
    pub async fn start() -> Webhook {
        use axum::extract::State;
        use axum::http::StatusCode;
        let received: Arc<Mutex<Vec<Notification>>> = Arc::default();
        let app = axum::Router::new()
            .route(
                "/alerts",
                axum::routing::post(
                    |State(sink): State<Arc<Mutex<Vec<Notification>>>>,
                     axum::Json(body): axum::Json<serde_json::Value>| async move {
                        let at = Instant::now();
                        sink.lock().unwrap().push(Notification { at, body });
                        StatusCode::OK
                    },
                ),
            )
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Webhook {
            url: format!("http://{addr}/alerts"),
            received,
            server,
        }
    }

    /// Every notification so far.
    pub fn notifications(&self) -> Vec<Notification> {
        self.received.lock().unwrap().clone()
    }

    /// The first alert named `alertname` with `status` (firing or resolved) whose labels
    /// include `labels`, in a notification received at or after `since`: its receipt time and
    /// the alert's JSON.
    pub fn find(
        &self,
        alertname: &str,
        labels: &[(&str, &str)],
        status: &str,
        since: Instant,
    ) -> Option<(Instant, serde_json::Value)> {
        self.notifications()
            .into_iter()
            .filter(|n| n.at >= since)
            .find_map(|n| {
                n.body["alerts"]
                    .as_array()?
                    .iter()
                    .find(|a| {
                        a["status"] == status
                            && a["labels"]["alertname"] == alertname
                            && labels.iter().all(|(k, v)| a["labels"][*k] == *v)
                    })
                    .map(|a| (n.at, a.clone()))
            })
    }

    /// A one-line summary of every alert received (name, labels' probe, status), for failure
    /// messages.
    pub fn summary(&self) -> Vec<String> {
        self.notifications()
            .iter()
            .flat_map(|n| n.body["alerts"].as_array().cloned().unwrap_or_default())
            .map(|a| {
                format!(
                    "{} {} {}",
                    a["labels"]["alertname"].as_str().unwrap_or("?"),
                    a["labels"]["probe"].as_str().unwrap_or("-"),
                    a["status"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.server.abort();
    }
}
