"""Durable webhook delivery queue: one SQLite file, stdlib `sqlite3` only.

Every event that matched an enabled webhook is written here before the broker forgets
it, and leaves only when the receiver answered 2xx (`ack`), when the retry policy gives
up (`dead_letter`, kept for listing and `replay`), or when the webhook's byte budget
overflows (counted in the `EnqueueResult`, never silent).

Life of a delivery::

    enqueue -> READY --lease--> IN-FLIGHT --ack--> (gone)
    enqueue (claimed) ----------^
                 ^                 |  |
                 |  due (lease)    |  +--dead_letter--> dead_letters --replay--> READY (new id)
                 +---- WAITING <---+ retry(next_attempt_at)
    release_inflight (start-up): IN-FLIGHT -> READY, same delivery_id (at-least-once)

Design
------
* **Synchronous, one transaction per call** — or one for many: inside `group()` each call
  is a savepoint and one commit covers them all. The asyncio delivery worker calls the
  queue in a process of its own (`queue_server`), batches many events into one `enqueue`,
  and groups whatever calls are pending (group commit). Not safe for two threads at once (the
  connection allows a different thread than its creator, like `SqliteStore`).
* **Claimed items** skip the lease: an unordered item the worker will send at once is
  stored in flight and its id returned, so no lease has to read it back.
* **Durability** is that of `SqliteStore`: WAL with `synchronous=NORMAL` survives a
  process crash (`kill -9`) without losing a committed call; after power loss or an OS
  crash the file is consistent but the last commits may roll back. Pass
  `synchronous="FULL"` to fsync every commit (one fsync per group commit).
* **Exact FIFO.** `id` is `INTEGER PRIMARY KEY AUTOINCREMENT`: strictly increasing and
  never reused, so "oldest first" is "smallest id first", and a stale id from an earlier
  lease can never hit a newer delivery. Dead letters keep the id they had; a replay
  re-enqueues at the tail with a new id (the `delivery_id` - the Standard Webhooks
  `webhook-id` - never changes).
* **Per-key order without scans.** Each `(webhook, order_key)` has exactly one *head*:
  its row with the smallest id (rows without a key are always heads). The flag is set on
  insert (no row of that key exists yet) and handed to the next row of the key when the
  head leaves (ack, dead letter, eviction). An ordered lease takes only READY heads, so
  it returns at most one item per key and never one behind an in-flight, waiting or
  earlier item of its key; a failing head blocks its own key and nothing else.
* **O(log n) leases.** Rows waiting for a retry are kept out of the READY index, so a
  lease never skips over backed-off rows: it first flips due WAITING rows to READY (index
  range on `next_attempt_at`), then reads the first `limit` READY rows by id. Every query
  on a hot path is an index range; `tests/store/test_queue.py` asserts the query plans.
* **Byte budget in the same transaction.** Per-webhook counters (rows, bytes, by state)
  live in the small `webhooks` table and change in the same transaction as the rows, so
  `stats` is O(1), the budget check costs nothing, and the accounting stays truthful
  after a crash. A delivery's size is `len(body) + len(headers)`; the budget covers
  queued and in-flight rows (dead letters are not counted).
* **Columns ordered small-to-large** (blobs last), so reading a row's state, key and size
  never touches the overflow pages of a large body.
"""

from __future__ import annotations

import heapq
import os
import sqlite3
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from hookmq.store._sqlite_util import transaction, translated
from hookmq.store.base import StoreError

SCHEMA_VERSION: Final = 1
"""Stored in `PRAGMA user_version`; bump it and add a migration when the schema changes."""

APPLICATION_ID: Final = 0x686B7771
"""`PRAGMA application_id` ("hkwq"): refuses to open another hookmq database as a queue."""

Overflow = Literal["drop_oldest", "drop_new"]
_OVERFLOWS: Final = frozenset({"drop_oldest", "drop_new"})

# Row states. READY and WAITING together are "queued"; only IN-FLIGHT rows are being delivered.
READY: Final = 0
INFLIGHT: Final = 1
WAITING: Final = 2

