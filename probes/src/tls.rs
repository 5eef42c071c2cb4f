//! The `tls` kind: a TLS handshake whose certificate chain is recorded and judged for expiry.
//! It owns the spec, the trust roots and a recording verifier; it sends no application data.
//!
//! Trust: with `ca_file`, only that file's CAs; without it, the platform verifier
//! (`rustls-platform-verifier`, on Linux the system store via webpki). With `verify = false`
//! any chain is accepted (handshake signatures are still checked) and only expiry is judged.
//! Every run builds a fresh `ClientConfig` with the explicit ring provider, so no session is
//! ever resumed (a resumed session shows no certificates) and the process default is unused.
//! Reasons: a handshake error is `tls` with rustls's message, except bytes that are not TLS
//! records at all (a plain TCP or HTTP server) which are `protocol`, and a reset, `connect`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsConnector;

use crate::failed::Failed;
use crate::netio::{self, Budget, positive};
use crate::spec::{BuildCx, require_address};
use crate::{FailureReason, Kind, Outcome, Probe, RunContext};

/// Configuration of a `tls` probe: the handshake must succeed and no certificate of the chain
/// may expire within `min_days_left` days.
///
/// ```toml
/// kind = "tls"
/// address = "godel.example.com:443"
/// min_days_left = 14
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// The server, as `host:port`.
    pub address: String,
    /// Name sent as SNI and checked against the certificate. Default: the host of `address`.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Fail with `cert_expiry` when the earliest `notAfter` of the presented chain is fewer
    /// than this many days away (fractions allowed). Default `14`.
    #[serde(default = "default_min_days_left")]
    pub min_days_left: f64,
    /// PEM file of the CAs to trust instead of the system store (relative to the config
    /// file). Read and checked when the config is loaded, even with `verify = false`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Verify the chain and name. With `false`, any certificate is accepted and only its
    /// expiry is judged. Default `true`.
    #[serde(default = "default_verify")]
    pub verify: bool,
    /// Bound on connect and handshake together. Default `5s`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_min_days_left() -> f64 {
    14.0
}

fn default_verify() -> bool {
    true
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// A validated `tls` probe.
#[derive(Debug)]
pub struct TlsProbe {
    address: String,
    server_name: ServerName<'static>,
    min_days_left: f64,
    provider: Arc<CryptoProvider>,
    /// The verifier to delegate to; `None` accepts any chain; `Err` is why roots are missing.
    verifier: Result<Option<Arc<dyn ServerCertVerifier>>, String>,
    timeout: Duration,
}

impl TlsSpec {
    /// Validate into a probe; problems are reported at their keys. Reads `ca_file`.
    pub fn build(&self, cx: &mut BuildCx<'_>) -> Option<TlsProbe> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let address = require_address(cx, "address", &self.address);
        positive(cx, "timeout", self.timeout);
        if !(self.min_days_left.is_finite() && self.min_days_left >= 0.0) {
            cx.error("min_days_left", "must be a number of days, at least 0");
        }
        let server_name = match (&self.server_name, &address) {
            (Some(name), _) => parse_name(cx, "server_name", name),
            (None, Some(a)) => parse_name(cx, "address", host_of(a)),
            (None, None) => None,
        };
        let ca = self
            .ca_file
            .as_ref()
            .and_then(|p| load_ca(cx, p, &provider));
        if cx.has_errors() {
            return None;
        }
        let verifier = match (self.verify, ca) {
            (false, _) => Ok(None),
            (true, Some(ca)) => Ok(Some(ca)),
            (true, None) => rustls_platform_verifier::Verifier::new(provider.clone())
                .map(|v| Some(Arc::new(v) as Arc<dyn ServerCertVerifier>))
                .map_err(|e| format!("no system trust roots: {e}")),
        };
        Some(TlsProbe {
            address: address?,
            server_name: server_name?,
            min_days_left: self.min_days_left,
            provider,
            verifier,
            timeout: self.timeout,
        })
    }
}

/// The host of a `host:port` address, without IPv6 brackets.
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// A server name for SNI and verification, reporting an invalid one at `key`.
fn parse_name(cx: &mut BuildCx<'_>, key: &str, name: &str) -> Option<ServerName<'static>> {
    let invalid = || format!("{name:?} is not a valid DNS name or IP address");
    ServerName::try_from(name.to_string())
        .map_err(|_| cx.error(key, invalid()))
        .ok()
}

/// Read the CA file into a webpki verifier, reporting problems at `ca_file`.
fn load_ca(
    cx: &mut BuildCx<'_>,
    path: &std::path::Path,
    provider: &Arc<CryptoProvider>,
) -> Option<Arc<dyn ServerCertVerifier>> {
    let path = cx.resolve(path);
    let shown = path.display().to_string();
    let pem =
        std::fs::read(&path).map_err(|e| cx.error("ca_file", format!("cannot read {shown}: {e}")));
    let certs = CertificateDer::pem_slice_iter(&pem.ok()?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cx.error("ca_file", format!("{shown} is not valid PEM: {e}")))
        .ok()?;
    let mut roots = RootCertStore::empty();
    // An empty store makes `build` fail with "no root trust anchors were provided".
    roots.add_parsable_certificates(certs);
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| cx.error("ca_file", format!("{shown}: {e}")))
        .ok()
        .map(|v| v as Arc<dyn ServerCertVerifier>)
}

impl Probe for TlsProbe {
    fn kind(&self) -> Kind {
        Kind::Tls
    }

    async fn run(&self, cx: &RunContext) -> Outcome {
        let recorder = Arc::new(Recorder {
            inner: self.verifier.clone().unwrap_or(None),
            algs: self.provider.signature_verification_algorithms,
            earliest: Mutex::new(None),
        });
        let handshake = self.handshake(cx, recorder.clone()).await;
        let earliest = recorder.earliest.lock().ok().and_then(|g| *g);
        let mut outcome = match (handshake, earliest) {
            (Err(fail), _) => fail.into_outcome(),
            (Ok(()), None) => Outcome::failure(FailureReason::Tls, "no parsable certificate"),
            (Ok(()), Some(e)) => self.judge(e, SystemTime::now()),
        };
        outcome.cert_not_after = earliest.map(|e| e.not_after);
        outcome
    }
}

impl TlsProbe {
    async fn handshake(&self, cx: &RunContext, recorder: Arc<Recorder>) -> Result<(), Failed> {
        if let Err(why) = &self.verifier {
            return Err(Failed::new(FailureReason::Tls, why.clone()));
        }
        let budget = Budget::new(cx, self.timeout);
        let tcp = netio::connect(&budget, &self.address).await?;
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Failed::new(FailureReason::Tls, e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(recorder)
            .with_no_client_auth();
        let connector = TlsConnector::from(Arc::new(config));
        let what = "waiting for the TLS handshake";
        let mut tls = budget
            .within(what, connector.connect(self.server_name.clone(), tcp))
            .await?
            .map_err(|e| handshake_fail(&e))?;
        // A polite close_notify, so servers do not log a truncated connection; best effort.
        let _ = budget.within("closing", tls.shutdown()).await;
        Ok(())
    }

    fn judge(&self, e: Earliest, now: SystemTime) -> Outcome {
        let days = match e.not_after.duration_since(now) {
            Ok(left) => left.as_secs_f64() / 86_400.0,
            Err(past) => -past.duration().as_secs_f64() / 86_400.0,
        };
        let (name, threshold) = (self.server_name.to_str(), self.min_days_left);
        let which = match e.index {
            0 => format!("cert for {name}"),
            i => format!("cert {} of {} in the chain for {name}", i + 1, e.chain_len),
        };
        let when = match days {
            d if d >= 0.0 => format!("expires in {d:.1} days"),
            d => format!("expired {:.1} days ago", -d),
        };
        let msg = format!("{which} {when} (threshold {threshold})");
        if days < self.min_days_left {
            Outcome::failure(FailureReason::CertExpiry, msg)
        } else {
            Outcome::success(msg)
        }
    }
}

/// Map a handshake error: not-TLS bytes are `protocol`, other rustls errors and a close
/// mid-handshake are `tls`, socket errors go through [`netio::io_fail`].
fn handshake_fail(e: &std::io::Error) -> Failed {
    let (reason, msg) = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidMessage(m)) => (
            FailureReason::Protocol,
            format!("not a TLS server: received {m:?}"),
        ),
        Some(tls) => (FailureReason::Tls, tls.to_string()),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => (
            FailureReason::Tls,
            "peer closed the connection during the handshake".into(),
        ),
        None => return netio::io_fail(e, "during the TLS handshake"),
    };
    Failed::new(reason, netio::sanitize(msg.as_bytes(), 200))
}

