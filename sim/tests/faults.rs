//! Each fault of the simulator, observed over real HTTP. Bounds are one-sided and generous: a
//! busy 2-core machine may be slow, never fast.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use prober_sim::{Faults, SimConfig};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

#[tokio::test]
async fn latency_delays_api_requests() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    sim.set_faults(Faults {
        latency: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    for path in ["/api/health", "/api/agents"] {
        let started = Instant::now();
        let (status, _) = get(&c, &base, path, Some(ADMIN)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{path}: {:?}",
            started.elapsed()
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_from_config_and_jitter() {
    let sim = start(SimConfig {
        faults: Faults {
            latency: Some(Duration::from_millis(100)),
            latency_jitter: Some(Duration::from_millis(100)),
            latency_fraction: Some(1.0),
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let started = Instant::now();
    assert_eq!(
        get(&c, &sim.base_url(), "/api/health/ready", None).await.0,
        StatusCode::OK
    );
    assert!(started.elapsed() >= Duration::from_millis(100));
    sim.shutdown().await;
}

#[tokio::test]
async fn error_rate_one_answers_500() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    sim.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    for path in [
        "/api/health",
        "/api/health/ready",
        "/api/agents",
        "/api/admin",
    ] {
        let (status, body) = get(&c, &base, path, Some(ADMIN)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(body, json!({ "success": false, "error": "injected error" }));
    }
    sim.set_faults(Faults::default());
    assert_eq!(get(&c, &base, "/api/health", None).await.0, StatusCode::OK);
    sim.shutdown().await;
}

#[tokio::test]
async fn unhealthy_and_unready_answer_503() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    sim.set_faults(Faults {
        unhealthy: true,
        ..Faults::default()
    });
    let (status, body) = get(&c, &base, "/api/health", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({ "success": false, "data": { "status": "unhealthy" } })
    );
    assert_eq!(
        get(&c, &base, "/api/health/ready", None).await.0,
        StatusCode::OK
    );

    sim.set_faults(Faults {
        unready: true,
        ..Faults::default()
    });
    let (status, body) = get(&c, &base, "/api/health/ready", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["success"], false);
    assert_eq!(get(&c, &base, "/api/health", None).await.0, StatusCode::OK);
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_bypass_accepts_anyone() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    sim.set_faults(Faults {
        auth_bypass: true,
        ..Faults::default()
    });
    for key in [None, Some("wrong"), Some(USER)] {
        assert_eq!(
            get(&c, &base, "/api/agents", key).await.0,
            StatusCode::OK,
            "{key:?}"
        );
        assert_eq!(
            get(&c, &base, "/api/admin", key).await.0,
            StatusCode::OK,
            "{key:?}"
        );
    }
    let body = json!({ "type": "test", "task": "x" });
    let response = send(
        &c,
        Method::POST,
        &format!("{base}/api/agents"),
        None,
        Some(&body),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    sim.shutdown().await;
}

#[tokio::test]
async fn stuck_agents_never_leave_running() {
    let sim = start_fast().await;
    let (c, base) = (client(), sim.base_url());
    sim.set_faults(Faults {
        stuck_agents: true,
        ..Faults::default()
    });
    let stuck = create_agent(&c, &base).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.set_faults(Faults::default());
    let normal = create_agent(&c, &base).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Once the younger, normal agent has completed, the stuck one is past its lifetime too.
    poll_until(&c, &base, &normal, "completed").await;
    let (_, body) = get(&c, &base, &format!("/api/agents/{stuck}"), Some(ADMIN)).await;
    assert_eq!(body["data"]["status"], "running");
    sim.shutdown().await;
}

#[tokio::test]
async fn failing_agents_end_failed() {
    let sim = start_fast().await;
    let (c, base) = (client(), sim.base_url());
    sim.set_faults(Faults {
        failing_agents: true,
        ..Faults::default()
    });
    let id = create_agent(&c, &base).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.set_faults(Faults::default()); // the fate is fixed at creation
    let seen = poll_until(&c, &base, &id, "failed").await;
    assert!(!seen.contains(&"completed".to_owned()), "{seen:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn hang_rate_one_never_answers_until_shutdown() {
    let sim = start_default().await;
    let base = sim.base_url();
    sim.set_faults(Faults {
        hang_rate: 1.0,
        ..Faults::default()
    });
    let impatient = client_with_timeout(Duration::from_millis(300));
    let err = impatient
        .get(format!("{base}/api/health"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");

    // A patient client is released by shutdown, and shutdown does not wait for the grace period.
    let patient = client();
    let url = format!("{base}/api/agents");
    let pending = tokio::spawn(async move { patient.get(url).send().await });
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.stats().count("GET", "/api/agents") == 0 {
        assert!(Instant::now() < deadline, "the hung request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    sim.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let sim = start_default().await;
    sim.set_faults(Faults {
        rate_limit: Some(5),
        ..Faults::default()
    });
    let c = client();
    let mut requests = JoinSet::new();
    for _ in 0..50 {
        let (c, url) = (c.clone(), format!("{}/api/health", sim.base_url()));
        requests.spawn(async move { c.get(url).send().await.unwrap() });
    }
    let (mut ok, mut limited) = (0, 0);
    while let Some(response) = requests.join_next().await {
        let response = response.unwrap();
        match response.status() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(response.headers()["retry-after"], "1");
                let (_, body) = status_json(response).await;
                assert_eq!(body, json!({ "success": false, "error": "rate limited" }));
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(ok >= 1 && limited >= 1, "ok {ok}, limited {limited}");
    sim.shutdown().await;
}

#[tokio::test]
async fn body_bytes_pads_json_responses() {
    let sim = start_default().await;
    let (c, base) = (client(), sim.base_url());
    sim.set_faults(Faults {
        body_bytes: Some(5000),
        ..Faults::default()
    });
    for (path, want) in [
        ("/api/health", StatusCode::OK),
        ("/api/agents", StatusCode::UNAUTHORIZED),
    ] {
        let response = send(&c, Method::GET, &format!("{base}{path}"), None, None).await;
        assert_eq!(response.status(), want);
        let bytes = response.bytes().await.unwrap();
        assert!(bytes.len() >= 5000, "{path}: {} bytes", bytes.len());
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["padding"].as_str().unwrap().len(), 5000);
    }
    let (_, body) = get(&c, &base, "/api/health", None).await;
    assert_eq!(body["data"]["status"], "healthy"); // the envelope survives padding
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_do_not_touch_paths_outside_api() {
    let sim = start_default().await;
    let c = client();
    sim.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let (status, _) = get(&c, &sim.base_url(), "/elsewhere", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    sim.shutdown().await;
}
