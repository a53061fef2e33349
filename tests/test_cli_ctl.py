"""``hookmq ctl clients|kick|publish|stats`` as real subprocesses against a real node over real HTTP, with real
MQTT clients on the other side (README "CLI")."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from hookmq.mqtt import Disconnect, ProtocolVersion, Publish, ReasonCode, Suback, Subscribe, Subscription
from tests.cli_runner import Cli
from tests.helpers import BrokerThread, raw_client
from tests.webhooks.receiver import free_port

V5 = ProtocolVersion.MQTT_5


def test_clients_and_kick(start_broker: Callable[..., BrokerThread], tmp_path: Path) -> None:
    node = start_broker()
    cli = Cli.of(node, tmp_path)
    assert cli.ok("ctl", "clients") == "no clients connected\n"
    with raw_client(node.port, V5) as five, raw_client(node.port) as four:
        five.connect("sensor/1")  # a '/' in a client id must survive the URL
        four.connect("plain", username="bob")
        page = cli.json("ctl", "clients")
        assert [c["clientid"] for c in page["data"]] == ["plain", "sensor/1"] and page["meta"]["total"] == 2
        lines = cli.ok("ctl", "clients").splitlines()
        assert lines[0].split()[:4] == ["CLIENT", "ID", "USERNAME", "PEER"]
        assert lines[1].split()[:2] == ["plain", "bob"] and lines[1].split()[3] == "3.1.1"
        assert lines[2].split()[:2] == ["sensor/1", "-"] and lines[2].split()[3] == "5.0"
        assert lines[0].index("USERNAME") == lines[1].index("bob")  # aligned
        assert [c["clientid"] for c in cli.json("ctl", "clients", "--like", "sens")["data"]] == ["sensor/1"]
        assert [c["clientid"] for c in cli.json("ctl", "clients", "--username", "bob")["data"]] == ["plain"]

        assert cli.ok("ctl", "kick", "sensor/1") == "client sensor/1 kicked\n"
        (packet,) = five.recv_until_closed()
        assert isinstance(packet, Disconnect) and packet.reason_code == ReasonCode.ADMINISTRATIVE_ACTION
        cli.fails("ctl", "kick", "sensor/1", words=["no connected client 'sensor/1'"])
        assert [c["clientid"] for c in cli.json("ctl", "clients")["data"]] == ["plain"]


def test_publish_and_stats(start_broker: Callable[..., BrokerThread], tmp_path: Path) -> None:
    node = start_broker()
    cli = Cli.of(node, tmp_path)
    with raw_client(node.port) as sub:
        sub.connect("listener")
        sub.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="t/#", qos=1),)))
        assert isinstance(sub.recv(), Suback)

        assert cli.ok("ctl", "publish", "t/1", "hello", "--qos", "1").startswith("published to t/1: 1 subscriber ")
        got = sub.recv()
        assert isinstance(got, Publish) and (got.topic, got.payload, got.qos) == ("t/1", b"hello", 1)
        answer = json.loads(cli.ok("ctl", "publish", "t/2", "-", "--retain", "--clientid", "cli", "--json",
                                   stdin="from stdin"))
        assert answer["matched"] == 1 and len(answer["id"]) == 32
        got = sub.recv()
        assert isinstance(got, Publish) and (got.topic, got.payload) == ("t/2", b"from stdin")
    # no one listens now; the retained message stays
    assert "0 subscribers" in cli.ok("ctl", "publish", "t/3", "x", stdin="ignored")
    bad = cli.fails("ctl", "publish", "t/#", "x", words=["hookmq: ", "topic"])
    assert "wildcards" in bad

    stats = cli.json("ctl", "stats")
    assert stats["retained"] >= 1 and stats["messages_received"] >= 3 and stats["webhooks"]["total"] == 0
    human = cli.ok("ctl", "stats")
    for line in ("node:", "hookmq@", "uptime:", "retained:", "webhooks:", "connections:"):
        assert line in human, line

    down = f"http://127.0.0.1:{free_port()}"
    cli.fails("ctl", "stats", "--url", down, words=["cannot reach hookmq", "Is hookmq running?"])
    cli.fails("ctl", "clients", env={"HOOKMQ_API_KEY": ""}, words=["credentials required", "hookmq login"])
