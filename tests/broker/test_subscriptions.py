"""Subscriptions end to end: wildcard matching, overlapping subscriptions, replacing and removing
subscriptions, invalid filters, shared subscriptions and No Local (MQTT 3.1.1 and 5.0).

`drain` proves absence without sleeping: a PINGREQ is answered after everything the broker already queued
for the client, and `publish` only returns once the broker has routed the message.
"""

from __future__ import annotations

import pytest

from hookmq.mqtt import Disconnect, Puback, Publish, ReasonCode, Subscribe, Subscription, Unsuback, Unsubscribe
from tests.broker.support import (
    SUB_ID,
    V5,
    V311,
    OpenClient,
    drain,
    each_version,
    publish,
    session_gone,
    subscribe,
)
from tests.helpers import BrokerThread, wait_for

VERSIONS = each_version(ids=("v311", "v5"))


def sub_counts(bt: BrokerThread) -> tuple[int, int]:
    return bt.call(lambda: (bt.broker.subscriptions.count, bt.broker.subscriptions.shared_count))


# --------------------------------------------------------------------------------------------- wildcard matching

MATCHING = [
    ("sport/tennis/player1/#", "sport/tennis/player1", True),  # [MQTT-4.7.1-2] '#' includes the parent
    ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
    ("sport/#", "sport", True),
    ("#", "any/thing/at/all", True),
    ("sport/tennis/+", "sport/tennis/player1", True),
    ("sport/tennis/+", "sport/tennis/player1/ranking", False),
    ("sport/+", "sport", False),
    ("sport/+", "sport/", True),  # an empty level is a level
    ("+/+", "/finance", True),
    ("/+", "/finance", True),
    ("+", "/finance", False),
    ("+/tennis/#", "sport/tennis/x/y", True),
    ("a/+/c", "a//c", True),
    ("a/b", "a/b/", False),
    ("Sport", "sport", False),  # case sensitive
    ("#", "$app/x", False),  # [MQTT-4.7.2-1]
    ("+/monitor/clients", "$app/monitor/clients", False),  # [MQTT-4.7.2-1]
    ("$app/#", "$app/x", True),
    ("$app/monitor/+", "$app/monitor/clients", True),
    ("caf\u00e9/+", "caf\u00e9/x", True),
    ("caf\u00e9/+", "cafe\u0301/x", False),  # [MQTT-4.7.3-4] no normalization of topics or filters
    ("/", "/", True),
    ("+/+", "/", True),
    ("#", "/", True),
]


@pytest.mark.parametrize(("topic_filter", "topic", "matches"), MATCHING)
@VERSIONS
def test_wildcard_matching(broker: BrokerThread, clients: OpenClient, version: int, topic_filter: str, topic: str,
                           matches: bool) -> None:
    """[MQTT-4.7.1-1..3] '#' and '+' semantics, [MQTT-4.7.2-1] '$' topics, [MQTT-3.3.2-3] the delivered topic
    name is the published one."""
    sub = clients(broker.port, "sub", version)
    assert subscribe(sub, (topic_filter, 1)) == (1,)
    pub = clients(broker.port, "pub", version)
    publish(pub, topic, b"x", qos=1)
    got = drain(sub)
    assert [p.topic for p in got] == ([topic] if matches else [])


# --------------------------------------------------------------------------------------------- overlapping


@VERSIONS
def test_overlapping_subscriptions_deliver_one_copy_at_the_highest_qos(broker: BrokerThread, clients: OpenClient,
                                                                       version: int) -> None:
    """[MQTT-3.3.4-2] (5.0) / [MQTT-3.3.5-1] (3.1.1): the maximum QoS of all matching subscriptions; hookmq
    sends a single copy (both versions allow that)."""
    sub = clients(broker.port, "sub", version)
    assert subscribe(sub, ("o/+", 0), ("o/#", 2), ("o/x", 1)) == (0, 2, 1)
    pub = clients(broker.port, "pub", version)
    publish(pub, "o/x", b"2", qos=2)
    publish(pub, "o/x", b"1", qos=1)
    publish(pub, "o/y", b"y", qos=2)  # o/+ (0) and o/# (2)
    publish(pub, "o/y/z", b"z", qos=1)  # o/# only
    got = drain(sub)
    assert [(p.topic, p.payload, p.qos) for p in got] == [
        ("o/x", b"2", 2), ("o/x", b"1", 1), ("o/y", b"y", 2), ("o/y/z", b"z", 1)]


