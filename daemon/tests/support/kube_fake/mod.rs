//! A fake Kubernetes API server for the rollout guard's tests: real Kubernetes JSON over
//! HTTP on `127.0.0.1:0`, for the real `kube` client.
//!
//! It serves, namespaced (lists and watches also cluster-wide): `apps/v1` deployments and
//! replicasets, `v1` secrets, events and pods, `events.k8s.io/v1` events,
//! `coordination.k8s.io/v1` leases and `metrics.k8s.io/v1beta1` pods: GET, LIST (label and
//! field selectors), WATCH (`resourceVersion`, `timeoutSeconds`, `allowWatchBookmarks`,
//! `sendInitialEvents`), POST, PUT, PATCH (merge, strategic as merge, apply), DELETE, and the
//! `/status` subresource of deployments, replicasets and pods. One global resourceVersion
//! counter; `uid`, `creationTimestamp` and `generation` kept as the apiserver keeps them;
//! errors as `Status` objects; a bearer token required.
//!
//! On top: a deployment-controller simulator ([`KubeFake::start_rollout`] …), Helm 3 release
//! Secrets and `helm rollback` ([`KubeFake::put_helm_release`] …), a stub `helm` executable
//! ([`write_stub_helm`]), and faults ([`KubeFake::break_watches`],
//! [`KubeFake::expire_resource_versions`]).
//!
//! Not modelled: admission, RBAC, discovery, server-side apply field ownership (apply is a
//! merge), strategic-merge list keys (a strategic patch replaces lists), finalizers and
//! garbage collection, pagination (`limit` is ignored and no `continue` is returned), the
//! shared storage of `v1` and `events.k8s.io/v1` Events.

mod helm;
mod kind;
mod rollout;
mod select;
mod server;
mod store;
mod validate;
mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;

// The fake's API: not every test binary that includes `support` uses all of it.
#[allow(unused_imports)]
pub use helm::{
    RELEASE_TYPE, decode_release, decode_release_secret, encode_release, release_json,
    release_secret, secret_name, with_tag,
};
pub use kind::Kind;
#[allow(unused_imports)]
pub use rollout::{REVISION, condition, deployment, template_hash};
use store::{Store, Write};

/// One request as the fake received it. The token itself is never kept.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// Whether an `Authorization` header was sent.
    pub authorization: bool,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
}

impl RecordedRequest {
    /// The first value of a query parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a watch (`?watch=true|1`).
    pub fn is_watch(&self) -> bool {
        matches!(self.param("watch"), Some("true" | "1"))
    }

    /// Whether this is a LIST of the collection at `path` (a GET that is not a watch).
    pub fn is_list_of(&self, path: &str) -> bool {
        self.method == "GET" && self.path == path && !self.is_watch()
    }
}

/// State shared by the server tasks and the test's handle.
pub(super) struct Shared {
    store: Store,
    token: String,
    requests: Mutex<Vec<RecordedRequest>>,
    watch_cap_ms: AtomicU64,
    open_watches: AtomicUsize,
}

