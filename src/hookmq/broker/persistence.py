"""Group commit between the live broker state and the store.

Changes are only *noted* on the hot path (a dict assignment); every ``commit_interval_ms`` the noted changes
become one `Batch` that a single worker thread commits in one transaction. A ``kill -9`` therefore loses at
most the changes of the last interval (20 ms by default) — never a committed one (SQLite WAL).
Only persistent sessions and retained messages are journaled; clean sessions cost nothing here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson

from hookmq.mqtt import Will, decode_properties, encode_properties
from hookmq.store import (
    Batch,
    MessageRecord,
    RetainedRecord,
    SessionRecord,
    Snapshot,
    Store,
    StoreError,
    SubscriptionRecord,
)

from .clientinfo import ClientInfo
from .message import Message
from .session import Outgoing, Session
from .topics import SubOptions

if TYPE_CHECKING:
    from .broker import Broker

__all__ = ["Persister"]

log = logging.getLogger(__name__)


def _ms(t: float | None) -> int | None:
    return None if t is None else int(t * 1000)


def _message_meta(m: Message, **extra: Any) -> bytes:
    return orjson.dumps({"id": m.id.hex(), "from": m.from_clientid, "user": m.from_username,
                         "peer": list(m.peername), "at": m.received_at, "qos": m.qos, "retain": m.retain, **extra})


def _message_from(topic: str, payload: bytes, props_blob: bytes, meta_blob: bytes, expires_at: int | None) -> Message:
    meta = orjson.loads(meta_blob)
    props, _ = decode_properties(props_blob, 0, len(props_blob), "publish")
    return Message(bytes.fromhex(meta["id"]), topic, payload, meta["qos"], meta["retain"], props, meta["from"],
                   meta["user"], tuple(meta["peer"]), meta["at"], None if expires_at is None else expires_at / 1000)


def _session_meta(session: Session) -> bytes:
    """Who the client was, and a will waiting for its delay, so both survive a restart."""
    meta: dict[str, Any] = {}
    client = session.client
    if client is not None:
        meta["client"] = {"username": client.username, "peer": list(client.peername), "proto_ver": client.proto_ver}
    will = session.will
    if will is not None and session.will_at is not None:
        meta["will"] = {"topic": will.topic, "payload": will.payload.hex(), "qos": will.qos, "retain": will.retain,
                        "props": encode_properties(will.properties).hex(), "at": session.will_at}
    return orjson.dumps(meta)


def _restore_session_meta(session: Session, blob: bytes) -> None:
    meta = orjson.loads(blob or b"{}")
    client = meta.get("client")
    if client is not None:
        session.client = ClientInfo(clientid=session.clientid, username=client["username"],
                                    peername=tuple(client["peer"]), proto_ver=client["proto_ver"],
                                    clean_start=False, expiry_interval=session.expiry_interval)
    will = meta.get("will")
    if will is not None:
        props_blob = bytes.fromhex(will["props"])
        props, _ = decode_properties(props_blob, 0, len(props_blob), "will")
        session.will = Will(topic=will["topic"], payload=bytes.fromhex(will["payload"]), qos=will["qos"],
                            retain=will["retain"], properties=props)
        session.will_at = will["at"]


class Persister:
    """Implements `SessionJournal` for the broker and owns the store's worker thread."""

    def __init__(self, store: Store, interval_ms: int) -> None:
        self.store = store
        self.interval = interval_ms / 1000
        self._batch = Batch()
        self._sessions: dict[str, Session] = {}
        self._outgoing: dict[tuple[str, int], tuple[Session, Outgoing, bool]] = {}
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="hookmq-store")
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    # ---------------------------------------------------------------- journal (hot path: note only)

    def session_changed(self, session: Session) -> None:
        self._sessions[session.clientid] = session

    def session_deleted(self, clientid: str) -> None:
        self._sessions.pop(clientid, None)
        for key in [k for k in self._outgoing if k[0] == clientid]:
            del self._outgoing[key]
        self._batch.delete_session(clientid)

    def subscription_changed(self, session: Session, options: SubOptions, removed: bool) -> None:
        if removed:
            self._batch.delete_subscription(session.clientid, options.topic_filter)
        else:
            self._batch.put_subscription(SubscriptionRecord(
                client_id=session.clientid, topic_filter=options.topic_filter, qos=options.qos,
                no_local=options.no_local, retain_as_published=options.retain_as_published,
                retain_handling=options.retain_handling, subscription_id=options.subscription_id))

    def outgoing_changed(self, session: Session, outgoing: Outgoing, removed: bool) -> None:
        self._outgoing[session.clientid, outgoing.seq] = (session, outgoing, removed)

    def session_became_persistent(self, session: Session) -> None:
        """Write everything of a session that was not journaled while it was not persistent."""
        self.session_changed(session)
        for options in session.subscriptions.values():
            self.subscription_changed(session, options, False)
        for out in (*session.inflight.values(), *session.queue):
            if out.seq:
                self.outgoing_changed(session, out, False)

    def retained_changed(self, topic: str, message: Message | None) -> None:
        if message is None:
            self._batch.delete_retained(topic)
        else:
            self._batch.put_retained(RetainedRecord(
                topic=topic, payload=message.payload, qos=message.qos, properties=encode_properties(message.properties),
                meta=_message_meta(message), expires_at=_ms(message.expires_at)))

    # ---------------------------------------------------------------- commit

    def _take_batch(self) -> Batch:
        batch = self._batch
        for session in self._sessions.values():
            batch.put_session(SessionRecord(
                client_id=session.clientid, expiry_interval=session.expiry_interval,
                disconnected_at=_ms(session.disconnected_at), protocol_version=session.protocol_version,
                awaiting_rel=tuple(sorted(session.awaiting_rel)), meta=_session_meta(session)))
        for (clientid, seq), (_session, out, removed) in self._outgoing.items():
            if removed:
                batch.delete_message(clientid, seq)
            else:
                m = out.message
                batch.put_message(MessageRecord(
                    client_id=clientid, seq=seq, state=out.state, packet_id=out.packet_id, qos=out.qos,
                    retain=out.retain, dup=out.dup, topic=m.topic, payload=m.payload,
                    properties=encode_properties(m.properties), meta=_message_meta(m, sub_ids=list(out.sub_ids)),
                    expires_at=_ms(m.expires_at)))
        self._sessions = {}
        self._outgoing = {}
        self._batch = Batch()
        return batch

    async def flush(self) -> None:
        async with self._lock:  # one commit at a time keeps batches in order
            batch = self._take_batch()
            if not batch:
                return
            try:
                await asyncio.get_running_loop().run_in_executor(self._executor, self.store.commit, batch)
            except StoreError:
                log.exception("could not write %d changes to the store; they are kept for the next commit", len(batch))
                batch.merge(self._batch)
                self._batch = batch

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()
        await asyncio.get_running_loop().run_in_executor(self._executor, self.store.close)
        self._executor.shutdown()

    # ---------------------------------------------------------------- restore

    def load(self) -> Snapshot:
        return self.store.load()


