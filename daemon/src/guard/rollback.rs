//! The rollback policy and the Helm CLI runner (DESIGN §6). Owns when a rollback may run (only
//! on the Lease holder, never for an opted-out release or from a revision that is itself a
//! rollback, at most once per revision, after a cooldown, under a cap per sliding window, not at
//! all in dry-run mode) and running `helm rollback` as a child process with a hard time bound
//! and bounded output.
//!
//! It does not judge verdicts, read release history or touch metrics: the caller gives it the
//! revisions and the reason, and turns the returned [`Attempt`] into an Event, a log line and
//! `prober_rollbacks_total{result}`. It never puts the environment into a result: helm inherits
//! the daemon's environment (kubeconfig, credentials) but only helm's own output comes back.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// Bound on the combined output kept from one helm run (its tail).
pub const OUTPUT_LIMIT: usize = 4 * 1024;
/// Longest stderr line quoted in a [`RollbackResult::Failure`].
const MAX_ERROR_LINE_CHARS: usize = 200;
/// How long the pipes may stay open after helm exited (a stray grandchild holding them).
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// Bound on reaping the child and on `kill(1)` after a timeout.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// Validated settings (the config layer builds this).
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackSettings {
    /// Program and leading arguments, e.g. `["helm"]` or `["/usr/local/bin/helm", "--debug"]`.
    pub command: Vec<String>,
    /// Appended after helm's own arguments, e.g. `["--kube-context", "prod"]`.
    pub extra_args: Vec<String>,
    /// Bound on one helm call, also passed to helm as `--timeout` (whole seconds, rounded up).
    pub timeout: Duration,
    /// No new attempt for a release until this long after its last one.
    pub cooldown: Duration,
    /// At most this many attempts per release within `window`.
    pub max_per_window: u32,
    /// The sliding window of `max_per_window`.
    pub window: Duration,
    /// Decide and log, but never run helm.
    pub dry_run: bool,
}

impl Default for RollbackSettings {
    fn default() -> Self {
        Self {
            command: vec!["helm".to_owned()],
            extra_args: Vec::new(),
            timeout: Duration::from_secs(5 * 60),
            cooldown: Duration::from_secs(30 * 60),
            max_per_window: 3,
            window: Duration::from_secs(24 * 60 * 60),
            dry_run: false,
        }
    }
}

/// One wish to roll a release back, with everything the policy needs to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackRequest {
    /// Namespace of the Helm release.
    pub namespace: String,
    /// Helm release name.
    pub release: String,
    /// The failing revision (the release's current one).
    pub from_revision: u32,
    /// The revision to return to (the last good one before `from_revision`).
    pub to_revision: u32,
    /// `from_revision` was itself created by `helm rollback`: never roll back a rollback.
    pub from_is_rollback: bool,
    /// The release opted out of automatic rollback.
    pub opted_out: bool,
    /// This replica holds the leader Lease.
    pub is_leader: bool,
    /// Why (the verdict in one line), for logs.
    pub reason: String,
}

/// What the policy decided for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Run helm.
    Run,
    /// Everything allows it, but dry-run mode: log what would run.
    DryRun,
    /// Don't.
    Skip(SkipReason),
}

/// Why a rollback was not run, in the order the policy checks them.
#[derive(Debug, Clone, PartialEq)]
pub enum SkipReason {
    /// This replica does not hold the Lease.
    NotLeader,
    /// The release opted out.
    OptedOut,
    /// The failing revision is itself a rollback.
    FromIsRollback,
    /// A rollback from this revision was already attempted (whatever its result).
    AlreadyAttempted {
        /// The revision rolled back from before.
        revision: u32,
    },
    /// The release's last attempt is too recent.
    Cooldown {
        /// Time left until the cooldown ends.
        remaining: Duration,
    },
    /// The release had `max` attempts within the last `window`.
    CapReached {
        /// The cap.
        max: u32,
        /// The sliding window.
        window: Duration,
    },
}

impl SkipReason {
    /// A short stable label for logs and metrics.
    pub fn as_label(&self) -> &'static str {
        match self {
            Self::NotLeader => "not_leader",
            Self::OptedOut => "opted_out",
            Self::FromIsRollback => "from_is_rollback",
            Self::AlreadyAttempted { .. } => "already_attempted",
            Self::Cooldown { .. } => "cooldown",
            Self::CapReached { .. } => "cap_reached",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotLeader => f.write_str("this replica does not hold the leader lease"),
            Self::OptedOut => f.write_str("the release opted out of automatic rollback"),
            Self::FromIsRollback => {
                f.write_str("the failing revision is itself a rollback, which is never rolled back")
            }
            Self::AlreadyAttempted { revision } => {
                write!(
                    f,
                    "a rollback from revision {revision} was already attempted"
                )
            }
            Self::Cooldown { remaining } => write!(
                f,
                "the release is in its rollback cooldown for another {}",
                humantime::format_duration(round_up_secs(*remaining))
            ),
            Self::CapReached { max, window } => write!(
                f,
                "the release reached its cap of {max} rollback attempts per {}",
                humantime::format_duration(*window)
            ),
        }
    }
}

