"""MQTT 5 message features end to end: Message Expiry, Topic Aliases (both directions), request/response
properties, Subscription Identifiers, and what must not leak from a publisher to a subscriber.

`drain` proves absence without sleeping: a PINGREQ is answered after everything the broker already queued
for the client, and `publish` only returns once the broker has routed the message.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from hookmq.mqtt import Disconnect, Packet, Pingreq, Pingresp, Puback, Publish, ReasonCode
from tests.broker.support import (
    ALIAS,
    MEI,
    SUB_ID,
    V5,
    V311,
    OpenClient,
    P,
    drain,
    offline,
    persistent,
    publish,
    subscribe,
)
from tests.helpers import BrokerThread, wait_for

# --------------------------------------------------------------------------------------------- Message Expiry


def test_message_expiry_interval_is_forwarded(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.3.2-6]: the forwarded Message Expiry Interval is the received one minus the time waited
    (about nothing here); a message without one is forwarded without one; 3.1.1 subscribers get the message."""
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, ("x/#", 1))
    sub3 = clients(broker.port, "sub3", V311)
    subscribe(sub3, ("x/#", 1))
    pub = clients(broker.port, "pub", V5)
    publish(pub, "x/e", b"e", qos=1, properties={MEI: 60})
    publish(pub, "x/n", b"n", qos=0)
    got = drain(sub)
    assert [p.topic for p in got] == ["x/e", "x/n"]
    assert 59 <= got[0].properties[MEI] <= 60
    assert MEI not in got[1].properties
    assert [p.topic for p in drain(sub3)] == ["x/e", "x/n"]


