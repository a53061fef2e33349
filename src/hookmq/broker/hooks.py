"""The one hook point: everything the broker announces, and a cheap "does anyone listen?" check.

Like Mochi MQTT's ``hooks.go``: a `Hook` declares the events it `provides`; `Hooks` keeps, per event, the
tuple of hooks that want it. The broker asks ``hooks.wants(event)`` (a set lookup) before it gathers any
data for an event, so an event nobody listens to costs one lookup and nothing else.

Combination rule: every ``on_*`` callback is a notification. It runs inline on the event loop, must not
block and must not raise (it should only enqueue); its return value is ignored. A hook that raises is logged
and the broker carries on.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clientinfo import ClientInfo
    from .message import Message

__all__ = ["Hook", "HookEvent", "Hooks"]

log = logging.getLogger(__name__)


class HookEvent(StrEnum):
    """Event names are EMQX's, so the events layer can map them one to one."""

    CHECK_AUTHN_COMPLETE = "client.check_authn_complete"
    CONNACK = "client.connack"
    CONNECTED = "client.connected"
    DISCONNECTED = "client.disconnected"
    CHECK_AUTHZ_COMPLETE = "client.check_authz_complete"
    SUBSCRIBED = "session.subscribed"
    UNSUBSCRIBED = "session.unsubscribed"
    MESSAGE_PUBLISH = "message.publish"
    MESSAGE_DELIVERED = "message.delivered"
    MESSAGE_ACKED = "message.acked"
    MESSAGE_DROPPED = "message.dropped"
    DELIVERY_DROPPED = "delivery.dropped"


#: One bit per message event: a `Message` carries, as one int, which of its events anyone wants.
MESSAGE_PUBLISH_BIT = 1
MESSAGE_DELIVERED_BIT = 2
MESSAGE_ACKED_BIT = 4
MESSAGE_DROPPED_BIT = 8
DELIVERY_DROPPED_BIT = 16
_MESSAGE_EVENT_BITS = {
    HookEvent.MESSAGE_PUBLISH: MESSAGE_PUBLISH_BIT,
    HookEvent.MESSAGE_DELIVERED: MESSAGE_DELIVERED_BIT,
    HookEvent.MESSAGE_ACKED: MESSAGE_ACKED_BIT,
    HookEvent.MESSAGE_DROPPED: MESSAGE_DROPPED_BIT,
    HookEvent.DELIVERY_DROPPED: DELIVERY_DROPPED_BIT,
}
_MASK_CACHE_MAX = 10_000


class Hook:
    """Base class with no-op callbacks. Subclasses set ``provides`` to the events they implement.

    ``provides`` defaults to nothing, so a callback added to this class later never fires into an old hook.
    """

    id: str = "hook"
    provides: frozenset[HookEvent] = frozenset()

    def accepts_topic(self, event: HookEvent, topic: str) -> bool:
        """Whether a message event on ``topic`` interests this hook (asked once per topic, then cached)."""
        return True

    def on_check_authn_complete(self, client: ClientInfo, reason_code: int, is_anonymous: bool,
                                is_superuser: bool) -> None:
        """Authentication finished; ``reason_code`` 0 means success (MQTT 5 code otherwise)."""

    def on_connack(self, client: ClientInfo, reason_code: int, connack_props: dict[int, Any]) -> None:
        """A CONNACK was sent, successful or not (MQTT 5 reason code, whatever the protocol version)."""

    def on_connected(self, client: ClientInfo) -> None:
        """The client is connected and its session is attached."""

    def on_disconnected(self, client: ClientInfo, reason: str, disconnect_props: dict[int, Any]) -> None:
        """The connection ended. ``reason`` uses EMQX's names: normal, kicked, discarded, takenover,
        keepalive_timeout, tcp_closed, not_authorized, or an MQTT 5 reason name."""

    def on_check_authz_complete(self, client: ClientInfo, action: str, topic: str, allowed: bool,
                                source: str) -> None:
        """An authorization check finished; ``source`` is ``file``, ``default`` or ``cache``."""

    def on_subscribed(self, client: ClientInfo, topic_filter: str, qos: int, options: dict[str, int],
                      sub_props: dict[int, Any]) -> None:
        """A subscription was added or replaced."""

    def on_unsubscribed(self, client: ClientInfo, topic_filter: str, qos: int,
                        unsub_props: dict[int, Any]) -> None:
        """A subscription (granted at ``qos``) was removed."""

    def on_message_publish(self, message: Message) -> None:
        """A message was accepted for routing (client PUBLISH, will, or API publish)."""

    def on_message_delivered(self, client: ClientInfo, message: Message, qos: int) -> None:
        """The message was sent to one subscriber at ``qos``."""

    def on_message_acked(self, client: ClientInfo, message: Message, qos: int, ack_props: dict[int, Any]) -> None:
        """A subscriber acknowledged a QoS 1 (PUBACK) or QoS 2 (PUBCOMP) delivery."""

    def on_message_dropped(self, message: Message, reason: str) -> None:
        """The message reached no one: ``no_subscribers``, ``receive_maximum_exceeded``, ``packet_identifier_inuse``."""

    def on_delivery_dropped(self, client: ClientInfo, message: Message, qos: int, reason: str) -> None:
        """A delivery to one subscriber (at ``qos``) was dropped: ``queue_full``, ``qos0_msg``, ``expired``,
        ``no_local``, ``too_large``."""


