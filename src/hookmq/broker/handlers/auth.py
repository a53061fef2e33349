"""AUTH: hookmq offers no enhanced authentication method, so an AUTH packet is always a protocol error
[MQTT-4.12.0-?]: CONNECT never carried an Authentication Method we accepted (those get CONNACK 0x8C)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookmq.mqtt import Auth, ProtocolViolation

if TYPE_CHECKING:
    from ..connection import MqttConnection


def handle(conn: MqttConnection, packet: Auth) -> None:
    raise ProtocolViolation("AUTH without an accepted authentication method")
