"""The MQTT codec against hand-written golden bytes (tests/mqtt/cases.py) and generated packets.

* golden cases both ways: decode(raw) == packet, encode(packet) == raw where the spelling is canonical,
  and every error case raises the expected `MqttError` subclass with the expected reason code;
* hypothesis: every packet type in every protocol version round-trips; a stream split anywhere decodes to the
  same packets; any truncation is NEED_DATA; garbage only ever raises `MqttError`; oversized packets are
  refused from the fixed header alone; the `encode_publish` fast path equals `encode(Publish(...))`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookmq.mqtt import (
    MAX_POSSIBLE_PACKET_SIZE,
    NEED_DATA,
    Auth,
    Connack,
    Connect,
    Decoder,
    Disconnect,
    MalformedPacket,
    MqttError,
    Packet,
    PacketTooLarge,
    PacketType,
    Pingreq,
    Pingresp,
    PropertyId,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    ReasonCode,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Unsubscribe,
    Will,
    decode_all,
    encode,
    encode_properties,
    encode_publish,
)
from tests.mqtt.cases import ERROR_CASES, REQUIRED_TYPES, V5, V31, V311, VALID_CASES, Case

P = PropertyId
VERSIONS = (V31, V311, V5)

# Modest budgets: the whole tests/mqtt directory must stay well under 20 s.
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------------------------- helpers


def varint(n: int) -> bytes:
    """Reference Variable Byte Integer encoder (MQTT 5.0 §1.5.5), independent of the codec's."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def declared_size(raw: bytes) -> int | None:
    """Total packet size the fixed header of ``raw`` declares, or None if its remaining length is malformed."""
    value = shift = 0
    for i in range(1, min(len(raw), 5)):
        value |= (raw[i] & 0x7F) << shift
        if not raw[i] & 0x80:
            return i + 1 + value
        shift += 7
    return None


def new_decoder(version: int, raw: bytes = b"", **kwargs: Any) -> Decoder:
    """A decoder as a peer speaking ``version`` has it; CONNECT starts a fresh server-side decoder."""
    if raw[:1] and raw[0] >> 4 == PacketType.CONNECT:
        return Decoder(**kwargs)
    return Decoder(protocol_version=version, **kwargs)


def decode_one(raw: bytes, version: int) -> Packet:
    d = new_decoder(version, raw)
    d.receive_data(raw)
    packet = d.next_packet()
    assert packet is not NEED_DATA, f"complete packet {raw.hex(' ')} reported as NEED_DATA"
    assert d.buffered == 0, "decoder did not consume exactly one packet"
    assert d.next_packet() is NEED_DATA
    return packet  # type: ignore[return-value]


def drain(d: Decoder) -> list[Packet]:
    out: list[Packet] = []
    while (p := d.next_packet()) is not NEED_DATA:
        out.append(p)  # type: ignore[arg-type]
    return out


def params(cases: list[Case], *, known_bugs: bool = True) -> list[Any]:
    """One pytest param per case; cases documenting a codec bug are strict xfails (unless ``known_bugs=False``)."""
    return [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(reason=c.bug, strict=True)]
                         if c.bug and known_bugs else []) for c in cases]


# ------------------------------------------------------------------------------------------ golden cases


def test_golden_table_covers_every_packet_type_in_every_version() -> None:
    for version, required in REQUIRED_TYPES.items():
        decoded = {c.packet_type for c in VALID_CASES if c.version == version}
        encoded = {c.packet_type for c in VALID_CASES if c.version == version and c.canonical}
        assert decoded >= required, f"v{version} lacks {sorted(required - decoded)}"
        assert encoded >= required, f"v{version} lacks canonical {sorted(required - encoded)}"
    assert any(c.error is not None for c in ERROR_CASES if c.version == V31)


@pytest.mark.parametrize("case", params(VALID_CASES + ERROR_CASES, known_bugs=False))
def test_golden_raw_is_framed_as_written(case: Case) -> None:
    """Self-check of the hand-written table: each raw value is exactly one packet of its declared size."""
    size = declared_size(case.raw)
    if size is None:
        assert case.error is MalformedPacket and "4 bytes" in case.description
    else:
        assert size == len(case.raw), f"remaining length says {size} bytes, raw has {len(case.raw)}"