def test_v5_overlapping_subscriptions_carry_every_subscription_identifier(broker: BrokerThread,
                                                                          clients: OpenClient) -> None:
    """[MQTT-3.3.4-3]/[MQTT-3.3.4-4]: a single copy carries the identifiers of all matching subscriptions that
    have one (order not significant); subscriptions without an identifier add none."""
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, ("o/+", 0), packet_id=1, properties={SUB_ID: [1]})
    subscribe(sub, ("o/#", 1), packet_id=2, properties={SUB_ID: [2]})
    subscribe(sub, ("o/x", 0), packet_id=3)
    subscribe(sub, ("+/x", 0), packet_id=4, properties={SUB_ID: [300000]})
    pub = clients(broker.port, "pub", V5)
    publish(pub, "o/x", b"all", qos=1)
    publish(pub, "o/y", b"two", qos=1)
    publish(pub, "o/y/z", b"one", qos=1)
    got = drain(sub)
    assert [(p.payload, p.qos) for p in got] == [(b"all", 1), (b"two", 1), (b"one", 1)]
    assert sorted(got[0].properties[SUB_ID]) == [1, 2, 300000]
    assert sorted(got[1].properties[SUB_ID]) == [1, 2]
    assert got[2].properties[SUB_ID] == [2]


# --------------------------------------------------------------------------------------------- replace / remove


@VERSIONS
def test_resubscribe_replaces_the_subscription(broker: BrokerThread, clients: OpenClient, version: int) -> None:
    """[MQTT-3.8.4-3]: an identical filter replaces the subscription (new options, still one subscription)."""
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("r/x", 2))
    assert subscribe(sub, ("r/x", 0), packet_id=2) == (0,)
    assert broker.call(lambda: len(broker.broker.sessions["sub"].subscriptions)) == 1
    assert sub_counts(broker) == (1, 0)
    pub = clients(broker.port, "pub", version)
    publish(pub, "r/x", b"m", qos=2)
    assert [(p.payload, p.qos) for p in drain(sub)] == [(b"m", 0)]


def test_v5_resubscribe_replaces_subscription_identifier_and_options(broker: BrokerThread,
                                                                    clients: OpenClient) -> None:
    """[MQTT-3.8.4-3]: the replacing SUBSCRIBE's options and Subscription Identifier (or its absence) apply."""
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, Subscription(topic_filter="r/x", qos=1, no_local=True), properties={SUB_ID: [5]})
    pub = clients(broker.port, "pub", V5)
    publish(pub, "r/x", b"a", qos=1)
    assert [p.properties.get(SUB_ID) for p in drain(sub)] == [[5]]
    subscribe(sub, ("r/x", 1), packet_id=2)
    publish(pub, "r/x", b"b", qos=1)
    publish(sub, "r/x", b"own", qos=1, stash_own_deliveries=True)  # no_local was replaced too
    assert [(p.payload, p.properties.get(SUB_ID)) for p in drain(sub)] == [(b"b", None), (b"own", None)]


