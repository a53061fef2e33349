"""In-memory `Store` for tests and benchmarks that should not touch the disk.

It honours the same contract as `SqliteStore` (atomic commits, cascading session
deletes, snapshot order), so broker tests written against it hold for SQLite too.
Subscriptions and messages are indexed per client so wiping a session costs
O(that session), and a failed commit is undone from a log of the changes it made
rather than by copying the whole state up front.
"""

from __future__ import annotations

from typing import Any

from hookmq.store.base import (
    Batch,
    MessageRecord,
    RetainedRecord,
    SessionRecord,
    Snapshot,
    SubscriptionRecord,
)

_MISSING = object()


class _UndoLog:
    """Dict mutations that remember the previous value so they can be reverted in reverse order."""

    def __init__(self) -> None:
        self._entries: list[tuple[dict[Any, Any], Any, Any]] = []

    def set(self, target: dict[Any, Any], key: Any, value: Any) -> None:
        self._entries.append((target, key, target.get(key, _MISSING)))
        target[key] = value

    def pop(self, target: dict[Any, Any], key: Any) -> None:
        if key in target:
            self._entries.append((target, key, target.pop(key)))

    def rollback(self) -> None:
        for target, key, previous in reversed(self._entries):
            if previous is _MISSING:
                target.pop(key, None)
            else:
                target[key] = previous


class MemoryStore:
    """A `Store` that keeps everything in dicts.

    `close()` keeps the data, so one instance can stand in for the disk across a
    simulated broker restart.
    """

    def __init__(self) -> None:
        self._retained: dict[str, RetainedRecord] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._subscriptions: dict[str, dict[str, SubscriptionRecord]] = {}
        self._messages: dict[str, dict[int, MessageRecord]] = {}

    def load(self) -> Snapshot:
        return Snapshot(
            retained=[self._retained[topic] for topic in sorted(self._retained)],
            sessions=[self._sessions[client_id] for client_id in sorted(self._sessions)],
            subscriptions=_flatten(self._subscriptions),
            messages=_flatten(self._messages),
        )

    def commit(self, batch: Batch) -> None:
        undo = _UndoLog()
        try:
            self._apply(batch, undo)
        except BaseException:
            undo.rollback()
            raise

    def close(self) -> None:
        """Nothing to release; the data stays available to a later `load()`."""

    def _apply(self, batch: Batch, undo: _UndoLog) -> None:
        for client_id in batch.wipes():
            undo.pop(self._sessions, client_id)
            undo.pop(self._subscriptions, client_id)
            undo.pop(self._messages, client_id)
        _apply_flat(self._retained, batch.retained, undo)
        _apply_flat(self._sessions, batch.sessions, undo)
        _apply_per_client(self._subscriptions, batch.subscriptions, undo)
        _apply_per_client(self._messages, batch.messages, undo)


def _apply_flat(target: dict[Any, Any], changes: dict[Any, Any], undo: _UndoLog) -> None:
    for key, record in changes.items():
        if record is None:
            undo.pop(target, key)
        else:
            undo.set(target, key, record)


def _apply_per_client(target: dict[str, dict[Any, Any]], changes: dict[tuple[str, Any], Any], undo: _UndoLog) -> None:
    for (client_id, key), record in changes.items():
        records = target.get(client_id)
        if record is None:
            if records is not None:
                undo.pop(records, key)
            continue
        if records is None:
            records = {}
            undo.set(target, client_id, records)
        undo.set(records, key, record)


def _flatten(per_client: dict[str, dict[Any, Any]]) -> list[Any]:
    flat: list[Any] = []
    for client_id in sorted(per_client):
        records = per_client[client_id]
        flat.extend(records[key] for key in sorted(records))
    return flat