@pytest.mark.parametrize("case", params(VALID_CASES))
def test_golden_decode(case: Case) -> None:
    packet = decode_one(case.raw, case.version)
    assert type(packet) is type(case.packet)
    assert packet == case.packet


@pytest.mark.parametrize("case", params([c for c in VALID_CASES if c.canonical]))
def test_golden_encode(case: Case) -> None:
    assert case.packet is not None
    assert encode(case.packet, case.version) == case.raw


@pytest.mark.parametrize("case", params(ERROR_CASES))
def test_golden_error(case: Case) -> None:
    d = new_decoder(case.version, case.raw)
    d.receive_data(case.raw)
    with pytest.raises(MqttError) as info:
        d.next_packet()
    assert type(info.value) is case.error, f"raised {type(info.value).__name__}: {info.value}"
    assert info.value.reason_code == case.reason_code


@pytest.mark.parametrize("case", params(VALID_CASES))
def test_golden_every_truncation_is_need_data(case: Case) -> None:
    for n in range(len(case.raw)):
        d = new_decoder(case.version, case.raw)
        d.receive_data(case.raw[:n])
        assert d.next_packet() is NEED_DATA, f"prefix of {n} bytes"
        assert d.buffered == n


@pytest.mark.parametrize("version", VERSIONS)
def test_golden_stream_byte_by_byte(version: int) -> None:
    cases = [c for c in VALID_CASES if c.version == version and c.packet_type != PacketType.CONNECT]
    stream = b"".join(c.raw for c in cases)
    d = Decoder(protocol_version=version)
    got: list[Packet] = []
    for i in range(len(stream)):
        d.receive_data(stream[i:i + 1])
        got += drain(d)
    assert got == [c.packet for c in cases]
    assert d.buffered == 0
    assert decode_all(stream, version) == got


def test_decoder_learns_the_protocol_version_from_connect() -> None:
    v5_connect = next(c.raw for c in VALID_CASES if c.version == V5 and c.packet_type == PacketType.CONNECT)
    v4_connect = next(c.raw for c in VALID_CASES if c.version == V311 and c.packet_type == PacketType.CONNECT)
    puback_with_reason = b"\x40\x03\x00\x01\x10"
    assert decode_all(v5_connect + puback_with_reason)[1] == Puback(packet_id=1, reason_code=0x10)
    d = Decoder()
    d.receive_data(v4_connect + puback_with_reason)
    assert isinstance(d.next_packet(), Connect)
    assert d.protocol_version == V311
    with pytest.raises(MalformedPacket):  # a 3.1.1 PUBACK is exactly 2 bytes long
        d.next_packet()


def test_encode_for_3x_drops_what_3x_cannot_express() -> None:
    assert encode(Puback(packet_id=1, reason_code=0x10, properties={P.REASON_STRING: "x"}), V311) == \
        b"\x40\x02\x00\x01"
    assert encode(Disconnect(reason_code=4), V311) == b"\xe0\x00"
    assert encode(Connack(reason_code=0, properties={P.RECEIVE_MAXIMUM: 5}), V311) == b"\x20\x02\x00\x00"
    assert encode(Unsuback(packet_id=1, reason_codes=(0,)), V311) == b"\xb0\x02\x00\x01"
    assert encode(Publish(topic="t", properties={P.CONTENT_TYPE: "x"}), V311) == b"\x30\x03\x00\x01t"
    with pytest.raises(ValueError):
        encode(Auth(), V311)


def test_encode_rejects_what_mqtt_cannot_express() -> None:
    with pytest.raises(TypeError):
        encode(object(), V311)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        encode(Connect(client_id="c" * 65536), V311)
    with pytest.raises(ValueError):
        encode(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="f" * 65536),)), V311)
    with pytest.raises(ValueError):
        encode(Publish(topic="t", properties={P.CONTENT_TYPE: "x" * 65536}), V5)