def test_expired_messages_are_not_delivered_to_a_resumed_session(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.3.2-5]: a message queued for an offline session whose expiry passed is not delivered when the
    session resumes; [MQTT-3.3.2-6]: the others carry the decreased remaining interval."""
    sub = clients(broker.port, "sub", V5, **persistent(V5, expiry=60))
    subscribe(sub, ("x/#", 1))
    sub.close()
    wait_for(lambda: offline(broker, "sub"), message="sub offline")
    pub = clients(broker.port, "pub", V5)
    publish(pub, "x/short", b"s", qos=1, properties={MEI: 1})
    publish(pub, "x/long", b"l", qos=1, properties={MEI: 30})
    publish(pub, "x/none", b"n", qos=1)
    publish(pub, "x/short0", b"s0", qos=0, properties={MEI: 1})
    session = broker.call(lambda: broker.broker.sessions["sub"])

    def aged() -> bool:
        def check() -> bool:
            now = time.time()
            by_topic = {out.message.topic: out.message for out in session.queue}
            return by_topic["x/short"].expired(now) and by_topic["x/long"].expires_at - now < 29
        return broker.call(check)

    wait_for(aged, timeout=5, message="x/short to expire")
    sub = clients(broker.port, "sub", V5, **persistent(V5, expiry=60))
    assert sub.connack.session_present
    got = {p.topic: p.properties.get(MEI) for p in drain(sub)}
    assert set(got) == {"x/long", "x/none"}
    assert 0 < got["x/long"] <= 29
    assert got["x/none"] is None


def test_message_expiring_while_queued_behind_the_window_is_not_delivered(broker: BrokerThread,
                                                                           clients: OpenClient) -> None:
    """[MQTT-3.3.2-5] also for a connected client: a message waiting for a free slot of the client's Receive
    Maximum that expires before onward delivery starts is dropped."""
    sub = clients(broker.port, "sub", V5, properties={P.RECEIVE_MAXIMUM: 1})
    subscribe(sub, ("w/#", 1))
    pub = clients(broker.port, "pub", V5)
    publish(pub, "w/a", b"a", qos=1)
    publish(pub, "w/b", b"b", qos=1, properties={MEI: 1})
    publish(pub, "w/c", b"c", qos=1, properties={MEI: 100})
    first = sub.recv()
    assert isinstance(first, Publish) and first.topic == "w/a"
    session = broker.call(lambda: broker.broker.sessions["sub"])

    def aged() -> bool:
        now = time.time()
        queued = broker.call(lambda: [out.message for out in session.queue])
        return queued[0].expired(now) and queued[1].expires_at - now < 99

    wait_for(aged, timeout=5, message="w/b to expire")
    sub.send(Puback(packet_id=first.packet_id or 0))
    got = drain(sub)
    assert [p.topic for p in got] == ["w/c"]
    assert got[0].properties[MEI] < 100


# --------------------------------------------------------------------------------------------- Topic Alias (incoming)


def test_topic_alias_from_the_client(broker: BrokerThread, clients: OpenClient) -> None:
    """§3.3.2.3.4, [MQTT-3.3.2-12]: a PUBLISH with topic + alias sets the mapping, a later one with an empty
    topic + alias uses it, a new topic remaps it; subscribers see full topic names and no alias."""
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, ("ta/#", 1))
    pub = clients(broker.port, "pub", V5)
    assert pub.connack.properties[P.TOPIC_ALIAS_MAXIMUM] == 65535
    publish(pub, "ta/one", b"1", qos=1, properties={ALIAS: 1})
    publish(pub, "", b"2", qos=1, properties={ALIAS: 1})
    publish(pub, "", b"3", qos=0, properties={ALIAS: 1})
    publish(pub, "ta/two", b"4", qos=1, properties={ALIAS: 1})
    publish(pub, "", b"5", qos=2, properties={ALIAS: 1})
    publish(pub, "ta/max", b"6", qos=1, properties={ALIAS: 65535})
    publish(pub, "", b"7", qos=1, properties={ALIAS: 65535})
    got = drain(sub)
    assert [(p.topic, p.payload) for p in got] == [
        ("ta/one", b"1"), ("ta/one", b"2"), ("ta/one", b"3"), ("ta/two", b"4"), ("ta/two", b"5"),
        ("ta/max", b"6"), ("ta/max", b"7")]
    assert all(ALIAS not in p.properties for p in got)
    publish(pub, "", b"kept", qos=1, retain=True, properties={ALIAS: 1})  # retained under the real name
    stored = broker.call(broker.broker.retained.get, "ta/two")
    assert stored is not None and stored.payload == b"kept" and ALIAS not in stored.properties
    assert broker.call(broker.broker.retained.get, "") is None


def test_unknown_topic_alias_is_a_protocol_error(broker: BrokerThread, clients: OpenClient) -> None:
    """§3.3.2.3.4: an empty topic with an alias that has no mapping is a Protocol Error (DISCONNECT 0x82)."""
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, ("#", 0))
    pub = clients(broker.port, "pub", V5)
    pub.send(Publish(topic="", payload=b"x", qos=1, packet_id=1, properties={ALIAS: 7}))
    assert pub.recv_until_closed() == [Disconnect(reason_code=ReasonCode.PROTOCOL_ERROR)]
    assert drain(sub) == []


def test_topic_alias_above_the_server_maximum_is_rejected(start_broker: Callable[..., BrokerThread],
                                                         clients: OpenClient) -> None:
    """[MQTT-3.2.2-17]: CONNACK announces Topic Alias Maximum; [MQTT-3.3.2-9]: a larger alias is refused
    with DISCONNECT 0x94 Topic Alias invalid."""
    bt = start_broker(mqtt={"max_topic_alias": 2})
    pub = clients(bt.port, "pub", V5)
    assert pub.connack.properties[P.TOPIC_ALIAS_MAXIMUM] == 2
    publish(pub, "ta/x", b"ok", qos=1, properties={ALIAS: 2})
    pub.send(Publish(topic="ta/y", payload=b"x", qos=1, packet_id=2, properties={ALIAS: 3}))
    assert pub.recv_until_closed() == [Disconnect(reason_code=ReasonCode.TOPIC_ALIAS_INVALID)]


def test_topic_alias_mapping_ends_with_the_connection(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.3.2-7]: alias mappings do not carry over to a new network connection, even of the same session."""
    pub = clients(broker.port, "pub", V5, **persistent(V5, expiry=60))
    publish(pub, "ta/one", b"1", qos=1, properties={ALIAS: 1})
    pub.close()
    wait_for(lambda: offline(broker, "pub"), message="pub offline")
    pub = clients(broker.port, "pub", V5, **persistent(V5, expiry=60))
    pub.send(Publish(topic="", payload=b"x", qos=1, packet_id=2, properties={ALIAS: 1}))
    assert pub.recv_until_closed() == [Disconnect(reason_code=ReasonCode.PROTOCOL_ERROR)]


