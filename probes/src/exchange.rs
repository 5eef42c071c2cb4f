//! One request/response exchange as every HTTP-based kind needs it: send, honour a 429's
//! `Retry-After` when it fits before the deadline, then check the expectation.

use std::time::Duration;

use crate::client::{HttpClient, HttpResponse, PreparedRequest};
use crate::expect::Expectation;
use crate::failed::Failed;
use crate::{FailureReason, RunContext};

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
        let resp = client.send(req, cx).await?;
        if resp.status == 429 && !expect.status().contains(429) {
            let wait = resp.retry_after().unwrap_or(DEFAULT_RETRY_AFTER);
            if retries_left > 0 && wait < cx.remaining() {
                retries_left -= 1;
                tokio::select! {
                    () = cx.cancel.cancelled() => return Err(Failed::cancelled("cancelled while waiting out a 429")),
                    () = tokio::time::sleep(wait) => continue,
                }
            }
            return Err(Failed {
                retry_after: Some(wait),
                status: Some(429),
                ..Failed::new(
                    FailureReason::RateLimited,
                    format!("status 429, Retry-After {}s", wait.as_secs()),
                )
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