def test_encode_publish_with_oversized_topic_raises_value_error() -> None:
    with pytest.raises(ValueError):
        encode(Publish(topic="t" * 65536), V311)


def test_encode_rejects_a_varint_beyond_four_bytes() -> None:
    with pytest.raises(ValueError):
        encode(Publish(topic="t", properties={P.SUBSCRIPTION_IDENTIFIER: [268_435_456]}), V5)


# ----------------------------------------------------------------------------------------- strategies

text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
level = st.text(st.characters(codec="utf-8", exclude_characters="\x00/+#"), max_size=6)
topic_names = st.lists(level, min_size=1, max_size=4).map("/".join).filter(bool)
topic_filters = st.lists(level | st.just("+"), min_size=1, max_size=4).flatmap(
    lambda levels: st.sampled_from(["/".join(levels), "/".join([*levels, "#"])])).filter(bool)
packet_ids = st.integers(1, 65535)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
flag = st.integers(0, 1)
pairs = st.tuples(text, text)

#: MQTT 5.0 §2.2.2.2: which properties may appear in which packet ("will" = CONNECT Will Properties).
ALLOWED: dict[str, frozenset[int]] = {
    "connect": frozenset({P.SESSION_EXPIRY_INTERVAL, P.AUTHENTICATION_METHOD, P.AUTHENTICATION_DATA,
                          P.REQUEST_PROBLEM_INFORMATION, P.REQUEST_RESPONSE_INFORMATION, P.RECEIVE_MAXIMUM,
                          P.TOPIC_ALIAS_MAXIMUM, P.USER_PROPERTY, P.MAXIMUM_PACKET_SIZE}),
    "will": frozenset({P.PAYLOAD_FORMAT_INDICATOR, P.MESSAGE_EXPIRY_INTERVAL, P.CONTENT_TYPE, P.RESPONSE_TOPIC,
                       P.CORRELATION_DATA, P.WILL_DELAY_INTERVAL, P.USER_PROPERTY}),
    "publish": frozenset({P.PAYLOAD_FORMAT_INDICATOR, P.MESSAGE_EXPIRY_INTERVAL, P.CONTENT_TYPE, P.RESPONSE_TOPIC,
                          P.CORRELATION_DATA, P.SUBSCRIPTION_IDENTIFIER, P.TOPIC_ALIAS, P.USER_PROPERTY}),
    "connack": frozenset({P.SESSION_EXPIRY_INTERVAL, P.ASSIGNED_CLIENT_IDENTIFIER, P.SERVER_KEEP_ALIVE,
                          P.AUTHENTICATION_METHOD, P.AUTHENTICATION_DATA, P.RESPONSE_INFORMATION,
                          P.SERVER_REFERENCE, P.REASON_STRING, P.RECEIVE_MAXIMUM, P.TOPIC_ALIAS_MAXIMUM,
                          P.MAXIMUM_QOS, P.RETAIN_AVAILABLE, P.USER_PROPERTY, P.MAXIMUM_PACKET_SIZE,
                          P.WILDCARD_SUBSCRIPTION_AVAILABLE, P.SUBSCRIPTION_IDENTIFIER_AVAILABLE,
                          P.SHARED_SUBSCRIPTION_AVAILABLE}),
    **{kind: frozenset({P.REASON_STRING, P.USER_PROPERTY})
       for kind in ("puback", "pubrec", "pubrel", "pubcomp", "suback", "unsuback")},
    "subscribe": frozenset({P.SUBSCRIPTION_IDENTIFIER, P.USER_PROPERTY}),
    "unsubscribe": frozenset({P.USER_PROPERTY}),
    "disconnect": frozenset({P.SESSION_EXPIRY_INTERVAL, P.SERVER_REFERENCE, P.REASON_STRING, P.USER_PROPERTY}),
    "auth": frozenset({P.AUTHENTICATION_METHOD, P.AUTHENTICATION_DATA, P.REASON_STRING, P.USER_PROPERTY}),
}

