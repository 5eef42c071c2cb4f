//! The process's own cgroup (v2, or v1 including the hybrid layout): which limits apply and how
//! much of them is used, read from files under a root path (`/sys/fs/cgroup` in production, a
//! temp dir in tests). Owns file parsing and the CPU delta arithmetic; it keeps no state and
//! never panics on a missing or garbled file (every problem is an `Err(String)` naming the
//! file).
//!
//! The limit that applies is the one of the nearest cgroup, from the process's own up to the
//! mount root, that sets one: Kubernetes and Docker set it on the container's cgroup, systemd
//! may set it on a parent slice. Usage is read from that same cgroup, so the ratio compares
//! like with like.

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// cgroup v1 reports "no memory limit" as a page-aligned `i64::MAX` (9223372036854771712);
/// anything from here up is treated as unlimited.
pub const V1_UNLIMITED: u64 = 1 << 62;

/// Pseudo-files are a few KiB at most; never read more than this from one.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Default CFS period (µs) when `cpu.max` gives only a quota.
const DEFAULT_PERIOD_US: u64 = 100_000;

/// One cgroup hierarchy: where it is mounted and the process's cgroup inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// The mount point (e.g. `/sys/fs/cgroup` or `/sys/fs/cgroup/memory`).
    pub mount: PathBuf,
    /// The process's cgroup directory, `mount` itself or below it.
    pub leaf: PathBuf,
}

impl Hierarchy {
    /// The leaf, its parent, … up to and including the mount.
    fn ancestors(&self) -> impl Iterator<Item = &Path> {
        self.leaf
            .ancestors()
            .take_while(move |p| p.starts_with(&self.mount))
    }

    /// The directory in this hierarchy at the same relative path as `dir` in `other` (v1 cpu
    /// and cpuacct may be mounted separately), or this leaf if there is none.
    fn same_level(&self, other: &Hierarchy, dir: &Path) -> PathBuf {
        match dir.strip_prefix(&other.mount) {
            Ok(rel) if self.mount.join(rel).is_dir() => self.mount.join(rel),
            _ => self.leaf.clone(),
        }
    }
}

/// The process's cgroup layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroup {
    /// Unified hierarchy (cgroup v2) mounted at the root.
    V2(Hierarchy),
    /// Per-controller hierarchies (cgroup v1, or the v1 half of a hybrid layout).
    V1 {
        /// The `memory` controller.
        memory: Option<Hierarchy>,
        /// The `cpu` controller (CFS quota and period).
        cpu: Option<Hierarchy>,
        /// The `cpuacct` controller (usage counter).
        cpuacct: Option<Hierarchy>,
    },
}

/// Working set and limit of the limiting cgroup, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Usage minus inactive file cache (what kubelet calls the working set).
    pub working_set: u64,
    /// The limit.
    pub limit: u64,
}

impl Memory {
    /// working set / limit.
    pub fn ratio(&self) -> f64 {
        self.working_set as f64 / self.limit as f64
    }
}

/// A CPU limit and where the usage it bounds is counted.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuLimit {
    /// The limit in cores (quota / period).
    pub cores: f64,
    /// The usage counter of the limiting cgroup.
    pub counter: CpuCounter,
}

/// Where to read cumulative CPU usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuCounter {
    /// v2 `cpu.stat`, field `usage_usec`.
    V2(PathBuf),
    /// v1 `cpuacct.usage`, nanoseconds.
    V1(PathBuf),
}

impl CpuCounter {
    /// Cumulative CPU time used, in microseconds.
    pub fn read_usec(&self) -> Result<u64, String> {
        match self {
            CpuCounter::V2(dir) => {
                let path = dir.join("cpu.stat");
                let text = read_small(&path)?;
                let v = stat_field(&text, "usage_usec")
                    .ok_or_else(|| format!("{}: no usage_usec", path.display()))?;
                parse_u64(&path, v)
            }
            CpuCounter::V1(dir) => {
                let path = dir.join("cpuacct.usage");
                Ok(parse_u64(&path, &read_small(&path)?)? / 1_000)
            }
        }
    }
}

