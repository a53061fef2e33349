"""What to do after an attempt: the response classification, the retry schedule and the circuit breaker.

All of it is delivery.md, as pure code with the clock and the randomness passed in, so every rule is tested
without waiting: "Classification of a response" (`classify`), "Retry policy" (`RetrySchedule`: exponential
backoff with full jitter, ``Retry-After``, ``max_age`` and ``max_attempts``) and the breaker that stops a
dead receiver from being hammered (`CircuitBreaker`).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Final

from .model import RetryPolicy

__all__ = ["BREAKER_THRESHOLD", "CircuitBreaker", "Outcome", "RetrySchedule", "classify", "parse_retry_after"]

BREAKER_THRESHOLD: Final = 5  # consecutive failed attempts that open the breaker
BREAKER_MAX_COOLDOWN: Final = 60.0  # seconds: a recovered receiver waits at most this long for the probe


class Outcome(enum.Enum):
    SUCCESS = "success"
    RETRY = "retry"  # try again later (retryable status, no response)
    FAIL = "failed"  # give up at once: dead letter
    GONE = "gone"  # 410: give up and disable the webhook (Standard Webhooks)


def classify(status: int | None, retry_statuses: frozenset[int] | list[int]) -> Outcome:
    """The delivery.md table. ``status`` None = no response (refused, reset, timeout, TLS): always retried.

    410 gives up and disables the webhook unless it is listed in ``retry_statuses``: an explicit retry status
    wins, so a receiver that misuses 410 can still be served. Redirects are not followed (as EMQX) and fail.
    """
    if status is None:
        return Outcome.RETRY
    if 200 <= status < 300:
        return Outcome.SUCCESS
    if status in retry_statuses:
        return Outcome.RETRY
    if status == 410:
        return Outcome.GONE
    return Outcome.FAIL


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP-date), or None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # isdigit() alone accepts '²' (header bytes are latin-1)
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """When to try a failed delivery again, or that it is time to give up."""

    policy: RetryPolicy

    def backoff(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform in [0, min(max_backoff, initial_backoff * factor ** (failures - 1))].

        ``failures`` counts failed attempts so far, the one just made included (1 after the first).
        """
        policy = self.policy
        exponent = min(failures - 1, 64)  # the cap is reached long before; keeps the power finite
        ceiling = min(policy.max_backoff, policy.initial_backoff * policy.factor ** exponent)
        return ceiling * rand()

    def next_attempt(self, *, failures: int, enqueued_at: float, now: float, retry_after: float | None = None,
                     rand: Callable[[], float] = random.random) -> float | str:
        """The time of the next attempt, or the reason to give up (``"max_attempts"``, ``"max_age"``).

        A ``Retry-After`` longer than the jittered backoff is honoured. An event whose next attempt would fall
        beyond ``max_age`` after its enqueue is given up now rather than kept waiting for a doomed attempt.
        """
        policy = self.policy
        if policy.max_attempts and failures >= policy.max_attempts:
            return "max_attempts"
        delay = self.backoff(failures, rand)
        if retry_after is not None:
            delay = max(delay, retry_after)
        when = now + delay
        if when - enqueued_at > policy.max_age:
            return "max_age"
        return when


class CircuitBreaker:
    """Stops sending to a receiver that keeps failing, so queued events wait instead of burning attempts.

    Closed: everything flows. After `BREAKER_THRESHOLD` consecutive failures it opens for a cool-down
    (``initial_backoff``, doubling on each failed probe, at most `BREAKER_MAX_COOLDOWN` or ``max_backoff``
    if smaller); then one request probes the receiver (half-open). A success closes it, a failure reopens it.
    """

    __slots__ = ("_base", "_cap", "cooldown", "failures", "open_until", "probing")

    def __init__(self, policy: RetryPolicy) -> None:
        self._cap = min(BREAKER_MAX_COOLDOWN, policy.max_backoff)
        self._base = min(policy.initial_backoff, self._cap)
        self.failures = 0  # consecutive
        self.cooldown = self._base
        self.open_until: float | None = None  # None = closed
        self.probing = False

    @property
    def is_open(self) -> bool:
        return self.open_until is not None

    def allows(self, now: float) -> int | None:
        """How many requests may start now: None = no limit (closed), 0 = none (open, or a probe is out),
        1 = send the probe."""
        if self.open_until is None:
            return None
        if self.probing or now < self.open_until:
            return 0
        return 1

    def start_probe(self) -> None:
        self.probing = True

    def success(self) -> None:
        self.failures = 0
        self.cooldown = self._base
        self.open_until = None
        self.probing = False

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.probing:
            self.probing = False
            self.cooldown = min(self._cap, self.cooldown * 2)
            self.open_until = now + self.cooldown
        elif self.open_until is None and self.failures >= BREAKER_THRESHOLD:
            self.open_until = now + self.cooldown
