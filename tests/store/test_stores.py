"""Tests for hookmq.store: the shared contract on both backends, `Batch` itself,
SQLite durability (reopen, SIGKILL of a real writer process) and a property that
both backends - and one merged group commit - end in the same state.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hookmq.store
from hookmq.store import (
    Batch,
    MemoryStore,
    MessageRecord,
    RetainedRecord,
    SessionRecord,
    Snapshot,
    SqliteStore,
    Store,
    StoreError,
    SubscriptionRecord,
)
from hookmq.store.sqlite import SCHEMA_VERSION
from tests.store.contract import (
    FULL_RECORDS,
    StoreContract,
    batch_of,
    message,
    retained,
    session,
    subscription,
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    backend: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "x.db")
    yield backend
    backend.close()


class TestContract(StoreContract):
    """The shared contract, once per backend through the parametrized `store` fixture."""


class TestBatch:
    def test_counts_changes_per_key(self) -> None:
        batch = Batch()
        assert not batch
        assert len(batch) == 0

        batch.put_retained(retained("t"))
        batch.put_retained(retained("t", qos=0))
        batch.delete_message("c", 1)

        assert batch
        assert len(batch) == 2

    def test_delete_session_drops_pending_changes_of_that_client_only(self) -> None:
        batch = batch_of(subscription("c1", "f"), message("c1", 1), subscription("c2", "f"), message("c2", 1))
        batch.delete_message("c1", 2)

        batch.delete_session("c1")

        assert batch.sessions == {"c1": None}
        assert batch.wipes() == {"c1"}
        assert list(batch.subscriptions) == [("c2", "f")]
        assert list(batch.messages) == [("c2", 1)]

    def test_merge_applies_the_other_batch_after_this_one(self) -> None:
        first = batch_of(retained("t", payload=b"1"), session("c", meta=b"1"), message("c", 1), message("d", 1))
        second = Batch()
        second.delete_session("c")
        second.put_session(session("c", meta=b"2"))
        second.put_retained(retained("t", payload=b"2"))

        first.merge(second)

        assert first.retained == {"t": retained("t", payload=b"2")}
        assert first.sessions == {"c": session("c", meta=b"2")}
        assert first.wipes() == {"c"}
        assert list(first.messages) == [("d", 1)]


class TestSqlite:
    def test_reopening_sees_committed_data(self, tmp_path: Path) -> None:
        path = tmp_path / "nested" / "dir" / "x.db"
        store = SqliteStore(path)
        store.commit(batch_of(*FULL_RECORDS))
        store.commit(batch_of(message("c1", 3)))
        expected = store.load()
        store.close()

        reopened = SqliteStore(str(path))
        try:
            assert reopened.load() == expected
            assert len(expected.messages) == 3
        finally:
            reopened.close()

    def test_uses_wal_and_records_the_schema_version(self, tmp_path: Path) -> None:
        SqliteStore(tmp_path / "x.db").close()

        with sqlite3.connect(tmp_path / "x.db") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        conn.close()

    def test_refuses_a_newer_schema_version(self, tmp_path: Path) -> None:
        conn = sqlite3.connect(tmp_path / "x.db")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.close()

        with pytest.raises(StoreError, match="newer"):
            SqliteStore(tmp_path / "x.db")

    def test_translates_opening_a_file_that_is_not_a_database(self, tmp_path: Path) -> None:
        (tmp_path / "x.db").write_bytes(b"definitely not sqlite" * 100)

        with pytest.raises(StoreError) as raised:
            SqliteStore(tmp_path / "x.db")

        assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)

    def test_sqlite_error_midway_rolls_back_and_is_translated(self, tmp_path: Path) -> None:
        store = SqliteStore(tmp_path / "x.db")
        store.commit(batch_of(*FULL_RECORDS))
        before = store.load()
        saboteur = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
        saboteur.execute("CREATE TRIGGER boom BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'boom'); END")
        batch = batch_of(retained("new"), session("c3"), subscription("c3", "f"), message("c3", 1))
        batch.delete_session("c1")

        with pytest.raises(StoreError, match="boom") as raised:
            store.commit(batch)

        assert isinstance(raised.value.__cause__, sqlite3.Error)
        assert store.load() == before
        saboteur.execute("DROP TRIGGER boom")
        saboteur.close()
        store.commit(batch)
        store.close()
        assert SqliteStore(tmp_path / "x.db").load().messages == [message("c3", 1)]

    def test_closed_store_raises_store_error(self, tmp_path: Path) -> None:
        store = SqliteStore(tmp_path / "x.db")
        store.close()
        store.close()

        with pytest.raises(StoreError):
            store.load()
        with pytest.raises(StoreError):
            store.commit(batch_of(retained("t")))

    def test_created_on_one_thread_usable_from_another(self, tmp_path: Path) -> None:
        store = SqliteStore(tmp_path / "x.db")
        loaded: list[Snapshot] = []

        def work() -> None:
            store.commit(batch_of(retained("t")))
            loaded.append(store.load())

        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
        store.close()

        assert loaded == [Snapshot(retained=[retained("t")])]


_KILLED_WRITER = """
import itertools, sys
from hookmq.store import Batch, MessageRecord, RetainedRecord, SessionRecord, SqliteStore

