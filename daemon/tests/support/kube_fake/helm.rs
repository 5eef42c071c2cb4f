//! Helm 3 release storage as the `secrets` driver writes it, `helm rollback`'s effect on that
//! storage (and on the Deployment), and a stub `helm` executable that logs its argv and
//! performs rollbacks through the fake.
//!
//! A release Secret is `sh.helm.release.v1.<release>.v<revision>`, type `helm.sh/release.v1`,
//! labels `owner=helm`, `name`, `status`, `version` (plus `createdAt` / `modifiedAt`), and
//! `data.release` = base64 (the Secret encoding) of Helm's own `encodeRelease`: base64 of the
//! gzip of the release JSON.

use std::io::{Read, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::kind::Kind;
use super::rollout;
use super::store::{Store, Write};

/// The Secret type of Helm 3 release records.
pub const RELEASE_TYPE: &str = "helm.sh/release.v1";

/// `sh.helm.release.v1.<release>.v<revision>`.
pub fn secret_name(release: &str, revision: u64) -> String {
    format!("sh.helm.release.v1.{release}.v{revision}")
}

/// Helm's `encodeRelease`: base64 (standard, padded) of the gzip of the JSON.
pub fn encode_release(release: &Value) -> String {
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(release.to_string().as_bytes())
        .and_then(|()| gzip.finish())
        .map(|bytes| STANDARD.encode(bytes))
        .unwrap_or_default()
}

/// Helm's `decodeRelease`: base64, then gunzip when the gzip magic is there.
pub fn decode_release(encoded: &[u8]) -> Option<Value> {
    let bytes = STANDARD.decode(encoded).ok()?;
    let json = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = Vec::new();
        GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut text)
            .ok()?;
        text
    } else {
        bytes
    };
    serde_json::from_slice(&json).ok()
}

/// The release JSON of a release Secret: the Secret's base64, then Helm's.
pub fn decode_release_secret(secret: &Value) -> Option<Value> {
    let data = secret["data"]["release"].as_str()?;
    decode_release(&STANDARD.decode(data).ok()?)
}

/// A release record as Helm marshals it (the fields Helm's readers use).
#[allow(clippy::too_many_arguments)]
pub fn release_json(
    namespace: &str,
    release: &str,
    revision: u64,
    status: &str,
    chart_version: &str,
    app_version: &str,
    description: &str,
    first_deployed: &str,
) -> Value {
    json!({
        "name": release,
        "namespace": namespace,
        "version": revision,
        "info": {
            "first_deployed": first_deployed,
            "last_deployed": Timestamp::now().to_string(),
            "deleted": "",
            "description": description,
            "status": status,
        },
        "chart": {
            "metadata": {
                "name": release,
                "version": chart_version,
                "appVersion": app_version,
                "apiVersion": "v2",
            },
        },
        "config": {},
        "manifest": "",
    })
}

/// The Secret the driver writes for a release record.
pub fn release_secret(namespace: &str, release: &Value, modified: bool) -> Value {
    let name = release["name"].as_str().unwrap_or_default();
    let revision = release["version"].as_u64().unwrap_or(0);
    let stamp = Timestamp::now().as_second().to_string();
    let mut labels = json!({
        "name": name,
        "owner": "helm",
        "status": release["info"]["status"].clone(),
        "version": revision.to_string(),
    });
    labels[if modified { "modifiedAt" } else { "createdAt" }] = stamp.into();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(name, revision),
            "namespace": namespace,
            "labels": labels,
        },
        "type": RELEASE_TYPE,
        "data": {"release": STANDARD.encode(encode_release(release))},
    })
}

