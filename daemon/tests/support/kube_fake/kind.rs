//! The resources the fake serves (group, version, plural, kind and the apiserver's per-resource
//! rules) and the `Status` errors it answers with. No state lives here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A resource type the fake serves. `CoreEvent` is `v1` `Event`; `Event` is
/// `events.k8s.io/v1` `Event` (what `kube::runtime::events::Recorder` writes). The real
/// apiserver stores both in one table; the fake keeps them apart and [`super::KubeFake::events`]
/// returns both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` ReplicaSet.
    ReplicaSet,
    /// `v1` Secret.
    Secret,
    /// `v1` Event (the legacy core group).
    CoreEvent,
    /// `events.k8s.io/v1` Event.
    Event,
    /// `coordination.k8s.io/v1` Lease.
    Lease,
    /// `v1` Pod.
    Pod,
    /// `metrics.k8s.io/v1beta1` PodMetrics (served under the plural `pods`).
    PodMetrics,
}

impl Kind {
    /// Every kind the fake serves.
    pub const ALL: [Kind; 8] = [
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::Secret,
        Kind::CoreEvent,
        Kind::Event,
        Kind::Lease,
        Kind::Pod,
        Kind::PodMetrics,
    ];

    /// The API group, empty for the core group.
    pub fn group(self) -> &'static str {
        match self {
            Kind::Deployment | Kind::ReplicaSet => "apps",
            Kind::Secret | Kind::CoreEvent | Kind::Pod => "",
            Kind::Event => "events.k8s.io",
            Kind::Lease => "coordination.k8s.io",
            Kind::PodMetrics => "metrics.k8s.io",
        }
    }

    /// The version within the group.
    pub fn version(self) -> &'static str {
        match self {
            Kind::PodMetrics => "v1beta1",
            _ => "v1",
        }
    }

    /// `apiVersion` as written in objects: `apps/v1`, `v1`.
    pub fn api_version(self) -> String {
        match self.group() {
            "" => self.version().to_owned(),
            group => format!("{group}/{}", self.version()),
        }
    }

    /// `kind` as written in objects.
    pub fn kind(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Secret => "Secret",
            Kind::CoreEvent | Kind::Event => "Event",
            Kind::Lease => "Lease",
            Kind::Pod => "Pod",
            Kind::PodMetrics => "PodMetrics",
        }
    }

    /// The plural in URLs.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Deployment => "deployments",
            Kind::ReplicaSet => "replicasets",
            Kind::Secret => "secrets",
            Kind::CoreEvent | Kind::Event => "events",
            Kind::Lease => "leases",
            Kind::Pod | Kind::PodMetrics => "pods",
        }
    }

    /// The URL prefix of the group version: `/api/v1`, `/apis/apps/v1`.
    pub fn prefix(self) -> String {
        match self.group() {
            "" => format!("/api/{}", self.version()),
            group => format!("/apis/{group}/{}", self.version()),
        }
    }

    /// The kind from an object's `apiVersion` and `kind`.
    pub fn of(api_version: &str, kind: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.api_version() == api_version && k.kind() == kind)
    }

    /// The kind from URL parts (`group` empty for `/api/v1`).
    pub(super) fn from_path(group: &str, version: &str, plural: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.group() == group && k.version() == version && k.plural() == plural)
    }

    /// `deployments.apps`, `secrets`: how the apiserver names the resource in messages.
    pub(super) fn qualified(self) -> String {
        match self.group() {
            "" => self.plural().to_owned(),
            group => format!("{}.{group}", self.plural()),
        }
    }

    /// `Lease.coordination.k8s.io`: how validation messages name the kind.
    fn qualified_kind(self) -> String {
        match self.group() {
            "" => self.kind().to_owned(),
            group => format!("{}.{group}", self.kind()),
        }
    }

    /// Whether the apiserver keeps `metadata.generation` (the strategies of apps/v1).
    pub(super) fn has_generation(self) -> bool {
        matches!(self, Kind::Deployment | Kind::ReplicaSet)
    }

    /// Whether `status` is a subresource: the main resource ignores status writes and the
    /// `/status` subresource ignores everything else.
    pub(super) fn has_status_subresource(self) -> bool {
        matches!(self, Kind::Deployment | Kind::ReplicaSet | Kind::Pod)
    }

    /// Whether a PUT on a missing object creates it (true for Leases and Events upstream).
    pub(super) fn creates_on_update(self) -> bool {
        matches!(self, Kind::Lease | Kind::CoreEvent | Kind::Event)
    }

    /// Whether a PUT without `metadata.resourceVersion` is accepted (false for Leases upstream:
    /// every Lease update is a compare-and-swap).
    pub(super) fn allows_unconditional_update(self) -> bool {
        !matches!(self, Kind::Lease)
    }

    /// Fields a `fieldSelector` may name besides `metadata.name` and `metadata.namespace`.
    pub(super) fn selectable_fields(self) -> &'static [&'static str] {
        match self {
            Kind::Secret => &["type"],
            Kind::CoreEvent => &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
            Kind::Event => &[
                "regarding.kind",
                "regarding.namespace",
                "regarding.name",
                "regarding.uid",
                "regarding.apiVersion",
                "reason",
                "reportingController",
                "type",
            ],
            Kind::Pod => &[
                "spec.nodeName",
                "spec.restartPolicy",
                "status.phase",
                "status.podIP",
            ],
            _ => &[],
        }
    }
}

