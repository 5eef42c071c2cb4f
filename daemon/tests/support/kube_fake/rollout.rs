//! Object builders and a deployment-controller simulator: the writes the real controller
//! makes during a rollout (a new ReplicaSet, the revision annotation and `observedGeneration`
//! through the status subresource, replica counts, the `Progressing` condition), each as its
//! own write so that watches see the same sequence as against a cluster.

use serde_json::{Value, json};

use super::kind::Kind;
use super::store::{Store, Write, now};

/// The annotation the deployment controller keeps on Deployments and ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// A Deployment as a Helm chart would render it, already rolled out by the controller:
/// label and selector `app=<name>`, one container named `<name>`, the apiserver's defaults
/// (RollingUpdate 25 %/25 %, progress deadline 600 s), the revision annotation, and a status
/// with every replica updated, ready and available for generation 1.
pub fn deployment(namespace: &str, name: &str, replicas: i64, image: &str, revision: u64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": name},
            "annotations": {REVISION: revision.to_string()},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                condition("Available", "True", "MinimumReplicasAvailable",
                    "Deployment has minimum availability."),
                condition("Progressing", "True", "NewReplicaSetAvailable",
                    &format!("ReplicaSet \"{name}-{}\" has successfully progressed.",
                        template_hash(&json!({
                            "metadata": {"labels": {"app": name}},
                            "spec": {"containers": [{"name": name, "image": image}]},
                        })))),
            ],
        },
    })
}

/// A Deployment condition with both timestamps now.
pub fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    let now = now();
    json!({
        "type": kind,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    })
}

/// The controller's `pod-template-hash`: FNV-1a of the template, in the apiserver's
/// vowel-free alphabet.
pub fn template_hash(template: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hash: u32 = 0x811c_9dc5;
    for byte in template.to_string().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let mut text = String::new();
    let mut n = u64::from(hash);
    loop {
        text.push(char::from(ALPHABET[usize::try_from(n % 27).unwrap_or(0)]));
        n /= 27;
        if n == 0 {
            break;
        }
    }
    text
}

fn revision_of(object: &Value) -> u64 {
    object["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn deployment_or_panic(store: &Store, namespace: &str, name: &str) -> Value {
    store
        .with(|inner| inner.get(Kind::Deployment, namespace, name).cloned())
        .unwrap_or_else(|| panic!("kube fake: no deployment {namespace}/{name}"))
}

/// The ReplicaSets a Deployment owns.
fn owned(store: &Store, deployment: &Value) -> Vec<Value> {
    let namespace = deployment["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let uid = &deployment["metadata"]["uid"];
    store.with(|inner| {
        inner
            .list(Kind::ReplicaSet, Some(namespace))
            .filter(|rs| rs["metadata"]["ownerReferences"][0]["uid"] == *uid)
            .cloned()
            .collect()
    })
}

fn replica_set_name(deployment: &Value) -> String {
    let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
    format!("{name}-{}", template_hash(&deployment["spec"]["template"]))
}

/// Writes the ReplicaSet for the deployment's current template at `revision` (creating it,
/// or re-annotating the old one when a rollout returns to an earlier template, as the
/// controller does), scaled to `replicas`.
fn ensure_replica_set(store: &Store, deployment: &Value, revision: u64, replicas: i64) -> String {
    let namespace = deployment["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let name = replica_set_name(deployment);
    let hash = template_hash(&deployment["spec"]["template"]);
    let existing = store.with(|inner| inner.get(Kind::ReplicaSet, namespace, &name).cloned());
    let mut rs = existing.unwrap_or_else(|| {
        let mut template = deployment["spec"]["template"].clone();
        template["metadata"]["labels"]["pod-template-hash"] = hash.clone().into();
        let mut selector = deployment["spec"]["selector"].clone();
        selector["matchLabels"]["pod-template-hash"] = hash.clone().into();
        json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": template["metadata"]["labels"].clone(),
                "annotations": {},
                "ownerReferences": [{
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": deployment["metadata"]["name"].clone(),
                    "uid": deployment["metadata"]["uid"].clone(),
                    "controller": true,
                    "blockOwnerDeletion": true,
                }],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": template},
            "status": {"replicas": 0},
        })
    });
    let old_revision = revision_of(&rs);
    if old_revision != 0 && old_revision != revision {
        let history = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"]
            .as_str()
            .map_or_else(
                || old_revision.to_string(),
                |h| format!("{h},{old_revision}"),
            );
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] = history.into();
    }
    rs["metadata"]["annotations"][REVISION] = revision.to_string().into();
    rs["spec"]["replicas"] = replicas.into();
    store
        .with(|inner| inner.update(Kind::ReplicaSet, namespace, &name, rs, Write::Force))
        .unwrap_or_else(|e| panic!("kube fake: replicaset write: {}", e.message));
    name
}

