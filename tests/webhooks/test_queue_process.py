"""`QueueProcess`: the durable queue served by its own process (`hookmq.store.queue_server`), for real."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hookmq.store import DeliveryQueue, NewDelivery, StoreError
from hookmq.webhooks.delivery import QueueProcess
from hookmq.webhooks.service import QUEUE_FILE
from tests.helpers import BrokerThread, wait_for
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import accounted, publish, snapshot


def item(n: int, **changes: object) -> NewDelivery:
    fields: dict[str, object] = {
        "webhook": "hook", "delivery_id": f"msg_{n}", "event": "message.publish", "order_key": None,
        "body": b'{"n":%d}' % n, "headers": b"", "created_at": 1.0, "budget_bytes": 1 << 20,
        "overflow": "drop_oldest"}
    fields.update(changes)
    return NewDelivery(**fields)  # type: ignore[arg-type]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers signal 0: it has exited all the same.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "Z"


def test_calls_run_in_the_server_and_answers_come_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        queue = QueueProcess(tmp_path / "q.db")
        await queue.start()
        try:
            result = await queue.call(DeliveryQueue.enqueue, [item(n) for n in range(3)])
            assert result.accepted == 3 and result.ids == [1, 2, 3]
            leased = await queue.call(DeliveryQueue.lease, "hook", time.time(), 10, False)
            assert [(d.id, d.delivery_id, d.body) for d in leased] == [
                (1, "msg_0", b'{"n":0}'), (2, "msg_1", b'{"n":1}'), (3, "msg_2", b'{"n":2}')]
            settled = await queue.call(DeliveryQueue.settle, acked=[1, 2])
            assert settled.acked == 2
            stats = await queue.call(DeliveryQueue.stats, "hook")
            assert (stats.queued, stats.inflight) == (0, 1)
        finally:
            await queue.close()

    asyncio.run(scenario())
    with DeliveryQueue(tmp_path / "q.db") as reopened:  # committed before the answers came back
        assert reopened.stats("hook").inflight == 1


def test_a_failing_call_fails_alone_in_its_group(tmp_path: Path) -> None:
    async def scenario() -> tuple[object, ...]:
        queue = QueueProcess(tmp_path / "q.db")
        await queue.start()
        try:
            # Made in one loop iteration: they travel together and share one transaction.
            return tuple(await asyncio.gather(
                queue.call(DeliveryQueue.enqueue, [item(1)]),
                queue.call(DeliveryQueue.enqueue, [item(2, overflow="drop_everything")]),
                queue.call(DeliveryQueue.stats, "hook"),
                return_exceptions=True))
        finally:
            await queue.close()

    first, second, stats = asyncio.run(scenario())
    assert isinstance(second, ValueError) and "drop_everything" in str(second)
    assert getattr(first, "accepted", None) == 1 and getattr(stats, "queued", None) == 1


def test_a_file_that_is_not_a_queue_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    path.write_bytes(b"not a database at all" * 100)

    async def scenario() -> None:
        await QueueProcess(path).start()

    with pytest.raises(StoreError, match=str(path)):
        asyncio.run(scenario())


def test_calls_fail_with_a_clear_error_once_the_process_is_gone(tmp_path: Path) -> None:
    async def scenario() -> None:
        queue = QueueProcess(tmp_path / "q.db")
        await queue.start()
        try:
            assert queue._process is not None
            queue._process.kill()
            with pytest.raises(StoreError, match="queue process stopped"):
                await queue.call(DeliveryQueue.stats, "hook")
            with pytest.raises(StoreError, match="queue process stopped"):
                await queue.call(DeliveryQueue.stats, "hook")
        finally:
            await queue.close()

    asyncio.run(scenario())


def test_the_server_stops_with_its_parent_and_keeps_what_was_committed(tmp_path: Path) -> None:
    """``kill -9`` of the broker: the queue process reads end of input, stops, and the committed rows stay."""
    script = textwrap.dedent(f"""
        import asyncio, os, signal
        from hookmq.store import DeliveryQueue
        from hookmq.webhooks.delivery import QueueProcess
        from tests.webhooks.test_queue_process import item

        async def main():
            queue = QueueProcess({str(tmp_path / "q.db")!r})
            await queue.start()
            await queue.call(DeliveryQueue.enqueue, [item(n) for n in range(50)])
            print(queue._process.pid, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
    """)
    parent = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).parents[2])
    assert parent.returncode == -signal.SIGKILL, parent.stderr
    server = int(parent.stdout.split()[0])
    wait_for(lambda: gone(server), 10, "the queue process to stop")
    with DeliveryQueue(tmp_path / "q.db") as reopened:
        assert reopened.stats("hook").queued == 50


def test_a_node_runs_its_queue_process_only_once_it_has_a_webhook(broker: BrokerThread, receiver: Receiver) -> None:
    webhooks = broker.node.webhooks  # type: ignore[union-attr]
    assert webhooks._queue._process is None  # no webhook: no process, no file
    assert not (broker.settings.data_dir / QUEUE_FILE).exists()
    broker.run(webhooks.create({"name": "hook", "url": receiver.url, "events": ["message.publish"]}))
    process = webhooks._queue._process
    assert process is not None and process.poll() is None
    publish(broker.port, "t/lazy", [b"1"])
    assert receiver.wait_count(1)[0]["payload"] == "1"


def test_if_the_queue_process_dies_mqtt_goes_on_and_the_loss_is_counted_and_said(
        hooked_broker: Callable[..., BrokerThread], receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    node = hooked_broker()
    publish(node.port, "t/before", [b"0"])
    receiver.wait_count(1)
    queue = node.node.webhooks._queue  # type: ignore[union-attr]
    queue._process.kill()
    wait_for(lambda: queue._gone is not None, message="the parent to see the process gone")
    publish(node.port, "t/after", [b"%d" % n for n in range(300)])  # every PUBACK arrives
    metrics = wait_for(lambda: (m := snapshot(node))["dropped"] == 300 and m, message="300 counted dropped")
    assert metrics["dropped_by_reason"]["store_error"] == 300 and accounted(metrics)
    stored = [r for r in caplog.records if "could not store" in r.getMessage()]
    assert 1 <= len(stored) <= 2 and "queue process stopped" in stored[0].getMessage()
    assert any("stopped unexpectedly" in r.getMessage() for r in caplog.records)