def test_v5_unsubscribe_reports_per_filter(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.11.3-1]: one reason code per filter, 0x00 Success / 0x11 No subscription existed; filters are
    compared character by character [MQTT-3.10.4-1]; no new messages afterwards [MQTT-3.10.4-2]."""
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, ("u/a", 1), ("$share/g/u/b", 1))
    assert sub_counts(broker) == (2, 1)
    sub.send(Unsubscribe(packet_id=5, topic_filters=("u/+", "u/b", "u/a", "u/none", "$share/g/u/b", "u/a")))
    assert sub.recv() == Unsuback(packet_id=5, reason_codes=(
        ReasonCode.NO_SUBSCRIPTION_EXISTED, ReasonCode.NO_SUBSCRIPTION_EXISTED, ReasonCode.SUCCESS,
        ReasonCode.NO_SUBSCRIPTION_EXISTED, ReasonCode.SUCCESS, ReasonCode.NO_SUBSCRIPTION_EXISTED))
    assert sub_counts(broker) == (0, 0)
    pub = clients(broker.port, "pub", V5)
    assert publish(pub, "u/a", b"x", qos=1) == ReasonCode.NO_MATCHING_SUBSCRIBERS
    assert publish(pub, "u/b", b"x", qos=1) == ReasonCode.NO_MATCHING_SUBSCRIBERS
    assert drain(sub) == []


def test_v311_unsubscribe(broker: BrokerThread, clients: OpenClient) -> None:
    """3.1.1 [MQTT-3.10.4-4]/[MQTT-3.10.4-5]: UNSUBACK with the packet id (no payload); delivery stops."""
    sub = clients(broker.port, "sub", V311)
    subscribe(sub, ("u/a", 1), ("u/b", 1))
    sub.send(Unsubscribe(packet_id=9, topic_filters=("u/a", "u/never")))
    assert sub.recv() == Unsuback(packet_id=9)
    pub = clients(broker.port, "pub", V311)
    publish(pub, "u/a", b"gone", qos=1)
    publish(pub, "u/b", b"kept", qos=1)
    assert [p.payload for p in drain(sub)] == [b"kept"]


# --------------------------------------------------------------------------------------------- invalid filters


def test_v5_invalid_filters_fail_individually(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.8.4-6]/[MQTT-3.9.3-1]: one reason code per filter, in order; 0x8F Topic Filter invalid for
    filters breaking [MQTT-4.7.1-1]/[MQTT-4.7.1-2] or the share name rules [MQTT-4.8.2-1]/[MQTT-4.8.2-2],
    while the valid filters of the same SUBSCRIBE are granted and work."""
    sub = clients(broker.port, "sub", V5)
    invalid = ReasonCode.TOPIC_FILTER_INVALID
    codes = subscribe(sub, ("ok/+", 1), ("a/#/b", 0), ("a+", 0), ("ok2/#", 2), ("#a", 0), ("a/b#", 0),
                      ("$share/g", 0), ("$share/g+/x", 0), ("$share//x", 0), ("$share/g/x/#/y", 0), ("ok3", 0))
    assert codes == (1, invalid, invalid, 2, invalid, invalid, invalid, invalid, invalid, invalid, 0)
    assert sub_counts(broker) == (3, 0)
    pub = clients(broker.port, "pub", V5)
    for topic in ("ok/x", "ok2/y/z", "ok3"):
        publish(pub, topic, b"x", qos=1)
    assert [(p.topic, p.qos) for p in drain(sub)] == [("ok/x", 1), ("ok2/y/z", 1), ("ok3", 0)]


def test_v311_invalid_filters_fail_individually(broker: BrokerThread, clients: OpenClient) -> None:
    """3.1.1 [MQTT-3.9.3-1]/[MQTT-3.9.3-2]: 0x80 Failure for an invalid filter, in order, the others granted."""
    sub = clients(broker.port, "sub", V311)
    codes = subscribe(sub, ("ok/+", 1), ("a/#/b", 0), ("a+", 2), ("ok2/#", 2), ("x/#y", 1))
    assert codes == (1, 0x80, 0x80, 2, 0x80)
    pub = clients(broker.port, "pub", V311)
    publish(pub, "ok/x", b"x", qos=2)
    publish(pub, "ok2/y", b"y", qos=2)
    assert [(p.topic, p.qos) for p in drain(sub)] == [("ok/x", 1), ("ok2/y", 2)]


