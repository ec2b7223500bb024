#!/usr/bin/env bash
# Live lists at scale: `convq serve` in front of the simulated organization (convq-simorg, 50 ms
# latency), 1,000 subscribers of /getConversations/stream (one per agent, one query shape), the
# org's data changing every second (10 agents' lists per change, PUT /_simorg/data). Reports
# upstream requests per interval, events delivered, latency from the change to the event, and
# the server's memory. Everything on 127.0.0.1; bounded by DURATION (+ start-up).
#
#   scripts/watch-org.sh                        # 1,000 subscribers, 60 s, interval 1 s
#   AGENTS=200 DURATION=20 INTERVAL=2s scripts/watch-org.sh
#   PROFILE=release DELTA=1 scripts/watch-org.sh   # release build, serve --stream-delta
set -euo pipefail
cd "$(dirname "$0")/.."

AGENTS=${AGENTS:-1000}
DURATION=${DURATION:-60}
INTERVAL=${INTERVAL:-1s}
CHANGES=${CHANGES:-10}
PROFILE=${PROFILE:-debug}
DELTA=${DELTA:-0}
OUT=target/watch-org

source scripts/lib/org-run.sh
build watchers

SERVE=()
[[ "$DELTA" == 1 ]] && SERVE+=(--stream-delta)

mem() { grep -E '^(VmRSS|VmHWM)' "/proc/$1/status" | awk '{printf "%s %d MiB  ", $1, $2/1024}'; }

org=$(start org "$BIN/convq-simorg" --agents 1 --latency 50ms)
# No answer cache: a live list must see each interval's answer (the cache would serve the last).
convq=$(CONVQ_DATAVERSE_TOKEN=load-token RUST_LOG=warn start convq \
    "$BIN/convq" serve --addr 127.0.0.1:0 --dataverse "$org" --cache-ttl 0 \
    --stream-interval "$INTERVAL" --max-connections 4096 --max-subscribers-per-caller 5000 "${SERVE[@]}")
convq_pid=$(cat "$OUT/convq.pid")
echo "== before: $(mem "$convq_pid")"
before=$(curl -sf "$org/_simorg/stats")
start_s=$(date +%s.%N)
"$BIN/examples/watchers" --url "$convq" --org "$org" --agents "$AGENTS" --duration "$DURATION" \
    --changes "$CHANGES" --change-every 1 >"$OUT/watchers.json" &
watchers=$!
echo "$watchers" >"$OUT/watchers.pid"
peak=""
while kill -0 "$watchers" 2>/dev/null; do sleep 5; peak="$(mem "$convq_pid")"; done
wait "$watchers"
end_s=$(date +%s.%N)
after=$(curl -sf "$org/_simorg/stats")
echo "== after:  $peak (mode: $([[ "$DELTA" == 1 ]] && echo delta || echo polling), $PROFILE build)"
python3 - "$OUT/watchers.json" "$before" "$after" "$start_s" "$end_s" "$INTERVAL" <<'PY'
import json, sys
w = json.load(open(sys.argv[1]))
before, after = json.loads(sys.argv[2]), json.loads(sys.argv[3])
seconds = float(sys.argv[5]) - float(sys.argv[4])
interval = float(sys.argv[6].rstrip('s'))
requests = after['requests'] - before['requests']
agents = after['agents'] - before['agents']
ok = max(after['ok'] - before['ok'], 1)
print(f"subscribers {w['subscribers']} connected {w['connected']} ended early {w['ended_early']}")
print(f"upstream: {requests} requests in {seconds:.0f} s = {requests / (seconds / interval):.2f} per {interval:g} s interval "
      f"({after['throttled'] - before['throttled']} answered 429), {agents / ok:.0f} agents per request")
print(f"events: {json.dumps(w['events'])}")
print(f"changes made {w['changes_made']} seen {w['changes_seen']} | change to event: p50 {w['p50_ms']} ms, "
      f"p99 {w['p99_ms']} ms, max {w['max_ms']} ms (goal: p99 < interval + 1 s = {interval * 1000 + 1000:.0f} ms)")
if w['first_problem']:
    print(f"first problem: {w['first_problem']}")
PY
