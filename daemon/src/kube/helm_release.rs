//! Helm 3 release history read from Helm's release Secrets (`sh.helm.release.v1.<name>.v<rev>`,
//! type `helm.sh/release.v1`, labels `owner=helm`, `name=<release>`). Owns decoding one Secret
//! (base64 of gzip of JSON, exactly as Helm's storage driver writes it) into the few fields the
//! rollout guard needs, and the questions asked of a release's history: the current revision,
//! the deployed one, the last good one before a given revision, a revision stuck in `pending-*`.
//!
//! Pure: it never talks to the API server (the caller lists the Secrets) and never decides a
//! rollback. A Secret is hostile input: decompression is capped, and no error message quotes
//! any part of the payload (release values may hold credentials).

use std::fmt;
use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::read::MultiGzDecoder;
use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;

/// The key of a release Secret's data that holds the encoded release.
const RELEASE_KEY: &str = "release";

/// Largest decompressed release we accept. Helm itself refuses more than 1 MiB per Secret
/// (compressed), and releases compress well, so this is generous for real releases while a
/// gzip bomb can't exhaust memory.
pub const MAX_RELEASE_BYTES: u64 = 16 * 1024 * 1024;

/// The gzip magic bytes plus the deflate method, as Helm checks them before gunzipping.
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// The description Helm writes on a revision created by `helm rollback`.
const ROLLBACK_PREFIX: &str = "Rollback to ";

/// One revision of a Helm release, only what the rollout guard reads.
#[derive(Debug, Clone, PartialEq)]
pub struct HelmRelease {
    /// Release name.
    pub name: String,
    /// Namespace the release lives in.
    pub namespace: String,
    /// Revision number (Helm's `version`).
    pub revision: u32,
    /// Status of this revision.
    pub status: ReleaseStatus,
    /// Helm's description of the revision, e.g. `Upgrade complete` or `Rollback to 3`.
    pub description: String,
    /// Chart as `name-version`, e.g. `godel-1.4.2` (empty when the release has no chart).
    pub chart: String,
    /// The chart's `appVersion`, when it declares one.
    pub app_version: Option<String>,
    /// When the revision was deployed, as Helm wrote it (RFC 3339).
    pub last_deployed: Option<String>,
}

impl HelmRelease {
    /// `Some(N)` when this revision was created by `helm rollback` to revision `N` (Helm writes
    /// the description `Rollback to N`).
    pub fn is_rollback(&self) -> Option<u32> {
        self.description
            .trim()
            .strip_prefix(ROLLBACK_PREFIX)?
            .trim()
            .parse()
            .ok()
    }
}

/// Status of a Helm release revision (Helm's `release.Status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseStatus {
    /// `deployed`: the revision currently running.
    Deployed,
    /// `superseded`: ran successfully, replaced by a later revision.
    Superseded,
    /// `failed`: the install, upgrade or rollback failed.
    Failed,
    /// `pending-install`: an install is in progress (or was interrupted).
    PendingInstall,
    /// `pending-upgrade`: an upgrade is in progress (or was interrupted).
    PendingUpgrade,
    /// `pending-rollback`: a rollback is in progress (or was interrupted).
    PendingRollback,
    /// `uninstalling`: an uninstall is in progress.
    Uninstalling,
    /// `uninstalled`: uninstalled with `--keep-history`.
    Uninstalled,
    /// Anything else, including Helm's own `unknown`, kept verbatim.
    Unknown(String),
}

impl ReleaseStatus {
    /// Parses Helm's status string; unrecognised values become [`ReleaseStatus::Unknown`].
    pub fn parse(s: &str) -> Self {
        match s {
            "deployed" => Self::Deployed,
            "superseded" => Self::Superseded,
            "failed" => Self::Failed,
            "pending-install" => Self::PendingInstall,
            "pending-upgrade" => Self::PendingUpgrade,
            "pending-rollback" => Self::PendingRollback,
            "uninstalling" => Self::Uninstalling,
            "uninstalled" => Self::Uninstalled,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// True for the `pending-*` statuses: an operation is in progress or was interrupted, and
    /// Helm refuses another until it is resolved.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            Self::PendingInstall | Self::PendingUpgrade | Self::PendingRollback
        )
    }

