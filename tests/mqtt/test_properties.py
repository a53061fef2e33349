"""MQTT 5 properties: printable names, Variable Byte Integers, where each property may appear, value rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookmq.mqtt import (
    NEED_DATA,
    PROPERTY_NAMES,
    Decoder,
    MalformedPacket,
    PacketTooLarge,
    PropertyId,
    ProtocolViolation,
    Publish,
    decode_properties,
    encode,
    encode_properties,
    property_names,
)
from hookmq.mqtt._properties import decode_varint, encode_varint
from tests.mqtt.test_codec import ALLOWED, properties_for

P = PropertyId

# EMQX's names (emqx_mqtt_props.erl PROPS_TABLE), which event payloads use verbatim.
EMQX_NAMES = {
    0x01: "Payload-Format-Indicator",
    0x02: "Message-Expiry-Interval",
    0x03: "Content-Type",
    0x08: "Response-Topic",
    0x09: "Correlation-Data",
    0x0B: "Subscription-Identifier",
    0x11: "Session-Expiry-Interval",
    0x12: "Assigned-Client-Identifier",
    0x13: "Server-Keep-Alive",
    0x15: "Authentication-Method",
    0x16: "Authentication-Data",
    0x17: "Request-Problem-Information",
    0x18: "Will-Delay-Interval",
    0x19: "Request-Response-Information",
    0x1A: "Response-Information",
    0x1C: "Server-Reference",
    0x1F: "Reason-String",
    0x21: "Receive-Maximum",
    0x22: "Topic-Alias-Maximum",
    0x23: "Topic-Alias",
    0x24: "Maximum-QoS",
    0x25: "Retain-Available",
    0x26: "User-Property",
    0x27: "Maximum-Packet-Size",
    0x28: "Wildcard-Subscription-Available",
    0x29: "Subscription-Identifier-Available",
    0x2A: "Shared-Subscription-Available",
}

#: One valid encoded value per property, written by hand (MQTT 5.0 §2.2.2.2 data types).
SAMPLE_VALUE_BYTES: dict[int, tuple[bytes, Any]] = {
    0x01: (b"\x01", 1),
    0x02: (b"\x00\x00\x00\x3c", 60),
    0x03: (b"\x00\x04json", "json"),
    0x08: (b"\x00\x03r/t", "r/t"),
    0x09: (b"\x00\x02\x00\xff", b"\x00\xff"),
    0x0B: (b"\x80\x01", [128]),
    0x11: (b"\xff\xff\xff\xff", 0xFFFF_FFFF),
    0x12: (b"\x00\x02id", "id"),
    0x13: (b"\x00\x1e", 30),
    0x15: (b"\x00\x05SCRAM", "SCRAM"),
    0x16: (b"\x00\x01\x07", b"\x07"),
    0x17: (b"\x00", 0),
    0x18: (b"\x00\x00\x00\x05", 5),
    0x19: (b"\x01", 1),
    0x1A: (b"\x00\x02ri", "ri"),
    0x1C: (b"\x00\x02sr", "sr"),
    0x1F: (b"\x00\x02ok", "ok"),
    0x21: (b"\x00\x0a", 10),
    0x22: (b"\x00\x00", 0),
    0x23: (b"\x00\x01", 1),
    0x24: (b"\x01", 1),
    0x25: (b"\x00", 0),
    0x26: (b"\x00\x01k\x00\x01v", [("k", "v")]),
    0x27: (b"\x00\x00\x10\x00", 4096),
    0x28: (b"\x01", 1),
    0x29: (b"\x01", 1),
    0x2A: (b"\x00", 0),
}
REPEATABLE = {P.USER_PROPERTY, P.SUBSCRIPTION_IDENTIFIER}
KINDS = sorted(ALLOWED)


def decode_block(block: bytes, kind: str) -> dict[int, Any]:
    props, end = decode_properties(block, 0, len(block), kind)
    assert end == len(block)
    return props


def block_of(*parts: bytes) -> bytes:
    body = b"".join(parts)
    assert len(body) < 128
    return bytes((len(body),)) + body


def allowed_kind(pid: int) -> str:
    return next(kind for kind in KINDS if pid in ALLOWED[kind])


# ------------------------------------------------------------------------------------------------ names


def test_property_names_are_emqx_names() -> None:
    assert dict(PROPERTY_NAMES) == EMQX_NAMES
    assert {p.value for p in PropertyId} == set(EMQX_NAMES)


def test_property_names_of_a_property_dict() -> None:
    props = {P.MESSAGE_EXPIRY_INTERVAL: 60, P.MAXIMUM_QOS: 1, P.USER_PROPERTY: [("b", "2"), ("a", "1"), ("b", "2")],
             0x0B: [3, 1]}
    assert property_names(props) == {
        "Message-Expiry-Interval": 60,
        "Maximum-QoS": 1,
        "User-Property": [("b", "2"), ("a", "1"), ("b", "2")],
        "Subscription-Identifier": [3, 1],
    }
    assert property_names({}) == {}
    assert property_names(None) == {}


# ---------------------------------------------------------------------------------- variable byte integer

VARINTS = [
    (0, b"\x00"),
    (127, b"\x7f"),
    (128, b"\x80\x01"),
    (16_383, b"\xff\x7f"),
    (16_384, b"\x80\x80\x01"),
    (2_097_151, b"\xff\xff\x7f"),
    (2_097_152, b"\x80\x80\x80\x01"),
    (268_435_455, b"\xff\xff\xff\x7f"),
]


@pytest.mark.parametrize(("value", "wire"), VARINTS, ids=[str(v) for v, _ in VARINTS])
def test_varint_boundaries(value: int, wire: bytes) -> None:
    assert encode_varint(value) == wire
    assert decode_varint(wire + b"\xaa", 0, len(wire) + 1) == (value, len(wire))


@pytest.mark.parametrize(("value", "wire"), VARINTS[1:], ids=[str(v) for v, _ in VARINTS[1:]])
def test_varint_boundaries_as_subscription_identifier(value: int, wire: bytes) -> None:
    block = block_of(b"\x0b" + wire)
    assert encode_properties({P.SUBSCRIPTION_IDENTIFIER: [value]}) == block
    assert decode_block(block, "publish") == {P.SUBSCRIPTION_IDENTIFIER: [value]}


@pytest.mark.parametrize(("value", "wire"), VARINTS, ids=[str(v) for v, _ in VARINTS])
def test_varint_boundaries_as_remaining_length(value: int, wire: bytes) -> None:
    """The decoder frames by the declared remaining length; a size limit one byte short reveals what it read."""
    header = b"\x30" + wire
    total = len(header) + value
    exact = Decoder(max_packet_size=total)
    exact.receive_data(header)
    short = Decoder(max_packet_size=total - 1)
    short.receive_data(header)
    with pytest.raises(PacketTooLarge):
        short.next_packet()
    if value:
        assert exact.next_packet() is NEED_DATA  # header accepted, body awaited
    if 3 <= value <= 2_097_152:  # small enough to build for real: a QoS 0 PUBLISH to "t"
        raw = encode(Publish(topic="t", payload=b"x" * (value - 3)))
        assert raw[:len(header)] == header
        exact.receive_data(raw[len(header):])
        assert exact.next_packet() == Publish(topic="t", payload=b"x" * (value - 3))


def test_varint_longer_than_four_bytes_is_malformed() -> None:
    with pytest.raises(MalformedPacket):
        decode_varint(b"\x80\x80\x80\x80\x01", 0, 5)
    with pytest.raises(MalformedPacket):
        decode_block(b"\x06\x0b\xff\xff\xff\xff\x7f", "publish")


def test_truncated_varint_is_malformed() -> None:
    with pytest.raises(MalformedPacket):
        decode_varint(b"\x80\x80", 0, 2)
    with pytest.raises(MalformedPacket):
        decode_varint(b"\x80\x01", 0, 1)  # ``end`` bounds the read, not the buffer


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 268_435_455))
def test_varint_roundtrip_uses_the_fewest_bytes(value: int) -> None:
    wire = encode_varint(value)
    assert len(wire) == next(n for n, limit in enumerate((128, 16_384, 2_097_152, 268_435_456), 1) if value < limit)
    assert decode_varint(wire, 0, len(wire)) == (value, len(wire))


# ------------------------------------------------------------------------------------ encode / decode


def test_empty_property_block_is_a_single_zero() -> None:
    assert encode_properties(None) == b"\x00"
    assert encode_properties({}) == b"\x00"
    assert decode_block(b"\x00", "publish") == {}


def test_user_property_order_and_duplicates_are_preserved() -> None:
    block = block_of(
        b"\x26\x00\x01b\x00\x012",  # b=2
        b"\x03\x00\x01x",           # Content Type in between
        b"\x26\x00\x01a\x00\x011",  # a=1
        b"\x26\x00\x01b\x00\x012",  # b=2 again, identical pair
        b"\x26\x00\x01a\x00\x013",  # a=3
    )
    props = decode_block(block, "publish")
    assert props[P.USER_PROPERTY] == [("b", "2"), ("a", "1"), ("b", "2"), ("a", "3")]
    assert props[P.CONTENT_TYPE] == "x"
    # Re-encoding keeps the pairs in order (grouped, since the dict holds one list).
    assert encode_properties({P.USER_PROPERTY: props[P.USER_PROPERTY]}) == block_of(
        b"\x26\x00\x01b\x00\x012", b"\x26\x00\x01a\x00\x011", b"\x26\x00\x01b\x00\x012", b"\x26\x00\x01a\x00\x013")
    assert property_names(props)["User-Property"] == [("b", "2"), ("a", "1"), ("b", "2"), ("a", "3")]


def test_user_property_with_empty_name_and_value() -> None:
    assert decode_block(block_of(b"\x26\x00\x00\x00\x00"), "disconnect") == {P.USER_PROPERTY: [("", "")]}


def test_subscription_identifiers_repeat_in_publish_in_wire_order() -> None:
    props = decode_block(block_of(b"\x0b\x05", b"\x0b\x01", b"\x0b\x05"), "publish")
    assert props == {P.SUBSCRIPTION_IDENTIFIER: [5, 1, 5]}


@pytest.mark.parametrize("pid", sorted(SAMPLE_VALUE_BYTES), ids=[EMQX_NAMES[p] for p in sorted(SAMPLE_VALUE_BYTES)])
def test_each_property_is_accepted_exactly_where_the_spec_allows_it(pid: int) -> None:
    wire, value = SAMPLE_VALUE_BYTES[pid]
    block = block_of(bytes((pid,)) + wire)
    for kind in KINDS:
        if pid in ALLOWED[kind]:
            assert decode_block(block, kind) == {pid: value}, kind
            assert encode_properties({pid: value}) == block
        else:
            with pytest.raises(MalformedPacket):
                decode_block(block, kind)


@pytest.mark.parametrize("pid", sorted(set(SAMPLE_VALUE_BYTES) - REPEATABLE),
                         ids=[EMQX_NAMES[p] for p in sorted(set(SAMPLE_VALUE_BYTES) - REPEATABLE)])
def test_a_property_twice_is_a_protocol_error(pid: int) -> None:
    wire, _ = SAMPLE_VALUE_BYTES[pid]
    one = bytes((pid,)) + wire
    with pytest.raises(ProtocolViolation) as info:
        decode_block(block_of(one, one), allowed_kind(pid))
    assert info.value.reason_code == 0x82


def test_subscription_identifier_twice_in_subscribe_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolViolation):
        decode_block(block_of(b"\x0b\x01", b"\x0b\x02"), "subscribe")


ZERO_FORBIDDEN = [
    (P.RECEIVE_MAXIMUM, b"\x00\x00"),
    (P.MAXIMUM_PACKET_SIZE, b"\x00\x00\x00\x00"),
    (P.SUBSCRIPTION_IDENTIFIER, b"\x00"),
    (P.TOPIC_ALIAS, b"\x00\x00"),
]


@pytest.mark.parametrize(("pid", "zero"), ZERO_FORBIDDEN, ids=[EMQX_NAMES[p] for p, _ in ZERO_FORBIDDEN])
def test_zero_is_a_protocol_error_for(pid: int, zero: bytes) -> None:
    for kind in KINDS:
        if pid in ALLOWED[kind]:
            with pytest.raises(ProtocolViolation) as info:
                decode_block(block_of(bytes((pid,)) + zero), kind)
            # Topic Alias 0 has its own code, 0x94 Topic Alias invalid [MQTT-3.3.2-8]
            assert info.value.reason_code == (0x94 if pid == P.TOPIC_ALIAS else 0x82)


@pytest.mark.parametrize(("pid", "zero"), [
    (P.TOPIC_ALIAS_MAXIMUM, b"\x00\x00"),  # 0: the sender accepts no aliases
    (P.SERVER_KEEP_ALIVE, b"\x00\x00"),
    (P.SESSION_EXPIRY_INTERVAL, b"\x00\x00\x00\x00"),
    (P.MESSAGE_EXPIRY_INTERVAL, b"\x00\x00\x00\x00"),
    (P.WILL_DELAY_INTERVAL, b"\x00\x00\x00\x00"),
])
def test_zero_is_allowed_for(pid: int, zero: bytes) -> None:
    assert decode_block(block_of(bytes((pid,)) + zero), allowed_kind(pid)) == {pid: 0}


ZERO_OR_ONE = [P.REQUEST_PROBLEM_INFORMATION, P.REQUEST_RESPONSE_INFORMATION, P.RETAIN_AVAILABLE,
               P.WILDCARD_SUBSCRIPTION_AVAILABLE, P.SUBSCRIPTION_IDENTIFIER_AVAILABLE,
               P.SHARED_SUBSCRIPTION_AVAILABLE, P.MAXIMUM_QOS]


@pytest.mark.parametrize("value", [2, 3, 0xFF])
@pytest.mark.parametrize("pid", ZERO_OR_ONE, ids=[EMQX_NAMES[p] for p in ZERO_OR_ONE])
def test_byte_properties_other_than_0_or_1_are_protocol_errors(pid: int, value: int) -> None:
    """Each of these is 'a Byte with a value of either 0 or 1. It is a Protocol Error ... to have a value other than
    0 or 1' (MQTT 5.0 §3.1.2.11.6/7, §3.2.2.3.4/5/11/12/13)."""
    with pytest.raises(ProtocolViolation):
        decode_block(block_of(bytes((pid, value))), allowed_kind(pid))


