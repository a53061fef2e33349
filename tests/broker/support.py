"""Plain helpers shared by the end-to-end broker tests, which talk raw MQTT to a real node (`tests.helpers`).

One copy of each helper instead of one per test file; the fixtures (`clients`, `fast_sweep`) are in
``tests/broker/conftest.py``.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from hookmq.mqtt import (
    Connack,
    Packet,
    Pingreq,
    Pingresp,
    PropertyId,
    ProtocolVersion,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
)
from tests.helpers import BrokerThread, RawClient

V31 = ProtocolVersion.MQTT_3_1
V311 = ProtocolVersion.MQTT_3_1_1
V5 = ProtocolVersion.MQTT_5
P = PropertyId
MEI = PropertyId.MESSAGE_EXPIRY_INTERVAL
ALIAS = PropertyId.TOPIC_ALIAS
SUB_ID = PropertyId.SUBSCRIPTION_IDENTIFIER

StartBroker = Callable[..., BrokerThread]


class ConnectedClient(RawClient):
    """A RawClient from the `clients` fixture, keeping its CONNACK so tests can check the server's properties."""

    connack: Connack


OpenClient = Callable[..., ConnectedClient]


def each_version(ids: tuple[str, str] = ("3.1.1", "5")) -> pytest.MarkDecorator:
    """Run a test for MQTT 3.1.1 and 5 as its ``version`` argument; ``ids`` keeps each file's test ids stable."""
    return pytest.mark.parametrize("version", [V311, V5], ids=list(ids))


def persistent(version: int, expiry: int = 300, properties: dict[int, Any] | None = None) -> dict[str, Any]:
    """CONNECT arguments that create or resume a persistent session: 3.1.1 needs only clean_session=0, MQTT 5
    also a Session Expiry Interval (``properties`` adds further MQTT 5 CONNECT properties)."""
    if version == V5:
        return {"clean_start": False, "properties": {P.SESSION_EXPIRY_INTERVAL: expiry, **(properties or {})}}
    assert not properties, "MQTT 3.x CONNECT has no properties"
    return {"clean_start": False}


# --------------------------------------------------------------------------------------------- client operations


def subscribe(client: RawClient, *subscriptions: tuple[str, int] | Subscription, packet_id: int = 1,
              properties: dict[int, Any] | None = None) -> tuple[int, ...]:
    """SUBSCRIBE (``(filter, qos)`` pairs or full Subscriptions) and return the SUBACK's reason codes, so the
    test can check grants and refusals itself."""
    items = tuple(s if isinstance(s, Subscription) else Subscription(topic_filter=s[0], qos=s[1])
                  for s in subscriptions)
    client.send(Subscribe(packet_id=packet_id, subscriptions=items, properties=properties or {}))
    ack = client.recv()
    assert isinstance(ack, Suback) and ack.packet_id == packet_id, ack
    return ack.reason_codes


def subscribe_granted(client: RawClient, topic_filter: str, *, qos: int, packet_id: int = 1,
                      **options: Any) -> None:
    """Subscribe to one filter as a setup step, failing at once unless the broker grants exactly ``qos``."""
    granted = subscribe(client, Subscription(topic_filter=topic_filter, qos=qos, **options), packet_id=packet_id)
    assert granted == (qos,), granted


_WATCHER_IDS = itertools.count(1)


def open_watcher(bt: BrokerThread, topic_filter: str) -> RawClient:
    """A separate MQTT 5 client subscribed to ``topic_filter`` at QoS 1, to see what the broker publishes there
    (wills, denied messages); the caller closes it."""
    client = RawClient(bt.port, V5)
    client.connect(f"watcher-{next(_WATCHER_IDS)}")
    client.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter=topic_filter, qos=1),)))
    ack = client.recv()
    assert ack == Suback(packet_id=1, reason_codes=(1,)), ack
    return client


def publish(client: RawClient, topic: str, payload: bytes = b"", *, qos: int, packet_id: int = 1,
            stash_own_deliveries: bool = False, **publish_kw: Any) -> int:
    """Publish and complete the QoS flow (QoS 0: a PINGREQ round trip), so the message has been routed when
    this returns; returns the PUBACK / PUBREC reason code (0 for QoS 0).

    ``stash_own_deliveries``: the publisher is subscribed to the topic itself, so deliveries may arrive before
    its acknowledgement; they are acknowledged and kept for the next `drain` instead of failing the check."""
    client.send(Publish(topic=topic, payload=payload, qos=qos, packet_id=packet_id if qos else None, **publish_kw))

    def reply() -> Packet:
        return next_reply(client) if stash_own_deliveries else client.recv()

    if qos == 0:
        client.send(Pingreq())
        pong = reply()
        assert isinstance(pong, Pingresp), pong
        return 0
    if qos == 1:
        ack = reply()
        assert isinstance(ack, Puback) and ack.packet_id == packet_id and ack.reason_code < 0x80, ack
        return ack.reason_code
    rec = reply()
    assert isinstance(rec, Pubrec) and rec.packet_id == packet_id and rec.reason_code < 0x80, rec
    client.send(Pubrel(packet_id=packet_id))
    assert reply() == Pubcomp(packet_id=packet_id)
    return rec.reason_code