#: A valid value for every property (repeatable ones are drawn as lists separately).
VALUES: dict[int, st.SearchStrategy[Any]] = {
    P.PAYLOAD_FORMAT_INDICATOR: flag,
    P.MESSAGE_EXPIRY_INTERVAL: u32,
    P.CONTENT_TYPE: text,
    P.RESPONSE_TOPIC: topic_names,
    P.CORRELATION_DATA: st.binary(max_size=16),
    P.SUBSCRIPTION_IDENTIFIER: st.integers(1, 268_435_455),
    P.SESSION_EXPIRY_INTERVAL: u32,
    P.ASSIGNED_CLIENT_IDENTIFIER: text,
    P.SERVER_KEEP_ALIVE: u16,
    P.AUTHENTICATION_METHOD: text,
    P.AUTHENTICATION_DATA: st.binary(max_size=16),
    P.REQUEST_PROBLEM_INFORMATION: flag,
    P.WILL_DELAY_INTERVAL: u32,
    P.REQUEST_RESPONSE_INFORMATION: flag,
    P.RESPONSE_INFORMATION: text,
    P.SERVER_REFERENCE: text,
    P.REASON_STRING: text,
    P.RECEIVE_MAXIMUM: st.integers(1, 0xFFFF),
    P.TOPIC_ALIAS_MAXIMUM: u16,
    P.TOPIC_ALIAS: st.integers(1, 0xFFFF),
    P.MAXIMUM_QOS: flag,
    P.RETAIN_AVAILABLE: flag,
    P.USER_PROPERTY: pairs,
    P.MAXIMUM_PACKET_SIZE: st.integers(1, 0xFFFF_FFFF),
    P.WILDCARD_SUBSCRIPTION_AVAILABLE: flag,
    P.SUBSCRIPTION_IDENTIFIER_AVAILABLE: flag,
    P.SHARED_SUBSCRIPTION_AVAILABLE: flag,
}


@st.composite
def properties_for(draw: st.DrawFn, kind: str) -> dict[int, Any]:
    ids = draw(st.lists(st.sampled_from(sorted(ALLOWED[kind])), unique=True, max_size=5))
    props: dict[int, Any] = {}
    for pid in ids:
        if pid == P.USER_PROPERTY:
            props[pid] = draw(st.lists(pairs, min_size=1, max_size=4))
        elif pid == P.SUBSCRIPTION_IDENTIFIER:  # repeatable in PUBLISH, at most once in SUBSCRIBE
            props[pid] = draw(st.lists(VALUES[pid], min_size=1, max_size=1 if kind == "subscribe" else 3))
        else:
            props[pid] = draw(VALUES[pid])
    return props


def props(kind: str, version: int) -> st.SearchStrategy[dict[int, Any]]:
    return properties_for(kind) if version == V5 else st.just({})


def codes(version: int, v5_codes: list[int]) -> st.SearchStrategy[int]:
    return st.sampled_from(v5_codes) if version == V5 else st.just(0)


@st.composite
def connects(draw: st.DrawFn, version: int) -> Connect:
    will = None
    if draw(st.booleans()):
        will = Will(topic=draw(topic_names), payload=draw(st.binary(max_size=32)), qos=draw(st.integers(0, 2)),
                    retain=draw(st.booleans()), properties=draw(props("will", version)))
    username = draw(st.none() | text)
    # [MQTT-3.1.2-22]: 3.1 and 3.1.1 forbid a password without a username; 5.0 allows it.
    password = draw(st.none() | st.binary(max_size=16)) if version == V5 or username is not None else None
    return Connect(protocol_version=version, client_id=draw(text), clean_start=draw(st.booleans()),
                   keep_alive=draw(u16), will=will, username=username, password=password,
                   properties=draw(props("connect", version)))


@st.composite
def connacks(draw: st.DrawFn, version: int) -> Connack:
    code = draw(st.sampled_from([0, 0x80, 0x81, 0x84, 0x85, 0x86, 0x87, 0x88, 0x8A, 0x95, 0x97, 0x9C])
                if version == V5 else st.integers(0, 5))
    return Connack(session_present=draw(st.booleans()), reason_code=code,
                   properties=draw(props("connack", version)))