/// Find the process's cgroup from the text of `/proc/self/cgroup` and the cgroup root
/// (normally `/sys/fs/cgroup`). `None` when there is no usable hierarchy. v1 controller lines
/// win over the v2 line: on a hybrid host the memory and cpu controllers live in v1 and the
/// unified mount (`/sys/fs/cgroup/unified`) carries none of them.
pub fn detect(proc_self_cgroup: &str, root: &Path) -> Option<Cgroup> {
    let mut memory = None;
    let mut cpu = None;
    let mut cpuacct = None;
    let mut unified = None;
    for line in proc_self_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            unified = Some(path);
            continue;
        }
        let names: Vec<&str> = controllers.split(',').collect();
        for (want, slot) in [
            ("memory", &mut memory),
            ("cpu", &mut cpu),
            ("cpuacct", &mut cpuacct),
        ] {
            if names.contains(&want) {
                // A co-mounted hierarchy is at `cpu,cpuacct` (with `cpu` and `cpuacct` links).
                let mount = [root.join(want), root.join(controllers)]
                    .into_iter()
                    .find(|m| m.is_dir());
                *slot = mount.map(|mount| hierarchy(mount, path));
            }
        }
    }
    if memory.is_some() || cpu.is_some() {
        return Some(Cgroup::V1 {
            memory,
            cpu,
            cpuacct,
        });
    }
    match unified {
        Some(path) if root.join("cgroup.controllers").is_file() => {
            Some(Cgroup::V2(hierarchy(root.to_path_buf(), path)))
        }
        _ => None,
    }
}

/// The process's cgroup directory under `mount`. Without a cgroup namespace a container sees
/// its host path (`/kubepods/…`) in /proc/self/cgroup while its own cgroup is mounted as the
/// root; a path that does not exist, or that climbs (`/../..`), falls back to the mount.
fn hierarchy(mount: PathBuf, path: &str) -> Hierarchy {
    let rel = Path::new(path.trim_start_matches('/'));
    let climbs = rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    let leaf = mount.join(rel);
    let leaf = if !climbs && leaf.is_dir() {
        leaf
    } else {
        mount.clone()
    };
    Hierarchy { mount, leaf }
}

/// Memory of the nearest cgroup with a limit, or `None` if none sets one.
pub fn memory(cg: &Cgroup) -> Result<Option<Memory>, String> {
    match cg {
        Cgroup::V2(h) => {
            for dir in h.ancestors() {
                let Some(limit) = v2_memory_max(dir)? else {
                    continue;
                };
                let usage = read_u64(&dir.join("memory.current"))?;
                let stat = read_small(&dir.join("memory.stat"))?;
                let inactive = stat_u64(&dir.join("memory.stat"), &stat, &["inactive_file"])?;
                return Ok(Some(Memory {
                    working_set: working_set(usage, inactive),
                    limit,
                }));
            }
            Ok(None)
        }
        Cgroup::V1 {
            memory: Some(h), ..
        } => {
            for dir in h.ancestors() {
                let Some(limit) = v1_memory_limit(dir)? else {
                    continue;
                };
                let usage = read_u64(&dir.join("memory.usage_in_bytes"))?;
                let path = dir.join("memory.stat");
                let stat = read_small(&path)?;
                // total_ counts the subtree, like usage_in_bytes does.
                let inactive = stat_u64(&path, &stat, &["total_inactive_file", "inactive_file"])?;
                return Ok(Some(Memory {
                    working_set: working_set(usage, inactive),
                    limit,
                }));
            }
            Ok(None)
        }
        Cgroup::V1 { memory: None, .. } => Ok(None),
    }
}

/// CPU limit of the nearest cgroup with a quota, or `None` if none sets one.
pub fn cpu_limit(cg: &Cgroup) -> Result<Option<CpuLimit>, String> {
    match cg {
        Cgroup::V2(h) => {
            for dir in h.ancestors() {
                let path = dir.join("cpu.max");
                if !path.exists() {
                    continue; // the root cgroup has no cpu.max
                }
                if let Some(cores) = parse_cpu_max(&path, &read_small(&path)?)? {
                    return Ok(Some(CpuLimit {
                        cores,
                        counter: CpuCounter::V2(dir.to_path_buf()),
                    }));
                }
            }
            Ok(None)
        }
        Cgroup::V1 {
            cpu: Some(h),
            cpuacct,
            ..
        } => {
            for dir in h.ancestors() {
                let quota_path = dir.join("cpu.cfs_quota_us");
                if !quota_path.exists() {
                    continue;
                }
                let quota = read_small(&quota_path)?;
                let quota = quota.trim();
                let quota: i64 = quota.parse().map_err(|_| {
                    format!(
                        "{}: expected a number, got {}",
                        quota_path.display(),
                        clip(quota)
                    )
                })?;
                if quota <= 0 {
                    continue; // -1: no quota
                }
                let period = read_u64(&dir.join("cpu.cfs_period_us"))?;
                let cores = cores(&quota_path, quota.unsigned_abs(), period)?;
                // cpuacct.usage sits beside the quota when co-mounted, else at the same path
                // in the cpuacct hierarchy.
                let usage_dir = if dir.join("cpuacct.usage").is_file() {
                    dir.to_path_buf()
                } else {
                    match cpuacct {
                        Some(acct) => acct.same_level(h, dir),
                        None => {
                            return Err(format!(
                                "{}: a CPU quota but no cpuacct controller to measure usage",
                                dir.display()
                            ));
                        }
                    }
                };
                return Ok(Some(CpuLimit {
                    cores,
                    counter: CpuCounter::V1(usage_dir),
                }));
            }
            Ok(None)
        }
        Cgroup::V1 { cpu: None, .. } => Ok(None),
    }
}

