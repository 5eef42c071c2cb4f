#!/usr/bin/env python3
"""Latency accuracy and overhead of `prober check` versus blackbox_exporter, against the simulator.

One run, one simulator, everything sequential (never two measuring clients at once):

  1. zero-delay baseline: `prober check` (one latency probe, N pooled requests), then N sequential
     blackbox_exporter probes, then N requests of a minimal reference client, all back to back;
  2. the same, paced: fewer requests, DELAY apart (client and simulator then wake up from idle
     before each answer, as they do once the delay is injected);
  3. the simulator's latency fault is set to DELAY through its control endpoint;
  4. the same measurements as in 1.

For each tool: error = measured percentile - (DELAY + the same tool's own zero-delay percentile),
and the same against the paced baseline.

The reference client is a raw-socket HTTP/1.1 keep-alive loop (Python, time.perf_counter_ns from
just before send to the last body byte). It is not a tool under test: it shows how much of every
tool's error comes from the simulator itself (its injected sleep is not exactly DELAY).

Standard library only. Usage: bench/latency_accuracy.sh [options] (see --help); see README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import math
import os
import platform
import shlex
import hashlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
ADMIN_KEY = "dev-admin-key"
HEALTH = "/api/health"
HEALTH_STAT = "GET /api/health"
BLACKBOX_PHASES = ("resolve", "connect", "tls", "processing", "transfer")


class Abort(Exception):
    """Stop the run (signal, watchdog, or a failed step)."""


# ---------------------------------------------------------------------------------------------
# helpers


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:.3f}"


def signed_ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:+.3f}"


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (the value at rank ceil(q*n)), like HDR's value_at_quantile."""
    if not samples:
        raise Abort("no samples")
    s = sorted(samples)
    rank = max(1, math.ceil(q * len(s)))
    return s[rank - 1]


def hdr_bucket_width_us(value_us: int) -> int:
    """Width of the prober's HDR bucket (1 µs unit, 2 significant figures) holding value_us."""
    if value_us < 256:
        return 1
    return 1 << (value_us.bit_length() - 1 - 7)


