//! Why a run, or one step of it, ended early: the one error type every kind returns, and a
//! tally that names a run of many requests after its most common failure.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{FailureReason, Outcome};

/// A failure, or a cancellation (shutdown), with what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The reason; `None` when the run was cancelled, which is inconclusive, not the target's
    /// fault.
    pub reason: Option<FailureReason>,
    /// What happened, for humans; no secrets, no raw body.
    pub message: String,
    /// The target's `Retry-After`, when it rate limited us.
    pub retry_after: Option<Duration>,
    /// The response status, when there was a response.
    pub status: Option<u16>,
}

impl Failed {
    /// A failure with `reason`.
    pub fn new(reason: FailureReason, message: impl Into<String>) -> Self {
        Failed {
            reason: Some(reason),
            message: message.into(),
            retry_after: None,
            status: None,
        }
    }

    /// The run was cancelled before it could judge the target.
    pub fn cancelled(message: impl Into<String>) -> Self {
        Failed {
            reason: None,
            ..Failed::new(FailureReason::Deadline, message)
        }
    }

    /// Whether this is a failure with `reason`.
    pub fn is(&self, reason: FailureReason) -> bool {
        self.reason == Some(reason)
    }

    /// Prefix the message with what was being done, e.g. `GET /api/health`.
    pub fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The outcome a run ends with: a failure, or inconclusive when cancelled.
    pub fn into_outcome(self) -> Outcome {
        let mut o = match self.reason {
            Some(reason) => Outcome::failure(reason, self.message),
            None => Outcome::inconclusive(self.message),
        };
        o.retry_after = self.retry_after;
        o
    }
}

/// Failures of many requests, counted by reason.
#[derive(Debug, Default)]
pub struct FailureTally {
    by_reason: BTreeMap<Option<FailureReason>, (u32, Failed)>,
}

impl FailureTally {
    /// Count one failure (the first of each reason is kept as the example).
    pub fn add(&mut self, failed: Failed) {
        self.by_reason.entry(failed.reason).or_insert((0, failed)).0 += 1;
    }

    /// How many failures were counted.
    pub fn total(&self) -> u32 {
        self.by_reason.values().map(|(count, _)| count).sum()
    }

    /// The most common reason's count and example (on a tie, the later reason in order).
    pub fn most_common(self) -> Option<(u32, Failed)> {
        self.by_reason.into_values().max_by_key(|(count, _)| *count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancellation_is_inconclusive_and_failures_keep_retry_after() {
        assert_eq!(
            Failed::cancelled("stop").into_outcome().verdict,
            crate::Verdict::Inconclusive
        );
        let mut f = Failed::new(FailureReason::RateLimited, "429").context("GET /x");
        f.retry_after = Some(Duration::from_secs(2));
        let o = f.into_outcome();
        assert_eq!(o.message, "GET /x: 429");
        assert_eq!(o.retry_after, Some(Duration::from_secs(2)));
    }

    #[test]
    fn the_tally_names_the_most_common_reason() {
        let mut t = FailureTally::default();
        t.add(Failed::new(FailureReason::Status, "500"));
        t.add(Failed::new(FailureReason::RateLimited, "429 a"));
        t.add(Failed::new(FailureReason::RateLimited, "429 b"));
        assert_eq!(t.total(), 3);
        let (count, example) = t.most_common().unwrap();
        assert_eq!((count, example.message.as_str()), (2, "429 a"));
    }
}