# --------------------------------------------------------------------------------------------- Topic Alias (outgoing)


def resolve_aliases(packets: list[Publish], maximum: int) -> list[str]:
    """What a client makes of the topic names and aliases it received; checks the alias rules on the way."""
    mapping: dict[int, str] = {}
    topics = []
    for p in packets:
        alias = p.properties.get(ALIAS)
        if alias is None:
            assert p.topic, "a PUBLISH without alias needs a topic name"
            topics.append(p.topic)
            continue
        assert 1 <= alias <= maximum, f"alias {alias} outside 1..{maximum} [MQTT-3.3.2-11]"
        if p.topic:
            mapping[alias] = p.topic
        else:
            assert alias in mapping, f"alias {alias} used before it was set"
        topics.append(mapping[alias])
    return topics


def test_broker_assigns_outgoing_topic_aliases_within_the_client_maximum(broker: BrokerThread,
                                                                         clients: OpenClient) -> None:
    """§3.3.2.3.4, [MQTT-3.1.2-26]/[MQTT-3.3.2-11]: with Topic Alias Maximum 2 the broker sends topic + alias
    first, then an empty topic + the same alias, and never an alias above 2 (a third topic goes by name)."""
    sub = clients(broker.port, "sub", V5, properties={P.TOPIC_ALIAS_MAXIMUM: 2})
    subscribe(sub, ("oa/#", 1))
    pub = clients(broker.port, "pub", V5)
    sent = ["oa/1", "oa/1", "oa/2", "oa/3", "oa/1", "oa/2", "oa/3", "oa/1"]
    for n, topic in enumerate(sent):
        publish(pub, topic, str(n).encode(), qos=n % 3)
    got = drain(sub)
    assert [p.payload for p in got] == [str(n).encode() for n in range(len(sent))]
    assert resolve_aliases(got, 2) == sent
    first = got[0]
    assert first.topic == "oa/1" and first.properties.get(ALIAS)
    again = got[1]
    assert again.topic == "" and again.properties.get(ALIAS) == first.properties[ALIAS]
    assert sum(1 for p in got if not p.topic) >= 4  # oa/1 x3 and oa/2 x1 went by alias only
    assert {p.properties.get(ALIAS) for p in got} <= {1, 2, None}


