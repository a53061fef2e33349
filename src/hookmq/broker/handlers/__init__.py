"""One handler per packet type, and the gate in front of them (as Aedes's ``lib/handlers/index.js``).

The gate is the only place that knows the full list of packets a client may send: the first packet must be
CONNECT [MQTT-3.1.0-1], a second CONNECT is a protocol error [MQTT-3.1.0-2], and server-to-client packets
(CONNACK, SUBACK, ...) from a client are protocol errors too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hookmq.mqtt import (
    Auth,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    ProtocolViolation,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Subscribe,
    Unsubscribe,
)

from ..clientinfo import ConnState
from . import acks, auth, connect, disconnect, ping, publish, subscribe, unsubscribe

if TYPE_CHECKING:
    from ..connection import MqttConnection

__all__ = ["dispatch"]

_HANDLERS: dict[type, Callable[[Any, Any], None]] = {
    Publish: publish.handle_publish,
    Pubrel: publish.handle_pubrel,
    Puback: acks.handle_puback,
    Pubrec: acks.handle_pubrec,
    Pubcomp: acks.handle_pubcomp,
    Subscribe: subscribe.handle,
    Unsubscribe: unsubscribe.handle,
    Pingreq: ping.handle,
    Disconnect: disconnect.handle,
    Auth: auth.handle,
}


def dispatch(conn: MqttConnection, packet: Packet) -> None:
    handler = _HANDLERS.get(type(packet))
    if conn.state != ConnState.CONNECTED:
        if isinstance(packet, Connect) and conn.state == ConnState.NEW:
            connect.handle(conn, packet)
            return
        raise ProtocolViolation(f"{type(packet).__name__.upper()} before CONNACK")
    if handler is None:
        raise ProtocolViolation(f"a client may not send {type(packet).__name__.upper()}")
    handler(conn, packet)
