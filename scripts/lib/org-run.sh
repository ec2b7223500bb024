# Sourced by scripts/load-org.sh and scripts/watch-org.sh: builds the simulated organization,
# convq and a load example of convq-http, and starts and stops their processes on 127.0.0.1.
# The sourcing script sets OUT (a directory) and PROFILE (debug or release) first.

# build EXAMPLE: convq-simorg, convq and the convq-http example EXAMPLE; sets BIN.
build() {
    local flags=()
    [[ "$PROFILE" == release ]] && flags+=(--release)
    echo "== building ($PROFILE)"
    cargo build "${flags[@]}" -p convq-simorg --bin convq-simorg
    cargo build "${flags[@]}" -p convq-http --example "$1"
    cargo build "${flags[@]}" -p convq-cli --bin convq
    BIN=target/$PROFILE
}

# start NAME CMD...: runs CMD in the background, logging to $OUT/NAME.log, waits (at most 30 s)
# for its "listening on URL" line and prints URL. Callers take the URL with $(start ...), a
# subshell, so the pid goes to $OUT/NAME.pid (a variable set there would be lost): stop_all and
# callers read it from there.
start() {
    local name=$1; shift
    "$@" >"$OUT/$name.log" 2>&1 &
    echo "$!" >"$OUT/$name.pid"
    local url
    for _ in $(seq 300); do
        url=$(grep -o 'listening on http://[0-9.:]*' "$OUT/$name.log" | head -1 | sed 's/listening on //' || true)
        [[ -n "$url" ]] && { echo "$url"; return; }
        sleep 0.1
    done
    echo "did not start: $*" >&2; cat "$OUT/$name.log" >&2; exit 1
}

# stop_all: stops every process `start` started (and forgets it).
stop_all() {
    local pidfile
    for pidfile in "$OUT"/*.pid; do
        [[ -e "$pidfile" ]] || continue
        kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
}

mkdir -p "$OUT"
rm -f "$OUT"/*.pid  # from an earlier run that was killed: those pids may be anyone's now
trap stop_all EXIT