/// What came of one request.
#[derive(Debug, Clone, PartialEq)]
pub enum RollbackResult {
    /// helm exited 0.
    Success,
    /// helm failed: exit status or timeout, and helm's last stderr line. Never the environment.
    Failure(String),
    /// Dry-run mode: not run.
    DryRun,
    /// The policy said no.
    Skipped(SkipReason),
}

impl RollbackResult {
    /// The `result` label of `prober_rollbacks_total`.
    pub fn as_label(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure(_) => "failure",
            Self::DryRun => "dry_run",
            Self::Skipped(_) => "skipped",
        }
    }
}

/// One request's outcome, for the Event, the log line and the metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The result.
    pub result: RollbackResult,
    /// The argv as run, or as it would have run.
    pub command: Vec<String>,
    /// helm's combined stdout and stderr, the last [`OUTPUT_LIMIT`] bytes (empty if not run).
    pub output: String,
    /// How long helm ran (zero if not run).
    pub duration: Duration,
}

/// One release's attempt history.
#[derive(Debug, Default)]
struct ReleaseAttempts {
    /// Revisions rolled back from (or attempted).
    from_revisions: BTreeSet<u32>,
    /// Start times of the attempts within the window, oldest first.
    times: VecDeque<Instant>,
    /// The most recent attempt.
    last: Option<Instant>,
}

/// Remembers attempts per (namespace, release): at most once per from_revision, the cooldown,
/// the cap per window. Pure decisions take `now: Instant` so they are testable without sleeping.
///
/// In memory only: a restarted daemon starts with a clean slate, which the cooldown of a
/// restarted Lease holder can't cover; the cap and Helm's own history (a rollback revision is
/// never rolled back) still bound what it does.
#[derive(Debug)]
pub struct RollbackPolicy {
    settings: RollbackSettings,
    releases: BTreeMap<(String, String), ReleaseAttempts>,
}

impl RollbackPolicy {
    /// A policy with no attempts yet.
    pub fn new(settings: RollbackSettings) -> Self {
        Self {
            settings,
            releases: BTreeMap::new(),
        }
    }

    /// The settings it applies.
    pub fn settings(&self) -> &RollbackSettings {
        &self.settings
    }

    /// Decides, in this order: not leader → opted out → from is a rollback → already attempted
    /// from this revision → cooldown → cap → dry-run → run.
    pub fn decide(&self, req: &RollbackRequest, now: Instant) -> Decision {
        if !req.is_leader {
            return Decision::Skip(SkipReason::NotLeader);
        }
        if req.opted_out {
            return Decision::Skip(SkipReason::OptedOut);
        }
        if req.from_is_rollback {
            return Decision::Skip(SkipReason::FromIsRollback);
        }
        if let Some(past) = self.releases.get(&key(req)) {
            if past.from_revisions.contains(&req.from_revision) {
                return Decision::Skip(SkipReason::AlreadyAttempted {
                    revision: req.from_revision,
                });
            }
            if let Some(last) = past.last {
                let since = now.saturating_duration_since(last);
                if since < self.settings.cooldown {
                    return Decision::Skip(SkipReason::Cooldown {
                        remaining: self.settings.cooldown - since,
                    });
                }
            }
            let in_window = past
                .times
                .iter()
                .filter(|t| now.saturating_duration_since(**t) < self.settings.window)
                .count();
            if in_window >= self.settings.max_per_window as usize {
                return Decision::Skip(SkipReason::CapReached {
                    max: self.settings.max_per_window,
                    window: self.settings.window,
                });
            }
        } else if self.settings.max_per_window == 0 {
            return Decision::Skip(SkipReason::CapReached {
                max: 0,
                window: self.settings.window,
            });
        }
        if self.settings.dry_run {
            Decision::DryRun
        } else {
            Decision::Run
        }
    }

    /// Records an attempt (of any result) at `now`: its revision is used up, the cooldown
    /// starts, and it counts against the cap.
    pub fn record(&mut self, req: &RollbackRequest, now: Instant) {
        let window = self.settings.window;
        let past = self.releases.entry(key(req)).or_default();
        past.from_revisions.insert(req.from_revision);
        while past
            .times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            past.times.pop_front();
        }
        past.times.push_back(now);
        past.last = Some(past.last.map_or(now, |l| l.max(now)));
    }
}

fn key(req: &RollbackRequest) -> (String, String) {
    (req.namespace.clone(), req.release.clone())
}

