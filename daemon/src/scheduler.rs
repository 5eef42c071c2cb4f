//! The scheduler: one task per probe, each running its probe on an interval (with jitter and a
//! start-up stagger) or a cron schedule, never overlapping itself (missed runs are counted as
//! skipped), within a global limit of runs in flight, each bounded by its deadline. Reloads are
//! diffed: unchanged probes keep running with their history.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prober_probes::{FailureReason, Outcome, RunContext, Target};
use tokio::sync::Semaphore;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::{Config, DaemonSettings, ProbeDef, Schedule};
use crate::history::ProbeHistory;
use crate::recorder::{ProbeSlot, Recorder, lock};
use crate::resources::ResourcesConfig;
use crate::schedule::cron::Cron;

/// A run that ignores its deadline is abandoned this long after it (cleanups have their own
/// budget of up to 10 s by default on top of the deadline).
const ABANDON_AFTER: Duration = Duration::from_secs(30);
/// How often the scheduler proves it is alive (`/healthz`).
const HEARTBEAT: Duration = Duration::from_secs(1);

struct Running {
    slot: Arc<ProbeSlot>,
    stop: CancellationToken,
}

/// Probes that run faster while the rollout guard analyses a rollout: their interval is
/// divided by `factor`. The guard raises it and restores it; tasks pick a change up at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Speedup {
    /// Interval divisor (1 = normal).
    pub factor: f64,
    /// Probes it applies to.
    pub probes: Arc<std::collections::BTreeSet<String>>,
}

impl Default for Speedup {
    fn default() -> Self {
        Speedup {
            factor: 1.0,
            probes: Arc::default(),
        }
    }
}

impl Speedup {
    fn factor_for(&self, probe: &str) -> f64 {
        if self.probes.contains(probe) {
            self.factor.max(1.0)
        } else {
            1.0
        }
    }
}

/// What a reload changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Probes unchanged: still running, history kept.
    pub kept: usize,
    /// Probes whose definition changed: restarted with a new history.
    pub changed: usize,
    /// New probes.
    pub added: usize,
    /// Probes no longer configured: stopped, their series removed.
    pub removed: usize,
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} kept, {} changed, {} added, {} removed",
            self.kept, self.changed, self.added, self.removed
        )
    }
}

/// Runs the configured probes.
pub struct Scheduler {
    recorder: Arc<Recorder>,
    settings: DaemonSettings,
    target: Option<Target>,
    semaphore: Arc<Semaphore>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    running: HashMap<String, Running>,
    resources: Option<(ResourcesConfig, CancellationToken)>,
    speedup: tokio::sync::watch::Sender<Speedup>,
}

