//! The validated target: base URL, how to authenticate, and the HTTP client limits that apply
//! to every HTTP-based probe unless a probe overrides them.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::secret::Secret;

/// How requests marked `auth = true` authenticate.
#[derive(Debug, Clone, PartialEq)]
pub struct Auth {
    /// Header name, e.g. `X-API-Key` or `Authorization`.
    pub header: String,
    /// Value template; `${key}` is replaced by the key, e.g. `ApiKey ${key}`.
    pub value_template: String,
    /// The key itself.
    pub key: Secret,
    /// A valid key without admin rights, for checks that admin routes refuse it.
    pub non_admin_key: Option<Secret>,
}

impl Auth {
    /// The header value for `key` (the configured key unless another is given).
    pub fn header_value(&self, key: Option<&str>) -> String {
        self.value_template
            .replace("${key}", key.unwrap_or(self.key.expose()))
    }
}

/// Redirect handling. Redirects are never followed to a non-http(s) scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirects {
    /// Most hops followed; 0 means a 3xx is returned as is.
    pub max_hops: usize,
    /// Whether a redirect to another host is followed.
    pub cross_host: bool,
}

/// Client limits that bound every request, whatever the target does.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpLimits {
    /// Bound on the TCP connect (and TLS handshake start).
    pub connect_timeout: Duration,
    /// Bound on one whole request: connect, TLS, headers and body.
    pub request_timeout: Duration,
    /// Most body bytes read, counted after decompression.
    pub max_body_bytes: u64,
    /// Redirect policy.
    pub redirects: Redirects,
    /// Extra CA certificate (PEM) trusted besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification (only for throwaway test targets).
    pub insecure_skip_verify: bool,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            max_body_bytes: 1024 * 1024,
            redirects: Redirects {
                max_hops: 5,
                cross_host: false,
            },
            ca_file: None,
            insecure_skip_verify: false,
        }
    }
}

/// The service under test.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Base URL; probe paths are appended to it.
    pub base_url: Url,
    /// Authentication for requests marked `auth = true`.
    pub auth: Option<Auth>,
    /// Client limits.
    pub limits: HttpLimits,
}

impl Target {
    /// A target with default limits and no auth (tests and examples).
    pub fn for_tests(base_url: &str) -> Self {
        Target {
            base_url: Url::parse(base_url).unwrap_or_else(|_| {
                Url::parse("http://127.0.0.1:1").unwrap_or_else(|_| unreachable!())
            }),
            auth: None,
            limits: HttpLimits::default(),
        }
    }

    /// Join a configured path (with query) onto the base URL, keeping the base's own path
    /// prefix (a base of `https://h/godel` and a path of `/api/health` give `/godel/api/health`).
    pub fn url(&self, path_and_query: &str) -> Result<Url, String> {
        let mut base = self.base_url.as_str().trim_end_matches('/').to_string();
        if !path_and_query.starts_with('/') {
            base.push('/');
        }
        base.push_str(path_and_query);
        Url::parse(&base).map_err(|e| format!("invalid url: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_paths_below_the_base_prefix() {
        let t = Target::for_tests("https://example.test/godel/");
        assert_eq!(
            t.url("/api/health").unwrap().as_str(),
            "https://example.test/godel/api/health"
        );
        let t = Target::for_tests("http://127.0.0.1:7373");
        assert_eq!(
            t.url("/api/agents?x=1").unwrap().as_str(),
            "http://127.0.0.1:7373/api/agents?x=1"
        );
    }

    #[test]
    fn auth_template_renders_the_key() {
        let a = Auth {
            header: "Authorization".into(),
            value_template: "ApiKey ${key}".into(),
            key: Secret::new("k1"),
            non_admin_key: None,
        };
        assert_eq!(a.header_value(None), "ApiKey k1");
        assert_eq!(a.header_value(Some("other")), "ApiKey other");
    }
}
