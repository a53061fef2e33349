"""Retained messages end to end: store, replace, delete, delivery on subscribe, Retain Handling, Retain As
Published, wildcard filters, ``$`` topics and Message Expiry (MQTT 3.1.1 §3.3.1.3, MQTT 5 §3.3.1.3).

`drain` proves absence without sleeping: retained messages are queued right behind the SUBACK, and a PINGREQ
is answered after everything the broker already queued for the client.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from hookmq.mqtt import PropertyId, Subscription, Unsubscribe
from tests.broker.support import (
    MEI,
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


def retained(bt: BrokerThread, topic: str) -> Any:
    return bt.call(bt.broker.retained.get, topic)


# --------------------------------------------------------------------------------------------- store / replace / delete


@VERSIONS
def test_retained_message_is_stored_and_sent_to_a_new_subscriber_with_retain_set(
        broker: BrokerThread, clients: OpenClient, version: int) -> None:
    """[MQTT-3.3.1-5] stored with its QoS; sent on a new subscription with RETAIN=1 ([MQTT-3.3.1-9] in 5.0,
    [MQTT-3.3.1-6]/[MQTT-3.3.1-8] in 3.1.1), also after the publisher has gone."""
    pub = clients(broker.port, "pub", version)
    publish(pub, "r/a", b"state", qos=1, retain=True)
    stored = retained(broker, "r/a")
    assert (stored.topic, stored.payload, stored.qos, stored.retain) == ("r/a", b"state", 1, True)
    pub.close()
    wait_for(lambda: session_gone(broker, "pub"), message="publisher session gone")
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("r/a", 1))
    got = drain(sub)
    assert [(p.topic, p.payload, p.qos, p.retain) for p in got] == [("r/a", b"state", 1, True)]
    assert broker.call(len, broker.broker.retained) == 1


@VERSIONS
def test_new_retained_message_replaces_the_previous_one(broker: BrokerThread, clients: OpenClient,
                                                        version: int) -> None:
    """[MQTT-3.3.1-5]: a retained PUBLISH replaces the topic's retained message (3.1.1 [MQTT-3.3.1-7]: also
    a QoS 0 one); a PUBLISH with RETAIN=0 neither stores nor replaces ([MQTT-3.3.1-8] / 3.1.1 -12)."""
    pub = clients(broker.port, "pub", version)
    publish(pub, "r/b", b"one", qos=1, retain=True)
    publish(pub, "r/b", b"two", qos=0, retain=True)
    publish(pub, "r/b", b"not retained", qos=1)
    stored = retained(broker, "r/b")
    assert (stored.payload, stored.qos) == (b"two", 0)
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("r/b", 2))
    assert [(p.payload, p.qos, p.retain) for p in drain(sub)] == [(b"two", 0, True)]
    assert broker.call(len, broker.broker.retained) == 1


@VERSIONS
def test_empty_retained_payload_deletes_the_retained_message(broker: BrokerThread, clients: OpenClient,
                                                             version: int) -> None:
    """[MQTT-3.3.1-6]/[MQTT-3.3.1-7] (5.0), [MQTT-3.3.1-10]/[MQTT-3.3.1-11] (3.1.1): a zero-byte retained
    PUBLISH is forwarded as normal (RETAIN=0 to existing subscribers), removes the retained message and is
    not stored itself, so later subscribers get nothing."""
    pub = clients(broker.port, "pub", version)
    publish(pub, "r/d", b"x", qos=1, retain=True)
    existing = clients(broker.port, "existing", version)
    subscribe(existing, ("r/d", 1))
    assert [p.payload for p in drain(existing)] == [b"x"]
    publish(pub, "r/d", b"", qos=1, retain=True)
    assert [(p.payload, p.retain) for p in drain(existing)] == [(b"", False)]
    assert retained(broker, "r/d") is None
    assert broker.call(len, broker.broker.retained) == 0
    late = clients(broker.port, "late", version)
    subscribe(late, ("r/d", 1), ("r/#", 1))
    assert drain(late) == []


def test_empty_retained_payload_on_a_topic_without_retained_message(broker: BrokerThread,
                                                                    clients: OpenClient) -> None:
    """[MQTT-3.3.1-7]: deleting a retained message that does not exist stores nothing."""
    pub = clients(broker.port, "pub", V5)
    publish(pub, "r/none", b"", qos=1, retain=True)
    assert broker.call(len, broker.broker.retained) == 0


# --------------------------------------------------------------------------------------------- RETAIN flag on delivery


@VERSIONS
def test_retained_publish_reaches_existing_subscribers_with_retain_cleared(
        broker: BrokerThread, clients: OpenClient, version: int) -> None:
    """3.1.1 [MQTT-3.3.1-9]; 5.0 [MQTT-3.3.1-12] (Retain As Published = 0): RETAIN=0 when forwarded on an
    established subscription, while a new subscription gets the stored copy with RETAIN=1."""
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("f/#", 1))
    pub = clients(broker.port, "pub", version)
    publish(pub, "f/t", b"v", qos=1, retain=True)
    assert [(p.payload, p.retain) for p in drain(sub)] == [(b"v", False)]
    subscribe(sub, ("f/t", 1), packet_id=2)
    assert [(p.payload, p.retain) for p in drain(sub)] == [(b"v", True)]


def test_v5_retain_as_published_keeps_the_retain_flag(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.3.1-13]: with Retain As Published the forwarded RETAIN equals the published one."""
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, Subscription(topic_filter="f/#", qos=1, retain_as_published=True))
    pub = clients(broker.port, "pub", V5)
    publish(pub, "f/r", b"retained", qos=1, retain=True)
    publish(pub, "f/n", b"plain", qos=1)
    assert [(p.payload, p.retain) for p in drain(sub)] == [(b"retained", True), (b"plain", False)]


