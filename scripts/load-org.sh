#!/usr/bin/env bash
# One org, a thousand agents: `convq serve` in front of the simulated organization
# (convq-simorg: Dataverse's service protection limits, 50 ms latency), 1,000 agents' screens
# polling getConversations, first with the shared path's defaults (coalescing, cache, pacing),
# then with --coalesce-window 0 --cache-ttl 0; then `convq get --ndjson` of 1,000 agents at
# once against one at a time. Everything on 127.0.0.1; every run bounded by DURATION.
#
#   scripts/load-org.sh                  # SCALE=5: 5x faster clock, limits scaled alike
#   SCALE=1 DURATION=300 scripts/load-org.sh   # real time: 5 minutes per run
#
# Time scaling: with SCALE=S the agents poll every 10/S s, the org's window is 300/S s (still
# 6000 requests), and convq's coalescing window and cache TTL are divided by S too, so every
# ratio is the real-time one. Concurrency (52) and latency (50 ms) are not time and stay.
# The execution-time limit is on (1200 s per window: requests come S times as often into a
# window S times as short, so the execution time per window is the real-time one): each
# request costs its latency plus EXEC_PER_AGENT (default 10ms) per agent it names.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-5}
DURATION=${DURATION:-60}
AGENTS=${AGENTS:-1000}
PROFILE=${PROFILE:-debug}
OUT=target/load-org
f() { python3 -c "print($1)"; }
INTERVAL=$(f "10 / $SCALE")
WINDOW_S=$(f "300 // $SCALE")
MAX_REQ=6000
MAX_EXEC=${MAX_EXEC:-1200s}
EXEC_PER_AGENT=${EXEC_PER_AGENT:-10ms}
COALESCE_MS=$(f "max(1, 50 // $SCALE)")
TTL_MS=$(f "2000 // $SCALE")

source scripts/lib/org-run.sh
build fleet

stats() { curl -sf "$1/_simorg/stats"; }

# run NAME [convq serve flags...]: prints the fleet's JSON line merged with the org's counts.
run() {
    local name=$1; shift
    local org convq
    org=$(start "$name-org" "$BIN/convq-simorg" --agents "$AGENTS" --latency 50ms \
        --window "${WINDOW_S}s" --max-requests "$MAX_REQ" --max-concurrent 52 \
        --max-execution "$MAX_EXEC" --execution-per-agent "$EXEC_PER_AGENT")
    convq=$(CONVQ_DATAVERSE_TOKEN=load-token RUST_LOG=info start "$name-convq" \
        "$BIN/convq" serve --addr 127.0.0.1:0 --dataverse "$org" --concurrency-limit 4096 --max-connections 4096 "$@")
    "$BIN/examples/fleet" --url "$convq" --agents "$AGENTS" --interval "$INTERVAL" \
        --duration "$DURATION" >"$OUT/$name-fleet.json"
    stats "$org" >"$OUT/$name-org.json"
    stop_all
    python3 - "$name" "$OUT/$name-fleet.json" "$OUT/$name-org.json" "$SCALE" "$DURATION" <<'PY'
import json, sys
name, fleet, org, scale, duration = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), float(sys.argv[4]), float(sys.argv[5])
per5 = 300 / (duration * scale)  # real-time 5-minute windows in this run
print(f"{name:>10}: calls {fleet['calls']} ok {fleet['ok']} failed {fleet['failed']} | "
      f"upstream {org['requests']} ({org['throttled']} answered 429, {org['throttled_execution']} for execution time) = {org['requests'] * per5:.0f} per 5 min "
      f"| execution {org['execution_ms'] / 1000 * per5:.0f} s per 5 min (limit 1200) "
      f"(limit 6000, naive {fleet['calls'] * per5:.0f}) | agents/request {org['agents'] / max(org['ok'], 1):.1f} (max {org['max_agents']}) | "
      f"p50 {fleet['p50_ms']} ms p99 {fleet['p99_ms']} ms | Age mean {fleet['mean_age_s']} s max {fleet['max_age_s']} s (x{scale:g} clock)")
if fleet['first_failure']:
    print(f"{'':>10}  first failure: {fleet['first_failure'][:200]}")
PY
}

echo "== $AGENTS agents polling every ${INTERVAL}s for ${DURATION}s (clock x$SCALE: window ${WINDOW_S}s, $MAX_REQ requests, $MAX_EXEC execution at $EXEC_PER_AGENT per agent, coalescing ${COALESCE_MS}ms, cache ${TTL_MS}ms)"
run shared --coalesce-window "${COALESCE_MS}ms" --cache-ttl "${TTL_MS}ms" | tee "$OUT/summary.txt"
run naive --coalesce-window 0 --cache-ttl 0 | tee -a "$OUT/summary.txt"

echo "== convq get --ndjson, $AGENTS agents, 50 ms latency"
python3 - "$AGENTS" >"$OUT/agents.ndjson" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    hi = 0x5a5a000000004000 | i
    h = f"{hi:016x}"
    print('{"agentId":"%s-%s-%s-8000-000000000000","status":[1,2,3,4,5,6,7]}' % (h[:8], h[8:12], h[12:16]))
PY
ndjson() {
    local name=$1; shift
    local org start end
    org=$(start "ndjson-$name-org" "$BIN/convq-simorg" --agents "$AGENTS" --latency 50ms \
        --max-execution "$MAX_EXEC" --execution-per-agent "$EXEC_PER_AGENT")
    start=$(date +%s.%N)
    CONVQ_DATAVERSE_TOKEN=load-token "$BIN/convq" get --ndjson --dataverse "$org" "$@" \
        "$OUT/agents.ndjson" >"$OUT/ndjson-$name.out" 2>"$OUT/ndjson-$name.err" || true
    end=$(date +%s.%N)
    local upstream; upstream=$(stats "$org" | python3 -c "import json,sys; print(json.load(sys.stdin)['requests'])")
    stop_all
    printf '%10s: %6.2f s, %s upstream requests, %s\n' "$name" "$(f "$end - $start")" "$upstream" "$(tail -1 "$OUT/ndjson-$name.err")"
}
ndjson shared | tee -a "$OUT/summary.txt"
ndjson one-by-one --concurrency 1 --coalesce-window 0 | tee -a "$OUT/summary.txt"
echo "summary: $OUT/summary.txt"
