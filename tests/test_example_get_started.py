"""examples/get_started, for real: the page's Flask receiver, ``hookmq serve`` with the example config, and one
``mosquitto_pub`` — the receiver prints every event, in order, with EMQX's fields."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import orjson

from hookmq.events.catalogue import get as event_spec
from tests.helpers import ROOT, BrokerProcess, require_tool, wait_for
from tests.webhooks.receiver import free_port

EXAMPLE = ROOT / "examples" / "get_started"
ORDER = ["client.check_authn_complete", "client.connected", "client.connack", "client.check_authz_complete",
         "message.publish", "message.dropped", "client.disconnected"]
PREFIX = "got post request:  "


def printed_events(output: Path) -> list[dict[str, object]]:
    events = []
    for line in output.read_text().splitlines():
        if line.startswith(PREFIX):
            events.append(orjson.loads(ast.literal_eval(line[len(PREFIX):])))
    return events


def test_get_started_example(tmp_path: Path) -> None:
    mosquitto_pub = require_tool("mosquitto_pub")
    port = free_port()
    config = tmp_path / "hookmq.toml"
    config.write_text((EXAMPLE / "hookmq.toml").read_text().replace("127.0.0.1:5000", f"127.0.0.1:{port}"))
    output = tmp_path / "receiver.out"
    with open(output, "wb") as out:
        receiver = subprocess.Popen([sys.executable, str(EXAMPLE / "http_server.py")], stdout=out,
                                    stderr=subprocess.STDOUT, env={**os.environ, "PORT": str(port)})
    broker = BrokerProcess(tmp_path / "data", "--config", str(config))
    try:
        wait_for(lambda: "Running on" in output.read_text() or receiver.poll() is not None, 20, "Flask to start")
        assert receiver.poll() is None, output.read_text()
        broker.start()
        subprocess.run([mosquitto_pub, "-p", str(broker.port), "-i", "emqx_c", "-t", "t/1",
                        "-m", '{ "msg": "Hello Webhook" }'], check=True, timeout=10)
        events = wait_for(lambda: len(found := printed_events(output)) >= len(ORDER) and found, 20,
                          "the receiver to print every event")
    finally:
        broker.stop()
        receiver.terminate()
        receiver.wait(10)
    assert [event["event"] for event in events] == ORDER
    for event in events:
        assert event["metadata"] == {"rule_id": "my_webhook_WH_D"}
        assert set(event) == {*event_spec(str(event["event"])).example, "metadata"}
        assert event["clientid"] == "emqx_c" and event["node"] == "hookmq@127.0.0.1"
    assert events[4]["payload"] == '{ "msg": "Hello Webhook" }' and events[4]["topic"] == "t/1"
    assert events[5]["reason"] == "no_subscribers" and events[6]["reason"] == "normal"