# The queue holds bodies of any size: an ordinary rowid table, as SQLite recommends for
# blobs. The per-webhook counters are small rows looked up by key: WITHOUT ROWID.
_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook TEXT NOT NULL,
        state INTEGER NOT NULL,
        head INTEGER NOT NULL,
        order_key TEXT,
        size INTEGER NOT NULL,
        next_attempt_at REAL NOT NULL,
        leased_at REAL,
        attempts INTEGER NOT NULL,
        last_status INTEGER,
        created_at REAL NOT NULL,
        enqueued_at REAL NOT NULL,
        delivery_id TEXT NOT NULL,
        event TEXT NOT NULL,
        last_error TEXT,
        headers BLOB NOT NULL,
        body BLOB NOT NULL
    )""",
    # (webhook, id): eviction (oldest queued first), purge.
    "CREATE INDEX IF NOT EXISTS deliveries_webhook ON deliveries (webhook)",
    # (webhook, head, id) of READY rows: unordered and ordered leases.
    "CREATE INDEX IF NOT EXISTS deliveries_ready ON deliveries (webhook, head) WHERE state = 0",
    # WAITING rows by due time: promotion to READY, next_retry_at.
    "CREATE INDEX IF NOT EXISTS deliveries_waiting ON deliveries (webhook, next_attempt_at) WHERE state = 2",
    # IN-FLIGHT rows (few): release_inflight.
    "CREATE INDEX IF NOT EXISTS deliveries_inflight ON deliveries (state) WHERE state = 1",
    # (webhook, order_key, id) of keyed rows: is there a row of this key, which is its oldest.
    "CREATE INDEX IF NOT EXISTS deliveries_key ON deliveries (webhook, order_key) WHERE order_key IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY,
        webhook TEXT NOT NULL,
        order_key TEXT,
        size INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        status INTEGER,
        created_at REAL NOT NULL,
        enqueued_at REAL NOT NULL,
        last_attempt_at REAL,
        failed_at REAL NOT NULL,
        delivery_id TEXT NOT NULL,
        event TEXT NOT NULL,
        reason TEXT NOT NULL,
        response TEXT NOT NULL,
        headers BLOB NOT NULL,
        body BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS dead_letters_webhook ON dead_letters (webhook)",
    "CREATE INDEX IF NOT EXISTS dead_letters_delivery ON dead_letters (webhook, delivery_id)",
    """CREATE TABLE IF NOT EXISTS webhooks (
        webhook TEXT NOT NULL PRIMARY KEY,
        queued INTEGER NOT NULL,
        queued_bytes INTEGER NOT NULL,
        inflight INTEGER NOT NULL,
        inflight_bytes INTEGER NOT NULL,
        dead INTEGER NOT NULL
    ) WITHOUT ROWID""",
)

# The SQL of the hot paths, as constants so the tests can check their query plans.
INSERT_SQL: Final = """INSERT INTO deliveries (webhook, state, head, order_key, size, next_attempt_at, attempts,
        created_at, enqueued_at, delivery_id, event, headers, body, leased_at)
    VALUES (?1, ?11, ?2 IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries WHERE webhook = ?1 AND order_key = ?2),
        ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8, ?9, ?10, ?12)"""
PROMOTE_SQL: Final = "UPDATE deliveries SET state = 0 WHERE webhook = ? AND state = 2 AND next_attempt_at <= ?"
_DELIVERY_COLUMNS: Final = (
    "id, webhook, order_key, size, attempts, last_status, created_at, enqueued_at, delivery_id, event, last_error,"
    " headers, body"
)
READY_SQL: Final = (
    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE webhook = ? AND state = 0 AND head = ? ORDER BY id LIMIT ?"
)
EVICTABLE_SQL: Final = (
    "SELECT id, size, head, order_key FROM deliveries WHERE webhook = ? AND id > ? AND state != 1 ORDER BY id LIMIT ?"
)
NEW_HEAD_SQL: Final = """UPDATE deliveries SET head = 1
    WHERE id = (SELECT min(id) FROM deliveries WHERE webhook = ? AND order_key = ?) AND head = 0"""
NEXT_RETRY_SQL: Final = "SELECT min(next_attempt_at) FROM deliveries WHERE webhook = ? AND state = 2"
_SETTLE_COLUMNS: Final = "id, webhook, state, size, head, order_key"
_SETTLE_SELECT: Final = f"SELECT {_SETTLE_COLUMNS} FROM deliveries"
RELEASE_SQL: Final = "UPDATE deliveries SET state = 0, leased_at = NULL WHERE state = 1"

_DEAD_COLUMNS: Final = (
    "id, webhook, order_key, size, attempts, status, created_at, enqueued_at, last_attempt_at, failed_at,"
    " delivery_id, event, reason, response, headers, body"
)
_REPLAY_SQL: Final = """INSERT INTO deliveries (webhook, state, head, order_key, size, next_attempt_at, attempts,
        created_at, enqueued_at, delivery_id, event, headers, body)
    SELECT webhook, 0,
        order_key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook = x.webhook
                                                                       AND d.order_key = x.order_key),
        order_key, size, ?1, 0, created_at, ?1, delivery_id, event, headers, body
    FROM dead_letters x WHERE id = ?2"""

_EVICT_CHUNK: Final = 64
_IN_CHUNK: Final = 500  # ids per `IN (...)`, below every SQLite's variable limit


# NewDelivery and Delivery are made once per event on the delivery hot path, so they are not frozen (a frozen
# dataclass's __init__ costs about 3x); treat them as read-only all the same. They travel to and from the queue
# process (`queue_server`) pickled as plain tuples: ~10x cheaper than a slotted dataclass's state.
@dataclass(slots=True)
class NewDelivery:
    """One event for one webhook, as handed to `DeliveryQueue.enqueue`.

    `budget_bytes` and `overflow` are the webhook's settings at the time of the enqueue;
    the budget counts `len(body) + len(headers)` of the webhook's queued and in-flight rows.
    """

    webhook: str
    delivery_id: str  # Standard Webhooks `webhook-id`, stable across retries and replays
    event: str
    order_key: str | None  # clientid or topic when the webhook orders deliveries, else None
    body: bytes
    headers: bytes  # opaque to the queue (JSON encoded by the worker)
    created_at: float  # unix seconds
    budget_bytes: int
    overflow: Overflow
    # Taken by the delivery worker at once: stored in flight, so no lease reads it back (unordered only).
    claimed: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        return NewDelivery, (self.webhook, self.delivery_id, self.event, self.order_key, self.body, self.headers,
                             self.created_at, self.budget_bytes, self.overflow, self.claimed)


@dataclass(slots=True)
class Delivery:
    """A leased delivery. `id` is the queue's own sequence number: pass it to ack/retry/dead_letter."""

    id: int
    webhook: str
    delivery_id: str
    event: str
    order_key: str | None
    body: bytes
    headers: bytes
    created_at: float
    enqueued_at: float  # = created_at, or the replay time for a replayed dead letter (for `max_age`)
    attempts: int  # failed attempts so far
    last_error: str | None
    last_status: int | None

    def __reduce__(self) -> tuple[Any, ...]:
        return Delivery, (self.id, self.webhook, self.delivery_id, self.event, self.order_key, self.body,
                          self.headers, self.created_at, self.enqueued_at, self.attempts, self.last_error,
                          self.last_status)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """A delivery the retry policy gave up on; `id` is the queue id it had."""

    id: int
    webhook: str
    delivery_id: str
    event: str
    order_key: str | None
    body: bytes
    headers: bytes
    created_at: float
    enqueued_at: float
    attempts: int  # including the final one
    last_attempt_at: float | None  # lease time of the final attempt
    failed_at: float
    reason: str
    status: int | None
    response: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EnqueueCounts:
    """What one `enqueue` did for one webhook.

    `refused`: new items not stored (drop_new overflow, or no room beside the in-flight rows).
    `evicted`: older queued rows removed under drop_oldest (possibly items of this same call).
    So for the metrics: matched += accepted + refused, dropped += refused + evicted.
    """

    accepted: int = 0
    refused: int = 0
    evicted: int = 0

    @property
    def dropped(self) -> int:
        return self.refused + self.evicted


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    """Per-webhook outcome of one `enqueue`; webhooks absent from the call are absent here.

    `ids[i]` is the queue id given to the i-th item, None if it was refused (an id of an item that a later
    item of the same call evicted is given too; claimed items are never evicted).
    """

    webhooks: dict[str, EnqueueCounts] = field(default_factory=dict)
    ids: list[int | None] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(c.accepted for c in self.webhooks.values())

    @property
    def dropped(self) -> int:
        return sum(c.dropped for c in self.webhooks.values())


