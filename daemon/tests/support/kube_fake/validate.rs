//! The apiserver's validation of Events: the strict rules of `events.k8s.io/v1` creations
//! and updates (upstream `ValidateEventCreate` / `ValidateEventUpdate`: required fields,
//! length limits, a 1 KiB note, immutable fields) and the legacy namespace rule of `v1`
//! Events. Pure functions; the store calls them on client writes only.

use serde_json::{Value, json};

use super::kind::{ApiError, Kind};

pub(super) fn validate_create(
    kind: Kind,
    namespace: &str,
    name: &str,
    object: &Value,
) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    match kind {
        Kind::Event => causes = event_v1_causes(namespace, object),
        Kind::CoreEvent => {
            // Legacy rule: the event lives in its object's namespace.
            let involved = object["involvedObject"]["namespace"]
                .as_str()
                .unwrap_or_default();
            let mismatch = if involved.is_empty() {
                !matches!(namespace, "" | "default")
            } else {
                involved != namespace
            };
            if object["eventTime"].is_null() && mismatch {
                causes.push(format!(
                    "involvedObject.namespace: Invalid value: \"{involved}\": does not match event.namespace"
                ));
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(kind, name, &causes))
    }
}

/// The strict validation of `events.k8s.io/v1` creations (upstream `ValidateEventCreate`).
fn event_v1_causes(namespace: &str, event: &Value) -> Vec<String> {
    let mut causes = Vec::new();
    let text = |field: &str| event[field].as_str().unwrap_or_default();
    let mut required = |field: &str, limit: Option<usize>| {
        let value = text(field);
        if value.is_empty() {
            causes.push(format!("{field}: Required value"));
        } else if let Some(limit) = limit.filter(|l| value.len() > *l) {
            causes.push(format!(
                "{field}: Invalid value: \"\": can have at most {limit} characters"
            ));
        }
    };
    required("eventTime", None);
    required("reportingController", None);
    required("reportingInstance", Some(128));
    required("action", Some(128));
    required("reason", Some(128));
    if text("note").len() > 1024 {
        causes.push("note: Invalid value: \"\": can have at most 1024 characters".into());
    }
    if !matches!(text("type"), "Normal" | "Warning") {
        causes.push(format!(
            "type: Invalid value: \"\": has invalid value: {}",
            text("type")
        ));
    }
    let regarding_namespace = event["regarding"]["namespace"].as_str().unwrap_or_default();
    if regarding_namespace.is_empty() && !matches!(namespace, "default" | "kube-system") {
        causes.push(
            "regarding.namespace: Invalid value: \"\": does not match event.namespace".into(),
        );
    }
    for field in [
        "deprecatedFirstTimestamp",
        "deprecatedLastTimestamp",
        "deprecatedCount",
        "deprecatedSource",
    ] {
        if !event[field].is_null() && event[field] != json!({}) && event[field] != json!(0) {
            causes.push(format!("{field}: Invalid value: \"\": needs to be unset"));
        }
    }
    causes.extend(series_causes(event));
    causes
}

fn series_causes(event: &Value) -> Vec<String> {
    let series = &event["series"];
    let mut causes = Vec::new();
    if !series.is_null() {
        if series["count"].as_i64().unwrap_or(0) < 2 {
            causes.push("series.count: Invalid value: \"\": should be at least 2".into());
        }
        if series["lastObservedTime"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
        {
            causes.push("series.lastObservedTime: Required value".into());
        }
    }
    causes
}

/// Upstream `ValidateEventUpdate` for `events.k8s.io/v1`: only the series may change.
pub(super) fn validate_event_update(name: &str, new: &Value, old: &Value) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    if new["series"] != old["series"] {
        causes.extend(series_causes(new));
    }
    for field in [
        "regarding",
        "related",
        "reason",
        "note",
        "type",
        "eventTime",
        "action",
        "reportingController",
        "reportingInstance",
        "deprecatedSource",
        "deprecatedFirstTimestamp",
        "deprecatedLastTimestamp",
        "deprecatedCount",
    ] {
        if new.get(field) != old.get(field) {
            causes.push(format!("{field}: Invalid value: \"\": field is immutable"));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(Kind::Event, name, &causes))
    }
}
