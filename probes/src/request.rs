//! The request part of every HTTP-based probe: method, path, headers, body and whether it
//! authenticates, parsed once into templates; plus per-probe client overrides.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;

use crate::client::{HttpClient, PreparedRequest, header};
use crate::spec::BuildCx;
use crate::target::{HttpLimits, Target};
use crate::template::{JsonTemplate, Template, Vars};

/// One HTTP request as configured.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// HTTP method (default `GET`).
    #[serde(default = "default_method")]
    pub method: String,
    /// Path and query below the target's base URL; may use `${vars}`.
    pub path: String,
    /// Extra headers; values may use `${vars}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A raw body (string; may use `${vars}`).
    #[serde(default)]
    pub body: Option<String>,
    /// A JSON body (string leaves may use `${vars}`); sets `Content-Type: application/json`.
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// Send the target's auth header.
    #[serde(default)]
    pub auth: bool,
}

fn default_method() -> String {
    "GET".to_string()
}

/// Per-probe overrides of the target's client limits.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientOverrides {
    /// Bound on one whole request.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Bound on connecting.
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    /// Most body bytes read (after decompression).
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// Most redirect hops followed (0: none).
    #[serde(default)]
    pub max_redirects: Option<usize>,
    /// Follow redirects to other hosts.
    #[serde(default)]
    pub cross_host_redirects: Option<bool>,
}

impl ClientOverrides {
    /// Build a client from the target's limits with these overrides; errors go to `cx`.
    pub fn build(&self, cx: &mut BuildCx<'_>) -> Option<HttpClient> {
        let mut limits: HttpLimits = cx.target.limits.clone();
        if let Some(t) = self.timeout {
            limits.request_timeout = t;
        }
        if let Some(t) = self.connect_timeout {
            limits.connect_timeout = t;
        }
        if let Some(b) = self.max_body_bytes {
            limits.max_body_bytes = b;
        }
        if let Some(h) = self.max_redirects {
            limits.redirects.max_hops = h;
        }
        if let Some(c) = self.cross_host_redirects {
            limits.redirects.cross_host = c;
        }
        if limits.request_timeout.is_zero() {
            cx.error("client.timeout", "must be greater than zero");
        }
        if limits.connect_timeout.is_zero() {
            cx.error("client.connect_timeout", "must be greater than zero");
        }
        if limits.max_body_bytes == 0 {
            cx.error("client.max_body_bytes", "must be greater than zero");
        }
        match HttpClient::new(&limits) {
            Ok(c) => Some(c),
            Err(e) => {
                cx.error("client", e);
                None
            }
        }
    }
}

/// Which credential a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// As configured: the target key when `auth = true`, nothing otherwise.
    AsConfigured,
    /// No auth header at all.
    Absent,
    /// The auth header with this key in the value template.
    Key(&'a str),
}

#[derive(Debug, Clone, PartialEq)]
enum BodyTemplate {
    Raw(Template),
    Json(JsonTemplate),
}

/// A validated request whose strings are templates.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestTemplate {
    method: Method,
    path: Template,
    /// The path as configured, for messages: templates unexpanded, so no ids, no secrets.
    path_text: String,
    headers: Vec<(String, Template)>,
    body: Option<BodyTemplate>,
    auth: bool,
}

impl RequestSpec {
    /// Validate; every `${var}` must be in `known_vars`. Errors are reported under `request`.
    pub fn build(&self, cx: &mut BuildCx<'_>, known_vars: &[&str]) -> Option<RequestTemplate> {
        cx.scoped("request", |cx| self.build_at(cx, known_vars))
    }

    /// Validate at the context's current path, for lists of requests that scope themselves
    /// (`requests[0]`).
    pub fn build_at(&self, cx: &mut BuildCx<'_>, known_vars: &[&str]) -> Option<RequestTemplate> {
        let method = Method::from_bytes(self.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| cx.error("method", format!("invalid HTTP method {:?}", self.method)))
            .ok();
        if !self.path.starts_with('/') {
            cx.error(
                "path",
                format!("must start with \"/\", got {:?}", self.path),
            );
        }
        let check = |cx: &mut BuildCx<'_>, key: &str, vars: Vec<&str>| {
            for v in vars {
                if !known_vars.contains(&v) {
                    cx.error(
                        key,
                        format!(
                            "unknown variable ${{{v}}} (known here: {})",
                            known_vars.join(", ")
                        ),
                    );
                }
            }
        };
        let path = match Template::parse(&self.path) {
            Ok(t) => {
                check(cx, "path", t.vars().collect());
                Some(t)
            }
            Err(e) => {
                cx.error("path", e);
                None
            }
        };
        let mut headers = Vec::new();
        for (name, value) in &self.headers {
            let key = format!("headers.{name}");
            if let Err(e) = header(name, "x") {
                cx.error(&key, e);
            }
            match Template::parse(value) {
                Ok(t) => {
                    check(cx, &key, t.vars().collect());
                    headers.push((name.clone(), t));
                }
                Err(e) => cx.error(&key, e),
            }
        }
        let body = match (&self.body, &self.json) {
            (Some(_), Some(_)) => {
                cx.error("json", "set either body or json, not both");
                None
            }
            (Some(raw), None) => match Template::parse(raw) {
                Ok(t) => {
                    check(cx, "body", t.vars().collect());
                    Some(BodyTemplate::Raw(t))
                }
                Err(e) => {
                    cx.error("body", e);
                    None
                }
            },
            (None, Some(json)) => match JsonTemplate::parse(json) {
                Ok(t) => {
                    check(cx, "json", t.vars());
                    Some(BodyTemplate::Json(t))
                }
                Err(e) => {
                    cx.error("json", e);
                    None
                }
            },
            (None, None) => None,
        };
        if self.auth && cx.target.auth.is_none() {
            cx.error("auth", "auth = true needs [target.auth] to be configured");
        }
        Some(RequestTemplate {
            method: method?,
            path: path?,
            path_text: self.path.clone(),
            headers,
            body,
            auth: self.auth,
        })
    }
}