/// Writes a release record: Create for a new revision, Update for an existing one (which, as
/// in Helm's driver, replaces the labels and so drops `createdAt` for `modifiedAt`).
fn record(store: &Store, namespace: &str, release: &Value) -> Value {
    let name = secret_name(
        release["name"].as_str().unwrap_or_default(),
        release["version"].as_u64().unwrap_or(0),
    );
    store
        .with(|inner| {
            if inner.get(Kind::Secret, namespace, &name).is_some() {
                let secret = release_secret(namespace, release, true);
                inner.update(Kind::Secret, namespace, &name, secret, Write::Api)
            } else {
                let secret = release_secret(namespace, release, false);
                inner.create(Kind::Secret, namespace, secret, Write::Api)
            }
        })
        .unwrap_or_else(|e| panic!("kube fake: release write: {}", e.message))
}

/// Every release record of `release` in `namespace`, by revision.
fn history(store: &Store, namespace: &str, release: &str) -> Vec<Value> {
    let mut releases: Vec<Value> = store.with(|inner| {
        inner
            .list(Kind::Secret, Some(namespace))
            .filter(|s| {
                s["type"] == RELEASE_TYPE
                    && s["metadata"]["labels"]["owner"] == "helm"
                    && s["metadata"]["labels"]["name"] == release
            })
            .filter_map(decode_release_secret)
            .collect()
    });
    releases.sort_by_key(|r| r["version"].as_u64());
    releases
}

#[allow(clippy::too_many_arguments)]
pub(super) fn put_release(
    store: &Store,
    namespace: &str,
    release: &str,
    revision: u64,
    status: &str,
    chart_version: &str,
    app_version: &str,
    description: &str,
) -> Value {
    let first_deployed = history(store, namespace, release)
        .first()
        .and_then(|r| r["info"]["first_deployed"].as_str().map(str::to_owned))
        .unwrap_or_else(|| Timestamp::now().to_string());
    let json = release_json(
        namespace,
        release,
        revision,
        status,
        chart_version,
        app_version,
        description,
        &first_deployed,
    );
    record(store, namespace, &json)
}

pub(super) fn get_release(
    store: &Store,
    namespace: &str,
    release: &str,
    revision: u64,
) -> Option<Value> {
    let name = secret_name(release, revision);
    store
        .with(|inner| inner.get(Kind::Secret, namespace, &name).cloned())
        .as_ref()
        .and_then(decode_release_secret)
}

/// `helm rollback <release> <to_revision>` (0: the previous revision), in Helm's order: the
/// new revision (last + 1, the target's chart and config, "Rollback to N") is created as
/// `pending-rollback`; the Deployment named like the release starts rolling out to the
/// target's `appVersion` (the current image with that tag); every `deployed` revision becomes
/// `superseded`; the new one becomes `deployed`. Returns the new revision, or Helm's error.
pub(super) fn rollback(
    store: &Store,
    namespace: &str,
    release: &str,
    to_revision: u64,
) -> Result<u64, String> {
    let releases = history(store, namespace, release);
    let current = releases.last().ok_or("release: not found")?;
    let current_revision = current["version"].as_u64().unwrap_or(0);
    let to = if to_revision == 0 {
        current_revision.saturating_sub(1)
    } else {
        to_revision
    };
    let target = releases
        .iter()
        .find(|r| r["version"].as_u64() == Some(to))
        .ok_or_else(|| format!("release has no {to} version"))?;
    let revision = current_revision + 1;
    let mut new = target.clone();
    new["version"] = revision.into();
    new["info"] = json!({
        "first_deployed": current["info"]["first_deployed"].clone(),
        "last_deployed": Timestamp::now().to_string(),
        "deleted": "",
        "description": format!("Rollback to {to}"),
        "status": "pending-rollback",
    });
    record(store, namespace, &new);
    let app_version = target["chart"]["metadata"]["appVersion"]
        .as_str()
        .unwrap_or_default();
    let deployment = store.with(|inner| inner.get(Kind::Deployment, namespace, release).cloned());
    if let Some(deployment) = deployment {
        let image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default();
        let target_image = with_tag(image, app_version);
        if target_image != image {
            rollout::start_rollout(store, namespace, release, &target_image);
        }
    }
    for mut deployed in releases
        .into_iter()
        .filter(|r| r["info"]["status"] == "deployed")
    {
        deployed["info"]["status"] = "superseded".into();
        record(store, namespace, &deployed);
    }
    new["info"]["status"] = "deployed".into();
    record(store, namespace, &new);
    Ok(revision)
}

