#!/usr/bin/env bash
# Latency accuracy and overhead of `prober check` vs blackbox_exporter against the simulator.
# Usage: bench/latency_accuracy.sh [--rebuild] [latency_accuracy.py options, see --help]
#   --rebuild   run `cargo build --release -p prober` even if target/release/prober exists
# Env: PROBER=path to use another prober binary (never built then).
# Results: bench/results/latency_accuracy-<date>.md (+ .json).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cd "$root"

rebuild=0
args=()
for a in "$@"; do
    case "$a" in
        --rebuild) rebuild=1 ;;
        *) args+=("$a") ;;
    esac
done

prober="${PROBER:-$root/target/release/prober}"
if [[ -z "${PROBER:-}" ]] && { [[ $rebuild == 1 ]] || [[ ! -x "$prober" ]]; }; then
    echo "building $prober (cargo build --release -p prober)..." >&2
    timeout 1200 cargo build --release -p prober >&2
fi
[[ -x "$prober" ]] || { echo "no prober binary at $prober" >&2; exit 1; }

if ! command -v prometheus-blackbox-exporter >/dev/null; then
    echo "installing prometheus-blackbox-exporter (apt-get)..." >&2
    if [[ $(id -u) == 0 ]]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq prometheus-blackbox-exporter >&2
fi
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }

# The driver runs in its own process group (setsid) with the simulator and blackbox_exporter it
# starts; it stops them itself, and the trap below stops the whole group should it not.
pid=
cleanup() {
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    # Whatever is left of the group we started (normally nothing).
    kill -KILL -- "-$pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

setsid python3 "$here/latency_accuracy.py" --prober "$prober" "${args[@]}" &
pid=$!
rc=0
wait "$pid" || rc=$?
exit "$rc"
