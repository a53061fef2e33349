"""One client connection: bytes from the transport through the codec to the packet handlers, and back.

An `asyncio.Protocol` (not streams) so a burst of packets is decoded from one buffer in one callback, and all
packets produced while handling it (acks, deliveries to other clients) are coalesced into one ``write`` per
connection per loop iteration.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from hookmq.mqtt import (
    NEED_DATA,
    Connack,
    Decoder,
    Disconnect,
    MqttError,
    ProtocolVersion,
    ReasonCode,
    UnsupportedProtocolVersion,
    connack_v3_code,
    encode,
    reason_name,
)

from .clientinfo import ClientInfo, ConnState
from .handlers import dispatch

if TYPE_CHECKING:
    from hookmq.mqtt import Will

    from .broker import Broker
    from .session import Outgoing, Session

__all__ = ["MqttConnection"]

log = logging.getLogger(__name__)

V5 = ProtocolVersion.MQTT_5
# uvloop's default high-water mark (64 KiB) pauses a fast subscriber too often; 1 MiB keeps bursts in the kernel.
WRITE_HIGH_WATER = 1024 * 1024


class MqttConnection(asyncio.Protocol):
    def __init__(self, broker: Broker, listener: str) -> None:
        self.broker = broker
        self.listener = listener
        self.decoder = Decoder(max_packet_size=broker.settings.mqtt.max_packet_size)
        self.transport: asyncio.Transport | Any = None
        self.state = ConnState.NEW
        self.protocol_version: int = ProtocolVersion.MQTT_3_1_1
        self.client = ClientInfo(listener=listener)
        self.session: Session | None = None
        self.will: Will | None = None
        self.writable = True
        self.keepalive = 0
        self.last_rx = 0.0
        self.client_max_packet = 0  # 0 = no limit announced by the client
        self.aliases_in: dict[int, str] = {}
        self.alias_max_out = 0
        self.aliases_out: dict[str, int] = {}
        self.disconnect_reason: str | None = None
        self.disconnect_props: dict[int, Any] = {}
        self._loop = asyncio.get_running_loop()
        self._out: list[bytes] = []
        self._flush_pending = False
        self._blocked = False  # CONNECT is being authenticated; later packets wait in the decoder
        self._timer: asyncio.TimerHandle | None = None

    # ---------------------------------------------------------------- transport callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("", 0)
        sock = transport.get_extra_info("sockname") or ("", 0)
        self.client.peername = _host_port(peer)
        self.client.sockname = _host_port(sock)
        if hasattr(transport, "set_write_buffer_limits"):
            transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.last_rx = self._loop.time()
        self._timer = self._loop.call_later(self.broker.settings.mqtt.connect_timeout, self._connect_timeout)
        self.broker.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        self.last_rx = self._loop.time()
        self.broker.stats.bytes_received += len(data)
        self.decoder.receive_data(data)
        if not self._blocked:
            self.process()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.state = ConnState.CLOSED
        self.broker.connection_closed(self, self.disconnect_reason or "tcp_closed")

    def pause_writing(self) -> None:
        self.writable = False

    def resume_writing(self) -> None:
        self.writable = True
        if self.session is not None and self.session.connection is self:
            self.session.drain()

    # ---------------------------------------------------------------- packets

    def process(self) -> None:
        """Decode and handle buffered packets until the buffer is empty or a CONNECT needs async auth."""
        decoder = self.decoder
        try:
            while self.state != ConnState.CLOSED and not self._blocked:
                packet = decoder.next_packet()
                if packet is NEED_DATA:
                    return
                dispatch(self, packet)  # type: ignore[arg-type]
        except MqttError as err:
            self.protocol_error(err)
        except Exception:  # a bug must cost this one connection, not the broker
            log.exception("error while handling a packet from %s", self.client.clientid or self.client.peername)
            self.close(ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR, "implementation_specific_error")

    def block(self) -> None:
        self._blocked = True

    def unblock(self) -> None:
        self._blocked = False
        if self.decoder.buffered:
            self.process()

    def send(self, data: bytes) -> None:
        self._out.append(data)
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def send_packet(self, packet: Any) -> None:
        self.send(encode(packet, self.protocol_version))

    def _flush(self) -> None:
        self._flush_pending = False
        out = self._out
        if not out:
            return
        self._out = []
        data = out[0] if len(out) == 1 else b"".join(out)
        self.broker.stats.bytes_sent += len(data)
        if not self.transport.is_closing():
            self.transport.write(data)

    def encode_publish(self, out: Outgoing, dup: bool) -> bytes | None:
        """Bytes of one outgoing PUBLISH for this client, or None when it exceeds the client's maximum size."""
        message = out.message
        alias = 0
        alias_known = False
        v5 = self.protocol_version == V5
        if v5 and self.alias_max_out:
            alias = self.aliases_out.get(message.topic, 0)
            alias_known = bool(alias)
            if not alias and len(self.aliases_out) < self.alias_max_out:
                alias = len(self.aliases_out) + 1
        data = message.encode(out.qos, out.retain, v5, out.packet_id, dup, out.sub_ids, alias, alias_known)
        if self.client_max_packet and len(data) > self.client_max_packet:
            return None  # [MQTT-3.1.2-24] never send more than the client accepts
        if alias and not alias_known:
            self.aliases_out[message.topic] = alias
        return data

    # ---------------------------------------------------------------- ending the connection

    def protocol_error(self, err: MqttError) -> None:
        """Answer a malformed or forbidden packet with the right code, then close only this connection."""
        log.info("closing %s (%s): %s", self.client.clientid or self.client.peername, err.reason_code.name, err)
        if self.state == ConnState.NEW or self.state == ConnState.CONNECTING:
            if isinstance(err, UnsupportedProtocolVersion):
                self.reject_connect(ReasonCode.UNSUPPORTED_PROTOCOL_VERSION, force_v3=True)
            elif self.protocol_version == V5 and self.decoder.protocol_version == V5:
                self.reject_connect(err.reason_code)
            else:
                self.abort(reason_name(err.reason_code))
            return
        self.close(err.reason_code, reason_name(err.reason_code))

    def reject_connect(self, code: int, force_v3: bool = False) -> None:
        """Send a failing CONNACK (MQTT 3.x codes for 3.x clients) and close [MQTT-3.2.2-6]."""
        if self.protocol_version == V5 and not force_v3:
            self.send(encode(Connack(reason_code=code), V5))
        else:
            self.send(encode(Connack(reason_code=connack_v3_code(code)), ProtocolVersion.MQTT_3_1_1))
        self.broker.connack_sent(self, code)
        self.abort(reason_name(code))

    def close(self, code: int | None = None, reason: str = "normal") -> None:
        """Close a connection; MQTT 5 clients get a DISCONNECT with ``code`` first (3.x has none)."""
        if self.state == ConnState.CLOSED:
            return
        if code is not None and self.protocol_version == V5 and self.state == ConnState.CONNECTED:
            self.send(encode(Disconnect(reason_code=code), V5))
        self.abort(reason)

    def abort(self, reason: str) -> None:
        """Flush what is queued and close the socket; packets still buffered are not processed."""
        if self.disconnect_reason is None:
            self.disconnect_reason = reason
        self.state = ConnState.CLOSED
        self._flush()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # ---------------------------------------------------------------- timers

    def start_keepalive(self, keepalive: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.keepalive = keepalive
        if keepalive:
            self._timer = self._loop.call_later(keepalive * 1.5, self._check_keepalive)

    def _check_keepalive(self) -> None:
        # [MQTT-3.1.2-22] one and a half keep-alive periods without any packet closes the connection.
        limit = self.keepalive * 1.5
        idle = self._loop.time() - self.last_rx
        if idle >= limit:
            self.close(ReasonCode.KEEP_ALIVE_TIMEOUT, "keepalive_timeout")
        else:
            self._timer = self._loop.call_later(limit - idle, self._check_keepalive)

    def _connect_timeout(self) -> None:
        self._timer = None
        if self.state == ConnState.NEW:
            log.info("no CONNECT from %s:%s within the timeout; closing", *self.client.peername)
            self.abort("connect_timeout")


def _host_port(addr: Any) -> tuple[str, int]:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = str(addr[0])
        if host.startswith("::ffff:") and "." in host:
            host = host[len("::ffff:"):]
        return host, int(addr[1])
    return (str(addr) if addr else "", 0)