@pytest.mark.parametrize(("retained_qos", "sub_qos"), [(2, 1), (0, 2), (1, 0), (2, 2), (1, 2)])
def test_retained_message_is_delivered_at_the_lower_qos(broker: BrokerThread, clients: OpenClient,
                                                        retained_qos: int, sub_qos: int) -> None:
    """[MQTT-3.3.1-5] the QoS is stored; [MQTT-3.8.4-8]: delivered at min(stored QoS, granted QoS)."""
    pub = clients(broker.port, "pub", V5)
    publish(pub, "q/r", b"x", qos=retained_qos, retain=True)
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, ("q/r", sub_qos))
    assert [(p.qos, p.retain) for p in drain(sub)] == [(min(retained_qos, sub_qos), True)]


def test_v5_retained_message_keeps_its_properties(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.3.2-4], [MQTT-3.3.2-15..20]: properties of a retained message reach later subscribers unaltered."""
    props = {
        PropertyId.PAYLOAD_FORMAT_INDICATOR: 1,
        PropertyId.CONTENT_TYPE: "text/plain",
        PropertyId.RESPONSE_TOPIC: "reply/here",
        PropertyId.CORRELATION_DATA: b"\x00corr",
        PropertyId.USER_PROPERTY: [("b", "2"), ("a", "1"), ("b", "2")],
    }
    pub = clients(broker.port, "pub", V5)
    publish(pub, "p/r", b"hello", qos=1, retain=True, properties=props)
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, ("p/r", 1))
    got = drain(sub)
    assert len(got) == 1 and got[0].properties == props


# --------------------------------------------------------------------------------------------- Retain Handling


@pytest.mark.parametrize(("handling", "on_first", "on_again"), [(0, 1, 1), (1, 1, 0), (2, 0, 0)])
def test_v5_retain_handling(broker: BrokerThread, clients: OpenClient, handling: int, on_first: int,
                            on_again: int) -> None:
    """[MQTT-3.3.1-9] 0: on every SUBSCRIBE, also one that replaces a subscription ([MQTT-3.8.4-3]);
    [MQTT-3.3.1-10] 1: only when the subscription did not exist; [MQTT-3.3.1-11] 2: never."""
    pub = clients(broker.port, "pub", V5)
    publish(pub, "rh/t", b"x", qos=1, retain=True)
    sub = clients(broker.port, "sub", V5)
    option = Subscription(topic_filter="rh/t", qos=1, retain_handling=handling)
    subscribe(sub, option)
    assert [p.retain for p in drain(sub)] == [True] * on_first
    subscribe(sub, option, packet_id=2)
    assert [p.retain for p in drain(sub)] == [True] * on_again
    publish(pub, "rh/t", b"live", qos=1, retain=True)  # the subscription itself works whatever the handling
    assert [(p.payload, p.retain) for p in drain(sub)] == [(b"live", False)]


def test_v5_retain_handling_1_sends_again_after_unsubscribe(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.3.1-10]: after UNSUBSCRIBE the subscription no longer exists, so it is new again."""
    pub = clients(broker.port, "pub", V5)
    publish(pub, "rh/t", b"x", qos=1, retain=True)
    sub = clients(broker.port, "sub", V5)
    option = Subscription(topic_filter="rh/t", qos=0, retain_handling=1)
    subscribe(sub, option)
    assert len(drain(sub)) == 1
    sub.send(Unsubscribe(packet_id=2, topic_filters=("rh/t",)))
    sub.recv()
    subscribe(sub, option, packet_id=3)
    assert [p.payload for p in drain(sub)] == [b"x"]


