//! Watch streams: a chunked response of newline-delimited watch events replayed from the
//! store's history after the requested resourceVersion, held open until `timeoutSeconds` (or
//! the fake's cap), a break, or the client going away. An expired resourceVersion gets what
//! the real apiserver sends: HTTP 200 and one `ERROR` event carrying a 410 `Expired` Status
//! (kube's watcher re-lists on that; an HTTP 410 would only make it retry the same watch).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Shared;
use super::kind::{ApiError, Kind};
use super::select::{FieldSelector, LabelSelector};
use super::store::{ChangeType, Inner};

/// What one watch request asked for.
struct Watch {
    kind: Kind,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    bookmarks: bool,
}

impl Watch {
    fn selects(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }

    fn line(kind: &str, object: &Value) -> Bytes {
        let mut line = json!({"type": kind, "object": object}).to_string();
        line.push('\n');
        Bytes::from(line)
    }

    fn bookmark(&self, rv: u64, annotations: Option<Value>) -> Bytes {
        let mut object = json!({
            "kind": self.kind.kind(),
            "apiVersion": self.kind.api_version(),
            "metadata": {"resourceVersion": rv.to_string()},
        });
        if let Some(annotations) = annotations {
            object["metadata"]["annotations"] = annotations;
        }
        Watch::line("BOOKMARK", &object)
    }

    /// The events for the changes after `cursor`, as this watch sees them: a selector turns a
    /// MODIFIED into an ADDED (object now selected) or a DELETED (no longer selected).
    fn events_since(&self, inner: &Inner, cursor: u64) -> Vec<Bytes> {
        let mut lines = Vec::new();
        for change in inner.changes_since(cursor) {
            if change.kind != self.kind
                || self
                    .namespace
                    .as_ref()
                    .is_some_and(|ns| *ns != change.namespace)
            {
                continue;
            }
            let now = self.selects(&change.object);
            let before = change.previous.as_ref().is_some_and(|p| self.selects(p));
            let event = match change.change {
                ChangeType::Added => now.then_some("ADDED"),
                ChangeType::Deleted => now.then_some("DELETED"),
                ChangeType::Modified => match (before, now) {
                    (true, true) => Some("MODIFIED"),
                    (false, true) => Some("ADDED"),
                    (true, false) => Some("DELETED"),
                    (false, false) => None,
                },
            };
            if let Some(event) = event {
                lines.push(Watch::line(event, &change.object));
            }
        }
        lines
    }
}

/// Counts an open stream for as long as it lives.
struct Open(Arc<Shared>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open_watches.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Answers `GET …?watch=true`.
pub(super) fn respond(
    shared: Arc<Shared>,
    kind: Kind,
    namespace: Option<String>,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let param = |key: &str| query.get(key).map(String::as_str).unwrap_or_default();
    let watch = Watch {
        kind,
        namespace,
        labels: LabelSelector::parse(param("labelSelector"))?,
        fields: FieldSelector::parse(param("fieldSelector"), kind)?,
        bookmarks: param("allowWatchBookmarks") == "true",
    };
    let send_initial = param("sendInitialEvents") == "true";
    let from = match param("resourceVersion") {
        "" | "0" => None,
        rv => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?,
        ),
    };
    let asked = match param("timeoutSeconds") {
        "" => Duration::from_secs(1800),
        secs => Duration::from_secs(
            secs.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {secs}")))?,
        ),
    };
    let timeout = asked.min(shared.watch_cap());
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    shared.open_watches.fetch_add(1, Ordering::SeqCst);
    let open = Open(Arc::clone(&shared));
    tokio::spawn(async move {
        let _open = open;
        stream(&shared, &watch, from, send_initial, timeout, &tx).await;
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok::<_, Infallible>(line), rx))
    }));
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

async fn send_all(tx: &mpsc::Sender<Bytes>, lines: Vec<Bytes>) -> bool {
    for line in lines {
        if tx.send(line).await.is_err() {
            return false;
        }
    }
    true
}

async fn stream(
    shared: &Shared,
    watch: &Watch,
    from: Option<u64>,
    send_initial: bool,
    timeout: Duration,
    tx: &mpsc::Sender<Bytes>,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    // A new receiver has seen the current value: only later writes wake it.
    let mut signal = shared.store.subscribe();
    let start = shared.store.with(|inner| {
        if let Some(rv) = from.filter(|rv| *rv < inner.oldest) {
            let status = ApiError::expired(rv, inner.oldest).status();
            return Err(Watch::line("ERROR", &status));
        }
        let mut lines = Vec::new();
        let cursor = match from {
            Some(rv) => rv,
            None => {
                // No resourceVersion (or "0"): synthetic ADDED events for what exists now.
                let matching = inner.list(watch.kind, watch.namespace.as_deref());
                for object in matching.filter(|o| watch.selects(o)) {
                    lines.push(Watch::line("ADDED", object));
                }
                inner.rv
            }
        };
        if send_initial && watch.bookmarks {
            let end = json!({"k8s.io/initial-events-end": "true"});
            lines.push(watch.bookmark(inner.rv, Some(end)));
        }
        Ok((lines, cursor, inner.epoch))
    });
    let (lines, mut cursor, epoch) = match start {
        Ok(start) => start,
        Err(error) => {
            let _ = tx.send(error).await;
            return;
        }
    };
    if !send_all(tx, lines).await {
        return;
    }
    loop {
        let (lines, rv, broken) = shared.store.with(|inner| {
            (
                watch.events_since(inner, cursor),
                inner.rv,
                inner.epoch != epoch,
            )
        });
        if broken {
            return;
        }
        cursor = rv;
        if !send_all(tx, lines).await {
            return;
        }
        tokio::select! {
            changed = signal.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep_until(deadline) => break,
            () = tx.closed() => return,
        }
    }
    // Timed out: flush what happened meanwhile, then a bookmark like the apiserver sends
    // just before a watch ends, so the client resumes from a fresh resourceVersion.
    let (mut lines, rv) = shared
        .store
        .with(|inner| (watch.events_since(inner, cursor), inner.rv));
    if watch.bookmarks {
        lines.push(watch.bookmark(rv, None));
    }
    send_all(tx, lines).await;
}