impl Shared {
    fn lock_requests(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn watch_cap(&self) -> Duration {
        Duration::from_millis(self.watch_cap_ms.load(Ordering::SeqCst))
    }
}

/// The fake API server. It stops when the test's runtime does (its tasks live there).
pub struct KubeFake {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl KubeFake {
    /// Binds `127.0.0.1:0` and serves.
    pub async fn start() -> KubeFake {
        let shared = Arc::new(Shared {
            store: Store::new(),
            token: format!("kube-fake-{:016x}", fastrand::u64(..)),
            requests: Mutex::new(Vec::new()),
            watch_cap_ms: AtomicU64::new(u64::MAX),
            open_watches: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("kube fake: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("kube fake: local address");
        let app = server::router(Arc::clone(&shared));
        tokio::spawn(async move { axum::serve(listener, app).await });
        KubeFake { addr, shared }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bearer token the fake accepts (tests must not log it either).
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// A kubeconfig (YAML) for the fake: bearer token, namespace `default`.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-fake\n  cluster:\n    \
             server: {url}\ncontexts:\n- name: kube-fake\n  context:\n    cluster: kube-fake\n    \
             user: kube-fake\n    namespace: default\ncurrent-context: kube-fake\nusers:\n\
             - name: kube-fake\n  user:\n    token: {token}\n",
            url = self.url(),
            token = self.shared.token,
        )
    }

    /// Writes `<dir>/kubeconfig` and returns its path.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        std::fs::write(&path, self.kubeconfig_yaml()).expect("kube fake: write kubeconfig");
        path
    }

    /// A real `kube::Client` from the kubeconfig (installs the ring provider if none is).
    pub async fn client(&self) -> kube::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let kubeconfig =
            kube::config::Kubeconfig::from_yaml(&self.kubeconfig_yaml()).expect("kubeconfig");
        let options = kube::config::KubeConfigOptions::default();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .expect("kube config from the fake's kubeconfig");
        kube::Client::try_from(config).expect("kube client")
    }

    /// Creates or replaces any supported object as given (status included), like the
    /// controllers and the test together: resourceVersion moves, `generation` moves when the
    /// spec changes (Deployments, ReplicaSets), watches get ADDED or MODIFIED. The namespace
    /// is `metadata.namespace` or `default`. Returns the stored object.
    pub fn apply(&self, object: Value) -> Value {
        let kind = Kind::of(
            object["apiVersion"].as_str().unwrap_or_default(),
            object["kind"].as_str().unwrap_or_default(),
        )
        .unwrap_or_else(|| panic!("kube fake: unsupported object {object}"));
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.shared
            .store
            .with(|inner| inner.update(kind, &namespace, &name, object, Write::Force))
            .unwrap_or_else(|e| panic!("kube fake: apply: {}", e.message))
    }

    /// One object as stored (with `kind` and `apiVersion`).
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        self.shared
            .store
            .with(|inner| inner.get(kind, namespace, name).cloned())
    }

    /// The objects of a kind in a namespace, by name.
    pub fn list(&self, kind: Kind, namespace: &str) -> Vec<Value> {
        self.shared
            .store
            .with(|inner| inner.list(kind, Some(namespace)).cloned().collect())
    }

    /// Deletes an object (watches get DELETED); returns its last state.
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        self.shared
            .store
            .with(|inner| inner.delete(kind, namespace, name, None).ok())
    }

    /// Every Event of both API groups (`v1` and `events.k8s.io/v1`), all namespaces, in the
    /// order of their last write.
    pub fn events(&self) -> Vec<Value> {
        let mut events: Vec<Value> = self.shared.store.with(|inner| {
            inner
                .list(Kind::CoreEvent, None)
                .chain(inner.list(Kind::Event, None))
                .cloned()
                .collect()
        });
        events.sort_by_key(|e| {
            e["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|rv| rv.parse::<u64>().ok())
        });
        events
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock_requests().clone()
    }

    /// The last resourceVersion handed out.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.with(|inner| inner.rv)
    }

    /// Watch streams open right now.
    pub fn open_watches(&self) -> usize {
        self.shared.open_watches.load(Ordering::SeqCst)
    }

    /// Ends every open watch stream cleanly (clients resume from their last resourceVersion).
    pub fn break_watches(&self) {
        self.shared.store.with(|inner| inner.epoch += 1);
    }

    /// Compacts the history: a watch from any resourceVersion handed out so far gets an
    /// `ERROR` event with a 410 `Expired` Status (so a client must re-list). Open streams are
    /// not affected; combine with [`KubeFake::break_watches`].
    pub fn expire_resource_versions(&self) {
        self.shared.store.with(store::Inner::expire);
    }

