"""What the broker knows about one connected client; handed to hooks and to the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
