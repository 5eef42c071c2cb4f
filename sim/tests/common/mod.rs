//! Shared helpers for the simulator's integration tests: a started simulator, a reqwest client
//! and small request/JSON helpers. Real HTTP over loopback; nothing here mocks the server.

#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use prober_sim::{SimConfig, SimHandle};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;

pub const ADMIN: &str = "dev-admin-key";
pub const USER: &str = "dev-user-key";

/// A client with a generous timeout (the machine may be busy).
pub fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A client that gives up after `timeout`.
pub fn client_with_timeout(timeout: Duration) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().timeout(timeout).build().unwrap()
}

/// Starts a simulator on an ephemeral loopback port.
pub async fn start(config: SimConfig) -> SimHandle {
    SimHandle::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

/// Starts a simulator with the default config.
pub async fn start_default() -> SimHandle {
    start(SimConfig::default()).await
}

/// Starts a simulator whose agents finish quickly (50 ms spawning, 50 ms running).
pub async fn start_fast() -> SimHandle {
    start(SimConfig {
        spawning_for: Duration::from_millis(50),
        running_for: Duration::from_millis(50),
        ..SimConfig::default()
    })
    .await
}

/// Sends `method url` with an optional key and JSON body.
pub async fn send(
    client: &Client,
    method: Method,
    url: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let mut request = client.request(method, url);
    if let Some(key) = key {
        request = request.header("X-API-Key", key);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap());
    }
    request.send().await.unwrap()
}

/// The status and parsed JSON body of a response (`Value::Null` for an empty body).
pub async fn status_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    if bytes.is_empty() {
        return (status, Value::Null);
    }
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, value)
}

/// `GET base+path` with a key, as status and JSON.
pub async fn get(
    client: &Client,
    base: &str,
    path: &str,
    key: Option<&str>,
) -> (StatusCode, Value) {
    status_json(send(client, Method::GET, &format!("{base}{path}"), key, None).await).await
}

/// Creates an agent with the admin key and returns its JSON `data`.
pub async fn create_agent(client: &Client, base: &str) -> Value {
    let body = serde_json::json!({ "type": "test", "task": "integration test" });
    let response = send(
        client,
        Method::POST,
        &format!("{base}/api/agents"),
        Some(ADMIN),
        Some(&body),
    )
    .await;
    let (status, json) = status_json(response).await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    json["data"].clone()
}

/// Polls an agent until its status is `want` or 20 s pass; returns every status seen, in order.
pub async fn poll_until(client: &Client, base: &str, id: &str, want: &str) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seen: Vec<String> = Vec::new();
    loop {
        let (status, json) = get(client, base, &format!("/api/agents/{id}"), Some(ADMIN)).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        let now = json["data"]["status"].as_str().unwrap().to_owned();
        if seen.last() != Some(&now) {
            seen.push(now.clone());
        }
        if now == want {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "agent {id} never reached {want}; seen {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
