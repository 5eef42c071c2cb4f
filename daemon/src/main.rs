//! `prober`: wiring only. Parse the command line, install the TLS provider, start tracing,
//! dispatch to a command, and map its result to an exit code.

mod assets;
mod check;
mod cli;
mod config;
mod demo;
mod guard;
mod history;
mod kube;
mod metrics;
mod recorder;
mod report;
mod resources;
mod rollout_cmd;
mod run_cmd;
mod schedule;
mod scheduler;
mod selftest;
mod server;
mod sim_cmd;
mod status;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{AssetsCommand, Cli, Command, ConfigCommand, LogFormat, MetricsCommand, RolloutCommand};

/// Everything passed.
pub const EXIT_OK: i32 = 0;
/// A probe, check or verdict failed.
pub const EXIT_FAILED: i32 = 1;
/// A usage or configuration error.
pub const EXIT_USAGE: i32 = 2;

/// A command's failure: its exit code and what to tell the user.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: i32,
    /// Message for stderr.
    pub message: String,
}

impl Failure {
    /// A usage or configuration error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    /// A runtime failure (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_FAILED,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    init_tracing(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED as u8);
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Run(args) => run_cmd::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Metrics(MetricsCommand::Catalog { format }) => {
                print!("{}", metrics::catalog_listing(*format));
                Ok(EXIT_OK)
            }
            Command::Rollout(RolloutCommand::Status(args)) => rollout_cmd::status(args).await,
            Command::Check(args) => check::run(args).await,
            Command::Sim(args) => sim_cmd::run(args).await,
            Command::Selftest(args) => selftest::run(args).await,
            Command::Assets(AssetsCommand::Export { dir }) => match assets::export(dir) {
                Ok(written) => {
                    for path in &written {
                        println!("{}", path.display());
                    }
                    Ok(EXIT_OK)
                }
                Err(e) => Err(Failure::usage(format!(
                    "cannot export the assets to {}: {e}",
                    dir.display()
                ))),
            },
            Command::Config(ConfigCommand::PrintDefault) => {
                print!("{}", config::DEFAULT_CONFIG);
                Ok(EXIT_OK)
            }
            Command::Config(ConfigCommand::Check { file }) => {
                let loaded = config::load(
                    config::ConfigSource::File(file),
                    &config::Overrides::default(),
                )
                .map_err(|e| Failure::usage(e.to_string()))?;
                println!("{}: valid, {} probes", loaded.source, loaded.probes.len());
                if let Some(guard) = &loaded.guard {
                    let worst = guard.worst_case_time_to_rollback(&loaded.probes);
                    println!(
                        "rollout guard: {} release(s); worst-case time from breach to rollback {} (budget {}){}",
                        guard.releases.len(),
                        humantime::format_duration(worst),
                        humantime::format_duration(guard.budget),
                        if worst > guard.budget { ": OVER BUDGET" } else { "" }
                    );
                }
                for p in &loaded.probes {
                    println!(
                        "  {:<24} {:<12} {:<14} deadline {}",
                        p.name,
                        p.spec.kind().as_label(),
                        p.schedule.to_string(),
                        humantime::format_duration(p.deadline)
                    );
                }
                Ok(EXIT_OK)
            }
        }
    });
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(f) => {
            for line in f.message.lines() {
                eprintln!("error: {line}");
            }
            ExitCode::from(f.code as u8)
        }
    }
}

fn init_tracing(cli: &Cli) {
    // A one-shot check prints a report on stdout: keep stderr to warnings unless asked.
    let default = match cli.command {
        Command::Check(_)
        | Command::Config(_)
        | Command::Metrics(_)
        | Command::Rollout(_)
        | Command::Assets(_) => "warn",
        // selftest injects faults on purpose: the probes' failure warnings are expected.
        Command::Selftest(_) => "error",
        Command::Sim(_) | Command::Run(_) | Command::Demo(_) => "info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
