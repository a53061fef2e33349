"""The delivery log: a webhook's recent request attempts, for the dashboard (delivery.md "Observability").

When a receiver misbehaves the user's first question is "what did it answer?", which counters cannot tell.
Each webhook keeps its last attempts in memory (time, status, latency, response snippet, error); the log is
bounded, so a flood of failures costs a fixed amount of memory, and it is not durable: it explains the recent
past, while the durable queue and the dead-letter table hold the events themselves.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, Final

__all__ = ["OUTCOMES", "SNIPPET_CHARS", "Attempt", "DeliveryLog", "snippet"]

# success: 2xx; retry: will be tried again; failed: given up; gone: 410, the webhook is disabled;
# test: a request of the dashboard's Test button.
OUTCOMES: Final = ("success", "retry", "failed", "gone", "test")
SNIPPET_CHARS: Final = 512


def snippet(body: bytes) -> str:
    """The start of a response body as text, at most `SNIPPET_CHARS` characters, invalid UTF-8 replaced."""
    # A character takes at most 4 bytes (an invalid byte becomes one U+FFFD), so decoding this much of a
    # large body is enough; a character cut at the end of the slice lies beyond the kept characters.
    return body[:4 * SNIPPET_CHARS].decode("utf-8", "replace")[:SNIPPET_CHARS]


# Made once per request on the delivery hot path, so not frozen (a frozen dataclass's __init__ costs about 3x);
# treat it as read-only all the same.
@dataclass(slots=True, kw_only=True)
class Attempt:
    """One request and what came of it."""

    at: float  # unix seconds, when the request was sent
    delivery_id: str  # the webhook-id ("" for a Test request)
    event: str  # e.g. "message.publish"; "batch" for a batched request
    attempt: int  # 1 = the first try
    outcome: str  # one of OUTCOMES
    status: int | None  # HTTP status; None when there was no response
    latency_ms: float | None
    error: str | None  # plain words: why there was no response, or why it failed
    response: str  # `snippet` of the response body

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class DeliveryLog:
    """The last ``maxlen`` attempts of one webhook; the oldest make way."""

    def __init__(self, maxlen: int = 200) -> None:
        self._attempts: deque[Attempt] = deque(maxlen=maxlen)

    def add(self, attempt: Attempt) -> None:
        self._attempts.append(attempt)

    def recent(self, limit: int = 50, outcome: str | None = None) -> list[Attempt]:
        """Up to ``limit`` attempts, newest first, only those with ``outcome`` if given."""
        newest_first: Iterator[Attempt] = reversed(self._attempts)
        if outcome is not None:
            newest_first = (a for a in newest_first if a.outcome == outcome)
        return list(islice(newest_first, limit))

    def __len__(self) -> int:
        return len(self._attempts)
