//! The `redis` kind against the real Debian `redis-server` and against fakes that answer
//! garbage, HTTP, an error reply, or nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use prober_probes::FailureReason;
use prober_probes::redis::{RedisProbe, RedisSpec};
use serde_json::json;
use support::{RedisServer, build, closed_port, fake_server, run, spec};

fn probe(address: String, timeout: &str) -> RedisProbe {
    build(
        &spec::<RedisSpec>(json!({ "address": address, "timeout": timeout })),
        RedisSpec::build,
    )
}

#[tokio::test]
async fn real_redis_answers_pong() {
    let server = RedisServer::start().await;
    let out = run(&probe(format!("127.0.0.1:{}", server.port), "10s")).await;
    assert!(out.is_success(), "{out:?}");
    assert!(out.message.starts_with("PONG in "), "{}", out.message);
}

#[tokio::test]
async fn closed_port_is_connect() {
    let out = run(&probe(format!("127.0.0.1:{}", closed_port()), "10s")).await;
    assert_eq!(
        out.verdict.reason(),
        Some(FailureReason::Connect),
        "{out:?}"
    );
}

#[tokio::test]
async fn garbage_is_protocol() {
    let addr = fake_server(vec![b"\x00\x01\x02garbage\xff".to_vec()]).await;
    let out = run(&probe(addr.to_string(), "10s")).await;
    assert_eq!(
        out.verdict.reason(),
        Some(FailureReason::Protocol),
        "{out:?}"
    );
}

#[tokio::test]
async fn http_is_protocol() {
    let reply = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n".to_vec();
    let addr = fake_server(vec![reply]).await;
    let out = run(&probe(addr.to_string(), "10s")).await;
    assert_eq!(
        out.verdict.reason(),
        Some(FailureReason::Protocol),
        "{out:?}"
    );
    assert!(out.message.contains("HTTP/1.1 400"), "{}", out.message);
}

#[tokio::test]
async fn a_huge_reply_is_not_read_in_full() {
    let addr = fake_server(vec![vec![b'+'; 10 * 1024 * 1024]]).await;
    let out = run(&probe(addr.to_string(), "10s")).await;
    assert_eq!(
        out.verdict.reason(),
        Some(FailureReason::Protocol),
        "{out:?}"
    );
}

#[tokio::test]
async fn loading_error_is_status() {
    let reply = b"-LOADING Redis is loading the dataset in memory\r\n".to_vec();
    let addr = fake_server(vec![reply]).await;
    let out = run(&probe(addr.to_string(), "10s")).await;
    assert_eq!(out.verdict.reason(), Some(FailureReason::Status), "{out:?}");
    assert_eq!(
        out.message,
        "redis answered LOADING Redis is loading the dataset in memory"
    );
}

#[tokio::test]
async fn closing_without_a_reply_is_protocol() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            drop(sock);
        }
    });
    let out = run(&probe(addr.to_string(), "10s")).await;
    assert!(
        matches!(
            out.verdict.reason(),
            Some(FailureReason::Protocol | FailureReason::Connect)
        ),
        "{out:?}"
    );
}

#[tokio::test]
async fn silent_server_is_timeout() {
    let addr = fake_server(vec![]).await;
    let out = run(&probe(addr.to_string(), "300ms")).await;
    assert_eq!(
        out.verdict.reason(),
        Some(FailureReason::Timeout),
        "{out:?}"
    );
}
