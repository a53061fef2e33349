"""Delivery: matched events into the durable queue, and from the queue to the receiver, as delivery.md promises.

Three parts, all on the broker's event loop except the queue itself:

* `QueueProcess` runs every `DeliveryQueue` call in a process of its own (`hookmq.store.queue_server`), in
  order: the loop never waits on disk, and the queue's CPU work uses the second core instead of contending
  for the GIL (on a thread it halved the delivered rate).
* `Intake` is the MQTT hot path's only contact: a webhook's listener appends the event's JSON to a list
  (microseconds, never blocking) and one flusher writes whatever accumulated in one transaction — group
  commit whose size adapts to the load, with no fixed delay added to an idle system.
* `WebhookRuntime` delivers one webhook: it takes due events — claimed at enqueue and handed over in memory
  while nothing older is waiting (unordered webhooks), else leased ahead of need (one per order key when
  ``ordering`` is set) —
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
import os
import pickle
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, Concatenate, Final, ParamSpec, TypeVar, cast

from hookmq.events.hub import EventHub, Listener
from hookmq.store import Delivery, DeliveryQueue, EnqueueResult, Failure, NewDelivery, Retry, StoreError
from hookmq.store.queue_server import FrameReader, encode_frame

from .http import HttpError, HttpPool, Response
from .log import Attempt, DeliveryLog, snippet
from .matching import Trigger
from .metrics import WebhookMetrics
from .model import WebhookConfig
from .policy import CircuitBreaker, Outcome, RetrySchedule, classify, parse_retry_after
from .request import RequestBuilder, batch_delivery_id, encode_event
from .signing import new_delivery_id, signature_headers

__all__ = ["MAX_PENDING", "Intake", "QueueProcess", "WebhookRuntime"]

log = logging.getLogger(__name__)

MAX_PENDING: Final = 200_000  # events waiting for their group commit; beyond it they are dropped ("overload")
SOCKET_BUFFER: Final = 4 * 1024 * 1024  # bytes each way between the loop and the queue process (Linux caps it)
STORERS: Final = 2  # groups on their way to the queue at once: one travels while the other is committed
# Events of one webhook held in memory until sent (claimed at enqueue, or leased ahead), by count and by the
# bytes of their bodies: a burst this size never goes back to disk to be read again, and memory stays bounded.
CLAIM_WINDOW: Final = 50_000
HOLD_BYTES: Final = 32 * 1024 * 1024
LEASE_AHEAD: Final = 1_000  # events leased at once (or a full window of batches), held until they can be sent
DROP_LOG_INTERVAL: Final = 10.0  # seconds between two "dropped" log lines of one webhook
RECHECK_INTERVAL: Final = 1.0  # seconds: the longest an event put back behind the runtime's back waits
TEST_HEADER: Final = ("webhook-test", "true")

P = ParamSpec("P")
T = TypeVar("T")


class QueueProcess(asyncio.Protocol):
    """The delivery queue in its own process (`hookmq.store.queue_server`); ``await call(DeliveryQueue.x, ...)``
    runs ``x`` there.

    Calls made during one loop iteration travel in one frame, and the server runs whatever arrived while it was
    busy in one transaction: under load the intake's enqueue, the leases and the settles of every webhook share
    one commit. A result is handed back only after its commit. If the process dies, every call fails with
    `StoreError` (the events concerned are counted lost or stay in the queue for the next start). The process
    starts with the first call (or `start`): a node without webhooks runs none.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path).absolute()  # the server's working directory is not ours to rely on
        self._process: subprocess.Popen[bytes] | None = None
        self._transport: asyncio.Transport | None = None
        self._reader = FrameReader()
        self._calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []  # not sent yet
        self._futures: deque[asyncio.Future[Any]] = deque()  # sent or not, in call order
        self._flush_scheduled = False
        self._closing = False
        self._gone: StoreError | None = None
        self._started: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the server process if it is not running yet, and wait until it opened the queue.

        Raises:
            StoreError: the queue cannot be opened (the server's own error; every later call raises it too).
        """
        if self._started is None:
            self._started = asyncio.get_running_loop().create_task(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        for end in (ours, theirs):  # a group of events is often larger than the default buffer of ~200 KiB
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        with ours, theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "hookmq.store.queue_server", str(theirs.fileno()), str(self._path)],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, start_new_session=True)
            ready: asyncio.Future[Any] = loop.create_future()
            self._futures.append(ready)
            await loop.create_unix_connection(lambda: self, sock=ours.dup())
        try:
            await ready
        except BaseException:
            await self._shutdown()
            raise

    async def call(self, method: Callable[Concatenate[DeliveryQueue, P], T], *args: P.args,
                   **kwargs: P.kwargs) -> T:
        if self._gone is not None:
            raise self._gone
        if self._transport is None:
            await self.start()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls.append((method.__name__, args, kwargs))
        self._futures.append(future)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return await future

    async def close(self) -> None:
        """Let the server commit what it has and stop; wait for it."""
        if self._started is not None:
            await asyncio.gather(self._started, return_exceptions=True)
        await self._shutdown()

    async def _shutdown(self) -> None:
        self._closing = True
        self._flush()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write_eof()
        if self._process is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._process.wait)
            self._process = None
        if self._transport is not None:
            self._transport.close()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._calls or self._transport is None or self._transport.is_closing():
            return
        calls, self._calls = self._calls, []
        self._transport.writelines(encode_frame(calls))

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        futures = self._futures
        for frame in self._reader.feed(data):
            for ok, value in pickle.loads(frame):
                future = futures.popleft()
                if future.done():  # the caller was cancelled
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone = StoreError(f"{self._path}: the delivery queue process stopped")
        if not self._closing:
            log.error("webhooks: the delivery queue process stopped unexpectedly; events can be neither stored nor "
                      "delivered until hookmq restarts (what was stored is kept)")
        while self._futures:
            future = self._futures.popleft()
            if not future.done():
                future.set_exception(self._gone)


class Intake:
    """Matched events -> the durable queue, in groups. ``add`` is all the MQTT hot path pays."""

    def __init__(self, queue: QueueProcess, on_result: Callable[[EnqueueResult, dict[str, int]], None]) -> None:
        """``on_result(result, lost)`` runs after each group commit: what the queue did per webhook, and how
        many events per webhook were lost because the queue could not store the group at all."""
        self._queue = queue
        self._on_result = on_result
        self._pending: list[NewDelivery] = []
        self._owners: list[WebhookRuntime] = []  # who added each pending item
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._storing = 0  # groups sent to the queue and not answered yet
        self._tasks: list[asyncio.Task[None]] = []
        self._error_logged_at = -DROP_LOG_INTERVAL
        # The last event and its JSON: several webhooks on one event encode it once.
        self._last: tuple[dict[str, Any], str, bytes] | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._store_forever(), name="hookmq-webhook-intake")
                       for _ in range(STORERS)]

    def encode(self, event: dict[str, Any], payload_encoding: str) -> bytes:
        last = self._last
        if last is not None and last[0] is event and last[1] == payload_encoding:
            return last[2]
        body = encode_event(event, payload_encoding)
        self._last = (event, payload_encoding, body)
        return body

    def add(self, item: NewDelivery, owner: WebhookRuntime) -> bool:
        """Queue one event for the next group commit; False (dropped) when the backlog is full.
        ``owner.committed(items, ids)`` is called once they are stored (id None: refused or lost)."""
        if len(self._pending) >= MAX_PENDING:
            return False
        self._pending.append(item)
        self._owners.append(owner)
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
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _store_forever(self) -> None:
        """One of `STORERS`: takes what is pending and stores it. Results come back in the order the groups
        were sent, so the webhooks learn of their events' ids in order."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._pending = self._pending, []
            owners, self._owners = self._owners, []
            self._last = None
            self._storing += 1
            try:
                if batch:
                    try:
                        result = await self._queue.call(DeliveryQueue.enqueue, batch)
                    except Exception as exc:
                        # The queue refused a whole group (disk full, I/O error): these events are lost, loudly
                        # (the webhooks count them dropped) but not once per group: that could be every few ms.
                        now = time.monotonic()
                        if now - self._error_logged_at >= DROP_LOG_INTERVAL:
                            self._error_logged_at = now
                            log.error("webhook queue: could not store %d events: %s", len(batch), exc,
                                      exc_info=not isinstance(exc, StoreError))
                        self._on_result(EnqueueResult(), _count_by_webhook(batch))
                        ids: list[int | None] = [None] * len(batch)
                    else:
                        self._on_result(result, {})
                        ids = result.ids
                    by_owner: dict[WebhookRuntime, tuple[list[NewDelivery], list[int | None]]] = {}
                    for item, owner, id_ in zip(batch, owners, ids, strict=True):
                        mine = by_owner.get(owner)
                        if mine is None:
                            mine = by_owner[owner] = ([], [])
                        mine[0].append(item)
                        mine[1].append(id_)
                    for owner, (items, item_ids) in by_owner.items():
                        owner.committed(items, item_ids)
            finally:
                self._storing -= 1
                if self._pending:
                    self._ready.set()
                elif not self._storing:
                    self._idle.set()


def _count_by_webhook(batch: Iterable[NewDelivery]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in batch:
        counts[item.webhook] = counts.get(item.webhook, 0) + 1
    return counts


class _Sending:
    """One request on its way: the events it carries and what its delivery log entry needs."""

    __slots__ = ("batch", "delivery_id", "sent_at", "start")

    def __init__(self, batch: list[Delivery]) -> None:
        self.batch = batch
        self.delivery_id = ""
        self.sent_at = 0.0  # time.time(), for the log and Retry-After dates
        self.start = 0.0  # time.perf_counter(), for the latency


class WebhookRuntime:
    """Delivers one webhook: its listener, its HTTP pool, its dispatcher task, its metrics and log."""

    def __init__(self, config: WebhookConfig, *, queue: QueueProcess, intake: Intake, hub: EventHub,
                 on_gone: Callable[[WebhookRuntime, str], None], metrics: WebhookMetrics | None = None,
                 log_: DeliveryLog | None = None) -> None:
        self.config = config
        self.name = config.name
        self._queue = queue
        self._intake = intake
        self._hub = hub
        self._on_gone = on_gone
        self.metrics = metrics or WebhookMetrics()
        self.log = log_ or DeliveryLog()
        self._builder = RequestBuilder(config)
        self._schedule = RetrySchedule(config.retry)
        self._retry_statuses = frozenset(config.retry.retry_statuses)
        self._breaker = CircuitBreaker(config.retry)
        self._keys = config.signing_keys
        self._ordered = config.ordering != "none"
        self._order_field = {"client": "clientid", "topic": "topic"}.get(config.ordering)
        self._pool: HttpPool | None = None
        self._listener: Listener | None = None
        self._task: asyncio.Task[None] | None = None
        self._outstanding: set[_Sending] = set()  # requests sent and not answered yet
        self._quiet = asyncio.Event()  # set when the last outstanding request was answered
        self._wake = asyncio.Event()
        self._acks: list[int] = []
        self._retries: list[Retry] = []
        self._failures: list[Failure] = []
        self._released: list[int] = []
        self._settling: asyncio.Task[None] | None = None
        self._last_ok: bool | None = None  # outcome of the last attempt that got an answer or not
        # Fast path (unordered webhooks): while the queue holds nothing ready for this webhook, a new event is
        # claimed as it is stored, handed over in memory (`_fresh`) and never leased back from the database.
        # Claimed events wait in memory, so they are bounded: a backlog beyond this stays in the queue only.
        self._claim_limit = max(CLAIM_WINDOW, config.max_inflight * config.batch_size)
        self._lease_ahead = max(LEASE_AHEAD, config.max_inflight * config.batch_size)
        self._fresh: list[Delivery] = []  # claimed and stored, or leased ahead; not sent yet
        self._refilling: asyncio.Task[None] | None = None  # a lease into `_fresh`, running
        self._claims = 0  # claimed, not stored yet
        self._held_bytes = 0  # bodies of the events claimed or leased ahead and not sent yet
        # Events on their way to being ready in the queue (stored unclaimed, or released) whose commit has not
        # been seen yet, and a counter bumped whenever one is added: a lease that saw none and ran while the
        # counter stood still proves the queue holds nothing ready.
        self._pending_ready = 0
        self._ready_epoch = 0
        self._drained = False
        self._next_retry: float | None = None  # earliest retry waiting in the queue, if known
        self._last_lease = 0.0  # when the queue was last asked (time.time())
        self._stopping = False
        self._drops: dict[str, int] = {}  # dropped since the last log line, by reason
        self._drops_logged_at = -DROP_LOG_INTERVAL
        self._dead_discarded = 0
        self._dead_logged_at = -DROP_LOG_INTERVAL
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
            # The flag as well as the cancel: Python 3.11's wait_for can swallow a cancel that races its wake-up.
            self._stopping = True
            self._wake.set()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._refilling is not None:  # not cancelled: what it leases must be put back below
            await asyncio.gather(self._refilling, return_exceptions=True)
        if self._outstanding and grace > 0:
            self._quiet.clear()
            try:
                await asyncio.wait_for(self._quiet.wait(), grace)
            except TimeoutError:
                pass
        for sending in self._outstanding:  # answers that still come are ignored (`_answered`)
            self._release(sending.batch)
        self._outstanding.clear()
        self._released.extend(item.id for item in self._fresh)  # still counted as queuing
        self._more_ready(len(self._fresh))
        self._held_bytes -= sum(len(item.body) for item in self._fresh)
        self._fresh.clear()
        await self._settle_now()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def notify(self) -> None:
        """Events were put back in the queue behind the runtime's back (a replay): lease them."""
        self._more_ready(0)
        self._wake.set()

    def _more_ready(self, pending: int) -> None:
        self._pending_ready += pending
        self._ready_epoch += 1
        self._drained = False

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
        body = self._intake.encode(event, config.payload_encoding)
        claim = (self._drained and self._task is not None and self._breaker.open_until is None
                 and self._claims + len(self._fresh) + metrics.inflight < self._claim_limit
                 and self._held_bytes + len(body) <= HOLD_BYTES)
        item = NewDelivery(webhook=self.name, delivery_id=new_delivery_id(), event=event.get("event", ""),
                           order_key=order_key, body=body, headers=b"", created_at=time.time(),
                           budget_bytes=config.queue_max_bytes, overflow=config.overflow, claimed=claim)
        if not self._intake.add(item, self):
            self.dropped("overload", 1)
            return
        metrics.queuing += 1
        if claim:
            self._claims += 1
            self._held_bytes += len(body)
        else:
            self._more_ready(1)

    def dropped(self, reason: str, count: int) -> None:
        """Count events dropped before delivery, and say so in the log at most once per `DROP_LOG_INTERVAL`
        (delivery.md: never silent, never a log line per event)."""
        self.metrics.drop(reason, count)
        self._drops[reason] = self._drops.get(reason, 0) + count
        now = time.monotonic()
        if now - self._drops_logged_at >= DROP_LOG_INTERVAL:
            why = ", ".join(f"{n} ({reason})" for reason, n in sorted(self._drops.items()))
            log.warning("webhook %s dropped %s events since the last report; see its dropped metrics", self.name,
                        why)
            self._drops.clear()
            self._drops_logged_at = now

    def _discarded_dead(self, count: int) -> None:
        """Old dead letters made room for new ones (``dead_letters_max``): say so once per interval."""
        now = time.monotonic()
        self._dead_discarded += count
        if now - self._dead_logged_at >= DROP_LOG_INTERVAL:
            log.warning("webhook %s discarded its %d oldest dead letters (dead_letters_max = %d)", self.name,
                        self._dead_discarded, self.config.dead_letters_max)
            self._dead_discarded = 0
            self._dead_logged_at = now

    def committed(self, items: list[NewDelivery], ids: list[int | None]) -> None:
        """The intake stored ``items`` as ``ids`` (None: refused or lost; the metrics were told already)."""
        fresh = self._fresh
        stopped = self._task is None  # stopped meanwhile: claimed ones go back to the queue for the next runtime
        for item, id_ in zip(items, ids, strict=True):
            if not item.claimed:
                self._pending_ready -= 1  # ready in the queue now: lease it
                continue
            self._claims -= 1
            if id_ is None or stopped:
                self._held_bytes -= len(item.body)
                if id_ is not None:
                    self._released.append(id_)
                    self._more_ready(1)
                continue
            created = item.created_at
            fresh.append(Delivery(id_, item.webhook, item.delivery_id, item.event, None, item.body, item.headers,
                                  created, created, 0, None, None))
        if stopped and self._released:
            self._schedule_settle()
        self._wake.set()

    # ------------------------------------------------------------------------------------------ dispatch

    async def _run(self) -> None:
        config = self.config
        batch_size = config.batch_size
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self._wake.clear()
            now = time.time()
            allowed = self._breaker.allows(now)
            room = config.max_inflight - len(self._outstanding)
            if allowed is not None:
                room = min(room, allowed if not self._outstanding else 0)
            if room <= 0:
                timeout = None
                if self._breaker.open_until is not None and not self._breaker.probing:
                    timeout = max(0.0, self._breaker.open_until - now)
                await self._sleep(timeout)
                continue
            items = self._take(room * batch_size, now)
            if not items:
                wait = RECHECK_INTERVAL if self._next_retry is None else self._next_retry - time.time()
                await self._sleep(max(0.0, min(wait, RECHECK_INTERVAL)))
                continue
            if batch_size > 1 and len(items) < batch_size and config.batch_time > 0 and allowed is None:
                deadline = loop.time() + config.batch_time / 1000
                while len(items) < batch_size and (left := deadline - loop.time()) > 0:
                    await self._sleep(left)
                    self._wake.clear()
                    items += self._take(batch_size - len(items), time.time())
            self.metrics.queuing -= len(items)
            self.metrics.inflight += len(items)
            if self._stopping:  # taken while stopping: back to the queue
                self._release(items)
                return
            if allowed == 1:  # room was 1: one request probes the receiver
                self._breaker.start_probe()
            for start in range(0, len(items), batch_size):
                self._send(items[start:start + batch_size])

    def _take(self, limit: int, now: float) -> list[Delivery]:
        """Up to ``limit`` events to send from memory: leased ones (older) first, then claimed ones. Starts a
        refill from the queue when memory runs low, so the sends rarely wait for the queue process."""
        retry_due = self._next_retry is not None and self._next_retry <= now
        # Safety net: look at the queue at least every RECHECK_INTERVAL even when it is believed drained.
        stale = now - self._last_lease >= RECHECK_INTERVAL
        if (self._refilling is None and len(self._fresh) < max(limit, self._lease_ahead // 2)
                and (not self._drained or retry_due or stale)):
            self._last_lease = now
            self._refilling = asyncio.get_running_loop().create_task(self._refill(now))
        items = self._fresh[:limit]
        del self._fresh[:len(items)]
        self._held_bytes -= sum(len(item.body) for item in items)
        return items

    async def _refill(self, now: float) -> None:
        """Lease due events ahead of need into ``_fresh`` (counted as queuing; released on stop)."""
        try:
            want = self._lease_ahead - len(self._fresh)
            epoch = self._ready_epoch
            budget = max(0, HOLD_BYTES - self._held_bytes)
            leased = await self._queue.call(DeliveryQueue.lease, self.name, now, want, self._ordered, budget)
            size = sum(len(item.body) for item in leased)
            # Decide right after the lease resumes, before any other await: what was stored after the lease is
            # announced (`committed`, the settle's return) only after this point, so it still counts here.
            drained = len(leased) < want and size < budget and self._pending_ready == 0 and not self._ordered
            self._fresh[:0] = leased
            self._held_bytes += size
            if len(leased) < want:
                stored = await self._queue.call(DeliveryQueue.next_retry_at, self.name)
                # Retries not handed to the queue yet are not in it: count them too.
                self._next_retry = min((when for when in (stored, *(r.next_attempt_at for r in self._retries))
                                        if when is not None), default=None)
            self._drained = drained and self._ready_epoch == epoch
        except Exception as exc:  # the queue failed (disk, or its process is gone): try again after a pause
            log.error("webhook %s: could not read the delivery queue: %s", self.name, exc,
                      exc_info=not isinstance(exc, StoreError))
            if not self._stopping:
                await asyncio.sleep(RECHECK_INTERVAL)
        finally:
            self._refilling = None
            self._wake.set()

    async def _sleep(self, timeout: float | None) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass

    def _release(self, batch: list[Delivery]) -> None:
        self.metrics.inflight -= len(batch)
        self.metrics.queuing += len(batch)
        self._released.extend(item.id for item in batch)
        self._more_ready(len(batch))
        self._schedule_settle()

    def _send(self, batch: list[Delivery]) -> None:
        """Build and send one request for ``batch``; `_answered` takes its outcome (no task per request)."""
        config = self.config
        sending = _Sending(batch)
        self._outstanding.add(sending)
        try:
            if len(batch) == 1:
                delivery_id = batch[0].delivery_id
                target, headers, body = self._builder.build(batch[0].body)
            else:
                ids = [item.delivery_id for item in batch]
                delivery_id = batch_delivery_id(ids)
                target, headers, body = self._builder.build_batch([item.body for item in batch], ids)
            sending.delivery_id = delivery_id
            sending.sent_at = sent_at = time.time()
            header_list = [*headers.items(), *signature_headers(self._keys, delivery_id, int(sent_at), body)]
            assert self._pool is not None
            sending.start = time.perf_counter()  # not loop.time(): uvloop's clock ticks in milliseconds
            self._pool.submit(config.method, target, header_list, body, partial(self._answered, sending))
        except Exception as exc:
            self._outstanding.discard(sending)
            self._broken(batch, exc)

    def _answered(self, sending: _Sending, result: Response | HttpError) -> None:
        if sending not in self._outstanding:  # given back to the queue by a stop meanwhile
            return
        self._outstanding.remove(sending)
        try:
            self._record(sending, result)
        except Exception as exc:
            self._broken(sending.batch, exc)
        if not self._outstanding:
            self._quiet.set()
        self._wake.set()

    def _broken(self, batch: list[Delivery], exc: Exception) -> None:
        """A bug must neither lose events nor spin: retry them with backoff."""
        log.error("webhook %s: delivery failed unexpectedly", self.name, exc_info=exc)
        self.metrics.inflight -= len(batch)
        self._retry_or_give_up(batch, f"internal error: {exc!r}", None, "", None, time.time())
        self._schedule_settle()
        self._wake.set()

    def _record(self, sending: _Sending, result: Response | HttpError) -> None:
        config = self.config
        batch = sending.batch
        latency = time.perf_counter() - sending.start
        sent_at = sending.sent_at
        status: int | None = None
        error: str | None = None
        response_text = ""
        if isinstance(result, HttpError):
            error = str(result)
        else:
            status = result.status
            response_text = snippet(result.body)
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
            retry_after = None if isinstance(result, HttpError) else parse_retry_after(result.header("retry-after"),
                                                                                        sent_at)
            if self._retry_or_give_up(batch, error or f"HTTP {status}", status, response_text, retry_after, now):
                log_outcome = "failed"
        else:
            self._breaker.success()  # the receiver answered: it is up
            metrics.failed += count
            reason = "gone" if outcome is Outcome.GONE else "rejected"
            keep = config.dead_letters_max
            self._failures.extend(Failure(item.id, f"{reason}: HTTP {status}", status, response_text, keep)
                                  for item in batch)
        metrics.inflight -= count
        self._last_ok = status is not None
        self.log.add(Attempt(at=sent_at, delivery_id=sending.delivery_id,
                             event=batch[0].event if count == 1 else "batch", attempt=batch[0].attempts + 1,
                             outcome=log_outcome, status=status, latency_ms=round(latency * 1000, 3), error=error,
                             response=response_text))
        self._update_status()
        self._schedule_settle()
        if outcome is Outcome.GONE:
            self._on_gone(self, f"the receiver answered 410 Gone at {time.strftime('%Y-%m-%d %H:%M:%S')}")

    def _retry_or_give_up(self, batch: list[Delivery], why: str, status: int | None, response_text: str,
                          retry_after: float | None, now: float) -> bool:
        """Schedule each event's next attempt, or dead-letter it when the policy gives up; True if any gave up."""
        metrics = self.metrics
        gave_up = False
        keep = self.config.dead_letters_max
        for item in batch:
            when = self._schedule.next_attempt(failures=item.attempts + 1, enqueued_at=item.enqueued_at, now=now,
                                               retry_after=retry_after)
            if isinstance(when, float):
                metrics.retried += 1
                metrics.queuing += 1
                self._retries.append(Retry(item.id, when, why, status))
                if self._next_retry is None or when < self._next_retry:
                    self._next_retry = when
            else:
                gave_up = True
                metrics.failed += 1
                self._failures.append(Failure(item.id, f"{when}: {why}", status, response_text, keep))
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
            done = await self._queue.call(DeliveryQueue.settle, acked=acks, retries=retries,
                                           failures=failures, released=released)
            if done.discarded:
                self._discarded_dead(done.discarded)
        except Exception as exc:
            # Rows stay in flight in the queue: the next start releases them (at-least-once holds).
            log.error("webhook %s: could not record %d outcomes: %s", self.name,
                      len(acks) + len(retries) + len(failures) + len(released), exc,
                      exc_info=not isinstance(exc, StoreError))
        finally:
            self._pending_ready -= len(released)

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
