"""The bus seam: the single path by which a message reaches subscribers' sessions.

Today it delivers in-process. A cluster (NATS later) replaces `LocalBus` with one that also forwards to the
other nodes; the broker only ever calls ``bus.publish(message)``, so nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .message import Message

__all__ = ["Bus", "LocalBus"]


class Bus(Protocol):
    def publish(self, message: Message) -> int:
        """Route ``message`` to every matching subscription; return how many sessions it reached."""
        ...


class LocalBus:
    def __init__(self, route_local: Callable[[Message], int]) -> None:
        self.publish = route_local
