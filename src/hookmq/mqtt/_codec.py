"""Bytes in, packets out; packets in, bytes out. No sockets, no event loop.

Strategy: `Decoder.receive_data()` appends to one buffer; `next_packet()` frames one packet by its fixed
header and hands ``(buffer, start, end)`` to the reader for that packet type, picked from the `_READERS`
table. A reader returns a packet or raises an `MqttError` subclass carrying the reason code. Framing checks
the declared size against ``max_packet_size`` *before* buffering the body, so an oversized packet is refused
without being read. Encoding is the mirror image: `encode(packet, version)`, with a dedicated fast path for
PUBLISH (`encode_publish`) because fan-out encodes it most.
"""

from __future__ import annotations

from collections.abc import Callable
from struct import Struct
from typing import Final

from ._errors import MalformedPacket, PacketTooLarge, ProtocolViolation, UnsupportedProtocolVersion
from ._packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
    ProtocolVersion,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Unsubscribe,
    Will,
)
from ._properties import (
    Properties,
    decode_bin,
    decode_properties,
    decode_str,
    encode_bin,
    encode_properties,
    encode_str,
    encode_varint,
)

__all__ = ["MAX_POSSIBLE_PACKET_SIZE", "NEED_DATA", "Decoder", "decode_all", "encode", "encode_publish"]


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


#: Returned by `Decoder.next_packet` when the buffer holds no complete packet yet.
NEED_DATA: Final = _NeedData()

#: The largest packet MQTT can frame (remaining length 268,435,455 plus a 5-byte fixed header).
MAX_POSSIBLE_PACKET_SIZE: Final = 268_435_460

_U16 = Struct(">H")
V5 = ProtocolVersion.MQTT_5
_PROTOCOL_NAMES = {b"MQTT": (ProtocolVersion.MQTT_3_1_1, V5), b"MQIsdp": (ProtocolVersion.MQTT_3_1,)}

Reader = Callable[["Decoder", int, bytes | bytearray, int, int], Packet]


