//! The local scope: the container's cgroup where it sets a limit, the host where it does not,
//! decided per resource at every sample (a limit can appear or change at runtime, e.g. an
//! in-place pod resize). Owns the CPU counter carried between samples; reading and parsing
//! belong to `cgroup` and `host`.

use std::path::Path;

use tokio::time::Instant;

use super::cgroup::{self, Cgroup, CpuCounter, CpuLimit};
use super::host::{Host, MIN_CPU_INTERVAL};

/// Source of a reading from the process's cgroup.
pub const SOURCE_CGROUP: &str = "cgroup";
/// Source of a reading from the whole host.
pub const SOURCE_HOST: &str = "host";

/// One local reading: the ratio (or why there is none) and its source.
pub type LocalReading = (Result<f64, String>, &'static str);

/// Local sampling state.
pub struct Local {
    cgroup: Option<Cgroup>,
    host: Result<Host, String>,
    /// The previous cgroup CPU counter: which one, its value (µs), when it was read.
    cpu_prev: Option<(CpuCounter, u64, Instant)>,
}

impl Local {
    /// The real process: `/proc/self/cgroup` under `/sys/fs/cgroup`.
    pub fn new() -> Self {
        let proc_self = cgroup::read_small(Path::new("/proc/self/cgroup")).unwrap_or_default();
        Self::with_paths(&proc_self, Path::new("/sys/fs/cgroup"))
    }

    /// The process whose `/proc/self/cgroup` reads `proc_self_cgroup`, with cgroups under
    /// `root`. Takes the first CPU counters (cgroup and host) so the first sample has a start.
    pub fn with_paths(proc_self_cgroup: &str, root: &Path) -> Self {
        let cgroup = cgroup::detect(proc_self_cgroup, root);
        tracing::debug!(?cgroup, "resources: local cgroup");
        let cpu_prev = cgroup
            .as_ref()
            .and_then(|cg| cgroup::cpu_limit(cg).ok().flatten())
            .and_then(|limit| {
                let usec = limit.counter.read_usec().ok()?;
                Some((limit.counter, usec, Instant::now()))
            });
        Local {
            cgroup,
            host: Host::new(),
            cpu_prev,
        }
    }

    /// Memory then CPU. CPU is the average since the previous sample; the first sample after
    /// [`Local::new`] (or after the limiting cgroup changed) waits until at least
    /// [`MIN_CPU_INTERVAL`] has passed since its start, so it is a real measurement.
    pub async fn sample(&mut self) -> (LocalReading, LocalReading) {
        let memory = match self.cgroup.as_ref().map(cgroup::memory) {
            Some(Ok(Some(m))) => (Ok(m.ratio()), SOURCE_CGROUP),
            Some(Err(e)) => (Err(e), SOURCE_CGROUP),
            Some(Ok(None)) | None => (self.host_memory(), SOURCE_HOST),
        };
        let cpu = match self.cgroup.as_ref().map(cgroup::cpu_limit) {
            Some(Ok(Some(limit))) => (self.cgroup_cpu(limit).await, SOURCE_CGROUP),
            Some(Err(e)) => {
                self.cpu_prev = None;
                (Err(e), SOURCE_CGROUP)
            }
            Some(Ok(None)) | None => {
                self.cpu_prev = None;
                let cpu = match &mut self.host {
                    Ok(host) => host.cpu_ratio().await,
                    Err(e) => Err(e.clone()),
                };
                (cpu, SOURCE_HOST)
            }
        };
        (memory, cpu)
    }

    fn host_memory(&mut self) -> Result<f64, String> {
        match &mut self.host {
            Ok(host) => host.memory_ratio(),
            Err(e) => Err(e.clone()),
        }
    }

    async fn cgroup_cpu(&mut self, limit: CpuLimit) -> Result<f64, String> {
        let (start_usec, start) = match self.cpu_prev.take() {
            Some((counter, usec, at)) if counter == limit.counter => (usec, at),
            _ => (limit.counter.read_usec()?, Instant::now()),
        };
        let since = start.elapsed();
        if since < MIN_CPU_INTERVAL {
            tokio::time::sleep(MIN_CPU_INTERVAL - since).await;
        }
        let now_usec = limit.counter.read_usec()?;
        let now = Instant::now();
        self.cpu_prev = Some((limit.counter, now_usec, now));
        cgroup::cpu_ratio(start_usec, now_usec, now - start, limit.cores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::time::Duration;

    /// A cgroup v2 root with the process in `/pod/ctr`, limited to 1 GiB and 2 cores.
    fn v2() -> (tempfile::TempDir, std::path::PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("cgroup.controllers"), "cpu memory\n").unwrap();
        let leaf = tmp.path().join("pod/ctr");
        fs::create_dir_all(&leaf).unwrap();
        fs::write(leaf.join("memory.max"), "1073741824\n").unwrap();
        fs::write(leaf.join("memory.current"), "600000000\n").unwrap();
        fs::write(leaf.join("memory.stat"), "inactive_file 63129088\n").unwrap();
        fs::write(leaf.join("cpu.max"), "200000 100000\n").unwrap();
        fs::write(leaf.join("cpu.stat"), "usage_usec 1000000\n").unwrap();
        (tmp, leaf)
    }

    /// Pretend the previous CPU sample was taken `by` earlier. (Paused tokio time would need
    /// tokio's `test-util` feature, which would rebuild every tokio dependent for tests; the
    /// exact arithmetic is pinned in `cgroup::tests::cpu_delta_math`.)
    fn rewind(local: &mut Local, by: Duration) {
        let prev = local.cpu_prev.as_mut().unwrap();
        prev.2 = prev.2.checked_sub(by).unwrap();
    }

    fn assert_near(got: Result<f64, String>, want: f64) {
        let got = got.unwrap();
        assert!((got - want).abs() < 1e-3, "got {got}, want {want}");
    }

    #[tokio::test]
    async fn cgroup_limits_are_used_and_cpu_is_a_delta_over_wall_time() {
        let (tmp, leaf) = v2();
        let mut local = Local::with_paths("0::/pod/ctr\n", tmp.path());
        rewind(&mut local, Duration::from_secs(10));
        // 6 CPU-seconds in 10 s on a 2-core limit.
        fs::write(leaf.join("cpu.stat"), "usage_usec 7000000\n").unwrap();
        let ((mem, mem_src), (cpu, cpu_src)) = local.sample().await;
        assert_eq!(mem, Ok(0.5));
        assert_eq!((mem_src, cpu_src), (SOURCE_CGROUP, SOURCE_CGROUP));
        assert_near(cpu, 0.3);

        // The next sample measures from the previous one: 1 CPU-second in 5 s.
        rewind(&mut local, Duration::from_secs(5));
        fs::write(leaf.join("cpu.stat"), "usage_usec 8000000\n").unwrap();
        let (_, (cpu, _)) = local.sample().await;
        assert_near(cpu, 0.1);
    }

    #[tokio::test]
    async fn the_first_sample_waits_for_a_real_interval() {
        let (tmp, _leaf) = v2();
        let start = Instant::now();
        let mut local = Local::with_paths("0::/pod/ctr\n", tmp.path());
        let (_, (cpu, src)) = local.sample().await;
        assert_eq!((cpu, src), (Ok(0.0), SOURCE_CGROUP));
        assert!(start.elapsed() >= MIN_CPU_INTERVAL);
    }

    #[tokio::test]
    async fn a_mix_reports_the_source_per_reading() {
        let (tmp, leaf) = v2();
        fs::write(leaf.join("cpu.max"), "max 100000\n").unwrap();
        let mut local = Local::with_paths("0::/pod/ctr\n", tmp.path());
        let ((mem, mem_src), (cpu, cpu_src)) = local.sample().await;
        assert_eq!((mem, mem_src), (Ok(0.5), SOURCE_CGROUP));
        assert_eq!(cpu_src, SOURCE_HOST);
        assert!(cpu.is_ok(), "{cpu:?}");
    }

    #[tokio::test]
    async fn garbage_is_an_error_reading_not_a_panic() {
        let (tmp, leaf) = v2();
        let mut local = Local::with_paths("0::/pod/ctr\n", tmp.path());
        fs::write(leaf.join("memory.max"), "\u{0}\u{1}").unwrap();
        fs::write(leaf.join("cpu.stat"), "usage_usec 5\n").unwrap();
        let ((mem, mem_src), (cpu, cpu_src)) = local.sample().await;
        assert!(mem.unwrap_err().contains("memory.max: expected a number"));
        assert!(cpu.unwrap_err().contains("went backwards"));
        assert_eq!((mem_src, cpu_src), (SOURCE_CGROUP, SOURCE_CGROUP));
        // The counter recovers from the new baseline: 0.2 CPU-seconds in 1 s on 2 cores.
        rewind(&mut local, Duration::from_secs(1));
        fs::write(leaf.join("cpu.stat"), "usage_usec 200005\n").unwrap();
        let (_, (cpu, _)) = local.sample().await;
        assert_near(cpu, 0.1);
    }

    #[tokio::test]
    async fn without_cgroup_limits_the_host_is_measured() {
        let tmp = tempfile::tempdir().unwrap();
        let mut local = Local::with_paths("0::/\n", tmp.path());
        let ((mem, mem_src), (cpu, cpu_src)) = local.sample().await;
        assert_eq!((mem_src, cpu_src), (SOURCE_HOST, SOURCE_HOST));
        let (mem, cpu) = (mem.unwrap(), cpu.unwrap());
        assert!(mem > 0.0 && mem <= 1.0, "{mem}");
        assert!((0.0..=1.5).contains(&cpu), "{cpu}");
    }
}