    /// Caps every watch's `timeoutSeconds` (kube asks for 290 s) so that tests see watches
    /// end, with their closing bookmark, quickly.
    pub fn cap_watch_timeout(&self, cap: Duration) {
        let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        self.shared.watch_cap_ms.store(millis, Ordering::SeqCst);
    }

    /// A rolled-out Deployment ([`deployment`] at revision 1) plus its ReplicaSet.
    pub fn create_deployment(
        &self,
        namespace: &str,
        name: &str,
        replicas: i64,
        image: &str,
    ) -> Value {
        rollout::create_deployment(&self.shared.store, namespace, name, replicas, image)
    }

    /// Sets the Deployment's status counts (and conditions of the same types, when given)
    /// through the status subresource, as the controller does; returns the Deployment.
    #[allow(clippy::too_many_arguments)]
    pub fn set_rollout_progress(
        &self,
        namespace: &str,
        name: &str,
        updated: i64,
        ready: i64,
        available: i64,
        observed_generation: i64,
        conditions: &[Value],
    ) -> Value {
        rollout::set_progress(
            &self.shared.store,
            namespace,
            name,
            updated,
            ready,
            available,
            observed_generation,
            conditions,
        )
    }

    /// Changes the Deployment's image and plays the controller's first writes (generation,
    /// new ReplicaSet, revision annotation, `Progressing` / `ReplicaSetUpdated`). Returns the
    /// new revision.
    pub fn start_rollout(&self, namespace: &str, name: &str, image: &str) -> u64 {
        rollout::start_rollout(&self.shared.store, namespace, name, image)
    }

    /// Completes the current rollout (all replicas updated, ready, available; `Progressing` /
    /// `NewReplicaSetAvailable`; old ReplicaSets at zero). Returns the Deployment.
    pub fn finish_rollout(&self, namespace: &str, name: &str) -> Value {
        rollout::finish_rollout(&self.shared.store, namespace, name)
    }

    /// Fails the current rollout (`Progressing` = False / `ProgressDeadlineExceeded`).
    /// Returns the Deployment.
    pub fn fail_rollout(&self, namespace: &str, name: &str) -> Value {
        rollout::fail_rollout(&self.shared.store, namespace, name)
    }

    /// Writes a Helm 3 release record (Secret `sh.helm.release.v1.<release>.v<revision>`).
    /// Returns the Secret.
    #[allow(clippy::too_many_arguments)]
    pub fn put_helm_release(
        &self,
        namespace: &str,
        release: &str,
        revision: u64,
        status: &str,
        chart_version: &str,
        app_version: &str,
        description: &str,
    ) -> Value {
        helm::put_release(
            &self.shared.store,
            namespace,
            release,
            revision,
            status,
            chart_version,
            app_version,
            description,
        )
    }

    /// A release record, decoded.
    pub fn helm_release(&self, namespace: &str, release: &str, revision: u64) -> Option<Value> {
        helm::get_release(&self.shared.store, namespace, release, revision)
    }

    /// What `helm rollback <release> <to_revision>` does to storage and to the Deployment
    /// named like the release. Returns the new revision, or Helm's error message.
    pub fn helm_rollback(
        &self,
        namespace: &str,
        release: &str,
        to_revision: u64,
    ) -> Result<u64, String> {
        helm::rollback(&self.shared.store, namespace, release, to_revision)
    }
}

/// Writes the stub `helm` into `dir` for `fake` (see `helm::write_stub`). The stub calls the
/// fake over HTTP: run it where the fake's runtime can serve meanwhile (a multi-thread
/// runtime, or `spawn_blocking` / `tokio::process`).
pub fn write_stub_helm(dir: &Path, fake: &KubeFake) -> PathBuf {
    helm::write_stub(dir, &fake.url())
}

/// The argv of every stub `helm` call so far (from `<dir>/helm-calls.log`).
pub fn helm_calls(dir: &Path) -> Vec<Vec<String>> {
    helm::calls(dir)
}
