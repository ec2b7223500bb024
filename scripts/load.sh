#!/usr/bin/env bash
# Load run for `convq serve`: POST /getConversations on the sample store against GET /healthz (the
# ceiling: same server, same middleware, no work), each for DURATION at CONNECTIONS connections,
# plus POST /query (compile only) in between to show where the time goes.
#
#   scripts/load.sh                      # 30 s per endpoint, 64 connections
#   DURATION=10s scripts/load.sh         # shorter
#   TOOL=oha scripts/load.sh             # oha instead of wrk (installed into ~/.cache/convq/tools)
#   BUILD_FLAGS=--no-default-features scripts/load.sh   # the system allocator instead of mimalloc
#
# Builds the release binary, starts it on a free loopback port (logs to target/load/server.log),
# runs the load, prints requests/s, p50/p99 latency, errors and the ratio, and stops the server.
# Exits 1 when getConversations is under TARGET_RATIO of the /healthz rate or any request failed.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
TARGET_RATIO=${TARGET_RATIO:-0.70}
INPUT=${INPUT:-examples/waiting.json}
TOOL=${TOOL:-}
OUT=target/load
mkdir -p "$OUT"

if [[ -z "$TOOL" ]]; then
    if command -v wrk >/dev/null; then TOOL=wrk; else TOOL=oha; fi
fi
if [[ "$TOOL" == oha ]]; then
    TOOLS="$HOME/.cache/convq/tools"
    if [[ ! -x "$TOOLS/bin/oha" ]]; then
        echo "== installing oha into $TOOLS (once)"
        cargo install oha --locked --root "$TOOLS"
    fi
    OHA="$TOOLS/bin/oha"
fi

echo "== building convq (release)"
# shellcheck disable=SC2086 # BUILD_FLAGS is a list of flags
cargo build --release --locked -p convq-cli --bin convq ${BUILD_FLAGS:-}
BIN=target/release/convq

echo "== starting convq serve on the sample store"
# info: the access log line per request stays on, as in production.
RUST_LOG=${RUST_LOG:-info} "$BIN" serve --addr 127.0.0.1:0 >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill -TERM "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
ADDR=
for _ in $(seq 100); do
    ADDR=$(grep -o 'listening on http://[0-9.:]*' "$OUT/server.log" | head -1 | sed 's/listening on //' || true)
    [[ -n "$ADDR" ]] && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$OUT/server.log"; exit 1; }
    sleep 0.1
done
[[ -n "$ADDR" ]] || { echo "the server did not start"; cat "$OUT/server.log"; exit 1; }
echo "   $ADDR, $(nproc) CPUs, $TOOL, $DURATION at $CONNECTIONS connections"

# One request of each first: a load run against a broken endpoint measures nothing.
curl -sf -H 'content-type: application/json' --data-binary "@$INPUT" "$ADDR/getConversations" \
    | grep -q '"status":true' || { echo "getConversations does not answer a success envelope"; exit 1; }
curl -sf "$ADDR/healthz" >/dev/null

# CPU time the server has used so far, in clock ticks (user + system).
server_ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
TICK=$(getconf CLK_TCK)

# Prints "rps p50_ms p99_ms errors requests server_cpu_us_per_request" for one endpoint.
run() {
    local name=$1 method=$2 path=$3 before result
    before=$(server_ticks)
    result=$(load "$name" "$method" "$path")
    echo "$result $(python3 -c "print(f'{($(server_ticks) - $before) / $TICK * 1e6 / ${result##* }:.1f}')")"
}

# Prints "rps p50_ms p99_ms errors requests" for one endpoint.
load() {
    local name=$1 method=$2 path=$3
    if [[ "$TOOL" == wrk ]]; then
        cat >"$OUT/$name.lua" <<LUA
wrk.method = "$method"
if wrk.method == "POST" then
    local file = assert(io.open("$INPUT", "rb"))
    wrk.body = file:read("*a")
    file:close()
    wrk.headers["Content-Type"] = "application/json"
end
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        e.connect + e.read + e.write + e.status + e.timeout, summary.requests))
end
LUA
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$OUT/$name.lua" "$ADDR$path" \
            >"$OUT/$name.txt"
        grep '^RESULT' "$OUT/$name.txt" | cut -d' ' -f2-
    else
        local args=(-z "$DURATION" -w -c "$CONNECTIONS" --no-tui --output-format json -m "$method")
        [[ "$method" == POST ]] && args+=(-H 'content-type: application/json' -D "$INPUT")
        "$OHA" "${args[@]}" "$ADDR$path" >"$OUT/$name.json"
        python3 - "$OUT/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
ok = sum(n for code, n in codes.items() if code.startswith("2"))
total = sum(codes.values()) + sum(r.get("errorDistribution", {}).values())
print(f'{s["requestsPerSec"]:.1f} {p["p50"]*1000:.3f} {p["p99"]*1000:.3f} {total - ok} {total}')
PY
    fi
}

echo "== POST /getConversations ($INPUT)"
read -r G_RPS G_P50 G_P99 G_ERR G_N G_CPU < <(run getConversations POST /getConversations)
echo "== POST /query (compile only, no backend: separates the core's cost from the store's)"
read -r Q_RPS Q_P50 Q_P99 Q_ERR Q_N Q_CPU < <(run query POST /query)
echo "== GET /healthz"
read -r H_RPS H_P50 H_P99 H_ERR H_N H_CPU < <(run healthz GET /healthz)

# Stop the server (graceful, as in production) and keep only the ends of its access log: a
# line per request adds up to hundreds of MB.
kill -TERM "$SERVER"
wait "$SERVER" || true
trap - EXIT
LINES=$(wc -l <"$OUT/server.log")
{ head -3 "$OUT/server.log"; echo "... ($LINES lines in all)"; tail -3 "$OUT/server.log"; } >"$OUT/server.log.ends"
mv "$OUT/server.log.ends" "$OUT/server.log"

RATIO=$(python3 -c "print(f'{$G_RPS / $H_RPS:.2f}')")
FORMAT='%-20s %12s %10s %10s %8s %10s %16s\n'
# shellcheck disable=SC2059 # the format is ours
{
    printf "\n$FORMAT" endpoint 'requests/s' 'p50 ms' 'p99 ms' errors requests 'server CPU us/req'
    printf "$FORMAT" /getConversations "$G_RPS" "$G_P50" "$G_P99" "$G_ERR" "$G_N" "$G_CPU"
    printf "$FORMAT" /query "$Q_RPS" "$Q_P50" "$Q_P99" "$Q_ERR" "$Q_N" "$Q_CPU"
    printf "$FORMAT" /healthz "$H_RPS" "$H_P50" "$H_P99" "$H_ERR" "$H_N" "$H_CPU"
}
echo "ratio getConversations/healthz: $RATIO (target >= $TARGET_RATIO, zero errors)"
echo "server CPU per request: /getConversations $G_CPU us, /healthz $H_CPU us" \
     "(ratio $(python3 -c "print(f'{$H_CPU / $G_CPU:.2f}')") if the server had the CPUs to itself)"
echo "raw output: $OUT/{getConversations,query,healthz}.*, server log: $OUT/server.log"

python3 -c "import sys; sys.exit(0 if $RATIO >= $TARGET_RATIO and $G_ERR + $Q_ERR + $H_ERR == 0 else 1)"