impl Scheduler {
    /// A scheduler with no probes; the heartbeat starts now.
    pub fn new(recorder: Arc<Recorder>, settings: &DaemonSettings) -> Self {
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let beat = recorder.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            loop {
                beat.beat();
                tokio::select! {
                    () = sleep(HEARTBEAT) => {}
                    () = stop.cancelled() => return,
                }
            }
        });
        Scheduler {
            recorder,
            settings: settings.clone(),
            target: None,
            semaphore: Arc::new(Semaphore::new(settings.max_concurrent_runs)),
            shutdown,
            tasks,
            running: HashMap::new(),
            resources: None,
            speedup: tokio::sync::watch::Sender::new(Speedup::default()),
        }
    }

    /// Run `config`'s probes: keep those unchanged, restart changed ones, start new ones and
    /// stop removed ones. Scheduler settings (concurrency, jitter) take effect for new tasks.
    pub fn apply(&mut self, config: &Config) -> Applied {
        let mut applied = Applied::default();
        self.resize_limit(config.daemon.max_concurrent_runs);
        self.settings = config.daemon.clone();
        let same_target = self.target.as_ref() == Some(&config.target);
        let mut previous = std::mem::take(&mut self.running);
        let mut slots = Vec::with_capacity(config.probes.len());
        for def in &config.probes {
            let slot = match previous.remove(&def.name) {
                Some(old) if old.slot.def.same_as(def) && same_target => {
                    applied.kept += 1;
                    slots.push(old.slot.clone());
                    self.running.insert(def.name.clone(), old);
                    continue;
                }
                Some(old) if old.slot.def.same_as(def) => {
                    // Same probe, new target or keys: restart it on the new target but keep
                    // its history.
                    old.stop.cancel();
                    applied.kept += 1;
                    let history = std::mem::replace(
                        &mut *lock(&old.slot.history),
                        ProbeHistory::new(&def.name, def.probe.kind(), def.schedule_text()),
                    );
                    Arc::new(ProbeSlot::with_history(def.clone(), history))
                }
                Some(old) => {
                    old.stop.cancel();
                    applied.changed += 1;
                    Arc::new(ProbeSlot::new(def.clone()))
                }
                None => {
                    applied.added += 1;
                    Arc::new(ProbeSlot::new(def.clone()))
                }
            };
            slots.push(slot.clone());
            let stop = self.shutdown.child_token();
            self.spawn(slot.clone(), stop.clone());
            self.running
                .insert(def.name.clone(), Running { slot, stop });
        }
        for (_, old) in previous {
            old.stop.cancel();
            applied.removed += 1;
        }
        self.target = Some(config.target.clone());
        self.recorder
            .set_probes(slots, &config.source, &config.target);
        self.apply_resources(config.resources.as_ref());
        applied
    }

    /// (Re)start the resource NFR loop when its settings changed.
    fn apply_resources(&mut self, wanted: Option<&ResourcesConfig>) {
        if self.resources.as_ref().map(|(c, _)| c) == wanted {
            return;
        }
        if let Some((_, stop)) = self.resources.take() {
            stop.cancel();
        }
        match wanted {
            Some(cfg) => {
                let stop = self.shutdown.child_token();
                let task =
                    crate::resources::task::run(cfg.clone(), self.recorder.clone(), stop.clone());
                self.tasks.spawn(task);
                self.resources = Some((cfg.clone(), stop));
            }
            None => self.recorder.nfrs_measured(Vec::new()),
        }
    }

    /// Change the limit of runs in flight on the one semaphore every task shares: a larger
    /// limit takes effect at once; a smaller one as soon as enough runs have finished (their
    /// permits are taken and forgotten), never by cutting a run short.
    fn resize_limit(&mut self, limit: usize) {
        let old = self.settings.max_concurrent_runs;
        if limit > old {
            self.semaphore.add_permits(limit - old);
        } else if limit < old {
            let excess = (old - limit) as u32;
            let semaphore = self.semaphore.clone();
            let stop = self.shutdown.clone();
            self.tasks.spawn(async move {
                tokio::select! {
                    permits = semaphore.acquire_many_owned(excess) => {
                        if let Ok(permits) = permits {
                            permits.forget();
                        }
                    }
                    () = stop.cancelled() => {}
                }
            });
        }
    }

    /// The handle the rollout guard uses to speed up its gate probes.
    pub fn speedup(&self) -> tokio::sync::watch::Sender<Speedup> {
        self.speedup.clone()
    }

    /// The settings in effect.
    pub fn settings(&self) -> &DaemonSettings {
        &self.settings
    }

    fn spawn(&self, slot: Arc<ProbeSlot>, stop: CancellationToken) {
        let task = ProbeTask {
            slot,
            recorder: self.recorder.clone(),
            semaphore: self.semaphore.clone(),
            stop,
            jitter: self.settings.jitter,
            stagger: self.settings.startup_stagger,
            speedup: self.speedup.subscribe(),
        };
        self.tasks.spawn(task.run());
    }

    /// Cancel every run (cleanups still run) and wait for the tasks, at most `bound`. Returns
    /// whether everything ended in time.
    pub async fn shutdown(self, bound: Duration) -> bool {
        self.shutdown.cancel();
        self.tasks.close();
        timeout(bound, self.tasks.wait()).await.is_ok()
    }
}

