#!/usr/bin/env bash
# HTTP benchmark: `chattu serve` (GET /api/profile with an account key) against a bare hyper
# hello-world (examples/bare_hyper.rs), both release builds, same wrk settings, same run.
# Prints requests/s and p99 latency for both, the ratio, and the idle RSS of `chattu serve` on a
# fresh data dir.
#
#   scripts/bench-http.sh [DURATION=10s] [CONNECTIONS=32] [WRK_THREADS=1]
#
# Needs wrk (Debian: apt-get install wrk). The API limiter (100 requests per 15 minutes) is lifted
# for the run with CHATTU_RATE_LIMITS_API_PER_15MIN; everything else is the default configuration,
# including the access log line per request (written to a file here).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-10s}
CONNECTIONS=${2:-32}
THREADS=${3:-1}

command -v wrk >/dev/null 2>&1 || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

cargo build --release --bin chattu --example bare_hyper >&2

tmp=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# Wait for "listening on ADDR" in a log file; print ADDR.
listen_addr() {
    local log=$1
    for _ in $(seq 1 200); do
        if grep -q "listening on" "$log" 2>/dev/null; then
            grep -o "listening on [^ ]*" "$log" | head -1 | awk '{print $3}'
            return 0
        fi
        sleep 0.05
    done
    echo "server did not start; log:" >&2
    cat "$log" >&2
    return 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# wrk output → "REQS_PER_SEC P99"
run_wrk() {
    local url=$1; shift
    local out
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url")
    echo "$out" >&2
    local rps p99
    rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    echo "$rps $p99"
}

# --- chattu: an account key created offline, then serve on a fresh data dir ---
data="$tmp/data"
key=$(echo "bench-password-1" | ./target/release/chattu user add bench --data-dir "$data" --password-stdin 2>/dev/null)
CHATTU_RATE_LIMITS_API_PER_15MIN=4000000000 CHATTU_ADMIN_PASSWORD=bench-admin-1 \
    ./target/release/chattu serve --listen 127.0.0.1:0 --data-dir "$data" >"$tmp/chattu.log" 2>&1 &
chattu_pid=$!
pids+=("$chattu_pid")
chattu_addr=$(listen_addr "$tmp/chattu.log")
sleep 2
idle_rss=$(rss_kib "$chattu_pid")
status=$(curl -s -o /dev/null -w '%{http_code}' -H "x-api-key: $key" "http://$chattu_addr/api/profile")
[ "$status" = 200 ] || { echo "GET /api/profile answered $status" >&2; exit 1; }

# --- bare hyper ---
./target/release/examples/bare_hyper 127.0.0.1:0 >"$tmp/bare.log" 2>&1 &
bare_pid=$!
pids+=("$bare_pid")
bare_addr=$(listen_addr "$tmp/bare.log")

read -r bare_rps bare_p99 < <(run_wrk "http://$bare_addr/")
read -r chattu_rps chattu_p99 < <(run_wrk "http://$chattu_addr/api/profile" -H "x-api-key: $key")
loaded_rss=$(rss_kib "$chattu_pid")
ratio=$(awk -v a="$chattu_rps" -v b="$bare_rps" 'BEGIN { printf "%.1f", 100 * a / b }')
idle_mib=$(awk -v k="$idle_rss" 'BEGIN { printf "%.2f", k / 1024 }')
loaded_mib=$(awk -v k="$loaded_rss" 'BEGIN { printf "%.2f", k / 1024 }')

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, loopback, $(nproc) cores"
printf '%-28s %12s %10s\n' "server" "requests/s" "p99"
printf '%-28s %12s %10s\n' "bare hyper (hello world)" "$bare_rps" "$bare_p99"
printf '%-28s %12s %10s\n' "chattu GET /api/profile" "$chattu_rps" "$chattu_p99"
echo "chattu / bare hyper: $ratio % (target >= 80 %)"
echo "chattu serve idle RSS (fresh data dir): $idle_mib MiB (target <= 6 MiB); after the run: $loaded_mib MiB"