def test_no_outgoing_topic_aliases_without_client_maximum(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.1.2-27]: a client that sent no (or 0) Topic Alias Maximum never gets a Topic Alias."""
    absent = clients(broker.port, "absent", V5)
    zero = clients(broker.port, "zero", V5, properties={P.TOPIC_ALIAS_MAXIMUM: 0})
    v3 = clients(broker.port, "v3", V311)
    for c in (absent, zero, v3):
        subscribe(c, ("oa/#", 0))
    pub = clients(broker.port, "pub", V5)
    for _ in range(3):
        publish(pub, "oa/t", b"x", qos=1)
    for c in (absent, zero, v3):
        got = drain(c)
        assert [(p.topic, p.properties.get(ALIAS)) for p in got] == [("oa/t", None)] * 3


def test_outgoing_topic_aliases_start_afresh_on_a_new_connection(broker: BrokerThread,
                                                                 clients: OpenClient) -> None:
    """[MQTT-3.3.2-7]: the broker does not reuse an alias it set on an earlier connection."""
    resume_with_aliases = persistent(V5, expiry=60, properties={P.TOPIC_ALIAS_MAXIMUM: 5})
    sub = clients(broker.port, "sub", V5, **resume_with_aliases)
    subscribe(sub, ("oa/#", 1))
    pub = clients(broker.port, "pub", V5)
    publish(pub, "oa/t", b"1", qos=1)
    publish(pub, "oa/t", b"2", qos=1)
    assert [p.topic for p in drain(sub)] == ["oa/t", ""]
    sub.close()
    wait_for(lambda: offline(broker, "sub"), message="sub offline")
    publish(pub, "oa/t", b"queued", qos=1)
    sub = clients(broker.port, "sub", V5, **resume_with_aliases)
    publish(pub, "oa/t", b"live", qos=1)
    got = drain(sub)
    assert [p.payload for p in got] == [b"queued", b"live"]
    assert resolve_aliases(got, 5) == ["oa/t", "oa/t"]
    assert got[0].topic == "oa/t"


# --------------------------------------------------------------------------------------------- request / response


def test_request_response_properties_pass_through_unchanged(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.3.2-4] Payload Format Indicator, [MQTT-3.3.2-15] Response Topic, [MQTT-3.3.2-16] Correlation
    Data, [MQTT-3.3.2-17]/[MQTT-3.3.2-18] User Properties (all of them, in order, duplicates kept),
    [MQTT-3.3.2-20] Content Type: forwarded unaltered, nothing added; the responder's reply reaches the
    requester with the Correlation Data echoed."""
    requester = clients(broker.port, "requester", V5)
    responder = clients(broker.port, "responder", V5)
    legacy = clients(broker.port, "legacy", V311)
    subscribe(requester, ("rr/reply/42", 1))
    subscribe(responder, ("rr/req", 2))
    subscribe(legacy, ("rr/#", 1))
    request_props = {
        P.PAYLOAD_FORMAT_INDICATOR: 1,
        P.CONTENT_TYPE: "application/json; charset=utf-8",
        P.RESPONSE_TOPIC: "rr/reply/42",
        P.CORRELATION_DATA: b"\x00\x01corr\xff",
        P.USER_PROPERTY: [("k", "1"), ("a", "x"), ("k", "2"), ("k", "1"), ("", ""), ("ключ", "значение")],
    }
    publish(requester, "rr/req", b'{"q": 1}', qos=2, properties=request_props)
    [request] = drain(responder)
    assert (request.topic, request.payload, request.qos) == ("rr/req", b'{"q": 1}', 2)
    assert request.properties == request_props

    reply_props = {P.CORRELATION_DATA: request.properties[P.CORRELATION_DATA], P.PAYLOAD_FORMAT_INDICATOR: 0}
    publish(responder, request.properties[P.RESPONSE_TOPIC], b"\xffanswer", qos=1, properties=reply_props)
    [reply] = drain(requester)
    assert (reply.topic, reply.payload) == ("rr/reply/42", b"\xffanswer")
    assert reply.properties == reply_props

    assert [(p.topic, p.payload, p.properties) for p in drain(legacy)] == [
        ("rr/req", b'{"q": 1}', {}), ("rr/reply/42", b"\xffanswer", {})]


@pytest.mark.parametrize("response_topic", ["reply/#", "reply/+/x", ""])
def test_invalid_response_topic_is_a_protocol_error(broker: BrokerThread, clients: OpenClient,
                                                    response_topic: str) -> None:
    """[MQTT-3.3.2-14]: a Response Topic must not contain wildcards (and, being a topic name, is at least one
    character [MQTT-4.7.3-1]); a PUBLISH carrying one is a Protocol Error (§4.13: DISCONNECT 0x82) and must
    not be forwarded, or the broker would send the malformed property on."""
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, ("rr/#", 0))
    pub = clients(broker.port, "pub", V5)
    pub.send(Publish(topic="rr/req", payload=b"x", qos=1, packet_id=1,
                     properties={P.RESPONSE_TOPIC: response_topic}))
    pub.send(Pingreq())
    replies: list[Packet] = []
    while not replies or not isinstance(replies[-1], Pingresp):  # a PINGRESP means it is still connected
        try:
            replies.append(pub.recv())
        except ConnectionError:
            break
    assert replies == [Disconnect(reason_code=ReasonCode.PROTOCOL_ERROR)]
    assert drain(sub) == []


