"""Golden wire cases for the MQTT codec, in the spirit of Mochi's ``tpackets.go`` and h11's ``SIMPLE_CASES``.

Every ``raw`` value below is written by hand from the MQTT 3.1 / 3.1.1 / 5.0 specifications (byte counts are in
the comments), never produced by the codec under test, so the table is an independent oracle for both directions:

* a *valid* case decodes to ``packet``; when ``canonical`` it is also exactly what ``encode(packet, version)``
  produces (non-canonical cases are legal spellings the encoder never emits, e.g. an explicit 0x00 reason code);
* an *error* case makes the decoder raise ``error`` carrying ``reason_code``.

``version`` is the protocol version the decoder is in when the packet arrives (3 = MQTT 3.1, 4 = 3.1.1,
5 = 5.0). CONNECT cases are decoded by a fresh decoder that learns the version from the packet itself.

``spec`` names the normative statement a case exercises where one exists; 3.1.1 cases use 3.1.1 numbering and
5.0 cases use 5.0 numbering (the two differ for some rules, e.g. UTF-8 is [MQTT-1.5.3-x] vs [MQTT-1.5.4-x]).

A case with ``bug`` set documents behaviour that contradicts the specification; the tests run it as a strict
xfail so the table turns green (and the marker must be removed) once the codec is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from hookmq.mqtt import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    MalformedPacket,
    MqttError,
    Packet,
    PacketType,
    Pingreq,
    Pingresp,
    PropertyId,
    ProtocolViolation,
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
    UnsupportedProtocolVersion,
    Will,
)

__all__ = ["CASES", "ERROR_CASES", "REQUIRED_TYPES", "VALID_CASES", "V31", "V311", "V5", "Case"]

V31, V311, V5 = 3, 4, 5

P = PropertyId
MALFORMED = ReasonCode.MALFORMED_PACKET  # 0x81
PROTOCOL_ERROR = ReasonCode.PROTOCOL_ERROR  # 0x82
UNSUPPORTED = ReasonCode.UNSUPPORTED_PROTOCOL_VERSION  # 0x84


@dataclass(frozen=True)
class Case:
    description: str
    spec: str | None
    version: int
    raw: bytes
    packet: Packet | None = None
    error: type[MqttError] | None = None
    reason_code: int | None = None
    canonical: bool = True
    bug: str | None = None

    @property
    def id(self) -> str:
        return f"v{self.version}: {self.description}"

    @property
    def packet_type(self) -> int:
        return self.raw[0] >> 4


def ok(description: str, spec: str | None, version: int, raw: bytes, packet: Packet, *,
       canonical: bool = True) -> Case:
    return Case(description, spec, version, raw, packet=packet, canonical=canonical)


def bad(description: str, spec: str | None, version: int, raw: bytes, error: type[MqttError], reason_code: int,
        *, bug: str | None = None) -> Case:
    return Case(description, spec, version, raw, error=error, reason_code=reason_code, bug=bug)


# A 3.1.1 CONNECT variable header is 10 bytes: 00 04 'MQTT' | level | flags | keep alive (2).
# A 3.1 one is 12 bytes: 00 06 'MQIsdp' | level | flags | keep alive (2).

VALID_CASES: list[Case] = [
    # ------------------------------------------------------------------------------------------------ CONNECT
    ok("CONNECT 3.1 (MQIsdp), clean session", None, V31,
       b"\x10\x10"                                   # remaining 16
       b"\x00\x06MQIsdp\x03\x02\x00\x3c"             # 12: name, level 3, clean session, keep alive 60
       b"\x00\x02id",                                # 4: client id
       Connect(protocol_version=V31, client_id="id", clean_start=True, keep_alive=60)),
    ok("CONNECT 3.1 with username and password", None, V31,
       b"\x10\x16"                                   # remaining 22
       b"\x00\x06MQIsdp\x03\xc2\x00\x3c"             # 12: user + password + clean
       b"\x00\x02id"                                 # 4
       b"\x00\x01u"                                  # 3: username
       b"\x00\x01p",                                 # 3: password
       Connect(protocol_version=V31, client_id="id", username="u", password=b"p")),
    ok("CONNECT 3.1.1 minimal", "MQTT-3.1.2-1", V311,
       b"\x10\x0d"                                   # remaining 13
       b"\x00\x04MQTT\x04\x02\x00\x3c"               # 10
       b"\x00\x01c",                                 # 3
       Connect(protocol_version=V311, client_id="c", clean_start=True, keep_alive=60)),
    ok("CONNECT 3.1.1 empty client id, keep alive 0", "MQTT-3.1.3-6", V311,
       b"\x10\x0c"                                   # remaining 12
       b"\x00\x04MQTT\x04\x02\x00\x00"               # 10
       b"\x00\x00",                                  # 2: zero-length client id
       Connect(protocol_version=V311, client_id="", keep_alive=0)),
    ok("CONNECT 3.1.1 will QoS 1 retained, username, password, persistent session", None, V311,
       b"\x10\x23"                                   # remaining 35
       b"\x00\x04MQTT\x04\xec\x01\x2c"               # 10: flags 1110 1100, keep alive 300
       b"\x00\x03cid"                                # 5: client id
       b"\x00\x03w/t"                                # 5: will topic
       b"\x00\x03bye"                                # 5: will payload
       b"\x00\x04user"                               # 6: username
       b"\x00\x02pw",                                # 4: password
       Connect(protocol_version=V311, client_id="cid", clean_start=False, keep_alive=300,
               will=Will(topic="w/t", payload=b"bye", qos=1, retain=True), username="user", password=b"pw")),
    ok("CONNECT 3.1.1 username with empty password", None, V311,
       b"\x10\x12"                                   # remaining 18
       b"\x00\x04MQTT\x04\xc2\x00\x3c"               # 10
       b"\x00\x01c"                                  # 3
       b"\x00\x01u"                                  # 3
       b"\x00\x00",                                  # 2: empty password is still present
       Connect(protocol_version=V311, client_id="c", username="u", password=b"")),
    ok("CONNECT 5.0 minimal (empty properties)", "MQTT-3.1.2-1", V5,
       b"\x10\x0e"                                   # remaining 14
       b"\x00\x04MQTT\x05\x02\x00\x3c"               # 10
       b"\x00"                                       # 1: property length 0
       b"\x00\x01c",                                 # 3
       Connect(protocol_version=V5, client_id="c")),
    ok("CONNECT 5.0 with every CONNECT property", None, V5,
       b"\x10\x3d"                                   # remaining 61
       b"\x00\x04MQTT\x05\x02\x00\x3c"               # 10
       b"\x2f"                                       # 1: property length 47
       b"\x11\x00\x00\x0e\x10"                       # 5: Session Expiry Interval 3600
       b"\x21\x00\x14"                               # 3: Receive Maximum 20
       b"\x27\x00\x00\x04\x00"                       # 5: Maximum Packet Size 1024
       b"\x22\x00\x0a"                               # 3: Topic Alias Maximum 10
       b"\x19\x01"                                   # 2: Request Response Information 1
       b"\x17\x00"                                   # 2: Request Problem Information 0
       b"\x26\x00\x01a\x00\x011"                     # 7: User Property a=1
       b"\x26\x00\x01a\x00\x012"                     # 7: User Property a=2 (same name again)
       b"\x15\x00\x05SCRAM"                          # 8: Authentication Method
       b"\x16\x00\x02\x01\x02"                       # 5: Authentication Data
       b"\x00\x01c",                                 # 3
       Connect(protocol_version=V5, client_id="c", properties={
           P.SESSION_EXPIRY_INTERVAL: 3600, P.RECEIVE_MAXIMUM: 20, P.MAXIMUM_PACKET_SIZE: 1024,
           P.TOPIC_ALIAS_MAXIMUM: 10, P.REQUEST_RESPONSE_INFORMATION: 1, P.REQUEST_PROBLEM_INFORMATION: 0,
           P.USER_PROPERTY: [("a", "1"), ("a", "2")], P.AUTHENTICATION_METHOD: "SCRAM",
           P.AUTHENTICATION_DATA: b"\x01\x02"})),
    ok("CONNECT 5.0 will QoS 2 with every will property, password without username", "MQTT-3.1.2-9", V5,
       b"\x10\x44"                                   # remaining 68
       b"\x00\x04MQTT\x05\x56\x00\x0a"               # 10: flags 0101 0110 (password, will QoS 2, will, clean)
       b"\x00"                                       # 1: CONNECT properties
       b"\x00\x02id"                                 # 4
       b"\x25"                                       # 1: will property length 37
       b"\x18\x00\x00\x00\x05"                       # 5: Will Delay Interval 5
       b"\x01\x01"                                   # 2: Payload Format Indicator 1
       b"\x02\x00\x00\x00\x3c"                       # 5: Message Expiry Interval 60
       b"\x03\x00\x04text"                           # 7: Content Type
       b"\x08\x00\x03r/t"                            # 6: Response Topic
       b"\x09\x00\x02ab"                             # 5: Correlation Data
       b"\x26\x00\x01k\x00\x01v"                     # 7: User Property
       b"\x00\x03w/t"                                # 5: will topic
       b"\x00\x03bye"                                # 5: will payload
       b"\x00\x03pwd",                               # 5: password (no username: legal in 5.0)
       Connect(protocol_version=V5, client_id="id", keep_alive=10, password=b"pwd",
               will=Will(topic="w/t", payload=b"bye", qos=2, properties={
                   P.WILL_DELAY_INTERVAL: 5, P.PAYLOAD_FORMAT_INDICATOR: 1, P.MESSAGE_EXPIRY_INTERVAL: 60,
                   P.CONTENT_TYPE: "text", P.RESPONSE_TOPIC: "r/t", P.CORRELATION_DATA: b"ab",
                   P.USER_PROPERTY: [("k", "v")]}))),
    ok("CONNECT 5.0 password flag without username flag is legal", None, V5,
       b"\x10\x11"                                   # remaining 17
       b"\x00\x04MQTT\x05\x42\x00\x3c"               # 10
       b"\x00"                                       # 1
       b"\x00\x01c"                                  # 3
       b"\x00\x01p",                                 # 3
       Connect(protocol_version=V5, client_id="c", password=b"p")),

    # ------------------------------------------------------------------------------------------------ CONNACK
    ok("CONNACK 3.1 refused: unacceptable protocol version", None, V31, b"\x20\x02\x00\x01",
       Connack(reason_code=1)),
    ok("CONNACK 3.1.1 accepted", None, V311, b"\x20\x02\x00\x00", Connack()),
    ok("CONNACK 3.1.1 session present", None, V311, b"\x20\x02\x01\x00", Connack(session_present=True)),
    ok("CONNACK 3.1.1 refused: not authorized", None, V311, b"\x20\x02\x00\x05", Connack(reason_code=5)),
    ok("CONNACK 5.0 success, empty properties", None, V5, b"\x20\x03\x00\x00\x00", Connack()),
    ok("CONNACK 5.0 with every CONNACK property", None, V5,
       b"\x20\x44"                                   # remaining 68
       b"\x01\x00"                                   # 2: session present, success
       b"\x41"                                       # 1: property length 65
       b"\x11\x00\x00\x00\x78"                       # 5: Session Expiry Interval 120
       b"\x21\x00\x0a"                               # 3: Receive Maximum 10
       b"\x24\x01"                                   # 2: Maximum QoS 1
       b"\x25\x00"                                   # 2: Retain Available 0
       b"\x27\x00\x01\x00\x00"                       # 5: Maximum Packet Size 65536
       b"\x12\x00\x03abc"                            # 6: Assigned Client Identifier
       b"\x22\x00\x05"                               # 3: Topic Alias Maximum 5
       b"\x1f\x00\x02ok"                             # 5: Reason String
       b"\x26\x00\x01x\x00\x01y"                     # 7: User Property
       b"\x28\x01"                                   # 2: Wildcard Subscription Available
       b"\x29\x00"                                   # 2: Subscription Identifier Available
       b"\x2a\x01"                                   # 2: Shared Subscription Available
       b"\x13\x00\x1e"                               # 3: Server Keep Alive 30
       b"\x1a\x00\x02ri"                             # 5: Response Information
       b"\x1c\x00\x02sr"                             # 5: Server Reference
       b"\x15\x00\x01m"                              # 4: Authentication Method
       b"\x16\x00\x01d",                             # 4: Authentication Data
       Connack(session_present=True, properties={
           P.SESSION_EXPIRY_INTERVAL: 120, P.RECEIVE_MAXIMUM: 10, P.MAXIMUM_QOS: 1, P.RETAIN_AVAILABLE: 0,
           P.MAXIMUM_PACKET_SIZE: 65536, P.ASSIGNED_CLIENT_IDENTIFIER: "abc", P.TOPIC_ALIAS_MAXIMUM: 5,
           P.REASON_STRING: "ok", P.USER_PROPERTY: [("x", "y")], P.WILDCARD_SUBSCRIPTION_AVAILABLE: 1,
           P.SUBSCRIPTION_IDENTIFIER_AVAILABLE: 0, P.SHARED_SUBSCRIPTION_AVAILABLE: 1, P.SERVER_KEEP_ALIVE: 30,
           P.RESPONSE_INFORMATION: "ri", P.SERVER_REFERENCE: "sr", P.AUTHENTICATION_METHOD: "m",
           P.AUTHENTICATION_DATA: b"d"})),
    ok("CONNACK 5.0 refused 0x87 with Reason String", None, V5,
       b"\x20\x0a\x00\x87"                           # remaining 10
       b"\x07\x1f\x00\x04nope",                      # 1 + 7
       Connack(reason_code=ReasonCode.NOT_AUTHORIZED, properties={P.REASON_STRING: "nope"})),

    # ------------------------------------------------------------------------------------------------ PUBLISH
    ok("PUBLISH 3.1 QoS 1", None, V31, b"\x32\x06\x00\x01a\x00\x0ax",
       Publish(topic="a", payload=b"x", qos=1, packet_id=10)),
    ok("PUBLISH 3.1.1 QoS 0", None, V311, b"\x30\x0a\x00\x03a/bhello", Publish(topic="a/b", payload=b"hello")),
    ok("PUBLISH 3.1.1 QoS 0 retained, empty payload", None, V311, b"\x31\x05\x00\x03a/b",
       Publish(topic="a/b", retain=True)),
    ok("PUBLISH 3.1.1 QoS 1", None, V311, b"\x32\x06\x00\x01a\x00\x0ax",
       Publish(topic="a", payload=b"x", qos=1, packet_id=10)),
    ok("PUBLISH 3.1.1 QoS 2 DUP retained, packet id 65535", None, V311, b"\x3d\x05\x00\x01t\xff\xff",
       Publish(topic="t", qos=2, dup=True, retain=True, packet_id=65535)),
    ok("PUBLISH 3.1.1 QoS 2 packet id 0x1234", None, V311, b"\x34\x05\x00\x01t\x12\x34",
       Publish(topic="t", qos=2, packet_id=0x1234)),
    ok("PUBLISH 3.1.1 multi-byte UTF-8 topic", "MQTT-1.5.3-1", V311,
       b"\x30\x0b\x00\x09caf\xc3\xa9/\xe2\x98\x83", Publish(topic="caf\u00e9/\u2603")),
    ok("PUBLISH 3.1.1 binary payload with NUL bytes", None, V311, b"\x30\x07\x00\x01t\x00\xff\x80\x7f",
       Publish(topic="t", payload=b"\x00\xff\x80\x7f")),
    ok("PUBLISH 3.1.1 remaining length 127 (1-byte varint)", None, V311,
       b"\x30\x7f\x00\x01t" + b"\x01" * 124, Publish(topic="t", payload=b"\x01" * 124)),
    ok("PUBLISH 3.1.1 remaining length 128 (2-byte varint)", None, V311,
       b"\x30\x80\x01\x00\x01t" + b"\x01" * 125, Publish(topic="t", payload=b"\x01" * 125)),
    ok("PUBLISH 3.1.1 remaining length 203", None, V311,
       b"\x30\xcb\x01\x00\x01t" + b"\xaa" * 200, Publish(topic="t", payload=b"\xaa" * 200)),
    ok("PUBLISH 3.1.1 remaining length 16384 (3-byte varint)", None, V311,
       b"\x30\x80\x80\x01\x00\x01t" + b"\x00" * 16381, Publish(topic="t", payload=b"\x00" * 16381)),
    ok("PUBLISH 5.0 QoS 0, empty properties", None, V5, b"\x30\x05\x00\x01t\x00p",
       Publish(topic="t", payload=b"p")),
    ok("PUBLISH 5.0 QoS 1 with every PUBLISH property", None, V5,
       b"\x32\x39"                                   # remaining 57
       b"\x00\x03a/b"                                # 5: topic
       b"\x00\x07"                                   # 2: packet id 7
       b"\x2f"                                       # 1: property length 47
       b"\x01\x01"                                   # 2: Payload Format Indicator 1
       b"\x02\x00\x00\x00\x0a"                       # 5: Message Expiry Interval 10
       b"\x23\x00\x01"                               # 3: Topic Alias 1
       b"\x08\x00\x03r/1"                            # 6: Response Topic
       b"\x09\x00\x02\x00\xff"                       # 5: Correlation Data
       b"\x26\x00\x01a\x00\x01b"                     # 7: User Property a=b
       b"\x26\x00\x01a\x00\x01b"                     # 7: the identical pair again (kept)
       b"\x0b\x01"                                   # 2: Subscription Identifier 1
       b"\x0b\x80\x01"                               # 3: Subscription Identifier 128
       b"\x03\x00\x04json"                           # 7: Content Type
       b"{}",                                        # 2: payload
       Publish(topic="a/b", payload=b"{}", qos=1, packet_id=7, properties={
           P.PAYLOAD_FORMAT_INDICATOR: 1, P.MESSAGE_EXPIRY_INTERVAL: 10, P.TOPIC_ALIAS: 1,
           P.RESPONSE_TOPIC: "r/1", P.CORRELATION_DATA: b"\x00\xff", P.USER_PROPERTY: [("a", "b"), ("a", "b")],
           P.SUBSCRIPTION_IDENTIFIER: [1, 128], P.CONTENT_TYPE: "json"})),
    ok("PUBLISH 5.0 empty topic with Topic Alias", None, V5,
       b"\x30\x07\x00\x00\x03\x23\x00\x05x", Publish(topic="", payload=b"x", properties={P.TOPIC_ALIAS: 5})),
    ok("PUBLISH 5.0 largest Subscription Identifier 268435455", None, V5,
       b"\x30\x09\x00\x01t\x05\x0b\xff\xff\xff\x7f",
       Publish(topic="t", properties={P.SUBSCRIPTION_IDENTIFIER: [268_435_455]})),

    # ---------------------------------------------------------------------------- PUBACK PUBREC PUBREL PUBCOMP
    ok("PUBACK 3.1", None, V31, b"\x40\x02\x00\x01", Puback(packet_id=1)),
    ok("PUBREC 3.1", None, V31, b"\x50\x02\x00\x02", Pubrec(packet_id=2)),
    ok("PUBREL 3.1", "MQTT-3.6.1-1", V31, b"\x62\x02\x00\x02", Pubrel(packet_id=2)),
    ok("PUBCOMP 3.1", None, V31, b"\x70\x02\x00\x02", Pubcomp(packet_id=2)),
    ok("PUBACK 3.1.1", None, V311, b"\x40\x02\x00\x01", Puback(packet_id=1)),
    ok("PUBREC 3.1.1", None, V311, b"\x50\x02\x12\x34", Pubrec(packet_id=0x1234)),
    ok("PUBREL 3.1.1 (flags 0b0010)", "MQTT-3.6.1-1", V311, b"\x62\x02\x00\x02", Pubrel(packet_id=2)),
    ok("PUBCOMP 3.1.1 packet id 65535", None, V311, b"\x70\x02\xff\xff", Pubcomp(packet_id=65535)),
    ok("PUBACK 5.0 reason code and properties omitted", None, V5, b"\x40\x02\x00\x01", Puback(packet_id=1)),
    ok("PUBACK 5.0 reason code only (0x10 no matching subscribers)", None, V5, b"\x40\x03\x00\x01\x10",
       Puback(packet_id=1, reason_code=ReasonCode.NO_MATCHING_SUBSCRIBERS)),
    ok("PUBACK 5.0 explicit success code, properties omitted", None, V5, b"\x40\x03\x00\x01\x00",
       Puback(packet_id=1), canonical=False),
    ok("PUBACK 5.0 reason code with empty property block", None, V5, b"\x40\x04\x00\x01\x10\x00",
       Puback(packet_id=1, reason_code=0x10), canonical=False),
    ok("PUBREC 5.0 0x80 with Reason String", None, V5, b"\x50\x0a\x00\x05\x80\x06\x1f\x00\x03err",
       Pubrec(packet_id=5, reason_code=0x80, properties={P.REASON_STRING: "err"})),
    ok("PUBREL 5.0 reason omitted", "MQTT-3.6.1-1", V5, b"\x62\x02\x00\x05", Pubrel(packet_id=5)),
    ok("PUBREL 5.0 0x92 packet identifier not found", None, V5, b"\x62\x03\x00\x05\x92",
       Pubrel(packet_id=5, reason_code=ReasonCode.PACKET_IDENTIFIER_NOT_FOUND)),
    ok("PUBCOMP 5.0 success with User Property", None, V5,
       b"\x70\x0b\x00\x05\x00\x07\x26\x00\x01k\x00\x01v",
       Pubcomp(packet_id=5, properties={P.USER_PROPERTY: [("k", "v")]})),

    # ------------------------------------------------------------------------------------------------ SUBSCRIBE
    ok("SUBSCRIBE 3.1", "MQTT-3.8.1-1", V31, b"\x82\x08\x00\x01\x00\x03a/+\x00",
       Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="a/+"),))),
    ok("SUBSCRIBE 3.1.1 two filters", "MQTT-3.8.1-1", V311,
       b"\x82\x0c\x00\x0a"                           # remaining 12, packet id 10
       b"\x00\x03a/b\x01"                            # 6: filter, QoS 1
       b"\x00\x01#\x02",                             # 4: filter, QoS 2
       Subscribe(packet_id=10, subscriptions=(Subscription(topic_filter="a/b", qos=1),
                                              Subscription(topic_filter="#", qos=2)))),
    ok("SUBSCRIBE 5.0 empty properties", None, V5, b"\x82\x07\x00\x01\x00\x00\x01t\x00",
       Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="t"),))),
    ok("SUBSCRIBE 5.0 options, Subscription Identifier, shared filter", None, V5,
       b"\x82\x23\x00\x01"                           # remaining 35, packet id 1
       b"\x09"                                       # 1: property length 9
       b"\x0b\x0a"                                   # 2: Subscription Identifier 10
       b"\x26\x00\x01k\x00\x01v"                     # 7: User Property
       b"\x00\x07a/+/c/#\x2d"                        # 10: QoS 1, No Local, RAP, Retain Handling 2
       b"\x00\x0a$share/g/x\x10",                    # 13: QoS 0, Retain Handling 1
       Subscribe(packet_id=1, properties={P.SUBSCRIPTION_IDENTIFIER: [10], P.USER_PROPERTY: [("k", "v")]},
                 subscriptions=(Subscription(topic_filter="a/+/c/#", qos=1, no_local=True,
                                             retain_as_published=True, retain_handling=2),
                                Subscription(topic_filter="$share/g/x", retain_handling=1)))),

    # ------------------------------------------------------------------------------------------------ SUBACK
    ok("SUBACK 3.1 granted 0", None, V31, b"\x90\x03\x00\x01\x00", Suback(packet_id=1, reason_codes=(0,))),
    ok("SUBACK 3.1.1 granted 1, 2, failure", None, V311, b"\x90\x05\x00\x0a\x01\x02\x80",
       Suback(packet_id=10, reason_codes=(1, 2, 0x80))),
    ok("SUBACK 5.0", None, V5, b"\x90\x07\x00\x0a\x00\x00\x01\x02\x87",
       Suback(packet_id=10, reason_codes=(0, 1, 2, 0x87))),
    ok("SUBACK 5.0 with Reason String", None, V5, b"\x90\x09\x00\x0b\x05\x1f\x00\x02no\x8f",
       Suback(packet_id=11, reason_codes=(0x8F,), properties={P.REASON_STRING: "no"})),

    # ------------------------------------------------------------------------------------------------ UNSUBSCRIBE
    ok("UNSUBSCRIBE 3.1", None, V31, b"\xa2\x05\x00\x01\x00\x01t", Unsubscribe(packet_id=1, topic_filters=("t",))),
    ok("UNSUBSCRIBE 3.1.1 two filters", "MQTT-3.10.1-1", V311, b"\xa2\x0a\x00\x0b\x00\x03a/b\x00\x01#",
       Unsubscribe(packet_id=11, topic_filters=("a/b", "#"))),
    ok("UNSUBSCRIBE 5.0 with User Property", None, V5,
       b"\xa2\x0f\x00\x0b"                           # remaining 15
       b"\x07\x26\x00\x01k\x00\x01v"                 # 8
       b"\x00\x03a/b",                               # 5
       Unsubscribe(packet_id=11, topic_filters=("a/b",), properties={P.USER_PROPERTY: [("k", "v")]})),

    # ------------------------------------------------------------------------------------------------ UNSUBACK
    ok("UNSUBACK 3.1", None, V31, b"\xb0\x02\x00\x0b", Unsuback(packet_id=11)),
    ok("UNSUBACK 3.1.1 (no payload)", None, V311, b"\xb0\x02\x00\x0b", Unsuback(packet_id=11)),
    ok("UNSUBACK 5.0", None, V5, b"\xb0\x05\x00\x0b\x00\x00\x11",
       Unsuback(packet_id=11, reason_codes=(0, ReasonCode.NO_SUBSCRIPTION_EXISTED))),
    ok("UNSUBACK 5.0 with Reason String", None, V5, b"\xb0\x08\x00\x0b\x04\x1f\x00\x01x\x87",
       Unsuback(packet_id=11, reason_codes=(0x87,), properties={P.REASON_STRING: "x"})),

    # ------------------------------------------------------------------------------------------------ PING
    ok("PINGREQ 3.1", None, V31, b"\xc0\x00", Pingreq()),
    ok("PINGRESP 3.1", None, V31, b"\xd0\x00", Pingresp()),
    ok("PINGREQ 3.1.1", None, V311, b"\xc0\x00", Pingreq()),
    ok("PINGRESP 3.1.1", None, V311, b"\xd0\x00", Pingresp()),
    ok("PINGREQ 5.0", None, V5, b"\xc0\x00", Pingreq()),
    ok("PINGRESP 5.0", None, V5, b"\xd0\x00", Pingresp()),

    # ------------------------------------------------------------------------------------------------ DISCONNECT
    ok("DISCONNECT 3.1", None, V31, b"\xe0\x00", Disconnect()),
    ok("DISCONNECT 3.1.1", None, V311, b"\xe0\x00", Disconnect()),
    ok("DISCONNECT 5.0 reason code and properties omitted", None, V5, b"\xe0\x00", Disconnect()),
    ok("DISCONNECT 5.0 0x04 with will, properties omitted", None, V5, b"\xe0\x01\x04",
       Disconnect(reason_code=ReasonCode.DISCONNECT_WITH_WILL_MESSAGE)),
    ok("DISCONNECT 5.0 explicit 0x00, properties omitted", None, V5, b"\xe0\x01\x00", Disconnect(),
       canonical=False),
    ok("DISCONNECT 5.0 explicit 0x00 with empty property block", None, V5, b"\xe0\x02\x00\x00", Disconnect(),
       canonical=False),
    ok("DISCONNECT 5.0 normal with Session Expiry Interval", None, V5,
       b"\xe0\x07\x00\x05\x11\x00\x00\x00\x0a",
       Disconnect(properties={P.SESSION_EXPIRY_INTERVAL: 10})),
    ok("DISCONNECT 5.0 0x9C with Reason String and Server Reference", None, V5,
       b"\xe0\x0d\x9c\x0b\x1f\x00\x02to\x1c\x00\x03srv",
       Disconnect(reason_code=ReasonCode.USE_ANOTHER_SERVER,
                  properties={P.REASON_STRING: "to", P.SERVER_REFERENCE: "srv"})),

    # ------------------------------------------------------------------------------------------------ AUTH
    ok("AUTH 5.0 success, reason code and properties omitted", None, V5, b"\xf0\x00", Auth()),
    ok("AUTH 5.0 continue authentication", None, V5,
       b"\xf0\x10\x18\x0e\x15\x00\x05SCRAM\x16\x00\x03abc",
       Auth(reason_code=ReasonCode.CONTINUE_AUTHENTICATION,
            properties={P.AUTHENTICATION_METHOD: "SCRAM", P.AUTHENTICATION_DATA: b"abc"})),
    ok("AUTH 5.0 re-authenticate with Reason String and User Property", None, V5,
       b"\xf0\x16\x19\x14"                           # remaining 22, property length 20
       b"\x15\x00\x05SCRAM"                          # 8
       b"\x1f\x00\x02re"                             # 5
       b"\x26\x00\x01k\x00\x01v",                    # 7
       Auth(reason_code=ReasonCode.RE_AUTHENTICATE, properties={
           P.AUTHENTICATION_METHOD: "SCRAM", P.REASON_STRING: "re", P.USER_PROPERTY: [("k", "v")]})),
]


ERROR_CASES: list[Case] = [
    # ---------------------------------------------------------------------------------------- fixed header
    bad("reserved packet type 0", None, V311, b"\x00\x00", MalformedPacket, MALFORMED),
    bad("reserved packet type 0 in 5.0", None, V5, b"\x00\x00", MalformedPacket, MALFORMED),
    bad("remaining length longer than 4 bytes", None, V311, b"\x30\xff\xff\xff\xff\x7f", MalformedPacket,
        MALFORMED),
    bad("remaining length longer than 4 bytes in 5.0", None, V5, b"\xc0\x80\x80\x80\x80\x00",
        MalformedPacket, MALFORMED),
    bad("CONNECT flags 0b0001", "MQTT-2.2.2-2", V311,
        b"\x11\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01c", MalformedPacket, MALFORMED),
    bad("CONNACK flags 0b0001", "MQTT-2.2.2-2", V311, b"\x21\x02\x00\x00", MalformedPacket, MALFORMED),
    bad("PUBACK flags 0b0010", "MQTT-2.2.2-2", V311, b"\x42\x02\x00\x01", MalformedPacket, MALFORMED),
    bad("PUBREC flags 0b0001", None, V5, b"\x51\x02\x00\x01", MalformedPacket, MALFORMED),
    bad("PUBREL flags 0b0000", "MQTT-3.6.1-1", V311, b"\x60\x02\x00\x01", MalformedPacket, MALFORMED),
    bad("PUBREL flags 0b1010", "MQTT-3.6.1-1", V5, b"\x6a\x02\x00\x01", MalformedPacket, MALFORMED),
    bad("PUBREL flags 0b0011", "MQTT-3.6.1-1", V31, b"\x63\x02\x00\x01", MalformedPacket, MALFORMED),
    bad("PUBCOMP flags 0b1000", "MQTT-2.2.2-2", V311, b"\x78\x02\x00\x01", MalformedPacket, MALFORMED),
    bad("SUBSCRIBE flags 0b0000", "MQTT-3.8.1-1", V311, b"\x80\x08\x00\x01\x00\x03a/+\x00", MalformedPacket,
        MALFORMED),
    bad("SUBSCRIBE flags 0b0011", "MQTT-3.8.1-1", V5, b"\x83\x07\x00\x01\x00\x00\x01t\x00", MalformedPacket,
        MALFORMED),
    bad("SUBACK flags 0b0010", "MQTT-2.2.2-2", V311, b"\x92\x03\x00\x01\x00", MalformedPacket, MALFORMED),
    bad("UNSUBSCRIBE flags 0b0000", "MQTT-3.10.1-1", V311, b"\xa0\x05\x00\x01\x00\x01t", MalformedPacket,
        MALFORMED),
    bad("UNSUBSCRIBE flags 0b0110", "MQTT-3.10.1-1", V5, b"\xa6\x06\x00\x01\x00\x00\x01t", MalformedPacket,
        MALFORMED),
    bad("UNSUBACK flags 0b0001", "MQTT-2.2.2-2", V311, b"\xb1\x02\x00\x01", MalformedPacket, MALFORMED),
    bad("PINGREQ flags 0b0001", "MQTT-2.2.2-2", V311, b"\xc1\x00", MalformedPacket, MALFORMED),
    bad("PINGRESP flags 0b0010", "MQTT-2.2.2-2", V311, b"\xd2\x00", MalformedPacket, MALFORMED),
    bad("DISCONNECT flags 0b0001", "MQTT-2.2.2-2", V311, b"\xe1\x00", MalformedPacket, MALFORMED),
    bad("DISCONNECT flags 0b1000", "MQTT-3.14.1-1", V5, b"\xe8\x00", MalformedPacket, MALFORMED),
    bad("AUTH flags 0b0001", "MQTT-3.15.1-1", V5, b"\xf1\x00", MalformedPacket, MALFORMED),

    # ------------------------------------------------------------------------------------------------ CONNECT
    bad("CONNECT reserved connect flag", "MQTT-3.1.2-3", V311,
        b"\x10\x0d\x00\x04MQTT\x04\x03\x00\x3c\x00\x01c", MalformedPacket, MALFORMED),
    bad("CONNECT 5.0 reserved connect flag", "MQTT-3.1.2-3", V5,
        b"\x10\x0e\x00\x04MQTT\x05\x03\x00\x3c\x00\x00\x01c", MalformedPacket, MALFORMED),
    bad("CONNECT will QoS 1 without will flag", "MQTT-3.1.2-13", V311,
        b"\x10\x0d\x00\x04MQTT\x04\x0a\x00\x3c\x00\x01c", MalformedPacket, MALFORMED),
    bad("CONNECT will retain without will flag", "MQTT-3.1.2-15", V311,
        b"\x10\x0d\x00\x04MQTT\x04\x22\x00\x3c\x00\x01c", MalformedPacket, MALFORMED),
    bad("CONNECT 5.0 will QoS 2 without will flag", "MQTT-3.1.2-11", V5,
        b"\x10\x0e\x00\x04MQTT\x05\x12\x00\x3c\x00\x00\x01c", MalformedPacket, MALFORMED),
    bad("CONNECT 5.0 will retain without will flag", "MQTT-3.1.2-13", V5,
        b"\x10\x0e\x00\x04MQTT\x05\x22\x00\x3c\x00\x00\x01c", MalformedPacket, MALFORMED),
    bad("CONNECT will QoS 3", "MQTT-3.1.2-14", V311,
        b"\x10\x12\x00\x04MQTT\x04\x1e\x00\x3c\x00\x01c\x00\x01w\x00\x00", MalformedPacket, MALFORMED),
    bad("CONNECT will flag without will topic and payload", "MQTT-3.1.2-9", V311,
        b"\x10\x0d\x00\x04MQTT\x04\x06\x00\x3c\x00\x01c", MalformedPacket, MALFORMED),
    bad("CONNECT username flag without username", "MQTT-3.1.2-19", V311,
        b"\x10\x0d\x00\x04MQTT\x04\x82\x00\x3c\x00\x01c", MalformedPacket, MALFORMED),
    bad("CONNECT password without username", "MQTT-3.1.2-22", V311,
        b"\x10\x10\x00\x04MQTT\x04\x42\x00\x3c\x00\x01c\x00\x01p", MalformedPacket, MALFORMED),
    bad("CONNECT 3.1 password without username", None, V31,
        b"\x10\x12\x00\x06MQIsdp\x03\x42\x00\x3c\x00\x01c\x00\x01p", MalformedPacket, MALFORMED),
    bad("CONNECT unknown protocol name 'MQTX'", "MQTT-3.1.2-1", V311,
        b"\x10\x0d\x00\x04MQTX\x04\x02\x00\x3c\x00\x01c", MalformedPacket, MALFORMED),
    bad("CONNECT protocol name is case sensitive ('mqtt')", "MQTT-3.1.2-1", V311,
        b"\x10\x0d\x00\x04mqtt\x04\x02\x00\x3c\x00\x01c", MalformedPacket, MALFORMED),
    bad("CONNECT unsupported protocol level 6", "MQTT-3.1.2-2", V311,
        b"\x10\x0d\x00\x04MQTT\x06\x02\x00\x3c\x00\x01c", UnsupportedProtocolVersion, UNSUPPORTED),
    bad("CONNECT 'MQTT' with level 3 (3.1 is spelt 'MQIsdp')", "MQTT-3.1.2-2", V311,
        b"\x10\x0d\x00\x04MQTT\x03\x02\x00\x3c\x00\x01c", UnsupportedProtocolVersion, UNSUPPORTED),
    bad("CONNECT 'MQIsdp' with level 4", "MQTT-3.1.2-2", V31,
        b"\x10\x10\x00\x06MQIsdp\x04\x02\x00\x3c\x00\x02id", UnsupportedProtocolVersion, UNSUPPORTED),
    bad("CONNECT client id containing U+0000", "MQTT-1.5.3-2", V311,
        b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02c\x00", MalformedPacket, MALFORMED),
    bad("CONNECT username that is not UTF-8", "MQTT-1.5.3-1", V311,
        b"\x10\x10\x00\x04MQTT\x04\x82\x00\x3c\x00\x01c\x00\x01\xff", MalformedPacket, MALFORMED),
    bad("CONNECT truncated variable header", None, V311, b"\x10\x06\x00\x04MQTT", MalformedPacket, MALFORMED),
    bad("CONNECT trailing bytes after payload", None, V311,
        b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x01cX", MalformedPacket, MALFORMED),
    bad("CONNECT 5.0 Receive Maximum 0", None, V5,
        b"\x10\x11\x00\x04MQTT\x05\x02\x00\x3c\x03\x21\x00\x00\x00\x01c", ProtocolViolation, PROTOCOL_ERROR),
    bad("CONNECT 5.0 Maximum Packet Size 0", None, V5,
        b"\x10\x13\x00\x04MQTT\x05\x02\x00\x3c\x05\x27\x00\x00\x00\x00\x00\x01c", ProtocolViolation,
        PROTOCOL_ERROR),
    bad("CONNECT 5.0 Session Expiry Interval twice", None, V5,
        b"\x10\x18\x00\x04MQTT\x05\x02\x00\x3c\x0a\x11\x00\x00\x00\x01\x11\x00\x00\x00\x02\x00\x01c",
        ProtocolViolation, PROTOCOL_ERROR),
    bad("CONNECT 5.0 Request Problem Information 2", None, V5,
        b"\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x02\x17\x02\x00\x01c", ProtocolViolation, PROTOCOL_ERROR),
    bad("CONNECT 5.0 Topic Alias is not a CONNECT property", None, V5,
        b"\x10\x11\x00\x04MQTT\x05\x02\x00\x3c\x03\x23\x00\x01\x00\x01c", MalformedPacket, MALFORMED),
    bad("CONNECT 5.0 Topic Alias is not a will property", None, V5,
        b"\x10\x17\x00\x04MQTT\x05\x06\x00\x3c\x00\x00\x01c\x03\x23\x00\x01\x00\x01w\x00\x00",
        MalformedPacket, MALFORMED),
    bad("CONNECT 5.0 Subscription Identifier is not a will property", None, V5,
        b"\x10\x16\x00\x04MQTT\x05\x06\x00\x3c\x00\x00\x01c\x02\x0b\x01\x00\x01w\x00\x00",
        MalformedPacket, MALFORMED),

    # ------------------------------------------------------------------------------------------------ CONNACK
    bad("CONNACK reserved acknowledge flags", None, V311, b"\x20\x02\x02\x00", MalformedPacket, MALFORMED),
    bad("CONNACK 5.0 reserved acknowledge flags", "MQTT-3.2.2-1", V5, b"\x20\x03\x80\x00\x00",
        MalformedPacket, MALFORMED),
    bad("CONNACK trailing byte", None, V311, b"\x20\x03\x00\x00\x00", MalformedPacket, MALFORMED),
    bad("CONNACK truncated", None, V311, b"\x20\x01\x00", MalformedPacket, MALFORMED),
    bad("CONNACK 5.0 Maximum QoS 2", None, V5, b"\x20\x05\x00\x00\x02\x24\x02", ProtocolViolation,
        PROTOCOL_ERROR),
    bad("CONNACK 5.0 Maximum QoS 3", None, V5, b"\x20\x05\x00\x00\x02\x24\x03", ProtocolViolation,
        PROTOCOL_ERROR),
    bad("CONNACK 5.0 Retain Available 2", None, V5, b"\x20\x05\x00\x00\x02\x25\x02", ProtocolViolation,
        PROTOCOL_ERROR),
    bad("CONNACK 5.0 Receive Maximum 0", None, V5, b"\x20\x06\x00\x00\x03\x21\x00\x00", ProtocolViolation,
        PROTOCOL_ERROR),
    bad("CONNACK 5.0 Maximum Packet Size 0", None, V5, b"\x20\x08\x00\x00\x05\x27\x00\x00\x00\x00",
        ProtocolViolation, PROTOCOL_ERROR),
    bad("CONNACK 5.0 Will Delay Interval is not a CONNACK property", None, V5,
        b"\x20\x08\x00\x00\x05\x18\x00\x00\x00\x00", MalformedPacket, MALFORMED),
    bad("CONNACK 5.0 Topic Alias is not a CONNACK property", None, V5, b"\x20\x06\x00\x00\x03\x23\x00\x01",
        MalformedPacket, MALFORMED),

    # ------------------------------------------------------------------------------------------------ PUBLISH
    bad("PUBLISH QoS 3", "MQTT-3.3.1-4", V311, b"\x36\x06\x00\x01t\x00\x01x", MalformedPacket, MALFORMED),
    bad("PUBLISH 5.0 QoS 3", "MQTT-3.3.1-4", V5, b"\x36\x07\x00\x01t\x00\x01\x00x", MalformedPacket, MALFORMED),
    bad("PUBLISH DUP on QoS 0", "MQTT-3.3.1-2", V311, b"\x38\x04\x00\x01tx", MalformedPacket, MALFORMED),
    bad("PUBLISH 5.0 DUP on QoS 0", "MQTT-3.3.1-2", V5, b"\x38\x05\x00\x01t\x00x", MalformedPacket, MALFORMED),
    bad("PUBLISH QoS 1 packet id 0", "MQTT-2.3.1-1", V311, b"\x32\x05\x00\x01t\x00\x00", MalformedPacket,
        MALFORMED),
    bad("PUBLISH 5.0 QoS 2 packet id 0", "MQTT-2.2.1-3", V5, b"\x34\x06\x00\x01t\x00\x00\x00",
        MalformedPacket, MALFORMED),
    bad("PUBLISH QoS 1 truncated packet id", None, V311, b"\x32\x03\x00\x01t", MalformedPacket, MALFORMED),
    bad("PUBLISH topic length runs past the packet", None, V311, b"\x30\x03\x00\x05a", MalformedPacket,
        MALFORMED),
    bad("PUBLISH topic is not UTF-8 (bad continuation byte)", "MQTT-1.5.3-1", V311, b"\x30\x04\x00\x02\xc3\x28",
        MalformedPacket, MALFORMED),
    bad("PUBLISH topic is an overlong encoding of U+0000", "MQTT-1.5.3-1", V311, b"\x30\x04\x00\x02\xc0\x80",
        MalformedPacket, MALFORMED),
    bad("PUBLISH 5.0 topic encodes a surrogate (U+D800)", "MQTT-1.5.4-1", V5, b"\x30\x06\x00\x03\xed\xa0\x80\x00",
        MalformedPacket, MALFORMED),
    bad("PUBLISH topic contains U+0000", "MQTT-1.5.3-2", V311, b"\x30\x04\x00\x02a\x00", MalformedPacket,
        MALFORMED),
    bad("PUBLISH 5.0 topic contains U+0000", "MQTT-1.5.4-2", V5, b"\x30\x05\x00\x02a\x00\x00", MalformedPacket,
        MALFORMED),
    bad("PUBLISH 5.0 missing property length", None, V5, b"\x30\x03\x00\x01t", MalformedPacket, MALFORMED),
    bad("PUBLISH 5.0 property length runs past the packet", None, V5, b"\x30\x05\x00\x01t\x05\x01",
        MalformedPacket, MALFORMED),
    bad("PUBLISH 5.0 truncated Message Expiry Interval", None, V5, b"\x30\x07\x00\x01t\x03\x02\x00\x00",
        MalformedPacket, MALFORMED),
    bad("PUBLISH 5.0 unknown property 0x05", None, V5, b"\x30\x05\x00\x01t\x01\x05", MalformedPacket, MALFORMED),
    bad("PUBLISH 5.0 unknown property 0x00", None, V5, b"\x30\x06\x00\x01t\x02\x00\x00", MalformedPacket,
        MALFORMED),
    bad("PUBLISH 5.0 Session Expiry Interval is not a PUBLISH property", None, V5,
        b"\x30\x09\x00\x01t\x05\x11\x00\x00\x00\x01", MalformedPacket, MALFORMED),
    bad("PUBLISH 5.0 Will Delay Interval is not a PUBLISH property", None, V5,
        b"\x30\x09\x00\x01t\x05\x18\x00\x00\x00\x01", MalformedPacket, MALFORMED),
    bad("PUBLISH 5.0 Reason String is not a PUBLISH property", None, V5, b"\x30\x08\x00\x01t\x04\x1f\x00\x01x",
        MalformedPacket, MALFORMED),
    bad("PUBLISH 5.0 Payload Format Indicator twice", None, V5, b"\x30\x08\x00\x01t\x04\x01\x00\x01\x00",
        ProtocolViolation, PROTOCOL_ERROR),
    bad("PUBLISH 5.0 Topic Alias 0", "MQTT-3.3.2-8", V5, b"\x30\x07\x00\x01t\x03\x23\x00\x00", ProtocolViolation,
        ReasonCode.TOPIC_ALIAS_INVALID),
    bad("PUBLISH 5.0 Subscription Identifier 0", None, V5, b"\x30\x06\x00\x01t\x02\x0b\x00", ProtocolViolation,
        PROTOCOL_ERROR),
    bad("PUBLISH 5.0 Subscription Identifier varint of 5 bytes", None, V5,
        b"\x30\x0a\x00\x01t\x06\x0b\xff\xff\xff\xff\x01", MalformedPacket, MALFORMED),
    bad("PUBLISH 5.0 User Property name is not UTF-8", "MQTT-1.5.4-1", V5,
        b"\x30\x0b\x00\x01t\x07\x26\x00\x01\xff\x00\x01v", MalformedPacket, MALFORMED),
    bad("PUBLISH 5.0 Content Type contains U+0000", "MQTT-1.5.4-2", V5, b"\x30\x09\x00\x01t\x05\x03\x00\x02a\x00",
        MalformedPacket, MALFORMED),

    # ---------------------------------------------------------------------------- PUBACK PUBREC PUBREL PUBCOMP
    bad("PUBACK packet id 0", None, V311, b"\x40\x02\x00\x00", MalformedPacket, MALFORMED),
    bad("PUBREL 5.0 packet id 0", None, V5, b"\x62\x02\x00\x00", MalformedPacket, MALFORMED),
    bad("PUBACK truncated packet id", None, V311, b"\x40\x01\x00", MalformedPacket, MALFORMED),
    bad("PUBACK 3.1.1 trailing byte", None, V311, b"\x40\x03\x00\x01\x00", MalformedPacket, MALFORMED),
    bad("PUBCOMP 3.1 trailing byte", None, V31, b"\x70\x03\x00\x01\x00", MalformedPacket, MALFORMED),
    bad("PUBACK 5.0 Receive Maximum is not a PUBACK property", None, V5, b"\x40\x07\x00\x01\x00\x03\x21\x00\x01",
        MalformedPacket, MALFORMED),
    bad("PUBACK 5.0 Reason String twice", None, V5, b"\x40\x0c\x00\x01\x80\x08\x1f\x00\x01a\x1f\x00\x01b",
        ProtocolViolation, PROTOCOL_ERROR),
    bad("PUBREC 5.0 property length runs past the packet", None, V5, b"\x50\x05\x00\x01\x00\x05\x1f",
        MalformedPacket, MALFORMED),
    bad("PUBCOMP 5.0 trailing byte after properties", None, V5, b"\x70\x05\x00\x01\x00\x00\x00", MalformedPacket,
        MALFORMED),

    # ------------------------------------------------------------------------------------------------ SUBSCRIBE
    bad("SUBSCRIBE without topic filters", "MQTT-3.8.3-3", V311, b"\x82\x02\x00\x01", ProtocolViolation,
        PROTOCOL_ERROR),
    bad("SUBSCRIBE 3.1 without topic filters", None, V31, b"\x82\x02\x00\x01", ProtocolViolation,
        PROTOCOL_ERROR),
    bad("SUBSCRIBE 5.0 without topic filters", "MQTT-3.8.3-2", V5, b"\x82\x03\x00\x01\x00", ProtocolViolation,
        PROTOCOL_ERROR),
    bad("SUBSCRIBE packet id 0", "MQTT-2.3.1-1", V311, b"\x82\x06\x00\x00\x00\x01t\x00", MalformedPacket,
        MALFORMED),
    bad("SUBSCRIBE topic filter without options byte", None, V311, b"\x82\x05\x00\x01\x00\x01t",
        MalformedPacket, MALFORMED),
    bad("SUBSCRIBE topic filter is not UTF-8", "MQTT-1.5.3-1", V311, b"\x82\x06\x00\x01\x00\x01\xfe\x00",
        MalformedPacket, MALFORMED),
    bad("SUBSCRIBE 3.1.1 reserved option bit 2 (No Local in 5.0)", "MQTT-3-8.3-4", V311,
        b"\x82\x06\x00\x01\x00\x01t\x04", MalformedPacket, MALFORMED),
    bad("SUBSCRIBE 3.1.1 requested QoS 3", "MQTT-3-8.3-4", V311, b"\x82\x06\x00\x01\x00\x01t\x03",
        MalformedPacket, MALFORMED),
    bad("SUBSCRIBE 5.0 reserved option bit 6", "MQTT-3.8.3-5", V5, b"\x82\x07\x00\x01\x00\x00\x01t\x40",
        MalformedPacket, MALFORMED),
    bad("SUBSCRIBE 5.0 reserved option bit 7", "MQTT-3.8.3-5", V5, b"\x82\x07\x00\x01\x00\x00\x01t\x80",
        MalformedPacket, MALFORMED),
    bad("SUBSCRIBE 5.0 Retain Handling 3", None, V5, b"\x82\x07\x00\x01\x00\x00\x01t\x30", ProtocolViolation,
        PROTOCOL_ERROR),
    bad("SUBSCRIBE 5.0 Maximum QoS 3", None, V5, b"\x82\x07\x00\x01\x00\x00\x01t\x03", ProtocolViolation,
        PROTOCOL_ERROR),
    bad("SUBSCRIBE 5.0 Subscription Identifier 0", None, V5, b"\x82\x09\x00\x01\x02\x0b\x00\x00\x01t\x00",
        ProtocolViolation, PROTOCOL_ERROR),
    bad("SUBSCRIBE 5.0 two Subscription Identifiers", None, V5,
        b"\x82\x0b\x00\x01\x04\x0b\x01\x0b\x02\x00\x01t\x00", ProtocolViolation, PROTOCOL_ERROR),
    bad("SUBSCRIBE 5.0 Topic Alias is not a SUBSCRIBE property", None, V5,
        b"\x82\x0a\x00\x01\x03\x23\x00\x01\x00\x01t\x00", MalformedPacket, MALFORMED),

    # ------------------------------------------------------------------------------------- SUBACK / UNSUB*
    bad("SUBACK packet id 0", None, V311, b"\x90\x03\x00\x00\x00", MalformedPacket, MALFORMED),
    bad("SUBACK 5.0 Session Expiry Interval is not a SUBACK property", None, V5,
        b"\x90\x09\x00\x01\x05\x11\x00\x00\x00\x01\x00", MalformedPacket, MALFORMED),
    bad("UNSUBSCRIBE without topic filters", "MQTT-3.10.3-2", V311, b"\xa2\x02\x00\x01", ProtocolViolation,
        PROTOCOL_ERROR),
    bad("UNSUBSCRIBE 5.0 without topic filters", "MQTT-3.10.3-2", V5, b"\xa2\x03\x00\x01\x00", ProtocolViolation,
        PROTOCOL_ERROR),
    bad("UNSUBSCRIBE packet id 0", "MQTT-2.3.1-1", V311, b"\xa2\x05\x00\x00\x00\x01t", MalformedPacket,
        MALFORMED),
    bad("UNSUBSCRIBE topic filter length runs past the packet", None, V311, b"\xa2\x05\x00\x01\x00\x05t",
        MalformedPacket, MALFORMED),
    bad("UNSUBACK packet id 0", None, V311, b"\xb0\x02\x00\x00", MalformedPacket, MALFORMED),
    bad("UNSUBACK 3.1.1 trailing byte (3.1.1 UNSUBACK has no payload)", None, V311, b"\xb0\x03\x00\x01\x00",
        MalformedPacket, MALFORMED),

    # ------------------------------------------------------------------------------------- PING / DISCONNECT
    bad("PINGREQ with a body", None, V311, b"\xc0\x01\x00", MalformedPacket, MALFORMED),
    bad("PINGRESP 5.0 with a body", None, V5, b"\xd0\x01\x00", MalformedPacket, MALFORMED),
    bad("DISCONNECT 3.1.1 with a body", None, V311, b"\xe0\x01\x00", MalformedPacket, MALFORMED),
    bad("DISCONNECT 5.0 Receive Maximum is not a DISCONNECT property", None, V5,
        b"\xe0\x05\x00\x03\x21\x00\x01", MalformedPacket, MALFORMED),
    bad("DISCONNECT 5.0 trailing byte after properties", None, V5, b"\xe0\x03\x00\x00\xff", MalformedPacket,
        MALFORMED),

    # ------------------------------------------------------------------------------------------------ AUTH
    bad("AUTH in 3.1.1 (packet type 15 is reserved)", None, V311, b"\xf0\x00", MalformedPacket, MALFORMED),
    bad("AUTH in 3.1", None, V31, b"\xf0\x00", MalformedPacket, MALFORMED),
    bad("AUTH 5.0 Session Expiry Interval is not an AUTH property", None, V5,
        b"\xf0\x07\x18\x05\x11\x00\x00\x00\x01", MalformedPacket, MALFORMED),
    bad("AUTH 5.0 Authentication Method twice", None, V5, b"\xf0\x0c\x18\x0a\x15\x00\x02ab\x15\x00\x02cd",
        ProtocolViolation, PROTOCOL_ERROR),
]

CASES: list[Case] = VALID_CASES + ERROR_CASES

# Every packet type the table must show decoded (and, where canonical, encoded) in each protocol version.
ALL_TYPES = frozenset(PacketType)
REQUIRED_TYPES: dict[int, frozenset[PacketType]] = {
    V31: ALL_TYPES - {PacketType.AUTH},
    V311: ALL_TYPES - {PacketType.AUTH},
    V5: ALL_TYPES,
}
