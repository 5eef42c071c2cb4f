//! One request/response exchange as every HTTP-based kind needs it: send, honour a 429's
//! `Retry-After` when it fits before the deadline, then check the expectation.

use std::time::Duration;

use crate::client::{HttpClient, HttpResponse, PreparedRequest};
use crate::expect::Expectation;
use crate::{FailureReason, Outcome, RunContext};

/// A failed exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// Bounded reason.
    pub reason: FailureReason,
    /// What happened.
    pub message: String,
    /// The target's `Retry-After`, when it rate limited us.
    pub retry_after: Option<Duration>,
    /// The response status, when there was a response.
    pub status: Option<u16>,
}

impl Failed {
    /// A failure without a `Retry-After`.
    pub fn new(reason: FailureReason, message: impl Into<String>) -> Self {
        Failed {
            reason,
            message: message.into(),
            retry_after: None,
            status: None,
        }
    }

    /// The outcome of a run that ended with this failure; `what` prefixes the message.
    pub fn into_outcome(self, what: &str) -> Outcome {
        let mut o = Outcome::failure(self.reason, format!("{what}: {}", self.message));
        o.retry_after = self.retry_after;
        o
    }
}

/// The default wait when a 429 carries no usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Send `req` and check it against `expect`. A 429 is retried at most `retries_on_429` times,
/// each after its `Retry-After`, and only when that wait ends before the run's deadline; a
/// `Retry-After` of an hour therefore fails fast as `rate_limited` instead of sleeping.
pub async fn exchange(
    client: &HttpClient,
    req: &PreparedRequest,
    expect: &Expectation,
    cx: &RunContext,
    retries_on_429: u32,
) -> Result<HttpResponse, Failed> {
    let mut retries_left = retries_on_429;
    loop {
        let resp = client
            .send(req, cx)
            .await
            .map_err(|f| Failed::new(f.reason, f.message))?;
        if resp.status == 429 && !expect.status().contains(429) {
            let wait = resp.retry_after().unwrap_or(DEFAULT_RETRY_AFTER);
            if retries_left > 0 && wait < cx.remaining() {
                retries_left -= 1;
                tokio::select! {
                    () = cx.cancel.cancelled() => {}
                    () = tokio::time::sleep(wait) => continue,
                }
            }
            return Err(Failed {
                reason: FailureReason::RateLimited,
                message: format!("status 429, Retry-After {}s", wait.as_secs()),
                retry_after: Some(wait),
                status: Some(429),
            });
        }
        return match expect.check(&resp) {
            Ok(()) => Ok(resp),
            Err(unmet) => Err(Failed {
                status: Some(resp.status),
                ..Failed::new(unmet.reason, unmet.message)
            }),
        };
    }
}