/// Sets the status of a ReplicaSet as the replicaset controller would.
fn set_replica_set_status(store: &Store, namespace: &str, name: &str, replicas: i64, ready: i64) {
    store.with(|inner| {
        let Some(mut rs) = inner.get(Kind::ReplicaSet, namespace, name).cloned() else {
            return;
        };
        rs["status"] = json!({
            "replicas": replicas,
            "fullyLabeledReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"]["generation"].clone(),
        });
        let _ = inner.update(Kind::ReplicaSet, namespace, name, rs, Write::Force);
    });
}

/// Replaces the condition of the same type, keeping its transition time when the status
/// did not change.
fn set_condition(status: &mut Value, new: Value) {
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    if let Some(conditions) = status["conditions"].as_array_mut() {
        match conditions.iter_mut().find(|c| c["type"] == new["type"]) {
            Some(old) => {
                let mut new = new;
                if old["status"] == new["status"] {
                    new["lastTransitionTime"] = old["lastTransitionTime"].clone();
                }
                *old = new;
            }
            None => conditions.push(new),
        }
    }
}

/// A status write on the deployment (the controller's `UpdateStatus`).
fn write_status(store: &Store, deployment: Value) -> Value {
    let namespace = deployment["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let name = deployment["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    store
        .with(|inner| {
            inner.update(
                Kind::Deployment,
                &namespace,
                &name,
                deployment,
                Write::Status,
            )
        })
        .unwrap_or_else(|e| panic!("kube fake: deployment status write: {}", e.message))
}

/// A rolled-out Deployment ([`deployment`] at revision 1) and its ReplicaSet.
pub(super) fn create_deployment(
    store: &Store,
    namespace: &str,
    name: &str,
    replicas: i64,
    image: &str,
) -> Value {
    let object = deployment(namespace, name, replicas, image, 1);
    let created = store
        .with(|inner| inner.update(Kind::Deployment, namespace, name, object, Write::Force))
        .unwrap_or_else(|e| panic!("kube fake: deployment write: {}", e.message));
    let rs = ensure_replica_set(store, &created, 1, replicas);
    set_replica_set_status(store, namespace, &rs, replicas, replicas);
    created
}

/// Status counts and, when `conditions` is not empty, the conditions (replacing those of the
/// same types), through the status subresource.
#[allow(clippy::too_many_arguments)]
pub(super) fn set_progress(
    store: &Store,
    namespace: &str,
    name: &str,
    updated: i64,
    ready: i64,
    available: i64,
    observed_generation: i64,
    conditions: &[Value],
) -> Value {
    let mut deployment = deployment_or_panic(store, namespace, name);
    let desired = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let status = &mut deployment["status"];
    status["observedGeneration"] = observed_generation.into();
    status["replicas"] = desired.max(updated).into();
    status["updatedReplicas"] = updated.into();
    status["readyReplicas"] = ready.into();
    status["availableReplicas"] = available.into();
    match desired - available {
        unavailable if unavailable > 0 => status["unavailableReplicas"] = unavailable.into(),
        _ => {
            if let Some(map) = status.as_object_mut() {
                map.remove("unavailableReplicas");
            }
        }
    }
    for condition in conditions {
        set_condition(status, condition.clone());
    }
    write_status(store, deployment)
}

/// Starts a rollout to `image`, in the controller's three writes: the user's spec change
/// (generation + 1, status untouched), the new ReplicaSet at the next revision, and the
/// status write with the revision annotation, `observedGeneration` and `Progressing` /
/// `ReplicaSetUpdated`. Returns the new revision.
pub(super) fn start_rollout(store: &Store, namespace: &str, name: &str, image: &str) -> u64 {
    let mut deployment = deployment_or_panic(store, namespace, name);
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = image.into();
    let deployment = store
        .with(|inner| inner.update(Kind::Deployment, namespace, name, deployment, Write::Api))
        .unwrap_or_else(|e| panic!("kube fake: deployment write: {}", e.message));
    let revision = owned(store, &deployment)
        .iter()
        .map(revision_of)
        .chain([revision_of(&deployment)])
        .max()
        .unwrap_or(0)
        + 1;
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let rs = ensure_replica_set(store, &deployment, revision, replicas.min(1));
    set_replica_set_status(store, namespace, &rs, replicas.min(1), 0);
    let mut deployment = deployment;
    deployment["metadata"]["annotations"][REVISION] = revision.to_string().into();
    let generation = deployment["metadata"]["generation"].clone();
    let status = &mut deployment["status"];
    status["observedGeneration"] = generation;
    status["updatedReplicas"] = 0.into();
    let message = format!("ReplicaSet \"{rs}\" is progressing.");
    set_condition(
        status,
        condition("Progressing", "True", "ReplicaSetUpdated", &message),
    );
    write_status(store, deployment);
    revision
}

/// Completes the rollout: the new ReplicaSet at full scale and ready, old ones at zero, and
/// the Deployment with every replica updated, ready and available, `observedGeneration` =
/// `generation` and `Progressing` / `NewReplicaSetAvailable`.
pub(super) fn finish_rollout(store: &Store, namespace: &str, name: &str) -> Value {
    let deployment = deployment_or_panic(store, namespace, name);
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let new = replica_set_name(&deployment);
    for rs in owned(store, &deployment) {
        let rs_name = rs["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if rs_name != new {
            let mut scaled = rs;
            scaled["spec"]["replicas"] = 0.into();
            store.with(|inner| {
                let _ = inner.update(Kind::ReplicaSet, namespace, &rs_name, scaled, Write::Force);
            });
            set_replica_set_status(store, namespace, &rs_name, 0, 0);
        }
    }
    let revision = revision_of(&deployment);
    ensure_replica_set(store, &deployment, revision, replicas);
    set_replica_set_status(store, namespace, &new, replicas, replicas);
    let generation = deployment["metadata"]["generation"].as_i64().unwrap_or(1);
    let message = format!("ReplicaSet \"{new}\" has successfully progressed.");
    let conditions = [
        condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        ),
        condition("Progressing", "True", "NewReplicaSetAvailable", &message),
    ];
    set_progress(
        store,
        namespace,
        name,
        replicas,
        replicas,
        replicas,
        generation,
        &conditions,
    )
}

/// Fails the rollout as a progress deadline does: one new pod that never becomes ready, the
/// old pods still serving, and `Progressing` = False / `ProgressDeadlineExceeded`.
pub(super) fn fail_rollout(store: &Store, namespace: &str, name: &str) -> Value {
    let mut deployment = deployment_or_panic(store, namespace, name);
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let new = replica_set_name(&deployment);
    set_replica_set_status(store, namespace, &new, 1, 0);
    let generation = deployment["metadata"]["generation"].clone();
    let message = format!("ReplicaSet \"{new}\" has timed out progressing.");
    let status = &mut deployment["status"];
    status["observedGeneration"] = generation;
    status["replicas"] = (replicas + 1).into();
    status["updatedReplicas"] = 1.into();
    status["readyReplicas"] = replicas.into();
    status["availableReplicas"] = replicas.into();
    if let Some(map) = status.as_object_mut() {
        map.remove("unavailableReplicas");
    }
    let failed = condition("Progressing", "False", "ProgressDeadlineExceeded", &message);
    set_condition(status, failed);
    write_status(store, deployment)
}