store = SqliteStore(sys.argv[1])
payload = bytes(range(256)) * 16
for i in itertools.count():
    batch = Batch()
    batch.put_session(SessionRecord(client_id="c", expiry_interval=60, disconnected_at=None, protocol_version=5,
                                    awaiting_rel=(), meta=str(i).encode()))
    batch.put_retained(RetainedRecord(topic=f"t/{i}", payload=payload, qos=1, properties=b"", meta=b"",
                                      expires_at=None))
    batch.put_message(MessageRecord(client_id="c", seq=i, state=0, packet_id=None, qos=1, retain=False, dup=False,
                                    topic="t", payload=payload, properties=b"", meta=b"", expires_at=None))
    store.commit(batch)
    print(i, flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkilled_writer_loses_no_committed_batch(tmp_path: Path) -> None:
    """A writer killed with SIGKILL at an arbitrary point keeps every batch whose commit() returned.

    The killed process also leaves no half-applied batch: the stored batches are exactly 0..n-1.
    """
    path = tmp_path / "x.db"
    acknowledged = _run_writer_until_killed(path, commits=300)

    store = SqliteStore(path)
    snapshot = store.load()
    store.close()

    stored = len(snapshot.messages)
    assert stored >= acknowledged
    assert [m.seq for m in snapshot.messages] == list(range(stored))
    assert [r.topic for r in snapshot.retained] == sorted(f"t/{i}" for i in range(stored))
    assert [s.meta for s in snapshot.sessions] == [str(stored - 1).encode()]


def _run_writer_until_killed(path: Path, commits: int) -> int:
    """Start a real writer process, SIGKILL it once `commits` commits have returned, return that count."""
    src = Path(hookmq.store.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    acknowledged = 0
    try:
        assert child.stdout is not None
        while acknowledged < commits:
            line = child.stdout.readline()
            assert line, f"writer died early: {child.stderr.read() if child.stderr else ''!r}"
            acknowledged = int(line) + 1
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    return acknowledged


# Small key spaces so random batches collide: overwrites, deletes of stored keys, wipes with pending changes.
_CLIENT_IDS = st.sampled_from(["a", "b", "é"])
_TOPICS = st.sampled_from(["t", "t/1", "😀"])
_FILTERS = st.sampled_from(["#", "t/+", "t/1"])
_SEQS = st.integers(0, 4)
_BLOBS = st.binary(max_size=4)
_INT64 = st.integers(-(2**63), 2**63 - 1)
_OPTIONAL_INT64 = st.none() | _INT64
_QOS = st.integers(0, 2)

_RETAINED = st.builds(
    RetainedRecord,
    topic=_TOPICS,
    payload=_BLOBS,
    qos=_QOS,
    properties=_BLOBS,
    meta=_BLOBS,
    expires_at=_OPTIONAL_INT64,
)
_SESSIONS = st.builds(
    SessionRecord,
    client_id=_CLIENT_IDS,
    expiry_interval=_INT64,
    disconnected_at=_OPTIONAL_INT64,
    protocol_version=st.sampled_from([3, 4, 5]),
    awaiting_rel=st.lists(st.integers(1, 65535), max_size=3).map(tuple),
    meta=_BLOBS,
)
_SUBSCRIPTIONS = st.builds(
    SubscriptionRecord,
    client_id=_CLIENT_IDS,
    topic_filter=_FILTERS,
    qos=_QOS,
    no_local=st.booleans(),
    retain_as_published=st.booleans(),
    retain_handling=_QOS,
    subscription_id=st.none() | st.integers(1, 268_435_455),
)
_MESSAGES = st.builds(
    MessageRecord,
    client_id=_CLIENT_IDS,
    seq=_SEQS,
    state=st.integers(0, 3),
    packet_id=st.none() | st.integers(1, 65535),
    qos=_QOS,
    retain=st.booleans(),
    dup=st.booleans(),
    topic=_TOPICS,
    payload=_BLOBS,
    properties=_BLOBS,
    meta=_BLOBS,
    expires_at=_OPTIONAL_INT64,
)
_OPERATIONS = st.one_of(
    st.tuples(st.just("put_retained"), _RETAINED),
    st.tuples(st.just("delete_retained"), _TOPICS),
    st.tuples(st.just("put_session"), _SESSIONS),
    st.tuples(st.just("delete_session"), _CLIENT_IDS),
    st.tuples(st.just("put_subscription"), _SUBSCRIPTIONS),
    st.tuples(st.just("delete_subscription"), _CLIENT_IDS, _FILTERS),
    st.tuples(st.just("put_message"), _MESSAGES),
    st.tuples(st.just("delete_message"), _CLIENT_IDS, _SEQS),
)


def _build(operations: list[tuple[Any, ...]]) -> Batch:
    batch = Batch()
    for name, *args in operations:
        getattr(batch, name)(*args)
    return batch


@settings(max_examples=75, deadline=None)
@given(st.lists(st.lists(_OPERATIONS, max_size=12), max_size=6))
def test_backends_and_group_commit_agree(batches: list[list[tuple[Any, ...]]]) -> None:
    """Both backends end in the same state, and so does committing all batches merged into one."""
    memory, grouped, group = MemoryStore(), MemoryStore(), Batch()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SqliteStore(Path(tmp) / "x.db")
        for operations in batches:
            memory.commit(_build(operations))
            sqlite.commit(_build(operations))
            group.merge(_build(operations))
        grouped.commit(group)
        sqlite.close()
        reopened = SqliteStore(Path(tmp) / "x.db")
        stored = reopened.load()
        reopened.close()

    assert stored == memory.load()
    assert grouped.load() == memory.load()
