//! The probe engine: probe kinds behind one trait, their typed outcomes and the closed set of
//! failure reasons. This crate knows nothing of Kubernetes, the CLI or a metrics registry: it
//! turns a validated probe definition into runs that return [`Outcome`]s.

pub mod auth;
pub mod burst;
pub mod client;
pub mod exchange;
pub mod expect;
pub mod failed;
pub mod http;
pub mod latency;
pub mod netio;
pub mod postgres;
pub mod redis;
pub mod registry;
pub mod request;
pub mod secret;
pub mod spec;
pub mod target;
pub mod tcp;
pub mod template;
pub mod tls;
pub mod transaction;
pub mod window;

use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use registry::{AnyProbe, ProbeSpec};
pub use reqwest::Url;
pub use spec::{SpecError, SpecErrors};
pub use target::Target;

/// The kind of a probe: the value of its `kind` key and of the `kind` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One HTTP request with assertions.
    Http,
    /// Ordered HTTP steps with captures, polling and cleanup.
    Transaction,
    /// Requests that must be refused.
    Auth,
    /// Many requests into an HDR histogram; a percentile budget.
    Latency,
    /// Concurrent requests that must all succeed.
    Burst,
    /// A TCP connect.
    Tcp,
    /// Redis PING.
    Redis,
    /// PostgreSQL accepts connections (pg_isready).
    Postgres,
    /// TLS certificate expiry.
    Tls,
}

impl Kind {
    /// The bounded label value for metrics and reports.
    pub fn as_label(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Transaction => "transaction",
            Kind::Auth => "auth",
            Kind::Latency => "latency",
            Kind::Burst => "burst",
            Kind::Tcp => "tcp",
            Kind::Redis => "redis",
            Kind::Postgres => "postgres",
            Kind::Tls => "tls",
        }
    }
}

/// Why a run failed. A closed set: this, and only this, reaches the `reason` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureReason {
    /// A request or connection timed out (connect, read or total request timeout).
    Timeout,
    /// The connection was refused, reset, or the name did not resolve.
    Connect,
    /// The TLS handshake failed (untrusted, expired or mismatched certificate, bad protocol).
    Tls,
    /// The peer answered, but not with the protocol expected: garbage, truncated, empty reply.
    Protocol,
    /// The peer answered with a status outside the accepted set.
    Status,
    /// A body, header or JSON assertion did not hold.
    Assertion,
    /// The (decompressed) body exceeded the configured limit.
    BodyTooLarge,
    /// The target answered 429 Too Many Requests. Never an outage by itself.
    RateLimited,
    /// A request that must be refused was answered with success.
    AuthNotEnforced,
    /// The run's deadline passed (e.g. an agent never completed).
    Deadline,
    /// A cleanup step failed; the resource it created may be left behind.
    Cleanup,
    /// A latency budget (a single request's, or a percentile's) was exceeded.
    Latency,
    /// A TLS certificate expires sooner than the configured threshold.
    CertExpiry,
}

impl FailureReason {
    /// Every reason, for exporting zeroed counters and documentation.
    pub const ALL: [FailureReason; 13] = [
        FailureReason::Timeout,
        FailureReason::Connect,
        FailureReason::Tls,
        FailureReason::Protocol,
        FailureReason::Status,
        FailureReason::Assertion,
        FailureReason::BodyTooLarge,
        FailureReason::RateLimited,
        FailureReason::AuthNotEnforced,
        FailureReason::Deadline,
        FailureReason::Cleanup,
        FailureReason::Latency,
        FailureReason::CertExpiry,
    ];

    /// The bounded label value for metrics and reports.
    pub fn as_label(self) -> &'static str {
        match self {
            FailureReason::Timeout => "timeout",
            FailureReason::Connect => "connect",
            FailureReason::Tls => "tls",
            FailureReason::Protocol => "protocol",
            FailureReason::Status => "status",
            FailureReason::Assertion => "assertion",
            FailureReason::BodyTooLarge => "body_too_large",
            FailureReason::RateLimited => "rate_limited",
            FailureReason::AuthNotEnforced => "auth_not_enforced",
            FailureReason::Deadline => "deadline",
            FailureReason::Cleanup => "cleanup",
            FailureReason::Latency => "latency",
            FailureReason::CertExpiry => "cert_expiry",
        }
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_label())
    }
}

/// The verdict of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Everything the probe asserts held.
    Success,
    /// Something failed, for this reason.
    Failure(FailureReason),
    /// Not enough evidence to judge (e.g. too few latency samples). Neither pass nor fail.
    Inconclusive,
}