@st.composite
def publishes(draw: st.DrawFn, version: int) -> Publish:
    qos = draw(st.integers(0, 2))
    return Publish(topic=draw(topic_names), payload=draw(st.binary(max_size=64)), qos=qos,
                   retain=draw(st.booleans()), dup=qos > 0 and draw(st.booleans()),
                   packet_id=draw(packet_ids) if qos else None, properties=draw(props("publish", version)))


_PUB_CODES = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]


@st.composite
def acks(draw: st.DrawFn, version: int, cls: type[Puback | Pubrec | Pubrel | Pubcomp]) -> Packet:
    kind = cls.__name__.lower()
    code = draw(codes(version, [0x00, 0x92] if cls in (Pubrel, Pubcomp) else _PUB_CODES))
    return cls(packet_id=draw(packet_ids), reason_code=code, properties=draw(props(kind, version)))


@st.composite
def subscribes(draw: st.DrawFn, version: int) -> Subscribe:
    v5 = version == V5
    subs = draw(st.lists(st.builds(
        Subscription, topic_filter=topic_filters, qos=st.integers(0, 2),
        no_local=st.booleans() if v5 else st.just(False),
        retain_as_published=st.booleans() if v5 else st.just(False),
        retain_handling=st.integers(0, 2) if v5 else st.just(0)), min_size=1, max_size=4))
    return Subscribe(packet_id=draw(packet_ids), subscriptions=tuple(subs),
                     properties=draw(props("subscribe", version)))


@st.composite
def subacks(draw: st.DrawFn, version: int) -> Suback:
    options = [0, 1, 2, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2] if version == V5 else [0, 1, 2, 0x80]
    return Suback(packet_id=draw(packet_ids), reason_codes=tuple(draw(st.lists(st.sampled_from(options),
                                                                                min_size=1, max_size=5))),
                  properties=draw(props("suback", version)))


@st.composite
def unsubscribes(draw: st.DrawFn, version: int) -> Unsubscribe:
    return Unsubscribe(packet_id=draw(packet_ids), topic_filters=tuple(draw(st.lists(topic_filters, min_size=1,
                                                                                     max_size=4))),
                       properties=draw(props("unsubscribe", version)))


@st.composite
def unsubacks(draw: st.DrawFn, version: int) -> Unsuback:
    reason_codes: tuple[int, ...] = ()
    if version == V5:
        reason_codes = tuple(draw(st.lists(st.sampled_from([0, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]), min_size=1,
                                           max_size=5)))
    return Unsuback(packet_id=draw(packet_ids), reason_codes=reason_codes, properties=draw(props("unsuback", version)))


@st.composite
def disconnects(draw: st.DrawFn, version: int) -> Disconnect:
    code = draw(codes(version, [0x00, 0x04, 0x80, 0x81, 0x82, 0x8B, 0x8E, 0x93, 0x95, 0x9C, 0x9D]))
    return Disconnect(reason_code=code, properties=draw(props("disconnect", version)))


@st.composite
def auths(draw: st.DrawFn, version: int) -> Auth:
    assert version == V5
    return Auth(reason_code=draw(st.sampled_from([0x00, 0x18, 0x19])), properties=draw(props("auth", version)))


STRATEGIES: dict[str, Callable[[int], st.SearchStrategy[Any]]] = {
    "CONNECT": connects,
    "CONNACK": connacks,
    "PUBLISH": publishes,
    "PUBACK": lambda v: acks(v, Puback),
    "PUBREC": lambda v: acks(v, Pubrec),
    "PUBREL": lambda v: acks(v, Pubrel),
    "PUBCOMP": lambda v: acks(v, Pubcomp),
    "SUBSCRIBE": subscribes,
    "SUBACK": subacks,
    "UNSUBSCRIBE": unsubscribes,
    "UNSUBACK": unsubacks,
    "PINGREQ": lambda v: st.just(Pingreq()),
    "PINGRESP": lambda v: st.just(Pingresp()),
    "DISCONNECT": disconnects,
    "AUTH": auths,
}
assert set(STRATEGIES) == {t.name for t in PacketType}

