//! The `tcp` kind: a TCP connect, and optionally a one-shot exchange (send some bytes, expect
//! the first reply to start with a prefix). It owns only its spec and that exchange; bounded
//! I/O and error mapping live in [`crate::netio`]. It never reads more than the expected
//! prefix's length.

use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::expect::fmt_duration;
use crate::failed::Failed;
use crate::netio::{self, Budget, positive};
use crate::spec::{BuildCx, require_address};
use crate::{FailureReason, Kind, Outcome, Probe, RunContext};

/// Longest `send` payload and `expect_prefix` accepted (bytes).
const MAX_PAYLOAD: usize = 4096;

/// Configuration of a `tcp` probe: succeeds when the connection is established (and, with
/// `expect_prefix`, when the first reply starts with it).
///
/// ```toml
/// kind = "tcp"
/// address = "db.internal:5432"
/// connect_timeout = "3s"
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSpec {
    /// Where to connect, as `host:port` (a name is resolved at every run).
    pub address: String,
    /// Bound on resolving and connecting. Default `3s`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Bytes to send once connected (a TOML string; escapes such as `\r\n` work). Optional.
    #[serde(default)]
    pub send: Option<String>,
    /// The first reply must start with these bytes (e.g. `"SSH-"` for a banner). Optional;
    /// without it, nothing is read.
    #[serde(default)]
    pub expect_prefix: Option<String>,
    /// Bound on sending `send` and reading the reply, after the connect. Default `3s`; used
    /// only with `send` or `expect_prefix`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub read_timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(3)
}

/// A validated `tcp` probe.
#[derive(Debug)]
pub struct TcpProbe {
    address: String,
    connect_timeout: Duration,
    send: Option<Vec<u8>>,
    expect_prefix: Option<Vec<u8>>,
    read_timeout: Duration,
}

impl TcpSpec {
    /// Validate into a probe; problems are reported at their keys.
    pub fn build(&self, cx: &mut BuildCx<'_>) -> Option<TcpProbe> {
        let address = require_address(cx, "address", &self.address);
        positive(cx, "connect_timeout", self.connect_timeout);
        positive(cx, "read_timeout", self.read_timeout);
        for (key, value) in [("send", &self.send), ("expect_prefix", &self.expect_prefix)] {
            match value {
                Some(v) if v.is_empty() => cx.error(key, "must not be empty"),
                Some(v) if v.len() > MAX_PAYLOAD => {
                    cx.error(key, format!("must be at most {MAX_PAYLOAD} bytes"));
                }
                _ => {}
            }
        }
        if cx.has_errors() {
            return None;
        }
        Some(TcpProbe {
            address: address?,
            connect_timeout: self.connect_timeout,
            send: self.send.as_ref().map(|s| s.as_bytes().to_vec()),
            expect_prefix: self.expect_prefix.as_ref().map(|s| s.as_bytes().to_vec()),
            read_timeout: self.read_timeout,
        })
    }
}

impl Probe for TcpProbe {
    fn kind(&self) -> Kind {
        Kind::Tcp
    }

    async fn run(&self, cx: &RunContext) -> Outcome {
        self.exchange(cx).await.unwrap_or_else(Failed::into_outcome)
    }
}

impl TcpProbe {
    async fn exchange(&self, cx: &RunContext) -> Result<Outcome, Failed> {
        let started = Instant::now();
        let budget = Budget::new(cx, self.connect_timeout);
        let mut stream = netio::connect(&budget, &self.address).await?;
        let connected = started.elapsed();
        if self.send.is_none() && self.expect_prefix.is_none() {
            return Ok(Outcome::success(format!(
                "connected to {} in {}",
                self.address,
                fmt_duration(connected)
            )));
        }

        let budget = Budget::new(cx, self.read_timeout);
        if let Some(send) = &self.send {
            netio::write_all(&budget, &mut stream, send, "sending").await?;
        }
        let Some(prefix) = &self.expect_prefix else {
            return Ok(Outcome::success(format!(
                "connected and sent {} bytes in {}",
                self.send.as_ref().map_or(0, Vec::len),
                fmt_duration(started.elapsed())
            )));
        };
        let mut buf = Vec::with_capacity(prefix.len());
        let what = "waiting for the reply";
        // Stop reading as soon as the reply can no longer match.
        let settled = |b: &[u8]| !prefix.starts_with(b);
        let eof =
            netio::read_until(&budget, &mut stream, &mut buf, prefix.len(), what, settled).await?;
        Ok(judge_prefix(prefix, &buf, eof, started.elapsed()))
    }
}

/// The verdict on a reply `got` against the expected `prefix`.
fn judge_prefix(prefix: &[u8], got: &[u8], eof: bool, took: Duration) -> Outcome {
    if got.starts_with(prefix) {
        Outcome::success(format!("reply matched in {}", fmt_duration(took)))
    } else if prefix.starts_with(got) && eof {
        let what = if got.is_empty() {
            "before replying"
        } else {
            "mid-reply"
        };
        Outcome::failure(FailureReason::Protocol, format!("connection closed {what}"))
    } else {
        Outcome::failure(
            FailureReason::Assertion,
            format!(
                "reply does not start with {:?} (got {:?})",
                netio::sanitize(prefix, 40),
                netio::sanitize(got, 40)
            ),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Target;

    fn spec(json: &str) -> TcpSpec {
        serde_json::from_str(json).unwrap()
    }

    fn errors(s: &TcpSpec) -> Vec<String> {
        let target = Target::for_tests("http://127.0.0.1:1");
        let mut cx = BuildCx::new(&target, "probe[0]");
        assert!(s.build(&mut cx).is_none());
        cx.into_errors().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_apply() {
        let s = spec(r#"{"address": "127.0.0.1:22"}"#);
        assert_eq!(s.connect_timeout, Duration::from_secs(3));
        assert_eq!(s.send, None);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(serde_json::from_str::<TcpSpec>(r#"{"address": "h:1", "port": 2}"#).is_err());
    }

    #[test]
    fn invalid_fields_are_reported_at_their_keys() {
        let s = spec(r#"{"address": "nohost", "connect_timeout": "0s", "expect_prefix": ""}"#);
        assert_eq!(
            errors(&s),
            [
                "probe[0].address: expected host:port, got \"nohost\"",
                "probe[0].connect_timeout: must be greater than zero",
                "probe[0].expect_prefix: must not be empty",
            ]
        );
    }

    #[test]
    fn prefixes_are_judged() {
        let t = Duration::from_millis(1);
        assert!(judge_prefix(b"SSH-", b"SSH-", false, t).is_success());
        let wrong = judge_prefix(b"SSH-", b"HTTP", false, t);
        assert_eq!(wrong.verdict.reason(), Some(FailureReason::Assertion));
        let closed = judge_prefix(b"SSH-", b"SS", true, t);
        assert_eq!(closed.verdict.reason(), Some(FailureReason::Protocol));
    }
}