impl Verdict {
    /// `success`, `failure` or `inconclusive`: the `result` label.
    pub fn as_label(self) -> &'static str {
        match self {
            Verdict::Success => "success",
            Verdict::Failure(_) => "failure",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// The failure reason, if this is a failure.
    pub fn reason(self) -> Option<FailureReason> {
        match self {
            Verdict::Failure(r) => Some(r),
            _ => None,
        }
    }
}

/// The timing and result of one step of a multi-step probe.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTiming {
    /// The step's configured name (bounded: it comes from config, never from the target).
    pub name: String,
    /// Wall time of the step, including polling.
    pub duration: Duration,
    /// Whether the step succeeded.
    pub ok: bool,
}

/// Percentiles of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    /// Number of samples behind the percentiles.
    pub samples: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Largest sample.
    pub max: Duration,
}

/// What one run of a probe found. Probes return this and never touch a metrics registry.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Success, failure (with its reason) or inconclusive.
    pub verdict: Verdict,
    /// Wall time of the whole run, set by [`AnyProbe::run`].
    pub duration: Duration,
    /// A short human explanation; never contains secrets.
    pub message: String,
    /// Per-step timings (transactions; also auth cases and single requests).
    pub steps: Vec<StepTiming>,
    /// Latency percentiles, for kinds that measure a distribution.
    pub latency: Option<LatencySummary>,
    /// Share of a burst's requests that succeeded.
    pub burst_success_ratio: Option<f64>,
    /// Earliest certificate expiry seen (TLS probe).
    pub cert_not_after: Option<SystemTime>,
    /// The target asked us to wait this long before trying again (429 `Retry-After`).
    pub retry_after: Option<Duration>,
    /// This run's individual request latencies (latency kind; at most its request count), for
    /// windows kept outside the probe, such as the rollout guard's post-rollout window.
    pub samples: Vec<Duration>,
}

impl Outcome {
    fn with(verdict: Verdict, message: impl Into<String>) -> Self {
        Outcome {
            verdict,
            duration: Duration::ZERO,
            message: message.into(),
            steps: Vec::new(),
            latency: None,
            burst_success_ratio: None,
            cert_not_after: None,
            retry_after: None,
            samples: Vec::new(),
        }
    }

    /// A successful run.
    pub fn success(message: impl Into<String>) -> Self {
        Self::with(Verdict::Success, message)
    }

    /// A failed run, with its reason.
    pub fn failure(reason: FailureReason, message: impl Into<String>) -> Self {
        Self::with(Verdict::Failure(reason), message)
    }

    /// A run that could not reach a verdict.
    pub fn inconclusive(message: impl Into<String>) -> Self {
        Self::with(Verdict::Inconclusive, message)
    }

    /// Whether the run succeeded.
    pub fn is_success(&self) -> bool {
        self.verdict == Verdict::Success
    }
}

/// Everything a run gets from its caller: when it must end, how to stop early, and its id.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The run must be over by then; probes bound every wait by it.
    pub deadline: Instant,
    /// Cancelled on shutdown; probes stop waiting but still run their cleanup.
    pub cancel: CancellationToken,
    /// A unique id for this run, available to templates as `${run_id}`.
    pub run_id: String,
    /// This is the only run (`prober check`): kinds that judge over a window take all the
    /// samples they need now instead of relying on history.
    pub one_shot: bool,
}

impl RunContext {
    /// A context whose deadline is `timeout` from now, with a fresh run id.
    pub fn new(timeout: Duration) -> Self {
        RunContext {
            deadline: Instant::now() + timeout,
            cancel: CancellationToken::new(),
            run_id: new_run_id(),
            one_shot: false,
        }
    }

    /// Mark the context as the only run of its probe.
    pub fn one_shot(mut self) -> Self {
        self.one_shot = true;
        self
    }

    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// A short unique run id: time-based, so ids sort and never repeat within a process.
fn new_run_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{:x}-{:x}-{}",
        now.as_secs(),
        now.subsec_micros(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// One probe kind: given a run context, produce an outcome. Implementations must honour
/// `cx.deadline` for every wait and must never panic on anything the target sends.
pub trait Probe {
    /// The kind, for labels.
    fn kind(&self) -> Kind;
    /// Run once.
    fn run(&self, cx: &RunContext) -> impl Future<Output = Outcome> + Send;
}
