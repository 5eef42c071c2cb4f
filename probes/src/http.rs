//! `kind = "http"`: one request with assertions on status, headers, body, JSON and latency.

use serde::Deserialize;

use crate::client::HttpClient;
use crate::exchange::exchange;
use crate::expect::{ExpectSpec, Expectation, StatusSet, fmt_duration};
use crate::request::{ClientOverrides, Credential, RequestSpec, RequestTemplate};
use crate::spec::BuildCx;
use crate::target::Target;
use crate::template::{RUN_ID, Vars};
use crate::{Kind, Outcome, Probe, RunContext, StepTiming};

/// Configuration of an `http` probe.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// The request.
    pub request: RequestSpec,
    /// What the response must satisfy (default: any 2xx).
    #[serde(default)]
    pub expect: ExpectSpec,
    /// Client limit overrides for this probe.
    #[serde(default)]
    pub client: ClientOverrides,
    /// How often a 429 is retried after its `Retry-After` within one run (default 1).
    #[serde(default = "default_retries_on_429")]
    pub retries_on_429: u32,
}

/// The default number of in-run retries after a 429.
pub fn default_retries_on_429() -> u32 {
    1
}

/// A validated `http` probe.
#[derive(Debug)]
pub struct HttpProbe {
    target: Target,
    client: HttpClient,
    request: RequestTemplate,
    expect: Expectation,
    retries_on_429: u32,
}

impl HttpSpec {
    /// Validate into a probe.
    pub fn build(&self, cx: &mut BuildCx<'_>) -> Option<HttpProbe> {
        let request = self.request.build(cx, &[RUN_ID]);
        let expect = self.expect.build(cx, StatusSet::success());
        let client = self.client.build(cx);
        Some(HttpProbe {
            target: cx.target.clone(),
            client: client?,
            request: request?,
            expect: expect?,
            retries_on_429: self.retries_on_429,
        })
    }
}

impl Probe for HttpProbe {
    fn kind(&self) -> Kind {
        Kind::Http
    }

    async fn run(&self, cx: &RunContext) -> Outcome {
        let what = self.request.describe();
        let vars: Vars = [(RUN_ID.to_string(), cx.run_id.clone())].into();
        let req = match self
            .request
            .prepare(&self.target, &vars, Credential::AsConfigured)
        {
            Ok(r) => r,
            Err(e) => {
                return Outcome::failure(crate::FailureReason::Protocol, format!("{what}: {e}"));
            }
        };
        match exchange(&self.client, &req, &self.expect, cx, self.retries_on_429).await {
            Ok(resp) => {
                let mut o = Outcome::success(format!(
                    "{what}: {} in {}",
                    resp.status,
                    fmt_duration(resp.elapsed)
                ));
                o.steps.push(StepTiming {
                    name: "request".into(),
                    duration: resp.elapsed,
                    ok: true,
                });
                o
            }
            Err(failed) => failed.context(&what).into_outcome(),
        }
    }
}
