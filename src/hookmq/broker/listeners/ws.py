"""MQTT over WebSocket (subprotocol ``mqtt``), served by aiohttp.

A WebSocket message may carry any part of an MQTT packet, so binary frames are fed into the same
`MqttConnection` a TCP socket uses; `WebSocketTransport` adapts aiohttp's async ``send_bytes`` to the
``asyncio.Transport`` surface the connection writes to, with the same pause/resume flow control.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ..connection import MqttConnection

if TYPE_CHECKING:
    from ..broker import Broker

log = logging.getLogger(__name__)



class WebSocketTransport(asyncio.Transport):
    def __init__(self, ws: web.WebSocketResponse, request: web.Request, protocol: MqttConnection) -> None:
        super().__init__()
        self._ws = ws
        self._protocol = protocol
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._high_water = 1024 * 1024
        self._closing = False
        self._paused = False
        self._wakeup = asyncio.Event()
        transport = request.transport
        self._extra = {
            "peername": transport.get_extra_info("peername") if transport else None,
            "sockname": transport.get_extra_info("sockname") if transport else None,
        }
        self.writer = asyncio.ensure_future(self._write_loop())

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is not None:
            self._high_water = high

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def is_closing(self) -> bool:
        return self._closing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        self._pending.append(bytes(data))
        self._pending_size += len(data)
        if self._pending_size > self._high_water and not self._paused:
            self._paused = True
            self._protocol.pause_writing()
        self._wakeup.set()

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._wakeup.set()

    def abort(self) -> None:
        self.close()

    async def _write_loop(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                if self._pending:
                    data = b"".join(self._pending)
                    self._pending.clear()
                    self._pending_size = 0
                    await self._ws.send_bytes(data)
                    if self._paused:
                        self._paused = False
                        self._protocol.resume_writing()
                if self._closing:
                    await self._ws.close()
                    return
        except (ConnectionError, RuntimeError) as exc:
            log.debug("websocket write failed: %s", exc)
            self._closing = True


def websocket_handler(broker: Broker, path: str, name: str = "ws") -> web.RouteDef:
    async def handle(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=("mqtt", "mqttv3.1"), max_msg_size=0, compress=False)
        await ws.prepare(request)
        conn = MqttConnection(broker, name)
        transport = WebSocketTransport(ws, request, conn)
        try:
            conn.connection_made(transport)
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    conn.data_received(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    # MQTT over WebSocket must use binary frames [MQTT-6.0.0-1].
                    conn.abort("protocol_error")
                    break
                if transport.is_closing():
                    break
        finally:
            transport.close()
            await asyncio.gather(transport.writer, return_exceptions=True)
            conn.connection_lost(None)
        return ws

    return web.get(path, handle)


async def start_websocket(broker: Broker, host: str, port: int, path: str, ssl_context: ssl.SSLContext | None = None,
                          name: str = "ws") -> web.AppRunner:
    app = web.Application()
    app.add_routes([websocket_handler(broker, path, name)])
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_address=True)
    await site.start()
    return runner
