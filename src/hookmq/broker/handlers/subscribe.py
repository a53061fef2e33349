"""SUBSCRIBE: validate and authorize each filter, store it, answer SUBACK, then send matching retained
messages (after the SUBACK, as clients expect) according to Retain Handling."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookmq.mqtt import (
    INVALID_SHARE,
    PropertyId,
    ProtocolVersion,
    ProtocolViolation,
    ReasonCode,
    Suback,
    Subscribe,
    is_valid_topic_filter,
    parse_shared,
)

from ..topics import SubOptions

if TYPE_CHECKING:
    from ..connection import MqttConnection

V5 = ProtocolVersion.MQTT_5
_V3_FAILURE = 0x80


def handle(conn: MqttConnection, packet: Subscribe) -> None:
    broker = conn.broker
    settings = broker.settings.mqtt
    session = conn.session
    assert session is not None
    v5 = conn.protocol_version == V5
    sub_ids = packet.properties.get(PropertyId.SUBSCRIPTION_IDENTIFIER)
    sub_id = sub_ids[0] if sub_ids else None
    codes: list[int] = []
    retained_to_send = []
    for sub in packet.subscriptions:
        topic_filter = sub.topic_filter
        shared = parse_shared(topic_filter)
        real_filter = shared.topic_filter if shared is not None else topic_filter
        if shared is not None and sub.no_local:
            raise ProtocolViolation("No Local on a shared subscription")  # [MQTT-3.8.3-4]
        code: int
        if not is_valid_topic_filter(topic_filter, settings.max_topic_levels) or shared is INVALID_SHARE:
            code = ReasonCode.TOPIC_FILTER_INVALID
        elif shared is not None and not settings.shared_subscription:
            code = ReasonCode.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED
        elif not settings.wildcard_subscription and ("+" in real_filter or "#" in real_filter):
            code = ReasonCode.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED
        elif not broker.authorize(conn, "subscribe", topic_filter):
            if broker.authz_disconnects():
                conn.close(ReasonCode.NOT_AUTHORIZED, "not_authorized")
                return
            code = ReasonCode.NOT_AUTHORIZED
        else:
            options = SubOptions(topic_filter=topic_filter, qos=sub.qos, no_local=sub.no_local,
                                 retain_as_published=sub.retain_as_published, retain_handling=sub.retain_handling,
                                 subscription_id=sub_id, share_group=shared.group if shared is not None else None,
                                 properties=packet.properties)
            is_new = broker.subscribe(session, options)
            code = sub.qos
            # [MQTT-3.3.1-9..11] retained messages: 0 always, 1 only for a new subscription, 2 never;
            # never for shared subscriptions [MQTT-4.8.2-?].
            if shared is None and (sub.retain_handling == 0 or (sub.retain_handling == 1 and is_new)):
                retained_to_send.append(options)
        codes.append(code if v5 or code < 0x80 else _V3_FAILURE)
    conn.send_packet(Suback(packet_id=packet.packet_id, reason_codes=tuple(codes)))
    for options in retained_to_send:
        broker.send_retained(session, options)
