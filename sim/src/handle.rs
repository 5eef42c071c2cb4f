//! [`SimHandle`]: binding, serving, the in-process control API and graceful shutdown.
//!
//! The server runs on its own tokio task. Shutdown cancels one token: it stops accepting,
//! releases hung and delayed requests, and lets in-flight requests finish (bounded by
//! [`SHUTDOWN_GRACE`], after which the task is aborted).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::SimState;
use crate::{Faults, SimConfig, Stats, api, control, inject};

/// How long [`SimHandle::shutdown`] waits for in-flight requests before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running simulator. Dropping it stops the server too (without waiting); prefer
/// [`SimHandle::shutdown`].
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// Binds `addr` and serves on a new task. Use `127.0.0.1:0` in tests (then [`Self::addr`]
    /// has the port). Fails only if binding fails. Faults in `config` are applied as given
    /// (a warning is logged when they do not pass [`Faults::validate`]).
    pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<SimHandle> {
        warn_if_invalid(&config.faults);
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let state = Arc::new(SimState::new(config, shutdown.clone()));
        let app = Router::new()
            .merge(api::router())
            .layer(from_fn_with_state(Arc::clone(&state), inject::inject))
            .merge(control::router())
            .with_state(Arc::clone(&state));
        let signal = shutdown.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::error!(error = %e, "simulator server stopped");
            }
        });
        tracing::info!(%addr, "godel simulator listening");
        Ok(SimHandle {
            addr,
            state,
            shutdown,
            task: Some(task),
        })
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, e.g. `http://127.0.0.1:7373`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the whole fault set, like `POST /__sim/faults`. Values are applied as given
    /// (shares are clamped at use); call [`Faults::validate`] first to refuse bad input.
    pub fn set_faults(&self, faults: Faults) {
        warn_if_invalid(&faults);
        self.state.set_faults(faults);
    }

    /// The current fault set.
    pub fn faults(&self) -> Faults {
        self.state.faults().as_ref().clone()
    }

    /// A snapshot of request counts and agent counters.
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// Stops accepting, releases hung requests and waits (bounded) for the server to finish.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            tracing::warn!("simulator shutdown grace expired; aborting open connections");
            task.abort();
        }
        tracing::info!(addr = %self.addr, "godel simulator stopped");
    }

    /// Serves until the server stops (for `prober sim`, which exits with the process).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "simulator task failed");
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn warn_if_invalid(faults: &Faults) {
    if let Err(e) = faults.validate() {
        tracing::warn!(error = %e, "simulator faults out of range; applied as given");
    }
}
