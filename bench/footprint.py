#!/usr/bin/env python3
"""Footprint of the daemon (`prober run`, built-in default config) versus blackbox_exporter.

One run, everything on 127.0.0.1:

  - two simulators (`prober sim`): one probed by the prober, one by blackbox_exporter, so each
    tool's requests are counted on their own;
  - `prober run` with the DEFAULT config (its 8 probes at their default intervals, plus its
    resource sampling), pointed at simulator A;
  - blackbox_exporter with modules equivalent to the prober's HTTP requests, driven by a real
    Prometheus whose scrape jobs hit `/probe` at the prober's request rate per probe, against
    simulator B;
  - the same Prometheus scrapes the prober's `/metrics` and blackbox's own `/metrics` every 15 s.
    Prometheus is only the driver; it is not measured.

Every SAMPLE seconds the driver reads /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile, Threads)
and /proc/PID/stat (utime + stime) of the prober and of blackbox_exporter. After WARMUP minutes
it snapshots the simulators' request counts and the prober's run counters; after WARMUP +
MINUTES it does it again and reports the measurement window in between: RSS (at end of warm-up,
mean, max, at end, least-squares slope), CPU % of one core, requests per route and minute, the
prober's runs by probe and result, blackbox's probe results (from Prometheus).

Standard library only. Usage: bench/footprint.sh [options] (see --help); see README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
ADMIN_KEY = "dev-admin-key"
USER_KEY = "dev-user-key"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TOOLS = ("prober", "blackbox")
MIB = 1024  # KiB per MiB
RUNS_RE = re.compile(r'^prober_probe_runs_total\{([^}]*)\}\s+(\S+)$')
LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class Abort(Exception):
    """Stop the run (signal, watchdog, or a failed step)."""


# ---------------------------------------------------------------------------------------------
# helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(cmd: list[str], timeout: float = 60, check: bool = True) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Abort(f"{shlex.join(cmd)}: {e}") from e
    if check and p.returncode != 0:
        raise Abort(f"{shlex.join(cmd)} exited {p.returncode}: "
                    f"{(p.stderr or p.stdout).strip()[-2000:]}")
    return p.stdout


def first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> str:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


def read_proc(pid: int) -> dict[str, int]:
    """KiB fields of /proc/PID/status and CPU clock ticks (utime + stime) of /proc/PID/stat."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(value.split()[0])
            elif key == "Threads":
                out[key] = int(value)
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        out["ticks"] = int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError) as e:
        raise Abort(f"cannot read /proc/{pid}: {e}") from e
    return out


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return (0, 0)
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields) - idle, sum(fields))


COMPILERS = {"rustc", "cargo", "cc", "cc1", "ld", "ld.lld", "lld", "clang", "gcc", "mold"}


def compilers_running() -> int:
    """How many compiler/linker processes run now (another engineer's build on the machine)."""
    n = 0
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() in COMPILERS:
                    n += 1
            except OSError:
                pass
    return n


def lsq_slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than 2 points)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def mib(kib: float | None) -> str:
    return "n/a" if kib is None else f"{kib / MIB:.2f}"


def fmt_load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def parse_runs(text: str) -> dict[str, dict[str, float]]:
    """prober_probe_runs_total -> {probe: {result: count}}."""
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = RUNS_RE.match(line.strip())
        if not m:
            continue
        labels = dict(LABEL_RE.findall(m.group(1)))
        out.setdefault(labels.get("probe", "?"), {})[labels.get("result", "?")] = float(m.group(2))
    return out


