//! The `tls` kind against tokio-rustls servers on loopback with certificates made here by
//! rcgen: trusted, expiring soon, expired, untrusted, wrong name, an intermediate that expires
//! first; plus a plain TCP server, a closed port, a silent server and `ca_file` validation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prober_probes::tls::{TlsProbe, TlsSpec};
use prober_probes::{FailureReason, Outcome, Probe, RunContext};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use serde_json::json;
use support::{build, closed_port, fake_server, run, spec, try_build};
use tokio::io::AsyncReadExt;

const DAY: u64 = 86_400;

/// `now + days` (negative: in the past), whole seconds as in a certificate.
fn days_from_now(days: f64) -> SystemTime {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    let secs = now.as_secs_f64() + days * DAY as f64;
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
}

fn set_validity(params: &mut CertificateParams, not_before: f64, not_after: f64) {
    let at = |t: SystemTime| {
        rcgen::date_time_ymd(1970, 1, 1) + t.duration_since(SystemTime::UNIX_EPOCH).unwrap()
    };
    params.not_before = at(days_from_now(not_before));
    params.not_after = at(days_from_now(not_after));
}

/// A CA (root or intermediate): its parameters, key and certificate.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    der: CertificateDer<'static>,
    pem: String,
}

impl Ca {
    fn root() -> Ca {
        Ca::new(None, 3650.0)
    }

    fn new(parent: Option<&Ca>, days: f64) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(DnType::CommonName, "prober test CA");
        set_validity(&mut params, -1.0, days);
        let key = KeyPair::generate().unwrap();
        let cert = match parent {
            Some(p) => params.signed_by(&key, &Issuer::from_params(&p.params, &p.key)),
            None => params.self_signed(&key),
        };
        let cert = cert.unwrap();
        let (der, pem) = (cert.der().clone(), cert.pem());
        Ca {
            params,
            key,
            der,
            pem,
        }
    }

    /// A leaf for `names`, valid from `not_before` to `not_after` days from now.
    fn leaf(&self, names: &[&str], not_before: f64, not_after: f64) -> Leaf {
        let names: Vec<String> = names.iter().map(ToString::to_string).collect();
        let mut params = CertificateParams::new(names).unwrap();
        set_validity(&mut params, not_before, not_after);
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        Leaf {
            chain: vec![cert.der().clone()],
            key: key.serialize_der(),
            not_after: days_from_now(not_after),
        }
    }

    /// This CA as a PEM file in `dir`.
    fn write_pem(&self, dir: &Path) -> String {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.pem).unwrap();
        path.display().to_string()
    }
}

struct Leaf {
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
    not_after: SystemTime,
}

/// A TLS server on 127.0.0.1:0 presenting `chain`; it holds each connection until the client
/// closes it.
async fn tls_server(chain: Vec<CertificateDer<'static>>, key: Vec<u8>) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, PrivatePkcs8KeyDer::from(key).into())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(sock).await {
                    let mut buf = [0u8; 256];
                    while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    addr
}

fn probe(json: serde_json::Value) -> TlsProbe {
    build(&spec::<TlsSpec>(json), TlsSpec::build)
}

fn assert_near(got: Option<SystemTime>, want: SystemTime) {
    let got = got.expect("cert_not_after is set");
    let diff = got
        .duration_since(want)
        .or_else(|e| Ok::<_, ()>(e.duration()))
        .unwrap();
    assert!(diff <= Duration::from_secs(2), "{got:?} vs {want:?}");
}

fn reason(out: &Outcome) -> Option<FailureReason> {
    out.verdict.reason()
}

#[tokio::test]
async fn trusted_cert_with_90_days_succeeds() {
    let (dir, ca) = (tempfile::tempdir().unwrap(), Ca::root());
    let leaf = ca.leaf(&["localhost", "127.0.0.1"], -1.0, 90.0);
    let addr = tls_server(leaf.chain, leaf.key).await;
    let out = run(&probe(
        json!({ "address": addr.to_string(), "ca_file": ca.write_pem(dir.path()) }),
    ))
    .await;
    assert!(out.is_success(), "{out:?}");
    assert_eq!(
        out.message,
        "cert for 127.0.0.1 expires in 90.0 days (threshold 14)"
    );
    assert_near(out.cert_not_after, leaf.not_after);
}

#[tokio::test]
async fn cert_expiring_in_2_days_is_cert_expiry() {
    let (dir, ca) = (tempfile::tempdir().unwrap(), Ca::root());
    let leaf = ca.leaf(&["localhost"], -1.0, 2.0);
    let addr = tls_server(leaf.chain, leaf.key).await;
    let p = probe(json!({
        "address": addr.to_string(), "server_name": "localhost",
        "ca_file": ca.write_pem(dir.path()), "min_days_left": 14
    }));
    let out = run(&p).await;
    assert_eq!(reason(&out), Some(FailureReason::CertExpiry), "{out:?}");
    assert_eq!(
        out.message,
        "cert for localhost expires in 2.0 days (threshold 14)"
    );
    assert_near(out.cert_not_after, leaf.not_after);
}

#[tokio::test]
async fn an_intermediate_expiring_first_is_cert_expiry() {
    let (dir, root) = (tempfile::tempdir().unwrap(), Ca::root());
    let intermediate = Ca::new(Some(&root), 5.0);
    let mut leaf = intermediate.leaf(&["localhost"], -1.0, 90.0);
    leaf.chain.push(intermediate.der.clone());
    let addr = tls_server(leaf.chain, leaf.key).await;
    let p = probe(json!({
        "address": addr.to_string(), "server_name": "localhost",
        "ca_file": root.write_pem(dir.path()), "min_days_left": 7.5
    }));
    let out = run(&p).await;
    assert_eq!(reason(&out), Some(FailureReason::CertExpiry), "{out:?}");
    assert!(
        out.message
            .starts_with("cert 2 of 2 in the chain for localhost expires in 5.0 days")
    );
    assert_near(out.cert_not_after, days_from_now(5.0));
}

