"""``$SYS/brokers/<node>/...`` statistics end to end: published periodically (retained), reachable through
``$SYS/#`` but never through a filter starting with a wildcard ([MQTT-4.7.2-1]), and not writable by clients
(MQTT 5 §4.7.2: '$' topics are the server's).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from hookmq.mqtt import Puback, Pubcomp, Publish, Pubrec, Pubrel, ReasonCode
from tests.broker.support import (
    V5,
    V311,
    OpenClient,
    StartBroker,
    acknowledge,
    drain,
    each_version,
    subscribe,
)
from tests.helpers import BrokerThread, RawClient, wait_for

NODE = "hookmq@127.0.0.1"
PREFIX = f"$SYS/brokers/{NODE}/"
SYS_NAMES = {
    "version", "uptime", "datetime", "stats/connections/count", "stats/connections/max", "stats/sessions/count",
    "stats/subscriptions/count", "stats/subscriptions/shared/count", "stats/retained/count",
    "metrics/messages/received", "metrics/messages/sent", "metrics/messages/dropped", "metrics/delivery/dropped",
    "metrics/bytes/received", "metrics/bytes/sent",
}


@pytest.fixture
def sys_broker(start_broker: StartBroker) -> BrokerThread:
    """A node publishing $SYS statistics every 0.2 s (the test default is never)."""
    return start_broker(mqtt={"sys_interval": 0.2})


def next_live(client: RawClient, name: str, accept: Callable[[bytes], bool] = lambda _: True) -> Publish:
    """The next periodic (RETAIN=0) publication of ``$SYS/brokers/<node>/<name>`` whose payload passes."""
    deadline = time.monotonic() + 10
    while True:
        assert time.monotonic() < deadline, f"no live {name} publication passed the check"
        packet = client.recv(timeout=5)
        acknowledge(client, packet)
        if (isinstance(packet, Publish) and packet.topic == PREFIX + name and not packet.retain
                and accept(packet.payload)):
            return packet


def test_sys_topics_are_published_and_retained(sys_broker: BrokerThread, clients: OpenClient) -> None:
    """Every statistic is published under ``$SYS/brokers/<node>/``, retained (a new ``$SYS/#`` subscriber
    gets them at once with RETAIN=1) and republished every ``sys_interval`` (RETAIN=0 on the live copy)."""
    wait_for(lambda: sys_broker.call(lambda: len(sys_broker.broker.retained)) >= len(SYS_NAMES),
             message="first $SYS round")
    watcher = clients(sys_broker.port, "watcher", V5)
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
    watcher = clients(sys_broker.port, "watcher", V5)
    subscribe(watcher, ("$SYS/#", 0))
    others = [clients(sys_broker.port, f"c{i}", V311) for i in range(3)]
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
    everything = clients(sys_broker.port, "everything", V5)
    subscribe(everything, (topic_filter, 0))
    assert drain(everything) == []  # no retained $SYS messages
    watcher = clients(sys_broker.port, "watcher", V5)
    subscribe(watcher, ("$SYS/#", 0))
    next_live(watcher, "stats/connections/count")  # a round published after `everything` subscribed
    next_live(watcher, "uptime")
    assert drain(everything) == []


@each_version(ids=("v311", "v5"))
def test_clients_cannot_publish_to_sys(sys_broker: BrokerThread, clients: OpenClient, version: int) -> None:
    """'$SYS' belongs to the broker: a client's PUBLISH there is acknowledged (MQTT 5: 0x87 Not authorized,
    3.1.1 has no failure code) but neither delivered nor retained, and does not replace a statistic."""
    wait_for(lambda: sys_broker.call(lambda: len(sys_broker.broker.retained)) >= len(SYS_NAMES),
             message="first $SYS round")
    watcher = clients(sys_broker.port, "watcher", V5)
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
    if version == V311:
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
    watcher = clients(broker.port, "watcher", V5)
    subscribe(watcher, ("$SYS/#", 0))
    assert drain(watcher) == []
    assert broker.call(lambda: [t for t in broker.broker.retained.topics() if t.startswith("$SYS")]) == []
