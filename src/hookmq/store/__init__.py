"""Persistence for broker state: retained messages and persistent sessions.

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
from hookmq.store.sqlite import SqliteStore

__all__ = [
    "Batch",
    "MemoryStore",
    "MessageRecord",
    "RetainedRecord",
    "SessionRecord",
    "Snapshot",
    "SqliteStore",
    "Store",
    "StoreError",
    "SubscriptionRecord",
]
