"""delivery.md's promises under faults, with real processes: a dead, failing, slow or restarting receiver,
and ``kill -9`` of hookmq itself. Nothing is lost; redeliveries carry the same ``webhook-id``."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt

from hookmq.webhooks.service import QUEUE_FILE
from tests.helpers import BrokerProcess, BrokerThread, http_get, wait_for
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import accounted, publish, snapshot


def webhook_config(path: Path, url: str, **extra: str) -> Path:
    lines = ["[[webhooks]]", 'name = "hook"', f'url = "{url}"', 'events = ["message.publish"]',
             *(f"{key} = {value}" for key, value in extra.items()),
             "[webhooks.retry]", 'initial_backoff = "10ms"', 'max_backoff = "200ms"']
    path.write_text("\n".join(lines) + "\n")
    return path


def prometheus(proc: BrokerProcess, *names: str) -> float:
    """The sum of these metrics of webhook ``hook``, read from one scrape (so they agree with each other)."""
    total = 0.0
    for line in http_get(proc.addresses["http"][1], "/metrics", proc.data_dir).decode().splitlines():
        for name in names:
            if line.startswith(f'{name}{{webhook="hook"}}'):
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_receiver_down_while_5000_qos1_messages_are_published_then_all_arrive(tmp_path: Path) -> None:
    receiver = Receiver()  # its port is chosen, nothing listens yet: connection refused
    proc = BrokerProcess(tmp_path / "data", "--config", str(webhook_config(tmp_path / "hq.toml", receiver.url))).start()
    try:
        payloads = [b"m%05d" % n for n in range(5000)]
        publish(proc.port, "t/down", payloads)
        assert prometheus(proc, "hookmq_webhook_queuing", "hookmq_webhook_inflight") == 5000
        assert prometheus(proc, "hookmq_webhook_success_total") == 0
        with receiver:
            events = receiver.wait_count(5000, timeout=90)
            assert {event["payload"] for event in events} == {p.decode() for p in payloads}
            wait_for(lambda: prometheus(proc, "hookmq_webhook_success_total") == 5000, message="5000 successes")
    finally:
        proc.stop()


def queued_in_file(data: Path) -> int:
    """Rows of webhook ``hook`` in the durable queue, read by a second process as a crash would leave them."""
    with sqlite3.connect(f"file:{data / QUEUE_FILE}?mode=ro", uri=True) as conn:
        (count,) = conn.execute("SELECT count(*) FROM deliveries WHERE webhook = 'hook'").fetchone()
    return int(count)


def test_kill_9_with_events_queued_loses_nothing_and_redeliveries_keep_their_webhook_id(tmp_path: Path) -> None:
    receiver = Receiver()  # down at first
    config = webhook_config(tmp_path / "hq.toml", receiver.url)
    data = tmp_path / "data"
    payloads = {f"k{n:03d}" for n in range(300)}
    proc = BrokerProcess(data, "--config", str(config)).start()
    try:
        publish(proc.port, "t/kill", [p.encode() for p in sorted(payloads)])
        wait_for(lambda: queued_in_file(data) == 300, 30, "300 events in the queue file")
        receiver.delay = 0.3  # requests are in flight when the process dies
        receiver.start()
        wait_for(lambda: len(receiver.requests) >= 10, 30, "some deliveries")
        proc.signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.stop()
    try:
        receiver.delay = 0
        restarted = BrokerProcess(data, "--config", str(config)).start()
        try:
            wait_for(lambda: {event["payload"] for event in receiver.events()} == payloads, 60, "all 300 delivered")
        finally:
            restarted.stop()
    finally:
        receiver.stop()
    ids: dict[str, set[str]] = defaultdict(set)
    for request in receiver.requests:
        ids[request.json()["payload"]].add(request.headers["webhook-id"])
    assert all(len(found) == 1 for found in ids.values()), "a redelivery changed its webhook-id"


def in_flight_in_file(data: Path) -> int:
    with sqlite3.connect(f"file:{data / QUEUE_FILE}?mode=ro", uri=True) as conn:
        (count,) = conn.execute("SELECT count(*) FROM deliveries WHERE state = 1").fetchone()
    return int(count)


def test_a_graceful_stop_puts_back_every_event_held_in_memory(tmp_path: Path) -> None:
    """Events leased ahead or claimed at enqueue wait in the runtime's memory, in flight in the queue: a stop
    hands them back (ready, nothing in flight), and the next start delivers each exactly once."""
    receiver = Receiver()  # down: the circuit breaker opens and the events wait in memory and in the queue
    config = webhook_config(tmp_path / "hq.toml", receiver.url)
    data = tmp_path / "data"
    payloads = {f"g{n:04d}" for n in range(3000)}
    proc = BrokerProcess(data, "--config", str(config)).start()
    try:
        publish(proc.port, "t/stop", [p.encode() for p in sorted(payloads)])
        wait_for(lambda: queued_in_file(data) == 3000, 30, "3000 events in the queue file")
        assert proc.stop() == 0
    finally:
        proc.stop()
    assert in_flight_in_file(data) == 0
    with receiver:
        restarted = BrokerProcess(data, "--config", str(config)).start()
        try:
            wait_for(lambda: len(receiver.events()) >= 3000, 60, "all 3000 delivered")
        finally:
            restarted.stop()
    delivered = [event["payload"] for event in receiver.events()]
    assert sorted(delivered) == sorted(payloads)  # each exactly once


def test_receiver_answering_503_for_a_while_then_200_gets_everything(
        hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    receiver.respond(503)
    node = hooked_broker()
    publish(node.port, "t/flaky", [b"%d" % n for n in range(500)])
    wait_for(lambda: len(receiver.rejected) >= 20, 30, "20 refused attempts")
    # The circuit breaker opened after 5 failures: the rest waited in the queue instead of burning attempts.
    assert snapshot(node)["status"] == "circuit_open"
    receiver.respond(200)
    events = receiver.wait_count(500, timeout=60)
    assert {event["payload"] for event in events} == {str(n) for n in range(500)}
    metrics = wait_for(lambda: (m := snapshot(node))["success"] == 500 and m, message="500 successes")
    assert metrics["failed"] == 0 and metrics["retried"] >= 20 and accounted(metrics)
    assert metrics["status"] == "connected"


def test_slow_receiver_does_not_slow_mqtt(hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    receiver.delay = 2.0
    node = hooked_broker(max_inflight=2, pool_size=2)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="timer", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", node.port)
    client.loop_start()
    try:
        worst = 0.0
        for n in range(200):
            start = time.monotonic()
            client.publish("t/slow", b"%d" % n, qos=1).wait_for_publish(10)
            worst = max(worst, time.monotonic() - start)
    finally:
        client.disconnect()
        client.loop_stop()
    # Each request takes 2 s and only 2 are out at a time: an inline webhook would take minutes.
    assert worst < 1.0, f"a QoS 1 publish took {worst:.2f}s behind a slow receiver"
    assert len(receiver.requests) <= 4
    metrics = snapshot(node)
    assert metrics["matched"] == 200 and accounted(metrics)


def test_client_ordering_holds_under_concurrency_and_failures(
        hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    receiver.fail_randomly(0.15, seed=7)
    node = hooked_broker(ordering='client', max_inflight=16, pool_size=4)
    clients = [f"dev{n}" for n in range(6)]
    threads = [threading.Thread(target=publish, args=(node.port, f"t/{cid}", [b"%d" % n for n in range(150)]),
                                kwargs={"client_id": cid}) for cid in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    events = receiver.wait_count(900, timeout=60)
    by_client: dict[str, list[int]] = defaultdict(list)
    for event in events:
        by_client[event["clientid"]].append(int(event["payload"]))
    for cid in clients:
        assert by_client[cid] == list(range(150)), f"{cid} out of order"
    assert len(receiver.rejected) > 0  # failures happened, and order held through their retries


def test_concurrent_publishers_with_a_flaky_receiver_lose_nothing(
        hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    """Claimed and leased events, retries and releases all mixed: every event arrives, none is stranded."""
    receiver.fail_randomly(0.05, seed=11)
    node = hooked_broker(max_inflight=8, pool_size=2)
    threads = [threading.Thread(target=publish, args=(node.port, f"t/{n}", [b"%d-%d" % (n, i) for i in range(1000)]),
                                kwargs={"client_id": f"p{n}"}) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    events = receiver.wait_count(4000, timeout=60)
    assert {event["payload"] for event in events} == {f"{n}-{i}" for n in range(4) for i in range(1000)}
    metrics = wait_for(lambda: (m := snapshot(node))["success"] >= 4000 and accounted(m) and m, message="settled")
    assert metrics["queuing"] == 0 and metrics["inflight"] == 0


def test_topic_ordering_holds_per_topic(hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    receiver.fail_randomly(0.1, seed=3)
    node = hooked_broker(ordering="topic", max_inflight=16, pool_size=4)

    def publish_two_topics(n: int) -> None:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"multi{n}", protocol=mqtt.MQTTv5)
        client.max_inflight_messages_set(1000)
        client.connect("127.0.0.1", node.port)
        client.loop_start()
        try:
            infos = [client.publish(f"room/{n}/{i % 2}", b"%d" % i, qos=1) for i in range(200)]
            for info in infos:
                info.wait_for_publish(20)
        finally:
            client.disconnect()
            client.loop_stop()

    threads = [threading.Thread(target=publish_two_topics, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    events = receiver.wait_count(600, timeout=60)
    by_topic: dict[str, list[int]] = defaultdict(list)
    for event in events:
        by_topic[event["topic"]].append(int(event["payload"]))
    assert len(by_topic) == 6
    for topic, seen in by_topic.items():
        assert seen == sorted(seen) and len(seen) == 100, f"{topic} out of order"
