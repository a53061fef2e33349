"""What triggers a webhook: event names and, for message events, topic filters (spec §3.1 "Trigger").

EMQX's Webhook page offers three triggers: all messages and events, message events with optional topic
filters, or client/session events. hookmq keeps the same model as a list of event names (``["all"]`` for
the first) plus a list of filters that apply to message events only; the rules live here so the settings
model (`check_events`, `check_topics`), the EventHub registration (`Trigger.hub_listen_args`) and any
second check (`Trigger.matches`) agree.

Matching uses `hookmq.mqtt.topic_matches`, the broker's own definition, so ``#`` and ``+/…`` never match a
``$``-topic [MQTT-4.7.2-1]; EMQX's rule ``FROM "#"`` behaves the same. An empty filter list means ``"#"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from hookmq.events.catalogue import CATALOGUE
from hookmq.mqtt import is_valid_topic_filter, topic_matches

if TYPE_CHECKING:
    from .model import WebhookConfig

__all__ = ["ALL_EVENTS", "EVENT_NAMES", "MESSAGE_EVENTS", "MESSAGE_EVENT_NAMES", "Trigger", "check_events",
           "check_topics"]

ALL_EVENTS: Final = "all"
EVENT_NAMES: Final = tuple(spec.name for spec in CATALOGUE)  # dashboard order: message events first
# Events that carry a topic, and so are filtered by ``topics`` (the EMQX "Messages" trigger group).
MESSAGE_EVENT_NAMES: Final = tuple(spec.name for spec in CATALOGUE if spec.group == "message")
MESSAGE_EVENTS: Final = frozenset(MESSAGE_EVENT_NAMES)
EVERY_TOPIC: Final = ("#",)
_CACHE_MAX: Final = 10_000


def check_events(events: list[str]) -> list[str]:
    """Validate a trigger's event list; the error lists what is allowed.

    Raises:
        ValueError: empty, unknown names, duplicates, or "all" mixed with names.
    """
    allowed = f"\"all\" or {', '.join(EVENT_NAMES)}"
    if not events:
        raise ValueError(f"must name at least one event; allowed: {allowed}")
    if ALL_EVENTS in events and len(events) > 1:
        raise ValueError(f"\"all\" already means every event; list it alone, got {events}")
    for name in events:
        if name != ALL_EVENTS and name not in EVENT_NAMES:
            raise ValueError(f"unknown event {name!r}; allowed: {allowed}")
    if len(set(events)) != len(events):
        raise ValueError(f"lists an event twice: {events}")
    return events


def check_topics(topics: list[str], events: list[str] | None) -> list[str]:
    """Validate a trigger's topic filters (no empty entries, no duplicates, as the EMQX form requires).

    ``events`` is the already-validated event list, or None when it was invalid (then only the filters are
    checked).

    Raises:
        ValueError: a bad filter, a shared-subscription filter, a duplicate, or filters with no message event.
    """
    for n, topic_filter in enumerate(topics):
        if not topic_filter:
            raise ValueError(f"entry {n} is empty; use \"#\" for every topic")
        if topic_filter.startswith(("$share/", "$queue/")):
            raise ValueError(f"shared subscriptions pick subscribers, they do not select events; got {topic_filter!r}")
        if not is_valid_topic_filter(topic_filter):
            raise ValueError(f"{topic_filter!r} is not a valid MQTT topic filter ('+' and '#' fill a whole level, "
                             f"'#' only the last)")
    if len(set(topics)) != len(topics):
        raise ValueError(f"lists a filter twice: {topics}")
    if topics and events is not None and ALL_EVENTS not in events and not MESSAGE_EVENTS.intersection(events):
        raise ValueError(f"only message events ({', '.join(MESSAGE_EVENT_NAMES)}) are filtered by topic, and "
                         f"none is selected")
    return topics


class Trigger:
    """A webhook's trigger, compiled: which events it wants and, for message events, which topics."""

    __slots__ = ("_cache", "all_events", "events", "topics")

    def __init__(self, events: Iterable[str], topics: Iterable[str] = ()) -> None:
        """``events`` as in the settings (``["all"]`` or names); ``topics`` filters, empty = every topic.

        Raises:
            ValueError: as `check_events` / `check_topics`.
        """
        names = check_events(list(events))
        self.all_events = names == [ALL_EVENTS]
        self.events: frozenset[str] = frozenset(EVENT_NAMES) if self.all_events else frozenset(names)
        self.topics: tuple[str, ...] = tuple(check_topics(list(topics), names)) or EVERY_TOPIC
        self._cache: dict[str, bool] = {}

    @classmethod
    def from_config(cls, config: WebhookConfig) -> Trigger:
        return cls(config.events, config.topics)

    def wants(self, event_name: str) -> bool:
        """True when the webhook takes this kind of event at all (before any topic check)."""
        return event_name in self.events

    def wants_topic(self, topic: str) -> bool:
        """True when ``topic`` matches one of the filters (per-topic results are cached: topics repeat)."""
        hit = self._cache.get(topic)
        if hit is None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            hit = self._cache[topic] = any(topic_matches(topic, f) for f in self.topics)
        return hit

    def matches(self, event_name: str, topic: str | None) -> bool:
        """True when an event goes to this webhook. Filters apply to message events only; a message event
        without a topic cannot be shown to match and is refused.
        """
        if event_name not in self.events:
            return False
        if event_name not in MESSAGE_EVENTS:
            return True
        return topic is not None and self.wants_topic(topic)

    def hub_listen_args(self) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
        """``(events, topics)`` for `hookmq.events.hub.EventHub.listen`: events None = all of them; topics are
        the filters (``("#",)`` for "every topic", so the hub also skips ``$``-topics), or () when no message
        event is wanted (client and session events are never filtered by topic).
        """
        events = None if self.all_events else tuple(name for name in EVENT_NAMES if name in self.events)
        topics = self.topics if MESSAGE_EVENTS & self.events else ()
        return events, topics

    def __repr__(self) -> str:
        events = ALL_EVENTS if self.all_events else ",".join(sorted(self.events))
        return f"Trigger(events={events}, topics={','.join(self.topics)})"