# --------------------------------------------------------------------------------------------- Subscription Identifier


def test_subscription_identifier_is_sent_with_matching_messages(broker: BrokerThread, clients: OpenClient) -> None:
    """§3.8.2.1.2, [MQTT-3.3.4-3]: messages for a subscription carry its identifier (retained ones sent on
    subscribe too); each subscriber gets its own identifier, one without gets none."""
    pub = clients(broker.port, "pub", V5)
    publish(pub, "si/r", b"retained", qos=1, retain=True)
    big = clients(broker.port, "big", V5)
    small = clients(broker.port, "small", V5)
    plain = clients(broker.port, "plain", V5)
    subscribe(big, ("si/#", 1), properties={SUB_ID: [268_435_455]})
    subscribe(small, ("si/+", 1), properties={SUB_ID: [1]})
    subscribe(plain, ("si/#", 1))
    publish(pub, "si/live", b"live", qos=1)
    assert [(p.payload, p.properties.get(SUB_ID)) for p in drain(big)] == [
        (b"retained", [268_435_455]), (b"live", [268_435_455])]
    assert [(p.payload, p.properties.get(SUB_ID)) for p in drain(small)] == [(b"retained", [1]), (b"live", [1])]
    assert [(p.payload, p.properties.get(SUB_ID)) for p in drain(plain)] == [(b"retained", None), (b"live", None)]


def test_subscription_identifier_applies_to_every_filter_of_its_subscribe(broker: BrokerThread,
                                                                          clients: OpenClient) -> None:
    """§3.8.2.1.2: the identifier is associated with every subscription the SUBSCRIBE creates or modifies."""
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, ("a/#", 0), ("b/#", 1), properties={SUB_ID: [42]})
    pub = clients(broker.port, "pub", V5)
    publish(pub, "a/x", b"a", qos=1)
    publish(pub, "b/x", b"b", qos=1)
    assert [(p.topic, p.properties.get(SUB_ID)) for p in drain(sub)] == [("a/x", [42]), ("b/x", [42])]


def test_publisher_topic_alias_and_subscription_identifiers_do_not_leak(broker: BrokerThread,
                                                                        clients: OpenClient) -> None:
    """Topic Alias is per connection (§3.3.2.3.4) and Subscription Identifiers belong to the receiving
    subscription (§3.3.2.3.8): the publisher's never reach a subscriber; a subscriber that accepts aliases
    gets the broker's own alias."""
    pub = clients(broker.port, "pub", V5)
    subscribe(pub, ("leak/in", 1), properties={SUB_ID: [9]})
    plain = clients(broker.port, "plain", V5)
    aliased = clients(broker.port, "aliased", V5, properties={P.TOPIC_ALIAS_MAXIMUM: 10})
    subscribe(plain, ("leak/#", 1))
    subscribe(aliased, ("leak/#", 1))
    publish(pub, "leak/out", b"x", qos=1, properties={ALIAS: 4, P.USER_PROPERTY: [("u", "v")]})
    [got] = drain(plain)
    assert got.topic == "leak/out"
    assert got.properties == {P.USER_PROPERTY: [("u", "v")]}
    [got] = drain(aliased)
    assert got.topic == "leak/out"
    assert got.properties == {P.USER_PROPERTY: [("u", "v")], ALIAS: 1}


def test_subscription_identifier_in_a_client_publish_is_a_protocol_error(broker: BrokerThread,
                                                                         clients: OpenClient) -> None:
    """[MQTT-3.3.4-6]: a PUBLISH from a client must not carry a Subscription Identifier -> DISCONNECT 0x82,
    the message is not forwarded."""
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, ("#", 0))
    pub = clients(broker.port, "pub", V5)
    pub.send(Publish(topic="leak/x", payload=b"x", qos=1, packet_id=1, properties={SUB_ID: [5]}))
    assert pub.recv_until_closed() == [Disconnect(reason_code=ReasonCode.PROTOCOL_ERROR)]
    assert drain(sub) == []
