"""What the broker knows about one connected client (handed to hooks and the API), and its connection state."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class ConnState(IntEnum):
    NEW = 0  # socket open, no CONNECT yet
    CONNECTING = 1  # CONNECT received, authentication running
    CONNECTED = 2  # CONNACK 0 sent
    CLOSED = 3


@dataclass(slots=True, kw_only=True)
class ClientInfo:
    clientid: str = ""
    username: str | None = None
    peername: tuple[str, int] = ("", 0)
    sockname: tuple[str, int] = ("", 0)
    listener: str = "tcp"
    proto_name: str = "MQTT"
    proto_ver: int = 4
    keepalive: int = 0
    clean_start: bool = True
    expiry_interval: int = 0
    receive_maximum: int = 65535
    conn_props: dict[int, Any] = field(default_factory=dict)
    connected_at: int = 0
    is_anonymous: bool = True

    @property
    def peerhost(self) -> str:
        return self.peername[0]