/// CPU used over a wall-clock interval, as a share of `cores`: (Δusage / Δwall) / cores.
/// May exceed 1 briefly (the quota is enforced per period, and the two reads are not atomic).
pub fn cpu_ratio(
    prev_usec: u64,
    now_usec: u64,
    elapsed: Duration,
    cores: f64,
) -> Result<f64, String> {
    if now_usec < prev_usec {
        return Err("cgroup CPU counter went backwards (cgroup recreated?)".into());
    }
    if elapsed.is_zero() {
        return Err("no time elapsed between CPU samples".into());
    }
    if !(cores.is_finite() && cores > 0.0) {
        return Err(format!("invalid CPU limit of {cores} cores"));
    }
    // Nanoseconds over nanoseconds: integers (exact in f64 for any realistic interval), so
    // the result is rounded once, not three times.
    let used_ns = (now_usec - prev_usec) as f64 * 1e3;
    Ok(used_ns / (elapsed.as_nanos() as f64 * cores))
}

fn working_set(usage: u64, inactive_file: u64) -> u64 {
    usage.saturating_sub(inactive_file)
}

/// `memory.max`: `None` for "max" or a missing file (the root cgroup has none).
fn v2_memory_max(dir: &Path) -> Result<Option<u64>, String> {
    let path = dir.join("memory.max");
    if !path.exists() {
        return Ok(None);
    }
    let text = read_small(&path)?;
    match text.trim() {
        "max" => Ok(None),
        v => match parse_u64(&path, v)? {
            0 => Err(format!("{}: a limit of 0 bytes", path.display())),
            n => Ok(Some(n)),
        },
    }
}

/// `memory.limit_in_bytes`: `None` when missing or at the "unlimited" sentinel.
fn v1_memory_limit(dir: &Path) -> Result<Option<u64>, String> {
    let path = dir.join("memory.limit_in_bytes");
    if !path.exists() {
        return Ok(None);
    }
    match read_u64(&path)? {
        n if n >= V1_UNLIMITED => Ok(None),
        0 => Err(format!("{}: a limit of 0 bytes", path.display())),
        n => Ok(Some(n)),
    }
}

/// `cpu.max` is `"$QUOTA $PERIOD"` with `"max"` for no quota.
fn parse_cpu_max(path: &Path, text: &str) -> Result<Option<f64>, String> {
    let mut fields = text.split_whitespace();
    let quota = fields.next();
    let period = fields.next();
    match quota {
        None => Err(format!("{}: empty", path.display())),
        Some("max") => Ok(None),
        Some(q) => {
            let quota = parse_u64(path, q)?;
            let period = match period {
                Some(p) => parse_u64(path, p)?,
                None => DEFAULT_PERIOD_US,
            };
            cores(path, quota, period).map(Some)
        }
    }
}

fn cores(path: &Path, quota: u64, period: u64) -> Result<f64, String> {
    if quota == 0 || period == 0 {
        return Err(format!(
            "{}: a quota of {quota} µs per {period} µs is not a limit",
            path.display()
        ));
    }
    Ok(quota as f64 / period as f64)
}

/// Read a pseudo-file, bounded.
pub fn read_small(path: &Path) -> Result<String, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text)
}

fn read_u64(path: &Path) -> Result<u64, String> {
    parse_u64(path, &read_small(path)?)
}

