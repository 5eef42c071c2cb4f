//! Godel's pods through the Kubernetes API: container limits from the pod list, usage from
//! `metrics.k8s.io` (metrics-server), both by namespace and label selector only (never a
//! cluster-wide list). Owns the kube client, the wire types of the metrics API and the
//! worst-pod arithmetic. Every failure becomes a short message (status code, reason, the API
//! server's own message with anything token-like masked); no credential ever reaches one.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::Client;
use kube::api::{Api, ListParams};
use serde::Deserialize;

use super::quantity::parse_quantity;
use super::{PodsConfig, ResourceError};
use crate::kube::client::{chain, connect, sanitize};

/// Bound on one sample's API calls (they run concurrently).
const API_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on connecting to the API server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `metrics.k8s.io/v1beta1` `PodMetricsList`, only what we read.
#[derive(Debug, Deserialize)]
struct PodMetricsList {
    #[serde(default)]
    items: Option<Vec<PodMetrics>>,
}

/// One pod's usage.
#[derive(Debug, Deserialize)]
struct PodMetrics {
    metadata: MetricsMeta,
    #[serde(default)]
    containers: Option<Vec<ContainerMetrics>>,
}

#[derive(Debug, Deserialize)]
struct MetricsMeta {
    #[serde(default)]
    name: String,
}

/// One container's usage, e.g. `{"cpu": "1234567n", "memory": "12345Ki"}`.
#[derive(Debug, Deserialize)]
struct ContainerMetrics {
    #[serde(default)]
    name: String,
    #[serde(default)]
    usage: BTreeMap<String, Quantity>,
}

/// A resource as Kubernetes names it in limits and usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Memory,
    Cpu,
}

impl Resource {
    /// The key in `limits` and `usage`.
    fn key(self) -> &'static str {
        match self {
            Resource::Memory => "memory",
            Resource::Cpu => "cpu",
        }
    }

    /// For messages.
    fn label(self) -> &'static str {
        match self {
            Resource::Memory => "memory",
            Resource::Cpu => "CPU",
        }
    }
}

/// The pods scope: a kube client and what to list.
pub struct PodsSampler {
    client: Client,
    namespace: String,
    selector: String,
    source: String,
}

impl PodsSampler {
    /// Build the client from the configured kubeconfig, or by kube's inference.
    pub async fn new(cfg: &PodsConfig) -> Result<Self, ResourceError> {
        let client = connect(
            cfg.kubeconfig.as_deref(),
            CONNECT_TIMEOUT,
            Some(API_TIMEOUT),
        )
        .await?;
        Ok(PodsSampler {
            client,
            source: format!("pods {}/{}", cfg.namespace, cfg.selector),
            namespace: cfg.namespace.clone(),
            selector: cfg.selector.clone(),
        })
    }

    /// `pods <namespace>/<selector>`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The worst pod's memory and CPU ratios.
    pub async fn sample(&self) -> (Result<f64, String>, Result<f64, String>) {
        let lp = ListParams::default().labels(&self.selector);
        let pods_api: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let pods = pods_api.list(&lp);
        let metrics = async {
            // The namespace is a validated DNS label, so it cannot change the path.
            let request = kube::core::Request::new(format!(
                "/apis/metrics.k8s.io/v1beta1/namespaces/{}/pods",
                self.namespace
            ))
            .list(&lp)
            .map_err(|e| format!("cannot build the request: {e}"))?;
            self.client
                .request::<PodMetricsList>(request)
                .await
                .map_err(|e| describe(&e, true))
        };
        let both = tokio::time::timeout(API_TIMEOUT, async { tokio::join!(pods, metrics) }).await;
        let fail = |m: String| (Err(m.clone()), Err(m));
        let (pods, metrics) = match both {
            Ok(both) => both,
            Err(_) => {
                return fail(format!(
                    "kubernetes API: no answer within {}s",
                    API_TIMEOUT.as_secs()
                ));
            }
        };
        let pods = match pods {
            Ok(list) => list.items,
            Err(e) => return fail(format!("pods: {}", describe(&e, false))),
        };
        if pods.is_empty() {
            return fail(format!(
                "no pods match {} in {}",
                self.selector, self.namespace
            ));
        }
        let metrics = match metrics {
            Ok(list) => list.items.unwrap_or_default(),
            Err(e) => return fail(format!("metrics.k8s.io: {e}")),
        };
        let memory = worst_ratio(Resource::Memory, &pods, &metrics, &self.source);
        let cpu = worst_ratio(Resource::Cpu, &pods, &metrics, &self.source);
        (memory, cpu)
    }
}

