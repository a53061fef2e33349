"""Routing corner cases: counted drops and shared-subscription fairness."""

from __future__ import annotations

from collections import Counter

from hookmq.mqtt import ProtocolVersion, Publish, Suback, Subscribe, Subscription
from tests.helpers import BrokerThread, RawClient, raw_client, wait_for

V5 = ProtocolVersion.MQTT_5


def _subscribe(client: RawClient, *subs: Subscription) -> None:
    client.send(Subscribe(packet_id=1, subscriptions=subs))
    assert isinstance(client.recv(), Suback)


def test_no_local_is_not_a_drop_when_another_subscription_delivers(broker: BrokerThread) -> None:
    """[MQTT-3.8.3-3] No Local suppresses one subscription; an overlapping ordinary one still delivers, so the
    message was delivered and nothing may be counted (or reported to hooks) as a no_local drop."""
    with raw_client(broker.port, V5) as c:
        c.connect("self")
        _subscribe(c, Subscription(topic_filter="nl/#", no_local=True), Subscription(topic_filter="nl/+"))
        c.send(Publish(topic="nl/x", payload=b"mine"))
        got = c.recv()
        assert isinstance(got, Publish) and got.payload == b"mine"
        assert broker.call(lambda: broker.broker.stats.deliveries_dropped) == 0


def test_shared_group_skips_offline_members_evenly(broker: BrokerThread) -> None:
    """A shared group with one offline (persistent) member spreads messages evenly over the online ones."""
    with raw_client(broker.port, V5) as gone:
        gone.connect("gone", clean_start=False, properties={0x11: 600})
        _subscribe(gone, Subscription(topic_filter="$share/g/s/#", qos=1))
    wait_for(lambda: broker.call(lambda: broker.broker.client_connection("gone")) is None, message="gone offline")
    members = [RawClient(broker.port, V5) for _ in range(3)]
    try:
        for n, member in enumerate(members):
            member.connect(f"m{n}")
            _subscribe(member, Subscription(topic_filter="$share/g/s/#"))
        with raw_client(broker.port, V5) as pub:
            pub.connect("pub")
            for i in range(9):
                pub.send(Publish(topic="s/1", payload=b"%d" % i))
        counts = Counter()
        for n, member in enumerate(members):
            for _ in range(3):
                assert isinstance(member.recv(), Publish)
                counts[n] += 1
            member.expect_silence(0.1)
        assert counts == {0: 3, 1: 3, 2: 3}
    finally:
        for member in members:
            member.close()
