"""``$SYS/brokers/<node>/...`` statistics end to end: published periodically (retained), reachable through
``$SYS/#`` but never through a filter starting with a wildcard ([MQTT-4.7.2-1]), and not writable by clients
(MQTT 5 §4.7.2: '$' topics are the server's).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hookmq.mqtt import (
    Packet,
    Pingreq,
    Pingresp,
    ProtocolVersion,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    ReasonCode,
    Suback,
    Subscribe,
    Subscription,
)
from tests.helpers import BrokerThread, RawClient, wait_for

V3 = ProtocolVersion.MQTT_3_1_1
V5 = ProtocolVersion.MQTT_5
NODE = "hookmq@127.0.0.1"
PREFIX = f"$SYS/brokers/{NODE}/"
SYS_NAMES = {
    "version", "uptime", "datetime", "stats/connections/count", "stats/connections/max", "stats/sessions/count",
    "stats/subscriptions/count", "stats/subscriptions/shared/count", "stats/retained/count",
    "metrics/messages/received", "metrics/messages/sent", "metrics/messages/dropped", "metrics/delivery/dropped",
    "metrics/bytes/received", "metrics/bytes/sent",
}

OpenClient = Callable[..., RawClient]


@pytest.fixture
def sys_broker(start_broker: Callable[..., BrokerThread]) -> BrokerThread:
    return start_broker(mqtt={"sys_interval": 0.2})


@pytest.fixture
def clients() -> Iterator[OpenClient]:
    """Factory ``clients(port, client_id, version, **connect_kw)``: a connected RawClient, closed afterwards."""
    opened: list[RawClient] = []

    def open_client(port: int, client_id: str, version: int = V5, **kw: Any) -> RawClient:
        client = RawClient(port, version)
        opened.append(client)
        ack = client.connect(client_id, **kw)
        assert ack.reason_code == 0, ack
        return client

    yield open_client
    for client in opened:
        client.close()


def subscribe(client: RawClient, *subs: tuple[str, int], packet_id: int = 1) -> tuple[int, ...]:
    items = tuple(Subscription(topic_filter=f, qos=q) for f, q in subs)
    client.send(Subscribe(packet_id=packet_id, subscriptions=items))
    while True:  # live $SYS publications for an earlier subscription may come before the SUBACK
        ack = client.recv()
        if isinstance(ack, Suback):
            assert ack.packet_id == packet_id, ack
            return ack.reason_codes
        assert isinstance(ack, Publish), ack


def ack(client: RawClient, packet: Packet) -> None:
    if isinstance(packet, Publish) and packet.qos == 1:
        client.send(Puback(packet_id=packet.packet_id or 0))
    elif isinstance(packet, Publish) and packet.qos == 2:
        client.send(Pubrec(packet_id=packet.packet_id or 0))
    elif isinstance(packet, Pubrel):
        client.send(Pubcomp(packet_id=packet.packet_id))


def drain(client: RawClient) -> list[Publish]:
    """Every PUBLISH the broker has already sent to ``client`` (a PINGRESP comes after all of them)."""
    client.send(Pingreq())
    out: list[Publish] = []
    while True:
        packet = client.recv()
        if isinstance(packet, Pingresp):
            return out
        ack(client, packet)
        if isinstance(packet, Publish):
            out.append(packet)


def next_live(client: RawClient, name: str, accept: Callable[[bytes], bool] = lambda _: True) -> Publish:
    """The next periodic (RETAIN=0) publication of ``$SYS/brokers/<node>/<name>`` whose payload passes."""
    deadline = time.monotonic() + 10
    while True:
        assert time.monotonic() < deadline, f"no live {name} publication passed the check"
        packet = client.recv(timeout=5)
        ack(client, packet)
        if (isinstance(packet, Publish) and packet.topic == PREFIX + name and not packet.retain
                and accept(packet.payload)):
            return packet


def test_sys_topics_are_published_and_retained(sys_broker: BrokerThread, clients: OpenClient) -> None:
    """Every statistic is published under ``$SYS/brokers/<node>/``, retained (a new ``$SYS/#`` subscriber
    gets them at once with RETAIN=1) and republished every ``sys_interval`` (RETAIN=0 on the live copy)."""
    wait_for(lambda: sys_broker.call(lambda: len(sys_broker.broker.retained)) >= len(SYS_NAMES),
             message="first $SYS round")
    watcher = clients(sys_broker.port, "watcher")
    assert subscribe(watcher, ("$SYS/#", 0)) == (0,)
    first = drain(watcher)
    retained = {p.topic[len(PREFIX):]: p.payload for p in first if p.retain}
    assert set(retained) == SYS_NAMES
    assert all(p.topic.startswith(PREFIX) for p in first)
    assert retained["version"]
    assert int(retained["uptime"]) >= 0
    live = next_live(watcher, "stats/connections/count")
    assert int(live.payload) >= 1


def test_sys_statistics_follow_the_broker(sys_broker: BrokerThread, clients: OpenClient) -> None:
    """The counters reflect the broker: connections and subscriptions go up as clients arrive."""
    watcher = clients(sys_broker.port, "watcher")
    subscribe(watcher, ("$SYS/#", 0))
    others = [clients(sys_broker.port, f"c{i}", V3) for i in range(3)]
    subscribe(others[0], ("a/#", 0), ("$share/g/b", 1))
    next_live(watcher, "stats/connections/count", lambda payload: int(payload) == 4)
    next_live(watcher, "stats/subscriptions/count", lambda payload: int(payload) == 3)
    next_live(watcher, "stats/subscriptions/shared/count", lambda payload: int(payload) == 1)
    for other in others:
        other.close()
    next_live(watcher, "stats/connections/count", lambda payload: int(payload) == 1)


@pytest.mark.parametrize("topic_filter", ["#", "+/brokers/#", "+/+/+/stats/connections/count", "$share/g/#"])
def test_leading_wildcards_do_not_receive_sys_topics(sys_broker: BrokerThread, clients: OpenClient,
                                                     topic_filter: str) -> None:
    """[MQTT-4.7.2-1]: '#' or '+' at the start of a filter never matches a '$SYS' topic, neither retained
    (on subscribe) nor live, while a '$SYS/#' subscriber receives both."""
    wait_for(lambda: sys_broker.call(lambda: len(sys_broker.broker.retained)) >= len(SYS_NAMES),
             message="first $SYS round")
    everything = clients(sys_broker.port, "everything")
    subscribe(everything, (topic_filter, 0))
    assert drain(everything) == []  # no retained $SYS messages
    watcher = clients(sys_broker.port, "watcher")
    subscribe(watcher, ("$SYS/#", 0))
    next_live(watcher, "stats/connections/count")  # a round published after `everything` subscribed
    next_live(watcher, "uptime")
    assert drain(everything) == []


@pytest.mark.parametrize("version", [pytest.param(V3, id="v311"), pytest.param(V5, id="v5")])
def test_clients_cannot_publish_to_sys(sys_broker: BrokerThread, clients: OpenClient, version: int) -> None:
    """'$SYS' belongs to the broker: a client's PUBLISH there is acknowledged (MQTT 5: 0x87 Not authorized,
    3.1.1 has no failure code) but neither delivered nor retained, and does not replace a statistic."""
    wait_for(lambda: sys_broker.call(lambda: len(sys_broker.broker.retained)) >= len(SYS_NAMES),
             message="first $SYS round")
    watcher = clients(sys_broker.port, "watcher")
    subscribe(watcher, ("$SYS/#", 0))
    drain(watcher)
    forger = clients(sys_broker.port, "forger", version)
    denied = ReasonCode.NOT_AUTHORIZED if version == V5 else 0
    fake_topic = PREFIX + "stats/connections/count"
    forger.send(Publish(topic=fake_topic, payload=b"forged", qos=1, packet_id=1, retain=True))
    assert forger.recv() == Puback(packet_id=1, reason_code=denied)
    forger.send(Publish(topic="$SYS/fake", payload=b"forged", qos=2, packet_id=2, retain=True))
    rec = forger.recv()
    assert rec == Pubrec(packet_id=2, reason_code=denied)
    if version == V3:
        forger.send(Pubrel(packet_id=2))
        assert forger.recv() == Pubcomp(packet_id=2)
    forger.send(Publish(topic="$SYS/fake0", payload=b"forged", retain=True))
    drain(forger)
    assert all(p.payload != b"forged" for p in drain(watcher))
    stored = sys_broker.call(sys_broker.broker.retained.get, fake_topic)
    assert stored is not None and stored.payload != b"forged"
    assert sys_broker.call(sys_broker.broker.retained.get, "$SYS/fake") is None
    assert sys_broker.call(sys_broker.broker.retained.get, "$SYS/fake0") is None
    next_live(watcher, "stats/connections/count", lambda payload: payload != b"forged")


def test_no_sys_topics_when_disabled(broker: BrokerThread, clients: OpenClient) -> None:
    """``sys_interval = 0`` (the test default) publishes no statistics."""
    watcher = clients(broker.port, "watcher")
    subscribe(watcher, ("$SYS/#", 0))
    assert drain(watcher) == []
    assert broker.call(lambda: [t for t in broker.broker.retained.topics() if t.startswith("$SYS")]) == []
