//! The fake's storage: every object by (kind, namespace, name), the one global resourceVersion
//! counter, the change history the watches replay, and the apiserver's write rules (uid,
//! creationTimestamp, generation, optimistic concurrency, status subresource, Event
//! validation). Knows nothing of HTTP.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::kind::{ApiError, Kind};
use super::validate::{validate_create, validate_event_update};

/// Seconds-precision RFC 3339 UTC, like `metav1.Time`.
pub fn now() -> String {
    Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Microsecond RFC 3339 UTC, like `metav1.MicroTime`.
pub fn now_micro() -> String {
    Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// The storage behind a lock, and a signal that wakes the watches after each change.
pub(super) struct Store {
    inner: Mutex<Inner>,
    notify: watch::Sender<u64>,
}

impl Store {
    pub fn new() -> Self {
        let inner = Inner {
            rv: 1,
            oldest: 0,
            epoch: 0,
            objects: BTreeMap::new(),
            history: Vec::new(),
        };
        Store {
            inner: Mutex::new(inner),
            notify: watch::channel(0).0,
        }
    }

    /// Runs `f` under the lock, then wakes the watches if anything moved.
    pub fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let (result, moved) = {
            let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            let before = (inner.rv, inner.epoch);
            let result = f(&mut inner);
            (result, (inner.rv, inner.epoch) != before)
        };
        if moved {
            self.notify.send_modify(|n| *n += 1);
        }
        result
    }

    /// A receiver that changes after every write, break and expiry.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }
}

/// What a change did to an object, as watch events name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One write, as the watches replay it.
#[derive(Clone, Debug)]
pub(super) struct Change {
    pub rv: u64,
    pub kind: Kind,
    pub namespace: String,
    pub change: ChangeType,
    /// The object after the write (for a deletion: its last state, with the deletion's RV).
    pub object: Value,
    /// The object before the write (a watch with a selector needs both to turn a MODIFIED
    /// into an ADDED or a DELETED).
    pub previous: Option<Value>,
}

/// Who is writing: decides which parts of the object the write may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Write {
    /// A client on the main resource: status is kept, validation applies.
    Api,
    /// A client on the `/status` subresource: spec and labels are kept.
    Status,
    /// The test (or the simulated controllers): the object is taken as given.
    Force,
}

type Key = (Kind, String, String);

/// The state behind the lock.
pub(super) struct Inner {
    /// The last resourceVersion handed out (global, like etcd's revision).
    pub rv: u64,
    /// Watches and exact lists from a resourceVersion below this get 410 Expired.
    pub oldest: u64,
    /// Bumped by `break_watches`: open watch streams end when it moves.
    pub epoch: u64,
    objects: BTreeMap<Key, Value>,
    /// Every change, in resourceVersion order.
    pub history: Vec<Change>,
}

