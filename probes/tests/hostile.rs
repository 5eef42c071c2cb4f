//! The target is untrusted: each hostile behaviour is a probe failure with a reason, bounded in
//! time and memory, never a crash. Servers are raw sockets on 127.0.0.1:0 that misbehave on
//! purpose.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prober_probes::spec::BuildCx;
use prober_probes::{AnyProbe, FailureReason, Outcome, ProbeSpec, RunContext, Target, Verdict};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serve every connection with `respond` (after reading the request head).
async fn serve<F, Fut>(respond: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let respond = Arc::new(respond);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let respond = Arc::clone(&respond);
            tokio::spawn(async move {
                read_head(&mut stream).await;
                respond(stream).await;
            });
        }
    });
    addr
}

async fn read_head(stream: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") && buf.len() < 64 * 1024 {
        match stream.read(&mut byte).await {
            Ok(1) => buf.push(byte[0]),
            _ => return,
        }
    }
}

fn probe(base: &str, spec: serde_json::Value) -> AnyProbe {
    let target = Target::for_tests(base);
    let spec: ProbeSpec = serde_json::from_value(spec).unwrap();
    let mut cx = BuildCx::new(&target, "probe[0]");
    let p = spec.build(&mut cx);
    assert!(!cx.has_errors(), "{:?}", cx.into_errors());
    p.unwrap()
}

fn get(timeout: &str) -> serde_json::Value {
    json!({"kind": "http", "request": {"path": "/x"}, "expect": {"status": [200]},
           "client": {"timeout": timeout, "connect_timeout": timeout}})
}

async fn run_against(addr: SocketAddr, spec: serde_json::Value, deadline: Duration) -> Outcome {
    probe(&format!("http://{addr}"), spec)
        .run(&RunContext::new(deadline))
        .await
}

fn assert_reason(o: &Outcome, reason: FailureReason) {
    assert_eq!(o.verdict, Verdict::Failure(reason), "{}", o.message);
}

#[tokio::test]
async fn a_gzip_bomb_is_body_too_large_by_decompressed_bytes() {
    // 20 MiB of zeros compress to ~20 KiB: small on the wire, huge in memory.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![0u8; 20 * 1024 * 1024]).unwrap();
    let bomb = Arc::new(enc.finish().unwrap());
    assert!(bomb.len() < 100 * 1024);
    let addr = serve(move |mut s| {
        let bomb = Arc::clone(&bomb);
        async move {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n",
                bomb.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&bomb).await;
        }
    })
    .await;
    let o = run_against(addr, get("10s"), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::BodyTooLarge);
}

#[tokio::test]
async fn a_body_that_drips_a_byte_a_second_times_out() {
    let addr = serve(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
            .await;
        for _ in 0..1000 {
            if s.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
    .await;
    let o = run_against(addr, get("1s"), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::Timeout);
}

#[tokio::test]
async fn garbage_instead_of_http_is_a_protocol_failure() {
    let addr = serve(|mut s| async move {
        let _ = s
            .write_all(b"SSH-2.0-OpenSSH_9.2\r\n\x00\x01\x02garbage\r\n\r\n")
            .await;
    })
    .await;
    let o = run_against(addr, get("5s"), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::Protocol);
}

#[tokio::test]
async fn an_empty_reply_is_a_protocol_failure() {
    let addr = serve(|s| async move { drop(s) }).await;
    let o = run_against(addr, get("5s"), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::Protocol);
}

#[tokio::test]
async fn a_truncated_body_is_a_protocol_failure() {
    let addr = serve(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this")
            .await;
    })
    .await;
    let o = run_against(addr, get("5s"), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::Protocol);
}

#[tokio::test]
async fn oversized_headers_are_a_protocol_failure() {
    let addr = serve(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nx-huge: ").await;
        let _ = s.write_all(&vec![b'a'; 2 * 1024 * 1024]).await;
        let _ = s.write_all(b"\r\ncontent-length: 0\r\n\r\n").await;
    })
    .await;
    let o = run_against(addr, get("5s"), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::Protocol);
}

