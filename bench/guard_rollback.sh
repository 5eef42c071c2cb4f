#!/usr/bin/env bash
# The rollout guard's benchmark with the DEFAULT config: time from fault injection to the
# `helm rollback` call (median, max over N runs; goal <= 60 s, better <= 30 s) and false
# rollbacks over a long noisy-but-healthy run (goal 0). Runs the `#[ignore]`d tests of
# daemon/tests/guard_bench.rs (simulator as Godel, fake Kubernetes API, stub helm).
# Usage: bench/guard_rollback.sh [test name filter, e.g. bench_time_to_rollback]
# Env (passed to the tests):
#   GUARD_BENCH_RUNS=5              time-to-rollback runs
#   GUARD_BENCH_CONCURRENCY=1       of those, how many at once (each its own world and daemon)
#   GUARD_BENCH_NOISY_SECS=660      length of the noisy run after its rollout (10 m verify + warm-up)
#   GUARD_BENCH_FAULT_MS=300        latency injected on every request in those runs
#   GUARD_BENCH_INJECT_AFTER_SECS=35  fault injected this long after the (completed) rollout
#   GUARD_BENCH_BOUND_SECS=180      a run without a helm call by then counts as missed
# Results: bench/results/guard_rollback-<UTC date>.md (+ .json). Takes about
# max(noisy run, runs x ~1.5 min) plus the release build.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cd "$root"

stamp="$(date -u +%Y-%m-%dT%H%M%SZ)"
mkdir -p "$here/results"
out_json="$here/results/guard_rollback-$stamp.json"
out_md="$here/results/guard_rollback-$stamp.md"
raw="$root/target/guard-bench-$stamp.json"
log="$root/target/guard-bench-$stamp.log"

export GUARD_BENCH_RUNS="${GUARD_BENCH_RUNS:-5}"
export GUARD_BENCH_CONCURRENCY="${GUARD_BENCH_CONCURRENCY:-1}"
export GUARD_BENCH_NOISY_SECS="${GUARD_BENCH_NOISY_SECS:-660}"
export GUARD_BENCH_FAULT_MS="${GUARD_BENCH_FAULT_MS:-300}"
export GUARD_BENCH_INJECT_AFTER_SECS="${GUARD_BENCH_INJECT_AFTER_SECS:-35}"
export GUARD_BENCH_BOUND_SECS="${GUARD_BENCH_BOUND_SECS:-180}"
export GUARD_BENCH_OUT="$raw"

cmd=(cargo test --release -p prober --test guard_bench -- --ignored --nocapture --test-threads 2 "$@")
knobs="GUARD_BENCH_RUNS=$GUARD_BENCH_RUNS GUARD_BENCH_CONCURRENCY=$GUARD_BENCH_CONCURRENCY"
knobs+=" GUARD_BENCH_NOISY_SECS=$GUARD_BENCH_NOISY_SECS GUARD_BENCH_FAULT_MS=$GUARD_BENCH_FAULT_MS"
knobs+=" GUARD_BENCH_INJECT_AFTER_SECS=$GUARD_BENCH_INJECT_AFTER_SECS"
knobs+=" GUARD_BENCH_BOUND_SECS=$GUARD_BENCH_BOUND_SECS"
echo "running: $knobs ${cmd[*]}" >&2

