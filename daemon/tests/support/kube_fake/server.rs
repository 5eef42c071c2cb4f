//! The HTTP face of the fake: routing of `/api/v1/…` and `/apis/<group>/<version>/…` paths to
//! the store, bearer-token checks, the request log, and the `/__fake/…` test-control
//! endpoints. The REST rules themselves live in the store.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::kind::{ApiError, Kind, json_response};
use super::select::{FieldSelector, LabelSelector, merge_patch};
use super::store::Write;
use super::{RecordedRequest, Shared, helm, watch};

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/__fake/helm/rollback", post(helm_rollback))
        .fallback(api)
        .with_state(shared)
}

type Params = HashMap<String, String>;

fn record(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap) -> Params {
    let pairs = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let request = RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: pairs.clone(),
        authorization: headers.contains_key(header::AUTHORIZATION),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    shared.lock_requests().push(request);
    pairs.into_iter().collect()
}

/// `POST /__fake/helm/rollback?namespace=…&release=…&revision=…` (the stub `helm` calls this).
async fn helm_rollback(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let query = record(&shared, &method, &uri, &headers);
    let param = |key: &str| query.get(key).map(String::as_str).unwrap_or_default();
    let namespace = match param("namespace") {
        "" => "default",
        ns => ns,
    };
    let Ok(revision) = param("revision")
        .parse::<u64>()
        .or_else(|e| match param("revision") {
            "" => Ok(0),
            _ => Err(e),
        })
    else {
        return (StatusCode::BAD_REQUEST, "invalid revision\n").into_response();
    };
    match helm::rollback(&shared.store, namespace, param("release"), revision) {
        Ok(new) => json_response(StatusCode::OK, &json!({"revision": new})),
        Err(message) => (StatusCode::NOT_FOUND, format!("{message}\n")).into_response(),
    }
}

async fn api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = record(&shared, &method, &uri, &headers);
    if uri.path() == "/version" {
        let version = json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-kube-fake",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc",
            "platform": "linux/amd64",
        });
        return json_response(StatusCode::OK, &version);
    }
    let expected = format!("Bearer {}", shared.token);
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return ApiError::unauthorized().into_response();
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    serve(&shared, &method, uri.path(), &query, content_type, &body)
        .unwrap_or_else(IntoResponse::into_response)
}

/// Where a path points.
struct Target {
    kind: Kind,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn target(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let (namespace, plural, name, sub) = match rest {
        [plural] => (None, *plural, None, None),
        ["namespaces", ns, plural] => (Some(*ns), *plural, None, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name), None),
        ["namespaces", ns, plural, name, sub] => (Some(*ns), *plural, Some(*name), Some(*sub)),
        _ => return None,
    };
    let kind = Kind::from_path(group, version, plural)?;
    let status = match sub {
        None => false,
        Some("status") if kind.has_status_subresource() => true,
        Some(_) => return None,
    };
    Some(Target {
        kind,
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        status,
    })
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

fn serve(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: &Params,
    content_type: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let Target {
        kind,
        namespace,
        name,
        status,
    } = target(path).ok_or_else(ApiError::no_route)?;
    let write = if status { Write::Status } else { Write::Api };
    let store = &shared.store;
    let ok = |object: Value| json_response(StatusCode::OK, &object);
    match (method.as_str(), namespace, name) {
        ("GET", namespace, None) => {
            if matches!(query.get("watch").map(String::as_str), Some("true" | "1")) {
                watch::respond(Arc::clone(shared), kind, namespace, query)
            } else {
                list(shared, kind, namespace.as_deref(), query)
            }
        }
        ("POST", Some(ns), None) => {
            let object = parse_body(body)?;
            let created = store.with(|inner| inner.create(kind, &ns, object, Write::Api))?;
            Ok(json_response(StatusCode::CREATED, &created))
        }
        ("GET", Some(ns), Some(name)) => store
            .with(|inner| inner.get(kind, &ns, &name).cloned())
            .map(ok)
            .ok_or_else(|| ApiError::not_found(kind, &name)),
        ("PUT", Some(ns), Some(name)) => {
            let object = parse_body(body)?;
            store
                .with(|inner| inner.update(kind, &ns, &name, object, write))
                .map(ok)
        }
        ("PATCH", Some(ns), Some(name)) => {
            patch(shared, kind, &ns, &name, content_type, query, body, write)
        }
        ("DELETE", Some(ns), Some(name)) if !status => {
            let options: Value = serde_json::from_slice(body).unwrap_or_default();
            let precondition = options["preconditions"]["resourceVersion"].as_str();
            store
                .with(|inner| inner.delete(kind, &ns, &name, precondition))
                .map(ok)
        }
        (method, ..) => Err(ApiError::method_not_allowed(method)),
    }
}

fn list(
    shared: &Shared,
    kind: Kind,
    namespace: Option<&str>,
    query: &Params,
) -> Result<Response, ApiError> {
    let param = |key: &str| query.get(key).map(String::as_str).unwrap_or_default();
    let labels = LabelSelector::parse(param("labelSelector"))?;
    let fields = FieldSelector::parse(param("fieldSelector"), kind)?;
    let list = shared.store.with(|inner| {
        if param("resourceVersionMatch") == "Exact"
            && let Ok(rv) = param("resourceVersion").parse::<u64>()
            && rv < inner.oldest
        {
            return Err(ApiError::expired(rv, inner.oldest));
        }
        // Items of a list carry no kind/apiVersion on the wire, as with the real apiserver.
        let items: Vec<Value> = inner
            .list(kind, namespace)
            .filter(|o| labels.matches(o) && fields.matches(o))
            .map(|o| {
                let mut item = o.clone();
                if let Some(map) = item.as_object_mut() {
                    map.remove("kind");
                    map.remove("apiVersion");
                }
                item
            })
            .collect();
        Ok(json!({
            "kind": format!("{}List", kind.kind()),
            "apiVersion": kind.api_version(),
            "metadata": {"resourceVersion": inner.rv.to_string()},
            "items": items,
        }))
    })?;
    Ok(json_response(StatusCode::OK, &list))
}

/// PATCH: merge and strategic merge are both applied as JSON merge patch (so a strategic
/// patch replaces lists instead of merging them by key); apply creates a missing object.
#[allow(clippy::too_many_arguments)]
fn patch(
    shared: &Shared,
    kind: Kind,
    namespace: &str,
    name: &str,
    content_type: &str,
    query: &Params,
    body: &Bytes,
    write: Write,
) -> Result<Response, ApiError> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let apply = match media {
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => false,
        "application/apply-patch+yaml" => true,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if apply && query.get("fieldManager").is_none_or(String::is_empty) {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: \
             is required for apply patch",
        ));
    }
    let patch = parse_body(body)?;
    shared.store.with(|inner| {
        let Some(current) = inner.get(kind, namespace, name).cloned() else {
            if apply {
                let mut object = patch.clone();
                object["metadata"]["name"] = name.into();
                let created = inner.create(kind, namespace, object, write)?;
                return Ok(json_response(StatusCode::CREATED, &created));
            }
            return Err(ApiError::not_found(kind, name));
        };
        let mut merged = current.clone();
        merge_patch(&mut merged, &patch);
        // A resourceVersion in the patch is a precondition; without one the patch applies
        // to whatever is current.
        if patch["metadata"]["resourceVersion"].as_str().is_none() {
            merged["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
        }
        let updated = inner.update(kind, namespace, name, merged, write)?;
        Ok(json_response(StatusCode::OK, &updated))
    })
}