#[tokio::test]
async fn a_closed_port_is_a_connect_failure() {
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let o = run_against(addr, get("5s"), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::Connect);
}

#[tokio::test]
async fn a_stalled_tls_handshake_times_out() {
    // Accepts TCP and never says a word: the TLS ClientHello goes unanswered.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let p = probe(&format!("https://{addr}"), get("500ms"));
    let o = p.run(&RunContext::new(Duration::from_secs(10))).await;
    assert_reason(&o, FailureReason::Timeout);
}

#[tokio::test]
async fn the_run_deadline_bounds_a_hanging_request() {
    let addr = serve(|s| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(s);
    })
    .await;
    // The request timeout is long; the run's deadline is what ends it.
    let started = tokio::time::Instant::now();
    let o = run_against(addr, get("60s"), Duration::from_millis(300)).await;
    assert_reason(&o, FailureReason::Deadline);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_hour_long_retry_after_fails_fast() {
    let addr = serve(|mut s| async move {
        let _ = s
            .write_all(
                b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 3600\r\ncontent-length: 0\r\n\r\n",
            )
            .await;
    })
    .await;
    let started = tokio::time::Instant::now();
    let o = run_against(addr, get("5s"), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::RateLimited);
    assert_eq!(o.retry_after, Some(Duration::from_secs(3600)));
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn redirect_to(
    location: String,
) -> impl Fn(TcpStream) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
+ Send
+ Sync
+ 'static {
    move |mut s: TcpStream| {
        let head =
            format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n");
        Box::pin(async move {
            let _ = s.write_all(head.as_bytes()).await;
        })
    }
}

#[tokio::test]
async fn redirects_to_other_hosts_or_schemes_are_not_followed() {
    let ok = serve(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await;
    })
    .await;
    // 127.0.0.2 is another host (still loopback); the redirect is returned, not followed.
    let cross = serve(redirect_to(format!("http://127.0.0.2:{}/x", ok.port()))).await;
    let o = run_against(cross, get("5s"), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::Status);
    assert!(o.message.contains("302"), "{}", o.message);
    let file = serve(redirect_to("file:///etc/passwd".into())).await;
    let o = run_against(file, get("5s"), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::Status);
    // Same host: followed.
    let same = serve(redirect_to(format!("http://127.0.0.1:{}/x", ok.port()))).await;
    let o = run_against(same, get("5s"), Duration::from_secs(10)).await;
    assert!(o.is_success(), "{}", o.message);
}

#[tokio::test]
async fn a_redirect_loop_is_bounded() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let looping = serve(redirect_to(format!("http://{addr}/x"))).await;
    let self_loop = serve(redirect_to("/again".into())).await;
    let _ = looping;
    let o = run_against(self_loop, get("5s"), Duration::from_secs(10)).await;
    assert_reason(&o, FailureReason::Protocol);
    assert!(o.message.contains("redirects"), "{}", o.message);
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_failure_and_a_ca_file_fixes_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key_der =
        rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert_der], key_der)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(s).await {
                    let mut buf = [0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    let url = format!("https://localhost:{}", addr.port());
    let o = probe(&url, get("5s"))
        .run(&RunContext::new(Duration::from_secs(10)))
        .await;
    assert_reason(&o, FailureReason::Tls);

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let mut target = Target::for_tests(&url);
    target.limits.ca_file = Some(ca);
    let spec: ProbeSpec = serde_json::from_value(get("5s")).unwrap();
    let mut cx = BuildCx::new(&target, "probe[0]");
    let p = spec.build(&mut cx).unwrap();
    let o = p.run(&RunContext::new(Duration::from_secs(10))).await;
    assert!(o.is_success(), "{}", o.message);
}
