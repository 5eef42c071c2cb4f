//! The one HTTP client setup every HTTP-based kind uses. The target is untrusted: connect and
//! total timeouts bound every request, the run deadline bounds everything, the body limit counts
//! decompressed bytes, redirects are bounded and never leave http(s) or (by default) the host,
//! and every transport error maps to a [`FailureReason`].

use std::error::Error as _;
use std::sync::Once;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Url};
use tokio::time::Instant;

use crate::failed::Failed;
use crate::target::HttpLimits;
use crate::{FailureReason, RunContext};

/// Install ring as the process's rustls provider, once. reqwest takes the process default;
/// the binary also installs it first thing, this keeps library users and tests working.
pub fn ensure_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A request ready to send: everything templated and resolved.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    /// HTTP method.
    pub method: Method,
    /// Absolute URL.
    pub url: Url,
    /// Headers, auth included.
    pub headers: HeaderMap,
    /// Body bytes, if any.
    pub body: Option<Bytes>,
}

/// A complete response whose body was read within the limits.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Decompressed body.
    pub body: Bytes,
    /// Time from sending to the last body byte.
    pub elapsed: Duration,
}

impl HttpResponse {
    /// The `Retry-After` header as a duration (seconds form; an HTTP date counts as 1 s).
    pub fn retry_after(&self) -> Option<Duration> {
        let v = self.headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
        Some(match v.parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => Duration::from_secs(1),
        })
    }
}

/// An HTTP client bound to one set of limits.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    limits: HttpLimits,
}

impl HttpClient {
    /// Build a client; fails on an unreadable or invalid CA file.
    pub fn new(limits: &HttpLimits) -> Result<Self, String> {
        ensure_crypto_provider();
        let redirects = limits.redirects;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            let scheme_ok = matches!(attempt.url().scheme(), "http" | "https");
            let same_host = attempt
                .previous()
                .first()
                .is_some_and(|first| first.host_str() == attempt.url().host_str());
            if !scheme_ok || (!redirects.cross_host && !same_host) {
                attempt.stop()
            } else if attempt.previous().len() > redirects.max_hops {
                attempt.error(format!("more than {} redirects", redirects.max_hops))
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder()
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.request_timeout)
            .redirect(if redirects.max_hops == 0 {
                reqwest::redirect::Policy::none()
            } else {
                policy
            })
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(8)
            .user_agent(concat!("godel-prober/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &limits.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("invalid PEM in CA file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("no certificate in CA file {}", path.display()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        if limits.insecure_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build HTTP client: {}", error_chain(&e)))?;
        Ok(HttpClient {
            client,
            limits: limits.clone(),
        })
    }

    /// The limits this client enforces.
    pub fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    /// Send a request and read its body within the limits and the run's deadline.
    pub async fn send(
        &self,
        req: &PreparedRequest,
        cx: &RunContext,
    ) -> Result<HttpResponse, Failed> {
        let started = Instant::now();
        let mut builder = self
            .client
            .request(req.method.clone(), req.url.clone())
            .headers(req.headers.clone());
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let exchange = async {
            let mut resp = builder.send().await.map_err(classify)?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = read_limited(&mut resp, self.limits.max_body_bytes).await?;
            Ok(HttpResponse {
                status,
                headers,
                body,
                elapsed: started.elapsed(),
            })
        };
        tokio::select! {
            biased;
            () = cx.cancel.cancelled() => Err(Failed::cancelled("cancelled")),
            r = tokio::time::timeout_at(cx.deadline, exchange) => match r {
                Ok(result) => result,
                Err(_) => Err(Failed::new(
                    FailureReason::Deadline,
                    format!("run deadline reached after {:?}", started.elapsed()),
                )),
            },
        }
    }
}

/// Read the body chunk by chunk (decompressed), failing as soon as it exceeds `limit`.
async fn read_limited(resp: &mut reqwest::Response, limit: u64) -> Result<Bytes, Failed> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(classify)? {
        if buf.len() as u64 + chunk.len() as u64 > limit {
            return Err(Failed::new(
                FailureReason::BodyTooLarge,
                format!("body exceeds the limit of {limit} bytes"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Map a reqwest error to a reason by what it is, then by what caused it.
fn classify(e: reqwest::Error) -> Failed {
    // The URL may carry ids or tokens: messages name the request by its template instead.
    let e = e.without_url();
    let chain = error_chain(&e);
    let reason = if e.is_timeout() {
        FailureReason::Timeout
    } else if caused_by_tls(&e) {
        FailureReason::Tls
    } else if e.is_connect() {
        FailureReason::Connect
    } else {
        // Redirect errors, malformed or truncated responses, bad compression: the peer
        // answered, but not with usable HTTP.
        FailureReason::Protocol
    };
    Failed::new(reason, chain)
}

/// Display prefixes of rustls's errors, for chains where an `io::Error` hides the typed cause
/// (its `source()` skips the error it wraps).
const TLS_MARKERS: [&str; 8] = [
    "invalid peer certificate",
    "received fatal alert",
    "peer is incompatible",
    "peer misbehaved",
    "received corrupt message",
    "tls handshake eof",
    "no application protocol",
    "InvalidCertificate",
];

fn caused_by_tls(e: &reqwest::Error) -> bool {
    let chain = error_chain(e);
    if TLS_MARKERS.iter().any(|m| chain.contains(m)) {
        return true;
    }
    let mut source = e.source();
    while let Some(s) = source {
        if s.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// The error and its causes on one line.
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Build a header from configured strings, naming what is wrong.
pub fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header name {name:?}"))?;
    let v = HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name}"))?;
    Ok((n, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3600"));
        let r = HttpResponse {
            status: 429,
            headers,
            body: Bytes::new(),
            elapsed: Duration::ZERO,
        };
        assert_eq!(r.retry_after(), Some(Duration::from_secs(3600)));
        let mut r2 = r.clone();
        r2.headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(r2.retry_after(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn header_errors_name_the_header() {
        assert!(header("X-API-Key", "abc").is_ok());
        assert_eq!(
            header("bad name", "x").unwrap_err(),
            "invalid header name \"bad name\""
        );
        assert_eq!(
            header("X-K", "a\nb").unwrap_err(),
            "invalid value for header X-K"
        );
    }
}
