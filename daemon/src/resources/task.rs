//! The resource NFR loop of the daemon: measure every `resources.every`, hand the readings to
//! the recorder, log a breach when it starts and when it ends (not every sample).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::time::sleep;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{Nfr, NfrReading, ResourceSampler, ResourcesConfig};
use crate::recorder::Recorder;
use crate::status::model::NfrStatus;

/// Measure until `stop`. A sampler that cannot be built (no kubeconfig yet) is retried every
/// interval; its error is shown as the readings' error.
pub async fn run(cfg: ResourcesConfig, recorder: Arc<Recorder>, stop: CancellationToken) {
    let mut sampler: Option<ResourceSampler> = None;
    let mut breached: HashMap<Nfr, bool> = HashMap::new();
    let mut last_error: Option<String> = None;
    loop {
        if sampler.is_none() {
            match ResourceSampler::new(&cfg).await {
                Ok(s) => sampler = Some(s),
                Err(e) => {
                    let message = e.to_string();
                    if last_error.as_deref() != Some(&message) {
                        warn!(error = %message, "cannot measure resource NFRs; retrying every interval");
                    }
                    let readings = [Nfr::Memory, Nfr::Cpu].map(|nfr| NfrReading {
                        nfr,
                        value: Err(message.clone()),
                        threshold: cfg.threshold(nfr),
                        source: "pods".into(),
                    });
                    recorder.nfrs_measured(readings.iter().map(status).collect());
                    last_error = Some(message);
                }
            }
        }
        if let Some(s) = sampler.as_mut() {
            let readings = tokio::select! {
                r = s.sample() => r,
                () = stop.cancelled() => return,
            };
            for r in &readings {
                log_change(r, &mut breached);
            }
            recorder.nfrs_measured(readings.iter().map(status).collect());
        }
        tokio::select! {
            () = sleep(cfg.every()) => {}
            () = stop.cancelled() => return,
        }
    }
}

fn log_change(r: &NfrReading, breached: &mut HashMap<Nfr, bool>) {
    let now = matches!(r.value, Ok(v) if v > r.threshold);
    let before = breached.insert(r.nfr, now).unwrap_or(false);
    match (before, now, &r.value) {
        (false, true, Ok(v)) => warn!(nfr = r.nfr.id(), value = v, threshold = r.threshold,
            source = %r.source, "{} above its limit", r.nfr.description()),
        (true, false, _) => info!(nfr = r.nfr.id(), source = %r.source, "{} back under its limit",
            r.nfr.description()),
        _ => {}
    }
}

/// A reading as the status page and metrics see it.
pub fn status(r: &NfrReading) -> NfrStatus {
    let value = r.value.as_ref().ok().copied();
    NfrStatus {
        nfr: r.nfr.id(),
        description: r.nfr.description(),
        value,
        threshold: r.threshold,
        breached: value.is_some_and(|v| v > r.threshold),
        source: r.source.clone(),
        error: r.value.as_ref().err().cloned(),
    }
}
