//! The Kubernetes client: from a kubeconfig file or kube's inference (`$KUBECONFIG`,
//! `~/.kube/config`, then the in-cluster service account), with errors that never quote a
//! kubeconfig (its lines may hold a token) and API messages with anything token-like masked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

/// Longest piece of an API message quoted in a message.
pub const MAX_MESSAGE_CHARS: usize = 200;

/// Why a Kubernetes client could not be built. Details never include file contents (a
/// kubeconfig parse error would quote its lines, and they may hold a token).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The configured kubeconfig cannot be read or used.
    #[error("kubeconfig {}: {detail}", path.display())]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// No kubeconfig configured, and kube found neither a kubeconfig nor an in-cluster
    /// service account.
    #[error(
        "no kubeconfig configured and none found (not in a cluster, no $KUBECONFIG or \
         ~/.kube/config): {detail}"
    )]
    Infer {
        /// kube's reasons.
        detail: String,
    },
    /// The Kubernetes client could not be built from the configuration (e.g. TLS setup).
    #[error("cannot build a Kubernetes client: {detail}")]
    Client {
        /// kube's reason.
        detail: String,
    },
}

/// A client from `kubeconfig` (or inference), with a connect timeout and, for request/response
/// use, a read timeout (watches need none: the server holds them open).
pub async fn connect(
    kubeconfig: Option<&Path>,
    connect_timeout: Duration,
    read_timeout: Option<Duration>,
) -> Result<Client, ClientError> {
    let mut config = match kubeconfig {
        Some(path) => from_file(path).await?,
        None => Config::infer().await.map_err(|e| ClientError::Infer {
            detail: infer_detail(&e),
        })?,
    };
    config.connect_timeout = Some(connect_timeout);
    config.read_timeout = read_timeout;
    Client::try_from(config).map_err(|e| ClientError::Client {
        detail: sanitize(&chain(&e)),
    })
}

/// Load a kubeconfig file. A YAML error is reported without its text: the parser quotes the
/// offending lines, and they may hold a token.
async fn from_file(path: &Path) -> Result<Config, ClientError> {
    let detail = |e: KubeconfigError| match e {
        KubeconfigError::Parse(_) => "not a valid kubeconfig YAML file".to_string(),
        other => sanitize(&chain(&other)),
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| ClientError::Kubeconfig {
        path: path.to_path_buf(),
        detail: detail(e),
    })?;
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| ClientError::Kubeconfig {
            path: path.to_path_buf(),
            detail: detail(e),
        })
}

fn infer_detail(e: &kube::config::InferConfigError) -> String {
    let yaml = std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<KubeconfigError>())
        .is_some_and(|k| matches!(k, KubeconfigError::Parse(_)));
    if yaml {
        "not running in a cluster, and $KUBECONFIG (or ~/.kube/config) is not valid kubeconfig \
         YAML"
            .into()
    } else {
        sanitize(&e.to_string())
    }
}

/// An error and its sources, "a: b: c", skipping a source whose text its parent already
/// shows (kube and hyper often repeat it).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

/// Mask what looks like a credential: the word after "Bearer"/"Basic", and JWTs (`eyJ…`).
/// The API server does not echo tokens, but a proxy in front of it might.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut mask_next = false;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        if (mask_next && !bare.is_empty()) || word.contains("eyJ") {
            out.push_str("***");
        } else {
            out.push_str(word);
        }
        if !bare.is_empty() {
            mask_next = bare.eq_ignore_ascii_case("bearer") || bare.eq_ignore_ascii_case("basic");
        }
    }
    out
}

/// Text from outside (an API message, an error's text) made fit for a reading: one line,
/// credentials masked, at most [`MAX_MESSAGE_CHARS`] characters.
pub fn sanitize(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let masked = redact(&one_line);
    match masked.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &masked[..i]),
        None => masked,
    }
}