TYPE_VERSIONS = [(name, v) for v in VERSIONS for name in STRATEGIES if name != "AUTH" or v == V5]


def packets(version: int) -> st.SearchStrategy[Packet]:
    return st.one_of([STRATEGIES[name](version) for name, v in TYPE_VERSIONS if v == version])


# ------------------------------------------------------------------------------------ generated packets


@pytest.mark.parametrize(("name", "version"), TYPE_VERSIONS, ids=[f"{n}-v{v}" for n, v in TYPE_VERSIONS])
@FAST
@given(data=st.data())
def test_roundtrip(name: str, version: int, data: st.DataObject) -> None:
    packet = data.draw(STRATEGIES[name](version))
    raw = encode(packet, version)
    assert raw[0] >> 4 == PacketType[name]
    assert declared_size(raw) == len(raw)
    assert decode_one(raw, version) == packet


@pytest.mark.parametrize("version", VERSIONS)
@FAST
@given(data=st.data())
def test_every_truncation_is_need_data(version: int, data: st.DataObject) -> None:
    packet = data.draw(packets(version))
    raw = encode(packet, version)
    for n in range(len(raw)):
        d = new_decoder(version, raw)
        d.receive_data(raw[:n])
        assert d.next_packet() is NEED_DATA
        assert d.buffered == n
        d.receive_data(raw[n:])  # the rest completes it
        assert d.next_packet() == packet
        assert d.buffered == 0


@pytest.mark.parametrize("version", VERSIONS)
@FAST
@given(data=st.data())
def test_stream_split_at_every_byte_boundary(version: int, data: st.DataObject) -> None:
    sent = data.draw(st.lists(packets(version), min_size=1, max_size=6))
    stream = b"".join(encode(p, version) for p in sent)
    d = Decoder(protocol_version=version)
    got: list[Packet] = []
    for i in range(len(stream)):
        d.receive_data(stream[i:i + 1])
        got += drain(d)
    assert got == sent
    assert d.buffered == 0


@pytest.mark.parametrize("version", VERSIONS)
@FAST
@given(data=st.data())
def test_stream_split_into_random_chunks(version: int, data: st.DataObject) -> None:
    sent = data.draw(st.lists(packets(version), min_size=1, max_size=8))
    stream = b"".join(encode(p, version) for p in sent)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=10)))
    d = Decoder(protocol_version=version)
    got: list[Packet] = []
    for start, stop in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        d.receive_data(stream[start:stop])
        got += drain(d)
    assert got == sent
    assert d.buffered == 0


@pytest.mark.parametrize("version", VERSIONS)
@FAST
@given(data=st.data())
def test_encode_publish_fast_path_equals_encode(version: int, data: st.DataObject) -> None:
    p = data.draw(publishes(version))
    block = encode_properties(p.properties) if version == V5 else None
    assert encode_publish(p.topic.encode(), p.payload, p.qos, p.retain, p.dup, p.packet_id, block) == \
        encode(p, version)


def test_encode_publish_golden() -> None:
    assert encode_publish(b"a/b", b"hello", 0, False, False, None, None) == b"\x30\x0a\x00\x03a/bhello"
    assert encode_publish(b"t", b"", 2, True, True, 65535, None) == b"\x3d\x05\x00\x01t\xff\xff"
    assert encode_publish(b"t", b"p", 0, False, False, None, b"\x00") == b"\x30\x05\x00\x01t\x00p"
    assert encode_publish(b"t", b"", 1, False, False, 7, b"\x03\x23\x00\x01") == \
        b"\x32\x09\x00\x01t\x00\x07\x03\x23\x00\x01"


# ---------------------------------------------------------------------------------------------- fuzzing


def feed_garbage(version: int | None, blob: bytes) -> None:
    d = Decoder(protocol_version=version)
    d.receive_data(blob)
    for _ in range(len(blob) + 1):
        try:
            if d.next_packet() is NEED_DATA:
                return
        except MqttError as exc:
            assert isinstance(exc.reason_code, int) and 0x80 <= exc.reason_code <= 0xFF
            return


