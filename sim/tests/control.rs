//! The control endpoint `/__sim/*` (auth, replacing and resetting faults, bad input) and the
//! request statistics, including 2000 concurrent agent creations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use prober_sim::{Faults, SimConfig};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

fn faults_url(base: &str) -> String {
    format!("{base}/__sim/faults")
}

#[tokio::test]
async fn control_needs_the_admin_key() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    let body = json!({});
    for (method, path) in [
        (Method::GET, "/__sim/faults"),
        (Method::POST, "/__sim/faults"),
        (Method::DELETE, "/__sim/faults"),
        (Method::GET, "/__sim/stats"),
    ] {
        let url = format!("{base}{path}");
        for (key, want) in [
            (None, StatusCode::UNAUTHORIZED),
            (Some("wrong"), StatusCode::UNAUTHORIZED),
            (Some(USER), StatusCode::FORBIDDEN),
            (Some(ADMIN), StatusCode::OK),
        ] {
            let response = send(&c, method.clone(), &url, key, Some(&body)).await;
            assert_eq!(response.status(), want, "{method} {path} with {key:?}");
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn post_replaces_the_whole_set_and_delete_resets() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    let url = faults_url(&base);
    let first = json!({ "latency": "300ms", "auth_bypass": true, "rate_limit": 1000 });
    let (status, body) =
        status_json(send(&c, Method::POST, &url, Some(ADMIN), Some(&first)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["latency"], "300ms");
    let want = Faults {
        latency: Some(Duration::from_millis(300)),
        auth_bypass: true,
        rate_limit: Some(1000),
        ..Faults::default()
    };
    assert_eq!(sim.faults(), want);
    let (_, current) = get(&c, &base, "/__sim/faults", Some(ADMIN)).await;
    assert_eq!(serde_json::from_value::<Faults>(current).unwrap(), want);

    let second = json!({ "unhealthy": true });
    send(&c, Method::POST, &url, Some(ADMIN), Some(&second)).await;
    assert_eq!(
        sim.faults(),
        Faults {
            unhealthy: true,
            ..Faults::default()
        }
    );
    assert_eq!(
        get(&c, &base, "/api/health", None).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let response = send(&c, Method::DELETE, &url, Some(ADMIN), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(sim.faults().is_none());
    assert_eq!(get(&c, &base, "/api/health", None).await.0, StatusCode::OK);
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_fault_json_is_400_with_the_reason() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    let url = faults_url(&base);
    for (body, mentions) in [
        ("{\"latencyy\":\"1s\"}", "latencyy"),
        ("{\"latency\":\"soon\"}", "latency"),
        ("{\"error_rate\":1.5}", "error_rate"),
        ("{\"rate_limit\":0}", "rate_limit"),
        ("not json", "invalid faults"),
    ] {
        let response = c
            .post(&url)
            .header("X-API-Key", ADMIN)
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, json) = status_json(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let error = json["error"].as_str().unwrap();
        assert!(error.contains(mentions), "{body}: {error}");
    }
    assert!(sim.faults().is_none(), "a refused POST changes nothing");
    sim.shutdown().await;
}

#[tokio::test]
async fn control_ignores_faults() {
    let sim = start(SimConfig {
        faults: Faults {
            error_rate: 1.0,
            hang_rate: 1.0,
            auth_bypass: true,
            rate_limit: Some(1),
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    let (c, base) = (client(), sim.base_url());
    for _ in 0..3 {
        assert_eq!(
            get(&c, &base, "/__sim/faults", Some(ADMIN)).await.0,
            StatusCode::OK
        );
        assert_eq!(
            get(&c, &base, "/__sim/stats", Some(ADMIN)).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(
        get(&c, &base, "/__sim/stats", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn stats_count_route_patterns_not_ids() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    let id = create_agent(&c, &base).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    get(&c, &base, &format!("/api/agents/{id}"), Some(ADMIN)).await;
    get(&c, &base, "/api/agents/agt_0_unknown", Some(ADMIN)).await;
    send(
        &c,
        Method::DELETE,
        &format!("{base}/api/agents/{id}"),
        Some(ADMIN),
        None,
    )
    .await;
    get(&c, &base, "/api/health", None).await;
    get(&c, &base, "/api/nope", None).await;
    get(&c, &base, "/elsewhere", None).await;
    send(
        &c,
        Method::PUT,
        &format!("{base}/api/agents"),
        Some(ADMIN),
        None,
    )
    .await;
    get(&c, &base, "/__sim/faults", Some(ADMIN)).await;

    let (status, json) = get(&c, &base, "/__sim/stats", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    let stats = sim.stats();
    assert_eq!(
        serde_json::from_value::<prober_sim::Stats>(json).unwrap(),
        stats
    );
    assert_eq!(stats.count("POST", "/api/agents"), 1);
    assert_eq!(stats.count("GET", "/api/agents/{id}"), 2);
    assert_eq!(stats.count("DELETE", "/api/agents/{id}"), 1);
    assert_eq!(stats.count("GET", "/api/health"), 1);
    assert_eq!(stats.count("GET", "(unmatched)"), 2);
    assert_eq!(stats.count("PUT", "/api/agents"), 1);
    assert_eq!(
        stats.requests.values().sum::<u64>(),
        8,
        "{:?}",
        stats.requests
    );
    assert!(
        stats
            .requests
            .keys()
            .all(|k| !k.contains(&id) && !k.contains("__sim"))
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_creates() {
    const N: usize = 2000;
    let sim = start_default().await;
    let c = client();
    let url = format!("{}/api/agents", sim.base_url());
    let permits = Arc::new(Semaphore::new(500));
    let mut tasks = JoinSet::new();
    for i in 0..N {
        let (c, url, permits) = (c.clone(), url.clone(), Arc::clone(&permits));
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.unwrap();
            let body = json!({ "type": "test", "task": format!("load {i}") });
            status_json(send(&c, Method::POST, &url, Some(USER), Some(&body)).await).await
        });
    }
    let mut ids = HashSet::new();
    while let Some(result) = tasks.join_next().await {
        let (status, json) = result.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{json}");
        assert!(
            ids.insert(json["data"]["id"].as_str().unwrap().to_owned()),
            "duplicate id"
        );
    }
    assert_eq!(ids.len(), N);
    let stats = sim.stats();
    assert_eq!(stats.count("POST", "/api/agents"), N as u64);
    assert_eq!(stats.agents_created, N as u64);
    assert_eq!(stats.agents_live, N as u64);
    let (_, list) = get(&c, &sim.base_url(), "/api/agents", Some(ADMIN)).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        prober_sim::MAX_LISTED_AGENTS
    );
    sim.shutdown().await;
}
