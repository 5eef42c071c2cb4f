//! `prober rollout status`: one release's analysis as the running daemon sees it (its
//! `/api/v1/status`), for deploy pipelines: exit 1 when it failed, 2 when the daemon does not
//! guard that release; with `--wait`, poll until the analysis ends.

use std::time::Duration;

use serde_json::Value;
use tokio::time::{Instant, sleep};

use crate::cli::{ReportFormat, RolloutStatusArgs};
use crate::{EXIT_FAILED, EXIT_OK, Failure};

const POLL: Duration = Duration::from_secs(2);

/// Run the command; the exit code.
pub async fn status(args: &RolloutStatusArgs) -> Result<i32, Failure> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| Failure::failed(format!("cannot build an HTTP client: {e}")))?;
    let url = format!("{}/api/v1/status", args.url.trim_end_matches('/'));
    let deadline = args.wait.map(|w| Instant::now() + w);
    loop {
        let rollout = fetch(&client, &url, args).await?;
        let verdict = rollout["verdict"].as_str().unwrap_or("unknown").to_string();
        let done = matches!(verdict.as_str(), "pass" | "fail" | "inconclusive");
        let waiting = deadline.is_some_and(|d| Instant::now() < d) && !done;
        if !waiting {
            print(&rollout, args.format);
            return Ok(match (verdict.as_str(), deadline) {
                ("fail", _) => EXIT_FAILED,
                ("pass", _) => EXIT_OK,
                (_, None) => EXIT_OK,
                // Waited, and the analysis did not pass: the gate cannot confirm the rollout.
                (_, Some(_)) => {
                    eprintln!(
                        "error: the analysis of {}/{} did not pass ({verdict})",
                        args.namespace, args.release
                    );
                    EXIT_FAILED
                }
            });
        }
        sleep(POLL).await;
    }
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    args: &RolloutStatusArgs,
) -> Result<Value, Failure> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| Failure::failed(format!("cannot reach the prober at {url}: {e}")))?;
    if !response.status().is_success() {
        return Err(Failure::failed(format!(
            "{url} answered {}",
            response.status()
        )));
    }
    let text = response
        .text()
        .await
        .map_err(|e| Failure::failed(format!("cannot read {url}: {e}")))?;
    let status: Value = serde_json::from_str(&text)
        .map_err(|e| Failure::failed(format!("{url} is not the prober's status JSON: {e}")))?;
    status["rollouts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| {
            r["namespace"] == args.namespace.as_str() && r["release"] == args.release.as_str()
        })
        .cloned()
        .ok_or_else(|| {
            Failure::usage(format!(
                "the prober at {} does not guard release {}/{} (see [[guard.release]])",
                args.url, args.namespace, args.release
            ))
        })
}

fn print(rollout: &Value, format: ReportFormat) {
    if format == ReportFormat::Json {
        println!("{rollout:#}");
        return;
    }
    let s = |k: &str| rollout[k].as_str().unwrap_or("—").to_string();
    println!(
        "{}/{} (deployment {}): {} · revision {} · {} consecutive failing analyses",
        s("namespace"),
        s("release"),
        s("deployment"),
        s("verdict").to_uppercase(),
        s("revision"),
        rollout["consecutive_failures"].as_u64().unwrap_or(0)
    );
    for g in rollout["gates"].as_array().into_iter().flatten() {
        println!(
            "  {:<9} {:<13} {}",
            g["gate"].as_str().unwrap_or("?"),
            g["verdict"].as_str().unwrap_or("?"),
            g["reason"].as_str().unwrap_or("")
        );
    }
    if let Some(rb) = rollout["last_rollback"].as_str() {
        println!("  last rollback: {rb}");
    }
}
