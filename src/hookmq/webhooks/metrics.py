"""Per-webhook metrics (delivery.md "Observability"), for the REST API, the dashboard and Prometheus ``/metrics``.

The delivery code bumps plain attributes of a `WebhookMetrics` (``metrics.success += 1``): it runs for every
event, so there is no lock and no method call, and one event loop owns the object. Readers take a `snapshot`
(JSON for the API and dashboard) or scrape a `WebhookCollector`.

The counters keep delivery.md's "Truthful accounting": matched = success + failed + dropped + queuing + inflight.
``retried`` counts extra attempts, not events, so it is outside that sum.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = [
    "LATENCY_BUCKETS", "STATUSES", "Histogram", "Status", "WebhookCollector", "WebhookMetrics", "render_prometheus",
]

Status = Literal["connected", "connecting", "disconnected", "disabled", "circuit_open"]
STATUSES: Final[tuple[Status, ...]] = ("connected", "connecting", "disconnected", "disabled", "circuit_open")

# Seconds: from a receiver on the same host to EMQX's default 15 s request timeout and beyond.
LATENCY_BUCKETS: Final[tuple[float, ...]] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)
RATE_WINDOW: Final = 10.0  # seconds over which `WebhookMetrics.snapshot` reports the matched rate


class Histogram:
    """Request latencies in fixed buckets, as Prometheus keeps them, plus the smallest and largest seen.

    The extremes make quantile estimates exact at the ends and bounded in the open ``+Inf`` bucket, where
    Prometheus's ``histogram_quantile`` can only answer the highest finite bound.
    """

    __slots__ = ("_bounds", "_counts", "count", "max", "min", "sum")

    def __init__(self) -> None:
        self._bounds = LATENCY_BUCKETS
        self._counts = [0] * (len(self._bounds) + 1)  # per bucket, not cumulative; the last one is +Inf
        self.count = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")

    def __repr__(self) -> str:
        return f"Histogram(count={self.count}, sum={self.sum:g})"

    def observe(self, seconds: float) -> None:
        self._counts[bisect_left(self._bounds, seconds)] += 1  # bucket "le" holds values <= its bound
        self.count += 1
        self.sum += seconds
        if seconds < self.min:
            self.min = seconds
        if seconds > self.max:
            self.max = seconds

    def buckets(self) -> list[tuple[float, int]]:
        """Cumulative ``(le, count)`` pairs, the last one ``(inf, count)``."""
        out, total = [], 0
        for bound, n in zip((*self._bounds, float("inf")), self._counts, strict=True):
            total += n
            out.append((bound, total))
        return out

    def quantile(self, q: float) -> float | None:
        """An estimate of the q-quantile (0 <= q <= 1), interpolated linearly inside its bucket; None if empty."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q must be from 0 to 1, got {q}")
        if not self.count:
            return None
        rank = q * self.count  # at most count, so the walk below stops inside the counts
        counts, below, i = self._counts, 0, 0
        while not counts[i] or below + counts[i] < rank:
            below += counts[i]
            i += 1
        low = max(self._bounds[i - 1] if i else 0.0, self.min)
        high = min(self._bounds[i] if i < len(self._bounds) else self.max, self.max)
        # min() again: the interpolation may round one ulp past the largest value observed
        return min(high, low + (high - low) * (rank - below) / counts[i])