/// An error as the apiserver reports it: an HTTP code and a `Status` object.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: String) -> Self {
        ApiError {
            code,
            reason,
            message,
            details: None,
        }
    }

    fn about(mut self, kind: Kind, name: &str) -> Self {
        let mut details = json!({"name": name, "kind": kind.plural()});
        if !kind.group().is_empty() {
            details["group"] = kind.group().into();
        }
        self.details = Some(details);
        self
    }

    pub fn not_found(kind: Kind, name: &str) -> Self {
        let message = format!("{} \"{name}\" not found", kind.qualified());
        ApiError::new(404, "NotFound", message).about(kind, name)
    }

    pub fn already_exists(kind: Kind, name: &str) -> Self {
        let message = format!("{} \"{name}\" already exists", kind.qualified());
        ApiError::new(409, "AlreadyExists", message).about(kind, name)
    }

    pub fn conflict(kind: Kind, name: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            kind.qualified()
        );
        ApiError::new(409, "Conflict", message).about(kind, name)
    }

    /// A resourceVersion older than the fake's history (the apiserver's compaction).
    pub fn expired(requested: u64, oldest: u64) -> Self {
        let message = format!("too old resource version: {requested} ({oldest})");
        ApiError::new(410, "Expired", message)
    }

    /// Validation failed; `causes` are `field: problem` strings.
    pub fn invalid(kind: Kind, name: &str, causes: &[String]) -> Self {
        let listed = match causes {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let message = format!("{} \"{name}\" is invalid: {listed}", kind.qualified_kind());
        ApiError::new(422, "Invalid", message).about(kind, name)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message.into())
    }

    pub fn unauthorized() -> Self {
        ApiError::new(401, "Unauthorized", "Unauthorized".into())
    }

    pub fn no_route() -> Self {
        let message = "the server could not find the requested resource".into();
        ApiError::new(404, "NotFound", message)
    }

    pub fn method_not_allowed(method: &str) -> Self {
        let message = format!("{method} is not supported on this resource");
        ApiError::new(405, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        let message = format!("the body of the request was in an unknown format: {content_type}");
        ApiError::new(415, "UnsupportedMediaType", message)
    }

    /// The `Status` object.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(code, &self.status())
    }
}

/// A JSON response with the apiserver's content type.
pub(super) fn json_response(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
