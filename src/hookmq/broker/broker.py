"""The broker: wires sessions, the topic trees, authentication, persistence and hooks together.

It holds no packet logic (that lives in ``handlers/``) and no socket code (``listeners/``). Everything that
happens to a message funnels through `Broker.publish`, and every route goes through the bus seam.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from hookmq.mqtt import PropertyId, ReasonCode, parse_shared

from .auth import PasswordFile
from .authz import Acl, Authorizer, AuthzConfigError, ClientIdentity
from .bus import Bus, LocalBus
from .clientinfo import ClientInfo
from .hooks import MESSAGE_DROPPED_BIT, MESSAGE_PUBLISH_BIT, HookEvent, Hooks
from .message import Message, MessageIdGenerator
from .persistence import Persister, restore
from .session import Session
from .stats import Stats
from .topics import RetainedTree, SubOptions, SubscriptionTree

if TYPE_CHECKING:
    from hookmq.config import Settings
    from hookmq.mqtt import Will
    from hookmq.store import Store

    from .connection import MqttConnection

__all__ = ["Broker"]

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 0.5  # seconds between checks for expired sessions and due wills
SHUTDOWN_GRACE = 2.0  # seconds the final DISCONNECTs get to leave before state is flushed


class Broker:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.hooks = Hooks()
        self.stats = Stats()
        self.started_at = time.time()
        self.sessions: dict[str, Session] = {}
        self.connections: set[MqttConnection] = set()
        self.subscriptions = SubscriptionTree()
        self.retained = RetainedTree()
        self.bus: Bus = LocalBus(self._route)
        self.journal = Persister(store, settings.storage.commit_interval_ms)
        self._ids = MessageIdGenerator(settings.node_name)
        self._offline: dict[str, Session] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        authn = settings.authentication
        # Loaded now so a missing or malformed file stops the start, not the first CONNECT.
        self.password_file = PasswordFile.open_existing(authn.password_file) if authn.password_file else None
        authz = settings.authorization
        acl = Acl.load(authz.acl_file) if authz.acl_file else None
        self.authorizer = Authorizer(acl, authz.no_match, authz.deny_action, authz.cache_max_size)
        self._authz_trivial = acl is None and authz.no_match == "allow"

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        snapshot = await loop.run_in_executor(None, self.journal.load)
        restore(self, snapshot)
        self.journal.start()
        self._tasks.append(asyncio.ensure_future(self._sweep()))

    async def stop(self) -> None:
        """Disconnect everyone (MQTT 5 clients get 0x8B), then flush state to disk."""
        for conn in list(self.connections):
            conn.close(ReasonCode.SERVER_SHUTTING_DOWN, "server_shutting_down")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        deadline = time.monotonic() + SHUTDOWN_GRACE
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # transports deliver the DISCONNECT, then report connection_lost
        await self.journal.close()

    def add_task(self, task: asyncio.Task[Any]) -> None:
        self._tasks.append(task)

    # ---------------------------------------------------------------- connections

    def connection_opened(self, conn: MqttConnection) -> None:
        self.connections.add(conn)
        stats = self.stats
        stats.connections += 1
        stats.connections_total += 1
        stats.connections_max = max(stats.connections_max, stats.connections)

    def connection_count(self) -> int:
        return len(self.connections)

    def connack_sent(self, conn: MqttConnection, code: int, props: dict[int, Any] | None = None) -> None:
        if self.hooks.wants(HookEvent.CONNACK):
            self.hooks.emit(HookEvent.CONNACK, conn.client, code, props or {})

    def connection_closed(self, conn: MqttConnection, reason: str) -> None:
        if conn in self.connections:
            self.connections.discard(conn)
            self.stats.connections -= 1
        session = conn.session
        if session is None:
            return
        if self.hooks.wants(HookEvent.DISCONNECTED):
            self.hooks.emit(HookEvent.DISCONNECTED, conn.client, reason, conn.disconnect_props)
        if session.connection is not conn:
            return  # taken over: the new connection owns the session now
        now = time.time()
        session.detach(now)
        self.authorizer.forget(session.clientid)
        will = conn.will
        conn.will = None
        if will is not None:
            delay = will.properties.get(PropertyId.WILL_DELAY_INTERVAL, 0)
            if delay and session.expiry_interval:
                session.will = will
                session.will_at = now + min(delay, session.expiry_interval)
                self.journal.session_changed(session)  # the pending will must survive a restart
            else:
                self._publish_will(conn.client, will)
        if session.expiry_interval == 0:
            self._end_session(session)
        else:
            self._offline[session.clientid] = session

    def open_session(self, conn: MqttConnection, clean_start: bool, expiry: int) -> tuple[Session, bool]:
        """Attach ``conn`` to its session: take over a live one, resume a stored one or start fresh.

        Returns the session and the CONNACK Session Present flag.
        """
        clientid = conn.client.clientid
        existing = self.sessions.get(clientid)
        if existing is not None and existing.connection is not None:
            old = existing.connection
            # [MQTT-3.1.4-3] the old connection is told why (0x8E) and closed.
            old.close(ReasonCode.SESSION_TAKEN_OVER, "discarded" if clean_start else "takenover")  # type: ignore[attr-defined]
            self.connection_closed(old, old.disconnect_reason or "takenover")  # type: ignore[arg-type,attr-defined]
            old.session = None  # type: ignore[attr-defined]
            existing = self.sessions.get(clientid)  # a session with expiry 0 ended with its connection
        present = False
        if existing is not None and not clean_start and not self._expired(existing, time.time()):
            session = existing
            present = True
            self._offline.pop(clientid, None)
            session.will = None  # [MQTT-3.1.3-9] reconnected before the will delay passed
            session.will_at = None
        else:
            if existing is not None:
                self._end_session(existing)
            session = Session(self, clientid)
            self.sessions[clientid] = session
        conn.session = session
        self._apply_expiry(session, expiry)
        return session, present

    def set_session_expiry(self, session: Session, expiry: int) -> None:
        self._apply_expiry(session, min(expiry, self.settings.mqtt.max_session_expiry))

    def _apply_expiry(self, session: Session, expiry: int) -> None:
        was_persistent = session.persistent
        session.expiry_interval = expiry
        session.persistent = expiry > 0
        if session.persistent and not was_persistent:
            self.journal.session_became_persistent(session)
        elif session.persistent:
            self.journal.session_changed(session)
        elif was_persistent:
            self.journal.session_deleted(session.clientid)

    def _expired(self, session: Session, now: float) -> bool:
        expires_at = session.expires_at()
        return expires_at is not None and now >= expires_at

    def _end_session(self, session: Session) -> None:
        if session.will is not None and session.client is not None:
            self._publish_will(session.client, session.will)  # the session ends before the will delay
        session.will = None
        for options in list(session.subscriptions.values()):
            self._remove_from_tree(session, options)
        session.discard_state()
        if self.sessions.get(session.clientid) is session:
            del self.sessions[session.clientid]
        self._offline.pop(session.clientid, None)
        if session.persistent:
            self.journal.session_deleted(session.clientid)
            session.persistent = False

    def adopt_offline_session(self, session: Session) -> None:
        self.sessions[session.clientid] = session
        self._offline[session.clientid] = session

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = time.time()
            for session in list(self._offline.values()):
                if session.will_at is not None and now >= session.will_at and session.client is not None:
                    will = session.will
                    session.will = session.will_at = None
                    if will is not None:
                        self._publish_will(session.client, will)
                    if session.persistent:
                        self.journal.session_changed(session)
                if self._expired(session, now):
                    log.debug("session %s expired", session.clientid)
                    self._end_session(session)

    def _publish_will(self, client: ClientInfo, will: Will) -> None:
        if not self._authorize_client(client, "publish", will.topic):
            return
        props = {k: v for k, v in will.properties.items() if k not in (PropertyId.WILL_DELAY_INTERVAL,
                                                                        PropertyId.MESSAGE_EXPIRY_INTERVAL)}
        interval = will.properties.get(PropertyId.MESSAGE_EXPIRY_INTERVAL)
        message = Message(self.next_message_id(), will.topic, will.payload, will.qos, will.retain, props,
                          client.clientid, client.username, client.peername, int(time.time() * 1000),
                          None if interval is None else time.time() + interval)
        self.publish(message)

    # ---------------------------------------------------------------- authentication / authorization

    def authenticate(self, client: ClientInfo, password: bytes | None) -> int | Awaitable[int]:
        """Return a CONNACK reason code (0 = accepted), or an awaitable of one when a password must be checked."""
        settings = self.settings.authentication
        if self.password_file is not None and client.username is not None:
            return self._check_password(client, password)
        if settings.allow_anonymous:
            code = 0
        else:
            code = ReasonCode.BAD_USERNAME_OR_PASSWORD if client.username is not None else ReasonCode.NOT_AUTHORIZED
        client.is_anonymous = True
        self._authn_done(client, code)
        return code

    async def _check_password(self, client: ClientInfo, password: bytes | None) -> int:
        assert self.password_file is not None
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(None, self.password_file.verify, client.username, password)
        code = 0 if ok else ReasonCode.BAD_USERNAME_OR_PASSWORD
        client.is_anonymous = False
        self._authn_done(client, code)
        return code

    def _authn_done(self, client: ClientInfo, code: int) -> None:
        if self.hooks.wants(HookEvent.CHECK_AUTHN_COMPLETE):
            self.hooks.emit(HookEvent.CHECK_AUTHN_COMPLETE, client, code, client.is_anonymous, False)

    def authorize(self, conn: MqttConnection, action: str, topic: str) -> bool:
        return self._authorize_client(conn.client, action, topic)

    def _authorize_client(self, client: ClientInfo, action: str, topic: str) -> bool:
        if self._authz_trivial:
            allowed, source = True, "default"
        else:
            identity = ClientIdentity(client.clientid, client.username, client.peerhost)
            result = self.authorizer.authorize(identity, action, topic)  # type: ignore[arg-type]
            allowed, source = result.allowed, result.source
        if self.hooks.wants(HookEvent.CHECK_AUTHZ_COMPLETE):
            self.hooks.emit(HookEvent.CHECK_AUTHZ_COMPLETE, client, action, topic, allowed, source)
        return allowed

    def reload_acl(self) -> None:
        """Re-read the ACL file (SIGHUP); a broken file keeps the rules in force and says why."""
        if self._authz_trivial:
            return
        try:
            self.authorizer.reload()
        except AuthzConfigError as exc:
            log.error("ACL not reloaded, keeping the current rules: %s", exc)
        else:
            log.info("ACL reloaded")

    def authz_disconnects(self) -> bool:
        return self.settings.authorization.deny_action == "disconnect"

    # ---------------------------------------------------------------- subscriptions

    def subscribe(self, session: Session, options: SubOptions) -> bool:
        """Add or replace a subscription; return True when it is new (Retain Handling 1 needs this)."""
        old = session.subscriptions.get(options.topic_filter)
        if old is not None:
            self._remove_from_tree(session, old)
        session.set_subscription(options)
        self.subscriptions.add(session, _real_filter(options), options)
        if self.hooks.wants(HookEvent.SUBSCRIBED) and session.client is not None:
            self.hooks.emit(HookEvent.SUBSCRIBED, session.client, options.topic_filter, options.qos,
                            {"qos": options.qos, "nl": int(options.no_local), "rap": int(options.retain_as_published),
                             "rh": options.retain_handling}, options.properties or {})
        return old is None

    def restore_subscription(self, session: Session, topic_filter: str, qos: int, no_local: bool, rap: bool,
                             retain_handling: int, subscription_id: int | None) -> None:
        shared = parse_shared(topic_filter)
        options = SubOptions(topic_filter=topic_filter, qos=qos, no_local=no_local, retain_as_published=rap,
                             retain_handling=retain_handling, subscription_id=subscription_id,
                             share_group=shared.group if shared is not None else None)
        session.subscriptions[topic_filter] = options
        self.subscriptions.add(session, _real_filter(options), options)

    def unsubscribe(self, session: Session, topic_filter: str, props: dict[int, Any] | None = None) -> bool:
        options = session.remove_subscription(topic_filter)
        if options is None:
            return False
        self._remove_from_tree(session, options)
        if self.hooks.wants(HookEvent.UNSUBSCRIBED) and session.client is not None:
            self.hooks.emit(HookEvent.UNSUBSCRIBED, session.client, topic_filter, options.qos, props or {})
        return True

    def _remove_from_tree(self, session: Session, options: SubOptions) -> None:
        self.subscriptions.remove(session.clientid, _real_filter(options), options.share_group)

    def send_retained(self, session: Session, options: SubOptions) -> None:
        now = time.time()
        sub_ids = (options.subscription_id,) if options.subscription_id else ()
        for message in list(self.retained.match(_real_filter(options))):
            if message.expired(now):
                self._set_retained(message.topic, None)
                continue
            qos = min(message.qos, options.qos)
            session.deliver(message, qos, True, sub_ids)  # [MQTT-3.3.1-9] retained on subscribe: retain=1

    # ---------------------------------------------------------------- messages

    def next_message_id(self) -> bytes:
        return self._ids.next()

    def publish(self, message: Message, internal: bool = False) -> int:
        """Accept a message (client PUBLISH, will or API), store it if retained, and route it.

        ``internal`` messages ($SYS) are routed and retained but neither counted nor announced to hooks,
        as EMQX's ``ignore_sys_message`` does.
        """
        hooks = self.hooks
        if internal:
            message.hooks_mask = 0
        else:
            self.stats.messages_received += 1
            mask = message.hooks_mask = hooks.message_mask(message.topic)
            if mask & MESSAGE_PUBLISH_BIT:
                hooks.emit(HookEvent.MESSAGE_PUBLISH, message)
        if message.retain:
            # [MQTT-3.3.1-6/7] an empty retained payload deletes; otherwise it replaces.
            self._set_retained(message.topic, message if message.payload else None)
        matched = self.bus.publish(message)
        if not matched and not internal:
            self.stats.messages_dropped += 1
            if message.hooks_mask & MESSAGE_DROPPED_BIT:
                hooks.emit(HookEvent.MESSAGE_DROPPED, message, "no_subscribers")
        return matched

    def delete_retained(self, topic: str) -> bool:
        """Forget the retained message of ``topic`` (an operator's request); False if there was none."""
        return self._set_retained(topic, None)

    def _set_retained(self, topic: str, message: Message | None) -> bool:
        if message is None:
            changed = self.retained.delete(topic)
        else:
            self.retained.set(message)
            changed = True
        if changed and not topic.startswith("$SYS/"):
            self.journal.retained_changed(topic, message)
        return changed

    def _route(self, message: Message) -> int:
        """Deliver to local sessions; overlapping subscriptions of one client get one copy at the highest QoS
        with every matching subscription identifier [MQTT-3.3.4-2..5]."""
        nodes = self.subscriptions.match(message.topic)
        if not nodes:
            return 0
        msg_qos = message.qos
        if len(nodes) == 1 and not nodes[0].shared:
            count = 0
            for session, opts in nodes[0].subs.values():
                if opts.no_local and session.clientid == message.from_clientid:
                    session.report_dropped(message, min(opts.qos, msg_qos), "no_local")  # [MQTT-3.8.3-3]
                    continue
                session.deliver(message, opts.qos if opts.qos < msg_qos else msg_qos,
                                message.retain and opts.retain_as_published,
                                (opts.subscription_id,) if opts.subscription_id else ())
                count += 1
            return count
        targets: dict[str, list[Any]] = {}
        no_local: tuple[Session, int] | None = None
        shared_count = 0
        for node in nodes:
            for clientid, (session, opts) in node.subs.items():
                if opts.no_local and clientid == message.from_clientid:
                    no_local = (session, min(opts.qos, msg_qos))
                    continue
                qos = min(opts.qos, msg_qos)
                retain = message.retain and opts.retain_as_published
                target = targets.get(clientid)
                if target is None:
                    targets[clientid] = [session, qos, retain, [opts.subscription_id] if opts.subscription_id else []]
                else:
                    target[1] = max(target[1], qos)
                    target[2] = target[2] or retain
                    if opts.subscription_id:
                        target[3].append(opts.subscription_id)
            for group in node.shared.values():
                picked = group.pick()
                if picked is not None:
                    session, opts = picked
                    session.deliver(message, min(opts.qos, msg_qos), message.retain and opts.retain_as_published,
                                    (opts.subscription_id,) if opts.subscription_id else ())
                    shared_count += 1
        for session, qos, retain, sub_ids in targets.values():
            session.deliver(message, qos, retain, tuple(sub_ids))
        if no_local is not None and no_local[0].clientid not in targets:
            no_local[0].report_dropped(message, no_local[1], "no_local")  # only if nothing else delivered it
        return len(targets) + shared_count

    # ---------------------------------------------------------------- management (API, CLI)

    def client_connection(self, clientid: str) -> MqttConnection | None:
        session = self.sessions.get(clientid)
        return session.connection if session is not None else None  # type: ignore[return-value]

    def kick(self, clientid: str) -> bool:
        """Disconnect a client (MQTT 5: reason 0x98, administrative action); False when it is not connected."""
        conn = self.client_connection(clientid)
        if conn is None:
            return False
        conn.close(ReasonCode.ADMINISTRATIVE_ACTION, "kicked")
        return True


def _real_filter(options: SubOptions) -> str:
    if options.share_group is None:
        return options.topic_filter
    shared = parse_shared(options.topic_filter)
    assert shared is not None
    return shared.topic_filter
