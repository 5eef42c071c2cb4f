//! Kubernetes: Deployments and their rollouts, Helm release history from release Secrets,
//! Events, the Lease. Knows nothing of probes or verdicts.

pub mod client;
pub mod helm_release;
pub mod lease;
pub mod rollout;