versions_or_none = st.sampled_from([None, V31, V311, V5])


@FUZZ
@given(version=versions_or_none, blob=st.binary(max_size=300))
def test_garbage_raises_only_mqtt_errors(version: int | None, blob: bytes) -> None:
    feed_garbage(version, blob)


@FUZZ
@given(version=versions_or_none, first=st.integers(0, 255), body=st.binary(max_size=80))
def test_well_framed_garbage_raises_only_mqtt_errors(version: int | None, first: int, body: bytes) -> None:
    """Correct framing gets random bodies past the fixed header into every packet reader."""
    feed_garbage(version, bytes((first,)) + varint(len(body)) + body)


@pytest.mark.parametrize("version", VERSIONS)
@FUZZ
@given(data=st.data())
def test_mutated_packets_raise_only_mqtt_errors(version: int, data: st.DataObject) -> None:
    raw = bytearray(encode(data.draw(packets(version)), version))
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    feed_garbage(version, bytes(raw))


# ----------------------------------------------------------------------------------------- packet size


def header_length(raw: bytes) -> int:
    i = 1
    while raw[i] & 0x80:
        i += 1
    return i + 1


@FAST
@given(data=st.data(), max_size=st.integers(2, 300_000), first=st.sampled_from([0x10, 0x30, 0x32, 0x82, 0xA2]))
def test_packet_too_large_is_refused_from_the_fixed_header(data: st.DataObject, max_size: int, first: int) -> None:
    remaining = data.draw(st.integers(1, 268_435_455) | st.integers(max(1, max_size - 8), max_size + 2))
    header = bytes((first,)) + varint(remaining)
    d = Decoder(max_packet_size=max_size, protocol_version=V5)
    d.receive_data(header)  # the body never arrives
    if len(header) + remaining > max_size:
        with pytest.raises(PacketTooLarge) as info:
            d.next_packet()
        assert info.value.reason_code == ReasonCode.PACKET_TOO_LARGE
    else:
        assert d.next_packet() is NEED_DATA


@FAST
@given(payload=st.binary(max_size=300), version=st.sampled_from(VERSIONS))
def test_packet_size_limit_boundary(payload: bytes, version: int) -> None:
    raw = encode(Publish(topic="a/b", payload=payload, qos=1, packet_id=1), version)
    d = Decoder(max_packet_size=len(raw), protocol_version=version)
    d.receive_data(raw)
    assert isinstance(d.next_packet(), Publish)
    d = Decoder(max_packet_size=len(raw) - 1, protocol_version=version)
    d.receive_data(raw[:header_length(raw)])
    with pytest.raises(PacketTooLarge):
        d.next_packet()


def test_packet_too_large_header_split_across_reads() -> None:
    d = Decoder(max_packet_size=1000)
    d.receive_data(b"\x30\x80")
    assert d.next_packet() is NEED_DATA
    d.receive_data(b"\x80")
    assert d.next_packet() is NEED_DATA
    d.receive_data(b"\x01")  # remaining length 16384 is now known: refused without the body
    with pytest.raises(PacketTooLarge):
        d.next_packet()


def test_largest_possible_packet_header_waits_for_the_body() -> None:
    d = Decoder()
    assert d.max_packet_size == MAX_POSSIBLE_PACKET_SIZE
    d.receive_data(b"\x30\xff\xff\xff\x7f")  # remaining length 268,435,455
    assert d.next_packet() is NEED_DATA
    assert d.buffered == 5


def test_decoder_buffers_partial_data_between_packets() -> None:
    d = Decoder(protocol_version=V311)
    d.receive_data(b"\xc0\x00\xd0")
    assert d.next_packet() == Pingreq()
    assert d.next_packet() is NEED_DATA
    assert d.buffered == 1
    d.receive_data(b"\x00\xe0\x00")
    assert drain(d) == [Pingresp(), Disconnect()]
    assert d.buffered == 0