/// One probe's loop.
struct ProbeTask {
    slot: Arc<ProbeSlot>,
    recorder: Arc<Recorder>,
    semaphore: Arc<Semaphore>,
    stop: CancellationToken,
    jitter: f64,
    stagger: Duration,
    speedup: tokio::sync::watch::Receiver<Speedup>,
}

impl ProbeTask {
    async fn run(mut self) {
        let def = self.slot.def.clone();
        let mut grid = Instant::now() + self.first_delay();
        let mut due = grid;
        loop {
            tokio::select! {
                () = sleep_until(due) => {}
                () = speed_changed(&mut self.speedup) => {
                    // Faster now: do not wait out the old, longer interval.
                    let schedule = self.schedule();
                    let sooner = Instant::now() + self.jitter_for(&schedule);
                    if sooner < due {
                        (grid, due) = (sooner, sooner);
                    }
                    continue;
                }
                () = self.stop.cancelled() => return,
            }
            let outcome = tokio::select! {
                permit = self.semaphore.clone().acquire_owned() => {
                    let Ok(_permit) = permit else { return };
                    self.run_once(&def).await
                }
                () = self.stop.cancelled() => return,
            };
            // A run cancelled by a reload or shutdown says nothing about the target.
            if self.stop.is_cancelled() {
                return;
            }
            self.recorder.run_finished(&self.slot, &outcome);
            let schedule = self.schedule();
            let (next, skipped) = next_run(&schedule, grid, Instant::now());
            if skipped > 0 {
                self.recorder.runs_skipped(&self.slot, skipped);
            }
            grid = next;
            due = next + self.jitter_for(&schedule);
        }
    }

    async fn run_once(&self, def: &ProbeDef) -> Outcome {
        self.recorder.run_started(&self.slot);
        let mut cx = RunContext::new(def.deadline);
        cx.cancel = self.stop.child_token();
        let started = Instant::now();
        match timeout(def.deadline + ABANDON_AFTER, def.probe.run(&cx)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                warn!(probe = %def.name, "run ignored its deadline; abandoned");
                let mut o = Outcome::failure(
                    FailureReason::Deadline,
                    format!(
                        "the run did not end within its deadline ({}) and was abandoned",
                        humantime::format_duration(def.deadline)
                    ),
                );
                o.duration = started.elapsed();
                o
            }
        }
    }

    /// The schedule in effect: an interval divided by the guard's speedup, if it applies.
    fn schedule(&self) -> Schedule {
        match &self.slot.def.schedule {
            Schedule::Every(every) => {
                let factor = self.speedup.borrow().factor_for(&self.slot.def.name);
                Schedule::Every(every.div_f64(factor))
            }
            cron => cron.clone(),
        }
    }

    /// Interval probes start at a random point of the stagger, so that a restart does not fire
    /// every probe at once; cron probes at their next time.
    fn first_delay(&self) -> Duration {
        match &self.slot.def.schedule {
            Schedule::Every(every) => (*every).min(self.stagger).mul_f64(fastrand::f64()),
            Schedule::Cron(cron) => until_next_fire(cron, SystemTime::now()),
        }
    }

    /// Interval runs drift at random by up to `jitter` of the interval; cron runs are on time.
    fn jitter_for(&self, schedule: &Schedule) -> Duration {
        match schedule {
            Schedule::Every(every) => every.mul_f64(self.jitter * fastrand::f64()),
            Schedule::Cron(_) => Duration::ZERO,
        }
    }
}

/// Resolves when the speedup changes; never, once its sender is gone.
async fn speed_changed(rx: &mut tokio::sync::watch::Receiver<Speedup>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A year: how long a cron probe that never fires again sleeps before looking again.
const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);

