"""Persistence: the broker's retained messages and persistent sessions, and the webhook delivery queue.

Synchronous by design: the broker runs a store on one dedicated worker thread and
group-commits its changes, so the event loop never waits on disk I/O.
"""

from __future__ import annotations

from hookmq.store.base import (
    Batch,
    MessageRecord,
    RetainedRecord,
    SessionRecord,
    Snapshot,
    Store,
    StoreError,
    SubscriptionRecord,
)
from hookmq.store.memory import MemoryStore
from hookmq.store.queue import (
    DeadLetter,
    Delivery,
    DeliveryQueue,
    EnqueueCounts,
    EnqueueResult,
    Failure,
    NewDelivery,
    QueueStats,
    Retry,
    SettleCounts,
)
from hookmq.store.sqlite import SqliteStore

__all__ = [
    "Batch",
    "DeadLetter",
    "Delivery",
    "DeliveryQueue",
    "EnqueueCounts",
    "EnqueueResult",
    "Failure",
    "MemoryStore",
    "MessageRecord",
    "NewDelivery",
    "QueueStats",
    "Retry",
    "SettleCounts",
    "RetainedRecord",
    "SessionRecord",
    "Snapshot",
    "SqliteStore",
    "Store",
    "StoreError",
    "SubscriptionRecord",
]
