"""A client's session: subscriptions, outgoing in-flight window and queue, incoming QoS 2 state, will.

The session outlives its connection when it is persistent. It never touches a socket: while connected it
hands encoded packets to ``connection.send()``; while offline it queues. Outgoing flow control follows
MQTT 5 §4.9: at most ``window`` QoS 1/2 messages unacknowledged, the rest wait in ``queue``.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from hookmq.mqtt import Pubrel, encode

from .hooks import DELIVERY_DROPPED_BIT, MESSAGE_ACKED_BIT, MESSAGE_DELIVERED_BIT, HookEvent
from .message import Message
from .topics import SubOptions

if TYPE_CHECKING:
    from hookmq.mqtt import Will

    from .broker import Broker
    from .clientinfo import ClientInfo

__all__ = ["Outgoing", "Session", "SessionJournal"]

# Outgoing states; AWAITING_PUBCOMP means PUBREC arrived and PUBREL was sent (QoS 2 second half).
QUEUED, AWAITING_ACK, AWAITING_PUBCOMP = 0, 1, 2


class Outgoing:
    """One message on its way to this session's client."""

    __slots__ = ("dup", "message", "packet_id", "qos", "retain", "seq", "state", "sub_ids")

    def __init__(self, message: Message, qos: int, retain: bool, sub_ids: tuple[int, ...], seq: int) -> None:
        self.message = message
        self.qos = qos
        self.retain = retain
        self.sub_ids = sub_ids
        self.packet_id: int | None = None
        self.state = QUEUED
        self.seq = seq
        self.dup = False  # sent before on an earlier connection: resend keeps its packet id and sets DUP


class SessionJournal(Protocol):
    """Where a persistent session records its changes (the broker's group-commit persister)."""

    def session_changed(self, session: Session) -> None: ...
    def subscription_changed(self, session: Session, options: SubOptions, removed: bool) -> None: ...
    def outgoing_changed(self, session: Session, outgoing: Outgoing, removed: bool) -> None: ...


class ConnectionLike(Protocol):
    client: ClientInfo
    writable: bool
    protocol_version: int

    def send(self, data: bytes) -> None: ...
    def encode_publish(self, out: Outgoing, dup: bool) -> bytes | None: ...


