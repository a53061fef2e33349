"""Topic names and filters: validation, shared-subscription parsing and matching (MQTT 5 §4.7, §4.8).

Pure functions so the broker, the ACL and the webhook matcher agree on one definition of "matches".
"""

from __future__ import annotations

__all__ = [
    "INVALID_SHARE", "SharedFilter", "is_valid_topic_filter", "is_valid_topic_name", "parse_shared", "topic_matches",
]

SHARE_PREFIX = "$share/"


def is_valid_topic_name(topic: str, max_levels: int = 0) -> bool:
    """A PUBLISH topic: non-empty, no wildcards [MQTT-3.3.2-2], at most 65,535 bytes (checked by the codec)."""
    if not topic or "+" in topic or "#" in topic:
        return False
    return not max_levels or topic.count("/") < max_levels


def is_valid_topic_filter(topic_filter: str, max_levels: int = 0) -> bool:
    """A SUBSCRIBE filter: ``#`` only last and alone in its level, ``+`` alone in its level [MQTT-4.7.1-1/2]."""
    if not topic_filter:
        return False
    shared = parse_shared(topic_filter)
    if shared is not None:
        if shared is INVALID_SHARE:
            return False
        topic_filter = shared.topic_filter
    levels = topic_filter.split("/")
    if max_levels and len(levels) > max_levels:
        return False
    last = len(levels) - 1
    for n, level in enumerate(levels):
        if "#" in level and (level != "#" or n != last):
            return False
        if "+" in level and level != "+":
            return False
    return True


class SharedFilter:
    """``$share/<group>/<filter>`` split into its parts."""

    __slots__ = ("group", "topic_filter")

    def __init__(self, group: str, topic_filter: str) -> None:
        self.group = group
        self.topic_filter = topic_filter


INVALID_SHARE = SharedFilter("", "")


def parse_shared(topic_filter: str) -> SharedFilter | None:
    """Split a shared filter; None for an ordinary one, `INVALID_SHARE` for a malformed share [MQTT-4.8.2-1/2]."""
    if not topic_filter.startswith(SHARE_PREFIX):
        return None
    group, sep, rest = topic_filter[len(SHARE_PREFIX):].partition("/")
    if not sep or not group or not rest or "+" in group or "#" in group:
        return INVALID_SHARE
    return SharedFilter(group, rest)


def topic_matches(topic: str, topic_filter: str) -> bool:
    """True when a topic name matches a (non-shared) filter; ``$`` topics never match a leading wildcard."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False  # [MQTT-4.7.2-1]
    t = topic.split("/")
    f = topic_filter.split("/")
    for n, level in enumerate(f):
        if level == "#":
            return True
        if n >= len(t):
            return False
        if level != "+" and level != t[n]:
            return False
    return len(t) == len(f)
