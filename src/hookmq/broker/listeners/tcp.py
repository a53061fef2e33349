"""MQTT over TCP, optionally TLS (the ``mqtt`` and ``mqtts`` listeners)."""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING

from ..connection import MqttConnection

if TYPE_CHECKING:
    from ..broker import Broker


async def start_tcp(broker: Broker, host: str, port: int, ssl_context: ssl.SSLContext | None = None,
                    name: str = "tcp") -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: MqttConnection(broker, name), host, port, ssl=ssl_context,
                                    reuse_address=True, backlog=4096)