_CALLBACK = {
    HookEvent.CHECK_AUTHN_COMPLETE: "on_check_authn_complete",
    HookEvent.CONNACK: "on_connack",
    HookEvent.CONNECTED: "on_connected",
    HookEvent.DISCONNECTED: "on_disconnected",
    HookEvent.CHECK_AUTHZ_COMPLETE: "on_check_authz_complete",
    HookEvent.SUBSCRIBED: "on_subscribed",
    HookEvent.UNSUBSCRIBED: "on_unsubscribed",
    HookEvent.MESSAGE_PUBLISH: "on_message_publish",
    HookEvent.MESSAGE_DELIVERED: "on_message_delivered",
    HookEvent.MESSAGE_ACKED: "on_message_acked",
    HookEvent.MESSAGE_DROPPED: "on_message_dropped",
    HookEvent.DELIVERY_DROPPED: "on_delivery_dropped",
}


class Hooks:
    """The registered hooks, indexed by event."""

    def __init__(self) -> None:
        self._hooks: list[Hook] = []
        self._wanted: frozenset[HookEvent] = frozenset()
        self._callbacks: dict[HookEvent, tuple[Any, ...]] = {}
        self._mask_cache: dict[str, int] = {}

    def add(self, hook: Hook) -> None:
        self._hooks.append(hook)
        self._reindex()
        log.debug("hook %s added, provides %s", hook.id, ", ".join(sorted(e.value for e in hook.provides)) or "-")

    def remove(self, hook: Hook) -> None:
        self._hooks.remove(hook)
        self._reindex()

    def refresh(self) -> None:
        """Re-read every hook's ``provides``; a hook whose interests change at run time calls this."""
        self._reindex()

    def _reindex(self) -> None:
        self._mask_cache.clear()
        self._wanted = frozenset(e for h in self._hooks for e in h.provides)
        self._callbacks = {e: tuple(getattr(h, _CALLBACK[e]) for h in self._hooks if e in h.provides)
                           for e in HookEvent}

    def wants(self, event: HookEvent) -> bool:
        return event in self._wanted

    def message_mask(self, topic: str) -> int:
        """The message events (bits) some hook wants for ``topic``; 0 when none, which is the common case.

        Computed once per topic and cached, so per message it costs a dict lookup; a message stores it in
        ``hooks_mask`` and every later event of that message is a bit test.
        """
        mask = self._mask_cache.get(topic)
        if mask is None:
            mask = 0
            for event, bit in _MESSAGE_EVENT_BITS.items():
                if event in self._wanted and any(
                        h.accepts_topic(event, topic) for h in self._hooks if event in h.provides):
                    mask |= bit
            if len(self._mask_cache) >= _MASK_CACHE_MAX:
                self._mask_cache.clear()
            self._mask_cache[topic] = mask
        return mask

    def message_wants(self, message: Message, bit: int) -> bool:
        """Whether anyone wants this message's event ``bit``; fills in the mask of restored messages."""
        mask = message.hooks_mask
        if mask < 0:
            mask = message.hooks_mask = self.message_mask(message.topic)
        return bool(mask & bit)

    def emit(self, event: HookEvent, *args: Any) -> None:
        """Call every hook that provides ``event``. Callers check `wants` first when args are costly."""
        for callback in self._callbacks.get(event, ()):
            try:
                callback(*args)
            except Exception:  # a broken hook must not take MQTT down with it
                log.exception("hook callback %s failed", getattr(callback, "__qualname__", callback))