fn until_next_fire(cron: &Cron, now: SystemTime) -> Duration {
    cron.next_after(now)
        .map_or(NEVER, |t| t.duration_since(now).unwrap_or_default())
}

/// The next grid point after `now` for a run scheduled at `grid`, and how many grid points were
/// missed while the run was in flight.
fn next_run(schedule: &Schedule, grid: Instant, now: Instant) -> (Instant, u64) {
    match schedule {
        Schedule::Every(every) => {
            let mut next = grid + *every;
            let mut skipped = 0;
            if next <= now {
                let behind = now.duration_since(next).as_nanos() / every.as_nanos().max(1);
                skipped = behind as u64 + 1;
                next += every.saturating_mul(skipped as u32);
            }
            (next, skipped)
        }
        Schedule::Cron(cron) => {
            let wall = SystemTime::now();
            let grid_wall = wall - now.saturating_duration_since(grid);
            // Fire times that passed while the run was in flight were skipped (bounded count).
            let mut skipped = 0;
            let mut t = grid_wall;
            while let Some(fire) = cron.next_after(t) {
                if fire > wall || skipped >= 10_000 {
                    break;
                }
                skipped += 1;
                t = fire;
            }
            (now + until_next_fire(cron, wall), skipped)
        }
    }
}

/// Log what a reload did.
pub fn log_applied(applied: &Applied, source: &str) {
    info!(config = %source, kept = applied.kept, changed = applied.changed,
        added = applied.added, removed = applied.removed, "configuration applied");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_longer_than_its_interval_skips_the_ticks_it_covered() {
        let every = Schedule::Every(Duration::from_secs(10));
        let t0 = Instant::now();
        // Finished within the interval: next tick, nothing skipped.
        assert_eq!(
            next_run(&every, t0, t0 + Duration::from_secs(3)),
            (t0 + Duration::from_secs(10), 0)
        );
        // Ran 25 s: the ticks at 10 s and 20 s were missed; the next is at 30 s.
        assert_eq!(
            next_run(&every, t0, t0 + Duration::from_secs(25)),
            (t0 + Duration::from_secs(30), 2)
        );
        // Exactly on a tick counts it as missed.
        assert_eq!(
            next_run(&every, t0, t0 + Duration::from_secs(10)),
            (t0 + Duration::from_secs(20), 1)
        );
    }

    #[test]
    fn a_cron_run_is_on_the_next_whole_minute_and_counts_missed_fire_times() {
        let every_minute = Schedule::Cron(Arc::new("* * * * *".parse().unwrap()));
        let now = Instant::now();
        // Started 150 s ago: two or three minute marks passed since (depending on the second).
        let grid = now - Duration::from_secs(150);
        let (next, skipped) = next_run(&every_minute, grid, now);
        assert!((2..=3).contains(&skipped), "{skipped}");
        let wait = next.duration_since(now);
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        // Finished right away: nothing missed.
        assert_eq!(next_run(&every_minute, now, now).1, 0);
    }

    #[tokio::test]
    async fn the_run_limit_resizes_without_a_second_semaphore() {
        let settings = crate::config::DaemonSettings {
            listen: ([127, 0, 0, 1], 0).into(),
            max_concurrent_runs: 4,
            jitter: 0.0,
            startup_stagger: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(1),
        };
        let mut s = Scheduler::new(Arc::new(Recorder::new()), &settings);
        let held = s.semaphore.clone().acquire_many_owned(3).await.unwrap();
        s.resize_limit(2);
        s.settings.max_concurrent_runs = 2;
        tokio::task::yield_now().await;
        // 3 in flight, limit 2: nothing free; when they end, 2 permits remain.
        assert_eq!(s.semaphore.available_permits(), 0);
        drop(held);
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(s.semaphore.available_permits(), 2);
        s.resize_limit(5);
        assert_eq!(s.semaphore.available_permits(), 5);
        assert!(s.shutdown(Duration::from_secs(1)).await);
    }
}
