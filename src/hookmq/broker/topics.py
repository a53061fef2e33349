"""Topic tries: who is subscribed to what, and which retained messages a new filter sees.

Matching walks only the levels of the topic (never every filter), and the result for a topic is cached
until the next subscription change, so a steady stream to a few topics costs one dict lookup per message.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .message import Message
    from .session import Session

__all__ = ["RetainedTree", "SubOptions", "SubscriptionTree"]

_MATCH_CACHE_MAX = 4096


@dataclass(slots=True, kw_only=True)
class SubOptions:
    """One subscription of one session. ``topic_filter`` is what the client sent (``$share/g/f`` included)."""

    topic_filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0
    subscription_id: int | None = None
    share_group: str | None = None
    properties: dict[int, Any] | None = None


class _SharedGroup:
    __slots__ = ("_turn", "members")

    def __init__(self) -> None:
        self.members: dict[str, tuple[Session, SubOptions]] = {}
        self._turn = itertools.count()

    def pick(self) -> tuple[Session, SubOptions] | None:
        """Round robin over connected members; only when none is connected does an offline one queue it."""
        members = self.members.values()
        online = [m for m in members if m[0].connection is not None]
        candidates = online or list(members)
        if not candidates:
            return None
        return candidates[next(self._turn) % len(candidates)]


class _Node:
    __slots__ = ("children", "shared", "subs")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.subs: dict[str, tuple[Session, SubOptions]] = {}
        self.shared: dict[str, _SharedGroup] = {}

    def empty(self) -> bool:
        return not (self.children or self.subs or self.shared)


class SubscriptionTree:
    def __init__(self) -> None:
        self._root = _Node()
        self._cache: dict[str, tuple[_Node, ...]] = {}
        self.count = 0
        self.shared_count = 0

    def add(self, session: Session, real_filter: str, options: SubOptions) -> bool:
        """Add or replace; return True when the subscription is new."""
        node = self._root
        for level in real_filter.split("/"):
            node = node.children.setdefault(level, _Node())
        self._cache.clear()
        if options.share_group is None:
            existed = session.clientid in node.subs
            node.subs[session.clientid] = (session, options)
        else:
            group = node.shared.setdefault(options.share_group, _SharedGroup())
            existed = session.clientid in group.members
            group.members[session.clientid] = (session, options)
            self.shared_count += not existed
        self.count += not existed
        return not existed

    def remove(self, clientid: str, real_filter: str, share_group: str | None) -> bool:
        path = [self._root]
        for level in real_filter.split("/"):
            nxt = path[-1].children.get(level)
            if nxt is None:
                return False
            path.append(nxt)
        node = path[-1]
        if share_group is None:
            removed = node.subs.pop(clientid, None) is not None
        else:
            group = node.shared.get(share_group)
            removed = group is not None and group.members.pop(clientid, None) is not None
            if group is not None and not group.members:
                del node.shared[share_group]
            self.shared_count -= removed
        if removed:
            self.count -= 1
            self._cache.clear()
            levels = real_filter.split("/")
            for depth in range(len(levels), 0, -1):
                if path[depth].empty():
                    del path[depth - 1].children[levels[depth - 1]]
                else:
                    break
        return removed

    def match(self, topic: str) -> tuple[_Node, ...]:
        nodes = self._cache.get(topic)
        if nodes is None:
            found: list[_Node] = []
            _walk(self._root, topic.split("/"), 0, topic.startswith("$"), found)
            nodes = tuple(n for n in found if n.subs or n.shared)
            if len(self._cache) >= _MATCH_CACHE_MAX:
                self._cache.clear()
            self._cache[topic] = nodes
        return nodes


def _walk(node: _Node, levels: list[str], i: int, dollar: bool, found: list[_Node]) -> None:
    # [MQTT-4.7.2-1] a topic starting with "$" is not matched by a filter starting with a wildcard.
    wild_ok = not (dollar and i == 0)
    if wild_ok:
        hash_node = node.children.get("#")
        if hash_node is not None:
            found.append(hash_node)
    if i == len(levels):
        found.append(node)
        return
    child = node.children.get(levels[i])
    if child is not None:
        _walk(child, levels, i + 1, dollar, found)
    if wild_ok:
        plus = node.children.get("+")
        if plus is not None:
            _walk(plus, levels, i + 1, dollar, found)


class _RetainedNode:
    __slots__ = ("children", "message")

    def __init__(self) -> None:
        self.children: dict[str, _RetainedNode] = {}
        self.message: Message | None = None


class RetainedTree:
    """Retained messages by topic; `match` finds those a (possibly wildcard) filter selects."""

    def __init__(self) -> None:
        self._root = _RetainedNode()
        self._by_topic: dict[str, Message] = {}

    def __len__(self) -> int:
        return len(self._by_topic)

    def get(self, topic: str) -> Message | None:
        return self._by_topic.get(topic)

    def topics(self) -> list[str]:
        return list(self._by_topic)

    def set(self, message: Message) -> None:
        node = self._root
        for level in message.topic.split("/"):
            node = node.children.setdefault(level, _RetainedNode())
        node.message = message
        self._by_topic[message.topic] = message

    def delete(self, topic: str) -> bool:
        if self._by_topic.pop(topic, None) is None:
            return False
        levels = topic.split("/")
        path = [self._root]
        for level in levels:
            path.append(path[-1].children[level])
        path[-1].message = None
        for depth in range(len(levels), 0, -1):
            node = path[depth]
            if node.children or node.message is not None:
                break
            del path[depth - 1].children[levels[depth - 1]]
        return True

    def match(self, topic_filter: str) -> Iterator[Message]:
        yield from _retained_walk(self._root, topic_filter.split("/"), 0)


def _retained_walk(node: _RetainedNode, levels: list[str], i: int) -> Iterator[Message]:
    if i == len(levels):
        if node.message is not None:
            yield node.message
        return
    level = levels[i]
    if level == "#":
        yield from _subtree(node, skip_dollar=i == 0)
    elif level == "+":
        for name, child in node.children.items():
            if i == 0 and name.startswith("$"):
                continue
            yield from _retained_walk(child, levels, i + 1)
    else:
        exact = node.children.get(level)
        if exact is not None:
            yield from _retained_walk(exact, levels, i + 1)


def _subtree(node: _RetainedNode, skip_dollar: bool) -> Iterator[Message]:
    if node.message is not None and not skip_dollar:
        yield node.message
    for name, child in node.children.items():
        if skip_dollar and name.startswith("$"):
            continue
        yield from _subtree(child, False)