/// The argv of a rollback: `<command...> rollback <release> <to_revision> --namespace <ns>
/// --wait --timeout <N>s <extra_args...>`.
pub fn helm_argv(settings: &RollbackSettings, req: &RollbackRequest) -> Vec<String> {
    let mut argv = settings.command.clone();
    argv.extend([
        "rollback".to_owned(),
        req.release.clone(),
        req.to_revision.to_string(),
        "--namespace".to_owned(),
        req.namespace.clone(),
        "--wait".to_owned(),
        "--timeout".to_owned(),
        format!("{}s", round_up_secs(settings.timeout).as_secs()),
    ]);
    argv.extend(settings.extra_args.iter().cloned());
    argv
}

/// Whole seconds, rounded up.
fn round_up_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

/// The hard bound on a helm run: helm's own `--timeout` plus a margin for its start-up and
/// clean-up (a tenth, at least 1 s, at most 30 s).
fn hard_bound(timeout: Duration) -> Duration {
    let margin = (timeout / 10).clamp(Duration::from_secs(1), Duration::from_secs(30));
    round_up_secs(timeout) + margin
}

/// Runs helm: `<command...> rollback <release> <to_revision> --namespace <ns> --wait --timeout
/// <timeout as e.g. 300s> <extra_args...>` in its own process group, stdin null, output read
/// incrementally and only its tail kept, under the settings' timeout plus a margin as a hard
/// bound: past it, the whole process group is killed and the result is a timeout failure.
///
/// Dropping the future kills helm itself (not its process group).
pub async fn run_helm(settings: &RollbackSettings, req: &RollbackRequest) -> Attempt {
    let argv = helm_argv(settings, req);
    let started = Instant::now();
    let result_of = |result, output: &Tail| Attempt {
        result,
        command: argv.clone(),
        output: output.to_string_lossy(),
        duration: started.elapsed(),
    };
    let Some(program) = settings.command.first() else {
        return result_of(
            RollbackResult::Failure("no rollback command configured".to_owned()),
            &Tail::new(0),
        );
    };
    let spawned = Command::new(program)
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            return result_of(
                RollbackResult::Failure(format!("cannot run `{program}`: {e}")),
                &Tail::new(0),
            );
        }
    };
    let mut output = Tail::new(OUTPUT_LIMIT);
    let mut stderr_tail = Tail::new(OUTPUT_LIMIT);
    let bound = hard_bound(settings.timeout);
    let ended = supervise(&mut child, bound, &mut output, &mut stderr_tail).await;
    let last_line = last_line(&stderr_tail.to_string_lossy());
    let with_line = |head: String| match &last_line {
        Some(line) => format!("{head}: {line}"),
        None => head,
    };
    let result = match ended {
        Ended::Exited(status) if status.success() => RollbackResult::Success,
        Ended::Exited(status) => RollbackResult::Failure(with_line(describe_status(status))),
        Ended::TimedOut => RollbackResult::Failure(with_line(format!(
            "timed out after {}",
            humantime::format_duration(bound)
        ))),
        Ended::WaitFailed(e) => {
            RollbackResult::Failure(with_line(format!("waiting for `{program}` failed: {e}")))
        }
    };
    result_of(result, &output)
}

/// How a supervised child ended.
enum Ended {
    Exited(ExitStatus),
    TimedOut,
    WaitFailed(std::io::Error),
}

/// Reads both pipes into the tails and waits for the child, within `bound`. On timeout, or
/// when the pipes stay open past [`DRAIN_GRACE`] after the child exited, kills its process group.
async fn supervise(
    child: &mut Child,
    bound: Duration,
    output: &mut Tail,
    stderr_tail: &mut Tail,
) -> Ended {
    let pid = child.id();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut out_buf = vec![0u8; 8 * 1024];
    let mut err_buf = vec![0u8; 8 * 1024];
    let mut status: Option<std::io::Result<ExitStatus>> = None;
    let deadline = tokio::time::sleep(bound);
    tokio::pin!(deadline);
    let mut draining = false;
    loop {
        if status.is_some() && stdout.is_none() && stderr.is_none() {
            break;
        }
        tokio::select! {
            r = read_some(&mut stdout, &mut out_buf) => match r {
                Some(n) => output.push(&out_buf[..n]),
                None => stdout = None,
            },
            r = read_some(&mut stderr, &mut err_buf) => match r {
                Some(n) => {
                    output.push(&err_buf[..n]);
                    stderr_tail.push(&err_buf[..n]);
                }
                None => stderr = None,
            },
            s = child.wait(), if status.is_none() => {
                status = Some(s);
                if !draining {
                    draining = true;
                    let drain_until = Instant::now() + DRAIN_GRACE;
                    if drain_until < deadline.deadline() {
                        deadline.as_mut().reset(drain_until);
                    }
                }
            },
            () = &mut deadline => break,
        }
    }
    let stray = stdout.is_some() || stderr.is_some();
    match status {
        Some(Ok(s)) => {
            if stray {
                // helm exited but something it started still holds the pipes.
                if let Some(pid) = pid {
                    kill_group(pid).await;
                }
            }
            Ended::Exited(s)
        }
        Some(Err(e)) => Ended::WaitFailed(e),
        None => {
            if let Some(pid) = pid {
                kill_group(pid).await;
            }
            let _ = child.start_kill();
            // Reap it, so no zombie is left behind.
            let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
            Ended::TimedOut
        }
    }
}