def ping_sync(client: RawClient) -> None:
    """Round trip a PINGREQ: everything this client sent before has been handled by the broker."""
    client.send(Pingreq())
    got = client.recv()
    assert isinstance(got, Pingresp), got


def acknowledge(client: RawClient, packet: Packet) -> None:
    """Send the client's side of the QoS flow for ``packet`` (PUBACK, PUBREC, or PUBCOMP for a PUBREL)."""
    if isinstance(packet, Publish) and packet.qos == 1:
        client.send(Puback(packet_id=packet.packet_id or 0))
    elif isinstance(packet, Publish) and packet.qos == 2:
        client.send(Pubrec(packet_id=packet.packet_id or 0))
    elif isinstance(packet, Pubrel):
        client.send(Pubcomp(packet_id=packet.packet_id))


# Deliveries `publish(..., stash_own_deliveries=True)` read while waiting for its acknowledgement.
_STASHED: weakref.WeakKeyDictionary[RawClient, list[Publish]] = weakref.WeakKeyDictionary()


def next_reply(client: RawClient) -> Packet:
    """The next packet that is not a delivery (deliveries are acknowledged and stashed for `drain`)."""
    while True:
        packet = client.recv()
        acknowledge(client, packet)
        if isinstance(packet, Publish):
            _STASHED.setdefault(client, []).append(packet)
        elif not isinstance(packet, Pubrel):
            return packet


def drain(client: RawClient) -> list[Publish]:
    """Every PUBLISH the broker has already sent to ``client`` (stashed ones first), acknowledged (QoS 2 up to
    PUBCOMP): proves what arrived, and that nothing else did, without sleeping."""
    client.send(Pingreq())
    out = _STASHED.pop(client, [])
    awaiting_rel: set[int | None] = set()
    pinged = False
    while not pinged or awaiting_rel:
        packet = client.recv()
        acknowledge(client, packet)
        if isinstance(packet, Pingresp):
            pinged = True
        elif isinstance(packet, Pubrel):
            awaiting_rel.discard(packet.packet_id)
        else:
            assert isinstance(packet, Publish), packet
            out.append(packet)
            if packet.qos == 2:
                awaiting_rel.add(packet.packet_id)
    return out


def recv_publish(client: RawClient, timeout: float | None = None, *, send_ack: bool = False) -> Publish:
    """The next packet, which must be a PUBLISH; ``send_ack`` also acknowledges it (for observers that only
    look at messages, not at the QoS flow)."""
    packet = client.recv(timeout)
    assert isinstance(packet, Publish), packet
    if send_ack:
        acknowledge(client, packet)
    return packet


def assert_round_trip(sub: RawClient, pub: RawClient, topic: str, payload: bytes = b"ping",
                      packet_id: int = 9) -> None:
    """``sub`` is subscribed to ``topic`` at QoS 1: a QoS 1 PUBLISH from ``pub`` reaches it (the connections
    still work)."""
    pub.send(Publish(topic=topic, payload=payload, qos=1, packet_id=packet_id))
    ack = pub.recv()
    assert isinstance(ack, Puback) and ack.packet_id == packet_id and ack.reason_code == 0, ack
    got = sub.recv()
    assert isinstance(got, Publish) and got.topic == topic and got.payload == payload, got
    sub.send(Puback(packet_id=got.packet_id or 0))


# --------------------------------------------------------------------------------------------- broker state


def offline(bt: BrokerThread, clientid: str) -> bool:
    """The broker has noticed the connection is gone and holds the session offline."""
    def check() -> bool:
        session = bt.broker.sessions.get(clientid)
        return session is not None and session.connection is None
    return bt.call(check)


def session_gone(bt: BrokerThread, clientid: str) -> bool:
    """The broker no longer has a session for ``clientid`` (ended or expired)."""
    return bt.call(lambda: clientid not in bt.broker.sessions)


def connection_count(bt: BrokerThread) -> int:
    """Open network connections as the broker counts them (read on its loop)."""
    return bt.call(bt.broker.connection_count)
