//! The `tcp` kind against loopback listeners: connect, closed port, and the optional
//! send/expect exchange with its timeout and run-deadline paths.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use prober_probes::tcp::{TcpProbe, TcpSpec};
use prober_probes::{FailureReason, Probe, RunContext};
use serde_json::json;
use support::{build, closed_port, fake_server, run, spec, try_build};

fn probe(json: serde_json::Value) -> TcpProbe {
    build(&spec::<TcpSpec>(json), TcpSpec::build)
}

#[tokio::test]
async fn connects_to_a_listener() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let out = run(&probe(json!({ "address": addr.to_string() }))).await;
    assert!(out.is_success(), "{out:?}");
    assert!(
        out.message.starts_with("connected to 127.0.0.1:"),
        "{}",
        out.message
    );
}

#[tokio::test]
async fn closed_port_is_connect() {
    let out = run(&probe(
        json!({ "address": format!("127.0.0.1:{}", closed_port()) }),
    ))
    .await;
    assert_eq!(
        out.verdict.reason(),
        Some(FailureReason::Connect),
        "{out:?}"
    );
}

#[tokio::test]
async fn expected_prefix_matches() {
    let addr = fake_server(vec![b"+PONG\r\nand more".to_vec()]).await;
    let p =
        probe(json!({ "address": addr.to_string(), "send": "PING\r\n", "expect_prefix": "+PONG" }));
    let out = run(&p).await;
    assert!(out.is_success(), "{out:?}");
}

#[tokio::test]
async fn wrong_prefix_is_assertion() {
    let addr = fake_server(vec![b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()]).await;
    let p = probe(json!({ "address": addr.to_string(), "send": "hi\n", "expect_prefix": "SSH-" }));
    let out = run(&p).await;
    assert_eq!(
        out.verdict.reason(),
        Some(FailureReason::Assertion),
        "{out:?}"
    );
    assert!(out.message.contains("got \"HTTP\""), "{}", out.message);
}

#[tokio::test]
async fn silent_peer_is_timeout() {
    let addr = fake_server(vec![]).await;
    let p = probe(json!({
        "address": addr.to_string(), "expect_prefix": "SSH-", "read_timeout": "300ms"
    }));
    let out = run(&p).await;
    assert_eq!(
        out.verdict.reason(),
        Some(FailureReason::Timeout),
        "{out:?}"
    );
}

#[tokio::test]
async fn run_deadline_is_deadline() {
    let addr = fake_server(vec![]).await;
    let p = probe(
        json!({ "address": addr.to_string(), "expect_prefix": "SSH-", "read_timeout": "60s" }),
    );
    let out = p.run(&RunContext::new(Duration::from_millis(300))).await;
    assert_eq!(
        out.verdict.reason(),
        Some(FailureReason::Deadline),
        "{out:?}"
    );
}

#[test]
fn invalid_specs_name_their_keys() {
    let s: TcpSpec =
        spec(json!({ "address": "127.0.0.1:99999", "read_timeout": "0s", "send": "" }));
    assert_eq!(
        try_build(&s, None, TcpSpec::build).unwrap_err(),
        [
            "probe[0].address: expected host:port, got \"127.0.0.1:99999\"",
            "probe[0].read_timeout: must be greater than zero",
            "probe[0].send: must not be empty",
        ]
    );
}
