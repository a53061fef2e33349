"""`message.dropped` for PUBLISHes refused before routing (EMQX's QoS 2 reasons)."""

from __future__ import annotations

from typing import Any

from hookmq.mqtt import ProtocolVersion, Publish, Pubrec
from tests.helpers import BrokerThread, raw_client, wait_for

V5 = ProtocolVersion.MQTT_5


def test_packet_identifier_inuse(broker: BrokerThread) -> None:
    got: list[dict[str, Any]] = []
    broker.call(broker.node.events.listen, got.append, ["message.dropped"])
    with raw_client(broker.port, V5) as c:
        c.connect("qos2-reuse")
        c.send(Publish(topic="q/1", payload=b"first", qos=2, packet_id=7))
        assert isinstance(c.recv(), Pubrec)
        c.send(Publish(topic="q/1", payload=b"second", qos=2, packet_id=7))  # no PUBREL in between, no DUP
        ack = c.recv()
        assert isinstance(ack, Pubrec) and ack.reason_code == 0x91
        wait_for(lambda: [e for e in got if e["reason"] == "packet_identifier_inuse"], message="dropped event")
    dropped = next(e for e in got if e["reason"] == "packet_identifier_inuse")
    assert (dropped["clientid"], dropped["topic"], dropped["payload"], dropped["qos"]) == (
        "qos2-reuse", "q/1", "second", 2)


def test_receive_maximum_exceeded(start_broker: Any) -> None:
    bt: BrokerThread = start_broker(mqtt={"receive_maximum": 1})
    got: list[dict[str, Any]] = []
    bt.call(bt.node.events.listen, got.append, ["message.dropped", "client.disconnected"])
    with raw_client(bt.port, V5) as c:
        c.connect("greedy")
        c.send(Publish(topic="q/1", payload=b"a", qos=2, packet_id=1))
        assert isinstance(c.recv(), Pubrec)
        c.send(Publish(topic="q/1", payload=b"b", qos=2, packet_id=2))
        c.recv_until_closed()
    wait_for(lambda: any(e["event"] == "client.disconnected" for e in got), message="disconnected event")
    assert [(e["event"], e.get("reason")) for e in got] == [
        ("message.dropped", "no_subscribers"),  # the first one was routed, to nobody
        ("message.dropped", "receive_maximum_exceeded"), ("client.disconnected", "receive_maximum_exceeded")]
