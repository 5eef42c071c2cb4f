//! The `postgres` kind against a real Debian PostgreSQL (fresh initdb on loopback) and against
//! fakes: one that is starting up (57P03), one that speaks garbage, and a closed port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use prober_probes::FailureReason;
use prober_probes::postgres::{PostgresProbe, PostgresSpec};
use serde_json::json;
use support::{PostgresServer, build, closed_port, fake_server, run, spec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn probe(address: String, timeout: &str) -> PostgresProbe {
    build(
        &spec::<PostgresSpec>(json!({ "address": address, "timeout": timeout })),
        PostgresSpec::build,
    )
}

/// An `ErrorResponse` message with SQLSTATE `code`.
fn error_response(code: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [("S", "FATAL"), ("V", "FATAL"), ("C", code), ("M", message)] {
        body.extend_from_slice(field.as_bytes());
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
    msg.extend_from_slice(&body);
    msg
}

#[tokio::test]
async fn real_postgres_accepts_connections() {
    let server = PostgresServer::start().await;
    let out = run(&probe(format!("127.0.0.1:{}", server.port), "10s")).await;
    assert!(out.is_success(), "{out:?}");
    assert!(
        out.message.starts_with("accepting connections"),
        "{}",
        out.message
    );
}

#[tokio::test]
async fn starting_up_is_status() {
    let starting = error_response("57P03", "the database system is starting up");
    let addr = fake_server(vec![b"N".to_vec(), starting]).await;
    let out = run(&probe(addr.to_string(), "10s")).await;
    assert_eq!(out.verdict.reason(), Some(FailureReason::Status), "{out:?}");
    assert_eq!(
        out.message,
        "rejecting connections: the database system is starting up (57P03)"
    );
}

#[tokio::test]
async fn too_many_connections_is_status() {
    let full = error_response("53300", "sorry, too many clients already");
    let addr = fake_server(vec![b"N".to_vec(), full]).await;
    let out = run(&probe(addr.to_string(), "10s")).await;
    assert_eq!(out.verdict.reason(), Some(FailureReason::Status), "{out:?}");
}

#[tokio::test]
async fn other_errors_mean_accepting() {
    let no_role = error_response("28000", "role \"pg_isready\" does not exist");
    let addr = fake_server(vec![b"N".to_vec(), no_role]).await;
    let out = run(&probe(addr.to_string(), "10s")).await;
    assert!(out.is_success(), "{out:?}");
}

#[tokio::test]
async fn tls_capable_server_is_asked_again_without_tls() {
    // A fake that answers SSLRequest with 'S' and a v3.0 StartupMessage with AuthenticationOk:
    // the probe must reconnect and send StartupMessage in the clear, never starting TLS.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut head = [0u8; 8];
            if sock.read_exact(&mut head).await.is_err() {
                continue;
            }
            let reply: &[u8] = match head[4..8] {
                [0x04, 0xd2, 0x16, 0x2f] => b"S",
                [0, 3, 0, 0] => &[b'R', 0, 0, 0, 8, 0, 0, 0, 0],
                _ => b"garbage",
            };
            let _ = sock.write_all(reply).await;
        }
    });
    let out = run(&probe(addr.to_string(), "10s")).await;
    assert!(out.is_success(), "{out:?}");
    assert!(out.message.contains("auth requested"), "{}", out.message);
}

#[tokio::test]
async fn garbage_is_protocol() {
    let addr = fake_server(vec![b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()]).await;
    let out = run(&probe(addr.to_string(), "10s")).await;
    assert_eq!(
        out.verdict.reason(),
        Some(FailureReason::Protocol),
        "{out:?}"
    );
}

#[tokio::test]
async fn garbage_after_n_is_protocol() {
    let addr = fake_server(vec![b"N".to_vec(), vec![b'E', 0xff, 0xff, 0xff, 0xff]]).await;
    let out = run(&probe(addr.to_string(), "10s")).await;
    assert_eq!(
        out.verdict.reason(),
        Some(FailureReason::Protocol),
        "{out:?}"
    );
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
async fn silent_server_is_timeout() {
    let addr = fake_server(vec![]).await;
    let out = run(&probe(addr.to_string(), "300ms")).await;
    assert_eq!(
        out.verdict.reason(),
        Some(FailureReason::Timeout),
        "{out:?}"
    );
}
