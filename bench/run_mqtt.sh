#!/usr/bin/env bash
# hookmq vs Mosquitto (noloss reference) and amqtt, MQTT only, interleaved in one invocation.
# Needs: Debian mosquitto; .venv (python3 dev.py test creates it); amqtt in $AMQTT's venv for the amqtt rows.
# Usage: bench/run_mqtt.sh [RUNS]   (raw JSON lines and logs go to $OUT, default /tmp/hookmq-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
PY=${PY:-.venv/bin/python}
HOOKMQ=${HOOKMQ:-$PWD/.venv/bin/hookmq}
AMQTT=${AMQTT:-/tmp/amqtt-venv/bin/amqtt}
OUT=${OUT:-/tmp/hookmq-bench}
RUNS=${1:-5}
mkdir -p "$OUT"
DATA=$(mktemp -d)
HQ="$HOOKMQ serve --mqtt-port {port} --ws-port 0 --http-port 0 --data-dir $DATA --config $PWD/bench/hookmq-noloss.toml --log-level warning"

echo "== 1. hookmq vs mosquitto-noloss, full size, $RUNS runs"
$PY "$SHARED/compare.py" --runs "$RUNS" --out "$OUT/mqtt.jsonl" --log-dir "$OUT/logs" \
  --target mosquitto 18831 "mosquitto -c {bench}/mosquitto-noloss.conf" \
  --target hookmq 18841 "$HQ" \
  --scenario 'fanin -P 4 -n 200000 -q 0 -s 64' \
  --scenario 'fanin -P 4 -n 200000 -q 1 -s 64' \
  --scenario 'fanout -K 10 -n 50000 -q 0 -s 64' \
  --scenario 'conn -c 2000 --concurrency 50' \
  --scenario 'fanin -P 4 -n 40000 -q 0 -s 64 --rate 20000' \
  --scenario 'fanin -P 4 -n 6000 -q 1 -s 64 --rate 2000' | tee "$OUT/mqtt.txt"

if [ -x "$AMQTT" ]; then
  echo "== 2. hookmq vs amqtt vs mosquitto-noloss, smaller N, 3 runs"
  $PY "$SHARED/compare.py" --runs 3 --settle 1 --out "$OUT/mqtt_amqtt.jsonl" --log-dir "$OUT/logs" \
    --target mosquitto 18831 "mosquitto -c {bench}/mosquitto-noloss.conf" \
    --target hookmq 18841 "$HQ" \
    --target amqtt 18832 "$AMQTT -c {bench}/amqtt.yaml" \
    --scenario 'fanin -P 4 -n 20000 -q 0 -s 64' \
    --scenario 'fanin -P 4 -n 20000 -q 1 -s 64' \
    --scenario 'fanout -K 10 -n 2000 -q 0 -s 64' \
    --scenario 'conn -c 500 --concurrency 50' | tee "$OUT/mqtt_amqtt.txt"
fi
rm -rf "$DATA"
echo "done: $OUT"