# --------------------------------------------------------------------------------------------- shared subscriptions


def test_shared_subscription_delivers_each_message_to_exactly_one_member(broker: BrokerThread,
                                                                         clients: OpenClient) -> None:
    """MQTT 5 §4.8.2: a message matching a shared subscription goes to one member of the group, at that
    member's granted QoS [MQTT-4.8.2-3]; hookmq spreads the load round robin (MQTT 3.1.1 clients may join,
    as in EMQX)."""
    m1 = clients(broker.port, "m1", V5)
    m2 = clients(broker.port, "m2", V311)
    assert subscribe(m1, ("$share/g/s/#", 1)) == (1,)
    assert subscribe(m2, ("$share/g/s/#", 0)) == (0,)
    assert sub_counts(broker) == (2, 2)
    pub = clients(broker.port, "pub", V5)
    for i in range(10):
        assert publish(pub, f"s/{i}", str(i).encode(), qos=1) == ReasonCode.SUCCESS
    got1 = drain(m1)
    got2 = drain(m2)
    assert {p.qos for p in got1} <= {1} and {p.qos for p in got2} <= {0}
    payloads1, payloads2 = [p.payload for p in got1], [p.payload for p in got2]
    assert sorted(payloads1 + payloads2, key=int) == [str(i).encode() for i in range(10)]
    assert abs(len(payloads1) - len(payloads2)) <= 2, (payloads1, payloads2)


def test_each_share_group_and_each_plain_subscriber_get_a_copy(broker: BrokerThread, clients: OpenClient) -> None:
    """MQTT 5 §4.8.2: every group (and every non-shared subscription) receives its own copy."""
    a1, a2, b1, plain = (clients(broker.port, cid, V5) for cid in ("a1", "a2", "b1", "plain"))
    subscribe(a1, ("$share/ga/s/+", 0))
    subscribe(a2, ("$share/ga/s/+", 0))
    subscribe(b1, ("$share/gb/s/#", 0))
    subscribe(plain, ("s/+", 0))
    pub = clients(broker.port, "pub", V5)
    for i in range(4):
        publish(pub, "s/t", str(i).encode(), qos=1)
    expected = [str(i).encode() for i in range(4)]
    assert [p.payload for p in drain(b1)] == expected
    assert [p.payload for p in drain(plain)] == expected
    assert sorted([p.payload for p in drain(a1)] + [p.payload for p in drain(a2)]) == expected


def test_shared_subscription_and_plain_subscription_of_one_client(broker: BrokerThread, clients: OpenClient) -> None:
    """MQTT 5 §4.8.2: a shared subscription is separate from the client's non-shared one: two copies."""
    c = clients(broker.port, "c", V5)
    subscribe(c, ("$share/g/s/t", 1), ("s/t", 0))
    pub = clients(broker.port, "pub", V5)
    publish(pub, "s/t", b"m", qos=1)
    assert sorted(p.qos for p in drain(c)) == [0, 1]


def test_shared_subscription_gets_no_retained_messages(broker: BrokerThread, clients: OpenClient) -> None:
    """MQTT 5 §3.3.1.3/§4.8.2: retained messages are sent when a non-shared subscription is made, never for a
    shared one (whatever Retain Handling says); live messages still arrive."""
    pub = clients(broker.port, "pub", V5)
    publish(pub, "s/r", b"retained", qos=1, retain=True)
    m = clients(broker.port, "m", V5)
    subscribe(m, Subscription(topic_filter="$share/g/s/#", qos=1, retain_handling=0))
    assert drain(m) == []
    publish(pub, "s/r", b"live", qos=1, retain=True)
    assert [(p.payload, p.retain) for p in drain(m)] == [(b"live", False)]


