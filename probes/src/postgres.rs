//! The `postgres` kind: `pg_isready` semantics over the raw wire protocol, without a client
//! library. It owns the spec, the two messages it sends and the parsing of the first answer;
//! it never starts TLS, never authenticates and never reads more than a few KiB.
//!
//! 1. `SSLRequest`; the one-byte answer `N` or `S` shows a PostgreSQL server is listening.
//! 2. A v3.0 `StartupMessage` (user `pg_isready`, database `postgres`): on the same connection
//!    after `N`; after `S` on a *second* connection without `SSLRequest`, because we do not
//!    start TLS and most production servers answer `S` (stopping there would never see
//!    "starting up"). The server then logs that the first connection dropped before TLS.
//! 3. The first message decides, as `pg_isready` does: `R` (an authentication request) or an
//!    `E` with any SQLSTATE but 57P03 (cannot_connect_now) or 53300 (too_many_connections) means
//!    the server accepts connections; those two are `status`; anything else is `protocol`.

use std::time::Duration;

use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::expect::fmt_duration;
use crate::failed::Failed;
use crate::netio::{self, Budget, Endpoint};
use crate::spec::BuildCx;
use crate::{FailureReason, Kind, Outcome, Probe, RunContext};

/// `SSLRequest`: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
/// Protocol version 3.0.
const PROTOCOL_3_0: u32 = 196_608;
/// Most bytes of an `ErrorResponse` body read; real ones are a few hundred bytes.
const MAX_ERROR_BODY: usize = 2048;
/// A message length above this is not PostgreSQL talking to a fresh connection.
const MAX_MESSAGE_LEN: u32 = 64 * 1024;
/// SQLSTATEs that mean "up, but not accepting connections".
const REJECTING: [&str; 2] = ["57P03", "53300"];

/// Configuration of a `postgres` probe: the server must accept connections, like
/// `pg_isready`. No credentials are sent, so none are configured.
///
/// ```toml
/// kind = "postgres"
/// address = "127.0.0.1:5432"
/// timeout = "3s"
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSpec {
    /// The server, as `host:port`.
    pub address: String,
    /// Bound on the whole run (both connections, if the server offers TLS). Default `3s`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(3)
}

/// A validated `postgres` probe.
#[derive(Debug)]
pub struct PostgresProbe {
    endpoint: Endpoint,
}

impl PostgresSpec {
    /// Validate into a probe; problems are reported at their keys.
    pub fn build(&self, cx: &mut BuildCx<'_>) -> Option<PostgresProbe> {
        let endpoint = Endpoint::build(cx, &self.address, self.timeout)?;
        Some(PostgresProbe { endpoint })
    }
}

impl Probe for PostgresProbe {
    fn kind(&self) -> Kind {
        Kind::Postgres
    }

    async fn run(&self, cx: &RunContext) -> Outcome {
        self.check(cx).await.unwrap_or_else(Failed::into_outcome)
    }
}

impl PostgresProbe {
    async fn check(&self, cx: &RunContext) -> Result<Outcome, Failed> {
        let started = Instant::now();
        let budget = Budget::new(cx, self.endpoint.timeout);
        let mut stream = netio::connect(&budget, &self.endpoint.address).await?;
        netio::write_all(&budget, &mut stream, &SSL_REQUEST, "sending SSLRequest").await?;
        let mut answer = Vec::with_capacity(1);
        let what = "waiting for the SSLRequest answer";
        netio::read_until(&budget, &mut stream, &mut answer, 1, what, |_| false).await?;
        match answer.first() {
            Some(b'N') => {}
            Some(b'S') => {
                drop(stream);
                stream = netio::connect(&budget, &self.endpoint.address).await?;
            }
            Some(_) => {
                let msg = format!(
                    "not a PostgreSQL server: answered SSLRequest with {:?}",
                    netio::sanitize(&answer, 1)
                );
                return Err(Failed::new(FailureReason::Protocol, msg));
            }
            None => {
                let msg = "connection closed without answering SSLRequest";
                return Err(Failed::new(FailureReason::Protocol, msg));
            }
        }
        let verdict = startup(&budget, &mut stream).await?;
        let took = fmt_duration(started.elapsed());
        Ok(match verdict {
            Startup::AuthRequested => {
                Outcome::success(format!("accepting connections (auth requested) in {took}"))
            }
            Startup::Refused(e) if REJECTING.contains(&e.code.as_str()) => Outcome::failure(
                FailureReason::Status,
                format!("rejecting connections: {} ({})", e.message, e.code),
            ),
            Startup::Refused(e) => Outcome::success(format!(
                "accepting connections (probe login refused with {}) in {took}",
                e.code
            )),
        })
    }
}

/// How the server answered the `StartupMessage`.
enum Startup {
    /// `R`: it wants us to authenticate, so it accepts connections.
    AuthRequested,
    /// `E`: it refused, for the reason in the error.
    Refused(PgError),
}

