#!/usr/bin/env bash
# Idle memory of `chattu serve` as it ships: the static musl release binary (what `cross.toml` and
# the README's ARM path build), measured on this machine's x86_64 twin of that target.
#
#   scripts/bench-rss.sh [RUNS=3]
#
# Two start states, RUNS runs each, 3 s after "listening on":
#   account  - an account made with `chattu user add` first, then `serve` (as scripts/bench-http.sh)
#   empty    - `serve` on an empty data dir, which creates the admin account (one argon2 hash) itself
# Prints VmRSS with its anonymous (heap, stacks) and file-backed (code) parts.
#
# Needs: rustup target add x86_64-unknown-linux-musl; apt-get install musl-tools (musl-gcc, for ring).
# CHATTU_BENCH_BIN=PATH measures that binary instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}

if [ -n "${CHATTU_BENCH_BIN:-}" ]; then
    bin=$(realpath "$CHATTU_BENCH_BIN")
else
    command -v musl-gcc >/dev/null 2>&1 || { echo "musl-gcc is missing: apt-get install musl-tools" >&2; exit 1; }
    CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --target x86_64-unknown-linux-musl --bin chattu >&2
    bin=$(realpath ./target/x86_64-unknown-linux-musl/release/chattu)
fi
file "$bin" | grep -q "static" || echo "warning: $bin is not statically linked" >&2

measure() {
    local state=$1 dir pid
    dir=$(mktemp -d)
    if [ "$state" = account ]; then
        (cd "$dir" && echo "bench-password-1" | "$bin" user add bench --data-dir "$dir/data" \
            --password-stdin >/dev/null 2>&1)
    fi
    # From the temporary dir, so no ./config/chattu.toml is read: the built-in defaults apply.
    (cd "$dir" && CHATTU_ADMIN_PASSWORD=bench-admin-1 exec "$bin" serve --listen 127.0.0.1:0 \
        --data-dir "$dir/data" >"$dir/log" 2>&1) &
    pid=$!
    for _ in $(seq 1 200); do grep -q "listening on" "$dir/log" 2>/dev/null && break; sleep 0.05; done
    sleep 3
    awk -v s="$state" '/^VmRSS:/ {r=$2} /^RssAnon:/ {a=$2} /^RssFile:/ {f=$2}
        END { printf "%-8s %6.2f MiB  (anonymous %.2f, file-backed %.2f)\n", s, r/1024, a/1024, f/1024 }' \
        "/proc/$pid/status"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
}

echo "$(basename "$bin"): $(stat -c %s "$bin") bytes, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# A static PIE reads its whole relocation table at start; packed (RELR) ones keep it small.
if command -v readelf >/dev/null 2>&1; then
    readelf -SW "$bin" | grep -oE '\.rel[ar]?\.dyn .*' | while read -r name _type _addr _off size _rest; do
        echo "  $name $((16#$size)) bytes"
    done
fi
for state in account empty; do
    for _ in $(seq 1 "$RUNS"); do measure "$state"; done
done