def hdr_reported(seconds: float) -> float:
    """What the prober's histogram reports for this value: its bucket's middle
    (hdrhistogram's median_equivalent: lowest value + half the width)."""
    us = max(1, int(seconds * 1e6))
    width = hdr_bucket_width_us(us)
    return ((us // width) * width + width // 2) / 1e6


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return (0, 0)
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields) - idle, sum(fields))


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
        raise Abort(f"{shlex.join(cmd)} exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    return p.stdout


def first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


# ---------------------------------------------------------------------------------------------
# the run


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.n: int = args.requests
        self.delay_s: float = args.delay_ms / 1e3
        # phase -> (requests, pause before each request): the hot zero-delay baseline the issue
        # asks for, a zero-delay baseline paced like the delayed requests (client and simulator
        # idle DELAY between requests, as they are when the delay is injected), the delayed run.
        self.plan: dict[str, tuple[int, float | None]] = {"baseline": (self.n, None)}
        if args.paced_requests:
            self.plan["paced"] = (args.paced_requests, self.delay_s)
        self.plan["delayed"] = (self.n, None)
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.commands: list[str] = []
        self.notes: list[str] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="latency-bench-"))
        self.prober = Path(args.prober).resolve()
        self.sim_port = 0
        self.sim_url = ""
        self.bb_port = 0
        self.results: dict[str, dict[str, dict]] = {k: {} for k in self.plan}
        self.sim_counts: dict[str, dict[str, int]] = {k: {} for k in self.plan}
        self.config_texts: dict[str, str] = {}
        self.cpu_busy: dict[str, dict[str, float]] = {}

    # -- processes --------------------------------------------------------------------------

    def record(self, cmd: str) -> None:
        self.commands.append(cmd)
        if self.args.verbose:
            print(f"+ {cmd}", file=sys.stderr)

    def spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        self.record(shlex.join(cmd))
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append((name, p))
        return p

    def cleanup(self) -> None:
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
            if self.args.verbose:
                print(f"stopped {name} (pid {p.pid}, exit {p.returncode})", file=sys.stderr)
        self.procs.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, name: str) -> str:
        try:
            return (self.tmp / f"{name}.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def wait_ready(self, name: str, proc: subprocess.Popen, url: str, timeout: float = 20) -> None:
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
            time.sleep(0.05)
        raise Abort(f"{name} not ready at {url} after {timeout}s: {self.log_tail(name)}")

    # -- simulator ----------------------------------------------------------------------------

    def start_sim(self) -> None:
        self.sim_port = free_port()
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        p = self.spawn("sim", [str(self.prober), "sim", "--listen", f"127.0.0.1:{self.sim_port}"])
        self.wait_ready("sim", p, self.sim_url + HEALTH)

    def set_faults(self, body: str | None) -> None:
        url = f"{self.sim_url}/__sim/faults"
        if body is None:
            cmd = ["curl", "-sS", "-f", "-X", "DELETE", "-H", f"X-API-Key: {ADMIN_KEY}", url]
        else:
            cmd = ["curl", "-sS", "-f", "-X", "POST", "-H", f"X-API-Key: {ADMIN_KEY}",
                   "-H", "Content-Type: application/json", "-d", body, url]
        self.record(shlex.join(cmd))
        out = sh(cmd, timeout=10)
        now = json.loads(out)
        want = json.loads(body) if body else {}
        for k, v in want.items():
            if k not in now or now[k] != v:
                raise Abort(f"simulator did not take the faults {body}: answered {out}")

    def health_count(self) -> int:
        req = urllib.request.Request(f"{self.sim_url}/__sim/stats",
                                     headers={"X-API-Key": ADMIN_KEY})
        with urllib.request.urlopen(req, timeout=5) as r:
            return int(json.load(r).get("requests", {}).get(HEALTH_STAT, 0))

    # -- tool 1: prober check -----------------------------------------------------------------

    def prober_config(self, n: int, pace: float | None) -> Path:
        deadline = max(120, math.ceil(n * (self.delay_s * 2 + 0.01) * 2) + 30)
        pace_line = f'pace = "{pace * 1e3:g}ms"\n' if pace else ""
        name = "paced" if pace else "hot"
        text = f"""\
# generated by bench/latency_accuracy.py: one latency probe, {n} requests on pooled connections
[target]
base_url = "{self.sim_url}"

[[probe]]
name = "health-latency"
kind = "latency"
deadline = "{deadline}s"
request = {{ method = "GET", path = "{HEALTH}" }}
requests = 10
check_requests = {n}
min_samples = {min(100, n)}
{pace_line}budgets = [{{ quantile = 0.99, under = "{max(200, int(self.args.delay_ms * 4))}ms" }}]
"""
        path = self.tmp / f"latency-bench-{name}.toml"
        path.write_text(text)
        self.config_texts[path.name] = text
        cmd = [str(self.prober), "config", "check", str(path)]
        self.record(shlex.join(cmd))
        sh(cmd, timeout=30)
        return path

    def run_prober(self, phase: str) -> None:
        n, pace = self.plan[phase]
        config = self.prober_config(n, pace)
        cmd = [str(self.prober), "check", "--target", self.sim_url, "--config", str(config),
               "--format", "json"]
        self.record(shlex.join(cmd))
        before = self.health_count()
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True,
                               timeout=max(300, n * (self.delay_s * 2 + 0.01) * 4))
        except subprocess.TimeoutExpired as e:
            raise Abort(f"prober check timed out: {e}") from e
        wall = time.monotonic() - t0
        try:
            report = json.loads(p.stdout)
            probe = next(x for x in report["probes"] if x["name"] == "health-latency")
            lat = probe["latency"]
        except (ValueError, KeyError, StopIteration) as e:
            raise Abort(f"prober check (exit {p.returncode}) gave no latency: {e}\n"
                        f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}") from e
        if probe["result"] != "success" or lat["samples"] != n:
            self.notes.append(f"{phase}: prober check result {probe['result']} "
                              f"({probe['message']}), {lat['samples']} samples, exit {p.returncode}")
        self.sim_counts[phase]["prober"] = self.health_count() - before
        self.results[phase]["prober"] = {
            "samples": lat["samples"], "p50": lat["p50_seconds"], "p90": lat["p90_seconds"],
            "p99": lat["p99_seconds"], "max": lat["max_seconds"], "wall": wall,
            "result": probe["result"],
        }

    # -- tool 2: blackbox_exporter ------------------------------------------------------------

    def start_blackbox(self) -> None:
        exe = self.args.blackbox
        self.bb_port = free_port()
        cmd = [exe, f"--config.file={self.args.blackbox_config}",
               f"--web.listen-address=127.0.0.1:{self.bb_port}", "--log.level=warn"]
        p = self.spawn("blackbox", cmd)
        self.wait_ready("blackbox", p, f"http://127.0.0.1:{self.bb_port}/-/healthy")

    def run_blackbox(self, phase: str) -> None:
        n, pace = self.plan[phase]
        target = self.sim_url + HEALTH
        query = urllib.parse.urlencode({"module": "http_2xx", "target": target})
        path = f"/probe?{query}"
        paced = f", time.sleep({pace:g}) before each" if pace else ""
        self.record(f"{n + self.args.warmup}x sequential GET "
                    f"http://127.0.0.1:{self.bb_port}{path} (first {self.args.warmup} discarded"
                    f"{paced})")
        conn = http.client.HTTPConnection("127.0.0.1", self.bb_port, timeout=30)
        total: list[float] = []
        phases: dict[str, list[float]] = {k: [] for k in BLACKBOX_PHASES}
        failed = 0
        before = self.health_count()
        t0 = time.monotonic()
        try:
            for i in range(n + self.args.warmup):
                if pace:
                    time.sleep(pace)
                conn.request("GET", path)
                resp = conn.getresponse()
                text = resp.read().decode()
                if resp.status != 200:
                    raise Abort(f"blackbox /probe answered {resp.status}: {text[:500]}")
                m = parse_prom(text)
                if m.get("probe_success") != 1.0 or m.get("probe_http_status_code") != 200.0:
                    failed += 1
                    continue
                if i < self.args.warmup:
                    continue
                total.append(m["probe_duration_seconds"])
                for k in BLACKBOX_PHASES:
                    phases[k].append(m.get(f'probe_http_duration_seconds{{phase="{k}"}}', 0.0))
        finally:
            conn.close()
        wall = time.monotonic() - t0
        if failed:
            self.notes.append(f"{phase}: {failed} blackbox probes failed (excluded)")
        self.sim_counts[phase]["blackbox"] = self.health_count() - before
        pt = [p + t for p, t in zip(phases["processing"], phases["transfer"])]
        self.results[phase]["blackbox_total"] = summary(total, wall)
        self.results[phase]["blackbox_pt"] = summary(pt, wall)
        self.results[phase]["blackbox_connect"] = summary(phases["connect"], wall)

    # -- reference client ---------------------------------------------------------------------

    def run_reference(self, phase: str) -> None:
        n, pace = self.plan[phase]
        paced = f", time.sleep({pace:g}) before each" if pace else ""
        self.record(f"{n + self.args.warmup}x GET {self.sim_url}{HEALTH} over one keep-alive "
                    f"socket (Python reference client; first {self.args.warmup} discarded{paced})")
        before = self.health_count()
        t0 = time.monotonic()
        samples = reference_client(self.sim_port, n, self.args.warmup, pace)
        wall = time.monotonic() - t0
        self.sim_counts[phase]["reference"] = self.health_count() - before
        self.results[phase]["reference"] = summary(samples, wall)

    # -- the whole run ------------------------------------------------------------------------

    def step(self, phase: str, name: str, fn) -> None:
        n, pace = self.plan[phase]
        paced = f", {pace * 1e3:g} ms apart" if pace else ""
        print(f"[{phase}] {name} ({n} requests{paced})", file=sys.stderr)
        b0, t0 = cpu_times()
        fn(phase)
        b1, t1 = cpu_times()
        self.cpu_busy.setdefault(phase, {})[name] = (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    def measure(self, phase: str) -> None:
        self.step(phase, "prober", self.run_prober)
        self.step(phase, "blackbox", self.run_blackbox)
        if not self.args.no_reference:
            self.step(phase, "reference", self.run_reference)

    def go(self) -> tuple[str, dict]:
        self.started = dt.datetime.now().astimezone()
        self.load_before = os.getloadavg()
        self.start_sim()
        self.start_blackbox()
        self.measure("baseline")
        if "paced" in self.plan:
            self.measure("paced")
        self.set_faults(json.dumps({"latency": f"{self.args.delay_ms:g}ms"}))
        self.measure("delayed")
        self.set_faults(None)
        self.load_after = os.getloadavg()
        self.finished = dt.datetime.now().astimezone()
        return self.report()

    # -- report -------------------------------------------------------------------------------

    def errors(self, tool: str, base: str = "baseline") -> dict[str, float]:
        b, d = self.results[base][tool], self.results["delayed"][tool]
        return {q: d[q] - (self.delay_s + b[q]) for q in ("p50", "p99")}

    def report(self) -> tuple[str, dict]:
        a = self.args
        delay = f"{a.delay_ms:g}ms"
        paced = "paced" in self.plan
        ref = not a.no_reference
        rows = [
            ("prober", "`prober check`: pooled keep-alive, send → last byte (HDR 2 s.f.)"),
            ("blackbox_pt", "blackbox_exporter `processing`+`transfer` (sent → last byte)"),
            ("blackbox_total", "blackbox_exporter `probe_duration_seconds` (new conn. each)"),
        ]
        if ref:
            rows.append(("reference", "reference client: Python raw socket, keep-alive "
                                      "(not under test)"))
        head = ["tool", "P50 @0", "P99 @0"]
        if paced:
            head += ["P50 @0 paced", "P99 @0 paced"]
        head += [f"P50 @{delay}", f"P99 @{delay}", "**P50 error**", "P99 error"]
        if paced:
            head += ["P50 error vs paced", "P99 error vs paced"]
        table = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
        for key, label in rows:
            b, d, e = self.results["baseline"][key], self.results["delayed"][key], self.errors(key)
            cells = [label, ms(b["p50"]), ms(b["p99"])]
            if paced:
                pc = self.results["paced"][key]
                cells += [ms(pc["p50"]), ms(pc["p99"])]
            cells += [ms(d["p50"]), ms(d["p99"]), f"**{signed_ms(e['p50'])}**",
                      signed_ms(e["p99"])]
            if paced:
                ep = self.errors(key, "paced")
                cells += [signed_ms(ep["p50"]), signed_ms(ep["p99"])]
            table.append("| " + " | ".join(cells) + " |")
        conn = ["(blackbox `connect` phase alone)"]
        for phase in self.plan:
            c = self.results[phase]["blackbox_connect"]
            conn += [ms(c["p50"]), ms(c["p99"])]
        conn += [""] * (len(head) - len(conn))
        table.append("| " + " | ".join(conn) + " |")
        n_paced = self.plan.get("paced", (0, None))[0]
        sizes = (f"N = {self.n} requests per tool in the zero-delay and {delay} runs"
                 + (f", {n_paced} in the paced zero-delay run (requests {delay} apart)"
                    if paced else ""))

        pe, bpt = self.errors("prober"), self.errors("blackbox_pt")
        btot = self.errors("blackbox_total")
        pb = self.results["baseline"]["prober"]
        bb = self.results["baseline"]["blackbox_pt"]
        bt = self.results["baseline"]["blackbox_total"]
        accuracy_ok = abs(pe["p50"]) <= 1e-3
        overhead_ok = pb["p50"] <= bb["p50"] and pb["p99"] <= bb["p99"]
        err_ok = abs(pe["p50"]) <= abs(bpt["p50"])
        delayed_p50_us = round(self.results["delayed"]["prober"]["p50"] * 1e6)
        derived: dict[str, float | bool] = {}
        goals = [
            f"- **P50 within 1 ms** of {delay} + own zero-delay P50 (the issue's definition): "
            f"**{'MET' if accuracy_ok else 'NOT MET'}** — prober {signed_ms(pe['p50'])} ms "
            f"(blackbox p+t {signed_ms(bpt['p50'])}, blackbox total {signed_ms(btot['p50'])})",
        ]
        if ref:
            rb, rd = self.results["baseline"]["reference"], self.results["delayed"]["reference"]
            re_ = self.errors("reference")
            # The reference's P50s as the prober's histogram would report them.
            ref_hdr_err = hdr_reported(rd["p50"]) - (self.delay_s + hdr_reported(rb["p50"]))
            derived = {
                "reference_p50_error": re_["p50"],
                "prober_minus_reference_p50": pe["p50"] - re_["p50"],
                "blackbox_pt_minus_reference_p50": bpt["p50"] - re_["p50"],
                "reference_p50_error_hdr_rounded": ref_hdr_err,
                "prober_minus_hdr_rounded_reference_p50": pe["p50"] - ref_hdr_err,
            }
            corr_ok = abs(pe["p50"] - re_["p50"]) <= 1e-3
            derived["prober_within_1ms_of_reference"] = corr_ok
            line = (f"- Every client's error includes the simulator's own: the reference "
                    f"client's P50 error is {signed_ms(re_['p50'])} ms")
            if paced:
                rp = self.results["paced"]["reference"]
                rpe = self.errors("reference", "paced")
                derived["reference_idle_wakeup_p50"] = rp["p50"] - rb["p50"]
                derived["reference_p50_error_vs_paced"] = rpe["p50"]
                line += (f", of which {ms(rp['p50'] - rb['p50'])} ms is waking up after "
                         f"{delay} idle (paced minus hot zero-delay P50) and "
                         f"{signed_ms(rpe['p50'])} ms the simulator's injected sleep overshooting "
                         f"{delay} (error vs the paced baseline)")
            goals += [
                line,
                f"- **P50 within 1 ms of what the reference client measured** (prober error − "
                f"reference error): **{'MET' if corr_ok else 'NOT MET'}** "
                f"({signed_ms(pe['p50'] - re_['p50'])} ms; blackbox p+t "
                f"{signed_ms(bpt['p50'] - re_['p50'])} ms)",
                f"- The prober's HDR rounding: the reference's own P50s rounded the prober's way "
                f"give an error of {signed_ms(ref_hdr_err)} ms instead of {signed_ms(re_['p50'])}, "
                f"leaving {signed_ms(pe['p50'] - ref_hdr_err)} ms to the prober itself (bucket "
                f"width at {delayed_p50_us / 1e3:.1f} ms: {hdr_bucket_width_us(delayed_p50_us)} "
                f"µs, reported as its middle)",
            ]
        goals += [
            f"- **Overhead no worse than blackbox_exporter** (prober zero-delay P50 and P99 ≤ "
            f"blackbox processing+transfer's): **{'MET' if overhead_ok else 'NOT MET'}** — P50 "
            f"{ms(pb['p50'])} vs {ms(bb['p50'])} ms, P99 {ms(pb['p99'])} vs {ms(bb['p99'])} ms "
            f"(blackbox total: P50 {ms(bt['p50'])}, P99 {ms(bt['p99'])} ms)",
        ]
        if paced:
            pp, bp = self.results["paced"]["prober"], self.results["paced"]["blackbox_pt"]
            goals.append(f"- Paced zero-delay P50: prober {ms(pp['p50'])} ms vs blackbox p+t "
                         f"{ms(bp['p50'])} ms (total {ms(self.results['paced']['blackbox_total']['p50'])})")
        goals.append(
            f"- Error no larger than blackbox's (|prober P50 error| ≤ |blackbox p+t P50 error|): "
            f"**{'yes' if err_ok else 'no'}** ({signed_ms(pe['p50'])} vs {signed_ms(bpt['p50'])} ms)")

        tools = list(self.sim_counts["baseline"])
        counts = ["| phase | " + " | ".join(tools) + " |", "|---|" + "---:|" * len(tools)]
        for phase in self.plan:
            counts.append(f"| {phase} | " + " | ".join(
                str(self.sim_counts[phase].get(t, "")) for t in tools) + " |")
        steps = ["| phase | step | wall s | all-CPU busy % |", "|---|---|---:|---:|"]
        for phase in self.plan:
            for name, busy in self.cpu_busy.get(phase, {}).items():
                key = "blackbox_total" if name == "blackbox" else name
                steps.append(f"| {phase} | {name} | {self.results[phase][key]['wall']:.1f} | "
                             f"{busy * 100:.0f} |")

        info = machine_info(self.prober, a.blackbox)
        lines = [
            f"# Latency accuracy: prober check vs blackbox_exporter "
            f"({self.started:%Y-%m-%d %H:%M:%S %z})",
            "",
            f"One simulator. Zero-delay baseline first (back to back"
            + (f", then paced {delay} apart" if paced else "")
            + f"), then the fault `latency={delay}` set at run time, then the same back-to-back "
            f"measurement again. Steps run one after another, never overlapping. "
            f"Error = measured − ({delay} + that tool's own zero-delay value). Values in ms. "
            f"{sizes}.",
            "",
            *table,
            "",
            "## Goals",
            "",
            *goals,
            "",
            "## Sanity: GET /api/health requests the simulator counted per step",
            "",
            "(blackbox and reference include their discarded warm-up requests)",
            "",
            *counts,
            "",
            "## Steps (busy % is the whole machine's, so other work shows up here)",
            "",
            *steps,
            "",
            f"Total {(self.finished - self.started).total_seconds():.0f} s.",
            "",
        ]
        if self.notes:
            lines += ["## Notes", "", *[f"- {n}" for n in self.notes], ""]
        lines += [
            "## Machine",
            "",
            *[f"- {k}: {v}" for k, v in info.items()],
            f"- load average before / after: {fmt_load(self.load_before)} / "
            f"{fmt_load(self.load_after)}",
            "",
            "## Commands (in order)",
            "",
            "```",
            *self.commands,
            "```",
            "",
        ]
        for name, text in self.config_texts.items():
            lines += [f"## prober config {name} (in a temporary folder)", "", "```toml",
                      text.rstrip(), "```", ""]
        lines += [
            "## blackbox_exporter config",
            "",
            "```yaml",
            Path(a.blackbox_config).read_text().rstrip(),
            "```",
            "",
        ]
        errors = {k: self.errors(k) for k in self.results["baseline"]}
        data = {
            "started": self.started.isoformat(), "requests": self.n, "paced_requests": n_paced,
            "delay_ms": a.delay_ms, "results": self.results, "errors": errors,
            "errors_vs_paced": {k: self.errors(k, "paced") for k in self.results["baseline"]}
            if paced else {},
            "derived": derived,
            "goals": {"p50_within_1ms": accuracy_ok, "overhead_not_worse": overhead_ok,
                      "error_not_worse": err_ok},
            "sim_counts": self.sim_counts, "cpu_busy": self.cpu_busy, "machine": info,
            "load": {"before": self.load_before, "after": self.load_after}, "notes": self.notes,
        }
        return "\n".join(lines), data


def summary(samples: list[float], wall: float) -> dict:
    return {"samples": len(samples), "p50": percentile(samples, 0.5),
            "p90": percentile(samples, 0.9), "p99": percentile(samples, 0.99),
            "max": max(samples), "wall": wall}


def parse_prom(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def reference_client(port: int, n: int, warmup: int, pace: float | None = None) -> list[float]:
    """HTTP/1.1 GETs over one keep-alive socket; seconds from before send to the last body byte."""
    req = (f"GET {HEALTH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: latency-bench\r\n"
           f"Accept: */*\r\n\r\n").encode()
    out: list[float] = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        for i in range(n + warmup):
            if pace:
                time.sleep(pace)
            t0 = time.perf_counter_ns()
            s.sendall(req)
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise Abort("simulator closed the reference connection")
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            headers = head.decode("latin-1").lower().split("\r\n")
            if not headers[0].startswith("http/1.1 200"):
                raise Abort(f"reference client got {headers[0]}")
            length = next((int(h.split(":", 1)[1]) for h in headers
                           if h.startswith("content-length:")), None)
            if length is None:
                raise Abort("reference client: no Content-Length (chunked is not supported)")
            while len(buf) < length:
                chunk = s.recv(65536)
                if not chunk:
                    raise Abort("simulator closed the reference connection")
                buf += chunk
            buf = buf[length:]
            t1 = time.perf_counter_ns()
            if i >= warmup:
                out.append((t1 - t0) / 1e9)
    return out


def fmt_load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def machine_info(prober: Path, blackbox: str) -> dict[str, str]:
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
    mtime = dt.datetime.fromtimestamp(prober.stat().st_mtime).astimezone()
    digest = hashlib.sha256(prober.read_bytes()).hexdigest()[:16]
    return {
        "nproc": first_line(["nproc"]),
        "kernel": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "cpu": cpu,
        "clocksource": _read("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
        "prober": f"{first_line([str(prober), '--version'])}, binary {prober} built "
                  f"{mtime:%Y-%m-%d %H:%M:%S}, sha256 {digest}…",
        "source at run time": f"git {head}" + (
            " + uncommitted changes in daemon/probes/sim/Cargo (the binary may predate them "
            "or include others)" if dirty else " (clean; the binary may predate it)"),
        "rustc": first_line(["rustc", "--version"]),
        "blackbox_exporter": first_line([blackbox, "--version"]),
        "python": platform.python_version(),
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return "?"


# ---------------------------------------------------------------------------------------------
# main


def summarize(results_dir: Path) -> int:
    """One markdown row per saved run (the numbers behind bench/README.md)."""
    files = sorted(results_dir.glob("latency_accuracy-*.json"))
    if not files:
        print(f"no results in {results_dir}", file=sys.stderr)
        return 1
    print("| run | prober binary built | prober P50 / P99 @0 | prober paced P50 @0 | prober P50 / P99 @delay | "
          "**prober error P50** / P99 | blackbox p+t P50 / P99 @0 | blackbox p+t paced P50 @0 | "
          "blackbox p+t P50 / P99 @delay | blackbox p+t error P50 / P99 | blackbox total P50 @0 "
          "/ error | reference error P50 (vs paced) | prober − reference P50 |")
    print("|---|---|" + "---:|" * 11)
    for f in files:
        d = json.loads(f.read_text())
        r, e, x = d["results"], d["errors"], d.get("derived", {})

        def pair(phase: str, tool: str) -> str:
            v = r[phase][tool]
            return f"{ms(v['p50'])} / {ms(v['p99'])}"

        def err(tool: str) -> str:
            return f"{signed_ms(e[tool]['p50'])} / {signed_ms(e[tool]['p99'])}"

        def paced(tool: str) -> str:
            return ms(r["paced"][tool]["p50"]) if "paced" in r else "–"

        ref = "–"
        if "reference" in e:
            ref = signed_ms(e["reference"]["p50"])
            if d.get("errors_vs_paced"):
                ref += f" ({signed_ms(d['errors_vs_paced']['reference']['p50'])})"
        built = d["machine"].get("prober", "").partition(" built ")[2].split(",")[0] or "?"
        print(f"| {d['started'][:19]} | {built} | {pair('baseline', 'prober')} | {paced('prober')} | "
              f"{pair('delayed', 'prober')} | **{signed_ms(e['prober']['p50'])}** / "
              f"{signed_ms(e['prober']['p99'])} | {pair('baseline', 'blackbox_pt')} | "
              f"{paced('blackbox_pt')} | {pair('delayed', 'blackbox_pt')} | "
              f"{err('blackbox_pt')} | {ms(r['baseline']['blackbox_total']['p50'])} / "
              f"{signed_ms(e['blackbox_total']['p50'])} | {ref} | "
              f"{signed_ms(x.get('prober_minus_reference_p50'))} |")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--requests", type=int, default=1000,
                    help="requests per tool and phase (default 1000)")
    ap.add_argument("--delay-ms", type=float, default=50.0, help="injected delay (default 50)")
    ap.add_argument("--paced-requests", type=int, default=200,
                    help="requests per tool in the paced zero-delay baseline (requests DELAY "
                         "apart; default 200, 0 skips it)")
    ap.add_argument("--warmup", type=int, default=20,
                    help="discarded first blackbox probes / reference requests (default 20)")
    ap.add_argument("--prober", default=str(ROOT / "target/release/prober"))
    ap.add_argument("--blackbox", default="prometheus-blackbox-exporter")
    ap.add_argument("--blackbox-config", default=str(BENCH / "blackbox.yml"))
    ap.add_argument("--results-dir", default=str(BENCH / "results"))
    ap.add_argument("--no-reference", action="store_true", help="skip the reference client")
    ap.add_argument("--max-seconds", type=int, default=900,
                    help="abort the whole run after this long (default 900)")
    ap.add_argument("-v", "--verbose", action="store_true", help="echo commands on stderr")
    ap.add_argument("--summarize", action="store_true",
                    help="measure nothing: print one table row per results/*.json")
    args = ap.parse_args()
    if args.summarize:
        return summarize(Path(args.results_dir))
    if args.requests < 100 or 0 < args.paced_requests < 100:
        ap.error("--requests and --paced-requests must be at least 100 (a P99 needs them)")

    def on_signal(signum, _frame):
        raise Abort(f"stopped by signal {signal.Signals(signum).name}")

    def on_alarm(_signum, _frame):
        raise Abort(f"run exceeded --max-seconds={args.max_seconds}")

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.max_seconds)

    run = Run(args)
    try:
        text, data = run.go()
    except Abort as e:
        print(f"latency_accuracy: {e}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        run.cleanup()
    out_dir = Path(args.results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"latency_accuracy-{run.started:%Y-%m-%dT%H%M%S}"
    (out_dir / f"{stem}.md").write_text(text)
    (out_dir / f"{stem}.json").write_text(json.dumps(data, indent=2) + "\n")
    print(text)
    print(f"written: {out_dir / stem}.md (and .json)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