/// Send the `StartupMessage` and judge the first message of the answer.
async fn startup(budget: &Budget, stream: &mut TcpStream) -> Result<Startup, Failed> {
    netio::write_all(budget, stream, &startup_message(), "sending StartupMessage").await?;
    let what = "waiting for the answer to StartupMessage";
    let mut header = Vec::with_capacity(5);
    let eof = netio::read_until(budget, stream, &mut header, 5, what, |_| false).await?;
    let protocol = |msg: String| Failed::new(FailureReason::Protocol, msg);
    let (false, &[kind, a, b, c, d]) = (eof, &header[..]) else {
        let msg = format!(
            "connection closed after {} bytes of a message",
            header.len()
        );
        return Err(protocol(msg));
    };
    let len = u32::from_be_bytes([a, b, c, d]);
    if !(4..=MAX_MESSAGE_LEN).contains(&len) {
        let msg = format!(
            "not a PostgreSQL message: {:?}",
            netio::sanitize(&header, 5)
        );
        return Err(protocol(msg));
    }
    match kind {
        b'R' => Ok(Startup::AuthRequested),
        b'E' => {
            let want = usize::try_from(len - 4)
                .unwrap_or(MAX_ERROR_BODY)
                .min(MAX_ERROR_BODY);
            let mut body = Vec::with_capacity(want);
            netio::read_until(budget, stream, &mut body, want, what, |_| false).await?;
            if body.len() < want {
                return Err(protocol("truncated ErrorResponse".into()));
            }
            parse_error(&body)
                .map(Startup::Refused)
                .ok_or_else(|| protocol("ErrorResponse without a SQLSTATE".into()))
        }
        other => Err(protocol(format!(
            "unexpected message type {:?} in answer to StartupMessage",
            netio::sanitize(&[other], 1)
        ))),
    }
}

/// A v3.0 `StartupMessage` for user `pg_isready`, database `postgres`.
fn startup_message() -> Vec<u8> {
    let mut body = PROTOCOL_3_0.to_be_bytes().to_vec();
    for (key, value) in [
        ("user", "pg_isready"),
        ("database", "postgres"),
        ("application_name", "godel-prober"),
    ] {
        for s in [key, value] {
            body.extend_from_slice(s.as_bytes());
            body.push(0);
        }
    }
    body.push(0);
    // The body is under 100 bytes, so the length always fits.
    let len = u32::try_from(body.len() + 4).unwrap_or(u32::MAX);
    let mut msg = len.to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    msg
}

/// The parts of an `ErrorResponse` we report.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PgError {
    /// The SQLSTATE (field `C`), five alphanumerics.
    code: String,
    /// The primary message (field `M`), sanitized and truncated.
    message: String,
}

/// Parse an `ErrorResponse` body: `(type byte, C string)*` ended by a zero byte. A body cut
/// short (by our read limit) still yields the fields read so far.
fn parse_error(body: &[u8]) -> Option<PgError> {
    let (mut code, mut message) = (None, String::new());
    let mut rest = body;
    while let Some((&field, tail)) = rest.split_first() {
        if field == 0 {
            break;
        }
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        let value = &tail[..end];
        match field {
            b'C' if value.len() == 5 && value.iter().all(u8::is_ascii_alphanumeric) => {
                code = Some(netio::sanitize(value, 5));
            }
            b'M' => message = netio::sanitize(value, 120),
            _ => {}
        }
        rest = tail.get(end + 1..).unwrap_or_default();
    }
    Some(PgError {
        code: code?,
        message,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Target;

    fn error_body(fields: &[(u8, &str)]) -> Vec<u8> {
        let mut b = Vec::new();
        for (t, v) in fields {
            b.push(*t);
            b.extend_from_slice(v.as_bytes());
            b.push(0);
        }
        b.push(0);
        b
    }

    #[test]
    fn error_response_yields_sqlstate_and_message() {
        let body = error_body(&[
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', "57P03"),
            (b'M', "the database system is starting up"),
            (b'F', "postmaster.c"),
        ]);
        let e = parse_error(&body).unwrap();
        assert_eq!(e.code, "57P03");
        assert_eq!(e.message, "the database system is starting up");
    }

    #[test]
    fn error_response_without_a_valid_sqlstate_is_rejected() {
        assert_eq!(parse_error(&error_body(&[(b'M', "x")])), None);
        assert_eq!(parse_error(&error_body(&[(b'C', "5\x003")])), None);
        assert_eq!(parse_error(b""), None);
        // Cut short by the read limit: the fields before the cut still count.
        let cut = parse_error(b"C28000\0Mno pg_hba.conf ent").unwrap();
        assert_eq!(
            (cut.code.as_str(), cut.message.as_str()),
            ("28000", "no pg_hba.conf ent")
        );
    }

    #[test]
    fn startup_message_is_well_formed() {
        let m = startup_message();
        assert_eq!(
            u32::from_be_bytes([m[0], m[1], m[2], m[3]]) as usize,
            m.len()
        );
        assert_eq!(&m[4..8], &PROTOCOL_3_0.to_be_bytes());
        assert!(m.ends_with(b"godel-prober\0\0"));
    }

    #[test]
    fn spec_errors_name_their_keys() {
        let spec: PostgresSpec =
            serde_json::from_str(r#"{"address": ":5432", "timeout": "0s"}"#).unwrap();
        let target = Target::for_tests("http://127.0.0.1:1");
        let mut cx = BuildCx::new(&target, "probe[3]");
        assert!(spec.build(&mut cx).is_none());
        let errs: Vec<String> = cx.into_errors().iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            [
                "probe[3].address: expected host:port, got \":5432\"",
                "probe[3].timeout: must be greater than zero",
            ]
        );
    }
}