def test_shared_group_skips_members_that_left(broker: BrokerThread, clients: OpenClient) -> None:
    """Messages go only to current members: an unsubscribed or disconnected member gets none."""
    m1, m2, m3 = (clients(broker.port, cid, V5) for cid in ("m1", "m2", "m3"))
    for m in (m1, m2, m3):
        subscribe(m, ("$share/g/s/#", 0))
    m2.send(Unsubscribe(packet_id=2, topic_filters=("$share/g/s/#",)))
    assert m2.recv() == Unsuback(packet_id=2, reason_codes=(0,))
    m3.close()
    wait_for(lambda: session_gone(broker, "m3"), message="m3 session ended")
    pub = clients(broker.port, "pub", V5)
    for i in range(4):
        publish(pub, "s/x", str(i).encode(), qos=1)
    assert [p.payload for p in drain(m1)] == [b"0", b"1", b"2", b"3"]
    assert drain(m2) == []


def test_v5_no_local_on_a_shared_subscription_is_a_protocol_error(broker: BrokerThread,
                                                                  clients: OpenClient) -> None:
    """[MQTT-3.8.3-4]: No Local = 1 on a shared subscription is a Protocol Error (DISCONNECT 0x82)."""
    c = clients(broker.port, "c", V5)
    c.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="$share/g/x", no_local=True),)))
    assert c.recv_until_closed() == [Disconnect(reason_code=ReasonCode.PROTOCOL_ERROR)]
    assert sub_counts(broker) == (0, 0)


# --------------------------------------------------------------------------------------------- No Local


def test_v5_no_local_suppresses_own_messages(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.8.3-3]: with No Local the client's own messages are not forwarded to it; others' are."""
    me = clients(broker.port, "me", V5)
    subscribe(me, Subscription(topic_filter="nl/#", qos=1, no_local=True))
    other = clients(broker.port, "other", V5)
    subscribe(other, ("nl/#", 1))
    assert publish(me, "nl/mine", b"m", qos=1, stash_own_deliveries=True) == ReasonCode.SUCCESS
    publish(other, "nl/theirs", b"t", qos=1, stash_own_deliveries=True)
    assert [p.topic for p in drain(me)] == ["nl/theirs"]
    assert [p.topic for p in drain(other)] == ["nl/mine", "nl/theirs"]


def test_v5_no_local_alone_means_no_matching_subscribers(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.8.3-3]: when the only match is the publisher's own No Local subscription nobody gets it; hookmq
    then answers 0x10 No matching subscribers (MQTT 5 §3.4.2.1 allows it)."""
    me = clients(broker.port, "me", V5)
    subscribe(me, Subscription(topic_filter="nl/#", qos=1, no_local=True))
    assert publish(me, "nl/x", b"m", qos=1, stash_own_deliveries=True) == ReasonCode.NO_MATCHING_SUBSCRIBERS
    assert drain(me) == []


def test_v5_no_local_is_per_subscription(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.8.3-3] applies to the subscription that has it: an overlapping subscription without No Local
    still delivers the client's own message (once)."""
    me = clients(broker.port, "me", V5)
    subscribe(me, Subscription(topic_filter="nl/#", qos=1, no_local=True), ("nl/+", 0))
    publish(me, "nl/x", b"m", qos=1, stash_own_deliveries=True)
    assert [(p.topic, p.qos) for p in drain(me)] == [("nl/x", 0)]


def test_v311_client_receives_its_own_messages(broker: BrokerThread, clients: OpenClient) -> None:
    """MQTT 3.1.1 has no No Local: a client subscribed to its own topic gets its messages back."""
    me = clients(broker.port, "me", V311)
    subscribe(me, ("own/#", 1))
    me.send(Publish(topic="own/x", payload=b"m", qos=1, packet_id=1))
    packets = [me.recv(), me.recv()]
    publishes = [p for p in packets if isinstance(p, Publish)]
    assert Puback(packet_id=1) in packets
    assert [(p.topic, p.payload) for p in publishes] == [("own/x", b"m")]
