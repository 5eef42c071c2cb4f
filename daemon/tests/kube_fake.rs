//! The kube fake (`tests/support/kube_fake`) against the real kube 5 client: every call the
//! rollout guard will make (deployments get/list/patch/watch, the runtime watcher across a
//! re-watch and a 410, Helm release Secrets, the events Recorder, Lease compare-and-swap) and
//! the stub `helm`. Waits poll with generous bounds; nothing depends on timing luck.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::Status;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use support::kube_fake::{self, Kind, KubeFake};

/// Polls `check` every 20 ms for up to 30 s.
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn api_status(result: Result<impl std::fmt::Debug, kube::Error>) -> Box<Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn revision(d: &Deployment) -> String {
    d.annotations()
        .get(kube_fake::REVISION)
        .cloned()
        .unwrap_or_default()
}

fn image(d: &Deployment) -> String {
    let spec = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    spec.containers[0].image.clone().unwrap()
}

fn observed(d: &Deployment) -> i64 {
    d.status
        .as_ref()
        .and_then(|s| s.observed_generation)
        .unwrap_or(0)
}

fn progressing_reason(d: &Deployment) -> String {
    d.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Progressing"))
        .and_then(|c| c.reason.clone())
        .unwrap_or_default()
}

/// Done with everything the rollout asked: the guard's "rollout complete".
fn complete(d: &Deployment) -> bool {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = d.status.clone().unwrap_or_default();
    observed(d) == d.metadata.generation.unwrap_or(0)
        && status.updated_replicas == Some(want)
        && status.ready_replicas == Some(want)
        && status.available_replicas == Some(want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_get_list_patch_replace_as_the_apiserver_does() {
    let fake = KubeFake::start().await;
    fake.create_deployment("godel", "godel", 3, "registry.local:5000/godel:1.4.0");
    fake.apply(kube_fake::deployment("godel", "redis", 1, "redis:7", 1));
    let client = fake.client().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "godel");

    let godel = api.get("godel").await.unwrap();
    assert_eq!(godel.metadata.generation, Some(1));
    assert_eq!(revision(&godel), "1");
    assert_eq!(image(&godel), "registry.local:5000/godel:1.4.0");
    assert!(complete(&godel), "{godel:?}");
    assert_eq!(progressing_reason(&godel), "NewReplicaSetAvailable");
    assert!(godel.metadata.uid.is_some() && godel.metadata.creation_timestamp.is_some());
    let rv: u64 = godel.resource_version().unwrap().parse().unwrap();

    let by_label = api
        .list(&ListParams::default().labels("app=godel"))
        .await
        .unwrap();
    assert_eq!(
        by_label
            .items
            .iter()
            .map(|d| d.name_any())
            .collect::<Vec<_>>(),
        ["godel"]
    );
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=redis"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    assert_eq!(by_name.items[0].name_any(), "redis");
    let all = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 2);
    let list_rv: u64 = all.metadata.resource_version.unwrap().parse().unwrap();
    assert!(list_rv >= rv);
    let everywhere: Api<Deployment> = Api::all(client.clone());
    assert_eq!(
        everywhere
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    let rs: Api<ReplicaSet> = Api::namespaced(client.clone(), "godel");
    let sets = rs
        .list(&ListParams::default().labels("app=godel"))
        .await
        .unwrap();
    assert_eq!(sets.items.len(), 1);
    assert_eq!(
        sets.items[0].owner_references()[0].uid,
        godel.uid().unwrap()
    );

    // A spec change moves generation; the status in a main-resource patch is ignored.
    let patched = api
        .patch(
            "godel",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}, "status": {"replicas": 99}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.generation, Some(2));
    assert_eq!(patched.status.as_ref().unwrap().replicas, Some(3));
    assert!(patched.resource_version().unwrap().parse::<u64>().unwrap() > list_rv);
    // Annotations move a Deployment's generation too (upstream strategy); null deletes.
    let annotated = api
        .patch(
            "godel",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"team": "godel"}}})),
        )
        .await
        .unwrap();
    assert_eq!(annotated.metadata.generation, Some(3));
    let removed = api
        .patch(
            "godel",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"annotations": {"team": null}}})),
        )
        .await
        .unwrap();
    assert!(!removed.annotations().contains_key("team"));
    // A write that changes nothing keeps the resourceVersion.
    let same = api
        .patch(
            "godel",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(same.resource_version(), removed.resource_version());

    // PUT: optimistic concurrency on the resourceVersion sent.
    let mut stale = godel.clone();
    stale.spec.as_mut().unwrap().replicas = Some(1);
    let conflict = api_status(api.replace("godel", &PostParams::default(), &stale).await);
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    let mut fresh = api.get("godel").await.unwrap();
    fresh.spec.as_mut().unwrap().replicas = Some(2);
    let replaced = api
        .replace("godel", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_eq!(replaced.spec.unwrap().replicas, Some(2));
    assert_eq!(
        fake.get(Kind::Deployment, "godel", "godel").unwrap()["spec"]["replicas"],
        2
    );

    let missing = api_status(api.get("nope").await);
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "deployments.apps \"nope\" not found");
    let bad_field = api_status(
        api.list(&ListParams::default().fields("spec.replicas=1"))
            .await,
    );
    assert_eq!(bad_field.code, 400);

    let requests = fake.requests();
    assert!(requests.iter().all(|r| r.authorization), "{requests:?}");
    assert!(requests.iter().any(|r| r.method == "PATCH"
        && r.content_type.as_deref() == Some("application/merge-patch+json")));
    assert!(
        requests
            .iter()
            .any(|r| r.param("fieldSelector") == Some("metadata.name=redis"))
    );

    // The wire format, read without kube: list items carry no kind; no token → 401 Status.
    let http = reqwest::Client::new();
    let url = format!("{}/apis/apps/v1/namespaces/godel/deployments", fake.url());
    let list = http
        .get(&url)
        .bearer_auth(fake.token())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(
        (list["kind"].as_str(), list["apiVersion"].as_str()),
        (Some("DeploymentList"), Some("apps/v1"))
    );
    assert!(list["metadata"]["resourceVersion"].is_string());
    assert!(list["items"][0].get("kind").is_none());
    let denied = http.get(&url).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    let status: Value = serde_json::from_str(&denied.text().await.unwrap()).unwrap();
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_watch_sees_added_then_modified_then_a_closing_bookmark() {
    let fake = KubeFake::start().await;
    let api: Api<Deployment> = Api::namespaced(fake.client().await, "godel");
    let from = fake.resource_version().to_string();
    let params = WatchParams::default()
        .fields("metadata.name=godel")
        .timeout(3);
    let mut stream = api.watch(&params, &from).await.unwrap().boxed();

    fake.create_deployment("godel", "godel", 2, "godel:1.0.0");
    assert_eq!(fake.start_rollout("godel", "godel", "godel:1.1.0"), 2);
    fake.finish_rollout("godel", "godel");

    let mut seen = Vec::new();
    let collected = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = stream.next().await {
            seen.push(event.unwrap());
        }
    })
    .await;
    assert!(
        collected.is_ok(),
        "the watch did not end at its timeoutSeconds"
    );
    let kinds: Vec<&str> = seen
        .iter()
        .map(|e| match e {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            WatchEvent::Bookmark(_) => "BOOKMARK",
            WatchEvent::Error(_) => "ERROR",
        })
        .collect();
    // Created; the user's image change; the controller's status write (revision,
    // observedGeneration); the finished rollout; the bookmark before the watch ends.
    assert_eq!(
        kinds,
        ["ADDED", "MODIFIED", "MODIFIED", "MODIFIED", "BOOKMARK"],
        "{seen:?}"
    );
    let WatchEvent::Modified(user_write) = &seen[1] else {
        unreachable!()
    };
    assert_eq!(
        (user_write.metadata.generation, observed(user_write)),
        (Some(2), 1)
    );
    assert_eq!(revision(user_write), "1");
    let WatchEvent::Modified(controller) = &seen[2] else {
        unreachable!()
    };
    assert_eq!(
        (revision(controller), observed(controller)),
        ("2".into(), 2)
    );
    assert_eq!(progressing_reason(controller), "ReplicaSetUpdated");
    let WatchEvent::Modified(done) = &seen[3] else {
        unreachable!()
    };
    assert!(complete(done));
    assert_eq!(progressing_reason(done), "NewReplicaSetAvailable");
    let WatchEvent::Bookmark(bookmark) = &seen[4] else {
        unreachable!()
    };
    assert_eq!(
        bookmark.metadata.resource_version,
        fake.resource_version().to_string()
    );
    let watch = fake.requests().into_iter().find(|r| r.is_watch()).unwrap();
    assert_eq!(watch.param("timeoutSeconds"), Some("3"));
    assert_eq!(watch.param("allowWatchBookmarks"), Some("true"));
    assert_eq!(watch.param("resourceVersion"), Some(from.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollout_simulator_steps_fails_and_writes_status_through_the_subresource() {
    let fake = KubeFake::start().await;
    fake.create_deployment("godel", "godel", 4, "godel:1.0.0");
    let api: Api<Deployment> = Api::namespaced(fake.client().await, "godel");
    assert_eq!(fake.start_rollout("godel", "godel", "godel:1.1.0"), 2);
    let stepped = fake.set_rollout_progress("godel", "godel", 2, 3, 3, 2, &[]);
    assert_eq!(stepped["status"]["unavailableReplicas"], 1);
    let midway = api.get("godel").await.unwrap();
    assert_eq!(
        (observed(&midway), midway.metadata.generation),
        (2, Some(2))
    );
    assert_eq!(midway.status.as_ref().unwrap().updated_replicas, Some(2));
    assert!(!complete(&midway));

    fake.fail_rollout("godel", "godel");
    let failed = api.get("godel").await.unwrap();
    assert_eq!(progressing_reason(&failed), "ProgressDeadlineExceeded");
    let progressing = failed.status.as_ref().unwrap().conditions.as_ref().unwrap();
    let progressing = progressing
        .iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(progressing.status, "False");
    assert!(
        progressing
            .message
            .as_ref()
            .unwrap()
            .ends_with("has timed out progressing.")
    );
    assert_eq!(failed.status.as_ref().unwrap().available_replicas, Some(4));
    // The new ReplicaSet (revision 2, one pod not ready) and the old one, both owned.
    let sets = fake.list(Kind::ReplicaSet, "godel");
    assert_eq!(sets.len(), 2);
    let new = sets
        .iter()
        .find(|rs| rs["metadata"]["annotations"][kube_fake::REVISION] == "2")
        .unwrap();
    assert_eq!(
        (
            new["status"]["replicas"].as_i64(),
            new["status"]["readyReplicas"].as_i64()
        ),
        (Some(1), Some(0))
    );

    // A rollback to the old template re-uses (and re-numbers) the old ReplicaSet.
    assert_eq!(fake.start_rollout("godel", "godel", "godel:1.0.0"), 3);
    let sets = fake.list(Kind::ReplicaSet, "godel");
    assert_eq!(sets.len(), 2);
    let old = sets
        .iter()
        .find(|rs| rs["metadata"]["annotations"][kube_fake::REVISION] == "3")
        .unwrap();
    assert_eq!(
        old["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "1"
    );

    // The status subresource takes status and ignores spec; no generation move.
    let params = PatchParams::default();
    let patch = Patch::Merge(json!({"spec": {"replicas": 100}, "status": {"readyReplicas": 1}}));
    let written = api.patch_status("godel", &params, &patch).await.unwrap();
    assert_eq!(written.spec.as_ref().unwrap().replicas, Some(4));
    assert_eq!(written.status.as_ref().unwrap().ready_replicas, Some(1));
    assert_eq!(written.metadata.generation, Some(3));
}

/// What the runtime watcher yielded, in order.
#[derive(Clone, Debug)]
enum Seen {
    Init,
    InitApply(Box<Deployment>),
    InitDone,
    Apply(Box<Deployment>),
    Delete,
    Error(u16),
}

fn latest(seen: &[Seen]) -> Option<Deployment> {
    seen.iter().rev().find_map(|s| match s {
        Seen::Apply(d) | Seen::InitApply(d) => Some((**d).clone()),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_watcher_follows_a_rollout_across_a_rewatch_and_a_410() {
    let fake = KubeFake::start().await;
    fake.create_deployment("godel", "godel", 3, "godel:1.0.0");
    let api: Api<Deployment> = Api::namespaced(fake.client().await, "godel");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let config = watcher::Config::default().fields("metadata.name=godel");
    let task = tokio::spawn(async move {
        let mut stream = watcher(api, config).boxed();
        while let Some(item) = stream.next().await {
            let seen = match item {
                Ok(watcher::Event::Init) => Seen::Init,
                Ok(watcher::Event::InitApply(d)) => Seen::InitApply(Box::new(d)),
                Ok(watcher::Event::InitDone) => Seen::InitDone,
                Ok(watcher::Event::Apply(d)) => Seen::Apply(Box::new(d)),
                Ok(watcher::Event::Delete(_)) => Seen::Delete,
                Err(watcher::Error::WatchError(status)) => Seen::Error(status.code),
                Err(_) => Seen::Error(0),
            };
            sink.lock().unwrap().push(seen);
        }
    });
    let snapshot = || seen.lock().unwrap().clone();
    let lists = || {
        let path = "/apis/apps/v1/namespaces/godel/deployments";
        fake.requests()
            .iter()
            .filter(|r| r.is_list_of(path))
            .count()
    };
    let watches = || fake.requests().iter().filter(|r| r.is_watch()).count();

    eventually("the initial list", || {
        matches!(
            snapshot().as_slice(),
            [Seen::Init, Seen::InitApply(_), Seen::InitDone]
        )
        .then_some(())
    })
    .await;
    eventually("the watch", || (fake.open_watches() == 1).then_some(())).await;
    // kube 5's watcher: a paged list of the most recent state, then watches of 290 s with
    // bookmarks from the list's resourceVersion.
    let requests = fake.requests();
    let list = requests
        .iter()
        .find(|r| r.method == "GET" && !r.is_watch())
        .unwrap();
    assert_eq!(
        (list.param("limit"), list.param("resourceVersion")),
        (Some("500"), None)
    );
    let watch = requests.iter().find(|r| r.is_watch()).unwrap();
    assert_eq!(watch.param("timeoutSeconds"), Some("290"));
    assert_eq!(watch.param("allowWatchBookmarks"), Some("true"));

    // Rollout start: the user's write (generation ahead of observedGeneration), then the
    // controller's (revision 2 observed).
    fake.start_rollout("godel", "godel", "godel:1.1.0");
    let started = eventually("the rollout start", || {
        latest(&snapshot()).filter(|d| revision(d) == "2" && observed(d) == 2)
    })
    .await;
    assert_eq!(progressing_reason(&started), "ReplicaSetUpdated");
    assert!(snapshot().iter().any(|s| matches!(s,
        Seen::Apply(d) if d.metadata.generation == Some(2) && observed(d) == 1)));

    // A broken watch resumes from the last resourceVersion, without a re-list.
    let (lists_before, watches_before) = (lists(), watches());
    let last_rv = started.resource_version().unwrap();
    fake.break_watches();
    eventually("the re-watch", || {
        (watches() > watches_before).then_some(())
    })
    .await;
    let rewatch = fake.requests().into_iter().rfind(|r| r.is_watch()).unwrap();
    assert_eq!(rewatch.param("resourceVersion"), Some(last_rv.as_str()));
    fake.finish_rollout("godel", "godel");
    eventually("the finished rollout", || {
        latest(&snapshot()).filter(complete)
    })
    .await;
    assert_eq!(lists(), lists_before);

    // Changes while the watch is down, then the history compacted: whichever way the
    // reconnect races, a watch from an old resourceVersion gets 410 and the watcher re-lists.
    fake.break_watches();
    fake.start_rollout("godel", "godel", "godel:1.2.0");
    fake.finish_rollout("godel", "godel");
    fake.expire_resource_versions();
    fake.break_watches();
    eventually("the 410", || {
        snapshot()
            .iter()
            .any(|s| matches!(s, Seen::Error(410)))
            .then_some(())
    })
    .await;
    let last = eventually("the final state after the re-list", || {
        latest(&snapshot()).filter(|d| complete(d) && image(d) == "godel:1.2.0")
    })
    .await;
    assert_eq!(revision(&last), "3");
    assert!(lists() > lists_before);
    let after_410 = snapshot()
        .into_iter()
        .skip_while(|s| !matches!(s, Seen::Error(410)))
        .collect::<Vec<_>>();
    assert!(
        matches!(after_410.get(1), Some(Seen::Init)),
        "{after_410:?}"
    );
    assert!(
        !snapshot()
            .iter()
            .any(|s| matches!(s, Seen::Delete | Seen::Error(0)))
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_list_watcher_gets_initial_events_and_their_end_bookmark() {
    let fake = KubeFake::start().await;
    fake.create_deployment("godel", "godel", 1, "godel:1.0.0");
    let api: Api<Deployment> = Api::namespaced(fake.client().await, "godel");
    let mut stream = watcher(api, watcher::Config::default().streaming_lists()).boxed();
    let mut first = Vec::new();
    for _ in 0..3 {
        let event = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .unwrap();
        first.push(event.unwrap().unwrap());
    }
    assert!(matches!(first.as_slice(),
        [watcher::Event::Init, watcher::Event::InitApply(d), watcher::Event::InitDone]
        if d.name_any() == "godel"));
    let watch = fake.requests().into_iter().find(|r| r.is_watch()).unwrap();
    assert_eq!(watch.param("sendInitialEvents"), Some("true"));
    assert_eq!(watch.param("resourceVersionMatch"), Some("NotOlderThan"));
}

/// Helm's two decodings, done here by hand: base64, gunzip.
fn decode_by_hand(secret: &Secret) -> Value {
    let helm_b64 = &secret.data.as_ref().unwrap()["release"].0;
    let gzip = base64::engine::general_purpose::STANDARD
        .decode(helm_b64)
        .unwrap();
    let mut json = String::new();
    flate2::read::GzDecoder::new(gzip.as_slice())
        .read_to_string(&mut json)
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_release_secrets_list_decode_and_roll_back() {
    let fake = KubeFake::start().await;
    fake.create_deployment("godel", "godel", 2, "registry.local:5000/godel:1.4.0");
    fake.put_helm_release(
        "godel",
        "godel",
        1,
        "superseded",
        "0.3.0",
        "1.3.0",
        "Install complete",
    );
    fake.put_helm_release(
        "godel",
        "godel",
        2,
        "deployed",
        "0.4.0",
        "1.4.0",
        "Upgrade complete",
    );
    fake.put_helm_release(
        "godel",
        "redis",
        1,
        "deployed",
        "19.0.0",
        "7.2",
        "Install complete",
    );
    let client = fake.client().await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "godel");
    let names = |list: kube::core::ObjectList<Secret>| {
        list.items
            .iter()
            .map(ResourceExt::name_any)
            .collect::<Vec<_>>()
    };

    let godel = secrets
        .list(&ListParams::default().labels("owner=helm,name=godel"))
        .await
        .unwrap();
    assert_eq!(
        names(godel.clone()),
        ["sh.helm.release.v1.godel.v1", "sh.helm.release.v1.godel.v2"]
    );
    let v2 = &godel.items[1];
    assert_eq!(v2.type_.as_deref(), Some("helm.sh/release.v1"));
    let labels = v2.labels();
    assert_eq!(
        ["owner", "name", "status", "version"].map(|k| labels[k].as_str()),
        ["helm", "godel", "deployed", "2"]
    );
    let release = decode_by_hand(v2);
    assert_eq!(
        (release["name"].as_str(), release["namespace"].as_str()),
        (Some("godel"), Some("godel"))
    );
    assert_eq!(release["version"], 2);
    assert_eq!(release["info"]["status"], "deployed");
    assert_eq!(release["info"]["description"], "Upgrade complete");
    assert_eq!(release["chart"]["metadata"]["version"], "0.4.0");
    assert_eq!(release["chart"]["metadata"]["appVersion"], "1.4.0");
    assert_eq!(fake.helm_release("godel", "godel", 2).unwrap(), release);

    // The selector grammar: set-based, inequality, and the Secret's `type` field.
    let selected = |labels: &'static str| {
        let secrets = secrets.clone();
        async move {
            names(
                secrets
                    .list(&ListParams::default().labels(labels))
                    .await
                    .unwrap(),
            )
        }
    };
    assert_eq!(
        selected("owner=helm,name=godel,status=deployed").await,
        ["sh.helm.release.v1.godel.v2"]
    );
    assert_eq!(
        selected("name in (godel, redis),status notin (superseded)")
            .await
            .len(),
        2
    );
    assert_eq!(
        selected("owner=helm,name!=godel").await,
        ["sh.helm.release.v1.redis.v1"]
    );
    let typed = secrets
        .list(&ListParams::default().fields("type=helm.sh/release.v1"))
        .await
        .unwrap();
    assert_eq!(typed.items.len(), 3);

    // Watching "the deployed revision": a rollback moves it from v2 to v3.
    let from = fake.resource_version().to_string();
    let params = WatchParams::default()
        .labels("owner=helm,name=godel,status=deployed")
        .timeout(290);
    let mut deployed = secrets.watch(&params, &from).await.unwrap().boxed();

    assert_eq!(fake.helm_rollback("godel", "godel", 1), Ok(3));
    let v3 = fake.helm_release("godel", "godel", 3).unwrap();
    assert_eq!(v3["info"]["status"], "deployed");
    assert_eq!(v3["info"]["description"], "Rollback to 1");
    assert_eq!(v3["chart"]["metadata"]["version"], "0.3.0");
    assert_eq!(
        v3["info"]["first_deployed"],
        fake.helm_release("godel", "godel", 1).unwrap()["info"]["first_deployed"]
    );
    assert_eq!(
        fake.helm_release("godel", "godel", 2).unwrap()["info"]["status"],
        "superseded"
    );
    assert_eq!(
        fake.helm_release("godel", "godel", 1).unwrap()["info"]["status"],
        "superseded"
    );
    let secret = fake
        .get(Kind::Secret, "godel", "sh.helm.release.v1.godel.v2")
        .unwrap();
    assert_eq!(secret["metadata"]["labels"]["status"], "superseded");
    assert!(secret["metadata"]["labels"]["modifiedAt"].is_string());
    // …and the Deployment rolls back to the image of revision 1's appVersion.
    let deployment: Deployment =
        serde_json::from_value(fake.get(Kind::Deployment, "godel", "godel").unwrap()).unwrap();
    assert_eq!(image(&deployment), "registry.local:5000/godel:1.3.0");
    assert_eq!(
        (revision(&deployment), deployment.metadata.generation),
        ("2".into(), Some(2))
    );

    let mut moves = Vec::new();
    while moves.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(30), deployed.next())
            .await
            .unwrap();
        match event.unwrap().unwrap() {
            WatchEvent::Added(s) => moves.push(format!("ADDED {}", s.name_any())),
            WatchEvent::Deleted(s) => moves.push(format!("DELETED {}", s.name_any())),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        moves,
        [
            "DELETED sh.helm.release.v1.godel.v2",
            "ADDED sh.helm.release.v1.godel.v3"
        ]
    );

    assert_eq!(
        fake.helm_rollback("godel", "godel", 9),
        Err("release has no 9 version".into())
    );
    assert_eq!(
        fake.helm_rollback("godel", "absent", 1),
        Err("release: not found".into())
    );

    // Plain Secret CRUD through kube.
    let plain = Secret {
        metadata: ObjectMeta {
            name: Some("token".into()),
            ..ObjectMeta::default()
        },
        string_data: None,
        data: Some([("k".to_owned(), k8s_openapi::ByteString(b"v1".to_vec()))].into()),
        ..Secret::default()
    };
    let created = secrets
        .create(&PostParams::default(), &plain)
        .await
        .unwrap();
    let again = api_status(secrets.create(&PostParams::default(), &plain).await);
    assert_eq!((again.code, again.reason.as_str()), (409, "AlreadyExists"));
    let mut changed = created.clone();
    changed.data = Some([("k".to_owned(), k8s_openapi::ByteString(b"v2".to_vec()))].into());
    let replaced = secrets
        .replace("token", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_eq!(replaced.data.unwrap()["k"].0, b"v2");
    let deleted = secrets
        .delete("token", &DeleteParams::default())
        .await
        .unwrap();
    assert!(deleted.is_left());
    assert!(fake.get(Kind::Secret, "godel", "token").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_recorder_lands_events_and_repeats_them_as_a_series() {
    let fake = KubeFake::start().await;
    fake.create_deployment("godel", "godel", 1, "godel:1.0.0");
    let client = fake.client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "godel");
    let reference = deployments.get("godel").await.unwrap().object_ref(&());
    let reporter = Reporter {
        controller: "godel-prober".into(),
        instance: Some("prober-0".into()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let verdict = |note: &str| Event {
        type_: EventType::Warning,
        reason: "RollbackTriggered".into(),
        note: Some(note.into()),
        action: "Rollback".into(),
        secondary: None,
    };

    recorder
        .publish(
            &verdict("p99 812ms > 500ms over 5m, 120 samples, revision 2"),
            &reference,
        )
        .await
        .unwrap();
    let events = fake.events();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["apiVersion"], "events.k8s.io/v1");
    assert_eq!(event["metadata"]["namespace"], "godel");
    assert_eq!(event["regarding"]["kind"], "Deployment");
    assert_eq!(event["regarding"]["name"], "godel");
    assert_eq!(
        event["regarding"]["uid"],
        reference.uid.clone().unwrap().as_str()
    );
    assert_eq!(
        (event["type"].as_str(), event["reason"].as_str()),
        (Some("Warning"), Some("RollbackTriggered"))
    );
    assert_eq!(event["reportingController"], "godel-prober");
    assert_eq!(event["reportingInstance"], "prober-0");
    assert!(event["eventTime"].is_string());

    // Same type/reason/action/object within 6 minutes: kube PATCHes the cached event with a
    // series, and keeps the FIRST note (the note is not part of its key, and is immutable).
    recorder
        .publish(
            &verdict("p99 905ms > 500ms over 5m, 130 samples, revision 2"),
            &reference,
        )
        .await
        .unwrap();
    let events = fake.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["series"]["count"], 2);
    assert_eq!(
        events[0]["note"],
        "p99 812ms > 500ms over 5m, 120 samples, revision 2"
    );
    let calls: Vec<(String, String)> = fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.path
                .starts_with("/apis/events.k8s.io/v1/namespaces/godel/events")
        })
        .map(|r| (r.method, r.content_type.unwrap_or_default()))
        .collect();
    assert_eq!(
        calls,
        [
            ("POST".to_owned(), "application/json".to_owned()),
            (
                "PATCH".to_owned(),
                "application/merge-patch+json".to_owned()
            ),
        ]
    );

    let other = Event {
        reason: "RolloutVerified".into(),
        type_: EventType::Normal,
        ..verdict("ok")
    };
    recorder.publish(&other, &reference).await.unwrap();
    assert_eq!(fake.events().len(), 2);
    // The apiserver's limit on notes (1 KiB) holds.
    let long = Event {
        reason: "Long".into(),
        ..verdict(&"x".repeat(1025))
    };
    let invalid = api_status(recorder.publish(&long, &reference).await);
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));

    // Legacy v1 Events count too.
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client, "godel");
    let legacy = k8s_openapi::api::core::v1::Event {
        metadata: ObjectMeta {
            generate_name: Some("godel.".into()),
            ..ObjectMeta::default()
        },
        involved_object: reference.clone(),
        reason: Some("Legacy".into()),
        message: Some("core/v1".into()),
        type_: Some("Normal".into()),
        ..Default::default()
    };
    let created = core.create(&PostParams::default(), &legacy).await.unwrap();
    assert!(created.name_any().starts_with("godel."));
    let all = fake.events();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2]["apiVersion"], "v1");
    assert_eq!(
        core.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_a_compare_and_swap() {
    let fake = KubeFake::start().await;
    let leases: Api<Lease> = Api::namespaced(fake.client().await, "godel");
    let spec = |holder: &str| LeaseSpec {
        holder_identity: Some(holder.into()),
        lease_duration_seconds: Some(15),
        acquire_time: Some(MicroTime(Timestamp::now())),
        renew_time: Some(MicroTime(Timestamp::now())),
        lease_transitions: Some(0),
        ..LeaseSpec::default()
    };
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("godel-prober-guard".into()),
            ..ObjectMeta::default()
        },
        spec: Some(spec("prober-0")),
    };
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    assert!(created.metadata.generation.is_none());
    let exists = api_status(leases.create(&PostParams::default(), &lease).await);
    assert_eq!(
        (exists.code, exists.reason.as_str()),
        (409, "AlreadyExists")
    );

    // prober-0 renews with the resourceVersion it read: accepted.
    let mut renewed = created.clone();
    renewed.spec = Some(spec("prober-0"));
    let renewed = leases
        .replace("godel-prober-guard", &PostParams::default(), &renewed)
        .await
        .unwrap();
    assert_ne!(renewed.resource_version(), created.resource_version());
    // prober-1 tries to take it with the old one: 409 Conflict, nothing changes.
    let mut takeover = created.clone();
    takeover.spec = Some(spec("prober-1"));
    let result = leases
        .replace("godel-prober-guard", &PostParams::default(), &takeover)
        .await;
    let conflict = api_status(result);
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert!(conflict.is_conflict());
    let held = leases.get("godel-prober-guard").await.unwrap();
    assert_eq!(
        held.spec.unwrap().holder_identity.as_deref(),
        Some("prober-0")
    );
    // Leases allow no unconditional update.
    let mut blind = takeover.clone();
    blind.metadata.resource_version = None;
    let invalid = api_status(
        leases
            .replace("godel-prober-guard", &PostParams::default(), &blind)
            .await,
    );
    assert_eq!(invalid.code, 422);
    // A patch carrying a resourceVersion is a precondition too.
    let stale_rv = created.resource_version().unwrap();
    let stale =
        json!({"metadata": {"resourceVersion": stale_rv}, "spec": {"holderIdentity": "prober-1"}});
    let stale = api_status(
        leases
            .patch(
                "godel-prober-guard",
                &PatchParams::default(),
                &Patch::Merge(stale),
            )
            .await,
    );
    assert_eq!(stale.code, 409);
    let current_rv = renewed.resource_version().unwrap();
    let fresh = json!({"metadata": {"resourceVersion": current_rv}, "spec": {"holderIdentity": "prober-1"}});
    let taken = leases
        .patch(
            "godel-prober-guard",
            &PatchParams::default(),
            &Patch::Merge(fresh),
        )
        .await
        .unwrap();
    assert_eq!(
        taken.spec.unwrap().holder_identity.as_deref(),
        Some("prober-1")
    );
    // Server-side apply (a merge here) creates a missing Lease.
    let applied = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "other"}, "spec": {"holderIdentity": "x"}});
    let params = PatchParams::apply("godel-prober");
    leases
        .patch("other", &params, &Patch::Apply(applied))
        .await
        .unwrap();
    assert!(fake.get(Kind::Lease, "godel", "other").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_and_pod_metrics_list_by_label() {
    let fake = KubeFake::start().await;
    for (name, app) in [
        ("godel-0", "godel"),
        ("godel-1", "godel"),
        ("redis-0", "redis"),
    ] {
        fake.apply(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "godel", "labels": {"app": app}},
            "spec": {"containers": [{"name": "api", "image": "godel:1"}]},
            "status": {"phase": "Running"}}));
        fake.apply(
            json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
            "metadata": {"name": name, "namespace": "godel", "labels": {"app": app}},
            "timestamp": "2026-11-22T10:00:00Z", "window": "15s",
            "containers": [{"name": "api", "usage": {"cpu": "300m", "memory": "90Mi"}}]}),
        );
    }
    let client = fake.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "godel");
    let listed = pods
        .list(&ListParams::default().labels("app=godel"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 2);
    let running = pods
        .list(&ListParams::default().fields("status.phase=Running"))
        .await
        .unwrap();
    assert_eq!(running.items.len(), 3);
    let gvk = GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "PodMetrics");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "pods");
    let metrics: Api<DynamicObject> = Api::namespaced_with(client, "godel", &resource);
    let usage = metrics
        .list(&ListParams::default().labels("app=godel"))
        .await
        .unwrap();
    assert_eq!(usage.items.len(), 2);
    assert_eq!(
        usage.items[0].data["containers"][0]["usage"]["memory"],
        "90Mi"
    );
}

