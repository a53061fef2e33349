"""Delivery: matched events into the durable queue, and from the queue to the receiver, as delivery.md promises.

Three parts, all on the broker's event loop except the queue itself:

* `QueueThread` runs every `DeliveryQueue` call on one dedicated thread, in order (SQLite connections are
  not shared between threads, and the loop must never wait on disk).
* `Intake` is the MQTT hot path's only contact: a webhook's listener appends the event's JSON to a list
  (microseconds, never blocking) and one flusher writes whatever accumulated in one transaction — group
  commit whose size adapts to the load, with no fixed delay added to an idle system.
* `WebhookRuntime` delivers one webhook: it leases due events (one per order key when ``ordering`` is set),
  sends up to ``max_inflight`` requests (``batch_size`` events each) over its keep-alive `HttpPool`,
  classifies each answer (`policy.classify`), and settles the outcomes in groups (ack, retry with backoff,
  dead letter). A circuit breaker holds the queue while the receiver is down; 410 disables the webhook.

Accounting (delivery.md "Truthful accounting"): ``matched = success + failed + dropped + queuing + inflight``
at every moment, counted in events (a batch of 10 that succeeds is 10 successes). A dead letter replayed
counts as matched again. After a restart the counters start from what the queue holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, ParamSpec, TypeVar

from hookmq.events.hub import EventHub, Listener
from hookmq.store import Delivery, DeliveryQueue, EnqueueResult, Failure, NewDelivery, Retry

from .http import HttpError, HttpPool
from .log import Attempt, DeliveryLog, snippet
from .matching import Trigger
from .metrics import WebhookMetrics
from .model import WebhookConfig
from .policy import CircuitBreaker, Outcome, RetrySchedule, classify, parse_retry_after
from .request import RequestBuilder, batch_delivery_id, encode_event
from .signing import new_delivery_id, signature_headers

__all__ = ["MAX_PENDING", "Intake", "QueueThread", "WebhookRuntime"]

log = logging.getLogger(__name__)

MAX_PENDING: Final = 200_000  # events waiting for their group commit; beyond it they are dropped ("overload")
TEST_HEADER: Final = ("webhook-test", "true")

P = ParamSpec("P")
T = TypeVar("T")


class QueueThread:
    """The delivery queue behind one worker thread; ``await call(fn, ...)`` runs ``fn`` there."""

    def __init__(self, queue: DeliveryQueue) -> None:
        self.queue = queue
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="hookmq-queue")

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    async def close(self) -> None:
        await self.call(self.queue.close)
        self._executor.shutdown(wait=True)


class Intake:
    """Matched events -> the durable queue, in groups. ``add`` is all the MQTT hot path pays."""

    def __init__(self, thread: QueueThread, on_result: Callable[[EnqueueResult, dict[str, int]], None]) -> None:
        """``on_result(result, lost)`` runs after each group commit: what the queue did per webhook, and how
        many events per webhook were lost because the queue could not store the group at all."""
        self._thread = thread
        self._on_result = on_result
        self._pending: list[NewDelivery] = []
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        # The last event and its JSON: several webhooks on one event encode it once.
        self._last: tuple[dict[str, Any], str, bytes] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._flush_forever(), name="hookmq-webhook-intake")

    def encode(self, event: dict[str, Any], payload_encoding: str) -> bytes:
        last = self._last
        if last is not None and last[0] is event and last[1] == payload_encoding:
            return last[2]
        body = encode_event(event, payload_encoding)
        self._last = (event, payload_encoding, body)
        return body

    def add(self, item: NewDelivery) -> bool:
        """Queue one event for the next group commit; False (dropped) when the backlog is full."""
        if len(self._pending) >= MAX_PENDING:
            return False
        self._pending.append(item)
        if not self._ready.is_set():
            self._ready.set()
            self._idle.clear()
        return True

    async def drain(self) -> None:
        """Wait until everything added so far is committed."""
        while self._pending or not self._idle.is_set():
            await self._idle.wait()
            if self._pending:
                self._ready.set()
                self._idle.clear()

    async def stop(self) -> None:
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _flush_forever(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._pending = self._pending, []
            self._last = None
            try:
                if batch:
                    result = await self._thread.call(self._thread.queue.enqueue, batch)
                    self._on_result(result, {})
            except Exception:
                # The queue refused a whole group (disk full, I/O error): these events are lost, loudly.
                log.exception("webhook queue: could not store %d events", len(batch))
                self._on_result(EnqueueResult(), _count_by_webhook(batch))
            finally:
                if not self._pending:
                    self._idle.set()
                else:
                    self._ready.set()


def _count_by_webhook(batch: Iterable[NewDelivery]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in batch:
        counts[item.webhook] = counts.get(item.webhook, 0) + 1
    return counts


class WebhookRuntime:
    """Delivers one webhook: its listener, its HTTP pool, its dispatcher task, its metrics and log."""

    def __init__(self, config: WebhookConfig, *, thread: QueueThread, intake: Intake, hub: EventHub,
                 on_gone: Callable[[WebhookRuntime, str], None], metrics: WebhookMetrics | None = None,
                 log_: DeliveryLog | None = None) -> None:
        self.config = config
        self.name = config.name
        self._thread = thread
        self._intake = intake
        self._hub = hub
        self._on_gone = on_gone
        self.metrics = metrics or WebhookMetrics()
        self.log = log_ or DeliveryLog()
        self._builder = RequestBuilder(config)
        self._schedule = RetrySchedule(config.retry)
        self._retry_statuses = frozenset(config.retry.retry_statuses)
        self._breaker = CircuitBreaker(config.retry)
        self._keys = [] if config.signing_key is None else [config.signing_key]
        self._ordered = config.ordering != "none"
        self._order_field = {"client": "clientid", "topic": "topic"}.get(config.ordering)
        self._pool: HttpPool | None = None
        self._listener: Listener | None = None
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._requests = 0  # requests in flight
        self._acks: list[int] = []
        self._retries: list[Retry] = []
        self._failures: list[Failure] = []
        self._released: list[int] = []
        self._settling: asyncio.Task[None] | None = None
        self._last_ok: bool | None = None  # outcome of the last attempt that got an answer or not
        self._update_status()

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Listen for matching events and start delivering (nothing happens for a disabled webhook)."""
        if not self.config.enable:
            return
        config = self.config
        self._pool = HttpPool(self._builder.template.base, pool_size=config.pool_size,
                              pipelining=max(1, -(-config.max_inflight // config.pool_size)),
                              connect_timeout=config.connect_timeout, request_timeout=config.request_timeout)
        events, topics = Trigger.from_config(config).hub_listen_args()
        self._listener = self._hub.listen(self._on_event, events, topics)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"hookmq-webhook-{self.name}")
        self._update_status()

    def stop_listening(self) -> None:
        """Take no more events (the node is stopping; queued ones are delivered after the restart)."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def stop(self, grace: float = 0.0) -> None:
        """Stop listening and delivering. Requests still out after ``grace`` seconds are cancelled and their
        events go back to the queue, due at once (a receiver may then see them twice, same ``webhook-id``)."""
        self.stop_listening()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._sends and grace > 0:
            await asyncio.wait(self._sends, timeout=grace)
        for task in self._sends:
            task.cancel()
        await asyncio.gather(*self._sends, return_exceptions=True)
        await self._settle_now()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def notify(self) -> None:
        """New events were committed (or settled): look at the queue again."""
        self._wake.set()

    # ------------------------------------------------------------------------------------------ intake

    def _on_event(self, event: dict[str, Any]) -> None:
        """The hot path: count, encode, hand to the intake. Must never block or raise."""
        config = self.config
        metrics = self.metrics
        metrics.matched += 1
        order_key = None
        if self._order_field is not None:
            value = event.get(self._order_field)
            order_key = value if isinstance(value, str) else None
        item = NewDelivery(webhook=self.name, delivery_id=new_delivery_id(), event=event.get("event", ""),
                           order_key=order_key, body=self._intake.encode(event, config.payload_encoding),
                           headers=b"", created_at=time.time(), budget_bytes=config.queue_max_bytes,
                           overflow=config.overflow)
        if self._intake.add(item):
            metrics.queuing += 1
        else:
            metrics.drop("overload")

    # ------------------------------------------------------------------------------------------ dispatch

    async def _run(self) -> None:
        config = self.config
        batch_size = config.batch_size
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            now = time.time()
            allowed = self._breaker.allows(now)
            room = config.max_inflight - self._requests
            if allowed is not None:
                room = min(room, allowed if self._requests == 0 else 0)
            if room <= 0:
                timeout = None
                if self._breaker.open_until is not None and not self._breaker.probing:
                    timeout = max(0.0, self._breaker.open_until - now)
                await self._sleep(timeout)
                continue
            items = await self._thread.call(self._thread.queue.lease, self.name, now, room * batch_size,
                                            self._ordered)
            if not items:
                next_at = await self._thread.call(self._thread.queue.next_retry_at, self.name)
                await self._sleep(None if next_at is None else max(0.0, next_at - time.time()))
                continue
            if batch_size > 1 and len(items) < batch_size and config.batch_time > 0 and allowed is None:
                deadline = loop.time() + config.batch_time / 1000
                while len(items) < batch_size and (left := deadline - loop.time()) > 0:
                    await self._sleep(left)
                    self._wake.clear()
                    items += await self._thread.call(self._thread.queue.lease, self.name, time.time(),
                                                     batch_size - len(items), self._ordered)
            self.metrics.queuing -= len(items)
            self.metrics.inflight += len(items)
            if allowed == 1:  # room was 1: one request probes the receiver
                self._breaker.start_probe()
            for start in range(0, len(items), batch_size):
                self._spawn(items[start:start + batch_size])

    async def _sleep(self, timeout: float | None) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass

    def _spawn(self, batch: list[Delivery]) -> None:
        self._requests += 1
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    def _release(self, batch: list[Delivery]) -> None:
        self.metrics.inflight -= len(batch)
        self.metrics.queuing += len(batch)
        self._released.extend(item.id for item in batch)
        self._schedule_settle()

    async def _send(self, batch: list[Delivery]) -> None:
        try:
            await self._attempt(batch)
        except asyncio.CancelledError:
            self._release(batch)
            raise
        except Exception as exc:  # a bug must neither lose events nor spin: retry them with backoff
            log.exception("webhook %s: delivery failed unexpectedly", self.name)
            self.metrics.inflight -= len(batch)
            self._retry_or_give_up(batch, f"internal error: {exc!r}", None, "", None, time.time())
            self._schedule_settle()
        finally:
            self._requests -= 1
            self._wake.set()

    async def _attempt(self, batch: list[Delivery]) -> None:
        config = self.config
        if len(batch) == 1:
            delivery_id = batch[0].delivery_id
            target, headers, body = self._builder.build(batch[0].body)
        else:
            ids = [item.delivery_id for item in batch]
            delivery_id = batch_delivery_id(ids)
            target, headers, body = self._builder.build_batch([item.body for item in batch], ids)
        sent_at = time.time()
        header_list = [*headers.items(), *signature_headers(self._keys, delivery_id, int(sent_at), body)]
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        status: int | None = None
        error: str | None = None
        response_text = ""
        retry_after: float | None = None
        try:
            response = await self._pool.request(config.method, target, header_list, body)
        except HttpError as exc:
            error = str(exc)
        else:
            status = response.status
            response_text = snippet(response.body)
            retry_after = parse_retry_after(response.header("retry-after"), sent_at)
        latency = loop.time() - start
        outcome = classify(status, self._retry_statuses)
        metrics = self.metrics
        if status is not None:
            metrics.latency.observe(latency)
        now = time.time()
        count = len(batch)
        log_outcome = outcome.value
        if outcome is Outcome.SUCCESS:
            self._breaker.success()
            metrics.success += count
            self._acks.extend(item.id for item in batch)
        elif outcome is Outcome.RETRY:
            self._breaker.failure(now)
            if self._retry_or_give_up(batch, error or f"HTTP {status}", status, response_text, retry_after, now):
                log_outcome = "failed"
        else:
            self._breaker.success()  # the receiver answered: it is up
            metrics.failed += count
            reason = "gone" if outcome is Outcome.GONE else "rejected"
            self._failures.extend(Failure(item.id, f"{reason}: HTTP {status}", status, response_text)
                                  for item in batch)
        metrics.inflight -= count
        self._last_ok = status is not None
        self.log.add(Attempt(at=sent_at, delivery_id=delivery_id, event=batch[0].event if count == 1 else "batch",
                             attempt=batch[0].attempts + 1, outcome=log_outcome, status=status,
                             latency_ms=round(latency * 1000, 3), error=error, response=response_text))
        self._update_status()
        self._schedule_settle()
        if outcome is Outcome.GONE:
            self._on_gone(self, f"the receiver answered 410 Gone at {time.strftime('%Y-%m-%d %H:%M:%S')}")

    def _retry_or_give_up(self, batch: list[Delivery], why: str, status: int | None, response_text: str,
                          retry_after: float | None, now: float) -> bool:
        """Schedule each event's next attempt, or dead-letter it when the policy gives up; True if any gave up."""
        metrics = self.metrics
        gave_up = False
        for item in batch:
            when = self._schedule.next_attempt(failures=item.attempts + 1, enqueued_at=item.enqueued_at, now=now,
                                               retry_after=retry_after)
            if isinstance(when, float):
                metrics.retried += 1
                metrics.queuing += 1
                self._retries.append(Retry(item.id, when, why, status))
            else:
                gave_up = True
                metrics.failed += 1
                self._failures.append(Failure(item.id, f"{when}: {why}", status, response_text))
        return gave_up

    # ------------------------------------------------------------------------------------------ settle

    def _schedule_settle(self) -> None:
        if self._settling is None or self._settling.done():
            self._settling = asyncio.get_running_loop().create_task(self._settle_loop())

    async def _settle_loop(self) -> None:
        while self._acks or self._retries or self._failures or self._released:
            await self._settle_once()
            self._wake.set()

    async def _settle_now(self) -> None:
        if self._settling is not None:
            await asyncio.gather(self._settling, return_exceptions=True)
        while self._acks or self._retries or self._failures or self._released:
            await self._settle_once()

    async def _settle_once(self) -> None:
        acks, retries, failures, released = self._acks, self._retries, self._failures, self._released
        self._acks, self._retries, self._failures, self._released = [], [], [], []
        try:
            await self._thread.call(self._thread.queue.settle, acked=acks, retries=retries, failures=failures,
                                    released=released)
        except Exception:
            # Rows stay in flight in the queue: the next start releases them (at-least-once holds).
            log.exception("webhook %s: could not record %d outcomes", self.name,
                          len(acks) + len(retries) + len(failures) + len(released))

    # ------------------------------------------------------------------------------------------ status

    def _update_status(self) -> None:
        metrics = self.metrics
        if not self.config.enable:
            metrics.status = "disabled"
        elif self._breaker.is_open:
            metrics.status = "circuit_open"
        elif self._last_ok is False:
            metrics.status = "disconnected"
        elif self._last_ok or (self._pool is not None and self._pool.connected):
            metrics.status = "connected"
        else:
            metrics.status = "connecting"
        if metrics.status != "disabled":
            metrics.status_reason = ""
