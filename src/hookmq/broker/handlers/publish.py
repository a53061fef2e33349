"""PUBLISH from a client (and the PUBREL that completes an incoming QoS 2 exchange).

Pipeline: resolve the topic alias, validate the topic, enforce the receive maximum, authorize, build the
`Message`, route it, acknowledge. QoS 2 uses "method B": the message is routed on PUBLISH and only its
packet id is kept until PUBREL, so a retransmitted PUBLISH with the same id is not routed twice.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from hookmq.mqtt import (
    PropertyId,
    ProtocolVersion,
    ProtocolViolation,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    ReasonCode,
    encode,
    is_valid_topic_name,
)

from ..hooks import HookEvent
from ..message import Message

if TYPE_CHECKING:
    from ..connection import MqttConnection

V5 = ProtocolVersion.MQTT_5
P = PropertyId
_PER_HOP = (P.TOPIC_ALIAS, P.SUBSCRIPTION_IDENTIFIER, P.MESSAGE_EXPIRY_INTERVAL)


def handle_publish(conn: MqttConnection, packet: Publish) -> None:
    broker = conn.broker
    settings = broker.settings.mqtt
    session = conn.session
    assert session is not None
    v5 = conn.protocol_version == V5
    topic = packet.topic
    props = packet.properties
    expires_at = None
    if props:
        alias = props.get(P.TOPIC_ALIAS)
        if alias is not None:
            if alias > settings.max_topic_alias:  # 0 is refused by the codec with the same code [MQTT-3.3.2-8]
                raise ProtocolViolation(f"topic alias {alias} above the maximum", ReasonCode.TOPIC_ALIAS_INVALID)
            if topic:
                conn.aliases_in[alias] = topic
            else:
                topic = conn.aliases_in.get(alias, "")
                if not topic:
                    raise ProtocolViolation(f"unknown topic alias {alias}")  # [MQTT-3.3.4-?]
        if P.SUBSCRIPTION_IDENTIFIER in props:
            raise ProtocolViolation("PUBLISH from a client carries a Subscription Identifier")  # [MQTT-3.3.4-6]
        response_topic = props.get(P.RESPONSE_TOPIC)
        if response_topic is not None and not is_valid_topic_name(response_topic):
            raise ProtocolViolation(f"invalid Response Topic {response_topic!r}")  # [MQTT-3.3.2-14]
        interval = props.get(P.MESSAGE_EXPIRY_INTERVAL)
        if interval is not None:
            expires_at = time.time() + interval
        if any(p in props for p in _PER_HOP):
            props = {k: v for k, v in props.items() if k not in _PER_HOP}
    if not topic:
        raise ProtocolViolation("empty topic without a Topic Alias")  # MQTT 5 §3.3.2.1
    if not is_valid_topic_name(topic, settings.max_topic_levels):
        raise ProtocolViolation(f"invalid topic name {topic!r}", ReasonCode.TOPIC_NAME_INVALID)  # [MQTT-3.3.2-2]
    if packet.retain and not settings.retain_available:
        raise ProtocolViolation("retain is not available", ReasonCode.RETAIN_NOT_SUPPORTED)
    qos = packet.qos
    packet_id = packet.packet_id
    if qos == 2:
        if packet_id in session.awaiting_rel:
            _duplicate_qos2(conn, packet, topic, props, expires_at)
            return
        if len(session.awaiting_rel) >= settings.receive_maximum:
            # [MQTT-3.3.4-9] the client sent more unacknowledged QoS 2 PUBLISHes than we allowed.
            _report_dropped(conn, packet, topic, props, expires_at, "receive_maximum_exceeded")
            raise ProtocolViolation("receive maximum exceeded", ReasonCode.RECEIVE_MAXIMUM_EXCEEDED)

    if topic.startswith("$SYS") or not broker.authorize(conn, "publish", topic):
        _denied(conn, qos, packet_id, v5)
        return

    client = conn.client
    message = Message(broker.next_message_id(), topic, packet.payload, qos, packet.retain, props, client.clientid,
                      client.username, client.peername, int(time.time() * 1000), expires_at, packet.dup)
    matched = broker.publish(message)
    if qos == 0:
        return
    code = ReasonCode.SUCCESS if matched or not v5 else ReasonCode.NO_MATCHING_SUBSCRIBERS
    if qos == 1:
        conn.send(encode(Puback(packet_id=packet_id or 0, reason_code=code), conn.protocol_version))
    else:
        session.awaiting_rel.add(packet_id or 0)
        if session.persistent:
            broker.journal.session_changed(session)
        conn.send(encode(Pubrec(packet_id=packet_id or 0, reason_code=code), conn.protocol_version))


def _duplicate_qos2(conn: MqttConnection, packet: Publish, topic: str, props: dict[int, Any],
                    expires_at: float | None) -> None:
    """A QoS 2 PUBLISH whose id still awaits PUBREL: a retransmission (DUP) is acknowledged again without
    routing [MQTT-4.3.3-?]; a fresh message reusing the id is refused (0x91) and reported dropped."""
    if packet.dup:
        conn.send(encode(Pubrec(packet_id=packet.packet_id or 0), conn.protocol_version))
        return
    conn.send(encode(Pubrec(packet_id=packet.packet_id or 0, reason_code=ReasonCode.PACKET_IDENTIFIER_IN_USE),
                     conn.protocol_version))
    _report_dropped(conn, packet, topic, props, expires_at, "packet_identifier_inuse")


def _report_dropped(conn: MqttConnection, packet: Publish, topic: str, props: dict[int, Any],
                    expires_at: float | None, reason: str) -> None:
    """Tell hooks about a PUBLISH refused before routing (EMQX's message.dropped reasons)."""
    broker = conn.broker
    broker.stats.messages_dropped += 1
    if broker.hooks.wants(HookEvent.MESSAGE_DROPPED):  # rare path: no per-topic mask needed
        client = conn.client
        message = Message(broker.next_message_id(), topic, packet.payload, packet.qos, packet.retain, props,
                          client.clientid, client.username, client.peername, int(time.time() * 1000), expires_at)
        broker.hooks.emit(HookEvent.MESSAGE_DROPPED, message, reason)


def _denied(conn: MqttConnection, qos: int, packet_id: int | None, v5: bool) -> None:
    broker = conn.broker
    broker.stats.messages_dropped += 1
    if broker.authz_disconnects():
        conn.close(ReasonCode.NOT_AUTHORIZED, "not_authorized")
        return
    # MQTT 3.x has no way to say "denied": acknowledge so the client does not retransmit forever.
    code = ReasonCode.NOT_AUTHORIZED if v5 else 0
    if qos == 1:
        conn.send(encode(Puback(packet_id=packet_id or 0, reason_code=code), conn.protocol_version))
    elif qos == 2:
        if not v5:
            conn.session.awaiting_rel.add(packet_id or 0)  # type: ignore[union-attr]
        conn.send(encode(Pubrec(packet_id=packet_id or 0, reason_code=code), conn.protocol_version))


def handle_pubrel(conn: MqttConnection, packet: Pubrel) -> None:
    session = conn.session
    assert session is not None
    if packet.packet_id in session.awaiting_rel:
        session.awaiting_rel.discard(packet.packet_id)
        if session.persistent:
            conn.broker.journal.session_changed(session)
        code = 0
    else:
        code = ReasonCode.PACKET_IDENTIFIER_NOT_FOUND if conn.protocol_version == V5 else 0
    conn.send(encode(Pubcomp(packet_id=packet.packet_id, reason_code=code), conn.protocol_version))