fn helm_setup(fake: &KubeFake) {
    fake.create_deployment("godel", "godel", 2, "registry.local:5000/godel:1.5.0");
    fake.put_helm_release(
        "godel",
        "godel",
        1,
        "superseded",
        "0.3.0",
        "1.3.0",
        "Install complete",
    );
    fake.put_helm_release(
        "godel",
        "godel",
        2,
        "superseded",
        "0.4.0",
        "1.4.0",
        "Upgrade complete",
    );
    fake.put_helm_release(
        "godel",
        "godel",
        3,
        "deployed",
        "0.5.0",
        "1.5.0",
        "Upgrade complete",
    );
}

fn run_helm(helm: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(helm)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stub_helm_logs_and_rolls_back_or_fails_as_told() {
    let fake = KubeFake::start().await;
    helm_setup(&fake);
    let dir = tempfile::tempdir().unwrap();
    let helm = kube_fake::write_stub_helm(dir.path(), &fake);
    let args = [
        "rollback",
        "godel",
        "2",
        "--namespace",
        "godel",
        "--wait",
        "--timeout",
        "5m",
    ];

    let (path, run) = (helm.clone(), args);
    let out = tokio::task::spawn_blocking(move || run_helm(&path, &run))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Rollback was a success! Happy Helming!"
    );
    assert_eq!(
        kube_fake::helm_calls(dir.path()),
        [args.map(str::to_owned).to_vec()]
    );
    let v4 = fake.helm_release("godel", "godel", 4).unwrap();
    assert_eq!(
        (
            v4["info"]["status"].as_str(),
            v4["info"]["description"].as_str()
        ),
        (Some("deployed"), Some("Rollback to 2"))
    );
    assert_eq!(v4["chart"]["metadata"]["appVersion"], "1.4.0");
    assert_eq!(
        fake.helm_release("godel", "godel", 3).unwrap()["info"]["status"],
        "superseded"
    );
    let deployment = fake.get(Kind::Deployment, "godel", "godel").unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local:5000/godel:1.4.0"
    );
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.path == "/__fake/helm/rollback")
    );

    // helm-fail: exit 1, an error on stderr, storage untouched.
    std::fs::write(dir.path().join("helm-fail"), "").unwrap();
    let secrets_before = fake.list(Kind::Secret, "godel");
    let (path, run) = (helm.clone(), args);
    let out = tokio::task::spawn_blocking(move || run_helm(&path, &run))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Error:"));
    assert_eq!(fake.list(Kind::Secret, "godel"), secrets_before);
    assert_eq!(kube_fake::helm_calls(dir.path()).len(), 2);
    std::fs::remove_file(dir.path().join("helm-fail")).unwrap();

    // Helm's own error for a revision that does not exist.
    let path = helm.clone();
    let out = tokio::task::spawn_blocking(move || {
        run_helm(&path, &["rollback", "godel", "9", "-n", "godel"])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error: release has no 9 version"
    );

    // helm-hang: the caller's timeout must kill it, and killing it kills the sleep.
    std::fs::write(dir.path().join("helm-hang"), "").unwrap();
    let mut child = tokio::process::Command::new(&helm)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(500), child.wait()).await;
    assert!(waited.is_err(), "the hanging helm exited: {waited:?}");
    child.kill().await.unwrap();
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await;
    assert!(output.unwrap().unwrap().stdout.is_empty());
    assert_eq!(kube_fake::helm_calls(dir.path()).len(), 4);
    assert!(fake.helm_release("godel", "godel", 5).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubeconfig_file_works_with_kube_config_loading() {
    let fake = KubeFake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = fake.kubeconfig(dir.path());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(config.default_namespace, "default");
    let client = kube::Client::try_from(config).unwrap();
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "33")
    );
    let deployments: Api<Deployment> = Api::default_namespaced(client);
    assert!(
        deployments
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(Deployment::kind(&()), "Deployment");
}
