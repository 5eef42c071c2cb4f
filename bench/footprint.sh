#!/usr/bin/env bash
# Footprint (RSS, CPU, RSS growth) of `prober run` with the default config vs blackbox_exporter
# doing the equivalent HTTP probes at the same rate, both scraped by a real Prometheus.
# Usage: bench/footprint.sh [--rebuild] [footprint.py options, see --help]
#   --rebuild   run `cargo build --release -p prober --locked` even if target/release/prober exists
# Env: PROBER=path to use another prober binary (never built then).
# Results: bench/results/footprint-<UTC date>.md (+ .json).
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
if [[ -z "${PROBER:-}" ]]; then
    # Build when asked, when missing, or when the binary predates the daemon (`prober run`).
    if [[ $rebuild == 1 ]] || [[ ! -x "$prober" ]] || ! "$prober" run --help >/dev/null 2>&1; then
        echo "building $prober (cargo build --release -p prober --locked)..." >&2
        timeout 1800 cargo build --release -p prober --locked >&2
    fi
fi
[[ -x "$prober" ]] || { echo "no prober binary at $prober" >&2; exit 1; }
"$prober" run --help >/dev/null 2>&1 || { echo "$prober has no \`run\` subcommand" >&2; exit 1; }

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-blackbox-exporter >/dev/null || need+=(prometheus-blackbox-exporter)
if ((${#need[@]})); then
    echo "installing ${need[*]} (apt-get)..." >&2
    if [[ $(id -u) == 0 ]]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${need[@]}" >&2
fi

# The driver runs in its own process group (setsid) with the simulators, the prober,
# blackbox_exporter and Prometheus it starts; it stops them itself (by PID), and the trap below
# stops the whole group should it not.
pid=
cleanup() {
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    # Whatever is left of the group we started (normally nothing).
    kill -KILL -- "-$pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

setsid python3 "$here/footprint.py" --prober "$prober" "${args[@]}" &
pid=$!
rc=0
wait "$pid" || rc=$?
exit "$rc"