/// The worst (highest) used/limit ratio over the pods, for one resource. Per pod: the sum of
/// usage over the sum of limits of the containers that have a limit and a usage sample.
/// Pods without metrics yet (just started) are skipped; init containers are not counted.
fn worst_ratio(
    res: Resource,
    pods: &[Pod],
    metrics: &[PodMetrics],
    source: &str,
) -> Result<f64, String> {
    let mut any_limit = false;
    let mut worst: Option<(f64, &str)> = None;
    for pod in pods {
        let Some(name) = pod.metadata.name.as_deref() else {
            continue;
        };
        let containers = pod.spec.as_ref().map(|s| s.containers.as_slice());
        let mut limits = Vec::new();
        for c in containers.unwrap_or_default() {
            let limit = c
                .resources
                .as_ref()
                .and_then(|r| r.limits.as_ref())
                .and_then(|l| l.get(res.key()));
            let Some(limit) = limit else { continue };
            let limit = amount(&limit.0).map_err(|e| {
                format!(
                    "pod {name} container {}: {} limit: {e}",
                    c.name,
                    res.label()
                )
            })?;
            if limit > 0.0 {
                limits.push((c.name.as_str(), limit));
            }
        }
        if limits.is_empty() {
            continue;
        }
        any_limit = true;
        let Some(pm) = metrics.iter().find(|m| m.metadata.name == name) else {
            continue;
        };
        let usage_of = |container: &str| {
            pm.containers
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find(|c| c.name == container)
                .and_then(|c| c.usage.get(res.key()))
        };
        let (mut used, mut limit) = (0.0, 0.0);
        for (container, l) in limits {
            let Some(u) = usage_of(container) else {
                continue;
            };
            used += amount(&u.0).map_err(|e| {
                format!(
                    "pod {name} container {container}: {} usage: {e}",
                    res.label()
                )
            })?;
            limit += l;
        }
        if limit > 0.0 {
            let ratio = used / limit;
            if worst.is_none_or(|(w, _)| ratio > w) {
                worst = Some((ratio, name));
            }
        }
    }
    if !any_limit {
        return Err(format!("pods have no {} limit", res.label()));
    }
    match worst {
        Some((ratio, pod)) => {
            tracing::debug!(
                source,
                resource = res.key(),
                pod,
                ratio,
                "resources: worst pod"
            );
            Ok(ratio)
        }
        None => Err(format!(
            "metrics.k8s.io has no {} usage yet for the limited pods of {source}",
            res.label()
        )),
    }
}

/// A non-negative quantity.
fn amount(q: &str) -> Result<f64, String> {
    match parse_quantity(q) {
        Ok(v) if v >= 0.0 => Ok(v),
        Ok(_) => Err(format!("negative quantity {}", sanitize(&format!("{q:?}")))),
        Err(e) => Err(sanitize(&e.to_string())),
    }
}

/// A kube error as a short message: status code and reason, the API server's message (masked
/// and clipped) when it sent a real `Status`, and a hint for the usual causes.
fn describe(e: &kube::Error, metrics_api: bool) -> String {
    let kube::Error::Api(status) = e else {
        return sanitize(&chain(e));
    };
    // kube's stand-in for an error body that was not a Status (a proxy's HTML, a plain-text
    // 404): that body is not quoted, it is not the API server speaking.
    let reconstructed = status.reason == "Failed to parse error data";
    let mut out = match status.code {
        0 => "error".to_string(),
        code => code.to_string(),
    };
    if !reconstructed && !status.reason.is_empty() {
        out.push(' ');
        out.push_str(&sanitize(&status.reason));
    } else if let Some(reason) = canonical_reason(status.code) {
        out.push(' ');
        out.push_str(reason);
    }
    if !reconstructed && !status.message.is_empty() {
        out.push_str(": ");
        out.push_str(&sanitize(&status.message));
    }
    let hint = match status.code {
        404 if metrics_api => Some("is metrics-server installed?"),
        401 => Some("check the kubeconfig or service account token"),
        403 => Some("the service account needs list on pods and on pods.metrics.k8s.io"),
        503 if metrics_api => Some("is metrics-server running?"),
        _ => None,
    };
    if let Some(hint) = hint {
        out.push_str(" (");
        out.push_str(hint);
        out.push(')');
    }
    out
}

