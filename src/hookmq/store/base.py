"""Records, change batches and the storage interface shared by every backend.

The broker owns all live state in memory; a store only makes it survive a restart.
So the interface is deliberately tiny: read everything once at start-up (`Store.load`)
and apply collected changes atomically (`Store.commit`). The broker collects changes
into a `Batch` and hands one batch per transaction to a dedicated worker thread, which
turns many small writes into one durable commit ("group commit").

Records are frozen so a batch or snapshot can be shared between the event loop and
the worker thread without copying. Fields the store never inspects (MQTT properties,
broker metadata) are opaque `bytes` encoded by the broker, which keeps the schema
stable while the broker evolves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class StoreError(Exception):
    """Any failure of the storage backend; the original error is chained as `__cause__`.

    Backends translate their own exceptions (e.g. `sqlite3.Error`) at the store edge
    so nothing above the store has to know which backend is in use.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class RetainedRecord:
    """The retained message of one topic."""

    topic: str
    payload: bytes
    qos: int
    properties: bytes
    meta: bytes
    expires_at: int | None  # unix ms; None = never expires


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionRecord:
    """One subscription of a persistent session; keyed by (client_id, topic_filter)."""

    client_id: str
    topic_filter: str
    qos: int
    no_local: bool
    retain_as_published: bool
    retain_handling: int
    subscription_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRecord:
    """One queued or in-flight outgoing message of a persistent session.

    Keyed by (client_id, seq); `seq` increases per session and defines delivery order.
    """

    client_id: str
    seq: int
    state: int
    packet_id: int | None
    qos: int
    retain: bool
    dup: bool
    topic: str
    payload: bytes
    properties: bytes
    meta: bytes
    expires_at: int | None  # unix ms; None = never expires


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRecord:
    """The session state of one client that outlives its network connection."""

    client_id: str
    expiry_interval: int  # seconds, as in the MQTT Session Expiry Interval
    disconnected_at: int | None  # unix ms; None while connected
    protocol_version: int
    awaiting_rel: tuple[int, ...]  # packet ids of QoS 2 PUBLISHes received but not yet released
    meta: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Everything a store holds, in a deterministic order so snapshots compare equal.

    retained by topic, sessions by client_id, subscriptions by (client_id, topic_filter),
    messages by (client_id, seq) - i.e. each session's delivery order.
    """

    retained: list[RetainedRecord] = field(default_factory=list)
    sessions: list[SessionRecord] = field(default_factory=list)
    subscriptions: list[SubscriptionRecord] = field(default_factory=list)
    messages: list[MessageRecord] = field(default_factory=list)


@dataclass(slots=True)
class Batch:
    """Changes collected for one commit; the last write per key wins.

    A value of None deletes the key. Deleting a session (`sessions[cid] = None` or
    `delete_session`) also deletes all its subscriptions and messages. Because a client
    can reconnect with a clean start while its old session is still queued for deletion,
    a batch applies in two steps: first the sessions in `wipes()` are removed with all
    their subscriptions and messages, then every other change is applied. Together with
    `delete_session` dropping the client's earlier pending changes, this makes
    "delete_session, then put_session/put_subscription" mean "wipe old state, write new".
    """

    retained: dict[str, RetainedRecord | None] = field(default_factory=dict)
    sessions: dict[str, SessionRecord | None] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str], SubscriptionRecord | None] = field(default_factory=dict)
    messages: dict[tuple[str, int], MessageRecord | None] = field(default_factory=dict)
    wiped_sessions: set[str] = field(default_factory=set)

    def put_retained(self, record: RetainedRecord) -> None:
        self.retained[record.topic] = record

    def delete_retained(self, topic: str) -> None:
        self.retained[topic] = None

    def put_session(self, record: SessionRecord) -> None:
        self.sessions[record.client_id] = record

    def delete_session(self, client_id: str) -> None:
        """Delete the session with its subscriptions and messages, including ones pending in this batch.

        Costs O(pending subscriptions + messages), which is fine for session deletes.
        """
        self.sessions[client_id] = None
        self.wiped_sessions.add(client_id)
        for sub_key in [k for k in self.subscriptions if k[0] == client_id]:
            del self.subscriptions[sub_key]
        for msg_key in [k for k in self.messages if k[0] == client_id]:
            del self.messages[msg_key]

    def put_subscription(self, record: SubscriptionRecord) -> None:
        self.subscriptions[record.client_id, record.topic_filter] = record

    def delete_subscription(self, client_id: str, topic_filter: str) -> None:
        self.subscriptions[client_id, topic_filter] = None

    def put_message(self, record: MessageRecord) -> None:
        self.messages[record.client_id, record.seq] = record

    def delete_message(self, client_id: str, seq: int) -> None:
        self.messages[client_id, seq] = None

    def wipes(self) -> set[str]:
        """Client ids whose stored session, subscriptions and messages are removed before the other changes apply.

        Includes sessions set to None directly, so the cascade holds however the batch was built.
        """
        return self.wiped_sessions | {client_id for client_id, record in self.sessions.items() if record is None}

    def merge(self, other: Batch) -> None:
        """Fold `other` into this batch as if its changes had been made here, after ours."""
        for client_id in other.wipes():
            self.delete_session(client_id)
        self.retained.update(other.retained)
        self.sessions.update(other.sessions)
        self.subscriptions.update(other.subscriptions)
        self.messages.update(other.messages)

    def __len__(self) -> int:
        return len(self.retained) + len(self.sessions) + len(self.subscriptions) + len(self.messages)

    def __bool__(self) -> bool:
        return len(self) > 0 or bool(self.wiped_sessions)


class Store(Protocol):
    """A persistence backend. Not thread-safe: the broker calls it from one worker thread."""

    def load(self) -> Snapshot:
        """Return everything stored, ordered as documented on `Snapshot`."""
        ...

    def commit(self, batch: Batch) -> None:
        """Apply `batch` atomically: on any exception nothing of it is applied."""
        ...

    def close(self) -> None:
        """Release resources; committed data stays stored."""
        ...
