//! `kind = "auth"`: a matrix of requests × credentials (none, wrong, malformed, non-admin)
//! that must all be refused. Any 2xx is `auth_not_enforced`; so is a refusal that leaks data
//! at a pointer that must be absent.

use serde::Deserialize;

use crate::client::HttpClient;
use crate::exchange::exchange;
use crate::expect::{Expectation, StatusSet, StatusSpec, parse_json};
use crate::failed::Failed;
use crate::request::{ClientOverrides, Credential, RequestSpec, RequestTemplate};
use crate::spec::BuildCx;
use crate::target::Target;
use crate::template::{RUN_ID, Vars};
use crate::{FailureReason, Kind, Outcome, Probe, RunContext, StepTiming};

/// A credential an auth probe presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialCase {
    /// No auth header.
    None,
    /// The auth header with a key that is not valid.
    Wrong,
    /// The auth header with an empty key (the value template with nothing in it).
    Malformed,
    /// A valid key without admin rights (`target.auth.non_admin_key_*`); for admin routes.
    NonAdmin,
}

impl CredentialCase {
    fn label(self) -> &'static str {
        match self {
            CredentialCase::None => "no key",
            CredentialCase::Wrong => "wrong key",
            CredentialCase::Malformed => "malformed key",
            CredentialCase::NonAdmin => "non-admin key",
        }
    }
}

/// Configuration of an `auth` probe.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    /// Requests that must be refused (their own `auth` flag is ignored).
    pub requests: Vec<RequestSpec>,
    /// Credentials tried on every request (default none, wrong, malformed).
    #[serde(default = "default_credentials")]
    pub credentials: Vec<CredentialCase>,
    /// Statuses that count as a refusal (default 401 and 403).
    #[serde(default = "default_deny")]
    pub deny_status: Vec<StatusSpec>,
    /// JSON pointers that must be absent from a refusal's body (no data leaked).
    #[serde(default)]
    pub absent: Vec<String>,
    /// Client limit overrides.
    #[serde(default)]
    pub client: ClientOverrides,
}

fn default_credentials() -> Vec<CredentialCase> {
    vec![
        CredentialCase::None,
        CredentialCase::Wrong,
        CredentialCase::Malformed,
    ]
}
fn default_deny() -> Vec<StatusSpec> {
    vec![StatusSpec::Code(401), StatusSpec::Code(403)]
}

/// A validated `auth` probe.
#[derive(Debug)]
pub struct AuthProbe {
    target: Target,
    client: HttpClient,
    requests: Vec<RequestTemplate>,
    credentials: Vec<CredentialCase>,
    deny: Expectation,
    absent: Vec<String>,
}

impl AuthSpec {
    /// Validate into a probe.
    pub fn build(&self, cx: &mut BuildCx<'_>) -> Option<AuthProbe> {
        let mut requests = Vec::new();
        for (i, r) in self.requests.iter().enumerate() {
            let unauthenticated = RequestSpec {
                auth: false,
                ..r.clone()
            };
            if let Some(t) = cx.scoped(&format!("requests[{i}]"), |cx| {
                unauthenticated.build_at(cx, &[RUN_ID])
            }) {
                requests.push(t);
            }
        }
        if self.requests.is_empty() {
            cx.error("requests", "needs at least one request");
        }
        if self.credentials.is_empty() {
            cx.error("credentials", "needs at least one credential case");
        }
        match &cx.target.auth {
            None => cx.error("", "an auth probe needs [target.auth] to be configured"),
            Some(a)
                if self.credentials.contains(&CredentialCase::NonAdmin)
                    && a.non_admin_key.is_none() =>
            {
                cx.error(
                    "credentials",
                    "non_admin needs target.auth.non_admin_key_env or non_admin_key_file",
                );
            }
            Some(_) => {}
        }
        let deny = StatusSet::parse(&self.deny_status)
            .map_err(|e| cx.error("deny_status", e))
            .ok();
        for (i, p) in self.absent.iter().enumerate() {
            if !p.starts_with('/') {
                cx.error(
                    &format!("absent[{i}]"),
                    format!("pointer must start with \"/\", got {p:?}"),
                );
            }
        }
        let client = self.client.build(cx);
        if cx.has_errors() {
            return None;
        }
        let deny_expect = Expectation::status_only(deny?);
        Some(AuthProbe {
            target: cx.target.clone(),
            client: client?,
            requests,
            credentials: self.credentials.clone(),
            deny: deny_expect,
            absent: self.absent.clone(),
        })
    }
}

impl AuthProbe {
    async fn check_case(
        &self,
        request: &RequestTemplate,
        case: CredentialCase,
        cx: &RunContext,
    ) -> Result<(), Failed> {
        let auth = self.target.auth.as_ref();
        let wrong = format!("prober-wrong-key-{}", cx.run_id);
        let credential = match case {
            CredentialCase::None => Credential::Absent,
            CredentialCase::Wrong => Credential::Key(&wrong),
            CredentialCase::Malformed => Credential::Key(""),
            CredentialCase::NonAdmin => Credential::Key(
                auth.and_then(|a| a.non_admin_key.as_ref())
                    .map(|k| k.expose())
                    .unwrap_or(""),
            ),
        };
        let vars: Vars = [(RUN_ID.to_string(), cx.run_id.clone())].into();
        let req = request
            .prepare(&self.target, &vars, credential)
            .map_err(|e| Failed::new(FailureReason::Protocol, e))?;
        let resp = match exchange(&self.client, &req, &self.deny, cx, 1).await {
            Ok(resp) => resp,
            Err(f) if f.status.is_some_and(|s| (200..300).contains(&s)) => {
                return Err(Failed::new(FailureReason::AuthNotEnforced, f.message));
            }
            Err(f) => return Err(f),
        };
        if !self.absent.is_empty()
            && let Ok(doc) = parse_json(&resp.body)
        {
            for p in &self.absent {
                if doc.pointer(p).is_some() {
                    return Err(Failed::new(
                        FailureReason::AuthNotEnforced,
                        format!("refusal ({}) leaks {p}", resp.status),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Probe for AuthProbe {
    fn kind(&self) -> Kind {
        Kind::Auth
    }

    async fn run(&self, cx: &RunContext) -> Outcome {
        let mut steps = Vec::new();
        let mut first_failure: Option<(String, Failed)> = None;
        for request in &self.requests {
            for &case in &self.credentials {
                let name = format!("{} ({})", request.describe(), case.label());
                let started = tokio::time::Instant::now();
                let result = self.check_case(request, case, cx).await;
                steps.push(StepTiming {
                    name: name.clone(),
                    duration: started.elapsed(),
                    ok: result.is_ok(),
                });
                if let Err(f) = result {
                    // A security violation outranks every other failure of the run.
                    let worse = match &first_failure {
                        None => true,
                        Some((_, prev)) => {
                            f.is(FailureReason::AuthNotEnforced)
                                && !prev.is(FailureReason::AuthNotEnforced)
                        }
                    };
                    if worse {
                        first_failure = Some((name, f));
                    }
                }
            }
        }
        let total = steps.len();
        let mut outcome = match first_failure {
            Some((name, f)) => f.context(&name).into_outcome(),
            None => Outcome::success(format!("{total} requests refused")),
        };
        outcome.steps = steps;
        outcome
    }
}
