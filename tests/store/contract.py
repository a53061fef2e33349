"""The behaviour every `Store` backend must share, written once.

A backend test module subclasses `StoreContract` and supplies a `store` fixture.
Keeping the cases in one place means `MemoryStore`, which broker tests rely on,
cannot drift from `SqliteStore`, which production uses.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from hookmq.store import (
    Batch,
    MessageRecord,
    RetainedRecord,
    SessionRecord,
    Snapshot,
    Store,
    SubscriptionRecord,
)

Record = RetainedRecord | SessionRecord | SubscriptionRecord | MessageRecord


def retained(topic: str, **changes: Any) -> RetainedRecord:
    record = RetainedRecord(topic=topic, payload=b"payload", qos=1, properties=b"", meta=b"", expires_at=None)
    return replace(record, **changes)


def session(client_id: str, **changes: Any) -> SessionRecord:
    record = SessionRecord(
        client_id=client_id, expiry_interval=60, disconnected_at=None, protocol_version=5, awaiting_rel=(), meta=b""
    )
    return replace(record, **changes)


def subscription(client_id: str, topic_filter: str, **changes: Any) -> SubscriptionRecord:
    record = SubscriptionRecord(
        client_id=client_id,
        topic_filter=topic_filter,
        qos=1,
        no_local=False,
        retain_as_published=False,
        retain_handling=0,
        subscription_id=None,
    )
    return replace(record, **changes)


def message(client_id: str, seq: int, **changes: Any) -> MessageRecord:
    record = MessageRecord(
        client_id=client_id,
        seq=seq,
        state=0,
        packet_id=None,
        qos=1,
        retain=False,
        dup=False,
        topic="t",
        payload=b"payload",
        properties=b"",
        meta=b"",
        expires_at=None,
    )
    return replace(record, **changes)


def batch_of(*records: Record) -> Batch:
    """A batch that puts `records`, in order."""
    batch = Batch()
    for record in records:
        if isinstance(record, RetainedRecord):
            batch.put_retained(record)
        elif isinstance(record, SessionRecord):
            batch.put_session(record)
        elif isinstance(record, SubscriptionRecord):
            batch.put_subscription(record)
        else:
            batch.put_message(record)
    return batch


# Every field set away from its default, and the "empty" values (None, b"", ()) that a backend might mangle.
FULL_RECORDS: tuple[Record, ...] = (
    retained("a/full", payload=b"\x00\xff" * 100, qos=2, properties=b"\x01props", meta=b"m", expires_at=2**53),
    retained("b/bare", payload=b"", qos=0),
    session("c1", expiry_interval=2**32 - 1, disconnected_at=1_700_000_000_000, awaiting_rel=(1, 7, 65535), meta=b"m"),
    session("c2", expiry_interval=0, protocol_version=4),
    subscription(
        "c1", "a/+/#", qos=2, no_local=True, retain_as_published=True, retain_handling=2, subscription_id=268_435_455
    ),
    subscription("c1", "b", qos=0),
    message(
        "c1", 1, state=3, packet_id=65535, qos=2, retain=True, dup=True, properties=b"\x02", meta=b"m", expires_at=1
    ),
    message("c1", 2, qos=0, payload=b""),
)


class _InjectedError(Exception):
    pass


class _ExplodingChanges(dict[Any, Any]):
    """A batch section that fails as soon as a backend reads it, i.e. midway through a commit."""

    def items(self) -> Any:
        raise _InjectedError

    def values(self) -> Any:
        raise _InjectedError

    def keys(self) -> Any:
        raise _InjectedError

    def __iter__(self) -> Any:
        raise _InjectedError


class StoreContract:
    """Cases run against every backend; subclasses provide the `store` fixture."""

    def test_new_store_is_empty(self, store: Store) -> None:
        assert store.load() == Snapshot()

    def test_every_record_type_round_trips(self, store: Store) -> None:
        store.commit(batch_of(*FULL_RECORDS))

        assert store.load() == Snapshot(
            retained=[r for r in FULL_RECORDS if isinstance(r, RetainedRecord)],
            sessions=[r for r in FULL_RECORDS if isinstance(r, SessionRecord)],
            subscriptions=[r for r in FULL_RECORDS if isinstance(r, SubscriptionRecord)],
            messages=[r for r in FULL_RECORDS if isinstance(r, MessageRecord)],
        )

    def test_last_write_wins_within_one_batch(self, store: Store) -> None:
        batch = batch_of(
            retained("t", payload=b"1"),
            retained("t", payload=b"2"),
            session("c", meta=b"1"),
            session("c", meta=b"2"),
            subscription("c", "f", qos=0),
            subscription("c", "f", qos=2),
            message("c", 1, state=0),
            message("c", 1, state=1),
            retained("put-then-deleted"),
        )
        batch.delete_retained("put-then-deleted")
        batch.delete_retained("deleted-then-put")
        batch.put_retained(retained("deleted-then-put"))

        store.commit(batch)

        assert store.load() == Snapshot(
            retained=[retained("deleted-then-put"), retained("t", payload=b"2")],
            sessions=[session("c", meta=b"2")],
            subscriptions=[subscription("c", "f", qos=2)],
            messages=[message("c", 1, state=1)],
        )

    def test_later_commit_replaces_records(self, store: Store) -> None:
        store.commit(batch_of(retained("t"), session("c"), subscription("c", "f"), message("c", 1)))
        replacements = (retained("t", qos=0), session("c", meta=b"new"), subscription("c", "f", qos=0))
        store.commit(batch_of(*replacements, message("c", 1, state=2, dup=True)))

        assert store.load() == Snapshot(
            retained=[replacements[0]],
            sessions=[replacements[1]],
            subscriptions=[replacements[2]],
            messages=[message("c", 1, state=2, dup=True)],
        )

    def test_delete_removes_only_its_key(self, store: Store) -> None:
        store.commit(
            batch_of(
                retained("a"),
                retained("b"),
                subscription("c", "f1"),
                subscription("c", "f2"),
                message("c", 1),
                message("c", 2),
            )
        )
        batch = Batch()
        batch.delete_retained("a")
        batch.delete_subscription("c", "f1")
        batch.delete_message("c", 1)
        batch.delete_retained("never-stored")
        batch.delete_message("nobody", 1)
        store.commit(batch)

        assert store.load() == Snapshot(
            retained=[retained("b")], subscriptions=[subscription("c", "f2")], messages=[message("c", 2)]
        )

    @pytest.mark.parametrize("direct", [False, True], ids=["delete_session", "sessions[cid]=None"])
    def test_deleting_a_session_cascades_to_its_subscriptions_and_messages(self, store: Store, direct: bool) -> None:
        survivors = (session("c2"), subscription("c2", "f"), message("c2", 1))
        store.commit(batch_of(session("c1"), subscription("c1", "f"), message("c1", 1), message("c1", 2), *survivors))

        batch = Batch(sessions={"c1": None}) if direct else Batch()
        if not direct:
            batch.delete_session("c1")
        store.commit(batch)

        assert store.load() == Snapshot(sessions=[survivors[0]], subscriptions=[survivors[1]], messages=[survivors[2]])

    def test_delete_session_discards_earlier_changes_in_the_same_batch(self, store: Store) -> None:
        batch = batch_of(session("c"), subscription("c", "f"), message("c", 1))
        batch.delete_session("c")

        store.commit(batch)

        assert store.load() == Snapshot()

    def test_delete_then_put_session_in_one_batch_replaces_the_old_state(self, store: Store) -> None:
        store.commit(batch_of(session("c", meta=b"old"), subscription("c", "old"), message("c", 1), message("c", 2)))

        batch = Batch()
        batch.delete_session("c")
        batch.put_session(session("c", meta=b"new"))
        batch.put_subscription(subscription("c", "new"))
        batch.put_message(message("c", 5))
        store.commit(batch)

        assert store.load() == Snapshot(
            sessions=[session("c", meta=b"new")], subscriptions=[subscription("c", "new")], messages=[message("c", 5)]
        )

    def test_messages_load_in_delivery_order(self, store: Store) -> None:
        store.commit(batch_of(message("b", 3), message("a", 10), message("a", 2)))
        store.commit(batch_of(message("a", 7), message("b", 1)))

        keys = [(m.client_id, m.seq) for m in store.load().messages]

        assert keys == [("a", 2), ("a", 7), ("a", 10), ("b", 1), ("b", 3)]

    def test_snapshot_order_matches_python_string_order(self, store: Store) -> None:
        names = ["😀", "é", "Z", "a/b", "a", ""]
        store.commit(batch_of(*(retained(n) for n in names), *(session(n) for n in names)))
        store.commit(batch_of(*(subscription(n, f) for n in names for f in names)))

        snapshot = store.load()

        assert [r.topic for r in snapshot.retained] == sorted(names)
        assert [s.client_id for s in snapshot.sessions] == sorted(names)
        assert [(s.client_id, s.topic_filter) for s in snapshot.subscriptions] == sorted(
            (n, f) for n in names for f in names
        )

    def test_empty_batch_is_a_no_op(self, store: Store) -> None:
        store.commit(Batch())
        store.commit(batch_of(*FULL_RECORDS))
        before = store.load()

        store.commit(Batch())

        assert store.load() == before

    def test_commit_failing_midway_leaves_previous_state_intact(self, store: Store) -> None:
        store.commit(batch_of(*FULL_RECORDS))
        before = store.load()
        batch = batch_of(
            retained("new"), retained("a/full", payload=b"changed"), session("c3"), subscription("c3", "f")
        )
        batch.delete_session("c1")
        batch.delete_retained("b/bare")
        batch.messages = _ExplodingChanges({("c3", 1): message("c3", 1)})

        with pytest.raises(_InjectedError):
            store.commit(batch)

        assert store.load() == before
        store.commit(batch_of(retained("after")))
        assert [r.topic for r in store.load().retained] == ["a/full", "after", "b/bare"]
