//! The host through sysinfo: memory used / total and global CPU busy share between two
//! refreshes. Used when the process's cgroup sets no limit. Owns the sysinfo state; it never
//! looks at cgroups itself.
//!
//! Why not `System::cgroup_limits()`: it reads the *root* cgroup's files and reports RSS, not
//! the working set. The cgroup module already reads the process's own cgroup (and its
//! ancestors) with kubelet's working-set definition; this module is reached only when that
//! found no limit, so the host's physical memory is the real bound and `used_memory()` (total
//! minus available) / `total_memory()` is the honest ratio.

use std::time::Duration;

use sysinfo::{MemoryRefreshKind, System};
use tokio::time::Instant;

/// Shortest interval over which sysinfo computes CPU usage correctly.
pub const MIN_CPU_INTERVAL: Duration = sysinfo::MINIMUM_CPU_UPDATE_INTERVAL;

/// sysinfo state between samples.
pub struct Host {
    system: System,
    /// When CPU counters were last refreshed (the start of the next CPU interval).
    cpu_refreshed: Instant,
}

impl Host {
    /// Load the CPU list and take the first CPU counters, so the first [`Host::cpu_ratio`]
    /// has an interval to measure.
    pub fn new() -> Result<Self, String> {
        let mut system = System::new().map_err(|e| format!("sysinfo: {e}"))?;
        system.refresh_cpu_usage();
        Ok(Host {
            system,
            cpu_refreshed: Instant::now(),
        })
    }

    /// Memory used (total minus available) / total.
    pub fn memory_ratio(&mut self) -> Result<f64, String> {
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let total = self.system.total_memory();
        if total == 0 {
            return Err("sysinfo reports no memory".into());
        }
        Ok(self.system.used_memory() as f64 / total as f64)
    }

    /// Busy share of all CPUs since the previous call (or since [`Host::new`]). Waits out the
    /// rest of [`MIN_CPU_INTERVAL`] if called sooner, so the first sample is a real one.
    pub async fn cpu_ratio(&mut self) -> Result<f64, String> {
        let since = self.cpu_refreshed.elapsed();
        if since < MIN_CPU_INTERVAL {
            tokio::time::sleep(MIN_CPU_INTERVAL - since).await;
        }
        self.system.refresh_cpu_usage();
        self.cpu_refreshed = Instant::now();
        if self.system.cpus().is_empty() {
            return Err("sysinfo reports no CPUs".into());
        }
        let percent = f64::from(self.system.global_cpu_usage());
        if !percent.is_finite() || percent < 0.0 {
            return Err(format!("sysinfo reports a CPU usage of {percent} %"));
        }
        Ok(percent / 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn measures_this_machine() {
        let mut host = Host::new().unwrap();
        let mem = host.memory_ratio().unwrap();
        assert!(mem > 0.0 && mem <= 1.0, "memory {mem}");
        let start = Instant::now();
        let cpu = host.cpu_ratio().await.unwrap();
        // The first sample waits for a measurable interval instead of reporting nonsense.
        assert!(start.elapsed() >= MIN_CPU_INTERVAL / 2, "did not wait");
        assert!((0.0..=1.5).contains(&cpu), "cpu {cpu}");
        let cpu = host.cpu_ratio().await.unwrap();
        assert!((0.0..=1.5).contains(&cpu), "cpu {cpu}");
    }
}