def restore(broker: Broker, snapshot: Snapshot) -> None:
    """Rebuild retained messages and offline persistent sessions from a snapshot."""
    now = time.time()
    for r in snapshot.retained:
        message = _message_from(r.topic, r.payload, r.properties, r.meta, r.expires_at)
        if not message.expired(now):
            broker.retained.set(message)
    sessions: dict[str, Session] = {}
    for s in snapshot.sessions:
        session = Session(broker, s.client_id)
        session.expiry_interval = s.expiry_interval
        session.persistent = True
        session.protocol_version = s.protocol_version
        session.awaiting_rel = set(s.awaiting_rel)
        # A session that was connected when the node died counts as disconnected from now on.
        session.disconnected_at = now if s.disconnected_at is None else s.disconnected_at / 1000
        _restore_session_meta(session, s.meta)
        sessions[s.client_id] = session
    for sub in snapshot.subscriptions:
        owner = sessions.get(sub.client_id)
        if owner is None:
            continue
        broker.restore_subscription(owner, sub.topic_filter, sub.qos, sub.no_local, sub.retain_as_published,
                                    sub.retain_handling, sub.subscription_id)
    for m in snapshot.messages:
        owner = sessions.get(m.client_id)
        if owner is None:
            continue
        message = _message_from(m.topic, m.payload, m.properties, m.meta, m.expires_at)
        out = Outgoing(message, m.qos, m.retain, tuple(orjson.loads(m.meta).get("sub_ids", ())), m.seq)
        out.state = m.state
        out.packet_id = m.packet_id
        out.dup = m.dup
        owner.restore_outgoing(out)
    for session in sessions.values():
        broker.adopt_offline_session(session)