@dataclass(frozen=True, slots=True)
class Retry:
    """An attempt to try again: the in-flight row `id`, due at `next_attempt_at`, with what went wrong."""

    id: int
    next_attempt_at: float
    error: str
    status: int | None


@dataclass(frozen=True, slots=True)
class Failure:
    """An attempt the retry policy gave up on: the in-flight row `id` becomes a dead letter."""

    id: int
    reason: str
    status: int | None
    response: str  # snippet of the last response body
    keep: int = 0  # dead letters the webhook keeps at most, the oldest going first (0 = all)


@dataclass(frozen=True, slots=True, kw_only=True)
class SettleCounts:
    """What one `DeliveryQueue.settle` did."""

    acked: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    discarded: int = 0  # oldest dead letters removed to respect `Failure.keep`


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueStats:
    """Rows of one webhook: queued (ready or waiting for a retry), in flight, their bytes, dead letters."""

    queued: int = 0
    inflight: int = 0
    bytes: int = 0
    dead: int = 0


@dataclass(slots=True)
class _Counts:
    """The mutable `webhooks` row of one webhook during a transaction."""

    queued: int = 0
    queued_bytes: int = 0
    inflight: int = 0
    inflight_bytes: int = 0
    dead: int = 0

    def row(self) -> tuple[int, int, int, int, int]:
        return (self.queued, self.queued_bytes, self.inflight, self.inflight_bytes, self.dead)

    def stats(self) -> QueueStats:
        return QueueStats(
            queued=self.queued,
            inflight=self.inflight,
            bytes=self.queued_bytes + self.inflight_bytes,
            dead=self.dead,
        )