impl RequestTemplate {
    /// `METHOD /path-template` for messages (templates unexpanded: no ids, no secrets).
    pub fn describe(&self) -> String {
        let mut path = String::new();
        for segment in self.path_text() {
            path.push_str(&segment);
        }
        format!("{} {}", self.method, path)
    }

    fn path_text(&self) -> Vec<String> {
        let vars: Vars = self
            .path
            .vars()
            .map(|v| (v.to_string(), format!("${{{v}}}")))
            .collect();
        vec![self.path.render(&vars).unwrap_or_default()]
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Render into a request for `target` with `vars`, carrying `credential`.
    pub fn prepare(
        &self,
        target: &Target,
        vars: &Vars,
        credential: Credential<'_>,
    ) -> Result<PreparedRequest, String> {
        let url = target.url(&self.path.render(vars)?)?;
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let (n, v) = header(name, &value.render(vars)?)?;
            headers.insert(n, v);
        }
        let key = match credential {
            Credential::AsConfigured if self.auth => target.auth.as_ref().map(|a| (a, None)),
            Credential::AsConfigured | Credential::Absent => None,
            Credential::Key(k) => target.auth.as_ref().map(|a| (a, Some(k))),
        };
        if let Some((auth, key)) = key {
            // The value may hold the key: build it without echoing it into any error.
            let (n, v) = header(&auth.header, &auth.header_value(key))?;
            headers.insert(n, v);
        }
        let body = match &self.body {
            None => None,
            Some(BodyTemplate::Raw(t)) => Some(Bytes::from(t.render(vars)?)),
            Some(BodyTemplate::Json(t)) => {
                headers
                    .entry(CONTENT_TYPE)
                    .or_insert(HeaderValue::from_static("application/json"));
                let value = t.render(vars)?;
                Some(Bytes::from(
                    serde_json::to_vec(&value).map_err(|e| e.to_string())?,
                ))
            }
        };
        Ok(PreparedRequest {
            method: self.method.clone(),
            url,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::target::Auth;

    fn target() -> Target {
        let mut t = Target::for_tests("http://127.0.0.1:7373");
        t.auth = Some(Auth {
            header: "Authorization".into(),
            value_template: "ApiKey ${key}".into(),
            key: Secret::new("sekrit"),
            non_admin_key: None,
        });
        t
    }

    fn spec(toml_like: serde_json::Value) -> RequestSpec {
        serde_json::from_value(toml_like).unwrap()
    }

    #[test]
    fn prepares_auth_json_and_vars() {
        let t = target();
        let mut cx = BuildCx::new(&t, "probe[0]");
        let s = spec(
            serde_json::json!({"method": "post", "path": "/api/agents/${agent}", "auth": true, "json": {"task": "t ${run_id}"}}),
        );
        let tpl = s.build(&mut cx, &["agent", "run_id"]).unwrap();
        assert!(!cx.has_errors());
        assert_eq!(tpl.describe(), "POST /api/agents/${agent}");
        let vars: Vars = [("agent".into(), "a1".into()), ("run_id".into(), "r".into())].into();
        let req = tpl.prepare(&t, &vars, Credential::AsConfigured).unwrap();
        assert_eq!(req.url.path(), "/api/agents/a1");
        assert_eq!(req.headers["authorization"], "ApiKey sekrit");
        assert_eq!(req.headers["content-type"], "application/json");
        assert_eq!(req.body.unwrap(), Bytes::from(r#"{"task":"t r"}"#));
        let none = tpl.prepare(&t, &vars, Credential::Absent).unwrap();
        assert!(none.headers.get("authorization").is_none());
        let wrong = tpl.prepare(&t, &vars, Credential::Key("nope")).unwrap();
        assert_eq!(wrong.headers["authorization"], "ApiKey nope");
    }

    #[test]
    fn reports_every_problem_with_its_key() {
        let t = Target::for_tests("http://127.0.0.1:7373");
        let mut cx = BuildCx::new(&t, "probe[1]");
        let s = spec(
            serde_json::json!({"method": "G ET", "path": "api/${nope}", "auth": true, "body": "x", "json": {}}),
        );
        assert!(s.build(&mut cx, &["run_id"]).is_none());
        let msgs: Vec<String> = cx.into_errors().iter().map(ToString::to_string).collect();
        assert!(
            msgs.contains(&"probe[1].request.method: invalid HTTP method \"G ET\"".to_string()),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("probe[1].request.path: must start with"))
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("probe[1].request.path: unknown variable ${nope}"))
        );
        assert!(
            msgs.iter()
                .any(|m| m == "probe[1].request.json: set either body or json, not both")
        );
        assert!(msgs.iter().any(
            |m| m == "probe[1].request.auth: auth = true needs [target.auth] to be configured"
        ));
    }
}
