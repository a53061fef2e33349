"""DISCONNECT from the client: a normal close (reason 0x00) discards the will [MQTT-3.14.4-3]; any other MQTT 5
reason, 0x04 (Disconnect with Will Message) included, keeps it. The Session Expiry Interval may change here,
but not from 0."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookmq.mqtt import Disconnect, PropertyId, ProtocolViolation, ReasonCode, reason_name

if TYPE_CHECKING:
    from ..connection import MqttConnection


def handle(conn: MqttConnection, packet: Disconnect) -> None:
    session = conn.session
    expiry = packet.properties.get(PropertyId.SESSION_EXPIRY_INTERVAL)
    if expiry is not None and session is not None:
        if session.expiry_interval == 0 and expiry != 0:
            raise ProtocolViolation("Session Expiry Interval changed from 0 in DISCONNECT")  # [MQTT-3.14.2-2]
        conn.broker.set_session_expiry(session, expiry)
    if packet.reason_code == ReasonCode.NORMAL_DISCONNECTION:
        conn.will = None  # [MQTT-3.1.2-10] only a normal DISCONNECT removes the will
    conn.disconnect_props = packet.properties
    conn.abort("normal" if packet.reason_code == 0 else reason_name(packet.reason_code))