fn canonical_reason(code: u16) -> Option<&'static str> {
    Some(match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::client::{MAX_MESSAGE_CHARS, redact};
    use crate::resources::{Nfr, RawPods, RawResources, ResourceSampler, validate};
    use axum::Json;
    use axum::extract::{Path as UrlPath, Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use serde_json::{Value, json};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    const TOKEN: &str = "s3cr3t-t0ken-abcdef";
    const NS: &str = "godel";
    const SELECTOR: &str = "app.kubernetes.io/name=godel";

    /// What the fake API server answers and what it saw.
    struct Fake {
        pods: Value,
        metrics: (StatusCode, String),
        seen: Mutex<Vec<Seen>>,
    }

    /// (which API, namespace, labelSelector, authorization) of one request.
    type Seen = (String, String, Option<String>, Option<String>);

    fn record(
        fake: &Fake,
        what: &str,
        ns: String,
        q: &HashMap<String, String>,
        headers: &HeaderMap,
    ) {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        fake.seen
            .lock()
            .unwrap()
            .push((what.into(), ns, q.get("labelSelector").cloned(), auth));
    }

    async fn pods(
        State(fake): State<Arc<Fake>>,
        UrlPath(ns): UrlPath<String>,
        Query(q): Query<HashMap<String, String>>,
        headers: HeaderMap,
    ) -> Json<Value> {
        record(&fake, "pods", ns, &q, &headers);
        Json(fake.pods.clone())
    }

    async fn metrics(
        State(fake): State<Arc<Fake>>,
        UrlPath(ns): UrlPath<String>,
        Query(q): Query<HashMap<String, String>>,
        headers: HeaderMap,
    ) -> Response {
        record(&fake, "metrics", ns, &q, &headers);
        let (code, body) = fake.metrics.clone();
        let ct = if body.starts_with('{') {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        (code, [("content-type", ct)], body).into_response()
    }

    /// Serve `fake` on 127.0.0.1:0 and build a sampler from a kubeconfig in a temp dir
    /// (given relative to the config's directory, as a user would write it).
    async fn sampler(fake: Arc<Fake>) -> (ResourceSampler, tempfile::TempDir) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let app = axum::Router::new()
            .route("/api/v1/namespaces/{ns}/pods", get(pods))
            .route(
                "/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods",
                get(metrics),
            )
            .with_state(fake);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("kubeconfig"),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    \
                 server: http://127.0.0.1:{port}\ncontexts:\n- name: fake\n  context:\n    \
                 cluster: fake\n    user: fake\n    namespace: default\n\
                 current-context: fake\nusers:\n- name: fake\n  user:\n    token: {TOKEN}\n"
            ),
        )
        .unwrap();
        let raw = RawResources {
            pods: Some(RawPods {
                namespace: NS.into(),
                selector: SELECTOR.into(),
                kubeconfig: Some("kubeconfig".into()),
            }),
            ..RawResources::default()
        };
        let cfg = validate(&raw, Some(dir.path()), &mut |k, m| panic!("{k}: {m}")).unwrap();
        (ResourceSampler::new(&cfg).await.unwrap(), dir)
    }

    fn pod(name: &str, containers: Value) -> Value {
        json!({
            "metadata": {
                "name": name,
                "namespace": NS,
                "uid": format!("uid-{name}"),
                "labels": {"app.kubernetes.io/name": "godel"}
            },
            "spec": {"containers": containers},
            "status": {"phase": "Running"}
        })
    }

    fn pod_list(items: Vec<Value>) -> Value {
        json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "4711"},
               "items": items})
    }

    fn metrics_list(items: Value) -> String {
        json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
               "metadata": {}, "items": items})
        .to_string()
    }

    fn two_pods() -> Value {
        pod_list(vec![
            pod(
                "godel-a",
                json!([
                    {"name": "api", "image": "godel:1", "resources": {
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                        "requests": {"cpu": "100m", "memory": "128Mi"}}},
                    {"name": "proxy", "image": "envoy:1", "resources": {
                        "limits": {"cpu": "250m", "memory": "64Mi"}}}
                ]),
            ),
            pod(
                "godel-b",
                json!([
                    {"name": "api", "image": "godel:1", "resources": {
                        "limits": {"cpu": "1", "memory": "512Mi"}}},
                    {"name": "debug", "image": "busybox", "resources": {}}
                ]),
            ),
            // Just started: no metrics yet.
            pod(
                "godel-c",
                json!([{"name": "api", "image": "godel:1", "resources": {
                    "limits": {"cpu": "1", "memory": "1Mi"}}}]),
            ),
        ])
    }

    fn two_pods_metrics() -> String {
        metrics_list(json!([
            {"metadata": {"name": "godel-a", "namespace": NS,
                          "creationTimestamp": "2026-11-01T10:00:00Z"},
             "timestamp": "2026-11-01T10:00:00Z", "window": "15s",
             "containers": [
                {"name": "api", "usage": {"cpu": "250000000n", "memory": "200Mi"}},
                {"name": "proxy", "usage": {"cpu": "125m", "memory": "40960Ki"}}
             ]},
            {"metadata": {"name": "godel-b", "namespace": NS},
             "timestamp": "2026-11-01T10:00:00Z", "window": "15s",
             "containers": [
                {"name": "api", "usage": {"cpu": "900m", "memory": "128Mi"}},
                {"name": "debug", "usage": {"cpu": "2", "memory": "1Gi"}}
             ]}
        ]))
    }

    fn fake(pods: Value, metrics: (StatusCode, String)) -> Arc<Fake> {
        Arc::new(Fake {
            pods,
            metrics,
            seen: Mutex::new(Vec::new()),
        })
    }

    #[tokio::test]
    async fn worst_pod_ratio_from_the_metrics_api() {
        let f = fake(two_pods(), (StatusCode::OK, two_pods_metrics()));
        let (mut s, _dir) = sampler(f.clone()).await;
        let readings = s.sample().await;
        let source = format!("pods {NS}/{SELECTOR}");
        assert_eq!(readings.len(), 2);
        // godel-a: (200Mi + 40Mi) / (256Mi + 64Mi); godel-b: 128Mi / 512Mi (debug has no limit).
        assert_eq!(readings[0].nfr, Nfr::Memory);
        assert_eq!(readings[0].value, Ok(0.75));
        assert_eq!(readings[0].threshold, 0.8);
        assert_eq!(readings[0].source, source);
        // godel-a: (0.25 + 0.125) / 0.75; godel-b: 0.9 / 1 (debug's 2 cores not counted).
        assert_eq!(readings[1].nfr, Nfr::Cpu);
        assert_eq!(readings[1].value, Ok(0.9));
        assert_eq!(readings[1].threshold, 0.7);
        assert_eq!(readings[1].source, source);

        let seen = f.seen.lock().unwrap();
        let mut what: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        what.sort();
        assert_eq!(what, ["metrics", "pods"]);
        for (what, ns, selector, auth) in seen.iter() {
            assert_eq!(ns, NS, "{what}");
            assert_eq!(selector.as_deref(), Some(SELECTOR), "{what}");
            assert_eq!(auth.as_deref(), Some(&*format!("Bearer {TOKEN}")), "{what}");
        }
    }

    #[tokio::test]
    async fn metrics_server_missing_is_a_clear_error_without_the_token() {
        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": "the server could not find the requested resource",
            "reason": "NotFound", "details": {}, "code": 404});
        let f = fake(two_pods(), (StatusCode::NOT_FOUND, status.to_string()));
        let (mut s, _dir) = sampler(f).await;
        let readings = s.sample().await;
        let want = "metrics.k8s.io: 404 NotFound: the server could not find the requested \
                    resource (is metrics-server installed?)";
        for r in &readings {
            assert_eq!(r.value, Err(want.to_string()), "{:?}", r.nfr);
        }
    }

    #[tokio::test]
    async fn an_echoed_token_never_reaches_a_reading() {
        // A proxy that echoes the request: as a Status message, and as a plain-text body.
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": format!("denied: Authorization: Bearer {TOKEN}"),
            "reason": "Forbidden", "code": 403});
        let plain = format!("404 page not found\nAuthorization: Bearer {TOKEN}\n");
        let cases = [
            (
                StatusCode::FORBIDDEN,
                status.to_string(),
                "metrics.k8s.io: 403 Forbidden: denied: Authorization: Bearer *** (the service \
                 account needs list on pods and on pods.metrics.k8s.io)",
            ),
            // Not a Status: the body is not quoted at all.
            (
                StatusCode::NOT_FOUND,
                plain,
                "metrics.k8s.io: 404 Not Found (is metrics-server installed?)",
            ),
        ];
        for (code, body, want) in cases {
            let f = fake(two_pods(), (code, body));
            let (mut s, _dir) = sampler(f).await;
            for r in s.sample().await {
                assert_eq!(r.value, Err(want.to_string()));
            }
        }
    }

    #[tokio::test]
    async fn no_matching_pods() {
        let f = fake(pod_list(vec![]), (StatusCode::OK, metrics_list(json!([]))));
        let (mut s, _dir) = sampler(f).await;
        let want = format!("no pods match {SELECTOR} in {NS}");
        for r in s.sample().await {
            assert_eq!(r.value, Err(want.clone()));
        }
    }

    #[tokio::test]
    async fn pods_without_limits() {
        let pods = pod_list(vec![pod(
            "godel-a",
            json!([{"name": "api", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]),
        )]);
        let usage = metrics_list(json!([{"metadata": {"name": "godel-a"}, "containers": [
            {"name": "api", "usage": {"cpu": "1m", "memory": "1Mi"}}]}]));
        let f = fake(pods, (StatusCode::OK, usage));
        let (mut s, _dir) = sampler(f).await;
        let r = s.sample().await;
        assert_eq!(r[0].value, Err("pods have no memory limit".to_string()));
        assert_eq!(r[1].value, Err("pods have no CPU limit".to_string()));
    }

    #[tokio::test]
    async fn garbage_from_the_api_is_an_error_reading() {
        let pods = pod_list(vec![pod(
            "godel-a",
            json!([{"name": "api", "resources": {"limits": {"cpu": "lots", "memory": "1Gi"}}}]),
        )]);
        let usage = metrics_list(json!([{"metadata": {"name": "godel-a"}, "containers": [
            {"name": "api", "usage": {"cpu": "1m", "memory": "-5"}}]}]));
        let f = fake(pods, (StatusCode::OK, usage));
        let (mut s, _dir) = sampler(f).await;
        let r = s.sample().await;
        assert_eq!(
            r[0].value,
            Err("pod godel-a container api: memory usage: negative quantity \"-5\"".into())
        );
        assert_eq!(
            r[1].value,
            Err("pod godel-a container api: CPU limit: invalid number in quantity \"lots\"".into())
        );

        // Not JSON at all.
        let f = fake(two_pods(), (StatusCode::OK, "<html>".into()));
        let (mut s, _dir) = sampler(f).await;
        for r in s.sample().await {
            assert!(r.value.unwrap_err().starts_with("metrics.k8s.io: "));
        }
    }

    #[tokio::test]
    async fn unreachable_api_server_is_an_error_reading() {
        let f = fake(two_pods(), (StatusCode::OK, two_pods_metrics()));
        let (mut s, dir) = sampler(f).await;
        // Point a second sampler at a port nobody listens on.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let text = std::fs::read_to_string(dir.path().join("kubeconfig")).unwrap();
        let text = with_port(&text, port);
        std::fs::write(dir.path().join("kubeconfig"), text).unwrap();
        let raw = RawResources {
            pods: Some(RawPods {
                namespace: NS.into(),
                selector: SELECTOR.into(),
                kubeconfig: Some(dir.path().join("kubeconfig")),
            }),
            ..RawResources::default()
        };
        let cfg = validate(&raw, None, &mut |k, m| panic!("{k}: {m}")).unwrap();
        let mut down = ResourceSampler::new(&cfg).await.unwrap();
        for r in down.sample().await {
            let e = r.value.unwrap_err();
            assert!(e.starts_with("pods: "), "{e}");
            assert!(e.contains("onnect"), "says it could not connect: {e}");
            assert!(!e.contains(TOKEN), "{e}");
        }
        // The first sampler is unaffected.
        assert_eq!(s.sample().await[0].value, Ok(0.75));
    }

    fn with_port(kubeconfig: &str, port: u16) -> String {
        kubeconfig
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("server:") {
                    format!("    server: http://127.0.0.1:{port}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn a_bad_kubeconfig_names_the_file_and_not_its_contents() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, format!("users: [ {{ token: {TOKEN} ]\n")).unwrap();
        let cfg = PodsConfig {
            namespace: NS.into(),
            selector: SELECTOR.into(),
            kubeconfig: Some(path.clone()),
        };
        let e = PodsSampler::new(&cfg).await.err().unwrap().to_string();
        assert_eq!(
            e,
            format!(
                "kubeconfig {}: not a valid kubeconfig YAML file",
                path.display()
            )
        );

        std::fs::write(&path, "apiVersion: v1\nkind: Config\n").unwrap();
        let e = PodsSampler::new(&cfg).await.err().unwrap().to_string();
        assert!(
            e.starts_with(&format!("kubeconfig {}: ", path.display())),
            "{e}"
        );
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact("Authorization: Bearer abc.def-1 and more"),
            "Authorization: Bearer *** and more"
        );
        assert_eq!(redact("basic  dXNlcjpwYXNz!"), "basic  ***");
        assert_eq!(redact("token eyJhbGciOi.x.y here"), "token *** here");
        assert_eq!(redact("nothing to see"), "nothing to see");
        let long = "x".repeat(500);
        assert_eq!(sanitize(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
        assert_eq!(sanitize("Bearer\nabc"), "Bearer ***");
    }
}