    /// Helm's spelling of the status (an unknown one verbatim).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Deployed => "deployed",
            Self::Superseded => "superseded",
            Self::Failed => "failed",
            Self::PendingInstall => "pending-install",
            Self::PendingUpgrade => "pending-upgrade",
            Self::PendingRollback => "pending-rollback",
            Self::Uninstalling => "uninstalling",
            Self::Uninstalled => "uninstalled",
            Self::Unknown(s) => s,
        }
    }

    /// True when the revision ran successfully: a candidate to roll back to.
    fn was_good(&self) -> bool {
        matches!(self, Self::Deployed | Self::Superseded)
    }
}

impl fmt::Display for ReleaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a release Secret could not be decoded. Names the Secret (`namespace/name`); never quotes
/// the payload.
#[derive(Debug, thiserror::Error)]
pub enum HelmDecodeError {
    /// The Secret has no `release` data key.
    #[error("helm release secret {secret}: no `release` key in data")]
    MissingPayload {
        /// `namespace/name` of the Secret.
        secret: String,
    },
    /// Helm's base64 layer is invalid.
    #[error("helm release secret {secret}: release is not valid base64")]
    Base64 {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The decoder's error (position and byte only).
        #[source]
        source: base64::DecodeError,
    },
    /// The gzip stream is corrupt.
    #[error("helm release secret {secret}: release is not a valid gzip stream")]
    Gzip {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The decompressor's error.
        #[source]
        source: std::io::Error,
    },
    /// The decompressed release exceeds [`MAX_RELEASE_BYTES`].
    #[error("helm release secret {secret}: release decompresses to more than {limit} bytes")]
    TooLarge {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The cap in bytes.
        limit: u64,
    },
    /// The release JSON is malformed or lacks a required field. Only the error's category and
    /// position are kept: serde_json's message can quote a value from the payload.
    #[error(
        "helm release secret {secret}: invalid release JSON ({category} error at line {line} column {column})"
    )]
    Json {
        /// `namespace/name` of the Secret.
        secret: String,
        /// `syntax`, `data`, `eof` or `io`.
        category: &'static str,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
}

impl HelmDecodeError {
    /// `namespace/name` of the Secret the error is about.
    #[cfg(test)]
    pub fn secret(&self) -> &str {
        match self {
            Self::MissingPayload { secret }
            | Self::Base64 { secret, .. }
            | Self::Gzip { secret, .. }
            | Self::TooLarge { secret, .. }
            | Self::Json { secret, .. } => secret,
        }
    }
}

/// The release JSON, only the fields we read (Helm omits empty ones).
#[derive(Debug, Deserialize)]
struct RawRelease {
    name: String,
    #[serde(default)]
    namespace: String,
    version: u32,
    #[serde(default)]
    info: Option<RawInfo>,
    #[serde(default)]
    chart: Option<RawChart>,
}

#[derive(Debug, Deserialize)]
struct RawInfo {
    #[serde(default)]
    status: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    last_deployed: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawChart {
    #[serde(default)]
    metadata: Option<RawChartMetadata>,
}

#[derive(Debug, Deserialize)]
struct RawChartMetadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default, rename = "appVersion")]
    app_version: Option<String>,
}

/// Decodes one Helm release Secret.
pub fn decode_secret(secret: &Secret) -> Result<HelmRelease, HelmDecodeError> {
    decode_with_limit(secret, MAX_RELEASE_BYTES)
}

fn decode_with_limit(secret: &Secret, limit: u64) -> Result<HelmRelease, HelmDecodeError> {
    let id = secret_id(secret);
    let Some(payload) = secret.data.as_ref().and_then(|d| d.get(RELEASE_KEY)) else {
        return Err(HelmDecodeError::MissingPayload { secret: id });
    };
    // `ByteString` is already the Secret's own base64 decoded; Helm base64-encodes once more.
    let compressed =
        STANDARD
            .decode(payload.0.trim_ascii())
            .map_err(|source| HelmDecodeError::Base64 {
                secret: id.clone(),
                source,
            })?;
    let json = if compressed.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        // One byte past the cap tells "exactly at the cap" from "beyond it".
        MultiGzDecoder::new(compressed.as_slice())
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|source| HelmDecodeError::Gzip {
                secret: id.clone(),
                source,
            })?;
        if out.len() as u64 > limit {
            return Err(HelmDecodeError::TooLarge { secret: id, limit });
        }
        out
    } else {
        // Helm tolerates an uncompressed payload (early Helm 3 wrote them).
        if compressed.len() as u64 > limit {
            return Err(HelmDecodeError::TooLarge { secret: id, limit });
        }
        compressed
    };
    let raw: RawRelease = serde_json::from_slice(&json).map_err(|e| HelmDecodeError::Json {
        secret: id.clone(),
        category: match e.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        },
        line: e.line(),
        column: e.column(),
    })?;
    Ok(raw.into_release())
}

