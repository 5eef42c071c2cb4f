//! Bounded network I/O shared by the socket-level kinds (`tcp`, `redis`, `postgres`, `tls`):
//! a [`Budget`] that bounds every wait by the kind's own timeout *and* the run deadline, connect
//! and read helpers that never read more than a caller-given number of bytes, the mapping of
//! I/O errors to [`FailureReason`]s, and the one validation rule the kinds share. It must not
//! know any protocol: parsing stays in the kinds' files.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::failed::Failed;
use crate::spec::{BuildCx, require_address};
use crate::{FailureReason, RunContext};

/// How long a run may wait: the earlier of `now + timeout` and the run deadline, and whether
/// hitting it means `Deadline` (the run's) or `Timeout` (the kind's).
#[derive(Debug, Clone)]
pub struct Budget {
    deadline: Instant,
    timeout: Duration,
    run_deadline_first: bool,
    cancel: CancellationToken,
}

impl Budget {
    /// A budget of `timeout` from now, cut short by `cx`'s deadline and cancellation.
    pub fn new(cx: &RunContext, timeout: Duration) -> Self {
        let own = Instant::now() + timeout;
        Budget {
            deadline: own.min(cx.deadline),
            timeout,
            run_deadline_first: cx.deadline <= own,
            cancel: cx.cancel.clone(),
        }
    }

    /// The failure for running out of this budget while doing `what`.
    pub fn expired(&self, what: &str) -> Failed {
        if self.run_deadline_first {
            Failed::new(
                FailureReason::Deadline,
                format!("run deadline reached {what}"),
            )
        } else {
            Failed::new(
                FailureReason::Timeout,
                format!("timed out after {:?} {what}", self.timeout),
            )
        }
    }

    /// Await `fut` within the budget; `what` completes messages like "timed out after 3s …".
    pub async fn within<T>(&self, what: &str, fut: impl Future<Output = T>) -> Result<T, Failed> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(Failed::cancelled(format!("cancelled {what}"))),
            res = tokio::time::timeout_at(self.deadline, fut) => {
                res.map_err(|_| self.expired(what))
            }
        }
    }
}

/// Connect to `address` (`host:port`, resolved here) within the budget. Refused, unreachable
/// and unresolvable are `Connect`; a kernel-level connect timeout is `Timeout`.
pub async fn connect(budget: &Budget, address: &str) -> Result<TcpStream, Failed> {
    let what = format!("connecting to {address}");
    let stream = budget
        .within(&what, TcpStream::connect(address))
        .await?
        .map_err(|e| io_fail(&e, &what))?;
    // Small request/reply exchanges: do not let Nagle delay them.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Write all of `bytes` within the budget.
pub async fn write_all<W: AsyncWrite + Unpin>(
    budget: &Budget,
    w: &mut W,
    bytes: &[u8],
    what: &str,
) -> Result<(), Failed> {
    budget
        .within(what, async {
            w.write_all(bytes).await?;
            w.flush().await
        })
        .await?
        .map_err(|e| io_fail(&e, what))
}

/// Read into `buf` until `done(buf)` holds, `buf` holds `limit` bytes, or the peer closes.
/// Never reads past `limit`. Returns `true` when the peer closed the connection.
pub async fn read_until<R: AsyncRead + Unpin>(
    budget: &Budget,
    r: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
    what: &str,
    done: impl Fn(&[u8]) -> bool,
) -> Result<bool, Failed> {
    let mut chunk = [0u8; 512];
    while buf.len() < limit && !done(buf) {
        let want = (limit - buf.len()).min(chunk.len());
        let n = budget
            .within(what, r.read(&mut chunk[..want]))
            .await?
            .map_err(|e| io_fail(&e, what))?;
        if n == 0 {
            return Ok(true);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(false)
}

/// Map an I/O error to a failure: timeouts are `Timeout`, everything else about the socket
/// (refused, reset, unreachable, DNS) is `Connect`.
pub fn io_fail(e: &io::Error, what: &str) -> Failed {
    let reason = match e.kind() {
        io::ErrorKind::TimedOut => FailureReason::Timeout,
        _ => FailureReason::Connect,
    };
    Failed::new(
        reason,
        format!("{what}: {}", sanitize(e.to_string().as_bytes(), 160)),
    )
}

/// Bytes from the peer as a short printable-ASCII string: other bytes become `.`, and more than
/// `max` characters are cut with `…`.
pub fn sanitize(bytes: &[u8], max: usize) -> String {
    let mut out: String = bytes
        .iter()
        .take(max)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    if bytes.len() > max {
        out.push('…');
    }
    out
}

/// A `host:port` and a timeout: all the redis and postgres kinds need to reach their server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`.
    pub address: String,
    /// Bound on the whole run against it.
    pub timeout: Duration,
}

impl Endpoint {
    /// Validate the `address` and `timeout` keys; `None` when the context holds errors.
    pub fn build(cx: &mut BuildCx<'_>, address: &str, timeout: Duration) -> Option<Endpoint> {
        let address = require_address(cx, "address", address);
        positive(cx, "timeout", timeout);
        if cx.has_errors() {
            return None;
        }
        Some(Endpoint {
            address: address?,
            timeout,
        })
    }
}

/// Report a zero duration at `key` (the kinds' timeouts must be positive).
pub fn positive(cx: &mut BuildCx<'_>, key: &str, d: Duration) {
    if d.is_zero() {
        cx.error(key, "must be greater than zero");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_printable_ascii_and_truncates() {
        assert_eq!(sanitize(b"ERR x\r\n\x00", 80), "ERR x...");
        assert_eq!(sanitize(b"abcdef", 3), "abc…");
        assert_eq!(sanitize("é".as_bytes(), 10), "..");
    }

    #[tokio::test]
    async fn budget_names_the_deadline_that_expired() {
        let cx = RunContext::new(Duration::from_secs(60));
        let b = Budget::new(&cx, Duration::from_millis(10));
        let err = b.within("waiting", std::future::pending::<()>()).await;
        assert_eq!(err.map_err(|f| f.reason), Err(Some(FailureReason::Timeout)));

        let cx = RunContext::new(Duration::from_millis(10));
        let b = Budget::new(&cx, Duration::from_secs(60));
        let err = b.within("waiting", std::future::pending::<()>()).await;
        assert_eq!(
            err.map_err(|f| f.reason),
            Err(Some(FailureReason::Deadline))
        );
    }

    #[tokio::test]
    async fn cancellation_is_not_a_failure() {
        let cx = RunContext::new(Duration::from_secs(60));
        cx.cancel.cancel();
        let b = Budget::new(&cx, Duration::from_secs(60));
        let err = b.within("waiting", std::future::pending::<()>()).await;
        assert_eq!(err.map_err(|f| f.reason), Err(None));
    }

    #[tokio::test]
    async fn reads_stop_at_the_limit() {
        let cx = RunContext::new(Duration::from_secs(5));
        let b = Budget::new(&cx, Duration::from_secs(5));
        let data = vec![b'x'; 4096];
        let mut r = &data[..];
        let mut buf = Vec::new();
        let eof = read_until(&b, &mut r, &mut buf, 100, "reading", |_| false).await;
        assert_eq!(eof, Ok(false));
        assert_eq!(buf.len(), 100);
    }
}