# cargo, the test binary and the daemons and helm stubs it starts run in their own process
# group (setsid); the tests stop their daemons themselves, the trap stops the group should
# they not.
pid=
cleanup() {
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    kill -KILL -- "-$pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
setsid "${cmd[@]}" > >(tee "$log") 2>&1 &
pid=$!
rc=0
wait "$pid" || rc=$?
pid=
[[ -s "$raw" ]] || { echo "no record at $raw (exit $rc); log: $log" >&2; exit "${rc/#0/1}"; }

cp "$raw" "$out_json"
python3 - "$out_json" "$out_md" "$started" "$rc" "$knobs ${cmd[*]}" <<'PY'
import json, sys

src, dst, started, rc, command = sys.argv[1:6]
d = json.load(open(src))
m = d.get("machine", {})
L = []
w = L.append


def s(v, digits=1):
    return "–" if v is None else f"{v:.{digits}f}"


def yn(b):
    return "**met**" if b else "**not met**"


w(f"# guard_rollback — {d.get('written_at', started)}")
w("")
w(f"Started {started}, exit status {rc}. Commit `{m.get('git_commit', '?')}`, "
  f"{m.get('build', '?')} build. Config: `prober config print-default` plus the `[guard]` "
  "section below (every other guard key at its default); target URL, listen address and keys "
  "through the environment.")
w("")

t = d.get("time_to_rollback")
if t:
    w("## Time from fault injection to the helm call")
    w("")
    w(f"Fault: `latency: {t['fault']['latency_ms']}ms` on every request, injected "
      f"{t['inject_after_rollout_s']} s after a completed rollout (past the warm-up, in "
      f"verification). Time to the stub helm's log line, polled every {t['poll_interval_ms']} ms "
      f"(and by the log file's mtime). {t['runs']} run(s), {t['concurrency']} at a time "
      f"(each its own simulator, fake API and daemon)"
      + ("; the noisy run below ran alongside (`--test-threads 2`)" if d.get("noisy_but_healthy") else "")
      + f". Wall time {s(t['wall_s'], 0)} s.")
    w("")
    w("| run | helm call (s) | by log mtime (s) | first failing analysis (s) | helm calls | exactly one, to revision 1 | load avg at injection |")
    w("|---:|---:|---:|---:|---:|---|---|")
    for r in t["per_run"]:
        w(f"| {r['run']} | {s(r['seconds_to_helm_call'])} | {s(r['seconds_to_helm_call_by_log_mtime'])} "
          f"| {s(r['seconds_to_first_failing_analysis'])} | {r['helm_calls']} "
          f"| {'yes' if r['exactly_one_helm_call'] else 'NO'} | {r['load_average_at_injection']} |")
    w("")
    w("| | seconds |")
    w("|---|---:|")
    w(f"| median | **{s(t['median_s'])}** |")
    w(f"| max | **{s(t['max_s'])}** |")
    w(f"| min | {s(t['min_s'])} |")
    w(f"| runs without a rollback within {t['bound_s']} s | {t['runs_without_rollback']} |")
    w("")
    w(f"Goal (every run ≤ {t['goal_s']:.0f} s): {yn(t['goal_met'])}. "
      f"Better (≤ {t['better_s']:.0f} s): {yn(t['better_met'])}. "
      f"Exactly one helm call in every run: {'yes' if t['exactly_one_helm_call_every_run'] else 'NO'}.")
    w("")
    w("Analyses after the injection (status JSON; one line per change of the last analysis):")
    w("")
    w("| run | s | consecutive failures | NFR3 | NFR3 reason |")
    w("|---:|---:|---:|---|---|")
    for r in t["per_run"]:
        for a in r.get("analyses_after_injection", []):
            w(f"| {r['run']} | {s(a['s'])} | {a['consecutive_failures']} | {a['nfr3_verdict']} "
              f"| {a['nfr3_reason']} |")
    w("")

n = d.get("noisy_but_healthy")
if n:
    nf = n["nfr3"]
    w("## Noisy but healthy")
    w("")
    w(f"Noise: `latency: {n['noise']['latency_ms']}ms`, `latency_fraction: {n['noise']['latency_fraction']}` "
      f"on every request from the start; a rollout started and completed once the daemon led; "
      f"watched for {s(n['seconds_after_rollout'], 0)} s after it (status JSON polled every 1 s). "
      f"Wall time {s(n['wall_s'], 0)} s.")
    w("")
    w("| | |")
    w("|---|---:|")
    w(f"| helm calls | **{n['helm_calls']}** |")
    w(f"| `prober_rollbacks_total` (all results) | **{n['rollbacks_total']:.0f}** |")
    w(f"| final verdict | {n['final_verdict']} |")
    w(f"| analysis ended (s after the rollout) | {s(n['analysis_ended_s_after_rollout'], 0)} |")
    w(f"| distinct NFR3 readings | {nf['distinct_readings']} |")
    w(f"| … with the P99 over the limit | {nf['distinct_readings_over_limit']} |")
    w(f"| … of those judged not significant | {nf['over_limit_not_significant']} |")
    w(f"| … judged failing | {nf['fail_verdicts']} |")
    w(f"| status polls with the P99 over the limit | {nf['status_polls_over_limit']} of {nf['status_polls']} |")
    w(f"| max P99 seen (s) | {s(nf['max_p99_s'], 3)} |")
    w(f"| max consecutive failures | {nf['max_consecutive_failures']} |")
    w(f"| simulator `GET /api/agents` requests | {n['sim_requests_get_api_agents']} |")
    w(f"| Events | {', '.join(f'{k} {v}' for k, v in sorted(n['events'].items()))} |")
    w("")
    w(f"Goal (zero rollbacks): {yn(n['goal_met'])}.")
    if nf["examples_over_limit"]:
        w("")
        w("Readings over the limit (first few):")
        w("")
        for e in nf["examples_over_limit"]:
            w(f"- {e}")
    w("")

w("## Machine")
w("")
w("| | |")
w("|---|---|")
w(f"| nproc | {m.get('nproc')} |")
w(f"| kernel | {m.get('kernel')} (`{m.get('uname')}`) |")
w(f"| CPU | {m.get('cpu')} |")
mem = m.get("mem_total_kib")
w(f"| memory | {'–' if mem is None else f'{mem / 1048576:.1f} GiB'} |")
for key, sec in (("time_to_rollback", t), ("noisy_but_healthy", n)):
    if sec:
        w(f"| load average ({key}) | start {sec['load_average_start']}, end {sec['load_average_end']} |")
w("")
w("## Guard settings")
w("")
sec = t or n
w("Appended to `prober config print-default` (paths are the run's temporary files):")
w("")
w("```toml")
w(sec["guard_section"].strip())
w("```")
w("")
w("`prober config check` on it:")
w("")
w("```")
w(sec["config_check"].strip())
w("```")
w("")
w("## Command")
w("")
w("```sh")
w(command)
w("```")
w("")
open(dst, "w").write("\n".join(L))
print("\n".join(L))
PY
echo "results: $out_md (+ .json); log: $log" >&2
exit "$rc"