fn parse_u64(path: &Path, text: &str) -> Result<u64, String> {
    let text = text.trim();
    text.parse()
        .map_err(|_| format!("{}: expected a number, got {}", path.display(), clip(text)))
}

/// The value of `key` in a flat-keyed file ("key value" per line).
fn stat_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        (f.next() == Some(key)).then(|| f.next()).flatten()
    })
}

/// The first of `keys` present in a stat file, as a number.
fn stat_u64(path: &Path, text: &str, keys: &[&str]) -> Result<u64, String> {
    let (key, v) = keys
        .iter()
        .find_map(|k| stat_field(text, k).map(|v| (k, v)))
        .ok_or_else(|| format!("{}: no {}", path.display(), keys.join(" or ")))?;
    v.parse().map_err(|_| {
        format!(
            "{}: {key}: expected a number, got {}",
            path.display(),
            clip(v)
        )
    })
}

/// A value quoted in a message, cut to a readable length.
fn clip(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{:?}…", &s[..i]),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, name: &str, text: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(name), text).unwrap();
    }

    /// A cgroup v2 root with the process in `/kubepods/pod1/ctr`.
    fn v2_tree() -> (tempfile::TempDir, Cgroup) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "cgroup.controllers", "cpu memory io\n");
        let leaf = root.join("kubepods/pod1/ctr");
        fs::create_dir_all(&leaf).unwrap();
        let cg = detect("0::/kubepods/pod1/ctr\n", root).unwrap();
        assert_eq!(
            cg,
            Cgroup::V2(Hierarchy {
                mount: root.to_path_buf(),
                leaf
            })
        );
        (tmp, cg)
    }

    #[test]
    fn v2_memory_limit_and_working_set() {
        let (tmp, cg) = v2_tree();
        let leaf = tmp.path().join("kubepods/pod1/ctr");
        write(&leaf, "memory.max", "268435456\n");
        write(&leaf, "memory.current", "150000000\n");
        write(
            &leaf,
            "memory.stat",
            "anon 100000000\nfile 50000000\nactive_file 30000000\ninactive_file 20000000\n",
        );
        let m = memory(&cg).unwrap().unwrap();
        assert_eq!(
            m,
            Memory {
                working_set: 130_000_000,
                limit: 268_435_456
            }
        );
        assert_eq!(m.ratio(), 130_000_000.0 / 268_435_456.0);
    }

    #[test]
    fn v2_max_means_no_limit_and_a_parent_limit_applies() {
        let (tmp, cg) = v2_tree();
        let root = tmp.path();
        let leaf = root.join("kubepods/pod1/ctr");
        write(&leaf, "memory.max", "max\n");
        write(&leaf, "memory.current", "1\n");
        write(&leaf, "cpu.max", "max 100000\n");
        assert_eq!(memory(&cg).unwrap(), None);
        assert_eq!(cpu_limit(&cg).unwrap(), None);

        let pod = root.join("kubepods/pod1");
        write(&pod, "memory.max", "1000\n");
        write(&pod, "memory.current", "900\n");
        write(&pod, "memory.stat", "inactive_file 100\n");
        write(&pod, "cpu.max", "50000 100000\n");
        assert_eq!(
            memory(&cg).unwrap(),
            Some(Memory {
                working_set: 800,
                limit: 1000
            })
        );
        let cpu = cpu_limit(&cg).unwrap().unwrap();
        assert_eq!(cpu.cores, 0.5);
        assert_eq!(cpu.counter, CpuCounter::V2(pod));
    }

    #[test]
    fn v2_cpu_quota_and_usage() {
        let (tmp, cg) = v2_tree();
        let leaf = tmp.path().join("kubepods/pod1/ctr");
        write(&leaf, "cpu.max", "250000 100000\n");
        write(
            &leaf,
            "cpu.stat",
            "usage_usec 7000123\nuser_usec 5000000\nsystem_usec 2000123\n",
        );
        let cpu = cpu_limit(&cg).unwrap().unwrap();
        assert_eq!(cpu.cores, 2.5);
        assert_eq!(cpu.counter.read_usec(), Ok(7_000_123));
    }

    #[test]
    fn v2_garbage_is_an_error_naming_the_file() {
        let (tmp, cg) = v2_tree();
        let leaf = tmp.path().join("kubepods/pod1/ctr");
        write(&leaf, "memory.max", "lots\n");
        let e = memory(&cg).unwrap_err();
        assert!(
            e.ends_with("memory.max: expected a number, got \"lots\""),
            "{e}"
        );

        write(&leaf, "memory.max", "1000\n");
        write(&leaf, "memory.current", "10\n");
        write(&leaf, "memory.stat", "anon 5\n");
        let e = memory(&cg).unwrap_err();
        assert!(e.ends_with("memory.stat: no inactive_file"), "{e}");

        write(&leaf, "cpu.max", "0 100000\n");
        assert!(cpu_limit(&cg).unwrap_err().contains("is not a limit"));
        write(&leaf, "cpu.max", "100000 0\n");
        assert!(cpu_limit(&cg).unwrap_err().contains("is not a limit"));
        write(&leaf, "cpu.max", "\n");
        assert!(cpu_limit(&cg).unwrap_err().ends_with("cpu.max: empty"));
        write(&leaf, "cpu.max", "-5 100000\n");
        assert!(cpu_limit(&cg).unwrap_err().contains("expected a number"));
        write(&leaf, "cpu.max", "50000\n");
        assert_eq!(cpu_limit(&cg).unwrap().unwrap().cores, 0.5);

        write(&leaf, "cpu.stat", "user_usec 1\n");
        let e = CpuCounter::V2(leaf.clone()).read_usec().unwrap_err();
        assert!(e.ends_with("cpu.stat: no usage_usec"), "{e}");
        write(
            &leaf,
            "cpu.stat",
            &format!("usage_usec {}\n", "9".repeat(100)),
        );
        let e = CpuCounter::V2(leaf.clone()).read_usec().unwrap_err();
        assert!(e.contains("expected a number, got \"9999"), "{e}");
        assert!(e.len() < 200, "{e}");
        // Binary garbage is an error, not a panic.
        fs::write(leaf.join("cpu.stat"), [0xff, 0xfe, 0x00]).unwrap();
        assert!(CpuCounter::V2(leaf).read_usec().is_err());
    }

    #[test]
    fn working_set_never_goes_negative() {
        let (tmp, cg) = v2_tree();
        let leaf = tmp.path().join("kubepods/pod1/ctr");
        write(&leaf, "memory.max", "1000\n");
        write(&leaf, "memory.current", "100\n");
        write(&leaf, "memory.stat", "inactive_file 500\n");
        assert_eq!(memory(&cg).unwrap().unwrap().working_set, 0);
    }

    #[test]
    fn v2_path_missing_or_climbing_falls_back_to_the_mount() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "cgroup.controllers", "cpu memory\n");
        for line in ["0::/kubepods/gone\n", "0::/../..\n", "0::/\n"] {
            assert_eq!(
                detect(line, root),
                Some(Cgroup::V2(Hierarchy {
                    mount: root.to_path_buf(),
                    leaf: root.to_path_buf()
                })),
                "{line}"
            );
        }
        // The root cgroup has no memory.max / cpu.max: no limit, not an error.
        let cg = detect("0::/\n", root).unwrap();
        assert_eq!(memory(&cg).unwrap(), None);
        assert_eq!(cpu_limit(&cg).unwrap(), None);
    }

    #[test]
    fn nothing_to_detect() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(detect("0::/\n", tmp.path()), None);
        assert_eq!(detect("", tmp.path()), None);
        assert_eq!(detect("garbage\n:::\n\u{0}", tmp.path()), None);
    }

    /// A cgroup v1 layout like Docker's: cpu and cpuacct co-mounted, memory separate, the
    /// process in `/docker/abc`.
    fn v1_tree() -> (tempfile::TempDir, Cgroup) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let mem = root.join("memory/docker/abc");
        let cpu = root.join("cpu,cpuacct/docker/abc");
        fs::create_dir_all(&mem).unwrap();
        fs::create_dir_all(&cpu).unwrap();
        let proc = "12:pids:/docker/abc\n5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n\
                    1:name=systemd:/docker/abc\n0::/system.slice/containerd.service\n";
        let cg = detect(proc, root).unwrap();
        let cpu_h = Hierarchy {
            mount: root.join("cpu,cpuacct"),
            leaf: cpu,
        };
        assert_eq!(
            cg,
            Cgroup::V1 {
                memory: Some(Hierarchy {
                    mount: root.join("memory"),
                    leaf: mem
                }),
                cpu: Some(cpu_h.clone()),
                cpuacct: Some(cpu_h),
            }
        );
        (tmp, cg)
    }

    #[test]
    fn v1_memory_limit_sentinel_and_working_set() {
        let (tmp, cg) = v1_tree();
        let mem = tmp.path().join("memory/docker/abc");
        write(&mem, "memory.limit_in_bytes", "9223372036854771712\n");
        write(&mem, "memory.usage_in_bytes", "5000\n");
        assert_eq!(memory(&cg).unwrap(), None);

        write(&mem, "memory.limit_in_bytes", "536870912\n");
        write(&mem, "memory.usage_in_bytes", "300000000\n");
        write(
            &mem,
            "memory.stat",
            "cache 1\ninactive_file 7\ntotal_cache 2\ntotal_inactive_file 40000000\n",
        );
        assert_eq!(
            memory(&cg).unwrap(),
            Some(Memory {
                working_set: 260_000_000,
                limit: 536_870_912
            })
        );
        // Without total_* (no hierarchy accounting) the local field is used.
        write(&mem, "memory.stat", "cache 1\ninactive_file 7\n");
        assert_eq!(memory(&cg).unwrap().unwrap().working_set, 299_999_993);
    }

    #[test]
    fn v1_cpu_quota_and_usage() {
        let (tmp, cg) = v1_tree();
        let cpu = tmp.path().join("cpu,cpuacct/docker/abc");
        write(&cpu, "cpu.cfs_quota_us", "-1\n");
        write(&cpu, "cpu.cfs_period_us", "100000\n");
        assert_eq!(cpu_limit(&cg).unwrap(), None);

        write(&cpu, "cpu.cfs_quota_us", "150000\n");
        write(&cpu, "cpuacct.usage", "4500000999\n");
        let limit = cpu_limit(&cg).unwrap().unwrap();
        assert_eq!(limit.cores, 1.5);
        assert_eq!(limit.counter, CpuCounter::V1(cpu.clone()));
        assert_eq!(limit.counter.read_usec(), Ok(4_500_000));

        write(&cpu, "cpu.cfs_period_us", "0\n");
        assert!(cpu_limit(&cg).unwrap_err().contains("is not a limit"));
        write(&cpu, "cpu.cfs_quota_us", "a lot\n");
        assert!(cpu_limit(&cg).unwrap_err().contains("expected a number"));
    }

    #[test]
    fn v1_separate_cpuacct_mount_and_no_cgroupns() {
        // Hybrid/separate mounts, and a container without a cgroup namespace: the host path in
        // /proc/self/cgroup does not exist under the mount, whose root is the container.
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let proc = "3:cpu:/kubepods/x\n2:cpuacct:/kubepods/x\n1:memory:/kubepods/x\n0::/\n";
        write(&root.join("cpu"), "cpu.cfs_quota_us", "50000\n");
        write(&root.join("cpu"), "cpu.cfs_period_us", "100000\n");
        write(&root.join("cpuacct"), "cpuacct.usage", "2000\n");
        fs::create_dir_all(root.join("memory")).unwrap();
        let cg = detect(proc, root).unwrap();
        let limit = cpu_limit(&cg).unwrap().unwrap();
        assert_eq!(limit.cores, 0.5);
        assert_eq!(limit.counter, CpuCounter::V1(root.join("cpuacct")));
        assert_eq!(limit.counter.read_usec(), Ok(2));
        // No memory.limit_in_bytes at all: no limit.
        assert_eq!(memory(&cg).unwrap(), None);
    }

    #[test]
    fn cpu_delta_math() {
        let s = Duration::from_secs;
        // 5 CPU-seconds over 10 s on a 1-core quota: half.
        assert_eq!(cpu_ratio(1_000_000, 6_000_000, s(10), 1.0), Ok(0.5));
        // The same on a 2.5-core quota.
        assert_eq!(cpu_ratio(0, 5_000_000, s(10), 2.5), Ok(0.2));
        // 300 ms over 200 ms on half a core: over the limit, reported as is.
        assert_eq!(
            cpu_ratio(0, 300_000, Duration::from_millis(200), 0.5),
            Ok(3.0)
        );
        assert_eq!(cpu_ratio(7, 7, s(1), 1.0), Ok(0.0));
        assert!(
            cpu_ratio(10, 9, s(1), 1.0)
                .unwrap_err()
                .contains("backwards")
        );
        assert!(cpu_ratio(0, 1, Duration::ZERO, 1.0).is_err());
        assert!(cpu_ratio(0, 1, s(1), 0.0).is_err());
        assert!(cpu_ratio(0, 1, s(1), f64::NAN).is_err());
    }
}