/// The earliest `notAfter` of a presented chain and where it was.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Earliest {
    not_after: SystemTime,
    /// 0 for the end entity, then the intermediates in the order presented.
    index: usize,
    chain_len: usize,
}

/// Records the presented chain's earliest expiry, then delegates the chain's verification to
/// `inner` (or, without one, accepts it).
#[derive(Debug)]
struct Recorder {
    inner: Option<Arc<dyn ServerCertVerifier>>,
    algs: WebPkiSupportedAlgorithms,
    earliest: Mutex<Option<Earliest>>,
}

/// The earliest `notAfter` among the parsable certificates of a chain.
fn earliest_of(chain: &[&CertificateDer<'_>]) -> Option<Earliest> {
    chain
        .iter()
        .enumerate()
        .filter_map(|(index, der)| {
            let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
            // A notAfter before 1970 is as expired as 1970.
            let secs = u64::try_from(cert.validity().not_after.timestamp()).unwrap_or(0);
            let not_after = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))?;
            Some(Earliest {
                not_after,
                index,
                chain_len: chain.len(),
            })
        })
        .min_by_key(|e| e.not_after)
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain: Vec<_> = std::iter::once(end_entity).chain(intermediates).collect();
        if let Ok(mut slot) = self.earliest.lock() {
            *slot = earliest_of(&chain);
        }
        match &self.inner {
            Some(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    // Handshake signatures are checked with the provider's algorithms, as webpki and the
    // platform verifier do themselves, so `verify = false` still proves key possession.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Target;

    fn build(json: &str) -> (Option<TlsProbe>, Vec<String>) {
        let spec: TlsSpec = serde_json::from_str(json).unwrap();
        let target = Target::for_tests("http://127.0.0.1:1");
        let mut cx = BuildCx::new(&target, "probe[4]");
        let probe = spec.build(&mut cx);
        (
            probe,
            cx.into_errors().iter().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn spec_errors_name_their_keys() {
        let (probe, errs) = build(
            r#"{"address": "h:443", "min_days_left": -1, "server_name": "a b", "timeout": "0s"}"#,
        );
        assert!(probe.is_none());
        assert_eq!(
            errs,
            [
                "probe[4].timeout: must be greater than zero",
                "probe[4].min_days_left: must be a number of days, at least 0",
                "probe[4].server_name: \"a b\" is not a valid DNS name or IP address",
            ]
        );
    }
}
