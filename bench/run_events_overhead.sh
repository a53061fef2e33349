#!/usr/bin/env bash
# Cost of the events layer when nothing matches: fan-in with no event listener vs with a live listener
# (`hookmq events tail`) for message.publish + message.delivered on a topic filter the traffic never matches.
# The issue's bar: within 5 %. Usage: bench/run_events_overhead.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
PY=${PY:-.venv/bin/python}
HOOKMQ=${HOOKMQ:-$PWD/.venv/bin/hookmq}
OUT=${OUT:-/tmp/hookmq-bench}
RUNS=${1:-5}
mkdir -p "$OUT"
DATA=$(mktemp -d)
HTTP=18893
BASE="$HOOKMQ serve --mqtt-port {port} --ws-port 0 --data-dir $DATA --config $PWD/bench/hookmq-noloss.toml --log-level warning"
TAIL="$HOOKMQ events tail --url http://127.0.0.1:$HTTP --event message.publish --event message.delivered --topic nomatch/#"
WAIT="until curl -sf http://127.0.0.1:$HTTP/health >/dev/null; do sleep 0.05; done"

$PY "$SHARED/compare.py" --runs "$RUNS" --settle 1.5 --out "$OUT/events_overhead.jsonl" --log-dir "$OUT/logs" \
  --target events-off 18844 "$BASE --http-port 0" \
  --target events-on 18845 "sh -c '$BASE --http-port $HTTP & $WAIT; $TAIL >/dev/null & wait'" \
  --scenario 'fanin -P 4 -n 200000 -q 0 -s 64' \
  --scenario 'fanin -P 4 -n 200000 -q 1 -s 64' | tee "$OUT/events_overhead.txt"
rm -rf "$DATA"
