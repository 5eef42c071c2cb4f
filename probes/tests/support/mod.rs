//! Test support for the socket-level kinds: building specs, free and closed loopback ports,
//! scripted fake servers, and the real Debian `redis-server` and PostgreSQL started on
//! loopback (killed on drop). A missing server binary fails the test with the package to
//! install; it never skips.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use prober_probes::spec::BuildCx;
use prober_probes::{Outcome, Probe, RunContext, SpecError, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Build a spec with a `BuildCx` rooted at `probe[0]`; the probe, or the errors.
pub fn build<S, P>(spec: &S, build: impl FnOnce(&S, &mut BuildCx<'_>) -> Option<P>) -> P {
    try_build(spec, None, build).unwrap_or_else(|errs| panic!("spec is invalid: {errs:?}"))
}

/// Build with an optional base directory; the probe, or every error as `path: message`.
pub fn try_build<S, P>(
    spec: &S,
    base_dir: Option<&Path>,
    build: impl FnOnce(&S, &mut BuildCx<'_>) -> Option<P>,
) -> Result<P, Vec<String>> {
    let target = Target::for_tests("http://127.0.0.1:1");
    let mut cx = BuildCx::new(&target, "probe[0]");
    cx.base_dir = base_dir;
    let probe = build(spec, &mut cx);
    let errs: Vec<String> = cx.into_errors().iter().map(SpecError::to_string).collect();
    match probe {
        Some(p) if errs.is_empty() => Ok(p),
        _ => Err(errs),
    }
}

/// Deserialize a spec from JSON (the same serde derive the TOML/YAML config goes through).
pub fn spec<S: serde::de::DeserializeOwned>(json: serde_json::Value) -> S {
    serde_json::from_value(json).unwrap()
}

/// Run a probe once with a generous run deadline.
pub async fn run(probe: &impl Probe) -> Outcome {
    probe.run(&RunContext::new(Duration::from_secs(60))).await
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A fake server on 127.0.0.1:0. For each connection it plays `script`: for every reply,
/// wait for some request bytes, then write the reply. After the script (or with an empty
/// one: at once) it keeps the connection open, reading until the peer goes away, so a
/// client waiting for more never gets an answer.
pub async fn fake_server(script: Vec<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let script = script.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                for reply in script {
                    match sock.read(&mut buf).await {
                        Ok(n) if n > 0 => {}
                        _ => return,
                    }
                    if sock.write_all(&reply).await.is_err() {
                        return;
                    }
                }
                while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

/// The first executable called `name` on `PATH` or in `extra` directories.
fn find_binary(name: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Wait (bounded) until `ready()` holds, failing with the child's exit status if it died.
async fn wait_until(what: &str, child: &mut Child, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !ready().await {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before it was ready: {status}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} not ready within 30s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn accepts(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

/// A real `redis-server` on loopback, killed on drop.
pub struct RedisServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl RedisServer {
    /// Start one on a free port and wait until it accepts connections.
    pub async fn start() -> Self {
        let bin = find_binary("redis-server", &[]).unwrap_or_else(|| {
            panic!("redis-server not found: install the Debian package `redis-server`")
        });
        let port = closed_port();
        let child = Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut server = RedisServer { child, port };
        wait_until("redis-server", &mut server.child, async || {
            accepts(port).await
        })
        .await;
        server
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real PostgreSQL cluster (fresh `initdb`) on loopback, stopped on drop.
pub struct PostgresServer {
    child: Child,
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

/// Run a PostgreSQL program as the `postgres` user when we are root (it refuses root).
fn pg_command(bin: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

impl PostgresServer {
    /// initdb a cluster in a temp dir, start `postgres` on a free port, wait until ready.
    pub async fn start() -> Self {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path().join("bin"))
                    .collect()
            })
            .unwrap_or_default();
        versions.sort_by_key(|p| {
            let v = p.parent().and_then(|v| v.file_name());
            v.and_then(|v| v.to_str()?.parse::<u32>().ok()).unwrap_or(0)
        });
        versions.reverse();
        let (initdb, postgres) = find_binary("initdb", &versions)
            .zip(find_binary("postgres", &versions))
            .unwrap_or_else(|| {
                panic!("initdb/postgres not found: install the Debian package `postgresql`")
            });
        let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        let dir = tempfile::tempdir().unwrap();
        let (data, sock) = (dir.path().join("data"), dir.path().join("sock"));
        std::fs::create_dir(&sock).unwrap();
        if root {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown of the PostgreSQL temp dir failed");
        }
        let init = pg_command(&initdb, root)
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-locale",
                "-E",
                "UTF8",
                "-N",
            ])
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let port = closed_port();
        let child = pg_command(&postgres, root)
            .arg("-D")
            .arg(&data)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-p",
                &port.to_string(),
                "-k",
            ])
            .arg(&sock)
            .args(["-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut server = PostgresServer { child, dir, port };
        let pid_file = data.join("postmaster.pid");
        // Like `pg_ctl -w`: the port must accept and postmaster.pid must say "ready" (before
        // that, connections are refused with 57P03).
        let ready = async || {
            let status = std::fs::read_to_string(&pid_file).unwrap_or_default();
            status.lines().nth(7).is_some_and(|l| l.trim() == "ready") && accepts(port).await
        };
        wait_until("postgres", &mut server.child, ready).await;
        server
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // SIGINT to the postmaster is a fast shutdown; runuser in between would not forward it.
        let pid_file = self.dir.path().join("data").join("postmaster.pid");
        if let Some(pid) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|s| s.lines().next().map(str::to_string))
        {
            let _ = Command::new("kill").args(["-INT", &pid]).status();
        }
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
