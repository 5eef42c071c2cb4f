//! One fixture per validation rule (`fixtures/config/invalid-*`), each carrying the messages it
//! must produce in `# expect:` lines: `prober config check` exits 2 and names file and key.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn prober(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_prober"));
    c.args(args)
        .env_remove("PROBER_FIXTURE_SURELY_UNSET_KEY")
        .env("NO_COLOR", "1");
    c
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("invalid-")
        })
        .collect();
    files.sort();
    files
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn every_invalid_fixture_exits_2_naming_file_and_key() {
    let files = fixtures();
    assert!(files.len() >= 15, "fixtures went missing: {files:?}");
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let expects: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expects.is_empty(),
            "{} has no # expect: line",
            file.display()
        );
        let out = prober(&["config", "check", file.to_str().unwrap()])
            .output()
            .unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{}: {all}", file.display());
        assert!(
            all.contains(&file.display().to_string()),
            "{}: file not named: {all}",
            file.display()
        );
        for e in expects {
            assert!(
                all.contains(e),
                "{}: expected {e:?} in:\n{all}",
                file.display()
            );
        }
        assert!(
            !all.contains("hunter2"),
            "{}: a secret was echoed: {all}",
            file.display()
        );
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("many.toml");
    std::fs::write(
        &file,
        r#"
[target]
base_url = "http://127.0.0.1:7373"
[[probe]]
name = "a"
kind = "http"
request = { path = "no-slash" }
[[probe]]
name = "b"
kind = "burst"
request = { path = "/x" }
concurrency = 0
"#,
    )
    .unwrap();
    let out = prober(&["config", "check", file.to_str().unwrap()])
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(all.contains("probe[0].request.path"), "{all}");
    assert!(
        all.contains("probe[1].concurrency: must be 1 to 10000, got 0"),
        "{all}"
    );
}

#[test]
fn the_default_config_is_valid_and_env_overrides_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("default.toml");
    let printed = prober(&["config", "print-default"]).output().unwrap();
    assert_eq!(printed.status.code(), Some(0));
    std::fs::write(&file, &printed.stdout).unwrap();
    let path = file.to_str().unwrap();

    let ok = prober(&["config", "check", path])
        .env("GODEL_API_KEY", "k")
        .env("GODEL_USER_KEY", "u")
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("valid, 8 probes"), "{}", text(&ok));

    let missing = prober(&["config", "check", path])
        .env_remove("GODEL_API_KEY")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing)
            .contains("target.auth.key_env: environment variable GODEL_API_KEY is not set")
    );

    let env = prober(&["config", "check", path])
        .env("GODEL_API_KEY", "k")
        .env("GODEL_USER_KEY", "u")
        .env("PROBER_DEFAULTS__EVERY", "banana")
        .output()
        .unwrap();
    assert_eq!(env.status.code(), Some(2), "{}", text(&env));
    assert!(text(&env).contains("defaults.every"), "{}", text(&env));
    assert!(
        text(&env).contains("PROBER_ environment variable"),
        "{}",
        text(&env)
    );
}

#[test]
fn a_missing_file_and_an_unknown_extension_are_usage_errors() {
    let out = prober(&["config", "check", "/nonexistent/prober.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("/nonexistent/prober.toml: cannot read"));
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("prober.ini");
    std::fs::write(&ini, "x=1").unwrap();
    let out = prober(&["config", "check", ini.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("expected a .toml, .yaml or .yml file"));
}
