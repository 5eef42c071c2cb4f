//! `prober run`: load the config (exit 2 if invalid, before anything starts), start the
//! scheduler and the HTTP server, reload on SIGHUP or `POST /-/reload`, and shut down
//! gracefully on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::cli::RunArgs;
use crate::config::{self, Config, ConfigError, ConfigSource, Overrides};
use crate::guard::config::GuardConfig;
use crate::recorder::Recorder;
use crate::scheduler::{self, Scheduler};
use crate::server::{self, AppState, ReloadRequest};
use crate::{EXIT_OK, Failure};

/// Where the configuration is (re)loaded from.
#[derive(Debug, Clone)]
pub struct Loader {
    /// The file, or the built-in default.
    pub path: Option<PathBuf>,
    /// Command-line values that win over the file.
    pub overrides: Overrides,
}

impl Loader {
    /// Load and validate (again): files and secrets are re-read.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let source = match &self.path {
            Some(p) => ConfigSource::File(p),
            None => ConfigSource::Default,
        };
        config::load(source, &self.overrides)
    }
}

/// `prober run`.
pub async fn run(args: &RunArgs) -> Result<i32, Failure> {
    let loader = Loader {
        path: args.config.clone(),
        overrides: Overrides::default(),
    };
    let config = loader.load().map_err(|e| Failure::usage(e.to_string()))?;
    let listen = args.listen.unwrap_or(config.daemon.listen);
    let listener = bind(listen).await?;
    serve(config, loader, listener).await
}

/// Bind the server's address (a clear error if it is taken).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Failure> {
    TcpListener::bind(addr).await.map_err(|e| {
        Failure::failed(format!(
            "cannot listen on {addr}: {e} (choose another address with --listen)"
        ))
    })
}

/// Run the daemon on `listener` until SIGTERM/SIGINT.
pub async fn serve(config: Config, loader: Loader, listener: TcpListener) -> Result<i32, Failure> {
    let recorder = Arc::new(Recorder::new());
    let mut scheduler = Scheduler::new(recorder.clone(), &config.daemon);
    let applied = scheduler.apply(&config);
    scheduler::log_applied(&applied, &config.source);
    recorder.reload_finished(
        true,
        format!("loaded {}: {} probes", config.source, config.probes.len()),
    );
    let mut listen = config.daemon.listen;
    let mut guard = GuardTask::default();
    guard.apply(config.guard.as_ref(), &recorder, &scheduler);
    drop(config);

    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let app = server::router(AppState {
        recorder: recorder.clone(),
        reload: reload_tx,
    });
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::failed(format!("cannot read the listening address: {e}")))?;
    info!(addr = %addr, url = %format!("http://{addr}/"), "listening");
    let stop_server = CancellationToken::new();
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stop_server.clone().cancelled_owned())
            .into_future(),
    );

    let mut hangup = hangup_signal();
    let shutdown = crate::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(()) = hangup.recv() => {
                info!("SIGHUP: reloading the configuration");
                let _ = reload(&loader, &mut scheduler, &recorder, &mut listen, &mut guard);
            }
            Some(reply) = reload_rx.recv() => {
                info!("POST /-/reload: reloading the configuration");
                let _ = reply.send(reload(&loader, &mut scheduler, &recorder, &mut listen, &mut guard));
            }
        }
    }

    let shutdown_timeout = scheduler.settings().shutdown_timeout;
    guard.stop();
    info!(bound = ?shutdown_timeout, "shutting down: cancelling runs, cleanups still run");
    stop_server.cancel();
    if !scheduler.shutdown(shutdown_timeout).await {
        warn!(bound = ?shutdown_timeout,
            "runs did not end within the shutdown bound; exiting anyway (a cleanup may be left)");
    }
    match tokio::time::timeout(std::time::Duration::from_secs(2), server).await {
        Ok(Ok(Err(e))) => warn!(error = %e, "server error at shutdown"),
        Ok(_) => {}
        Err(_) => warn!("the HTTP server did not stop in time"),
    }
    info!("stopped");
    Ok(EXIT_OK)
}

/// Load the configuration again and apply it, or refuse it and keep the old one.
fn reload(
    loader: &Loader,
    scheduler: &mut Scheduler,
    recorder: &Arc<Recorder>,
    listen: &mut SocketAddr,
    guard: &mut GuardTask,
) -> Result<String, String> {
    match loader.load() {
        Ok(config) => {
            let applied = scheduler.apply(&config);
            guard.apply(config.guard.as_ref(), recorder, scheduler);
            scheduler::log_applied(&applied, &config.source);
            if config.daemon.listen != *listen {
                warn!(old = %listen, new = %config.daemon.listen,
                    "daemon.listen changed: it takes effect at the next restart");
                *listen = config.daemon.listen;
            }
            let message = format!("reloaded {}: {applied}", config.source);
            recorder.reload_finished(true, message.clone());
            Ok(message)
        }
        Err(e) => {
            let message = recorder.redact(&e.to_string());
            error!(errors = %message, "configuration refused; the previous one keeps running");
            recorder.reload_finished(false, format!("refused: {message}"));
            Err(message)
        }
    }
}

/// The running rollout guard, restarted when its configuration changes.
#[derive(Default)]
struct GuardTask {
    running: Option<(GuardConfig, CancellationToken)>,
}

impl GuardTask {
    fn apply(
        &mut self,
        wanted: Option<&GuardConfig>,
        recorder: &Arc<Recorder>,
        scheduler: &Scheduler,
    ) {
        if self.running.as_ref().map(|(c, _)| c) == wanted {
            return;
        }
        self.stop();
        if let Some(cfg) = wanted {
            let stop = CancellationToken::new();
            tokio::spawn(crate::guard::runner::run(
                cfg.clone(),
                recorder.clone(),
                scheduler.speedup(),
                stop.clone(),
            ));
            self.running = Some((cfg.clone(), stop));
        }
    }

    fn stop(&mut self) {
        if let Some((_, stop)) = self.running.take() {
            stop.cancel();
        }
    }
}

/// SIGHUP as a stream of `()`; never fires where there are no signals.
fn hangup_signal() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    if tx.send(()).await.is_err() {
                        return;
                    }
                }
            });
        }
        Err(e) => warn!(error = %e, "cannot listen for SIGHUP; reload with POST /-/reload"),
    }
    #[cfg(not(unix))]
    drop(tx);
    rx
}