/// `repo/name:tag` with another tag (a port in the registry host is not a tag).
pub fn with_tag(image: &str, tag: &str) -> String {
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    let repository = match image[name_start..].rfind(':') {
        Some(colon) => &image[..name_start + colon],
        None => image,
    };
    format!("{repository}:{tag}")
}

/// Writes `<dir>/helm`: a bash script that appends its argv (tab-separated, one line) to
/// `<dir>/helm-calls.log`; with `<dir>/helm-hang` present it becomes `sleep 3600` (so killing
/// it kills the sleep); with `<dir>/helm-fail` present it prints an error and exits 1;
/// `helm rollback <release> [<revision>] [-n|--namespace <ns>] …` posts to the fake's
/// `/__fake/helm/rollback` with curl and prints Helm's success line; `helm version` prints a
/// version; anything else fails.
pub fn write_stub(dir: &Path, url: &str) -> PathBuf {
    let script = format!(
        r#"#!/usr/bin/env bash
# Stub helm written by the kube fake (daemon/tests/support/kube_fake/helm.rs).
set -u
dir='{dir}'
url='{url}'
(IFS=$'\t'; printf '%s\n' "$*") >> "$dir/helm-calls.log"
if [ -e "$dir/helm-hang" ]; then exec sleep 3600; fi
if [ -e "$dir/helm-fail" ]; then
  echo 'Error: stub helm: failing because helm-fail exists' >&2
  exit 1
fi
ns=default
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--namespace) ns="${{2:-}}"; shift 2 || shift ;;
    --namespace=*) ns="${{1#*=}}"; shift ;;
    --timeout|--history-max|--kubeconfig|--kube-context|--kube-token|--kube-apiserver|\
--kube-as-user|--kube-as-group|--kube-ca-file|--kube-tls-server-name|--registry-config|\
--repository-config|--repository-cache|--burst-limit|--qps) shift 2 || shift ;;
    -*) shift ;;
    *) args+=("$1"); shift ;;
  esac
done
case "${{args[0]:-}}" in
  rollback)
    release="${{args[1]:-}}"
    revision="${{args[2]:-0}}"
    if [ -z "$release" ]; then
      echo 'Error: "helm rollback" requires at least 1 argument' >&2
      exit 1
    fi
    out="$dir/.helm-response"
    code=$(curl -sS -o "$out" -w '%{{http_code}}' -X POST \
      "$url/__fake/helm/rollback?namespace=$ns&release=$release&revision=$revision") || code=000
    if [ "$code" != 200 ]; then
      echo "Error: $(cat "$out" 2>/dev/null)" >&2
      exit 1
    fi
    echo 'Rollback was a success! Happy Helming!'
    ;;
  version)
    echo 'version.BuildInfo{{Version:"v3.17.0", GitCommit:"kube-fake-stub", GitTreeState:"clean", GoVersion:"go1.23.0"}}'
    ;;
  *)
    echo "Error: stub helm: unsupported command: ${{args[*]:-}}" >&2
    exit 1
    ;;
esac
"#,
        dir = dir.display(),
    );
    let path = dir.join("helm");
    std::fs::write(&path, script)
        .unwrap_or_else(|e| panic!("kube fake: write {}: {e}", path.display()));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("kube fake: chmod {}: {e}", path.display()));
    path
}

/// The argv of every stub `helm` call so far, oldest first.
pub fn calls(dir: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(dir.join("helm-calls.log"))
        .unwrap_or_default()
        .lines()
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect()
}
