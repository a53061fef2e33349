"""Per-webhook metrics: counters, the latency histogram and its quantiles, the snapshot, Prometheus exposition."""

from __future__ import annotations

import bisect
import math
from typing import get_args

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from hookmq.webhooks.metrics import (
    LATENCY_BUCKETS,
    STATUSES,
    Histogram,
    Status,
    WebhookCollector,
    WebhookMetrics,
    render_prometheus,
)

LATENCIES = st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1, max_size=200)


def histogram(values: list[float]) -> Histogram:
    h = Histogram()
    for value in values:
        h.observe(value)
    return h


def parse(text: bytes) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(text.decode())}


def samples(families: dict[str, Metric], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Sample name ``name`` of its family: sorted labels -> value."""
    family = families[name.removesuffix("_total").removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")]
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples if s.name == name}


# ----------------------------------------------------------------------------------------- histogram


def test_buckets_are_sorted_and_about_fourteen() -> None:
    assert list(LATENCY_BUCKETS) == sorted(set(LATENCY_BUCKETS))
    assert LATENCY_BUCKETS[0] == 0.001 and LATENCY_BUCKETS[-1] == 30.0
    assert 12 <= len(LATENCY_BUCKETS) <= 16


def test_histogram_buckets_cumulative_and_le_inclusive() -> None:
    h = histogram([0.001, 0.0011, 0.02, 0.02, 45.0])
    assert h.count == 5
    assert h.sum == pytest.approx(45.0421)
    buckets = dict(h.buckets())
    assert list(buckets) == [*LATENCY_BUCKETS, math.inf]
    assert buckets[0.001] == 1  # a value on a bound counts in that bucket, as Prometheus' "le" says
    assert buckets[0.0025] == 2
    assert buckets[0.025] == 4
    assert buckets[30.0] == 4
    assert buckets[math.inf] == 5


def test_empty_histogram() -> None:
    h = Histogram()
    assert h.count == 0 and h.sum == 0
    assert h.quantile(0.5) is None
    assert all(n == 0 for _, n in h.buckets())


def test_quantile_rejects_q_outside_0_1() -> None:
    with pytest.raises(ValueError, match="from 0 to 1"):
        histogram([1.0]).quantile(1.5)


@given(st.floats(min_value=0, max_value=1000, allow_nan=False), st.floats(min_value=0, max_value=1))
def test_quantile_of_one_observation_is_that_observation(value: float, q: float) -> None:
    assert histogram([value]).quantile(q) == value


def test_quantile_interpolates_inside_the_bucket() -> None:
    h = histogram([0.1 + 0.0015 * i for i in range(100)])  # 0.1 .. 0.2485, all in (0.1, 0.25] but the first
    p50 = h.quantile(0.5)
    assert p50 is not None and 0.15 < p50 < 0.2
    assert h.quantile(0) == 0.1
    assert h.quantile(1) == pytest.approx(0.2485)


def test_quantile_in_the_open_bucket_stays_below_the_largest_observation() -> None:
    h = histogram([45.0, 60.0])  # beyond the last bound: Prometheus would answer 30
    p99 = h.quantile(0.99)
    assert p99 is not None and 30.0 <= p99 <= 60.0


@given(LATENCIES, st.floats(min_value=0, max_value=1), st.floats(min_value=0, max_value=1))
def test_quantile_monotonic_and_within_observations(values: list[float], q1: float, q2: float) -> None:
    h = histogram(values)
    low, high = sorted((q1, q2))
    est_low, est_high = h.quantile(low), h.quantile(high)
    assert est_low is not None and est_high is not None
    assert min(values) <= est_low <= est_high <= max(values)


@given(LATENCIES, st.floats(min_value=0, max_value=1))
def test_quantile_lies_in_the_bucket_of_the_true_quantile(values: list[float], q: float) -> None:
    h = histogram(values)
    true = sorted(values)[max(1, math.ceil(q * len(values))) - 1]
    i = bisect.bisect_left(LATENCY_BUCKETS, true)
    lower = LATENCY_BUCKETS[i - 1] if i else 0.0
    upper = LATENCY_BUCKETS[i] if i < len(LATENCY_BUCKETS) else math.inf
    estimate = h.quantile(q)
    assert estimate is not None and lower <= estimate <= upper


@given(LATENCIES)
def test_buckets_count_values_up_to_their_bound(values: list[float]) -> None:
    h = histogram(values)
    assert h.buckets() == [(le, sum(v <= le for v in values)) for le in (*LATENCY_BUCKETS, math.inf)]
    assert h.sum == pytest.approx(sum(values))


# ------------------------------------------------------------------------------------------ snapshot


def test_status_literal_matches_statuses() -> None:
    assert get_args(Status) == STATUSES


def test_counters_and_snapshot() -> None:
    m = WebhookMetrics()
    assert m.status == "connecting" and m.status_reason == ""
    m.matched += 11
    m.success += 5
    m.failed += 1
    m.retried += 3
    m.drop("queue_full")
    m.drop("queue_full", 2)
    m.drop("expired")
    m.inflight = 1
    m.queuing = 0
    for seconds in (0.010, 0.020, 0.030):
        m.latency.observe(seconds)
    m.status, m.status_reason = "disabled", "410 Gone from the receiver"
    snap = m.snapshot(now=100.0)
    assert snap == {
        "matched": 11, "success": 5, "failed": 1, "retried": 3, "dropped": 4,
        "dropped_by_reason": {"queue_full": 3, "expired": 1}, "inflight": 1, "queuing": 0,
        "latency": {"count": 3, "avg_ms": 20.0, "p50_ms": snap["latency"]["p50_ms"],
                    "p99_ms": snap["latency"]["p99_ms"]},
        "status": "disabled", "status_reason": "410 Gone from the receiver", "rate": 0.0,
    }
    assert 10.0 <= snap["latency"]["p50_ms"] <= snap["latency"]["p99_ms"] <= 30.0
    # Truthful accounting (delivery.md): matched = success + failed + dropped + queuing + inflight.
    assert snap["matched"] == snap["success"] + snap["failed"] + snap["dropped"] + snap["queuing"] + snap["inflight"]
    assert orjson.loads(orjson.dumps(snap)) == snap
    snap["dropped_by_reason"]["queue_full"] = 0
    assert m.dropped["queue_full"] == 3  # the snapshot is a copy


def test_snapshot_of_fresh_metrics() -> None:
    snap = WebhookMetrics().snapshot()
    assert snap["latency"] == {"count": 0, "avg_ms": None, "p50_ms": None, "p99_ms": None}
    assert snap["dropped"] == 0 and snap["dropped_by_reason"] == {}
    assert snap["rate"] == 0.0


def test_rate_is_matched_per_second_over_about_ten_seconds() -> None:
    m = WebhookMetrics()
    assert m.snapshot(now=0.0)["rate"] == 0.0
    for second in range(1, 31):
        m.matched += 100
        assert m.snapshot(now=float(second))["rate"] == 100.0
    assert len(m._samples) <= 12  # bounded: about one sample per second of the window
    for second in range(31, 36):  # the traffic stops: the rate falls as the window slides
        rate = m.snapshot(now=float(second))["rate"]
        assert rate == pytest.approx(100 * (10 - (second - 30)) / 10)
    assert m.snapshot(now=45.0)["rate"] == 0.0


def test_rate_with_rare_snapshots_covers_the_time_between_them() -> None:
    m = WebhookMetrics()
    m.snapshot(now=0.0)
    m.matched += 600
    assert m.snapshot(now=60.0)["rate"] == 10.0


def test_snapshots_within_a_second_do_not_add_samples() -> None:
    m = WebhookMetrics()
    for tick in range(100):
        m.matched += 1
        m.snapshot(now=tick / 100)
    assert len(m._samples) == 1
    assert m.snapshot(now=0.995)["rate"] == round(99 / 0.995, 2)  # since the first sample, taken at 1 matched


# ------------------------------------------------------------------------------------------ prometheus


def two_webhooks() -> dict[str, WebhookMetrics]:
    orders, audit = WebhookMetrics(), WebhookMetrics()
    orders.matched, orders.success, orders.failed, orders.retried = 7, 4, 1, 2
    orders.drop("queue_full", 2)
    orders.inflight, orders.queuing = 0, 0
    orders.status = "connected"
    for seconds in (0.004, 0.2, 3.0):
        orders.latency.observe(seconds)
    audit.matched, audit.queuing = 3, 3
    audit.status, audit.status_reason = "circuit_open", "5 failures in a row"
    return {"orders": orders, "audit": audit}


def test_exposition_samples_and_labels() -> None:
    webhooks = two_webhooks()
    body, content_type = render_prometheus(WebhookCollector(lambda: webhooks.items()))
    assert content_type.startswith("text/plain")
    families = parse(body)
    assert families["hookmq_webhook_matched"].type == "counter"
    assert families["hookmq_webhook_inflight"].type == "gauge"
    assert families["hookmq_webhook_request_duration_seconds"].type == "histogram"
    for counter, values in {"matched": (7, 3), "success": (4, 0), "failed": (1, 0), "retried": (2, 0)}.items():
        assert samples(families, f"hookmq_webhook_{counter}_total") == {
            (("webhook", "orders"),): values[0], (("webhook", "audit"),): values[1]}
    assert samples(families, "hookmq_webhook_dropped_total") == {
        (("reason", "queue_full"), ("webhook", "orders")): 2}
    assert samples(families, "hookmq_webhook_queuing") == {(("webhook", "orders"),): 0, (("webhook", "audit"),): 3}
    assert samples(families, "hookmq_webhook_inflight") == {(("webhook", "orders"),): 0, (("webhook", "audit"),): 0}


def test_status_is_one_hot() -> None:
    families = parse(render_prometheus(WebhookCollector(lambda: two_webhooks().items()))[0])
    status = samples(families, "hookmq_webhook_status")
    assert len(status) == 2 * len(STATUSES)
    for webhook, current in (("orders", "connected"), ("audit", "circuit_open")):
        assert {s: status[(("status", s), ("webhook", webhook))] for s in STATUSES} == {
            s: 1.0 if s == current else 0.0 for s in STATUSES}


def test_histogram_exposition() -> None:
    families = parse(render_prometheus(WebhookCollector(lambda: two_webhooks().items()))[0])
    name = "hookmq_webhook_request_duration_seconds"
    buckets = {float(dict(labels)["le"]): value for labels, value in samples(families, name + "_bucket").items()
               if dict(labels)["webhook"] == "orders"}
    assert buckets == {le: n for le, n in two_webhooks()["orders"].latency.buckets()}
    assert buckets[0.005] == 1 and buckets[0.25] == 2 and buckets[5.0] == 3 and buckets[math.inf] == 3
    assert samples(families, name + "_count")[(("webhook", "orders"),)] == 3
    assert samples(families, name + "_sum")[(("webhook", "orders"),)] == pytest.approx(3.204)
    assert samples(families, name + "_count")[(("webhook", "audit"),)] == 0


def test_collector_reads_the_source_on_every_scrape() -> None:
    webhooks: dict[str, WebhookMetrics] = {}
    collector = WebhookCollector(lambda: webhooks.items())
    assert samples(parse(render_prometheus(collector)[0]), "hookmq_webhook_matched_total") == {}
    webhooks["new"] = WebhookMetrics(matched=1)
    assert samples(parse(render_prometheus(collector)[0]), "hookmq_webhook_matched_total") == {
        (("webhook", "new"),): 1}
    webhooks["new"].matched += 1
    assert samples(parse(render_prometheus(collector)[0]), "hookmq_webhook_matched_total") == {
        (("webhook", "new"),): 2}


def test_label_values_are_escaped() -> None:
    odd = 'a"b\\c\nd'
    families = parse(render_prometheus(WebhookCollector(lambda: [(odd, WebhookMetrics(matched=1))]))[0])
    assert samples(families, "hookmq_webhook_matched_total") == {(("webhook", odd),): 1}


class Uptime:
    def collect(self) -> list[Metric]:
        return [GaugeMetricFamily("hookmq_uptime_seconds", "Seconds since the node started.", value=12)]


def test_render_combines_collectors_and_leaves_the_default_registry_alone() -> None:
    collector = WebhookCollector(lambda: two_webhooks().items())
    for _ in range(2):  # a fresh registry each time: registering the same collector again is fine
        families = parse(render_prometheus(collector, Uptime())[0])
        assert families["hookmq_uptime_seconds"].samples[0].value == 12
        assert "hookmq_webhook_matched" in families
    assert b"hookmq_webhook" not in generate_latest(REGISTRY)


def test_reset_zeroes_counters_but_keeps_the_accounting() -> None:
    metrics = WebhookMetrics(matched=10, success=5, failed=1, retried=4, queuing=3, inflight=1)
    metrics.drop("queue_full")
    metrics.latency.observe(0.02)
    metrics.reset()
    snap = metrics.snapshot()
    assert (snap["matched"], snap["success"], snap["failed"], snap["retried"], snap["dropped"]) == (4, 0, 0, 0, 0)
    assert (snap["queuing"], snap["inflight"]) == (3, 1)
    assert metrics.latency.count == 0
