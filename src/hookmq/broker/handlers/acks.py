"""PUBACK, PUBREC, PUBCOMP from a subscriber: they settle the broker's outgoing QoS 1/2 deliveries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookmq.mqtt import Puback, Pubcomp, Pubrec, Pubrel, ReasonCode, encode

if TYPE_CHECKING:
    from ..connection import MqttConnection


def handle_puback(conn: MqttConnection, packet: Puback) -> None:
    if conn.session is not None:
        conn.session.on_puback(packet.packet_id, packet.properties)


def handle_pubrec(conn: MqttConnection, packet: Pubrec) -> None:
    session = conn.session
    if session is None:
        return
    known = session.on_pubrec(packet.packet_id, packet.reason_code, packet.properties)
    if packet.reason_code >= 0x80:
        return  # the exchange ended with the failing PUBREC [MQTT-4.3.3-4]
    code = 0 if known else ReasonCode.PACKET_IDENTIFIER_NOT_FOUND
    conn.send(encode(Pubrel(packet_id=packet.packet_id, reason_code=code), conn.protocol_version))


def handle_pubcomp(conn: MqttConnection, packet: Pubcomp) -> None:
    if conn.session is not None:
        conn.session.on_pubcomp(packet.packet_id, packet.properties)
