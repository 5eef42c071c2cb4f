//! `prober assets export`: every file of `rules/`, `runbooks/` and `dashboards/` comes out of
//! the binary byte for byte, at its relative path; a bad directory is a usage error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            files(root, &p, out);
        } else {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, std::fs::read(&p).unwrap());
        }
    }
}

#[test]
fn export_writes_every_file_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_prober"))
        .args(["assets", "export"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();

    let mut expected = BTreeMap::new();
    let mut got = BTreeMap::new();
    for sub in ["rules", "runbooks", "dashboards"] {
        files(&repo(), &repo().join(sub), &mut expected);
        files(dir.path(), &dir.path().join(sub), &mut got);
    }
    assert!(expected.keys().any(|k| k.starts_with("rules/tests/")));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (rel, bytes) in &expected {
        assert!(got[rel] == *bytes, "{rel} differs");
        assert!(printed.contains(rel.as_str()), "{rel} not printed");
    }
}

#[test]
fn export_to_a_file_is_a_usage_error() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_prober"))
        .args(["assets", "export"])
        .arg(file.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}
