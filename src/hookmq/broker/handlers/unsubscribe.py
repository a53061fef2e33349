"""UNSUBSCRIBE: remove each filter; MQTT 5 reports per filter whether it existed [MQTT-3.11.3-1]."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookmq.mqtt import ReasonCode, Unsuback, Unsubscribe

if TYPE_CHECKING:
    from ..connection import MqttConnection


def handle(conn: MqttConnection, packet: Unsubscribe) -> None:
    session = conn.session
    assert session is not None
    codes = []
    for topic_filter in packet.topic_filters:
        removed = conn.broker.unsubscribe(session, topic_filter, packet.properties)
        codes.append(ReasonCode.SUCCESS if removed else ReasonCode.NO_SUBSCRIPTION_EXISTED)
    conn.send_packet(Unsuback(packet_id=packet.packet_id, reason_codes=tuple(codes)))