#[tokio::test]
async fn untrusted_chain_is_tls() {
    let leaf = Ca::root().leaf(&["localhost", "127.0.0.1"], -1.0, 90.0);
    let addr = tls_server(leaf.chain, leaf.key).await;
    let out = run(&probe(json!({ "address": addr.to_string() }))).await;
    assert_eq!(reason(&out), Some(FailureReason::Tls), "{out:?}");
    assert_near(out.cert_not_after, leaf.not_after);
}

#[tokio::test]
async fn verify_false_accepts_an_untrusted_chain_and_judges_expiry() {
    let leaf = Ca::root().leaf(&["localhost"], -1.0, 90.0);
    let addr = tls_server(leaf.chain, leaf.key).await;
    let p = probe(
        json!({ "address": addr.to_string(), "server_name": "example.test", "verify": false }),
    );
    let out = run(&p).await;
    assert!(out.is_success(), "{out:?}");
    assert_near(out.cert_not_after, leaf.not_after);
}

#[tokio::test]
async fn name_mismatch_is_tls() {
    let (dir, ca) = (tempfile::tempdir().unwrap(), Ca::root());
    let leaf = ca.leaf(&["other.test"], -1.0, 90.0);
    let addr = tls_server(leaf.chain, leaf.key).await;
    let p = probe(json!({
        "address": addr.to_string(), "server_name": "localhost", "ca_file": ca.write_pem(dir.path())
    }));
    let out = run(&p).await;
    assert_eq!(reason(&out), Some(FailureReason::Tls), "{out:?}");
    assert!(
        out.message.contains("not valid for name"),
        "{}",
        out.message
    );
}

#[tokio::test]
async fn expired_cert_is_tls_when_verifying_and_cert_expiry_otherwise() {
    let (dir, ca) = (tempfile::tempdir().unwrap(), Ca::root());
    let leaf = ca.leaf(&["localhost"], -10.0, -1.0);
    let addr = tls_server(leaf.chain, leaf.key).await;
    let ca_file = ca.write_pem(dir.path());
    let base =
        json!({ "address": addr.to_string(), "server_name": "localhost", "ca_file": ca_file });

    let out = run(&probe(base.clone())).await;
    assert_eq!(reason(&out), Some(FailureReason::Tls), "{out:?}");
    assert!(out.message.contains("expired"), "{}", out.message);
    assert_near(out.cert_not_after, leaf.not_after);

    let mut lenient = base;
    lenient["verify"] = json!(false);
    let out = run(&probe(lenient)).await;
    assert_eq!(reason(&out), Some(FailureReason::CertExpiry), "{out:?}");
    assert!(
        out.message.contains("expired 1.0 days ago"),
        "{}",
        out.message
    );
}

#[tokio::test]
async fn plain_tcp_garbage_is_protocol() {
    let addr = fake_server(vec![b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()]).await;
    let out = run(&probe(
        json!({ "address": addr.to_string(), "verify": false }),
    ))
    .await;
    assert_eq!(reason(&out), Some(FailureReason::Protocol), "{out:?}");
    assert_eq!(out.cert_not_after, None);
}

#[tokio::test]
async fn closed_port_is_connect() {
    let addr = format!("127.0.0.1:{}", closed_port());
    let out = run(&probe(json!({ "address": addr }))).await;
    assert_eq!(reason(&out), Some(FailureReason::Connect), "{out:?}");
}

#[tokio::test]
async fn silent_server_is_timeout() {
    let addr = fake_server(vec![]).await;
    let out = run(&probe(
        json!({ "address": addr.to_string(), "timeout": "300ms" }),
    ))
    .await;
    assert_eq!(reason(&out), Some(FailureReason::Timeout), "{out:?}");
}

#[tokio::test]
async fn run_deadline_is_deadline() {
    let addr = fake_server(vec![]).await;
    let p = probe(json!({ "address": addr.to_string(), "timeout": "60s" }));
    let out = p.run(&RunContext::new(Duration::from_millis(300))).await;
    assert_eq!(reason(&out), Some(FailureReason::Deadline), "{out:?}");
}

#[test]
fn ca_file_problems_are_build_errors_at_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing: TlsSpec = spec(json!({ "address": "h:443", "ca_file": "nope.pem" }));
    let errs = try_build(&missing, Some(dir.path()), TlsSpec::build).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("probe[0].ca_file: cannot read "),
        "{errs:?}"
    );

    std::fs::write(dir.path().join("junk.pem"), "not a certificate\n").unwrap();
    let junk: TlsSpec = spec(json!({ "address": "h:443", "ca_file": "junk.pem" }));
    let errs = try_build(&junk, Some(dir.path()), TlsSpec::build).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("probe[0].ca_file: "), "{errs:?}");

    // A relative path resolves against the config file's directory.
    Ca::root().write_pem(dir.path());
    let good: TlsSpec = spec(json!({ "address": "h:443", "ca_file": "ca.pem" }));
    assert!(try_build(&good, Some(dir.path()), TlsSpec::build).is_ok());
}

#[test]
fn spec_defaults() {
    let s: TlsSpec = spec(json!({ "address": "h:443" }));
    assert_eq!(
        (s.min_days_left, s.verify, s.timeout),
        (14.0, true, Duration::from_secs(5))
    );
    assert_eq!(s.server_name, None);
}
