"""SQLite `Store`: the broker's durable state in one local file, stdlib `sqlite3` only.

Durability: the database runs in WAL mode with `synchronous=NORMAL`. A commit appends
the transaction to the write-ahead log without an fsync; the log is synced only when
it is checkpointed into the database file. What that means:

* process crash (kill -9, OOM kill, segfault): no committed transaction is lost. The
  log already sits in the OS page cache, and the next open replays it.
* power loss or OS crash: the file stays consistent and every transaction is still
  all-or-nothing, but the transactions committed since the last sync may roll back.

That trade makes a commit cheap enough to run often; the broker amortises it further
by group-committing many changes per `Batch`. Surviving power loss without losing
acknowledged messages would need `synchronous=FULL`.

The connection is opened with `check_same_thread=False` because the broker creates the
store on its main thread but uses it from one dedicated worker thread; it is still
not safe to use from two threads at once.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hookmq.store._sqlite_util import transaction, translated
from hookmq.store.base import (
    Batch,
    MessageRecord,
    RetainedRecord,
    SessionRecord,
    Snapshot,
    StoreError,
    SubscriptionRecord,
)

SCHEMA_VERSION = 1
"""Stored in `PRAGMA user_version`; bump it and add a migration when the schema changes."""

# Sessions and subscriptions are small rows looked up by their key: WITHOUT ROWID stores
# them in the primary-key b-tree itself. Retained messages and queued messages carry
# payloads of any size, for which SQLite recommends ordinary rowid tables.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS retained (
        topic TEXT NOT NULL PRIMARY KEY,
        payload BLOB NOT NULL,
        qos INTEGER NOT NULL,
        properties BLOB NOT NULL,
        meta BLOB NOT NULL,
        expires_at INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS sessions (
        client_id TEXT NOT NULL PRIMARY KEY,
        expiry_interval INTEGER NOT NULL,
        disconnected_at INTEGER,
        protocol_version INTEGER NOT NULL,
        awaiting_rel TEXT NOT NULL,
        meta BLOB NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS subscriptions (
        client_id TEXT NOT NULL,
        topic_filter TEXT NOT NULL,
        qos INTEGER NOT NULL,
        no_local INTEGER NOT NULL,
        retain_as_published INTEGER NOT NULL,
        retain_handling INTEGER NOT NULL,
        subscription_id INTEGER,
        PRIMARY KEY (client_id, topic_filter)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS messages (
        client_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        state INTEGER NOT NULL,
        packet_id INTEGER,
        qos INTEGER NOT NULL,
        retain INTEGER NOT NULL,
        dup INTEGER NOT NULL,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        properties BLOB NOT NULL,
        meta BLOB NOT NULL,
        expires_at INTEGER,
        PRIMARY KEY (client_id, seq)
    )""",
)

_Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Table:
    """How one record type maps to its table; `columns` are in the order `encode` returns them."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    encode: Callable[[Any], _Row]
    decode: Callable[[_Row], Any]

    def upsert_sql(self) -> str:
        placeholders = ", ".join("?" * len(self.columns))
        return f"INSERT OR REPLACE INTO {self.name} ({', '.join(self.columns)}) VALUES ({placeholders})"

    def delete_sql(self) -> str:
        return f"DELETE FROM {self.name} WHERE {' AND '.join(f'{column} = ?' for column in self.key)}"

    def select_sql(self) -> str:
        return f"SELECT {', '.join(self.columns)} FROM {self.name} ORDER BY {', '.join(self.key)}"


def _encode_retained(r: RetainedRecord) -> _Row:
    return (r.topic, r.payload, r.qos, r.properties, r.meta, r.expires_at)


def _decode_retained(row: _Row) -> RetainedRecord:
    topic, payload, qos, properties, meta, expires_at = row
    return RetainedRecord(
        topic=topic, payload=payload, qos=qos, properties=properties, meta=meta, expires_at=expires_at
    )


def _encode_session(s: SessionRecord) -> _Row:
    awaiting_rel = ",".join(map(str, s.awaiting_rel))
    return (s.client_id, s.expiry_interval, s.disconnected_at, s.protocol_version, awaiting_rel, s.meta)


def _decode_session(row: _Row) -> SessionRecord:
    client_id, expiry_interval, disconnected_at, protocol_version, awaiting_rel, meta = row
    return SessionRecord(
        client_id=client_id,
        expiry_interval=expiry_interval,
        disconnected_at=disconnected_at,
        protocol_version=protocol_version,
        awaiting_rel=tuple(int(packet_id) for packet_id in awaiting_rel.split(",")) if awaiting_rel else (),
        meta=meta,
    )


def _encode_subscription(s: SubscriptionRecord) -> _Row:
    return (s.client_id, s.topic_filter, s.qos, s.no_local, s.retain_as_published, s.retain_handling, s.subscription_id)


def _decode_subscription(row: _Row) -> SubscriptionRecord:
    client_id, topic_filter, qos, no_local, retain_as_published, retain_handling, subscription_id = row
    return SubscriptionRecord(
        client_id=client_id,
        topic_filter=topic_filter,
        qos=qos,
        no_local=bool(no_local),
        retain_as_published=bool(retain_as_published),
        retain_handling=retain_handling,
        subscription_id=subscription_id,
    )


def _encode_message(m: MessageRecord) -> _Row:
    return (
        m.client_id,
        m.seq,
        m.state,
        m.packet_id,
        m.qos,
        m.retain,
        m.dup,
        m.topic,
        m.payload,
        m.properties,
        m.meta,
        m.expires_at,
    )


def _decode_message(row: _Row) -> MessageRecord:
    client_id, seq, state, packet_id, qos, retain, dup, topic, payload, properties, meta, expires_at = row
    return MessageRecord(
        client_id=client_id,
        seq=seq,
        state=state,
        packet_id=packet_id,
        qos=qos,
        retain=bool(retain),
        dup=bool(dup),
        topic=topic,
        payload=payload,
        properties=properties,
        meta=meta,
        expires_at=expires_at,
    )


_RETAINED = _Table(
    "retained",
    ("topic", "payload", "qos", "properties", "meta", "expires_at"),
    ("topic",),
    _encode_retained,
    _decode_retained,
)
_SESSIONS = _Table(
    "sessions",
    ("client_id", "expiry_interval", "disconnected_at", "protocol_version", "awaiting_rel", "meta"),
    ("client_id",),
    _encode_session,
    _decode_session,
)
_SUBSCRIPTIONS = _Table(
    "subscriptions",
    ("client_id", "topic_filter", "qos", "no_local", "retain_as_published", "retain_handling", "subscription_id"),
    ("client_id", "topic_filter"),
    _encode_subscription,
    _decode_subscription,
)
_MESSAGES = _Table(
    "messages",
    (
        "client_id",
        "seq",
        "state",
        "packet_id",
        "qos",
        "retain",
        "dup",
        "topic",
        "payload",
        "properties",
        "meta",
        "expires_at",
    ),
    ("client_id", "seq"),
    _encode_message,
    _decode_message,
)

# Deleting a session cascades to everything keyed by its client id.
_CASCADE = (_SESSIONS, _SUBSCRIPTIONS, _MESSAGES)


class SqliteStore:
    """A `Store` backed by one SQLite database file; see the module docstring for durability."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        with self._translated("open"):
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            try:
                self._configure(conn)
                self._ensure_schema(conn)
            except BaseException:
                conn.close()
                raise
        self._conn = conn

    def load(self) -> Snapshot:
        with self._translated("load"), transaction(self._conn, "BEGIN"):
            return Snapshot(
                retained=self._select(_RETAINED),
                sessions=self._select(_SESSIONS),
                subscriptions=self._select(_SUBSCRIPTIONS),
                messages=self._select(_MESSAGES),
            )

    def commit(self, batch: Batch) -> None:
        """Write `batch` in one transaction: wipes first, then one executemany per table and kind."""
        if not batch:
            return
        with self._translated("commit"), transaction(self._conn, "BEGIN IMMEDIATE"):
            wiped = [(client_id,) for client_id in batch.wipes()]
            for table in _CASCADE:
                self._conn.executemany(f"DELETE FROM {table.name} WHERE client_id = ?", wiped)
            self._write(_RETAINED, batch.retained)
            self._write(_SESSIONS, batch.sessions)
            self._write(_SUBSCRIPTIONS, batch.subscriptions)
            self._write(_MESSAGES, batch.messages)

    def close(self) -> None:
        with self._translated("close"):
            self._conn.close()

    def _select(self, table: _Table) -> list[Any]:
        return [table.decode(row) for row in self._conn.execute(table.select_sql())]

    def _write(self, table: _Table, changes: dict[Any, Any]) -> None:
        deletes = [key if isinstance(key, tuple) else (key,) for key, record in changes.items() if record is None]
        puts = [table.encode(record) for record in changes.values() if record is not None]
        self._conn.executemany(table.delete_sql(), deletes)
        self._conn.executemany(table.upsert_sql(), puts)

    def _configure(self, conn: sqlite3.Connection) -> None:
        (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
        if mode.lower() != "wal":
            raise StoreError(f"{self._path}: cannot use WAL journal mode (got {mode!r}); use a local file")
        conn.execute("PRAGMA synchronous=NORMAL")

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        with transaction(conn, "BEGIN IMMEDIATE"):
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self._path}: database schema version {version} is newer than the supported "
                    f"version {SCHEMA_VERSION}; it was written by a newer hookmq - upgrade instead"
                )
            for statement in _SCHEMA:
                conn.execute(statement)
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _translated(self, action: str) -> AbstractContextManager[None]:
        return translated(self._path, action)
