#!/usr/bin/env bash
# hookmq webhooks vs the DIY bridge (paho + aiohttp on Mosquitto), with the shared reference harness, in one
# invocation per table so the ratios compare like with like. Raw JSON lines go to /tmp/hookmq-bench/.
#   bench/run_webhooks.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
py=.venv/bin/python
harness=../shared/bench/webhook_bench.py
out=/tmp/hookmq-bench
mkdir -p "$out"
diy='diy::mosquitto -c {bench}/mosquitto-noloss.conf::{python} {bench}/diy_bridge.py --mqtt-port {mqtt_port} --url {sink_url}'
hookmq='hookmq::bench/hookmq_webhook.sh {mqtt_port} {sink_url}'
batched='hookmq-batch100::bench/hookmq_webhook.sh {mqtt_port} {sink_url} batch_size=100 batch_time=\"20ms\"'

echo "## 1. throughput, 20k QoS 1 burst: DIY vs hookmq vs hookmq batched"
$py $harness -n 20000 -q 1 --runs "$runs" --mqtt-port 18831 --out "$out/webhooks-burst.jsonl" \
    --system "$diy" --system "$hookmq" --system "$batched"
echo "## 2. latency at 1,000 msg/s (10k msgs)"
$py $harness -n 10000 -q 1 --rate 1000 --runs "$runs" --mqtt-port 18831 --out "$out/webhooks-rate.jsonl" \
    --system "$diy" --system "$hookmq"
echo "## 3. sink failing 5% with 503: retries, nothing lost"
$py $harness -n 20000 -q 1 --runs 1 --mqtt-port 18831 --sink-args '--fail 0.05' --out "$out/webhooks-fail.jsonl" \
    --system "$diy" --system "$hookmq"
echo "## 4. the sink's own ceiling"
$py $harness --ceiling --runs "$runs"