/// Reads once from an open pipe: `Some(n)` with `n > 0`, `None` at end of stream or on error.
/// A closed pipe (`None`) never resolves, so `select!` ignores it.
async fn read_some<R: AsyncRead + Unpin>(pipe: &mut Option<R>, buf: &mut [u8]) -> Option<usize> {
    match pipe {
        Some(p) => match p.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

/// Kills a process group with `kill(1)` (std has no safe `killpg`, and unsafe code is
/// forbidden). Best effort: the child itself is also killed directly by the caller.
async fn kill_group(pgid: u32) {
    let kill = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status();
    let _ = tokio::time::timeout(KILL_GRACE, kill).await;
}

fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "exited abnormally".to_owned(),
    }
}

/// The last non-empty line, trimmed and cut to [`MAX_ERROR_LINE_CHARS`].
fn last_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    Some(match line.char_indices().nth(MAX_ERROR_LINE_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    })
}

/// The last `cap` bytes of a stream.
struct Tail {
    buf: VecDeque<u8>,
    cap: usize,
    truncated: bool,
}

impl Tail {
    fn new(cap: usize) -> Self {
        Self {
            buf: VecDeque::new(),
            cap,
            truncated: false,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let bytes = if bytes.len() > self.cap {
            self.truncated = true;
            &bytes[bytes.len() - self.cap..]
        } else {
            bytes
        };
        let overflow = (self.buf.len() + bytes.len()).saturating_sub(self.cap);
        if overflow > 0 {
            self.truncated = true;
            self.buf.drain(..overflow);
        }
        self.buf.extend(bytes);
    }

    /// As text, at most `cap` bytes: a character cut by the truncation is dropped, invalid
    /// UTF-8 is replaced.
    fn to_string_lossy(&self) -> String {
        let (a, b) = self.buf.as_slices();
        let mut bytes = Vec::with_capacity(a.len() + b.len());
        bytes.extend_from_slice(a);
        bytes.extend_from_slice(b);
        let mut start = 0;
        if self.truncated {
            // Skip UTF-8 continuation bytes left over from a character cut at the front.
            while start < bytes.len().min(3) && bytes[start] & 0xC0 == 0x80 {
                start += 1;
            }
        }
        let text = String::from_utf8_lossy(&bytes[start..]);
        if text.len() <= self.cap {
            return text.into_owned();
        }
        // Replacement characters made it longer: keep the tail on a character boundary.
        let mut cut = text.len() - self.cap;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text[cut..].to_owned()
    }
}

/// decide → (dry-run: log+return DryRun without running; skip: return Skipped) → run_helm →
/// record (record also failures and timeouts: a failed attempt still counts for
/// once-per-revision and the cooldown, so a failing helm never becomes a retry storm).
///
/// The attempt is recorded as it starts, before helm runs, so a cancelled run counts too. A
/// dry run is recorded like a real one, so dry-run mode reports exactly the rollbacks the real
/// mode would run (once per revision, cooldown, cap), not one per failing analysis.
pub async fn rollback(policy: &mut RollbackPolicy, req: &RollbackRequest, now: Instant) -> Attempt {
    match policy.decide(req, now) {
        Decision::Skip(skip) => {
            tracing::info!(
                namespace = %req.namespace,
                release = %req.release,
                from = req.from_revision,
                to = req.to_revision,
                result = "skipped",
                skip = skip.as_label(),
                reason = %req.reason,
                "rollback skipped: {skip}"
            );
            Attempt {
                result: RollbackResult::Skipped(skip),
                command: helm_argv(policy.settings(), req),
                output: String::new(),
                duration: Duration::ZERO,
            }
        }
        Decision::DryRun => {
            policy.record(req, now);
            let command = helm_argv(policy.settings(), req);
            tracing::warn!(
                namespace = %req.namespace,
                release = %req.release,
                from = req.from_revision,
                to = req.to_revision,
                result = "dry_run",
                reason = %req.reason,
                command = %command.join(" "),
                "dry run: would roll back"
            );
            Attempt {
                result: RollbackResult::DryRun,
                command,
                output: String::new(),
                duration: Duration::ZERO,
            }
        }
        Decision::Run => {
            policy.record(req, now);
            tracing::warn!(
                namespace = %req.namespace,
                release = %req.release,
                from = req.from_revision,
                to = req.to_revision,
                reason = %req.reason,
                "rolling back"
            );
            let attempt = run_helm(policy.settings(), req).await;
            match &attempt.result {
                RollbackResult::Failure(why) => tracing::error!(
                    namespace = %req.namespace,
                    release = %req.release,
                    from = req.from_revision,
                    to = req.to_revision,
                    result = "failure",
                    reason = %req.reason,
                    duration_seconds = attempt.duration.as_secs_f64(),
                    output = %attempt.output,
                    "rollback failed: {why}"
                ),
                _ => tracing::info!(
                    namespace = %req.namespace,
                    release = %req.release,
                    from = req.from_revision,
                    to = req.to_revision,
                    result = attempt.result.as_label(),
                    reason = %req.reason,
                    duration_seconds = attempt.duration.as_secs_f64(),
                    "rollback done"
                ),
            }
            attempt
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn settings() -> RollbackSettings {
        RollbackSettings::default()
    }

    fn req(from: u32, to: u32) -> RollbackRequest {
        RollbackRequest {
            namespace: "godel".into(),
            release: "godel".into(),
            from_revision: from,
            to_revision: to,
            from_is_rollback: false,
            opted_out: false,
            is_leader: true,
            reason: "p99 latency 812ms > 500ms for 3 analyses".into(),
        }
    }

    fn skip(d: Decision) -> SkipReason {
        match d {
            Decision::Skip(s) => s,
            other => panic!("expected a skip, got {other:?}"),
        }
    }

    /// A `#!/bin/sh` stub in `dir`. Run as `/bin/sh <stub>` (the settings' leading args), not
    /// exec'd directly: exec'ing a file just written races with other tests' forks (ETXTBSY).
    fn stub(dir: &Path, name: &str, body: &str) -> RollbackSettings {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        RollbackSettings {
            command: vec!["/bin/sh".into(), path.display().to_string()],
            ..settings()
        }
    }

    /// True when the process is gone (or a zombie nobody reaps in this container).
    fn gone(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    fn read_pid(path: PathBuf) -> u32 {
        std::fs::read_to_string(path)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn defaults() {
        let s = settings();
        assert_eq!(s.command, ["helm"]);
        assert_eq!(s.timeout, 5 * MIN);
        assert_eq!(s.cooldown, 30 * MIN);
        assert_eq!(s.max_per_window, 3);
        assert_eq!(s.window, 24 * 60 * MIN);
        assert!(!s.dry_run);
    }

    #[test]
    fn argv_is_helms_rollback_with_extra_args_last() {
        let s = RollbackSettings {
            command: vec!["/opt/helm".into(), "--debug".into()],
            extra_args: vec!["--kube-context".into(), "prod".into()],
            timeout: Duration::from_millis(90_500),
            ..settings()
        };
        assert_eq!(
            helm_argv(&s, &req(5, 4)),
            [
                "/opt/helm",
                "--debug",
                "rollback",
                "godel",
                "4",
                "--namespace",
                "godel",
                "--wait",
                "--timeout",
                "91s",
                "--kube-context",
                "prod"
            ]
        );
        assert_eq!(helm_argv(&settings(), &req(5, 4))[8], "300s");
    }

    #[test]
    fn every_skip_reason_in_order() {
        let now = Instant::now();
        let mut policy = RollbackPolicy::new(settings());
        // Everything wrong at once: the first check wins, then the next, and so on.
        let mut r = RollbackRequest {
            is_leader: false,
            opted_out: true,
            from_is_rollback: true,
            ..req(5, 4)
        };
        policy.record(&r, now);
        let t = now + MIN;
        assert_eq!(skip(policy.decide(&r, t)), SkipReason::NotLeader);
        r.is_leader = true;
        assert_eq!(skip(policy.decide(&r, t)), SkipReason::OptedOut);
        r.opted_out = false;
        assert_eq!(skip(policy.decide(&r, t)), SkipReason::FromIsRollback);
        r.from_is_rollback = false;
        assert_eq!(
            skip(policy.decide(&r, t)),
            SkipReason::AlreadyAttempted { revision: 5 }
        );
        r.from_revision = 6;
        assert_eq!(
            skip(policy.decide(&r, t)),
            SkipReason::Cooldown {
                remaining: 29 * MIN
            }
        );
        // Past the cooldown, a different revision runs.
        let t = now + 30 * MIN;
        assert_eq!(policy.decide(&r, t), Decision::Run);
        // The cap: with three attempts within the window, a fourth is refused.
        policy.record(&r, t);
        let r7 = req(7, 4);
        policy.record(&r7, t + 30 * MIN);
        let r8 = req(8, 4);
        assert_eq!(
            skip(policy.decide(&r8, t + 60 * MIN)),
            SkipReason::CapReached {
                max: 3,
                window: 24 * 60 * MIN
            }
        );
    }

    #[test]
    fn dry_run_comes_last() {
        let now = Instant::now();
        let policy = RollbackPolicy::new(RollbackSettings {
            dry_run: true,
            ..settings()
        });
        assert_eq!(policy.decide(&req(2, 1), now), Decision::DryRun);
        let not_leader = RollbackRequest {
            is_leader: false,
            ..req(2, 1)
        };
        assert_eq!(
            policy.decide(&not_leader, now),
            Decision::Skip(SkipReason::NotLeader)
        );
    }

    #[test]
    fn releases_are_independent() {
        let now = Instant::now();
        let mut policy = RollbackPolicy::new(settings());
        policy.record(&req(5, 4), now);
        let other = RollbackRequest {
            release: "other".into(),
            ..req(5, 4)
        };
        assert_eq!(policy.decide(&other, now), Decision::Run);
        let other_ns = RollbackRequest {
            namespace: "staging".into(),
            ..req(5, 4)
        };
        assert_eq!(policy.decide(&other_ns, now), Decision::Run);
    }

    #[test]
    fn cap_is_per_sliding_window() {
        let now = Instant::now();
        let hour = 60 * MIN;
        let mut policy = RollbackPolicy::new(RollbackSettings {
            cooldown: Duration::ZERO,
            max_per_window: 2,
            window: 10 * hour,
            ..settings()
        });
        policy.record(&req(1, 0), now);
        policy.record(&req(2, 1), now + 4 * hour);
        let r = req(3, 2);
        let capped = Decision::Skip(SkipReason::CapReached {
            max: 2,
            window: 10 * hour,
        });
        assert_eq!(policy.decide(&r, now + 5 * hour), capped);
        assert_eq!(policy.decide(&r, now + 10 * hour - MIN), capped);
        // The first attempt leaves the window exactly 10 h after it.
        assert_eq!(policy.decide(&r, now + 10 * hour), Decision::Run);
        policy.record(&r, now + 10 * hour);
        // Now the 2nd and 3rd are in the window, until the 2nd leaves it.
        assert_eq!(policy.decide(&req(4, 3), now + 13 * hour), capped);
        assert_eq!(policy.decide(&req(4, 3), now + 14 * hour), Decision::Run);
    }

    #[test]
    fn zero_cap_refuses_everything() {
        let policy = RollbackPolicy::new(RollbackSettings {
            max_per_window: 0,
            ..settings()
        });
        assert!(matches!(
            policy.decide(&req(2, 1), Instant::now()),
            Decision::Skip(SkipReason::CapReached { max: 0, .. })
        ));
    }

    #[test]
    fn labels_and_sentences() {
        let cases = [
            (
                SkipReason::NotLeader,
                "not_leader",
                "this replica does not hold the leader lease",
            ),
            (
                SkipReason::OptedOut,
                "opted_out",
                "the release opted out of automatic rollback",
            ),
            (
                SkipReason::FromIsRollback,
                "from_is_rollback",
                "the failing revision is itself a rollback, which is never rolled back",
            ),
            (
                SkipReason::AlreadyAttempted { revision: 7 },
                "already_attempted",
                "a rollback from revision 7 was already attempted",
            ),
            (
                SkipReason::Cooldown {
                    remaining: Duration::from_millis(754_200),
                },
                "cooldown",
                "the release is in its rollback cooldown for another 12m 35s",
            ),
            (
                SkipReason::CapReached {
                    max: 3,
                    window: 24 * 60 * MIN,
                },
                "cap_reached",
                "the release reached its cap of 3 rollback attempts per 1day",
            ),
        ];
        for (reason, label, sentence) in cases {
            assert_eq!(reason.as_label(), label);
            assert_eq!(reason.to_string(), sentence);
        }
        assert_eq!(RollbackResult::Success.as_label(), "success");
        assert_eq!(RollbackResult::Failure("x".into()).as_label(), "failure");
        assert_eq!(RollbackResult::DryRun.as_label(), "dry_run");
        assert_eq!(
            RollbackResult::Skipped(SkipReason::NotLeader).as_label(),
            "skipped"
        );
    }

    #[test]
    fn tail_keeps_the_last_bytes_on_a_char_boundary() {
        let mut t = Tail::new(8);
        t.push(b"abc");
        assert_eq!(t.to_string_lossy(), "abc");
        // 10 bytes ("€" is 3): the last 8 are kept.
        t.push("defgh€xy".as_bytes());
        assert_eq!(t.to_string_lossy(), "fgh€xy");
        // A character cut at the front is dropped, not replaced.
        t.push("xé1234567".as_bytes());
        assert_eq!(t.to_string_lossy(), "1234567");
        let mut t = Tail::new(4);
        t.push(&[0xff; 4]);
        assert!(t.to_string_lossy().len() <= 4);
    }

    #[test]
    fn last_line_is_trimmed_and_bounded() {
        assert_eq!(last_line("a\nb \n\n  \n"), Some("b".into()));
        assert_eq!(last_line(""), None);
        let long = "x".repeat(500);
        assert_eq!(last_line(&long).unwrap().chars().count(), 201);
    }

    #[tokio::test]
    async fn run_helm_passes_the_exact_argv() {
        let dir = tempfile::tempdir().unwrap();
        let argv_file = dir.path().join("argv");
        let mut s = stub(
            dir.path(),
            "helm",
            &format!("printf '%s\\n' \"$@\" > '{}'", argv_file.display()),
        );
        s.extra_args = vec!["--kube-context".into(), "prod cluster".into()];
        s.timeout = Duration::from_secs(120);
        let attempt = run_helm(&s, &req(5, 4)).await;
        assert_eq!(attempt.result, RollbackResult::Success);
        assert_eq!(attempt.command, helm_argv(&s, &req(5, 4)));
        let args = std::fs::read_to_string(&argv_file).unwrap();
        assert_eq!(
            args.lines().collect::<Vec<_>>(),
            [
                "rollback",
                "godel",
                "4",
                "--namespace",
                "godel",
                "--wait",
                "--timeout",
                "120s",
                "--kube-context",
                "prod cluster"
            ]
        );
    }

    #[tokio::test]
    async fn run_helm_reports_exit_status_and_last_stderr_line() {
        let dir = tempfile::tempdir().unwrap();
        let s = stub(
            dir.path(),
            "helm",
            "echo 'Rolling back godel to 4'\necho 'Error: UPGRADE FAILED: boom' >&2\nexit 3",
        );
        let attempt = run_helm(&s, &req(5, 4)).await;
        let RollbackResult::Failure(why) = &attempt.result else {
            panic!("{attempt:?}");
        };
        assert!(why.contains("exit status 3"), "{why}");
        assert!(why.contains("boom"), "{why}");
        assert_eq!(why, "exit status 3: Error: UPGRADE FAILED: boom");
        assert!(attempt.output.contains("Rolling back godel to 4"));
        assert!(attempt.output.contains("UPGRADE FAILED"));
    }

    #[tokio::test]
    async fn run_helm_kills_the_process_group_on_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let (sh_pid, sleep_pid) = (dir.path().join("sh.pid"), dir.path().join("sleep.pid"));
        let mut s = stub(
            dir.path(),
            "helm",
            &format!(
                "echo $$ > '{}'\nsleep 60 &\necho $! > '{}'\necho 'waiting for rollout' >&2\nwait",
                sh_pid.display(),
                sleep_pid.display()
            ),
        );
        s.timeout = Duration::from_secs(1);
        let started = Instant::now();
        let attempt = run_helm(&s, &req(5, 4)).await;
        let took = started.elapsed();
        let RollbackResult::Failure(why) = &attempt.result else {
            panic!("{attempt:?}");
        };
        assert_eq!(why, "timed out after 2s: waiting for rollout");
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(8),
            "{took:?}"
        );
        assert!(attempt.duration >= Duration::from_secs(2));
        assert!(attempt.command.contains(&"1s".to_owned()));
        let (sh_pid, sleep_pid) = (read_pid(sh_pid), read_pid(sleep_pid));
        // The reaped child is gone at once; its grandchild once init reaps it.
        assert!(gone(sh_pid), "sh {sh_pid} still running");
        for _ in 0..50 {
            if gone(sleep_pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone(sleep_pid), "sleep {sleep_pid} still running");
    }

    #[tokio::test]
    async fn run_helm_does_not_wait_for_strays_holding_the_pipes() {
        let dir = tempfile::tempdir().unwrap();
        let sleep_pid = dir.path().join("sleep.pid");
        let s = stub(
            dir.path(),
            "helm",
            &format!("sleep 60 &\necho $! > '{}'\necho done", sleep_pid.display()),
        );
        let started = Instant::now();
        let attempt = run_helm(&s, &req(5, 4)).await;
        assert_eq!(attempt.result, RollbackResult::Success);
        assert_eq!(attempt.output, "done\n");
        assert!(started.elapsed() < Duration::from_secs(8));
        let sleep_pid = read_pid(sleep_pid);
        for _ in 0..50 {
            if gone(sleep_pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone(sleep_pid), "sleep {sleep_pid} still running");
    }

    #[tokio::test]
    async fn run_helm_bounds_huge_output_to_its_tail() {
        let dir = tempfile::tempdir().unwrap();
        let s = stub(
            dir.path(),
            "helm",
            "head -c 10485760 /dev/zero | tr '\\0' x\necho\necho END-OF-OUTPUT",
        );
        let attempt = run_helm(&s, &req(5, 4)).await;
        assert_eq!(attempt.result, RollbackResult::Success);
        assert!(
            attempt.output.len() <= OUTPUT_LIMIT,
            "{}",
            attempt.output.len()
        );
        assert!(attempt.output.len() > OUTPUT_LIMIT - 100);
        assert!(attempt.output.ends_with("xxx\nEND-OF-OUTPUT\n"));
    }

    #[tokio::test]
    async fn run_helm_names_a_missing_binary() {
        let s = RollbackSettings {
            command: vec!["/nonexistent/helm-missing".into()],
            ..settings()
        };
        let attempt = run_helm(&s, &req(5, 4)).await;
        let RollbackResult::Failure(why) = &attempt.result else {
            panic!("{attempt:?}");
        };
        assert!(why.contains("/nonexistent/helm-missing"), "{why}");
        assert_eq!(attempt.command[0], "/nonexistent/helm-missing");
        let empty = RollbackSettings {
            command: Vec::new(),
            ..settings()
        };
        assert_eq!(
            run_helm(&empty, &req(5, 4)).await.result,
            RollbackResult::Failure("no rollback command configured".into())
        );
    }

    #[tokio::test]
    async fn dry_run_never_spawns_and_counts_like_a_real_run() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let s = RollbackSettings {
            dry_run: true,
            ..stub(dir.path(), "helm", &format!("touch '{}'", marker.display()))
        };
        let mut policy = RollbackPolicy::new(s.clone());
        let now = Instant::now();
        let attempt = rollback(&mut policy, &req(5, 4), now).await;
        assert_eq!(attempt.result, RollbackResult::DryRun);
        assert_eq!(attempt.command, helm_argv(&s, &req(5, 4)));
        assert!(attempt.output.is_empty());
        assert!(!marker.exists());
        // The next failing analysis doesn't "roll back" again.
        let again = rollback(&mut policy, &req(5, 4), now + MIN).await;
        assert_eq!(
            again.result,
            RollbackResult::Skipped(SkipReason::AlreadyAttempted { revision: 5 })
        );
        assert!(!marker.exists());
    }

    #[tokio::test]
    async fn skipped_requests_never_spawn() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let s = stub(dir.path(), "helm", &format!("touch '{}'", marker.display()));
        let mut policy = RollbackPolicy::new(s);
        let r = RollbackRequest {
            is_leader: false,
            ..req(5, 4)
        };
        let attempt = rollback(&mut policy, &r, Instant::now()).await;
        assert_eq!(
            attempt.result,
            RollbackResult::Skipped(SkipReason::NotLeader)
        );
        assert!(!marker.exists());
        // A skip is not an attempt: the leader may still roll back.
        assert_eq!(policy.decide(&req(5, 4), Instant::now()), Decision::Run);
    }

    #[tokio::test]
    async fn a_failed_attempt_counts_for_once_per_revision_and_the_cooldown() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let s = stub(
            dir.path(),
            "helm",
            &format!(
                "echo run >> '{}'\necho 'Error: boom' >&2\nexit 1",
                count.display()
            ),
        );
        let mut policy = RollbackPolicy::new(s);
        let now = Instant::now();
        let first = rollback(&mut policy, &req(5, 4), now).await;
        assert!(
            matches!(first.result, RollbackResult::Failure(_)),
            "{first:?}"
        );
        let again = rollback(&mut policy, &req(5, 4), now + 2 * MIN).await;
        assert_eq!(
            again.result,
            RollbackResult::Skipped(SkipReason::AlreadyAttempted { revision: 5 })
        );
        let next_rev = rollback(&mut policy, &req(6, 4), now + 2 * MIN).await;
        assert_eq!(
            next_rev.result,
            RollbackResult::Skipped(SkipReason::Cooldown {
                remaining: 28 * MIN
            })
        );
        assert_eq!(std::fs::read_to_string(&count).unwrap(), "run\n");
        // After the cooldown a new revision is tried again.
        let later = rollback(&mut policy, &req(6, 4), now + 30 * MIN).await;
        assert!(matches!(later.result, RollbackResult::Failure(_)));
        assert_eq!(std::fs::read_to_string(&count).unwrap(), "run\nrun\n");
    }

    #[tokio::test]
    async fn a_timed_out_attempt_counts_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = stub(dir.path(), "helm", "sleep 60");
        s.timeout = Duration::from_secs(1);
        let mut policy = RollbackPolicy::new(s);
        let now = Instant::now();
        let first = rollback(&mut policy, &req(5, 4), now).await;
        assert!(
            matches!(&first.result, RollbackResult::Failure(w) if w.starts_with("timed out")),
            "{first:?}"
        );
        assert_eq!(
            policy.decide(&req(5, 4), now),
            Decision::Skip(SkipReason::AlreadyAttempted { revision: 5 })
        );
    }
}