impl RawRelease {
    fn into_release(self) -> HelmRelease {
        let info = self.info.unwrap_or(RawInfo {
            status: String::new(),
            description: String::new(),
            last_deployed: None,
        });
        let meta = self.chart.and_then(|c| c.metadata);
        let (chart, app_version) = match meta {
            Some(m) => {
                let chart = match (m.name.is_empty(), m.version.is_empty()) {
                    (false, false) => format!("{}-{}", m.name, m.version),
                    _ => format!("{}{}", m.name, m.version),
                };
                (chart, m.app_version.filter(|v| !v.is_empty()))
            }
            None => (String::new(), None),
        };
        HelmRelease {
            name: self.name,
            namespace: self.namespace,
            revision: self.version,
            status: ReleaseStatus::parse(&info.status),
            description: info.description,
            chart,
            app_version,
            last_deployed: info.last_deployed.filter(|t| !t.is_empty()),
        }
    }
}

/// `namespace/name` of a Secret, for error messages.
fn secret_id(secret: &Secret) -> String {
    let name = secret.metadata.name.as_deref().unwrap_or("<unnamed>");
    match secret.metadata.namespace.as_deref() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    }
}

/// All revisions of one release, sorted by revision; undecodable secrets are reported, not fatal.
///
/// The caller passes the Secrets of one release in one namespace (as listed with the label
/// selector `owner=helm,name=<release>`); a revision seen twice is kept once.
#[derive(Debug, Clone, Default)]
pub struct ReleaseHistory {
    revisions: Vec<HelmRelease>,
}

impl ReleaseHistory {
    /// Decodes every Secret; the ones that fail come back as errors beside the history.
    pub fn from_secrets(secrets: &[Secret]) -> (ReleaseHistory, Vec<HelmDecodeError>) {
        let mut revisions = Vec::with_capacity(secrets.len());
        let mut errors = Vec::new();
        for secret in secrets {
            match decode_secret(secret) {
                Ok(release) => revisions.push(release),
                Err(e) => errors.push(e),
            }
        }
        revisions.sort_by_key(|r| r.revision);
        revisions.dedup_by_key(|r| r.revision);
        (ReleaseHistory { revisions }, errors)
    }

    /// Every decoded revision, lowest first.
    #[cfg(test)]
    pub fn revisions(&self) -> &[HelmRelease] {
        &self.revisions
    }

    /// The highest revision, whatever its status.
    pub fn current(&self) -> Option<&HelmRelease> {
        self.revisions.last()
    }

    /// The revision with status `deployed` (the highest if several claim it).
    #[cfg(test)]
    pub fn deployed(&self) -> Option<&HelmRelease> {
        self.revisions
            .iter()
            .rev()
            .find(|r| r.status == ReleaseStatus::Deployed)
    }

    /// The revision to roll back to from `from`: the highest revision below `from` whose status
    /// is superseded or deployed (i.e. it was running successfully), skipping failed and pending
    /// ones.
    pub fn last_good_before(&self, from: u32) -> Option<&HelmRelease> {
        self.revisions
            .iter()
            .rev()
            .filter(|r| r.revision < from)
            .find(|r| r.status.was_good())
    }

