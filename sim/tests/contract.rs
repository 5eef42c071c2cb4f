//! The target contract (DESIGN.md §2) over real HTTP: every row, and the agent lifecycle.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use prober_sim::SimConfig;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn health_is_public_and_healthy() {
    let sim = start_default().await;
    let c = client();
    let (status, body) = get(&c, &sim.base_url(), "/api/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["status"], "healthy");
    assert!(
        body["data"]["version"]
            .as_str()
            .unwrap()
            .starts_with("sim-")
    );
    assert!(body["data"]["uptime_seconds"].is_u64());
    sim.shutdown().await;
}

#[tokio::test]
async fn ready_is_public() {
    let sim = start_default().await;
    let c = client();
    let (status, body) = get(&c, &sim.base_url(), "/api/health/ready", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "success": true, "data": { "ready": true } }));
    sim.shutdown().await;
}

#[tokio::test]
async fn list_agents_needs_a_valid_key() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    for key in [None, Some("wrong-key"), Some("")] {
        let (status, body) = get(&c, &base, "/api/agents", key).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "key {key:?}");
        assert_eq!(body, json!({ "success": false, "error": "unauthorized" }));
    }
    for key in [USER, ADMIN] {
        let (status, body) = get(&c, &base, "/api/agents", Some(key)).await;
        assert_eq!(status, StatusCode::OK, "key {key}");
        assert_eq!(body["success"], true);
        assert!(body["data"].is_array());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn custom_keys_replace_the_defaults() {
    let sim = start(SimConfig {
        admin_key: "a-key".into(),
        user_key: "u-key".into(),
        ..SimConfig::default()
    })
    .await;
    let (c, base) = (client(), sim.base_url());
    assert_eq!(
        get(&c, &base, "/api/admin", Some("a-key")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(&c, &base, "/api/admin", Some("u-key")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&c, &base, "/api/agents", Some(ADMIN)).await.0,
        StatusCode::UNAUTHORIZED
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn create_agent_answers_201_spawning() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    let body = json!({ "type": "test", "task": "say hello" });
    let response = send(
        &c,
        Method::POST,
        &format!("{base}/api/agents"),
        Some(USER),
        Some(&body),
    )
    .await;
    let (status, json) = status_json(response).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(json["success"], true);
    let agent = &json["data"];
    assert!(agent["id"].as_str().unwrap().starts_with("agt_"));
    assert_eq!(agent["type"], "test");
    assert_eq!(agent["task"], "say hello");
    assert_eq!(agent["status"], "spawning");
    assert!(agent["created_at"].as_str().unwrap().ends_with('Z'));
    sim.shutdown().await;
}

#[tokio::test]
async fn create_agent_rejects_bad_requests() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    let url = format!("{base}/api/agents");
    let good = json!({ "type": "test", "task": "x" });
    let (status, _) = status_json(send(&c, Method::POST, &url, None, Some(&good)).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for (bad, mentions) in [
        (json!({ "type": "test" }), "task"),
        (json!({ "task": "x" }), "type"),
        (json!({ "type": 1, "task": "x" }), "invalid type"),
        (
            json!({ "type": "test", "task": "x", "extra": true }),
            "extra",
        ),
        (json!(["test", "x"]), "expected"),
    ] {
        let (status, body) =
            status_json(send(&c, Method::POST, &url, Some(ADMIN), Some(&bad)).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["success"], false);
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(mentions), "{bad}: {error}");
    }
    let not_json = c
        .post(&url)
        .header("X-API-Key", ADMIN)
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let huge = format!(r#"{{"type":"test","task":"{}"}}"#, "x".repeat(70 * 1024));
    let response = c
        .post(&url)
        .header("X-API-Key", ADMIN)
        .body(huge)
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(response).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["success"], false);
    assert_eq!(sim.stats().agents_created, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn get_agent_and_unknown_id() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    let agent = create_agent(&c, &base).await;
    let id = agent["id"].as_str().unwrap();
    let (status, body) = get(&c, &base, &format!("/api/agents/{id}"), Some(USER)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["id"], id);
    assert_eq!(body["data"]["created_at"], agent["created_at"]);
    let (status, _) = get(&c, &base, &format!("/api/agents/{id}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = get(&c, &base, "/api/agents/agt_0_nope", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["success"], false);
    sim.shutdown().await;
}

#[tokio::test]
async fn delete_agent_then_gone() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    let id = create_agent(&c, &base).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{base}/api/agents/{id}");
    assert_eq!(
        send(&c, Method::DELETE, &url, None, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = send(&c, Method::DELETE, &url, Some(USER), None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());
    assert_eq!(
        get(&c, &base, &format!("/api/agents/{id}"), Some(ADMIN))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&c, Method::DELETE, &url, Some(ADMIN), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let stats = sim.stats();
    assert_eq!(
        (
            stats.agents_created,
            stats.agents_deleted,
            stats.agents_live
        ),
        (1, 1, 0)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn admin_is_401_403_200() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    assert_eq!(
        get(&c, &base, "/api/admin", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&c, &base, "/api/admin", Some("wrong")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = get(&c, &base, "/api/admin", Some(USER)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["success"], false);
    let (status, body) = get(&c, &base, "/api/admin", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    sim.shutdown().await;
}

#[tokio::test]
async fn list_is_newest_first() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    let first = create_agent(&c, &base).await["id"].clone();
    let second = create_agent(&c, &base).await["id"].clone();
    let (_, body) = get(&c, &base, "/api/agents", Some(ADMIN)).await;
    let ids: Vec<_> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    assert_eq!(ids, vec![second, first]);
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    let (status, body) = get(&c, &base, "/api/nope", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["success"], false);
    let response = send(
        &c,
        Method::PUT,
        &format!("{base}/api/agents"),
        Some(ADMIN),
        None,
    )
    .await;
    let (status, body) = status_json(response).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["success"], false);
    sim.shutdown().await;
}

#[tokio::test]
async fn agent_lifecycle_spawning_running_completed() {
    let sim = start_fast().await;
    let (c, base) = (client(), sim.base_url());
    let agent = create_agent(&c, &base).await;
    assert_eq!(agent["status"], "spawning");
    let seen = poll_until(&c, &base, agent["id"].as_str().unwrap(), "completed").await;
    // Polls may miss a short phase on a busy machine, but never see them out of order.
    let order = ["spawning", "running", "completed"];
    let ranks: Vec<usize> = seen
        .iter()
        .map(|s| order.iter().position(|o| o == s).unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn status_is_derived_from_age() {
    let long = Duration::from_secs(3600);
    let running = start(SimConfig {
        spawning_for: Duration::ZERO,
        running_for: long,
        ..SimConfig::default()
    })
    .await;
    let spawning = start(SimConfig {
        spawning_for: long,
        ..SimConfig::default()
    })
    .await;
    let c = client();
    for (sim, want) in [(&running, "running"), (&spawning, "spawning")] {
        let base = sim.base_url();
        let id = create_agent(&c, &base).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, body) = get(&c, &base, &format!("/api/agents/{id}"), Some(ADMIN)).await;
        assert_eq!(body["data"]["status"], want);
    }
    running.shutdown().await;
    spawning.shutdown().await;
}
