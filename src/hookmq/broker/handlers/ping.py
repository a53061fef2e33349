"""PINGREQ: answer PINGRESP [MQTT-3.12.4-1]. Receiving any packet already reset the keep-alive clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookmq.mqtt import Pingreq

if TYPE_CHECKING:
    from ..connection import MqttConnection

PINGRESP = b"\xd0\x00"


def handle(conn: MqttConnection, packet: Pingreq) -> None:
    conn.send(PINGRESP)
