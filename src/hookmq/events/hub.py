"""The events hub: turns broker hook callbacks into EMQX-compatible event payloads for whoever listens.

A payload is built only for an event some listener wants — and, for message events, only when the topic
matches one of that listener's filters — so with no listeners the broker's hook check returns False and
nothing here runs at all (the hub ``provides`` exactly the union of its listeners' events).
Listener callbacks run on the broker's event loop: they must only enqueue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from hookmq.broker import Hook, HookEvent, Hooks
from hookmq.broker.clientinfo import ClientInfo
from hookmq.broker.message import Message
from hookmq.mqtt import topic_matches

from .builders import BUILDERS, EventContext

__all__ = ["EventHub", "Listener"]

log = logging.getLogger(__name__)

Payload = dict[str, Any]
TOPIC_CACHE_MAX = 10_000


class Listener:
    """One registration: which events, optionally which topics (message events only), and the callback."""

    __slots__ = ("_hub", "callback", "events", "topics")

    def __init__(self, hub: EventHub, callback: Callable[[Payload], None], events: frozenset[HookEvent],
                 topics: tuple[str, ...]) -> None:
        self._hub = hub
        self.callback = callback
        self.events = events
        self.topics = topics

    def wants_topic(self, topic: str) -> bool:
        return not self.topics or any(topic_matches(topic, f) for f in self.topics)

    def close(self) -> None:
        self._hub._remove(self)


class EventHub(Hook):
    id = "events"

    def __init__(self, hooks: Hooks, node: str) -> None:
        self._hooks = hooks
        self._ctx = EventContext(node=node)
        self._listeners: list[Listener] = []
        self._by_event: dict[HookEvent, tuple[Listener, ...]] = {}
        # (event, topic) -> listeners whose filters match; message events hit a handful of topics over and
        # over, so the filter check is paid once per topic, not once per message.
        self._topic_cache: dict[tuple[HookEvent, str], tuple[Listener, ...]] = {}
        self.provides = frozenset()

    def listen(self, callback: Callable[[Payload], None], events: Iterable[str] | None = None,
               topics: Iterable[str] = ()) -> Listener:
        """Call ``callback(payload)`` for each event named in ``events`` (None = all of them).

        ``topics`` are MQTT topic filters that restrict message events (``message.*``, ``delivery.dropped``);
        client and session events are not filtered by topic.

        Raises:
            ValueError: an unknown event name (the message lists the known ones).
        """
        wanted = frozenset(HookEvent) if events is None else frozenset(_event(name) for name in events)
        listener = Listener(self, callback, wanted, tuple(topics))
        self._listeners.append(listener)
        self._reindex()
        return listener

    def _remove(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)
            self._reindex()

    def _reindex(self) -> None:
        self._by_event = {e: tuple(li for li in self._listeners if e in li.events) for e in HookEvent}
        self._topic_cache.clear()
        self.provides = frozenset(e for e, listeners in self._by_event.items() if listeners)
        self._hooks.refresh()

    def accepts_topic(self, event: HookEvent, topic: str) -> bool:
        if topic.startswith("$SYS/"):
            return False  # the broker's own statistics are not events (EMQX: ignore_sys_message = true)
        return any(li.wants_topic(topic) for li in self._by_event.get(event, ()))

    def _emit(self, event: HookEvent, listeners: Iterable[Listener], *args: Any) -> None:
        payload = BUILDERS[event](self._ctx, *args)
        for listener in listeners:
            try:
                listener.callback(payload)
            except Exception:  # one broken listener must not starve the others
                log.exception("event listener failed on %s", event.value)

    def _client_event(self, event: HookEvent, *args: Any) -> None:
        listeners = self._by_event.get(event)
        if listeners:
            self._emit(event, listeners, *args)

    def _message_event(self, event: HookEvent, topic: str, *args: Any) -> None:
        if topic.startswith("$SYS/"):
            return  # the broker's own statistics are not events (EMQX: ignore_sys_message = true)
        key = (event, topic)
        listeners = self._topic_cache.get(key)
        if listeners is None:
            if len(self._topic_cache) >= TOPIC_CACHE_MAX:
                self._topic_cache.clear()
            listeners = self._topic_cache[key] = tuple(
                li for li in self._by_event.get(event, ()) if li.wants_topic(topic))
        if listeners:
            self._emit(event, listeners, *args)

    # ---------------------------------------------------------------- Hook callbacks

    def on_check_authn_complete(self, client: ClientInfo, reason_code: int, is_anonymous: bool,
                                is_superuser: bool) -> None:
        self._client_event(HookEvent.CHECK_AUTHN_COMPLETE, client, reason_code, is_anonymous, is_superuser)

    def on_connack(self, client: ClientInfo, reason_code: int, connack_props: dict[int, Any]) -> None:
        self._client_event(HookEvent.CONNACK, client, reason_code, connack_props)

    def on_connected(self, client: ClientInfo) -> None:
        self._client_event(HookEvent.CONNECTED, client)

    def on_disconnected(self, client: ClientInfo, reason: str, disconnect_props: dict[int, Any]) -> None:
        self._client_event(HookEvent.DISCONNECTED, client, reason, disconnect_props)

    def on_check_authz_complete(self, client: ClientInfo, action: str, topic: str, allowed: bool,
                                source: str) -> None:
        self._client_event(HookEvent.CHECK_AUTHZ_COMPLETE, client, action, topic, allowed, source)

    def on_subscribed(self, client: ClientInfo, topic_filter: str, qos: int, options: dict[str, int],
                      sub_props: dict[int, Any]) -> None:
        self._client_event(HookEvent.SUBSCRIBED, client, topic_filter, qos, options, sub_props)

    def on_unsubscribed(self, client: ClientInfo, topic_filter: str, qos: int, unsub_props: dict[int, Any]) -> None:
        self._client_event(HookEvent.UNSUBSCRIBED, client, topic_filter, qos, unsub_props)

    def on_message_publish(self, message: Message) -> None:
        self._message_event(HookEvent.MESSAGE_PUBLISH, message.topic, message)

    def on_message_delivered(self, client: ClientInfo, message: Message, qos: int) -> None:
        self._message_event(HookEvent.MESSAGE_DELIVERED, message.topic, client, message, qos)

    def on_message_acked(self, client: ClientInfo, message: Message, qos: int, ack_props: dict[int, Any]) -> None:
        self._message_event(HookEvent.MESSAGE_ACKED, message.topic, client, message, qos, ack_props)

    def on_message_dropped(self, message: Message, reason: str) -> None:
        self._message_event(HookEvent.MESSAGE_DROPPED, message.topic, message, reason)

    def on_delivery_dropped(self, client: ClientInfo, message: Message, qos: int, reason: str) -> None:
        self._message_event(HookEvent.DELIVERY_DROPPED, message.topic, client, message, qos, reason)


def _event(name: str) -> HookEvent:
    try:
        return HookEvent(name)
    except ValueError:
        known = ", ".join(e.value for e in HookEvent)
        raise ValueError(f"unknown event {name!r}; known events: {known}") from None
