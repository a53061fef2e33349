"""MQTT 5 properties: identifiers, wire types, where each may appear, and their encode/decode.

Properties are kept as a plain ``dict[int, value]`` keyed by `PropertyId`: cheap to build on the hot path and
trivially comparable in tests. Properties that may repeat (User Property, Subscription Identifier) always hold a
list; every other property holds a single value.
"""

from __future__ import annotations

from enum import IntEnum
from struct import Struct
from typing import Any

from ._errors import MalformedPacket, ProtocolViolation
from ._reason import ReasonCode

__all__ = [
    "PROPERTY_NAMES",
    "Properties",
    "PropertyId",
    "decode_properties",
    "encode_properties",
    "property_names",
]

Properties = dict[int, Any]


class PropertyId(IntEnum):
    PAYLOAD_FORMAT_INDICATOR = 0x01
    MESSAGE_EXPIRY_INTERVAL = 0x02
    CONTENT_TYPE = 0x03
    RESPONSE_TOPIC = 0x08
    CORRELATION_DATA = 0x09
    SUBSCRIPTION_IDENTIFIER = 0x0B
    SESSION_EXPIRY_INTERVAL = 0x11
    ASSIGNED_CLIENT_IDENTIFIER = 0x12
    SERVER_KEEP_ALIVE = 0x13
    AUTHENTICATION_METHOD = 0x15
    AUTHENTICATION_DATA = 0x16
    REQUEST_PROBLEM_INFORMATION = 0x17
    WILL_DELAY_INTERVAL = 0x18
    REQUEST_RESPONSE_INFORMATION = 0x19
    RESPONSE_INFORMATION = 0x1A
    SERVER_REFERENCE = 0x1C
    REASON_STRING = 0x1F
    RECEIVE_MAXIMUM = 0x21
    TOPIC_ALIAS_MAXIMUM = 0x22
    TOPIC_ALIAS = 0x23
    MAXIMUM_QOS = 0x24
    RETAIN_AVAILABLE = 0x25
    USER_PROPERTY = 0x26
    MAXIMUM_PACKET_SIZE = 0x27
    WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
    SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
    SHARED_SUBSCRIPTION_AVAILABLE = 0x2A


# Wire types
_BYTE, _U16, _U32, _VARINT, _STR, _BIN, _PAIR = range(7)

# Packet kinds a property may appear in; "will" is the Will Properties block of CONNECT.
_PUB = frozenset({"publish", "will"})
_ACKS = frozenset({"connack", "puback", "pubrec", "pubrel", "pubcomp", "suback", "unsuback", "disconnect", "auth"})
_ALL = frozenset({"connect", "connack", "publish", "will", "puback", "pubrec", "pubrel", "pubcomp", "subscribe",
                  "suback", "unsubscribe", "unsuback", "disconnect", "auth"})

_SPEC: dict[int, tuple[int, frozenset[str]]] = {
    PropertyId.PAYLOAD_FORMAT_INDICATOR: (_BYTE, _PUB),
    PropertyId.MESSAGE_EXPIRY_INTERVAL: (_U32, _PUB),
    PropertyId.CONTENT_TYPE: (_STR, _PUB),
    PropertyId.RESPONSE_TOPIC: (_STR, _PUB),
    PropertyId.CORRELATION_DATA: (_BIN, _PUB),
    PropertyId.SUBSCRIPTION_IDENTIFIER: (_VARINT, frozenset({"publish", "subscribe"})),
    PropertyId.SESSION_EXPIRY_INTERVAL: (_U32, frozenset({"connect", "connack", "disconnect"})),
    PropertyId.ASSIGNED_CLIENT_IDENTIFIER: (_STR, frozenset({"connack"})),
    PropertyId.SERVER_KEEP_ALIVE: (_U16, frozenset({"connack"})),
    PropertyId.AUTHENTICATION_METHOD: (_STR, frozenset({"connect", "connack", "auth"})),
    PropertyId.AUTHENTICATION_DATA: (_BIN, frozenset({"connect", "connack", "auth"})),
    PropertyId.REQUEST_PROBLEM_INFORMATION: (_BYTE, frozenset({"connect"})),
    PropertyId.WILL_DELAY_INTERVAL: (_U32, frozenset({"will"})),
    PropertyId.REQUEST_RESPONSE_INFORMATION: (_BYTE, frozenset({"connect"})),
    PropertyId.RESPONSE_INFORMATION: (_STR, frozenset({"connack"})),
    PropertyId.SERVER_REFERENCE: (_STR, frozenset({"connack", "disconnect"})),
    PropertyId.REASON_STRING: (_STR, _ACKS),
    PropertyId.RECEIVE_MAXIMUM: (_U16, frozenset({"connect", "connack"})),
    PropertyId.TOPIC_ALIAS_MAXIMUM: (_U16, frozenset({"connect", "connack"})),
    PropertyId.TOPIC_ALIAS: (_U16, frozenset({"publish"})),
    PropertyId.MAXIMUM_QOS: (_BYTE, frozenset({"connack"})),
    PropertyId.RETAIN_AVAILABLE: (_BYTE, frozenset({"connack"})),
    PropertyId.USER_PROPERTY: (_PAIR, _ALL),
    PropertyId.MAXIMUM_PACKET_SIZE: (_U32, frozenset({"connect", "connack"})),
    PropertyId.WILDCARD_SUBSCRIPTION_AVAILABLE: (_BYTE, frozenset({"connack"})),
    PropertyId.SUBSCRIPTION_IDENTIFIER_AVAILABLE: (_BYTE, frozenset({"connack"})),
    PropertyId.SHARED_SUBSCRIPTION_AVAILABLE: (_BYTE, frozenset({"connack"})),
}