    /// The current revision if its status is `pending-*` (an operation in progress, or one
    /// interrupted that blocks the release until resolved).
    pub fn pending(&self) -> Option<&HelmRelease> {
        self.current().filter(|r| r.status.is_pending())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;
    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    const NS: &str = "godel";
    const RELEASE: &str = "godel";

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// A Secret with `data.release` set to `payload` (already Helm-encoded, or not).
    fn secret_with(name: &str, release: Option<Vec<u8>>) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(NS.to_owned()),
                ..ObjectMeta::default()
            },
            type_: Some("helm.sh/release.v1".to_owned()),
            data: release.map(|r| BTreeMap::from([(RELEASE_KEY.to_owned(), ByteString(r))])),
            ..Secret::default()
        }
    }

    /// A release Secret exactly as Helm's Secret driver writes it: JSON, gzip, base64 (the
    /// Secret's own base64 is what `ByteString` already undid), the name and labels Helm uses.
    fn helm_secret(release_json: &str, revision: u32, status: &str) -> Secret {
        let encoded = STANDARD.encode(gzip(release_json.as_bytes()));
        let mut s = secret_with(
            &format!("sh.helm.release.v1.{RELEASE}.v{revision}"),
            Some(encoded.into_bytes()),
        );
        s.metadata.labels = Some(BTreeMap::from([
            ("owner".to_owned(), "helm".to_owned()),
            ("name".to_owned(), RELEASE.to_owned()),
            ("status".to_owned(), status.to_owned()),
            ("version".to_owned(), revision.to_string()),
        ]));
        s
    }

    /// A small release JSON with the fields we read.
    fn release_json(revision: u32, status: &str, description: &str) -> String {
        serde_json::json!({
            "name": RELEASE,
            "namespace": NS,
            "version": revision,
            "info": {
                "first_deployed": "2026-11-02T10:00:00.000000000Z",
                "last_deployed": format!("2026-11-02T1{revision}:00:00.000000000Z"),
                "deleted": "",
                "description": description,
                "status": status,
            },
            "chart": {"metadata": {"name": "godel", "version": format!("1.{revision}.0"),
                                   "appVersion": "2.0.0", "apiVersion": "v2"}},
        })
        .to_string()
    }

    fn rev(revision: u32, status: &str, description: &str) -> Secret {
        helm_secret(
            &release_json(revision, status, description),
            revision,
            status,
        )
    }

    /// Shaped like `kubectl get secret sh.helm.release.v1.godel.v4 -o json | … | gunzip` from
    /// a real Helm 3.16 upgrade: templates, values, manifest, hooks and all.
    const REAL_WORLD: &str = r#"{
      "name": "godel",
      "info": {
        "first_deployed": "2026-10-28T09:12:44.918273645Z",
        "last_deployed": "2026-11-03T14:02:19.552901337Z",
        "deleted": "",
        "description": "Upgrade complete",
        "status": "deployed",
        "notes": "Godel is running.\n  kubectl -n godel get pods\n"
      },
      "chart": {
        "metadata": {
          "name": "godel",
          "home": "https://example.org/godel",
          "version": "1.4.2",
          "description": "Godel API",
          "apiVersion": "v2",
          "appVersion": "2.9.0",
          "dependencies": [{"name": "redis", "version": "19.x.x", "repository": "oci://registry-1.docker.io/bitnamicharts", "enabled": true}],
          "type": "application"
        },
        "lock": {"generated": "2026-10-01T00:00:00Z", "digest": "sha256:abc", "dependencies": []},
        "templates": [{"name": "templates/deployment.yaml", "data": "YXBpVmVyc2lvbjogYXBwcy92MQo="}],
        "values": {"replicaCount": 2, "image": {"repository": "ghcr.io/godel/api", "tag": ""}},
        "schema": null,
        "files": [{"name": ".helmignore", "data": "LmdpdAo="}]
      },
      "config": {"image": {"tag": "2.9.0"}, "db": {"password": "s3cr3t-never-logged"}},
      "manifest": "---\n# Source: godel/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\n",
      "hooks": [{"name": "godel-migrate", "kind": "Job", "path": "godel/templates/migrate.yaml",
                 "manifest": "apiVersion: batch/v1\n", "events": ["pre-upgrade"],
                 "last_run": {"started_at": "", "completed_at": "", "phase": ""},
                 "weight": -5, "delete_policies": ["before-hook-creation"]}],
      "version": 4,
      "namespace": "godel",
      "labels": null
    }"#;

    #[test]
    fn decodes_a_real_world_helm_release() {
        let release = decode_secret(&helm_secret(REAL_WORLD, 4, "deployed")).unwrap();
        assert_eq!(
            release,
            HelmRelease {
                name: "godel".into(),
                namespace: "godel".into(),
                revision: 4,
                status: ReleaseStatus::Deployed,
                description: "Upgrade complete".into(),
                chart: "godel-1.4.2".into(),
                app_version: Some("2.9.0".into()),
                last_deployed: Some("2026-11-03T14:02:19.552901337Z".into()),
            }
        );
        assert_eq!(release.is_rollback(), None);
    }

    #[test]
    fn tolerates_an_uncompressed_payload_and_missing_optional_fields() {
        let json = r#"{"name":"godel","version":1,"info":{"status":"unknown"}}"#;
        let secret = secret_with("s", Some(STANDARD.encode(json).into_bytes()));
        let release = decode_secret(&secret).unwrap();
        assert_eq!(release.revision, 1);
        assert_eq!(release.status, ReleaseStatus::Unknown("unknown".into()));
        assert_eq!(release.status.as_str(), "unknown");
        assert_eq!(release.chart, "");
        assert_eq!(release.app_version, None);
        assert_eq!(release.last_deployed, None);
    }

    #[test]
    fn rollback_history_points_back_to_the_last_good_revision() {
        let secrets = [
            rev(3, "deployed", "Rollback to 1"),
            rev(1, "superseded", "Install complete"),
            rev(
                2,
                "failed",
                "Upgrade \"godel\" failed: context deadline exceeded",
            ),
        ];
        let (history, errors) = ReleaseHistory::from_secrets(&secrets);
        assert!(errors.is_empty(), "{errors:?}");
        let revs: Vec<u32> = history.revisions().iter().map(|r| r.revision).collect();
        assert_eq!(revs, [1, 2, 3]);
        let current = history.current().unwrap();
        assert_eq!(current.revision, 3);
        assert_eq!(current.is_rollback(), Some(1));
        assert_eq!(current.chart, "godel-1.3.0");
        assert_eq!(history.deployed().unwrap().revision, 3);
        assert_eq!(history.last_good_before(3).unwrap().revision, 1);
        assert!(history.last_good_before(1).is_none());
        assert!(history.pending().is_none());
        assert_eq!(history.revisions()[1].is_rollback(), None);
    }

    #[test]
    fn last_good_skips_failed_and_pending_revisions() {
        let secrets = [
            rev(1, "superseded", "Install complete"),
            rev(2, "superseded", "Upgrade complete"),
            rev(3, "failed", "Upgrade failed"),
            rev(4, "pending-upgrade", "Preparing upgrade"),
            rev(5, "deployed", "Upgrade complete"),
            rev(6, "failed", "Upgrade failed"),
        ];
        let (history, _) = ReleaseHistory::from_secrets(&secrets);
        assert_eq!(history.last_good_before(5).unwrap().revision, 2);
        assert_eq!(history.last_good_before(6).unwrap().revision, 5);
        assert_eq!(history.last_good_before(100).unwrap().revision, 5);
        assert_eq!(history.current().unwrap().revision, 6);
        assert_eq!(history.deployed().unwrap().revision, 5);
    }

    #[test]
    fn pending_upgrade_is_reported() {
        let secrets = [
            rev(1, "deployed", "Install complete"),
            rev(2, "pending-upgrade", "Preparing upgrade"),
        ];
        let (history, _) = ReleaseHistory::from_secrets(&secrets);
        let pending = history.pending().unwrap();
        assert_eq!(pending.revision, 2);
        assert_eq!(pending.status, ReleaseStatus::PendingUpgrade);
        assert!(pending.status.is_pending());
        assert_eq!(pending.status.as_str(), "pending-upgrade");
        assert_eq!(history.deployed().unwrap().revision, 1);
        assert_eq!(history.last_good_before(2).unwrap().revision, 1);
    }

    #[test]
    fn statuses_round_trip_and_only_pending_ones_are_pending() {
        for s in [
            "deployed",
            "superseded",
            "failed",
            "pending-install",
            "pending-upgrade",
            "pending-rollback",
            "uninstalling",
            "uninstalled",
            "unknown",
            "something-new",
        ] {
            let status = ReleaseStatus::parse(s);
            assert_eq!(status.as_str(), s);
            assert_eq!(status.to_string(), s);
            assert_eq!(status.is_pending(), s.starts_with("pending-"), "{s}");
        }
    }

    #[test]
    fn is_rollback_parses_only_helms_description() {
        let mut r = decode_secret(&rev(7, "deployed", "Rollback to 12")).unwrap();
        assert_eq!(r.is_rollback(), Some(12));
        for d in [
            "Rollback to",
            "Rollback to x",
            "rollback to 3",
            "Upgrade complete",
            "",
        ] {
            r.description = d.into();
            assert_eq!(r.is_rollback(), None, "{d:?}");
        }
    }

    #[test]
    fn undecodable_secrets_are_reported_not_fatal() {
        let secrets = [
            rev(1, "deployed", "Install complete"),
            secret_with("sh.helm.release.v1.godel.v2", None),
        ];
        let (history, errors) = ReleaseHistory::from_secrets(&secrets);
        assert_eq!(history.revisions().len(), 1);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].secret(), "godel/sh.helm.release.v1.godel.v2");
    }

    #[test]
    fn missing_release_key() {
        let mut secret = secret_with("s", None);
        let err = decode_secret(&secret).unwrap_err();
        assert!(
            matches!(err, HelmDecodeError::MissingPayload { .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "helm release secret godel/s: no `release` key in data"
        );
        secret.data = Some(BTreeMap::from([("other".into(), ByteString(vec![1]))]));
        assert!(matches!(
            decode_secret(&secret),
            Err(HelmDecodeError::MissingPayload { .. })
        ));
    }

    #[test]
    fn garbage_base64() {
        let secret = secret_with("s", Some(b"not base64 at all!!".to_vec()));
        let err = decode_secret(&secret).unwrap_err();
        assert!(matches!(err, HelmDecodeError::Base64 { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "helm release secret godel/s: release is not valid base64"
        );
    }

    #[test]
    fn not_gzip_and_not_json() {
        let secret = secret_with("s", Some(STANDARD.encode("password=hunter2").into_bytes()));
        let err = decode_secret(&secret).unwrap_err();
        assert!(matches!(err, HelmDecodeError::Json { .. }), "{err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn corrupt_gzip() {
        let mut bytes = gzip(REAL_WORLD.as_bytes());
        let mid = bytes.len() / 2;
        bytes.truncate(mid);
        let secret = secret_with("s", Some(STANDARD.encode(bytes).into_bytes()));
        let err = decode_secret(&secret).unwrap_err();
        assert!(matches!(err, HelmDecodeError::Gzip { .. }), "{err:?}");
    }

    #[test]
    fn json_errors_never_quote_the_payload() {
        // A value of the wrong type: serde_json's own message would quote it.
        let json = r#"{"name":"godel","version":"s3cr3t-value"}"#;
        let err = decode_secret(&helm_secret(json, 1, "deployed")).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                HelmDecodeError::Json {
                    category: "data",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!msg.contains("s3cr3t"), "{msg}");
        assert!(!format!("{err:?}").contains("s3cr3t"));
        // A required field missing.
        let err = decode_secret(&helm_secret(r#"{"name":"godel"}"#, 1, "x")).unwrap_err();
        assert!(matches!(err, HelmDecodeError::Json { .. }), "{err:?}");
    }

    #[test]
    fn gzip_bomb_beyond_the_cap_is_refused() {
        // 17 MiB of zeros compresses to ~17 KiB: small Secret, huge payload.
        let bomb = gzip(&vec![b'0'; MAX_RELEASE_BYTES as usize + 1024 * 1024]);
        assert!(bomb.len() < 100 * 1024);
        let secret = secret_with("bomb", Some(STANDARD.encode(bomb).into_bytes()));
        let err = decode_secret(&secret).unwrap_err();
        assert!(
            matches!(
                err,
                HelmDecodeError::TooLarge {
                    limit: MAX_RELEASE_BYTES,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "helm release secret godel/bomb: release decompresses to more than 16777216 bytes"
        );
    }

    #[test]
    fn the_cap_is_inclusive() {
        let json = release_json(1, "deployed", "Install complete");
        let exact = json.len() as u64;
        let s = helm_secret(&json, 1, "deployed");
        assert!(decode_with_limit(&s, exact).is_ok());
        assert!(matches!(
            decode_with_limit(&s, exact - 1),
            Err(HelmDecodeError::TooLarge { .. })
        ));
        // The uncompressed path is capped too.
        let plain = secret_with("p", Some(STANDARD.encode(&json).into_bytes()));
        assert!(decode_with_limit(&plain, exact).is_ok());
        assert!(decode_with_limit(&plain, exact - 1).is_err());
    }

    #[test]
    fn duplicate_revisions_are_kept_once() {
        let secrets = [
            rev(1, "superseded", "Install complete"),
            rev(1, "superseded", "Install complete"),
            rev(2, "deployed", "Upgrade complete"),
        ];
        let (history, errors) = ReleaseHistory::from_secrets(&secrets);
        assert!(errors.is_empty());
        assert_eq!(history.revisions().len(), 2);
    }

    #[test]
    fn empty_history() {
        let (history, errors) = ReleaseHistory::from_secrets(&[]);
        assert!(errors.is_empty());
        assert!(history.current().is_none());
        assert!(history.deployed().is_none());
        assert!(history.pending().is_none());
        assert!(history.last_good_before(5).is_none());
    }
}