@pytest.mark.parametrize("block", [
    b"\x02\x02\x00",            # Message Expiry Interval cut short inside the block
    b"\x02\x21\x00",            # Receive Maximum cut short
    b"\x01\x24",                # Maximum QoS without its byte
    b"\x03\x03\x00\x05",        # string length runs past the block
    b"\x04\x26\x00\x01k",       # user property without its value
    b"\x05\x01\x01",            # property length runs past the buffer
    b"\x01\x7f",                # unknown identifier
    b"\x02\x80\x01",            # unknown identifier 128, encoded as a varint
])
def test_malformed_property_blocks(block: bytes) -> None:
    with pytest.raises(MalformedPacket):
        decode_block(block, "connack")


def test_property_block_bounded_by_its_own_length() -> None:
    # Property length 2 covers only the Topic Alias; the bytes after it belong to the payload, not the block.
    buf = b"\x03\x23\x00\x01\x26\x00"
    props, end = decode_properties(buf, 0, len(buf), "publish")
    assert (props, end) == ({P.TOPIC_ALIAS: 1}, 4)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_property_blocks_roundtrip(kind: str, data: st.DataObject) -> None:
    props = data.draw(properties_for(kind))
    block = encode_properties(props)
    assert decode_block(block, kind) == props
    assert property_names(props).keys() == {EMQX_NAMES[p] for p in props}