_REPEATABLE = frozenset({PropertyId.USER_PROPERTY, PropertyId.SUBSCRIPTION_IDENTIFIER})
# Values the spec forbids outright (a zero here is a Protocol Error: [MQTT-3.1.2-...] etc.).
_NONZERO = frozenset({PropertyId.RECEIVE_MAXIMUM, PropertyId.MAXIMUM_PACKET_SIZE, PropertyId.SUBSCRIPTION_IDENTIFIER,
                      PropertyId.TOPIC_ALIAS})
_BOOLEAN_BYTES = frozenset({PropertyId.PAYLOAD_FORMAT_INDICATOR, PropertyId.REQUEST_PROBLEM_INFORMATION,
                            PropertyId.REQUEST_RESPONSE_INFORMATION, PropertyId.MAXIMUM_QOS,
                            PropertyId.RETAIN_AVAILABLE, PropertyId.WILDCARD_SUBSCRIPTION_AVAILABLE,
                            PropertyId.SUBSCRIPTION_IDENTIFIER_AVAILABLE, PropertyId.SHARED_SUBSCRIPTION_AVAILABLE})

#: EMQX's printable names ("Message-Expiry-Interval", ...), used by event payloads.
PROPERTY_NAMES: dict[int, str] = {
    p.value: "-".join(w.capitalize() for w in p.name.split("_")).replace("Qos", "QoS") for p in PropertyId
}

_U16S = Struct(">H")
_U32S = Struct(">I")


MAX_VARINT = 268_435_455


def encode_varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    if n > MAX_VARINT:
        raise ValueError(f"{n} does not fit a variable byte integer")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def decode_varint(buf: bytes | bytearray, i: int, end: int) -> tuple[int, int]:
    """Decode a Variable Byte Integer at ``buf[i:end]``; return (value, next index)."""
    value = 0
    shift = 0
    while True:
        if i >= end:
            raise MalformedPacket("truncated variable byte integer")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7
        if shift > 21:
            raise MalformedPacket("variable byte integer longer than 4 bytes")


def encode_str(s: str) -> bytes:
    raw = s.encode()
    if len(raw) > 0xFFFF:
        raise ValueError("string longer than 65535 bytes")
    return _U16S.pack(len(raw)) + raw


def encode_bin(b: bytes) -> bytes:
    if len(b) > 0xFFFF:
        raise ValueError("binary data longer than 65535 bytes")
    return _U16S.pack(len(b)) + b


def decode_str(buf: bytes | bytearray, i: int, end: int) -> tuple[str, int]:
    """Decode a UTF-8 Encoded String; invalid UTF-8 or U+0000 is malformed [MQTT-1.5.4-1], [MQTT-1.5.4-2]."""
    raw, i = decode_bin(buf, i, end)
    try:
        s = raw.decode()
    except UnicodeDecodeError:
        raise MalformedPacket("string is not valid UTF-8") from None
    if "\x00" in s:
        raise MalformedPacket("string contains U+0000")
    return s, i


