#!/usr/bin/env bash
# hookmq with one webhook to the bench sink, for ../shared/bench/webhook_bench.py:
#   --system 'hookmq::bench/hookmq_webhook.sh {mqtt_port} {sink_url} [SETTING=VALUE ...]'
# Extra webhook settings are TOML key=value pairs, e.g. batch_size=100 'batch_time="20ms"'.
# A fresh data dir per run (the durable queue is on: it always is).
set -euo pipefail
port=$1 url=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/hookmq-webhook-bench.XXXXXX)
cat > "$dir/hookmq.toml" <<TOML
[mqtt]
max_queue_len = 0
sys_interval = 0

[[webhooks]]
name = "bench"
url = "$url"
events = ["message.publish"]
topics = ["bench/#"]
$(printf '%s\n' "$@")
TOML
exec "$root/.venv/bin/hookmq" serve --config "$dir/hookmq.toml" --data-dir "$dir/data" --host 127.0.0.1 \
    --mqtt-port "$port" --ws-port 0 --http-port 0 --log-level warning
