"""Malformed and forbidden input closes only the offending connection.

Every row of the table is sent, as raw bytes, by a connected client that also registered a will. The test
checks that (1) that connection is closed - after DISCONNECT with the right reason code in MQTT 5, silently
in 3.1.1 -, (2) its will is published (an abnormal close, MQTT 5 3.1.2.5), and (3) two bystander clients
connected to the same broker keep publishing and receiving normally.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hookmq.mqtt import Disconnect, Puback, Publish, Suback, Subscribe, Subscription, Will, encode_properties
from tests.broker.support import (
    V5,
    V311,
    P,
    StartBroker,
    assert_round_trip,
    connection_count,
    each_version,
    offline,
    persistent,
    session_gone,
)
from tests.helpers import BrokerThread, RawClient, raw_client, wait_for

MAX_ALIAS = 5


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def frame(first: int, body: bytes) -> bytes:
    return bytes((first,)) + varint(len(body)) + body


def utf8(raw: bytes) -> bytes:
    """A length-prefixed string field holding exactly ``raw`` (which need not be valid UTF-8)."""
    return len(raw).to_bytes(2, "big") + raw


def props(values: dict[int, object] | None = None) -> bytes:
    return encode_properties(values or {})


def v5_publish(topic: bytes, properties: bytes = b"\x00", qos: int = 0, payload: bytes = b"x") -> bytes:
    pid = b"\x00\x01" if qos else b""
    return frame(0x30 | qos << 1, utf8(topic) + pid + properties + payload)


def v3_publish(topic: bytes, qos: int = 0, payload: bytes = b"x") -> bytes:
    pid = b"\x00\x01" if qos else b""
    return frame(0x30 | qos << 1, utf8(topic) + pid + payload)


@dataclass(frozen=True)
class Case:
    id: str
    version: int
    data: bytes
    code: int | None  # the MQTT 5 DISCONNECT reason code; None for 3.1.1 (closed without a packet)
    bug: str | None = None

    def param(self) -> object:
        marks = [pytest.mark.xfail(reason=self.bug, strict=True)] if self.bug else []
        return pytest.param(self, id=f"{'v5' if self.version == V5 else 'v311'}-{self.id}", marks=marks)


MALFORMED, PROTOCOL, TOPIC_NAME_INVALID, TOPIC_ALIAS_INVALID = 0x81, 0x82, 0x90, 0x94

CASES = [
    # -- fixed header: bad flags [MQTT-2.1.3-1] and framing
    Case("publish-qos3", V5, frame(0x36, utf8(b"t") + b"\x00\x01\x00x"), MALFORMED),  # [MQTT-3.3.1-4]
    Case("publish-dup-on-qos0", V5, frame(0x38, utf8(b"t") + b"\x00x"), MALFORMED),  # [MQTT-3.3.1-2]
    Case("subscribe-flags-0", V5, frame(0x80, b"\x00\x01\x00" + utf8(b"t") + b"\x00"), MALFORMED),  # [MQTT-3.8.1-1]
    Case("unsubscribe-flags-0", V5, frame(0xA0, b"\x00\x01\x00" + utf8(b"t")), MALFORMED),  # [MQTT-3.10.1-1]
    Case("pubrel-flags-0", V5, frame(0x60, b"\x00\x01"), MALFORMED),  # [MQTT-3.6.1-1]
    Case("pingreq-flags", V5, b"\xc1\x00", MALFORMED),
    Case("pingreq-with-body", V5, b"\xc0\x01\x00", MALFORMED),
    Case("reserved-packet-type-0", V5, b"\x00\x00", MALFORMED),
    Case("remaining-length-5-bytes", V5, b"\x30\xff\xff\xff\xff\x7f", MALFORMED),
    Case("topic-length-past-end", V5, frame(0x30, b"\x00\x10ab"), MALFORMED),
    Case("publish-packet-id-0", V5, frame(0x32, utf8(b"t") + b"\x00\x00\x00x"), MALFORMED),  # [MQTT-2.2.1-3]
    Case("puback-truncated", V5, frame(0x40, b"\x00"), MALFORMED),
    Case("subscribe-reserved-option-bits", V5, frame(0x82, b"\x00\x01\x00" + utf8(b"t") + b"\xc1"),
         MALFORMED),  # [MQTT-3.8.3-5]
    Case("garbage", V5, b"\xff\xff\xff\xff\xff\xff\xff\xff", MALFORMED),
    # -- strings [MQTT-1.5.4-1] [MQTT-1.5.4-2]
    Case("invalid-utf8-topic", V5, v5_publish(b"a/\xff\xfe"), MALFORMED),
    Case("utf16-surrogate-topic", V5, v5_publish(b"a/\xed\xa0\x80"), MALFORMED),
    Case("nul-in-topic", V5, v5_publish(b"a\x00b"), MALFORMED),
    Case("invalid-utf8-filter", V5, frame(0x82, b"\x00\x01\x00" + utf8(b"\xc0\xaf") + b"\x01"), MALFORMED),
    # -- properties
    Case("unknown-property", V5, v5_publish(b"t", b"\x02\x7f\x00"), MALFORMED),
    Case("property-not-allowed-in-publish", V5, v5_publish(b"t", props({P.SESSION_EXPIRY_INTERVAL: 1})),
         MALFORMED),
    Case("property-twice", V5, v5_publish(b"t", b"\x04\x01\x01\x01\x01"), PROTOCOL),
    Case("subscription-id-in-client-publish", V5, v5_publish(b"t", props({P.SUBSCRIPTION_IDENTIFIER: [3]})),
         PROTOCOL),  # [MQTT-3.3.4-6]
    # -- topic names [MQTT-3.3.2-2]
    Case("plus-wildcard-in-publish-topic", V5, v5_publish(b"a/+/c"), TOPIC_NAME_INVALID),
    Case("hash-wildcard-in-publish-topic", V5, v5_publish(b"a/#"), TOPIC_NAME_INVALID),
    Case("empty-topic-without-alias", V5, v5_publish(b""), PROTOCOL),
    # -- topic aliases [MQTT-3.3.2-8] [MQTT-3.3.2-9]
    Case("topic-alias-0", V5, v5_publish(b"t", props({P.TOPIC_ALIAS: 0})), TOPIC_ALIAS_INVALID),
    Case("topic-alias-above-maximum", V5, v5_publish(b"t", props({P.TOPIC_ALIAS: MAX_ALIAS + 1})),
         TOPIC_ALIAS_INVALID),
    Case("unknown-topic-alias", V5, v5_publish(b"", props({P.TOPIC_ALIAS: 3})), PROTOCOL),
    # -- SUBSCRIBE
    Case("no-local-on-shared-subscription", V5,
         frame(0x82, b"\x00\x01\x00" + utf8(b"$share/g/t") + b"\x05"), PROTOCOL),  # [MQTT-3.8.3-4]
    Case("subscribe-without-filters", V5, frame(0x82, b"\x00\x01\x00"), PROTOCOL),  # [MQTT-3.8.3-2]
    Case("unsubscribe-without-filters", V5, frame(0xA2, b"\x00\x01\x00"), PROTOCOL),  # [MQTT-3.10.3-2]
    # -- packets a client may not send
    Case("connack-from-client", V5, frame(0x20, b"\x00\x00\x00"), PROTOCOL),
    Case("suback-from-client", V5, frame(0x90, b"\x00\x01\x00\x00"), PROTOCOL),
    Case("pingresp-from-client", V5, b"\xd0\x00", PROTOCOL),
    Case("auth-without-method", V5, b"\xf0\x00", PROTOCOL),  # MQTT 5 4.12: no Authentication Method was agreed
    # -- MQTT 3.1.1: the same kinds of errors close the connection without any packet
    Case("publish-qos3", V311, frame(0x36, utf8(b"t") + b"\x00\x01x"), None),
    Case("subscribe-flags-0", V311, frame(0x80, b"\x00\x01" + utf8(b"t") + b"\x00"), None),
    Case("pubrel-flags-0", V311, frame(0x60, b"\x00\x01"), None),
    Case("garbage", V311, b"\xff\xff\xff\xff\xff\xff\xff\xff", None),
    Case("topic-length-past-end", V311, frame(0x30, b"\x00\x10ab"), None),
    Case("invalid-utf8-topic", V311, v3_publish(b"a/\xff"), None),
    Case("wildcard-in-publish-topic", V311, v3_publish(b"a/+"), None),
    Case("empty-topic", V311, v3_publish(b""), None),
    Case("subscribe-options-above-qos", V311, frame(0x82, b"\x00\x01" + utf8(b"t") + b"\x04"), None),
    Case("auth-packet", V311, b"\xf0\x00", None),
    Case("connack-from-client", V311, frame(0x20, b"\x00\x00"), None),
]


def bystander_round_trip(sub: RawClient, pub: RawClient, n: int) -> None:
    """Message ``n`` between the two bystanders still flows (they share the broker with the offender)."""
    assert_round_trip(sub, pub, "bystander/t", f"still fine {n}".encode(), packet_id=n)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_bad_input_closes_only_the_offending_connection(start_broker: StartBroker, case: Case) -> None:
    bt = start_broker(mqtt={"max_topic_alias": MAX_ALIAS})
    with raw_client(bt.port, V5) as sub, raw_client(bt.port, V311) as pub, \
            raw_client(bt.port, case.version) as bad:
        sub.connect("bystander-sub")
        sub.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="bystander/#", qos=1),
                                                       Subscription(topic_filter="will/#", qos=1))))
        assert isinstance(sub.recv(), Suback)
        pub.connect("bystander-pub")
        bystander_round_trip(sub, pub, 1)

        ack = bad.connect("offender", will=Will(topic="will/offender", payload=b"closed", qos=1))
        assert ack.reason_code == 0
        bad.send_raw(case.data)
        packets = bad.recv_until_closed()
        if case.code is None:
            assert packets == []
        else:
            assert packets == [Disconnect(reason_code=case.code)]

        will = sub.recv()
        assert isinstance(will, Publish) and will.topic == "will/offender", will
        sub.send(Puback(packet_id=will.packet_id or 0))
        wait_for(lambda: session_gone(bt, "offender"), message="offender forgotten")
        for n in (2, 3):
            bystander_round_trip(sub, pub, n)
        assert connection_count(bt) == 2


@each_version()
def test_bad_connect_closes_without_affecting_others(broker: BrokerThread, version: int) -> None:
    """A CONNECT that cannot be parsed (reserved flag set [MQTT-3.1.2-3], will QoS 3 [MQTT-3.1.2-12], will
    flags without a will [MQTT-3.1.2-11/13], unknown protocol name [MQTT-3.1.2-1]) just closes that socket."""
    bad_connects = [
        frame(0x10, utf8(b"MQTT") + bytes((version, 0x03)) + b"\x00\x3c" + (b"\x00" if version == V5 else b"")
              + utf8(b"r")),  # reserved flag
        frame(0x10, utf8(b"MQTT") + bytes((version, 0x1E)) + b"\x00\x3c" + (b"\x00" if version == V5 else b"")
              + utf8(b"q") + (b"\x00" if version == V5 else b"") + utf8(b"w") + utf8(b"p")),  # will QoS 3
        frame(0x10, utf8(b"MQTT") + bytes((version, 0x22)) + b"\x00\x3c" + (b"\x00" if version == V5 else b"")
              + utf8(b"n")),  # will retain without will flag
        frame(0x10, utf8(b"MQXX") + bytes((version, 0x02)) + b"\x00\x3c" + utf8(b"x")),  # protocol name
        frame(0x10, utf8(b"MQTT") + bytes((version, 0x02)) + b"\x00\x3c" + (b"\x00" if version == V5 else b"")
              + utf8(b"id") + b"junk"),  # trailing bytes
    ]
    with raw_client(broker.port, V311) as sub, raw_client(broker.port, V311) as pub:
        sub.connect("bystander-sub")
        sub.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="bystander/#", qos=1),)))
        assert isinstance(sub.recv(), Suback)
        pub.connect("bystander-pub")
        for n, data in enumerate(bad_connects):
            with raw_client(broker.port, version) as bad:
                bad.send_raw(data)
                assert bad.recv_until_closed() == [], n
            bystander_round_trip(sub, pub, n + 1)


def test_topic_alias_is_resolved_within_a_connection(broker: BrokerThread) -> None:
    """MQTT 5 3.3.2.3.4: a PUBLISH with a topic and a Topic Alias sets the mapping; a later PUBLISH with an empty
    topic and that alias is routed to the mapped topic."""
    with raw_client(broker.port, V5) as sub, raw_client(broker.port, V5) as pub:
        sub.connect("alias-sub")
        sub.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="alias/#", qos=0),)))
        assert isinstance(sub.recv(), Suback)
        pub.connect("alias-pub")
        pub.send(Publish(topic="alias/long/topic", payload=b"1", properties={P.TOPIC_ALIAS: 2}))
        pub.send(Publish(topic="", payload=b"2", properties={P.TOPIC_ALIAS: 2}))
        got = [sub.recv(), sub.recv()]
        assert [(p.topic, p.payload) for p in got if isinstance(p, Publish)] == [
            ("alias/long/topic", b"1"), ("alias/long/topic", b"2")]
        assert all(P.TOPIC_ALIAS not in p.properties for p in got if isinstance(p, Publish))


def test_topic_alias_mappings_do_not_survive_a_reconnect(broker: BrokerThread) -> None:
    """[MQTT-3.3.2-7] Topic Alias mappings exist only within one network connection, even when the session
    is resumed; using the old alias on a new connection is a Protocol Error (0x82)."""
    with raw_client(broker.port, V5) as pub:
        pub.connect("alias-again", **persistent(V5, expiry=60))
        pub.send(Publish(topic="alias/t", payload=b"1", qos=1, packet_id=1, properties={P.TOPIC_ALIAS: 1}))
        assert isinstance(pub.recv(), Puback)
        pub.send(Disconnect())
        pub.recv_until_closed()
    wait_for(lambda: offline(broker, "alias-again"))
    with raw_client(broker.port, V5) as pub:
        assert pub.connect("alias-again", **persistent(V5, expiry=60)).session_present is True
        pub.send(Publish(topic="", payload=b"2", qos=1, packet_id=2, properties={P.TOPIC_ALIAS: 1}))
        assert pub.recv_until_closed() == [Disconnect(reason_code=PROTOCOL)]