def decode_bin(buf: bytes | bytearray, i: int, end: int) -> tuple[bytes, int]:
    if i + 2 > end:
        raise MalformedPacket("truncated length prefix")
    n = (buf[i] << 8) | buf[i + 1]
    i += 2
    if i + n > end:
        raise MalformedPacket("length prefix runs past the end of the packet")
    return bytes(buf[i:i + n]), i + n


def _encode_value(kind: int, value: Any) -> bytes:
    if kind == _BYTE:
        return bytes((value,))
    if kind == _U16:
        return _U16S.pack(value)
    if kind == _U32:
        return _U32S.pack(value)
    if kind == _VARINT:
        return encode_varint(value)
    if kind == _STR:
        return encode_str(value)
    if kind == _BIN:
        return encode_bin(value)
    key, val = value
    return encode_str(key) + encode_str(val)


def encode_properties(props: Properties | None) -> bytes:
    """Encode a property block including its length prefix (an empty block is the single byte 0)."""
    if not props:
        return b"\x00"
    out = bytearray()
    for pid, value in props.items():
        kind = _SPEC[pid][0]
        values = value if pid in _REPEATABLE else (value,)
        for v in values:
            out += encode_varint(pid)
            out += _encode_value(kind, v)
    return encode_varint(len(out)) + out


def decode_properties(buf: bytes | bytearray, i: int, end: int, packet_kind: str) -> tuple[Properties, int]:
    """Decode a property block at ``buf[i:end]`` for a packet of ``packet_kind``; return (props, next index).

    Raises MalformedPacket for unknown or misplaced properties and ProtocolViolation for duplicates or
    forbidden values, as [MQTT-2.2.2-2] and the per-property rules of chapter 3 require.
    """
    length, i = decode_varint(buf, i, end)
    stop = i + length
    if stop > end:
        raise MalformedPacket("property length runs past the end of the packet")
    props: Properties = {}
    while i < stop:
        pid, i = decode_varint(buf, i, stop)
        spec = _SPEC.get(pid)
        if spec is None:
            raise MalformedPacket(f"unknown property 0x{pid:02X}")
        kind, allowed = spec
        if packet_kind not in allowed:
            raise MalformedPacket(f"property {PROPERTY_NAMES[pid]} is not allowed in {packet_kind.upper()}")
        value: Any
        if kind == _BYTE:
            if i >= stop:
                raise MalformedPacket("truncated property")
            value = buf[i]
            i += 1
            if pid in _BOOLEAN_BYTES and value > 1:  # Maximum QoS too: absent means 2 [MQTT-3.2.2-9]
                raise ProtocolViolation(f"{PROPERTY_NAMES[pid]} has invalid value {value}")
        elif kind == _U16:
            if i + 2 > stop:
                raise MalformedPacket("truncated property")
            value = (buf[i] << 8) | buf[i + 1]
            i += 2
        elif kind == _U32:
            if i + 4 > stop:
                raise MalformedPacket("truncated property")
            value = _U32S.unpack_from(buf, i)[0]
            i += 4
        elif kind == _VARINT:
            value, i = decode_varint(buf, i, stop)
        elif kind == _STR:
            value, i = decode_str(buf, i, stop)
        elif kind == _BIN:
            value, i = decode_bin(buf, i, stop)
        else:
            key, i = decode_str(buf, i, stop)
            val, i = decode_str(buf, i, stop)
            value = (key, val)
        if pid in _NONZERO and value == 0:
            code = ReasonCode.TOPIC_ALIAS_INVALID if pid == PropertyId.TOPIC_ALIAS else None  # [MQTT-3.3.2-8]
            raise ProtocolViolation(f"{PROPERTY_NAMES[pid]} must not be 0", code)
        if pid in _REPEATABLE:
            if pid == PropertyId.SUBSCRIPTION_IDENTIFIER and packet_kind == "subscribe" and pid in props:
                raise ProtocolViolation("SUBSCRIBE carries more than one Subscription Identifier")
            props.setdefault(pid, []).append(value)
        elif pid in props:
            raise ProtocolViolation(f"property {PROPERTY_NAMES[pid]} appears twice")
        else:
            props[pid] = value
    return props, stop


def property_names(props: Properties | None) -> dict[str, Any]:
    """Properties keyed by their printable MQTT 5 names (the shape EMQX puts in ``*_props``)."""
    if not props:
        return {}
    return {PROPERTY_NAMES[pid]: value for pid, value in props.items()}