def nonzero_failures(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        if line.startswith("prober_probe_failures_total{"):
            name, _, value = line.rpartition(" ")
            try:
                if float(value) > 0:
                    out.append(line)
            except ValueError:
                pass
    return out


# ---------------------------------------------------------------------------------------------
# blackbox_exporter and Prometheus configs


def blackbox_yaml() -> str:
    """Modules equivalent to the prober's default probes (one HTTP request per module)."""

    def module(name: str, comment: str, method: str, status: list[int],
               headers: dict[str, str] | None = None, body: str | None = None,
               must_match: list[str] | None = None, must_not_match: str | None = None) -> str:
        lines = [f"  # {comment}", f"  {name}:", "    prober: http", "    timeout: 10s",
                 "    http:", f"      method: {method}",
                 f"      valid_status_codes: [{', '.join(map(str, status))}]",
                 "      preferred_ip_protocol: ip4", "      ip_protocol_fallback: false",
                 "      follow_redirects: false"]
        if headers:
            lines.append("      headers:")
            lines += [f"        {k}: {json.dumps(v)}" for k, v in headers.items()]
        if body is not None:
            lines.append(f"      body: {json.dumps(body)}")
        if must_match:
            lines.append("      fail_if_body_not_matches_regexp:")
            lines += [f"        - {json.dumps(m)}" for m in must_match]
        if must_not_match:
            lines += ["      fail_if_body_matches_regexp:", f"        - {json.dumps(must_not_match)}"]
        return "\n".join(lines)

    key = {"X-API-Key": ADMIN_KEY}
    agent_body = json.dumps({"type": "test", "task": "synthetic blackbox"})
    mods = [
        module("health", "prober `health`: GET /api/health, 200, status healthy or degraded",
               "GET", [200], must_match=['"status":"(healthy|degraded)"']),
        module("ready", "prober `ready`: GET /api/health/ready, 200", "GET", [200]),
        module("smoke", "prober `api-smoke`: GET /api/agents with the key, 200, success:true "
               "and a data member", "GET", [200], key, must_match=['"success":true', '"data":']),
        module("agents", "prober `api-latency` and `api-burst`: GET /api/agents with the key, 200",
               "GET", [200], key),
    ]
    # prober `auth-required`: 2 requests x 3 credentials (none, wrong, malformed = empty key),
    # each refused with 401/403 and without a data member.
    creds = {"none": None, "wrong": {"X-API-Key": "blackbox-wrong-key"},
             "malformed": {"X-API-Key": ""}}
    for cred, hdr in creds.items():
        mods.append(module(f"auth_get_{cred}", f"prober `auth-required`: GET /api/agents, "
                           f"{cred} key, refused", "GET", [401, 403], hdr,
                           must_not_match='"data"'))
        post_hdr = dict(hdr or {})
        post_hdr["Content-Type"] = "application/json"
        mods.append(module(f"auth_post_{cred}", f"prober `auth-required`: POST /api/agents, "
                           f"{cred} key, refused", "POST", [401, 403], post_hdr,
                           json.dumps({"type": "test", "task": "must be refused"}),
                           must_not_match='"data"'))
    mods += [
        module("admin_none", "prober `admin-required`: GET /api/admin without a key, refused",
               "GET", [401, 403]),
        module("admin_user", "prober `admin-required`: GET /api/admin, non-admin key, refused",
               "GET", [401, 403], {"X-API-Key": USER_KEY}),
        module("agent_post", "prober `agent-spawn` step spawn: POST /api/agents with the key, 201",
               "POST", [201], {**key, "Content-Type": "application/json"}, agent_body),
        module("agent_get", "prober `agent-spawn` step wait (one poll): GET /api/agents/ID, 200 "
               "(ID: an agent the driver created before the run, stuck in running)", "GET",
               [200], key),
        module("agent_delete", "prober `agent-spawn` cleanup: DELETE /api/agents/ID (no such "
               "agent: blackbox cannot capture the new ID, so 404 is expected)",
               "DELETE", [200, 204, 404], key),
    ]
    return ("# generated by bench/footprint.py: blackbox_exporter modules equivalent to the "
            "prober's default probes\nmodules:\n" + "\n\n".join(mods) + "\n")


def fmt_interval(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


class Job:
    """One Prometheus scrape job of blackbox's /probe: (module, target path) pairs, an interval."""

    def __init__(self, name: str, probe: str, interval: float, targets: list[tuple[str, str]],
                 why: str) -> None:
        self.name, self.probe, self.interval, self.targets, self.why = (
            name, probe, interval, targets, why)


# ---------------------------------------------------------------------------------------------
# the run


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.prober = Path(args.prober).resolve()
        self.tmp = Path(tempfile.mkdtemp(prefix="footprint-bench-"))
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.commands: list[str] = []
        self.notes: list[str] = []
        self.configs: dict[str, tuple[str, str]] = {}  # title -> (lang, text)
        self.ports: dict[str, int] = {}
        self.samples: list[dict] = []
        self.snap: dict[str, dict] = {}
        self.pids: dict[str, int] = {}

    # -- processes --------------------------------------------------------------------------

    def record(self, cmd: str) -> None:
        self.commands.append(cmd)
        if self.args.verbose:
            print(f"+ {cmd}", file=sys.stderr)

    def spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None,
              stdout_pipe: bool = False) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        env_txt = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        self.record((env_txt + " " if env_txt else "") + shlex.join(cmd))
        full_env = {**os.environ, **(env or {})}
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE if stdout_pipe else log,
                             stderr=log if stdout_pipe else subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=full_env)
        self.procs.append((name, p))
        return p

    def stop(self, name: str) -> None:
        for n, p in self.procs:
            if n == name and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
                if self.args.verbose:
                    print(f"stopped {name} (pid {p.pid}, exit {p.returncode})", file=sys.stderr)

    def cleanup(self) -> None:
        for name, _ in reversed(self.procs):
            self.stop(name)
        self.procs.clear()
        if self.args.keep_tmp:
            print(f"kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, name: str) -> str:
        try:
            return (self.tmp / f"{name}.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def wait_ready(self, name: str, proc: subprocess.Popen, url: str, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise Abort(f"{name} exited {proc.returncode}: {self.log_tail(name)}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise Abort(f"{name} not ready at {url} after {timeout}s: {self.log_tail(name)}")

    # -- simulators ---------------------------------------------------------------------------

    def start_sim(self, name: str) -> str:
        """Start a simulator; wait for the URL it prints (no HTTP request, so none is counted)."""
        port = free_port()
        p = self.spawn(name, [str(self.prober), "sim", "--listen", f"127.0.0.1:{port}"],
                       stdout_pipe=True)
        assert p.stdout is not None
        ready, _, _ = select.select([p.stdout], [], [], 30)
        line = p.stdout.readline().decode(errors="replace").strip() if ready else ""
        if f"127.0.0.1:{port}" not in line:
            p.poll()
            raise Abort(f"{name} did not print its URL (got {line!r}, exit {p.returncode}): "
                        f"{self.log_tail(name)}")
        log = open(self.tmp / f"{name}.stdout", "wb")  # noqa: SIM115

        def drain() -> None:  # keep the pipe from filling should it print more
            with log:
                shutil.copyfileobj(p.stdout, log)

        threading.Thread(target=drain, daemon=True).start()
        self.ports[name] = port
        return f"http://127.0.0.1:{port}"

    def sim_stats(self, url: str) -> dict:
        return json.loads(http_get(f"{url}/__sim/stats", {"X-API-Key": ADMIN_KEY}))

    def sim_faults(self, url: str, body: dict | None) -> None:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{url}/__sim/faults", method="DELETE" if body is None else "POST", data=data,
            headers={"X-API-Key": ADMIN_KEY, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            now = json.load(r)
        if body and any(now.get(k) != v for k, v in body.items()):
            raise Abort(f"simulator did not take the faults {body}: answered {now}")
        self.record(f"{'DELETE' if body is None else 'POST'} {url}/__sim/faults "
                    f"{json.dumps(body) if body else ''}".rstrip())

    def create_agent(self, url: str) -> str:
        """An agent for blackbox's polls that the simulator never prunes: created while the
        `stuck_agents` fault is set (finished agents are dropped 10 min after completing)."""
        self.sim_faults(url, {"stuck_agents": True})
        req = urllib.request.Request(
            f"{url}/api/agents", method="POST",
            data=json.dumps({"type": "test", "task": "footprint blackbox poll target"}).encode(),
            headers={"X-API-Key": ADMIN_KEY, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            agent = json.load(r)["data"]["id"]
        self.record(f"POST {url}/api/agents (driver, once: the agent blackbox's `agent_get` "
                    f"polls, stuck in `running`) -> {agent}")
        self.sim_faults(url, None)
        return agent

    # -- the tools ----------------------------------------------------------------------------

    def start_blackbox(self) -> None:
        text = blackbox_yaml()
        path = self.tmp / "blackbox.yml"
        path.write_text(text)
        self.configs["blackbox_exporter config (blackbox.yml, in a temporary folder)"] = (
            "yaml", text)
        port = free_port()
        self.ports["blackbox"] = port
        cmd = [self.args.blackbox, f"--config.file={path}",
               f"--web.listen-address=127.0.0.1:{port}"]
        p = self.spawn("blackbox", cmd)
        self.wait_ready("blackbox", p, f"http://127.0.0.1:{port}/-/healthy")
        self.pids["blackbox"] = p.pid

    def start_prober(self, sim_url: str) -> None:
        port = free_port()
        self.ports["prober"] = port
        env = {"PROBER_TARGET__BASE_URL": sim_url, "GODEL_API_KEY": ADMIN_KEY,
               "GODEL_USER_KEY": USER_KEY}
        p = self.spawn("prober", [str(self.prober), "run", "--listen", f"127.0.0.1:{port}"], env)
        self.wait_ready("prober", p, f"http://127.0.0.1:{port}/healthz")
        self.pids["prober"] = p.pid

    def jobs(self, agent: str) -> list[Job]:
        a = self.args
        polls = a.agent_polls
        return [
            Job("bb-health", "health", 10, [("health", "/api/health")],
                "prober: 1 request / 10 s"),
            Job("bb-ready", "ready", 10, [("ready", "/api/health/ready")],
                "prober: 1 request / 10 s"),
            Job("bb-api-smoke", "api-smoke", 30, [("smoke", "/api/agents")],
                "prober: 1 request / 30 s"),
            Job("bb-auth-required", "auth-required", 60,
                [(f"auth_{m}_{c}", "/api/agents") for m in ("get", "post")
                 for c in ("none", "wrong", "malformed")],
                "prober: 2 requests x 3 credentials / 1 min; one target per pair"),
            Job("bb-admin-required", "admin-required", 60,
                [("admin_none", "/api/admin"), ("admin_user", "/api/admin")],
                "prober: 1 request x 2 credentials / 1 min; one target per pair"),
            Job("bb-api-latency", "api-latency", a.latency_every / a.latency_requests,
                [("agents", "/api/agents")],
                f"prober: {a.latency_requests} requests back to back / {a.latency_every:g} s; "
                f"blackbox: one target every {a.latency_every:g}/{a.latency_requests} s"),
            Job("bb-api-burst", "api-burst", a.burst_every / a.burst_requests,
                [("agents", "/api/agents")],
                f"prober: {a.burst_requests} concurrent requests / {a.burst_every:g} s; "
                f"blackbox: one target every {a.burst_every:g}/{a.burst_requests} s"),
            Job("bb-agent-spawn-post", "agent-spawn", 60, [("agent_post", "/api/agents")],
                "prober: spawn, 1 POST / 1 min"),
            Job("bb-agent-spawn-get", "agent-spawn", 60 / polls,
                [("agent_get", f"/api/agents/{agent}")],
                f"prober: ~{polls} GET polls / 1 min (simulator default agent timings)"),
            Job("bb-agent-spawn-delete", "agent-spawn", 60,
                [("agent_delete", "/api/agents/agt_footprint_missing")],
                "prober: cleanup, 1 DELETE / 1 min"),
        ]

    def start_prometheus(self, sim_b: str, agent: str) -> None:
        a = self.args
        port = free_port()
        self.ports["prometheus"] = port
        bb = f"127.0.0.1:{self.ports['blackbox']}"
        self.job_list = self.jobs(agent)
        lines = [
            "# generated by bench/footprint.py: Prometheus only drives blackbox_exporter (one",
            "# probe per scrape of /probe) and scrapes both tools' /metrics; it is not measured.",
            "global:",
            f"  scrape_interval: {fmt_interval(a.scrape_interval)}",
            f"  scrape_timeout: {fmt_interval(min(10, a.scrape_interval))}",
            "scrape_configs:",
            "  - job_name: prober",
            "    static_configs:",
            f"      - targets: ['127.0.0.1:{self.ports['prober']}']",
            "  - job_name: blackbox",
            "    static_configs:",
            f"      - targets: ['{bb}']",
        ]
        for j in self.job_list:
            lines += [
                f"  # {j.why}",
                f"  - job_name: {j.name}",
                f"    scrape_interval: {fmt_interval(j.interval)}",
                f"    scrape_timeout: {fmt_interval(min(10.0, j.interval))}",
                "    metrics_path: /probe",
                "    static_configs:",
            ]
            for module, path in j.targets:
                lines += [f"      - targets: ['{sim_b}{path}']",
                          f"        labels: {{module: {module}, probe: {j.probe}}}"]
            lines += [
                "    relabel_configs:",
                "      - source_labels: [__address__]",
                "        target_label: __param_target",
                "      - source_labels: [module]",
                "        target_label: __param_module",
                "      - source_labels: [__param_target]",
                "        target_label: instance",
                "      - target_label: __address__",
                f"        replacement: {bb}",
            ]
        text = "\n".join(lines) + "\n"
        path = self.tmp / "prometheus.yml"
        path.write_text(text)
        self.configs["Prometheus config (prometheus.yml, in a temporary folder)"] = ("yaml", text)
        promtool = shutil.which("promtool")
        if promtool:
            cmd = [promtool, "check", "config", str(path)]
            self.record(shlex.join(cmd))
            sh(cmd, timeout=30)
        cmd = [a.prometheus, f"--config.file={path}",
               f"--storage.tsdb.path={self.tmp / 'tsdb'}",
               f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1d",
               "--log.level=warn"]
        p = self.spawn("prometheus", cmd)
        self.wait_ready("prometheus", p, f"http://127.0.0.1:{port}/-/ready", timeout=60)

    def prom_query(self, query: str) -> list[dict]:
        url = (f"http://127.0.0.1:{self.ports['prometheus']}/api/v1/query?"
               + urllib.parse.urlencode({"query": query}))
        data = json.loads(http_get(url, timeout=30))
        if data.get("status") != "success":
            raise Abort(f"Prometheus query {query!r} failed: {data}")
        return data["data"]["result"]

    # -- sampling -----------------------------------------------------------------------------

    def sample(self, t0: float) -> dict:
        now = time.monotonic()
        s: dict = {"t": round(now - t0, 3), "wall": time.time()}
        for tool in TOOLS:
            for name, p in self.procs:
                if name == tool and p.poll() is not None:
                    raise Abort(f"{tool} exited {p.returncode} during the run: "
                                f"{self.log_tail(tool)}")
            s[tool] = read_proc(self.pids[tool])
        busy, total = cpu_times()
        s["cpu_busy_jiffies"], s["cpu_total_jiffies"] = busy, total
        s["load1"] = os.getloadavg()[0]
        s["compilers"] = compilers_running()
        self.samples.append(s)
        return s

    def snapshot(self, label: str, sims: dict[str, str]) -> None:
        metrics = http_get(f"http://127.0.0.1:{self.ports['prober']}/metrics")
        self.snap[label] = {
            "t": self.samples[-1]["t"],
            "sim": {tool: self.sim_stats(url) for tool, url in sims.items()},
            "runs": parse_runs(metrics),
            "build_info": [x for x in metrics.splitlines() if x.startswith("prober_build_info")],
            "failures": nonzero_failures(metrics),
        }

    # -- the whole run ------------------------------------------------------------------------

    def go(self) -> tuple[str, dict]:
        a = self.args
        self.started = dt.datetime.now(dt.timezone.utc)
        self.load_before = os.getloadavg()
        self.info = machine_info(self.prober, a.blackbox, a.prometheus)
        sim_a = self.start_sim("sim-prober")
        sim_b = self.start_sim("sim-blackbox")
        self.sims = {"prober": sim_a, "blackbox": sim_b}
        agent = self.create_agent(sim_b)
        base = {tool: self.sim_stats(url) for tool, url in self.sims.items()}
        self.start_blackbox()
        self.start_prober(sim_a)
        self.start_prometheus(sim_b, agent)
        t0 = time.monotonic()
        warm, total = a.warmup_minutes * 60, (a.warmup_minutes + a.minutes) * 60
        print(f"sampling every {a.sample_seconds:g} s: {a.warmup_minutes:g} min warm-up + "
              f"{a.minutes:g} min measurement (prober pid {self.pids['prober']}, blackbox pid "
              f"{self.pids['blackbox']})", file=sys.stderr)
        self.snap["start"] = {"t": 0.0, "sim": base, "runs": {}, "failures": [],
                              "build_info": []}
        k = 0
        warm_index = None
        while True:
            due = t0 + k * a.sample_seconds
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            s = self.sample(t0)
            elapsed = k * a.sample_seconds
            if warm_index is None and elapsed >= warm - 1e-9:
                warm_index = len(self.samples) - 1
                self.snapshot("warm", self.sims)
                print(f"[{s['t']:.0f} s] warm-up over: prober RSS {mib(s['prober']['VmRSS'])} "
                      f"MiB, blackbox {mib(s['blackbox']['VmRSS'])} MiB", file=sys.stderr)
            elif k % max(1, round(60 / a.sample_seconds)) == 0:
                print(f"[{s['t']:.0f} s] prober RSS {mib(s['prober']['VmRSS'])} MiB, blackbox "
                      f"{mib(s['blackbox']['VmRSS'])} MiB, load {s['load1']:.2f}",
                      file=sys.stderr)
            if elapsed >= total - 1e-9:
                break
            k += 1
        self.snapshot("end", self.sims)
        self.info["prober build (its /metrics)"] = "; ".join(
            f"`{x}`" for x in self.snap["end"]["build_info"]) or "?"
        self.warm_index = warm_index if warm_index is not None else 0
        # blackbox's probe results over the measurement window and since the start, from
        # Prometheus (before stopping it).
        window = round(self.samples[-1]["t"] - self.samples[self.warm_index]["t"])
        span = round(self.samples[-1]["t"]) + 30
        self.bb_results = {}
        for label, rng in (("window", window), ("total", span)):
            ok = self.prom_query(f'sum by (job, module) (sum_over_time(probe_success[{rng}s]))')
            n = self.prom_query(f'sum by (job, module) (count_over_time(probe_success[{rng}s]))')
            up = self.prom_query(f'sum by (job) (sum_over_time(up{{job=~"prober|blackbox"}}[{rng}s]))')
            upn = self.prom_query(f'sum by (job) (count_over_time(up{{job=~"prober|blackbox"}}[{rng}s]))')
            res: dict[str, dict] = {}
            for r in n:
                key = f"{r['metric'].get('job')}/{r['metric'].get('module')}"
                res.setdefault(key, {})["probes"] = float(r["value"][1])
            for r in ok:
                key = f"{r['metric'].get('job')}/{r['metric'].get('module')}"
                res.setdefault(key, {})["success"] = float(r["value"][1])
            for r in upn:
                res.setdefault(f"{r['metric'].get('job')}/metrics", {})["probes"] = float(r["value"][1])
            for r in up:
                res.setdefault(f"{r['metric'].get('job')}/metrics", {})["success"] = float(r["value"][1])
            self.bb_results[label] = res
        self.bb_window_s = window
        status = http_get(f"http://127.0.0.1:{self.ports['prober']}/api/v1/status")
        self.prober_status = json.loads(status)
        self.stop("prometheus")
        self.load_after = os.getloadavg()
        self.finished = dt.datetime.now(dt.timezone.utc)
        return self.report()

    # -- report -------------------------------------------------------------------------------

    def tool_stats(self, tool: str) -> dict:
        w = self.warm_index
        win = self.samples[w:]
        ts = [s["t"] for s in win]
        rss = [s[tool]["VmRSS"] for s in win]
        dur = ts[-1] - ts[0]
        slope = lsq_slope([t / 3600 for t in ts], rss)  # KiB per hour
        half = [s for s in win if s["t"] >= ts[0] + dur / 2]
        slope2 = lsq_slope([s["t"] / 3600 for s in half], [s[tool]["VmRSS"] for s in half])
        cpu_s = (win[-1][tool]["ticks"] - win[0][tool]["ticks"]) / CLK_TCK
        all_cpu_s = (self.samples[-1][tool]["ticks"] - self.samples[0][tool]["ticks"]) / CLK_TCK
        all_dur = self.samples[-1]["t"] - self.samples[0]["t"]
        return {
            "rss_start_kib": self.samples[0][tool]["VmRSS"],
            "rss_warm_kib": rss[0], "rss_mean_kib": sum(rss) / len(rss), "rss_max_kib": max(rss),
            "rss_min_kib": min(rss), "rss_end_kib": rss[-1],
            "rss_change_kib": rss[-1] - rss[0],
            "rss_slope_kib_per_h": slope, "rss_fit_change_kib": slope * dur / 3600,
            "rss_slope_second_half_kib_per_h": slope2,
            "hwm_end_kib": win[-1][tool]["VmHWM"],
            "rss_anon_end_kib": win[-1][tool].get("RssAnon"),
            "rss_file_end_kib": win[-1][tool].get("RssFile"),
            "threads_end": win[-1][tool].get("Threads"),
            "threads_max": max(s[tool].get("Threads", 0) for s in win),
            "cpu_seconds": cpu_s, "window_seconds": dur, "cpu_percent": cpu_s / dur * 100,
            "cpu_percent_whole_run": all_cpu_s / all_dur * 100 if all_dur else 0.0,
            "samples": len(win),
        }

    def route_rates(self) -> tuple[list[str], dict[str, dict[str, dict]]]:
        """Per tool and route: requests in the window, per minute, and since the start."""
        out: dict[str, dict[str, dict]] = {}
        routes: set[str] = set()
        mins = (self.snap["end"]["t"] - self.snap["warm"]["t"]) / 60
        for tool in TOOLS:
            start = self.snap["start"]["sim"][tool].get("requests", {})
            warm = self.snap["warm"]["sim"][tool].get("requests", {})
            end = self.snap["end"]["sim"][tool].get("requests", {})
            out[tool] = {}
            for route in end:
                if route.startswith(("GET /__sim", "POST /__sim", "DELETE /__sim")):
                    continue
                routes.add(route)
                n = end[route] - warm.get(route, 0)
                out[tool][route] = {"window": n, "per_min": n / mins if mins else 0.0,
                                    "total": end[route] - start.get(route, 0)}
        return sorted(routes), out

    def report(self) -> tuple[str, dict]:
        a = self.args
        stats = {tool: self.tool_stats(tool) for tool in TOOLS}
        p, b = stats["prober"], stats["blackbox"]
        routes, rates = self.route_rates()
        flat = a.flat_kib
        goal_rss = p["rss_max_kib"] < a.rss_goal_mib * MIB
        goal_cpu = p["cpu_percent"] < a.cpu_goal_percent
        goal_flat = abs(p["rss_fit_change_kib"]) < flat and p["rss_change_kib"] < flat
        bb_flat = abs(b["rss_fit_change_kib"]) < flat and b["rss_change_kib"] < flat
        wmin = p["window_seconds"] / 60

        def verdict(ok: bool) -> str:
            return "**MET**" if ok else "**NOT MET**"

        table = [
            "| | prober (`prober run`, default config) | blackbox_exporter (reference) | "
            "prober / blackbox |",
            "|---|---:|---:|---:|",
        ]

        def row(label: str, key: str, fmt, ratio: bool = True) -> None:
            pv, bv = p[key], b[key]
            r = f"{pv / bv:.2f}" if ratio and bv else ""
            table.append(f"| {label} | {fmt(pv)} | {fmt(bv)} | {r} |")

        row("RSS at start (first sample), MiB", "rss_start_kib", mib)
        row("**RSS at end of warm-up**, MiB", "rss_warm_kib", mib)
        row("**RSS mean** (window), MiB", "rss_mean_kib", mib)
        row("**RSS max** (window), MiB", "rss_max_kib", mib)
        row("RSS min (window), MiB", "rss_min_kib", mib)
        row("**RSS at end**, MiB", "rss_end_kib", mib)
        row("RSS change end − end of warm-up, KiB", "rss_change_kib", lambda v: f"{v:+d}", False)
        row("**RSS slope** (least squares, window), KiB/h", "rss_slope_kib_per_h",
            lambda v: f"{v:+.0f}", False)
        row("RSS change by the fit over the window, KiB", "rss_fit_change_kib",
            lambda v: f"{v:+.0f}", False)
        row("RSS slope, second half of the window only, KiB/h",
            "rss_slope_second_half_kib_per_h", lambda v: f"{v:+.0f}", False)
        row("VmHWM (peak RSS since start) at end, MiB", "hwm_end_kib", mib)
        row("RssAnon / RssFile at end, MiB", "rss_anon_end_kib", mib, False)
        table[-1] = (f"| RssAnon / RssFile at end, MiB | {mib(p['rss_anon_end_kib'])} / "
                     f"{mib(p['rss_file_end_kib'])} | {mib(b['rss_anon_end_kib'])} / "
                     f"{mib(b['rss_file_end_kib'])} | |")
        row("threads at end (max in window)", "threads_end", str, False)
        table[-1] = (f"| threads at end (max in window) | {p['threads_end']} ({p['threads_max']}) "
                     f"| {b['threads_end']} ({b['threads_max']}) | |")
        row("CPU seconds in the window", "cpu_seconds", lambda v: f"{v:.2f}")
        row("**CPU % of one core** (window)", "cpu_percent", lambda v: f"{v:.3f}")
        row("CPU % of one core (whole run incl. warm-up)", "cpu_percent_whole_run",
            lambda v: f"{v:.3f}")
        p_tot = sum(x["window"] for x in rates["prober"].values())
        b_tot = sum(x["window"] for x in rates["blackbox"].values())
        table.append(f"| requests to its simulator per minute (window) | {p_tot / wmin:.1f} | "
                     f"{b_tot / wmin:.1f} | {p_tot / b_tot if b_tot else 0:.2f} |")
        table.append(f"| CPU ms per request (window) | "
                     f"{p['cpu_seconds'] * 1e3 / p_tot if p_tot else 0:.2f} | "
                     f"{b['cpu_seconds'] * 1e3 / b_tot if b_tot else 0:.2f} | |")

        goals = [
            f"- **RSS under {a.rss_goal_mib:g} MiB** (max over the window): {verdict(goal_rss)} — "
            f"prober max {mib(p['rss_max_kib'])} MiB, mean {mib(p['rss_mean_kib'])} MiB "
            f"(peak since start, VmHWM: {mib(p['hwm_end_kib'])} MiB; blackbox_exporter max "
            f"{mib(b['rss_max_kib'])} MiB)",
            f"- **CPU under {a.cpu_goal_percent:g} % of one core** (window): {verdict(goal_cpu)} — "
            f"prober {p['cpu_percent']:.3f} % (blackbox_exporter {b['cpu_percent']:.3f} %)",
            f"- **RSS flat after warm-up** (|least-squares change over the window| and end − "
            f"end of warm-up both under {flat:g} KiB): {verdict(goal_flat)} — prober slope "
            f"{p['rss_slope_kib_per_h']:+.0f} KiB/h (fit {p['rss_fit_change_kib']:+.0f} KiB, "
            f"end − warm {p['rss_change_kib']:+d} KiB over {wmin:.1f} min; second half "
            f"{p['rss_slope_second_half_kib_per_h']:+.0f} KiB/h). blackbox_exporter by the same "
            f"test: {'flat' if bb_flat else 'not flat'} ({b['rss_slope_kib_per_h']:+.0f} KiB/h, "
            f"end − warm {b['rss_change_kib']:+d} KiB)",
        ]

        rate_rows = ["| route | prober requests (window) | prober / min | blackbox requests "
                     "(window) | blackbox / min | prober / blackbox |", "|---|---:|---:|---:|---:|---:|"]
        for r in routes:
            pr = rates["prober"].get(r, {"window": 0, "per_min": 0.0})
            br = rates["blackbox"].get(r, {"window": 0, "per_min": 0.0})
            ratio = f"{pr['window'] / br['window']:.2f}" if br["window"] else "–"
            rate_rows.append(f"| `{r}` | {pr['window']} | {pr['per_min']:.2f} | {br['window']} | "
                             f"{br['per_min']:.2f} | {ratio} |")
        rate_rows.append(f"| **all** | {p_tot} | {p_tot / wmin:.2f} | {b_tot} | "
                         f"{b_tot / wmin:.2f} | {p_tot / b_tot if b_tot else 0:.2f} |")

        # The prober's runs by probe and result: window and since the start.
        warm_runs, end_runs = self.snap["warm"]["runs"], self.snap["end"]["runs"]
        results = ["success", "failure", "inconclusive"]
        run_rows = ["| probe | success (window) | failure (window) | inconclusive (window) | "
                    "success / failure / inconclusive (since start) | last result |",
                    "|---|---:|---:|---:|---|---|"]
        last = {pr["name"]: pr.get("last") or {} for pr in self.prober_status.get("probes", [])}
        kinds = {pr["name"]: pr.get("kind") for pr in self.prober_status.get("probes", [])}
        bad: list[str] = []
        failed_w = inconcl_w = 0
        for probe in sorted(end_runs):
            e, w = end_runs[probe], warm_runs.get(probe, {})
            win = {r: e.get(r, 0) - w.get(r, 0) for r in results}
            tot = " / ".join(f"{e.get(r, 0):.0f}" for r in results)
            lr = last.get(probe, {})
            run_rows.append(f"| {probe} | {win['success']:.0f} | {win['failure']:.0f} | "
                            f"{win['inconclusive']:.0f} | {tot} | {lr.get('result', '?')}: "
                            f"{(lr.get('message') or '').replace('|', '/')} |")
            if win["failure"] or win["inconclusive"]:
                why = ""
                if win["inconclusive"] and kinds.get(probe) == "latency":
                    why = ("; a latency probe is inconclusive while its window holds fewer than "
                           "`min_samples` samples, i.e. during its first runs")
                bad.append(f"{probe}: {win['success']:.0f} success, {win['failure']:.0f} "
                           f"failure, {win['inconclusive']:.0f} inconclusive in the window "
                           f"(last: {lr.get('result', '?')}: {lr.get('message') or ''}{why})")
                failed_w += int(win["failure"])
                inconcl_w += int(win["inconclusive"])
            elif not win["success"]:
                self.notes.append(f"prober `{probe}`: no run in the window")
        for probe in sorted(end_runs):
            e = end_runs[probe]
            if e.get("failure", 0) or e.get("inconclusive", 0):
                if not any(x.startswith(probe + ":") for x in bad):
                    self.notes.append(
                        f"prober `{probe}`: {e.get('failure', 0):.0f} failure / "
                        f"{e.get('inconclusive', 0):.0f} inconclusive run(s) during the warm-up "
                        f"only (none in the window)")
        all_ok = not bad
        if not all_ok:
            self.notes += [f"prober probe not all succeeding: {x}" for x in bad]
        if self.snap["end"]["failures"]:
            self.notes.append("prober_probe_failures_total non-zero at the end: "
                              + "; ".join(f"`{x}`" for x in self.snap["end"]["failures"]))

        bb_rows = ["| Prometheus job / module | probes (window) | succeeded (window) | "
                   "probes / succeeded (since start) |", "|---|---:|---:|---|"]
        bb_bad = []
        for key in sorted(self.bb_results["total"]):
            w = self.bb_results["window"].get(key, {})
            t = self.bb_results["total"][key]
            bb_rows.append(f"| {key} | {w.get('probes', 0):.0f} | {w.get('success', 0):.0f} | "
                           f"{t.get('probes', 0):.0f} / {t.get('success', 0):.0f} |")
            if w.get("success", 0) != w.get("probes", 0):
                bb_bad.append(key)
            elif not w.get("probes"):
                self.notes.append(f"blackbox `{key}`: no probe in the window")
        if bb_bad:
            self.notes.append("blackbox probes (or /metrics scrapes) not all succeeding in the "
                              "window: " + ", ".join(bb_bad))

        job_rows = ["| prober probe | blackbox Prometheus job | interval | targets (module) | "
                    "why |", "|---|---|---:|---|---|"]
        for j in self.job_list:
            job_rows.append(f"| {j.probe} | {j.name} | {fmt_interval(j.interval)} | "
                            + ", ".join(f"`{m}`" for m, _ in j.targets) + f" | {j.why} |")

        busy_w = (self.samples[-1]["cpu_busy_jiffies"] - self.samples[self.warm_index]["cpu_busy_jiffies"])
        tot_w = (self.samples[-1]["cpu_total_jiffies"] - self.samples[self.warm_index]["cpu_total_jiffies"])
        busy_pct = busy_w / tot_w * 100 if tot_w else 0.0
        comp = sum(1 for s in self.samples if s["compilers"])
        load1 = [s["load1"] for s in self.samples]
        quiet = (f"whole machine {busy_pct:.1f} % busy over the window (all CPUs); load1 "
                 f"min/max over the samples {min(load1):.2f}/{max(load1):.2f}; a compiler or "
                 f"linker was running in {comp} of {len(self.samples)} samples")

        lines = [
            f"# Footprint: `prober run` (default config) vs blackbox_exporter "
            f"({self.started:%Y-%m-%d %H:%M:%S} UTC)",
            "",
            f"Warm-up {a.warmup_minutes:g} min, then {wmin:.1f} min measured; /proc sampled every "
            f"{a.sample_seconds:g} s ({len(self.samples)} samples, {p['samples']} in the window). "
            f"Each tool probes its own simulator at the same request rate; Prometheus scrapes both "
            f"tools' /metrics every {a.scrape_interval:g} s and drives blackbox_exporter. RSS is "
            f"VmRSS; CPU is the process's utime+stime over wall time (100 % = one core). "
            f"1 MiB = 1024 KiB.",
            "",
            *table,
            "",
            "## Goals (prober)",
            "",
            *goals,
            f"- All prober runs succeeding in the window: **{'yes' if all_ok else 'NO'}** "
            f"({failed_w} failure(s), {inconcl_w} inconclusive; see the runs table and notes); "
            f"all blackbox probes succeeding in the window: **{'yes' if not bb_bad else 'NO'}**",
            "",
            "## Requests each simulator saw (window), by route",
            "",
            "(the driver's own `/__sim/stats` reads are left out; the agent the driver created "
            "for blackbox's polls is before the start)",
            "",
            *rate_rows,
            "",
            "## The prober's runs by probe and result (from its /metrics)",
            "",
            *run_rows,
            "",
            "## blackbox_exporter's probes (from Prometheus: `probe_success`; `*/metrics` rows "
            "are `up` of the /metrics scrapes)",
            "",
            *bb_rows,
            "",
            "## How blackbox_exporter reproduces the prober's default probes",
            "",
            "blackbox_exporter makes one request per scrape of `/probe`, so each prober probe "
            "becomes a Prometheus job whose interval gives the same requests per minute:",
            "",
            *job_rows,
            "",
            "- `api-latency` (10 requests back to back every 15 s) and `api-burst` (100 concurrent "
            "requests every 5 min) become one target scraped every 15/10 s and every 300/100 s: "
            "blackbox cannot send a batch (one request per probe), and with 10 or 100 targets "
            "Prometheus would spread their scrapes over the interval anyway (offsets from a hash "
            "of the labels), so a single target at the same mean rate is the closest it gets with "
            "the fewest series. Neither tool's batch shape is reproduced: the prober's burst "
            "briefly holds 100 connections, blackbox never more than a few.",
            "- `agent-spawn` has no blackbox equivalent: no captured ID, no polling until a status. "
            "It is approximated by its individual requests at the same rate: a POST (201), GETs of "
            "an agent the driver created before the run (200; created under the `stuck_agents` "
            "fault so that the simulator never prunes it), a DELETE of a missing agent (404). "
            "blackbox's POSTs are never deleted: its simulator keeps each finished agent 10 min, "
            "so its agent list grows to about 10 (its `GET /api/agents` bodies get longer than "
            "the prober's, whose list is empty between runs).",
            f"- Timing jitter: the prober spreads its runs (`jitter = 0.1`, `startup_stagger`); "
            f"Prometheus scrapes at fixed intervals with per-target offsets.",
            "",
            "## Machine and load",
            "",
            *[f"- {k}: {v}" for k, v in self.info.items()],
            f"- load average at start / end: {fmt_load(self.load_before)} / "
            f"{fmt_load(self.load_after)}",
            f"- {quiet}",
            f"- run: {self.started:%Y-%m-%d %H:%M:%S} → {self.finished:%H:%M:%S} UTC",
            "",
        ]
        if self.notes:
            lines += ["## Notes", "", *[f"- {n}" for n in self.notes], ""]
        lines += ["## Commands (in order)", "", "```", *self.commands, "```", "",
                  "The prober ran with its built-in default configuration "
                  "(`prober config print-default`), only `target.base_url` overridden by "
                  "`PROBER_TARGET__BASE_URL`.", ""]
        for title, (lang, text) in self.configs.items():
            lines += [f"## {title}", "", f"```{lang}", text.rstrip(), "```", ""]

        data = {
            "started": self.started.isoformat(), "finished": self.finished.isoformat(),
            "warmup_minutes": a.warmup_minutes, "minutes": a.minutes,
            "sample_seconds": a.sample_seconds, "scrape_interval_seconds": a.scrape_interval,
            "clk_tck": CLK_TCK, "pids": self.pids,
            "stats": stats,
            "goals": {"rss_under_goal": goal_rss, "cpu_under_goal": goal_cpu,
                      "rss_flat": goal_flat, "rss_goal_mib": a.rss_goal_mib,
                      "cpu_goal_percent": a.cpu_goal_percent, "flat_kib": flat,
                      "prober_probes_all_succeeding": all_ok,
                      "blackbox_probes_all_succeeding": not bb_bad},
            "blackbox_flat": bb_flat,
            "requests": rates, "sim_snapshots": {k: v["sim"] for k, v in self.snap.items()},
            "prober_runs": {k: v["runs"] for k, v in self.snap.items()},
            "prober_failures_end": self.snap["end"]["failures"],
            "blackbox_probes": self.bb_results, "blackbox_window_seconds": self.bb_window_s,
            "jobs": [{"name": j.name, "probe": j.probe, "interval_seconds": j.interval,
                      "targets": j.targets, "why": j.why} for j in self.job_list],
            "machine": self.info,
            "load": {"before": self.load_before, "after": self.load_after,
                     "busy_percent_window": busy_pct, "samples_with_compiler": comp},
            "notes": self.notes, "commands": self.commands,
            "configs": {k: v[1] for k, v in self.configs.items()},
            "warm_index": self.warm_index, "samples": self.samples,
        }
        return "\n".join(lines), data


def machine_info(prober: Path, blackbox: str, prometheus: str) -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    head = first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "daemon", "probes", "sim",
         "Cargo.toml", "Cargo.lock"], capture_output=True, text=True).stdout.strip()
    mtime = dt.datetime.fromtimestamp(prober.stat().st_mtime, dt.timezone.utc)
    digest = hashlib.sha256(prober.read_bytes()).hexdigest()[:16]
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / MIB / MIB:.1f} GiB"
    except (OSError, ValueError):
        pass
    return {
        "nproc": first_line(["nproc"]),
        "cpu": cpu,
        "memory": mem,
        "kernel": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "prober": f"{first_line([str(prober), '--version'])}, binary {prober} built "
                  f"{mtime:%Y-%m-%d %H:%M:%S} UTC, sha256 {digest}…",
        "source at run time": f"git {head}" + (
            " + uncommitted changes in daemon/probes/sim/Cargo (the binary may predate them "
            "or include others)" if dirty else " (clean; the binary may predate it)"),
        "blackbox_exporter": first_line([blackbox, "--version"]),
        "prometheus (driver only)": first_line([prometheus, "--version"]),
        "python": platform.python_version(),
    }


# ---------------------------------------------------------------------------------------------
# main


def summarize(results_dir: Path) -> int:
    """One markdown row per saved run (the numbers behind bench/README.md)."""
    files = sorted(results_dir.glob("footprint-*.json"))
    if not files:
        print(f"no results in {results_dir}", file=sys.stderr)
        return 1
    print("| run (UTC) | min | tool | RSS warm / mean / max / end, MiB | slope KiB/h "
          "(end − warm KiB) | CPU % | requests/min | goals (RSS, CPU, flat) |")
    print("|---|---:|---|---|---:|---:|---:|---|")
    for f in files:
        d = json.loads(f.read_text())
        g = d["goals"]
        for tool in TOOLS:
            s = d["stats"][tool]
            req = sum(x["window"] for x in d["requests"][tool].values())
            goals = ""
            if tool == "prober":
                goals = ", ".join("met" if g[k] else "NOT met"
                                  for k in ("rss_under_goal", "cpu_under_goal", "rss_flat"))
            print(f"| {d['started'][:19]} | {s['window_seconds'] / 60:.0f} | {tool} | "
                  f"{mib(s['rss_warm_kib'])} / {mib(s['rss_mean_kib'])} / "
                  f"{mib(s['rss_max_kib'])} / {mib(s['rss_end_kib'])} | "
                  f"{s['rss_slope_kib_per_h']:+.0f} ({s['rss_change_kib']:+d}) | "
                  f"{s['cpu_percent']:.3f} | {req / (s['window_seconds'] / 60):.1f} | {goals} |")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warmup-minutes", type=float, default=2.0,
                    help="warm-up before the measurement window (default 2)")
    ap.add_argument("--minutes", type=float, default=10.0,
                    help="measurement window after the warm-up (default 10)")
    ap.add_argument("--sample-seconds", type=float, default=5.0,
                    help="/proc sampling period (default 5)")
    ap.add_argument("--scrape-interval", type=float, default=15.0,
                    help="Prometheus scrape interval of both tools' /metrics (default 15)")
    ap.add_argument("--latency-every", type=float, default=15.0,
                    help="the prober's api-latency interval in s (default config: 15)")
    ap.add_argument("--latency-requests", type=int, default=10,
                    help="its requests per run (default config: 10)")
    ap.add_argument("--burst-every", type=float, default=300.0,
                    help="the prober's api-burst interval in s (default config: 300)")
    ap.add_argument("--burst-requests", type=int, default=100,
                    help="its concurrency (default config: 100)")
    ap.add_argument("--agent-polls", type=int, default=5,
                    help="GET polls per agent-spawn run against the simulator's default timings "
                         "(default 5: spawning 500 ms + running 1 s, polls 250 ms x1.5)")
    ap.add_argument("--rss-goal-mib", type=float, default=20.0, help="RSS goal (default 20)")
    ap.add_argument("--cpu-goal-percent", type=float, default=1.0,
                    help="CPU goal, %% of one core (default 1)")
    ap.add_argument("--flat-kib", type=float, default=256.0,
                    help="'flat': fitted and end-minus-warm RSS change under this (default 256)")
    ap.add_argument("--prober", default=str(ROOT / "target/release/prober"))
    ap.add_argument("--blackbox", default="prometheus-blackbox-exporter")
    ap.add_argument("--prometheus", default="prometheus")
    ap.add_argument("--results-dir", default=str(BENCH / "results"))
    ap.add_argument("--max-seconds", type=int, default=0,
                    help="abort the whole run after this long (default: warm-up + minutes + "
                         "5 min)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temporary folder (logs)")
    ap.add_argument("-v", "--verbose", action="store_true", help="echo commands on stderr")
    ap.add_argument("--summarize", action="store_true",
                    help="measure nothing: print one table row per results/footprint-*.json")
    args = ap.parse_args()
    if args.summarize:
        return summarize(Path(args.results_dir))
    if args.minutes <= 0 or args.warmup_minutes < 0 or args.sample_seconds <= 0:
        ap.error("--minutes and --sample-seconds must be positive, --warmup-minutes >= 0")
    if args.minutes * 60 < 4 * args.sample_seconds:
        ap.error("the window needs at least 4 samples")
    max_seconds = args.max_seconds or int((args.warmup_minutes + args.minutes) * 60 + 300)

    def on_signal(signum, _frame):
        raise Abort(f"stopped by signal {signal.Signals(signum).name}")

    def on_alarm(_signum, _frame):
        raise Abort(f"run exceeded --max-seconds={max_seconds}")

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max_seconds)

    run = Run(args)
    try:
        text, data = run.go()
    except Abort as e:
        print(f"footprint: {e}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        run.cleanup()
    out_dir = Path(args.results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"footprint-{run.started:%Y-%m-%dT%H%M%SZ}"
    (out_dir / f"{stem}.md").write_text(text)
    (out_dir / f"{stem}.json").write_text(json.dumps(data, indent=1) + "\n")
    print(text)
    print(f"written: {out_dir / stem}.md (and .json)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