impl Inner {
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(kind, namespace.to_owned(), name.to_owned()))
    }

    /// The objects of a kind, in one namespace or all, in key order (as etcd lists them).
    pub fn list<'a>(
        &'a self,
        kind: Kind,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .iter()
            .filter(move |((k, ns, _), _)| *k == kind && namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v)
    }

    /// The changes after `rv`.
    pub fn changes_since(&self, rv: u64) -> &[Change] {
        let start = self.history.partition_point(|c| c.rv <= rv);
        &self.history[start..]
    }

    /// Compaction: every resourceVersion handed out so far becomes too old to watch from. The
    /// counter moves once (as writes elsewhere in a cluster would move it) so that a fresh
    /// list returns a resourceVersion that is still valid.
    pub fn expire(&mut self) {
        self.rv += 1;
        self.oldest = self.rv;
    }

    fn record(
        &mut self,
        kind: Kind,
        namespace: &str,
        change: ChangeType,
        object: &Value,
        previous: Option<Value>,
    ) {
        self.history.push(Change {
            rv: self.rv,
            kind,
            namespace: namespace.to_owned(),
            change,
            object: object.clone(),
            previous,
        });
    }

    /// Creates an object (POST), or returns AlreadyExists.
    pub fn create(
        &mut self,
        kind: Kind,
        namespace: &str,
        mut object: Value,
        write: Write,
    ) -> Result<Value, ApiError> {
        check_type(kind, &mut object)?;
        check_namespace(namespace, &object)?;
        let name = match object["metadata"]["name"]
            .as_str()
            .filter(|n| !n.is_empty())
        {
            Some(name) => name.to_owned(),
            None => match object["metadata"]["generateName"].as_str() {
                Some(prefix) => format!("{prefix}{}", random_suffix()),
                None => {
                    let cause = "metadata.name: Required value: name or generateName is required";
                    return Err(ApiError::invalid(kind, "", &[cause.to_owned()]));
                }
            },
        };
        let key = (kind, namespace.to_owned(), name.clone());
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(kind, &name));
        }
        if write == Write::Api {
            validate_create(kind, namespace, &name, &object)?;
            if kind.has_status_subresource() && kind != Kind::Pod {
                object["status"] = json!({});
            }
        }
        self.rv += 1;
        let meta = &mut object["metadata"];
        meta["name"] = name.clone().into();
        meta["namespace"] = namespace.into();
        meta["uid"] = uid().into();
        meta["creationTimestamp"] = now().into();
        meta["resourceVersion"] = self.rv.to_string().into();
        if kind.has_generation() {
            meta["generation"] = 1.into();
        } else if let Some(meta) = meta.as_object_mut() {
            meta.remove("generation");
        }
        self.record(kind, namespace, ChangeType::Added, &object, None);
        self.objects.insert(key, object.clone());
        Ok(object)
    }

    /// Replaces an object (PUT, or the result of a PATCH), with the apiserver's rules for the
    /// writer. A write that changes nothing keeps the resourceVersion and emits no event.
    pub fn update(
        &mut self,
        kind: Kind,
        namespace: &str,
        name: &str,
        mut object: Value,
        write: Write,
    ) -> Result<Value, ApiError> {
        check_type(kind, &mut object)?;
        check_namespace(namespace, &object)?;
        match object["metadata"]["name"].as_str() {
            Some(n) if n != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            _ => object["metadata"]["name"] = name.into(),
        }
        let sent_rv = object["metadata"]["resourceVersion"]
            .as_str()
            .filter(|rv| !rv.is_empty())
            .map(str::to_owned);
        let Some(old) = self.get(kind, namespace, name).cloned() else {
            if write == Write::Api && kind.creates_on_update() && sent_rv.is_none() {
                return self.create(kind, namespace, object, write);
            }
            if write == Write::Force {
                return self.create(kind, namespace, object, write);
            }
            return Err(ApiError::not_found(kind, name));
        };
        if write != Write::Force {
            match &sent_rv {
                Some(rv) if old["metadata"]["resourceVersion"].as_str() != Some(rv) => {
                    return Err(ApiError::conflict(kind, name));
                }
                None if !kind.allows_unconditional_update() => {
                    let cause = "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update";
                    return Err(ApiError::invalid(kind, name, &[cause.to_owned()]));
                }
                _ => {}
            }
        }
        for field in [
            "uid",
            "creationTimestamp",
            "namespace",
            "resourceVersion",
            "generation",
        ] {
            match old["metadata"].get(field) {
                Some(value) => object["metadata"][field] = value.clone(),
                None => remove(&mut object["metadata"], field),
            }
        }
        match write {
            Write::Api if kind.has_status_subresource() => keep(&mut object, &old, &["status"]),
            Write::Status => {
                keep(&mut object, &old, &["spec"]);
                keep(&mut object["metadata"], &old["metadata"], &["labels"]);
            }
            _ => {}
        }
        if write == Write::Api && kind == Kind::Event {
            validate_event_update(name, &object, &old)?;
        }
        if kind.has_generation() && write != Write::Status {
            let spec_changed = object.get("spec") != old.get("spec");
            let annotations_changed = kind == Kind::Deployment
                && write == Write::Api
                && object["metadata"].get("annotations") != old["metadata"].get("annotations");
            if spec_changed || annotations_changed {
                let generation = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
                object["metadata"]["generation"] = generation.into();
            }
        }
        if object == old {
            return Ok(old);
        }
        self.rv += 1;
        object["metadata"]["resourceVersion"] = self.rv.to_string().into();
        self.record(kind, namespace, ChangeType::Modified, &object, Some(old));
        self.objects.insert(
            (kind, namespace.to_owned(), name.to_owned()),
            object.clone(),
        );
        Ok(object)
    }

    /// Deletes an object, with an optional resourceVersion precondition; returns its last state.
    pub fn delete(
        &mut self,
        kind: Kind,
        namespace: &str,
        name: &str,
        precondition: Option<&str>,
    ) -> Result<Value, ApiError> {
        let key = (kind, namespace.to_owned(), name.to_owned());
        let Some(old) = self.objects.get(&key) else {
            return Err(ApiError::not_found(kind, name));
        };
        if precondition.is_some_and(|rv| old["metadata"]["resourceVersion"].as_str() != Some(rv)) {
            return Err(ApiError::conflict(kind, name));
        }
        let mut object = self.objects.remove(&key).unwrap_or_default();
        self.rv += 1;
        object["metadata"]["resourceVersion"] = self.rv.to_string().into();
        self.record(kind, namespace, ChangeType::Deleted, &object, None);
        Ok(object)
    }
}

fn remove(object: &mut Value, field: &str) {
    if let Some(map) = object.as_object_mut() {
        map.remove(field);
    }
}

/// Sets `fields` of `object` to those of `old` (or removes them where `old` has none).
fn keep(object: &mut Value, old: &Value, fields: &[&str]) {
    for field in fields {
        match old.get(field) {
            Some(value) => object[*field] = value.clone(),
            None => remove(object, field),
        }
    }
}

/// Sets `kind`/`apiVersion`, refusing a body of another type.
fn check_type(kind: Kind, object: &mut Value) -> Result<(), ApiError> {
    if !object.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let sent_kind = object["kind"].as_str().unwrap_or_default();
    if (!api_version.is_empty() && api_version != kind.api_version())
        || (!sent_kind.is_empty() && sent_kind != kind.kind())
    {
        return Err(ApiError::bad_request(format!(
            "the object provided is of kind {sent_kind} in {api_version}, \
             not {} in {}",
            kind.kind(),
            kind.api_version()
        )));
    }
    object["apiVersion"] = kind.api_version().into();
    object["kind"] = kind.kind().into();
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    Ok(())
}

fn check_namespace(namespace: &str, object: &Value) -> Result<(), ApiError> {
    match object["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() && ns != namespace => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => Ok(()),
    }
}

/// A v4-shaped uid.
fn uid() -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u16(..0x1000),
        0x8000 | fastrand::u16(..0x4000),
        fastrand::u64(..1 << 48)
    )
}

/// The apiserver's `generateName` suffix alphabet (no vowels, no look-alikes).
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}