class _Counters:
    """Per-webhook counters loaded on first use in a transaction and written back before its commit."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._counts: dict[str, _Counts] = {}

    def __getitem__(self, webhook: str) -> _Counts:
        counts = self._counts.get(webhook)
        if counts is None:
            row = self._conn.execute(
                "SELECT queued, queued_bytes, inflight, inflight_bytes, dead FROM webhooks WHERE webhook = ?",
                (webhook,),
            ).fetchone()
            counts = self._counts[webhook] = _Counts(*row) if row else _Counts()
        return counts

    def save(self) -> None:
        for webhook, counts in self._counts.items():
            row = counts.row()
            if any(row):
                self._conn.execute(
                    """INSERT OR REPLACE INTO webhooks (webhook, queued, queued_bytes, inflight, inflight_bytes, dead)
                        VALUES (?, ?, ?, ?, ?, ?)""",
                    (webhook, *row),
                )
            else:
                self._conn.execute("DELETE FROM webhooks WHERE webhook = ?", (webhook,))


class _Evictor:
    """The oldest queued (not in-flight) rows of one webhook, fetched from the database a chunk at a time."""

    def __init__(self, conn: sqlite3.Connection, webhook: str) -> None:
        self._conn = conn
        self._webhook = webhook
        self._after = 0
        self._rows: deque[tuple[int, int, int, str | None]] = deque()

    def pop(self) -> tuple[int, int, int, str | None] | None:
        """The next (id, size, head, order_key), or None; rows inserted since the last call must be flushed."""
        if not self._rows:
            rows = self._conn.execute(EVICTABLE_SQL, (self._webhook, self._after, _EVICT_CHUNK)).fetchall()
            if not rows:
                return None
            self._rows.extend(rows)
            self._after = rows[-1][0]
        return self._rows.popleft()


def _delivery(row: tuple[Any, ...]) -> Delivery:
    (id_, webhook, order_key, _size, attempts, last_status, created_at, enqueued_at, delivery_id, event,
     last_error, headers, body) = row  # fmt: skip
    return Delivery(
        id=id_,
        webhook=webhook,
        delivery_id=delivery_id,
        event=event,
        order_key=order_key,
        body=body,
        headers=headers,
        created_at=created_at,
        enqueued_at=enqueued_at,
        attempts=attempts,
        last_error=last_error,
        last_status=last_status,
    )


def _dead_letter(row: tuple[Any, ...]) -> DeadLetter:
    (id_, webhook, order_key, _size, attempts, status, created_at, enqueued_at, last_attempt_at, failed_at,
     delivery_id, event, reason, response, headers, body) = row  # fmt: skip
    return DeadLetter(
        id=id_,
        webhook=webhook,
        delivery_id=delivery_id,
        event=event,
        order_key=order_key,
        body=body,
        headers=headers,
        created_at=created_at,
        enqueued_at=enqueued_at,
        attempts=attempts,
        last_attempt_at=last_attempt_at,
        failed_at=failed_at,
        reason=reason,
        status=status,
        response=response,
    )


@contextmanager
def _group(queue: DeliveryQueue) -> Iterator[None]:
    with queue._translated("commit"), transaction(queue._conn, "BEGIN IMMEDIATE"):
        yield


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class DeliveryQueue:
    """The durable delivery queue of all webhooks of a node; see the module docstring."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        self._path = Path(path)
        with self._translated("open"):
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            try:
                self._configure(conn, synchronous)
                self._ensure_schema(conn)
            except BaseException:
                conn.close()
                raise
        self._conn = conn

    # -- writes -------------------------------------------------------------------------------------

    def enqueue(self, items: Sequence[NewDelivery]) -> EnqueueResult:
        """Store `items` in one transaction (group commit), applying each webhook's byte budget in order.

        An item fits if the webhook's queued + in-flight bytes plus its size stay within its
        `budget_bytes`. If not: `drop_new` refuses it; `drop_oldest` removes the oldest queued
        (never in-flight) rows until it fits, or refuses it when even the in-flight rows leave
        no room. Returns the per-webhook counts for the metrics.
        """
        for item in items:
            if item.overflow not in _OVERFLOWS:
                raise ValueError(f"overflow must be 'drop_oldest' or 'drop_new', not {item.overflow!r}")
            if item.claimed and item.order_key is not None:
                raise ValueError("a claimed item cannot have an order key (ordered items are leased in order)")
        if not items:
            return EnqueueResult()
        with self._translated("enqueue"), transaction(self._conn, "BEGIN IMMEDIATE"):
            return self._enqueue(items)

    def _enqueue(self, items: Sequence[NewDelivery]) -> EnqueueResult:
        conn = self._conn
        counters = _Counters(conn)
        tallies: dict[str, list[int]] = {}  # webhook -> [accepted, refused, evicted]
        pending: list[tuple[Any, ...]] = []
        pending_index: list[int] = []  # position in `items` of each pending row
        ids: list[int | None] = [None] * len(items)
        evictors: dict[str, _Evictor] = {}
        evicted: list[tuple[int]] = []
        orphaned_keys: set[tuple[str, str]] = set()  # keys whose head was evicted

        def insert_pending() -> None:
            # One connection, one writer: AUTOINCREMENT gives the rows of one executemany consecutive ids.
            conn.executemany(INSERT_SQL, pending)
            if pending:
                (last,) = conn.execute("SELECT last_insert_rowid()").fetchone()
                for offset, index in enumerate(pending_index):
                    ids[index] = last - len(pending) + 1 + offset
            pending.clear()
            pending_index.clear()

        for index, item in enumerate(items):
            webhook = item.webhook
            counts = counters[webhook]
            tally = tallies.get(webhook)
            if tally is None:
                tally = tallies[webhook] = [0, 0, 0]
            size = len(item.body) + len(item.headers)
            budget = item.budget_bytes
            if counts.queued_bytes + counts.inflight_bytes + size > budget:
                if item.overflow == "drop_new" or counts.inflight_bytes + size > budget:
                    tally[1] += 1
                    continue
                evictor = evictors.get(webhook)
                if evictor is None:
                    evictor = evictors[webhook] = _Evictor(conn, webhook)
                while counts.queued_bytes + counts.inflight_bytes + size > budget:
                    victim = evictor.pop()
                    if victim is None and pending:
                        insert_pending()
                        victim = evictor.pop()
                    if victim is None:
                        raise StoreError(f"{self._path}: queued bytes of webhook {webhook!r} disagree with its rows")
                    victim_id, victim_size, victim_head, victim_key = victim
                    evicted.append((victim_id,))
                    if victim_head and victim_key is not None:
                        orphaned_keys.add((webhook, victim_key))
                    counts.queued -= 1
                    counts.queued_bytes -= victim_size
                    tally[2] += 1
            created = item.created_at
            claimed = item.claimed
            pending.append((webhook, item.order_key, size, created, created, created, item.delivery_id, item.event,
                            item.headers, item.body, INFLIGHT if claimed else READY, created if claimed else None))
            pending_index.append(index)
            if claimed:
                counts.inflight += 1
                counts.inflight_bytes += size
            else:
                counts.queued += 1
                counts.queued_bytes += size
            tally[0] += 1

        insert_pending()
        conn.executemany("DELETE FROM deliveries WHERE id = ?", evicted)
        conn.executemany(NEW_HEAD_SQL, orphaned_keys)
        counters.save()
        return EnqueueResult({w: EnqueueCounts(accepted=a, refused=r, evicted=e) for w, (a, r, e) in tallies.items()},
                             ids)

    def lease(self, webhook: str, now: float, limit: int, ordered: bool,
              max_bytes: int | None = None) -> list[Delivery]:
        """Mark up to `limit` due deliveries of `webhook` in flight and return them, oldest first.

        Due: queued and never tried, or waiting for a retry with `next_attempt_at <= now`.
        With `ordered`, only the oldest row of each order key qualifies, and only while no
        other row of that key is in flight: at most one item per key, in enqueue order.
        With `max_bytes`, the lease stops at the item whose size (as the budget counts it)
        brings the total to `max_bytes` or beyond, that item included: fewer than `limit` items
        totalling less than `max_bytes` means nothing more was due.
        """
        if limit <= 0:
            return []
        with self._translated("lease"), transaction(self._conn, "BEGIN IMMEDIATE"):
            conn = self._conn
            conn.execute(PROMOTE_SQL, (webhook, now))
            rows = conn.execute(READY_SQL, (webhook, 1, limit)).fetchall()
            if not ordered:
                # The READY index is split by `head`; an unordered lease merges both halves by id.
                behind_heads = conn.execute(READY_SQL, (webhook, 0, limit)).fetchall()
                if behind_heads:
                    rows = list(heapq.merge(rows, behind_heads, key=lambda row: row[0]))[:limit]
            if max_bytes is not None:
                total = 0
                for taken, row in enumerate(rows, 1):
                    total += row[3]
                    if total >= max_bytes:
                        del rows[taken:]
                        break
            if not rows:
                return []
            conn.executemany(
                "UPDATE deliveries SET state = 1, leased_at = ? WHERE id = ?", [(now, row[0]) for row in rows]
            )
            counters = _Counters(conn)
            counts = counters[webhook]
            size = sum(row[3] for row in rows)
            counts.queued -= len(rows)
            counts.queued_bytes -= size
            counts.inflight += len(rows)
            counts.inflight_bytes += size
            counters.save()
            return [_delivery(row) for row in rows]

    def ack(self, ids: Iterable[int]) -> int:
        """Remove delivered rows (in flight or queued); unknown ids are ignored. Returns how many were removed."""
        return self.settle(acked=ids).acked

    def retry(self, id: int, next_attempt_at: float, error: str, status: int | None) -> bool:
        """Put an in-flight row back, due at `next_attempt_at`, with one more attempt and its error.

        Returns False (and changes nothing) if `id` is not in flight.
        """
        return self.settle(retries=[Retry(id, next_attempt_at, error, status)]).retried == 1

    def dead_letter(
        self, id: int, reason: str, status: int | None, response_snippet: str, *, now: float | None = None
    ) -> bool:
        """Move an in-flight row to the dead letters (its final attempt counted). False if `id` is not in flight."""
        return self.settle(failures=[Failure(id, reason, status, response_snippet)], now=now).failed == 1

    def settle(
        self,
        *,
        acked: Iterable[int] = (),
        retries: Sequence[Retry] = (),
        failures: Sequence[Failure] = (),
        released: Iterable[int] = (),
        now: float | None = None,
    ) -> SettleCounts:
        """Apply the outcomes of many attempts in one transaction: a burst of responses costs one commit.

        `acked` rows (in flight or queued) are removed; `retries` go back to waiting with one more
        attempt; `failures` move to the dead letters (their final attempt counted, `failed_at = now`);
        `released` in-flight rows go back to ready, due at once, with no attempt counted (a send that
        was cancelled before it got an answer). Ids that are unknown or not in the state an action
        needs are skipped, and the counts say what was done.
        """
        unique_acks = sorted(set(acked))
        unique_released = sorted(set(released))
        if not (unique_acks or retries or failures or unique_released):
            return SettleCounts()
        failed_at = time.time() if now is None else now
        with self._translated("settle"), transaction(self._conn, "BEGIN IMMEDIATE"):
            conn = self._conn
            counters = _Counters(conn)
            rows = self._delete(unique_acks, counters)
            retried = sum(self._retry(counters, retry) for retry in retries)
            failed = discarded = 0
            for failure in failures:
                moved, dropped = self._fail(counters, failure, failed_at)
                failed += moved
                discarded += dropped
            inflight = [row for row in self._select_by_ids(_SETTLE_SELECT, unique_released) if row[2] == INFLIGHT]
            conn.executemany(
                "UPDATE deliveries SET state = 0, leased_at = NULL WHERE id = ?", [(row[0],) for row in inflight]
            )
            for _id, webhook, _state, size, _head, _key in inflight:
                counts = counters[webhook]
                counts.inflight -= 1
                counts.inflight_bytes -= size
                counts.queued += 1
                counts.queued_bytes += size
            counters.save()
            return SettleCounts(acked=len(rows), retried=retried, failed=failed, released=len(inflight),
                                discarded=discarded)

    def _retry(self, counters: _Counters, retry: Retry) -> bool:
        conn = self._conn
        row = conn.execute("SELECT webhook, size FROM deliveries WHERE id = ? AND state = 1", (retry.id,)).fetchone()
        if row is None:
            return False
        webhook, size = row
        conn.execute(
            """UPDATE deliveries SET state = 2, next_attempt_at = ?, attempts = attempts + 1, last_error = ?,
                last_status = ?, leased_at = NULL WHERE id = ?""",
            (retry.next_attempt_at, retry.error, retry.status, retry.id),
        )
        counts = counters[webhook]
        counts.inflight -= 1
        counts.inflight_bytes -= size
        counts.queued += 1
        counts.queued_bytes += size
        return True

    def _fail(self, counters: _Counters, failure: Failure, failed_at: float) -> tuple[bool, int]:
        """Move one in-flight row to the dead letters; returns (moved, old dead letters discarded for room)."""
        conn = self._conn
        if conn.execute("SELECT 1 FROM deliveries WHERE id = ? AND state = 1", (failure.id,)).fetchone() is None:
            return False, 0
        conn.execute(
            """INSERT INTO dead_letters (id, webhook, order_key, size, attempts, status, created_at, enqueued_at,
                    last_attempt_at, failed_at, delivery_id, event, reason, response, headers, body)
                SELECT id, webhook, order_key, size, attempts + 1, ?, created_at, enqueued_at, leased_at, ?,
                    delivery_id, event, ?, ?, headers, body
                FROM deliveries WHERE id = ?""",
            (failure.status, failed_at, failure.reason, failure.response, failure.id),
        )
        (row,) = self._delete([failure.id], counters)
        counts = counters[row[1]]
        counts.dead += 1
        excess = counts.dead - failure.keep if failure.keep else 0
        if excess > 0:
            conn.execute("""DELETE FROM dead_letters WHERE id IN (
                SELECT id FROM dead_letters WHERE webhook = ? ORDER BY id LIMIT ?)""", (row[1], excess))
            counts.dead -= excess
        return True, max(0, excess)

    def release_inflight(self) -> int:
        """Put every in-flight row back to queued, due now (start-up after a crash). Returns how many."""
        with self._translated("release_inflight"), transaction(self._conn, "BEGIN IMMEDIATE"):
            conn = self._conn
            released = conn.execute(RELEASE_SQL).rowcount
            if released:
                conn.execute(
                    """UPDATE webhooks SET queued = queued + inflight, queued_bytes = queued_bytes + inflight_bytes,
                        inflight = 0, inflight_bytes = 0 WHERE inflight != 0"""
                )
            return released

    def replay(self, webhook: str, ids: Sequence[str] | None = None, *, now: float | None = None) -> int:
        """Move the dead letters of `webhook` with these delivery ids (all if None) back to the queue.

        They are due at once, with attempts reset, `enqueued_at = now`, the same delivery id,
        and re-enter at the tail (in their original order). The byte budget is not applied:
        a replay is an operator's explicit request. Returns how many were moved.
        """
        if isinstance(ids, str):
            raise TypeError("ids must be a list of delivery ids, not one string")
        when = time.time() if now is None else now
        with self._translated("replay"), transaction(self._conn, "BEGIN IMMEDIATE"):
            conn = self._conn
            if ids is None:
                rows = conn.execute("SELECT id, size FROM dead_letters WHERE webhook = ? ORDER BY id", (webhook,))
                chosen = rows.fetchall()
            else:
                chosen = []
                for chunk in _chunks(sorted(set(ids))):
                    marks = ", ".join("?" * len(chunk))
                    chosen += conn.execute(
                        f"SELECT id, size FROM dead_letters WHERE webhook = ? AND delivery_id IN ({marks})",
                        (webhook, *chunk),
                    ).fetchall()
                chosen.sort()
            if not chosen:
                return 0
            conn.executemany(_REPLAY_SQL, [(when, dead_id) for dead_id, _ in chosen])
            conn.executemany("DELETE FROM dead_letters WHERE id = ?", [(dead_id,) for dead_id, _ in chosen])
            counters = _Counters(conn)
            counts = counters[webhook]
            counts.dead -= len(chosen)
            counts.queued += len(chosen)
            counts.queued_bytes += sum(size for _, size in chosen)
            counters.save()
            return len(chosen)

    def purge(self, webhook: str) -> QueueStats:
        """Delete everything of a deleted webhook (queued, in flight, dead). Returns what was removed."""
        with self._translated("purge"), transaction(self._conn, "BEGIN IMMEDIATE"):
            conn = self._conn
            removed = _Counters(conn)[webhook].stats()
            conn.execute("DELETE FROM deliveries WHERE webhook = ?", (webhook,))
            conn.execute("DELETE FROM dead_letters WHERE webhook = ?", (webhook,))
            conn.execute("DELETE FROM webhooks WHERE webhook = ?", (webhook,))
            return removed

    # -- reads --------------------------------------------------------------------------------------

    def dead_letters(self, webhook: str, limit: int, offset: int = 0) -> list[DeadLetter]:
        """The dead letters of `webhook`, oldest (by original enqueue order) first."""
        with self._translated("dead_letters"), transaction(self._conn, "BEGIN"):
            rows = self._conn.execute(
                f"SELECT {_DEAD_COLUMNS} FROM dead_letters WHERE webhook = ? ORDER BY id LIMIT ? OFFSET ?",
                (webhook, limit, offset),
            )
            return [_dead_letter(row) for row in rows]

    def dead_letter_page(self, webhook: str, limit: int, offset: int = 0) -> tuple[list[DeadLetter], int]:
        """A page of `dead_letters` and how many the webhook has in all, read in one transaction (so they agree)."""
        with self._translated("dead_letters"), transaction(self._conn, "BEGIN"):
            return self.dead_letters(webhook, limit, offset), _Counters(self._conn)[webhook].dead

    def stats(self, webhook: str) -> QueueStats:
        """Current counts of `webhook` (all zero for an unknown one); O(1)."""
        with self._translated("stats"), transaction(self._conn, "BEGIN"):
            return _Counters(self._conn)[webhook].stats()

    def next_retry_at(self, webhook: str) -> float | None:
        """The earliest `next_attempt_at` of the rows waiting for a retry, so the worker knows when to wake up."""
        with self._translated("next_retry_at"), transaction(self._conn, "BEGIN"):
            (when,) = self._conn.execute(NEXT_RETRY_SQL, (webhook,)).fetchone()
            return float(when) if when is not None else None

    def webhooks(self) -> list[str]:
        """Webhooks with anything stored (queued, in flight or dead), sorted."""
        with self._translated("webhooks"), transaction(self._conn, "BEGIN"):
            return [webhook for (webhook,) in self._conn.execute("SELECT webhook FROM webhooks ORDER BY webhook")]

    def group(self) -> AbstractContextManager[None]:
        """One transaction around several calls (each becomes a savepoint): one commit for all of them.

        A call that raises undoes only its own changes; if the commit fails, none of them happened.
        """
        return _group(self)

    def close(self) -> None:
        with self._translated("close"):
            self._conn.close()

    def __enter__(self) -> DeliveryQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- helpers ------------------------------------------------------------------------------------

    def _select_by_ids(self, select: str, ids: Sequence[int]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            rows += self._conn.execute(f"{select} WHERE id IN ({marks})", tuple(chunk)).fetchall()
        return rows

    def _delete(self, ids: Sequence[int], counters: _Counters) -> list[tuple[Any, ...]]:
        """Delete the rows with these ids (unknown ones are skipped), pass on their heads, and take them off
        `counters` (the caller saves them). Returns the deleted rows as (id, webhook, state, size, head, key)."""
        conn = self._conn
        rows: list[tuple[Any, ...]] = []
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            rows += conn.execute(f"DELETE FROM deliveries WHERE id IN ({marks}) RETURNING {_SETTLE_COLUMNS}",
                                 tuple(chunk)).fetchall()
        conn.executemany(NEW_HEAD_SQL, {(row[1], row[5]) for row in rows if row[4] and row[5] is not None})
        for _id, webhook, state, size, _head, _key in rows:
            counts = counters[webhook]
            if state == INFLIGHT:
                counts.inflight -= 1
                counts.inflight_bytes -= size
            else:
                counts.queued -= 1
                counts.queued_bytes -= size
        return rows

    def _configure(self, conn: sqlite3.Connection, synchronous: str) -> None:
        (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
        if mode.lower() != "wal":
            raise StoreError(f"{self._path}: cannot use WAL journal mode (got {mode!r}); use a local file")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        # A backlog of large bodies can grow the log; give the space back after each checkpoint.
        conn.execute("PRAGMA journal_size_limit=67108864")

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        with transaction(conn, "BEGIN IMMEDIATE"):
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            (application_id,) = conn.execute("PRAGMA application_id").fetchone()
            if application_id != APPLICATION_ID and (version != 0 or application_id != 0):
                raise StoreError(f"{self._path}: not a hookmq delivery queue (application_id {application_id:#x})")
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self._path}: delivery queue schema version {version} is newer than the supported "
                    f"version {SCHEMA_VERSION}; it was written by a newer hookmq - upgrade instead"
                )
            for statement in _SCHEMA:
                conn.execute(statement)
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    def _translated(self, action: str) -> AbstractContextManager[None]:
        return translated(self._path, action)
