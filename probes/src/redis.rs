//! The `redis` kind: connect, send `PING` as a RESP array and expect `+PONG`. It owns the spec
//! and the parsing of that one reply; it never reads more than [`MAX_REPLY`] bytes and never
//! authenticates (see [`RedisSpec`]).

use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::expect::fmt_duration;
use crate::failed::Failed;
use crate::netio::{self, Budget, Endpoint};
use crate::spec::BuildCx;
use crate::{FailureReason, Kind, Outcome, Probe, RunContext};

/// `PING` as a RESP array of one bulk string (what redis-cli sends).
const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
/// The only successful answer.
const PONG: &[u8] = b"+PONG\r\n";
/// Most reply bytes read: enough for any error line we report.
const MAX_REPLY: usize = 256;
/// Longest error line quoted in a message.
const MAX_ERROR_CHARS: usize = 120;

/// Configuration of a `redis` probe: `PING` must be answered with `PONG`.
///
/// There is deliberately no `password`: secrets never appear in config values, and this kind
/// does not authenticate. A server with `requirepass` (or ACLs denying the default user)
/// answers `-NOAUTH …`, which fails the probe with reason `status`.
///
/// ```toml
/// kind = "redis"
/// address = "127.0.0.1:6379"
/// timeout = "3s"
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSpec {
    /// The server, as `host:port`.
    pub address: String,
    /// Bound on the whole run: connect, `PING` and the reply. Default `3s`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(3)
}

/// A validated `redis` probe.
#[derive(Debug)]
pub struct RedisProbe {
    endpoint: Endpoint,
}

impl RedisSpec {
    /// Validate into a probe; problems are reported at their keys.
    pub fn build(&self, cx: &mut BuildCx<'_>) -> Option<RedisProbe> {
        let endpoint = Endpoint::build(cx, &self.address, self.timeout)?;
        Some(RedisProbe { endpoint })
    }
}

impl Probe for RedisProbe {
    fn kind(&self) -> Kind {
        Kind::Redis
    }

    async fn run(&self, cx: &RunContext) -> Outcome {
        self.ping(cx).await.unwrap_or_else(Failed::into_outcome)
    }
}

impl RedisProbe {
    async fn ping(&self, cx: &RunContext) -> Result<Outcome, Failed> {
        let budget = Budget::new(cx, self.endpoint.timeout);
        let mut stream = netio::connect(&budget, &self.endpoint.address).await?;
        let sent = Instant::now();
        netio::write_all(&budget, &mut stream, PING, "sending PING").await?;
        let mut buf = Vec::with_capacity(64);
        let settled = |b: &[u8]| parse_reply(b, false) != Reply::Incomplete;
        let eof = netio::read_until(
            &budget,
            &mut stream,
            &mut buf,
            MAX_REPLY,
            "waiting for PONG",
            settled,
        )
        .await?;
        let took = sent.elapsed();
        Ok(match parse_reply(&buf, eof || buf.len() >= MAX_REPLY) {
            Reply::Pong => Outcome::success(format!("PONG in {}", fmt_duration(took))),
            Reply::Error(line) => {
                Outcome::failure(FailureReason::Status, format!("redis answered {line}"))
            }
            Reply::Unexpected(what) => Outcome::failure(FailureReason::Protocol, what),
            Reply::Incomplete => {
                Outcome::failure(FailureReason::Protocol, "truncated reply to PING")
            }
        })
    }
}

/// What the bytes read so far say about the reply to `PING`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    /// Not decided yet: more bytes may come.
    Incomplete,
    /// `+PONG\r\n`.
    Pong,
    /// A RESP error (`-LOADING …`): its first line, sanitized and truncated.
    Error(String),
    /// Anything else, described.
    Unexpected(String),
}

/// Judge `buf`; `complete` says no more bytes will come (closed, or the read limit reached).
fn parse_reply(buf: &[u8], complete: bool) -> Reply {
    match buf.first() {
        None if complete => Reply::Unexpected("connection closed without a reply".into()),
        None => Reply::Incomplete,
        Some(b'+') if buf.starts_with(PONG) => Reply::Pong,
        Some(b'+') if PONG.starts_with(buf) && !complete => Reply::Incomplete,
        Some(b'-') => match buf.windows(2).position(|w| w == b"\r\n") {
            Some(end) => Reply::Error(netio::sanitize(&buf[1..end], MAX_ERROR_CHARS)),
            None if complete => Reply::Error(netio::sanitize(&buf[1..], MAX_ERROR_CHARS)),
            None => Reply::Incomplete,
        },
        Some(_) => Reply::Unexpected(format!("not a PONG reply: {:?}", netio::sanitize(buf, 40))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Target;

    #[test]
    fn pong_is_success() {
        assert_eq!(parse_reply(b"+PONG\r\n", false), Reply::Pong);
        assert_eq!(parse_reply(b"+PO", false), Reply::Incomplete);
        assert_eq!(parse_reply(b"", false), Reply::Incomplete);
    }

    #[test]
    fn error_replies_keep_their_first_line() {
        let r = parse_reply(
            b"-LOADING Redis is loading the dataset in memory\r\n",
            false,
        );
        assert_eq!(
            r,
            Reply::Error("LOADING Redis is loading the dataset in memory".into())
        );
        assert_eq!(parse_reply(b"-NOAUTH Auth", false), Reply::Incomplete);
        assert_eq!(
            parse_reply(b"-NOAUTH Auth", true),
            Reply::Error("NOAUTH Auth".into())
        );
    }

    #[test]
    fn long_or_binary_errors_are_truncated_and_sanitized() {
        let mut line = b"-ERR \x1b[31m".to_vec();
        line.extend(std::iter::repeat_n(b'x', 300));
        let Reply::Error(msg) = parse_reply(&line, true) else {
            panic!("not an error");
        };
        assert!(msg.starts_with("ERR .[31m"));
        assert_eq!(msg.chars().count(), MAX_ERROR_CHARS + 1);
    }

    #[test]
    fn anything_else_is_unexpected() {
        for (buf, complete) in [
            (&b"HTTP/1.1 400 Bad Request\r\n"[..], false),
            (b"+OK\r\n", false),
            (b"+PO", true),
            (b"", true),
            (b"$4\r\nPONG\r\n", false),
        ] {
            assert!(
                matches!(parse_reply(buf, complete), Reply::Unexpected(_)),
                "{buf:?}"
            );
        }
    }

    #[test]
    fn spec_errors_name_their_keys() {
        let spec: RedisSpec =
            serde_json::from_str(r#"{"address": "127.0.0.1", "timeout": "0s"}"#).unwrap();
        let target = Target::for_tests("http://127.0.0.1:1");
        let mut cx = BuildCx::new(&target, "probe[1]");
        assert!(spec.build(&mut cx).is_none());
        let errs: Vec<String> = cx.into_errors().iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            [
                "probe[1].address: expected host:port, got \"127.0.0.1\"",
                "probe[1].timeout: must be greater than zero",
            ]
        );
    }

    #[test]
    fn password_is_not_a_field() {
        let r = serde_json::from_str::<RedisSpec>(r#"{"address": "h:1", "password": "x"}"#);
        assert!(r.is_err());
    }
}