class Decoder:
    """Incremental MQTT decoder for one connection.

    ``protocol_version`` is learnt from the CONNECT packet (server side) or set by the caller (client side);
    it decides whether packets carry properties and reason codes.

    Example::

        d = Decoder()
        d.receive_data(sock_bytes)
        while (p := d.next_packet()) is not NEED_DATA:
            handle(p)
    """

    __slots__ = ("_buf", "_pos", "max_packet_size", "protocol_version")

    def __init__(self, *, max_packet_size: int = MAX_POSSIBLE_PACKET_SIZE, protocol_version: int | None = None):
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self.max_packet_size = max_packet_size
        self.protocol_version = protocol_version

    def receive_data(self, data: bytes) -> None:
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):
            self._buf = data  # common case: nothing left over, parse the new bytes in place
            self._pos = 0
        elif isinstance(buf, bytearray):
            if pos > len(buf) // 2:  # compact now and then, so appending stays amortised O(1)
                del buf[:pos]
                self._pos = 0
            buf += data
        else:
            rest = bytearray(memoryview(buf)[pos:])
            rest += data
            self._buf = rest
            self._pos = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet decoded."""
        return len(self._buf) - self._pos

    def next_packet(self) -> Packet | _NeedData:
        buf = self._buf
        pos = self._pos
        n = len(buf)
        if n - pos < 2:
            return NEED_DATA
        first = buf[pos]
        i = pos + 1
        length = 0
        shift = 0
        while True:
            if i >= n:
                return NEED_DATA
            b = buf[i]
            i += 1
            length |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MalformedPacket("remaining length longer than 4 bytes")
        end = i + length
        if end - pos > self.max_packet_size:
            raise PacketTooLarge(f"packet of {end - pos} bytes exceeds the maximum of {self.max_packet_size}")
        if end > n:
            return NEED_DATA
        self._pos = end
        reader = _READERS[first >> 4]
        if reader is None:
            raise MalformedPacket("reserved packet type 0")
        return reader(self, first & 0x0F, buf, i, end)


# --------------------------------------------------------------------------------------------- readers


def _v5(d: Decoder) -> bool:
    return d.protocol_version == V5


def _expect_flags(flags: int, expected: int, name: str) -> None:
    # [MQTT-2.1.3-1] reserved flag bits must hold exactly the values the spec lists.
    if flags != expected:
        raise MalformedPacket(f"invalid fixed header flags 0x{flags:X} for {name}")


def _packet_id(buf: bytes | bytearray, i: int, end: int) -> tuple[int, int]:
    if i + 2 > end:
        raise MalformedPacket("truncated packet identifier")
    pid = (buf[i] << 8) | buf[i + 1]
    if pid == 0:
        raise MalformedPacket("packet identifier 0")  # [MQTT-2.2.1-3]
    return pid, i + 2


def _read_connect(d: Decoder, flags: int, buf: bytes | bytearray, i: int, end: int) -> Packet:
    _expect_flags(flags, 0, "CONNECT")
    name, i = decode_bin(buf, i, end)
    if i + 4 > end:
        raise MalformedPacket("truncated CONNECT variable header")
    level = buf[i]
    cflags = buf[i + 1]
    keep_alive = (buf[i + 2] << 8) | buf[i + 3]
    i += 4
    levels = _PROTOCOL_NAMES.get(name)
    if levels is None:
        raise MalformedPacket(f"unknown protocol name {name!r}")  # [MQTT-3.1.2-1]
    if level not in levels:
        raise UnsupportedProtocolVersion(f"unsupported protocol level {level}")  # [MQTT-3.1.2-2]
    d.protocol_version = level
    if cflags & 0x01:
        raise MalformedPacket("CONNECT reserved flag is set")  # [MQTT-3.1.2-3]
    will_flag = bool(cflags & 0x04)
    will_qos = (cflags >> 3) & 0x03
    will_retain = bool(cflags & 0x20)
    if will_qos == 3:
        raise MalformedPacket("will QoS 3")  # [MQTT-3.1.2-14]
    if not will_flag and (will_qos or will_retain):
        raise MalformedPacket("will QoS/retain set without will flag")  # [MQTT-3.1.2-13], [MQTT-3.1.2-15]
    has_username = bool(cflags & 0x80)
    has_password = bool(cflags & 0x40)
    if has_password and not has_username and level != V5:
        raise MalformedPacket("password flag without username flag")  # [MQTT-3.1.2-22]
    props: Properties = {}
    if level == V5:
        props, i = decode_properties(buf, i, end, "connect")
    client_id, i = decode_str(buf, i, end)
    will = None
    if will_flag:
        will_props: Properties = {}
        if level == V5:
            will_props, i = decode_properties(buf, i, end, "will")
        will_topic, i = decode_str(buf, i, end)
        will_payload, i = decode_bin(buf, i, end)
        will = Will(topic=will_topic, payload=will_payload, qos=will_qos, retain=will_retain, properties=will_props)
    username = password = None
    if has_username:
        username, i = decode_str(buf, i, end)
    if has_password:
        password, i = decode_bin(buf, i, end)
    if i != end:
        raise MalformedPacket("trailing bytes after CONNECT payload")
    return Connect(protocol_version=level, client_id=client_id, clean_start=bool(cflags & 0x02),
                   keep_alive=keep_alive, will=will, username=username, password=password, properties=props)


def _read_connack(d: Decoder, flags: int, buf: bytes | bytearray, i: int, end: int) -> Packet:
    _expect_flags(flags, 0, "CONNACK")
    if i + 2 > end:
        raise MalformedPacket("truncated CONNACK")
    if buf[i] & 0xFE:
        raise MalformedPacket("CONNACK reserved flags set")
    session_present = bool(buf[i] & 1)
    code = buf[i + 1]
    i += 2
    props: Properties = {}
    if _v5(d) and i < end:
        props, i = decode_properties(buf, i, end, "connack")
    _expect_end(i, end, "CONNACK")
    return Connack(session_present=session_present, reason_code=code, properties=props)


def _read_publish(d: Decoder, flags: int, buf: bytes | bytearray, i: int, end: int) -> Packet:
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")  # [MQTT-3.3.1-4]
    dup = bool(flags & 0x08)
    if dup and qos == 0:
        raise MalformedPacket("DUP set on a QoS 0 PUBLISH")  # [MQTT-3.3.1-2]
    topic, i = decode_str(buf, i, end)
    packet_id = None
    if qos:
        packet_id, i = _packet_id(buf, i, end)
    props: Properties = {}
    if d.protocol_version == V5:
        props, i = decode_properties(buf, i, end, "publish")
    return Publish(topic=topic, payload=bytes(buf[i:end]), qos=qos, retain=bool(flags & 1), dup=dup,
                   packet_id=packet_id, properties=props)


def _ack_reader(cls: type[Puback | Pubrec | Pubrel | Pubcomp], expected_flags: int, kind: str) -> Reader:
    def read(d: Decoder, flags: int, buf: bytes | bytearray, i: int, end: int) -> Packet:
        _expect_flags(flags, expected_flags, kind.upper())
        packet_id, i = _packet_id(buf, i, end)
        code = 0
        props: Properties = {}
        if _v5(d):
            # [MQTT-3.4.2-1] reason code and properties may be omitted when 0 / empty.
            if i < end:
                code = buf[i]
                i += 1
            if i < end:
                props, i = decode_properties(buf, i, end, kind)
        _expect_end(i, end, kind.upper())
        return cls(packet_id=packet_id, reason_code=code, properties=props)

    return read


def _read_subscribe(d: Decoder, flags: int, buf: bytes | bytearray, i: int, end: int) -> Packet:
    _expect_flags(flags, 0x02, "SUBSCRIBE")  # [MQTT-3.8.1-1]
    packet_id, i = _packet_id(buf, i, end)
    props: Properties = {}
    v5 = _v5(d)
    if v5:
        props, i = decode_properties(buf, i, end, "subscribe")
    subs = []
    while i < end:
        topic_filter, i = decode_str(buf, i, end)
        if i >= end:
            raise MalformedPacket("SUBSCRIBE topic filter without options")
        options = buf[i]
        i += 1
        qos = options & 0x03
        retain_handling = (options >> 4) & 0x03
        if options & (0xC0 if v5 else 0xFC):
            raise MalformedPacket("reserved subscription option bits set")  # [MQTT-3.8.3-5]
        if qos == 3:
            # 3.1.1 calls it malformed [MQTT-3-8.3-4]; MQTT 5 §3.8.3.1 calls it a Protocol Error.
            raise (ProtocolViolation if v5 else MalformedPacket)("subscription QoS 3")
        if retain_handling == 3:
            raise ProtocolViolation("Retain Handling 3")  # MQTT 5 §3.8.3.1
        subs.append(Subscription(topic_filter=topic_filter, qos=qos, no_local=v5 and bool(options & 0x04),
                                 retain_as_published=v5 and bool(options & 0x08), retain_handling=retain_handling))
    if not subs:
        raise ProtocolViolation("SUBSCRIBE without topic filters")  # [MQTT-3.8.3-3]
    return Subscribe(packet_id=packet_id, subscriptions=tuple(subs), properties=props)


def _read_suback(d: Decoder, flags: int, buf: bytes | bytearray, i: int, end: int) -> Packet:
    _expect_flags(flags, 0, "SUBACK")
    packet_id, i = _packet_id(buf, i, end)
    props: Properties = {}
    if _v5(d):
        props, i = decode_properties(buf, i, end, "suback")
    return Suback(packet_id=packet_id, reason_codes=tuple(buf[i:end]), properties=props)


def _read_unsubscribe(d: Decoder, flags: int, buf: bytes | bytearray, i: int, end: int) -> Packet:
    _expect_flags(flags, 0x02, "UNSUBSCRIBE")  # [MQTT-3.10.1-1]
    packet_id, i = _packet_id(buf, i, end)
    props: Properties = {}
    if _v5(d):
        props, i = decode_properties(buf, i, end, "unsubscribe")
    filters = []
    while i < end:
        topic_filter, i = decode_str(buf, i, end)
        filters.append(topic_filter)
    if not filters:
        raise ProtocolViolation("UNSUBSCRIBE without topic filters")  # [MQTT-3.10.3-2]
    return Unsubscribe(packet_id=packet_id, topic_filters=tuple(filters), properties=props)


def _read_unsuback(d: Decoder, flags: int, buf: bytes | bytearray, i: int, end: int) -> Packet:
    _expect_flags(flags, 0, "UNSUBACK")
    packet_id, i = _packet_id(buf, i, end)
    props: Properties = {}
    codes: tuple[int, ...] = ()
    if _v5(d):
        props, i = decode_properties(buf, i, end, "unsuback")
        codes = tuple(buf[i:end])
    else:
        _expect_end(i, end, "UNSUBACK")
    return Unsuback(packet_id=packet_id, reason_codes=codes, properties=props)


def _empty_reader(cls: type[Pingreq | Pingresp], name: str) -> Reader:
    def read(d: Decoder, flags: int, buf: bytes | bytearray, i: int, end: int) -> Packet:
        _expect_flags(flags, 0, name)
        _expect_end(i, end, name)
        return cls()

    return read


def _reason_reader(cls: type[Disconnect | Auth], kind: str) -> Reader:
    def read(d: Decoder, flags: int, buf: bytes | bytearray, i: int, end: int) -> Packet:
        _expect_flags(flags, 0, kind.upper())
        code = 0
        props: Properties = {}
        if _v5(d):
            if i < end:
                code = buf[i]
                i += 1
            if i < end:
                props, i = decode_properties(buf, i, end, kind)
        elif cls is Auth:
            raise MalformedPacket("AUTH exists only in MQTT 5")
        _expect_end(i, end, kind.upper())
        return cls(reason_code=code, properties=props)

    return read


def _expect_end(i: int, end: int, name: str) -> None:
    if i != end:
        raise MalformedPacket(f"{name} has {end - i} unexpected trailing bytes")


_READERS: list[Reader | None] = [
    None,
    _read_connect,
    _read_connack,
    _read_publish,
    _ack_reader(Puback, 0, "puback"),
    _ack_reader(Pubrec, 0, "pubrec"),
    _ack_reader(Pubrel, 0x02, "pubrel"),  # [MQTT-3.6.1-1]
    _ack_reader(Pubcomp, 0, "pubcomp"),
    _read_subscribe,
    _read_suback,
    _read_unsubscribe,
    _read_unsuback,
    _empty_reader(Pingreq, "PINGREQ"),
    _empty_reader(Pingresp, "PINGRESP"),
    _reason_reader(Disconnect, "disconnect"),
    _reason_reader(Auth, "auth"),
]


# --------------------------------------------------------------------------------------------- writers


def _frame(first: int, body: bytes | bytearray) -> bytes:
    return bytes((first,)) + encode_varint(len(body)) + body


def encode_publish(topic: bytes, payload: bytes, qos: int, retain: bool, dup: bool, packet_id: int | None,
                   props: bytes | None) -> bytes:
    """Encode a PUBLISH from pre-encoded parts: ``topic`` is UTF-8, ``props`` the encoded property block
    (None for MQTT 3.x). The hot path calls this once per distinct (qos, retain, props) of a fan-out."""
    if len(topic) > 0xFFFF:
        raise ValueError("topic longer than 65535 bytes")
    body_len = 2 + len(topic) + (2 if qos else 0) + (len(props) if props is not None else 0) + len(payload)
    first = 0x30 | (qos << 1) | (0x08 if dup else 0) | (1 if retain else 0)
    parts = [bytes((first,)), encode_varint(body_len), _U16.pack(len(topic)), topic]
    if qos:
        parts.append(_U16.pack(packet_id or 0))
    if props is not None:
        parts.append(props)
    parts.append(payload)
    return b"".join(parts)


def _encode_ack(first: int, packet_id: int, code: int, props: Properties, version: int) -> bytes:
    body = _U16.pack(packet_id)
    if version == V5 and (code or props):
        body += bytes((code,))
        if props:
            body += encode_properties(props)
    return _frame(first, body)


def encode(packet: Packet, version: int = ProtocolVersion.MQTT_3_1_1) -> bytes:
    """Encode one packet for a connection speaking protocol ``version``.

    Raises ValueError when the packet cannot be expressed (e.g. a string longer than 65,535 bytes).
    """
    v5 = version == V5
    if isinstance(packet, Publish):
        return encode_publish(packet.topic.encode(), packet.payload, packet.qos, packet.retain, packet.dup,
                              packet.packet_id, encode_properties(packet.properties) if v5 else None)
    if isinstance(packet, (Puback, Pubrec, Pubcomp)):
        return _encode_ack(packet.type << 4, packet.packet_id, packet.reason_code, packet.properties, version)
    if isinstance(packet, Pubrel):
        return _encode_ack(0x62, packet.packet_id, packet.reason_code, packet.properties, version)
    if isinstance(packet, Connect):
        return _encode_connect(packet)
    if isinstance(packet, Connack):
        body = bytearray((1 if packet.session_present else 0, packet.reason_code))
        if v5:
            body += encode_properties(packet.properties)
        return _frame(0x20, body)
    if isinstance(packet, Subscribe):
        body = bytearray(_U16.pack(packet.packet_id))
        if v5:
            body += encode_properties(packet.properties)
        for s in packet.subscriptions:
            body += encode_str(s.topic_filter)
            options = s.qos
            if v5:
                options |= (s.no_local << 2) | (s.retain_as_published << 3) | (s.retain_handling << 4)
            body.append(options)
        return _frame(0x82, body)
    if isinstance(packet, Suback):
        body = bytearray(_U16.pack(packet.packet_id))
        if v5:
            body += encode_properties(packet.properties)
        body += bytes(packet.reason_codes)
        return _frame(0x90, body)
    if isinstance(packet, Unsubscribe):
        body = bytearray(_U16.pack(packet.packet_id))
        if v5:
            body += encode_properties(packet.properties)
        for f in packet.topic_filters:
            body += encode_str(f)
        return _frame(0xA2, body)
    if isinstance(packet, Unsuback):
        body = bytearray(_U16.pack(packet.packet_id))
        if v5:
            body += encode_properties(packet.properties)
            body += bytes(packet.reason_codes)
        return _frame(0xB0, body)
    if isinstance(packet, Pingreq):
        return b"\xc0\x00"
    if isinstance(packet, Pingresp):
        return b"\xd0\x00"
    if isinstance(packet, (Disconnect, Auth)):
        first = 0xE0 if isinstance(packet, Disconnect) else 0xF0
        if not v5:
            if isinstance(packet, Auth):
                raise ValueError("AUTH exists only in MQTT 5")
            return b"\xe0\x00"
        if not packet.reason_code and not packet.properties:
            return bytes((first, 0))
        reason_body = bytearray((packet.reason_code,))
        if packet.properties:
            reason_body += encode_properties(packet.properties)
        return _frame(first, reason_body)
    raise TypeError(f"not an MQTT packet: {packet!r}")


def _encode_connect(p: Connect) -> bytes:
    version = p.protocol_version
    v5 = version == V5
    name = b"MQIsdp" if version == ProtocolVersion.MQTT_3_1 else b"MQTT"
    flags = 0x02 if p.clean_start else 0
    if p.will is not None:
        flags |= 0x04 | (p.will.qos << 3) | (0x20 if p.will.retain else 0)
    if p.username is not None:
        flags |= 0x80
    if p.password is not None:
        flags |= 0x40
    body = bytearray(encode_bin(name))
    body += bytes((version, flags))
    body += _U16.pack(p.keep_alive)
    if v5:
        body += encode_properties(p.properties)
    body += encode_str(p.client_id)
    if p.will is not None:
        if v5:
            body += encode_properties(p.will.properties)
        body += encode_str(p.will.topic)
        body += encode_bin(p.will.payload)
    if p.username is not None:
        body += encode_str(p.username)
    if p.password is not None:
        body += encode_bin(p.password)
    return _frame(0x10, body)


def decode_all(data: bytes, version: int | None = None) -> list[Packet]:
    """Decode every complete packet in ``data`` (a convenience for tests and tools)."""
    d = Decoder(protocol_version=version)
    d.receive_data(data)
    out = []
    while (p := d.next_packet()) is not NEED_DATA:
        assert not isinstance(p, _NeedData)
        out.append(p)
    return out