class Session:
    def __init__(self, broker: Broker, clientid: str) -> None:
        self.broker = broker
        self.clientid = clientid
        self.connection: ConnectionLike | None = None
        self.client: ClientInfo | None = None  # last known client info, also while offline
        self.subscriptions: dict[str, SubOptions] = {}
        self.inflight: dict[int, Outgoing] = {}
        self.queue: deque[Outgoing] = deque()
        self.awaiting_rel: set[int] = set()
        self.expiry_interval = 0
        self.persistent = False
        self.disconnected_at: float | None = None
        self.will: Will | None = None
        self.will_at: float | None = None
        self.window = broker.settings.mqtt.max_inflight
        self.protocol_version = 4
        self._next_pid = 1
        self._seq = 0

    # ---------------------------------------------------------------- lifecycle

    def expires_at(self) -> float | None:
        if self.disconnected_at is None or self.expiry_interval == 0xFFFFFFFF:
            return None
        return self.disconnected_at + self.expiry_interval

    def attach(self, connection: ConnectionLike, window: int) -> None:
        """Bind a new connection; resend unacknowledged messages with DUP set [MQTT-4.4.0-1]."""
        self.connection = connection
        self.client = connection.client
        self.protocol_version = connection.protocol_version
        self.window = window
        self.disconnected_at = None
        # The new connection's Receive Maximum bounds the resend too [MQTT-3.3.4-9]: what does not fit goes
        # back to the head of the queue, in order, and is resent (with DUP) as acknowledgements free slots.
        budget = window
        requeue: list[Outgoing] = []
        for out in list(self.inflight.values()):
            if out.state == AWAITING_PUBCOMP:
                connection.send(encode(Pubrel(packet_id=out.packet_id or 0), self.protocol_version))
                budget -= 1
            elif budget > 0:
                budget -= 1
                data = connection.encode_publish(out, True)
                if data is None:
                    self._drop_inflight(out, "too_large")
                else:
                    connection.send(data)
            else:
                del self.inflight[out.packet_id]  # type: ignore[arg-type]
                out.state = QUEUED
                out.dup = True
                requeue.append(out)
                if self.persistent:
                    self.broker.journal.outgoing_changed(self, out, False)
        self.queue.extendleft(reversed(requeue))
        self.drain()

    def detach(self, now: float) -> None:
        self.connection = None
        self.disconnected_at = now
        if self.persistent:
            self.broker.journal.session_changed(self)

    # ---------------------------------------------------------------- subscriptions

    def set_subscription(self, options: SubOptions) -> bool:
        """Record a subscription; return True when it is new."""
        is_new = options.topic_filter not in self.subscriptions
        self.subscriptions[options.topic_filter] = options
        if self.persistent:
            self.broker.journal.subscription_changed(self, options, False)
        return is_new

    def remove_subscription(self, topic_filter: str) -> SubOptions | None:
        options = self.subscriptions.pop(topic_filter, None)
        if options is not None and self.persistent:
            self.broker.journal.subscription_changed(self, options, True)
        return options

    # ---------------------------------------------------------------- outgoing

    def deliver(self, message: Message, qos: int, retain: bool, sub_ids: tuple[int, ...]) -> None:
        """Send now if the window allows, else queue (bounded by ``max_queue_len``)."""
        conn = self.connection
        if conn is None:
            if qos == 0 and not self.broker.settings.mqtt.queue_qos0:
                return
        elif not self.queue:
            if qos == 0:
                if conn.writable:
                    self._send_now(conn, Outgoing(message, 0, retain, sub_ids, 0))
                    return
            elif len(self.inflight) < self.window:
                out = Outgoing(message, qos, retain, sub_ids, self._next_seq())
                self._start_inflight(conn, out)
                return
        limit = self.broker.settings.mqtt.max_queue_len
        if limit and len(self.queue) >= limit:
            self.report_dropped(message, qos, "qos0_msg" if qos == 0 else "queue_full")
            return
        out = Outgoing(message, qos, retain, sub_ids, self._next_seq())
        self.queue.append(out)
        if self.persistent:
            self.broker.journal.outgoing_changed(self, out, False)

    def drain(self) -> None:
        """Move queued messages onto the wire while the window and the socket allow."""
        conn = self.connection
        queue = self.queue
        now = time.time()
        while queue and conn is not None:
            out = queue[0]
            if out.qos:
                if len(self.inflight) >= self.window:
                    return
            elif not conn.writable:
                return
            queue.popleft()
            if out.message.expired(now):
                self._forget(out)
                self.report_dropped(out.message, out.qos, "expired")
                continue
            if out.qos:
                self._start_inflight(conn, out)
            else:
                self._forget(out)
                self._send_now(conn, out)
            conn = self.connection

    def _send_now(self, conn: ConnectionLike, out: Outgoing) -> None:
        message = out.message
        if message.expires_at is not None and message.expired(time.time()):
            self.report_dropped(message, out.qos, "expired")
            return
        data = conn.encode_publish(out, False)
        if data is None:
            self.report_dropped(message, out.qos, "too_large")
            return
        conn.send(data)
        self.broker.stats.messages_sent += 1
        if message.hooks_mask and self.broker.hooks.message_wants(message, MESSAGE_DELIVERED_BIT):
            self.broker.hooks.emit(HookEvent.MESSAGE_DELIVERED, conn.client, message, out.qos)

    def _start_inflight(self, conn: ConnectionLike, out: Outgoing) -> None:
        if out.packet_id is None or out.packet_id in self.inflight:
            out.packet_id = self._allocate_pid()
            out.dup = False
        out.state = AWAITING_ACK
        self.inflight[out.packet_id] = out
        if self.persistent:
            self.broker.journal.outgoing_changed(self, out, False)
        data = conn.encode_publish(out, out.dup)
        if data is None:
            self._drop_inflight(out, "too_large")
            return
        conn.send(data)
        self.broker.stats.messages_sent += 1
        if out.message.hooks_mask and self.broker.hooks.message_wants(out.message, MESSAGE_DELIVERED_BIT):
            self.broker.hooks.emit(HookEvent.MESSAGE_DELIVERED, conn.client, out.message, out.qos)

    def _drop_inflight(self, out: Outgoing, reason: str) -> None:
        if out.packet_id is not None:
            self.inflight.pop(out.packet_id, None)
        self._forget(out)
        self.report_dropped(out.message, out.qos, reason)

    def _allocate_pid(self) -> int:
        # [MQTT-2.2.1-4] a packet id is reusable only once its exchange completed.
        pid = self._next_pid
        while pid in self.inflight:
            pid = pid % 65535 + 1
        self._next_pid = pid % 65535 + 1
        return pid

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def restore_seq(self, seq: int) -> None:
        self._seq = max(self._seq, seq)

    def _forget(self, out: Outgoing) -> None:
        if self.persistent and out.seq:
            self.broker.journal.outgoing_changed(self, out, True)

    def report_dropped(self, message: Message, qos: int, reason: str) -> None:
        """Count a delivery that will not happen and tell hooks why (EMQX's delivery.dropped reasons)."""
        self.broker.stats.deliveries_dropped += 1
        hooks = self.broker.hooks
        if message.hooks_mask and hooks.message_wants(message, DELIVERY_DROPPED_BIT) and self.client is not None:
            hooks.emit(HookEvent.DELIVERY_DROPPED, self.client, message, qos, reason)

    # ---------------------------------------------------------------- acknowledgements from the client

    def on_puback(self, packet_id: int, props: dict[int, Any]) -> bool:
        out = self.inflight.get(packet_id)
        if out is None or out.qos != 1:
            return False
        self._complete(out, props)
        return True

    def on_pubrec(self, packet_id: int, reason_code: int, props: dict[int, Any]) -> bool:
        """Handle PUBREC; return True when the id is known (a PUBREL with success follows, unless the
        PUBREC carried a failure code, which ends the exchange [MQTT-4.3.3-4])."""
        out = self.inflight.get(packet_id)
        if out is None or out.qos != 2:
            return False
        if reason_code >= 0x80:
            self._complete(out, props)
        elif out.state != AWAITING_PUBCOMP:
            out.state = AWAITING_PUBCOMP
            if self.persistent:
                self.broker.journal.outgoing_changed(self, out, False)
        return True

    def on_pubcomp(self, packet_id: int, props: dict[int, Any]) -> bool:
        out = self.inflight.get(packet_id)
        if out is None or out.state != AWAITING_PUBCOMP:
            return False
        self._complete(out, props)
        return True

    def _complete(self, out: Outgoing, props: dict[int, Any]) -> None:
        del self.inflight[out.packet_id]  # type: ignore[arg-type]
        self._forget(out)
        hooks = self.broker.hooks
        if out.message.hooks_mask and hooks.message_wants(out.message, MESSAGE_ACKED_BIT) and self.client is not None:
            hooks.emit(HookEvent.MESSAGE_ACKED, self.client, out.message, out.qos, props)
        self.drain()

    # ---------------------------------------------------------------- persistence helpers

    def restore_outgoing(self, out: Outgoing) -> None:
        """Re-insert a message loaded from the store, keeping its state."""
        if out.state == QUEUED:
            self.queue.append(out)
        else:
            self.inflight[out.packet_id or 0] = out
        self.restore_seq(out.seq)

    def discard_state(self) -> None:
        """Forget everything (clean start or expiry); the caller removes the subscriptions from the tree."""
        self.inflight.clear()
        self.queue.clear()
        self.awaiting_rel.clear()
        self.subscriptions.clear()