def test_v311_resubscribe_resends_retained_messages(broker: BrokerThread, clients: OpenClient) -> None:
    """3.1.1 [MQTT-3.8.4-3]: a SUBSCRIBE replacing a subscription re-sends the matching retained messages."""
    pub = clients(broker.port, "pub", V311)
    publish(pub, "rs/t", b"x", qos=1, retain=True)
    sub = clients(broker.port, "sub", V311)
    subscribe(sub, ("rs/t", 0))
    assert len(drain(sub)) == 1
    subscribe(sub, ("rs/t", 1), packet_id=2)
    assert [(p.payload, p.qos, p.retain) for p in drain(sub)] == [(b"x", 1, True)]


# --------------------------------------------------------------------------------------------- wildcards and $ topics

RETAINED_TOPICS = ["w", "w/a", "w/b", "w/b/c", "x/a", "/lead", "$app/x", "$app/y/z"]


@pytest.mark.parametrize(("topic_filter", "expected"), [
    ("w/+", {"w/a", "w/b"}),
    ("w/#", {"w", "w/a", "w/b", "w/b/c"}),  # [MQTT-4.7.1-2] '#' also matches the parent level
    ("+/a", {"w/a", "x/a"}),
    ("w/+/c", {"w/b/c"}),
    ("+", {"w"}),
    ("+/+", {"w/a", "w/b", "x/a", "/lead"}),
    ("#", {"w", "w/a", "w/b", "w/b/c", "x/a", "/lead"}),  # [MQTT-4.7.2-1] no $app/...
    ("+/x", set()),
    ("+/y/#", set()),
    ("$app/#", {"$app/x", "$app/y/z"}),
    ("$app/+", {"$app/x"}),
    ("w/a", {"w/a"}),
    ("nothing/#", set()),
])
def test_retained_messages_match_wildcard_filters(broker: BrokerThread, clients: OpenClient, topic_filter: str,
                                                  expected: set[str]) -> None:
    """[MQTT-4.7.1-1..3] wildcard semantics over retained messages; [MQTT-4.7.2-1] a filter starting with a
    wildcard never matches a topic starting with '$'."""
    pub = clients(broker.port, "pub", V5)
    for topic in RETAINED_TOPICS:
        publish(pub, topic, topic.encode(), qos=1, retain=True)
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, (topic_filter, 0))
    got = drain(sub)
    assert sorted(p.topic for p in got) == sorted(expected)
    assert all(p.retain and p.payload == p.topic.encode() for p in got)


def test_retained_messages_for_several_filters_in_one_subscribe(broker: BrokerThread, clients: OpenClient) -> None:
    """Each filter of a SUBSCRIBE gets its own retained messages, after the SUBACK."""
    pub = clients(broker.port, "pub", V311)
    publish(pub, "m/a", b"a", qos=1, retain=True)
    publish(pub, "n/b", b"b", qos=1, retain=True)
    sub = clients(broker.port, "sub", V311)
    assert subscribe(sub, ("m/+", 0), ("n/#", 1), ("none", 2)) == (0, 1, 2)
    assert sorted((p.topic, p.qos) for p in drain(sub)) == [("m/a", 0), ("n/b", 1)]


# --------------------------------------------------------------------------------------------- expiry


def test_v5_expired_retained_message_is_not_delivered(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.3.2-5]: a retained message whose Message Expiry Interval passed is not sent to new subscribers
    (and is dropped from the store); a live one is sent with the remaining interval [MQTT-3.3.2-6]; a message
    without expiry never expires."""
    pub = clients(broker.port, "pub", V5)
    publish(pub, "e/short", b"s", qos=1, retain=True, properties={MEI: 1})
    publish(pub, "e/long", b"l", qos=1, retain=True, properties={MEI: 100})
    publish(pub, "e/forever", b"f", qos=1, retain=True)

    early = clients(broker.port, "early", V5)
    subscribe(early, ("e/#", 1))
    got = {p.topic: p.properties.get(MEI) for p in drain(early)}
    assert got == {"e/short": 1, "e/long": 100, "e/forever": None}

    def both_aged() -> bool:
        now = time.time()
        store = broker.broker.retained  # read on the broker loop below
        return broker.call(lambda: store.get("e/short").expired(now) and store.get("e/long").expires_at - now < 99)

    wait_for(both_aged, timeout=5, message="e/short to expire")
    late_v3 = clients(broker.port, "late3", V311)
    subscribe(late_v3, ("e/#", 1))
    assert sorted(p.topic for p in drain(late_v3)) == ["e/forever", "e/long"]
    late = clients(broker.port, "late5", V5)
    subscribe(late, ("e/#", 1))
    got = {p.topic: p.properties.get(MEI) for p in drain(late)}
    assert set(got) == {"e/long", "e/forever"}
    assert got["e/forever"] is None
    assert 0 < got["e/long"] <= 99
    assert retained(broker, "e/short") is None
    assert retained(broker, "e/long") is not None