@dataclass(slots=True, eq=False)
class WebhookMetrics:
    """One webhook's counters and gauges, set directly by the delivery code."""

    matched: int = 0
    success: int = 0
    failed: int = 0
    retried: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason ("queue_full", "expired", ...) -> events
    inflight: int = 0  # events in requests sent and not yet answered
    queuing: int = 0  # events waiting in the durable queue
    latency: Histogram = field(default_factory=Histogram)
    status: Status = "connecting"
    status_reason: str = ""  # plain words for the dashboard, e.g. "410 Gone from the receiver"
    # (monotonic time, matched) samples for the rate
    _samples: deque[tuple[float, int]] = field(default_factory=deque, init=False, repr=False)

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n

    def reset(self) -> None:
        """Zero the counters and the latency histogram (EMQX's "reset metrics"). Gauges describe the present
        and stay; ``matched`` restarts at what is still queued or in flight, so the accounting still adds up."""
        self.matched = self.queuing + self.inflight
        self.success = self.failed = self.retried = 0
        self.dropped = {}
        self.latency = Histogram()
        self._samples.clear()

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """JSON-ready values for the API and dashboard; ``now`` (``time.monotonic()``) is for tests."""
        latency = self.latency
        p50, p99 = latency.quantile(0.5), latency.quantile(0.99)
        return {
            "matched": self.matched,
            "success": self.success,
            "failed": self.failed,
            "retried": self.retried,
            "dropped": sum(self.dropped.values()),
            "dropped_by_reason": dict(self.dropped),
            "inflight": self.inflight,
            "queuing": self.queuing,
            "latency": {
                "count": latency.count,
                "avg_ms": _ms(latency.sum / latency.count) if latency.count else None,
                "p50_ms": None if p50 is None else _ms(p50),
                "p99_ms": None if p99 is None else _ms(p99),
            },
            "status": self.status,
            "status_reason": self.status_reason,
            "rate": round(self._rate(time.monotonic() if now is None else now), 2),
        }

    def _rate(self, now: float) -> float:
        """Matched events per second over about the last `RATE_WINDOW` seconds, as EMQX's dashboard shows.

        Sampling happens here, at most once a second, so an unwatched webhook costs nothing. When snapshots
        are rarer than the window, the rate covers the time since the previous one.
        """
        samples = self._samples
        if not samples or now - samples[-1][0] >= 1.0:
            samples.append((now, self.matched))
        while len(samples) > 1 and now - samples[1][0] >= RATE_WINDOW:
            samples.popleft()
        since, matched = samples[0]
        return (self.matched - matched) / (now - since) if now > since else 0.0


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


class WebhookCollector:
    """A Prometheus collector of every webhook's metrics, each series labelled ``webhook="<name>"``.

    ``source`` is called on each scrape, so webhooks added or removed since the last one are reflected.
    """

    def __init__(self, source: Callable[[], Iterable[tuple[str, WebhookMetrics]]]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        prefix = "hookmq_webhook_"
        by_name = list(self._source())
        for attr, doc in (("matched", "Events that matched the webhook."),
                          ("success", "Events the receiver answered with 2xx."),
                          ("failed", "Events given up on: a non-retryable answer or the retry policy ran out."),
                          ("retried", "Attempts after the first one.")):
            counter = CounterMetricFamily(prefix + attr, doc, labels=["webhook"])
            for name, metrics in by_name:
                counter.add_metric([name], getattr(metrics, attr))
            yield counter
        dropped = CounterMetricFamily(prefix + "dropped", "Events dropped before delivery, by reason.",
                                      labels=["webhook", "reason"])
        for name, metrics in by_name:
            for reason, n in sorted(metrics.dropped.items()):
                dropped.add_metric([name, reason], n)
        yield dropped
        for attr, doc in (("inflight", "Events in requests sent and not yet answered."),
                          ("queuing", "Events waiting in the durable queue.")):
            gauge = GaugeMetricFamily(prefix + attr, doc, labels=["webhook"])
            for name, metrics in by_name:
                gauge.add_metric([name], getattr(metrics, attr))
            yield gauge
        status = GaugeMetricFamily(prefix + "status", "1 for the webhook's current status, 0 for the others.",
                                   labels=["webhook", "status"])
        for name, metrics in by_name:
            for value in STATUSES:
                status.add_metric([name, value], 1 if metrics.status == value else 0)
        yield status
        latency = HistogramMetricFamily(prefix + "request_duration_seconds",
                                        "Time from sending a request to its response.", labels=["webhook"])
        for name, metrics in by_name:
            latency.add_metric([name], [(_le(bound), n) for bound, n in metrics.latency.buckets()],
                               metrics.latency.sum)
        yield latency


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)  # as the Go client writes bounds: "0.5", "1.0"


def render_prometheus(*collectors: Collector) -> tuple[bytes, str]:
    """The ``/metrics`` body and its content type, from these collectors only.

    A fresh registry per call keeps nodes in one process (tests) apart; the default registry is process-wide.
    """
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST
