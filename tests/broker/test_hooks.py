"""The hook point end to end: which events a real MQTT exchange announces, with what data, in what order."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from hookmq.broker import ClientInfo, Hook, HookEvent, Message
from hookmq.mqtt import Connect, Disconnect, Puback, Publish, Subscribe, Subscription, Unsubscribe, encode
from tests.broker.support import (
    V5,
    V311,
    P,
    StartBroker,
    connection_count,
    each_version,
    persistent,
    recv_publish,
    subscribe_granted,
)
from tests.helpers import BrokerThread, raw_client, wait_for

Event = tuple[Any, ...]


class Recorder(Hook):
    """Records every event as a tuple ``(name, clientid, ...)``; the broker calls it on its own loop."""

    id = "recorder"
    provides = frozenset(HookEvent)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def _add(self, *event: Any) -> None:
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def of(self, clientid: str) -> list[Event]:
        return [e for e in self.events if e[1] == clientid]

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e[0] == name]

    def on_check_authn_complete(self, client: ClientInfo, reason_code: int, is_anonymous: bool,
                                is_superuser: bool) -> None:
        self._add("check_authn_complete", client.clientid, reason_code, is_anonymous)

    def on_connack(self, client: ClientInfo, reason_code: int, connack_props: dict[int, Any]) -> None:
        self._add("connack", client.clientid, reason_code)

    def on_connected(self, client: ClientInfo) -> None:
        self._add("connected", client.clientid, client.proto_ver, client.keepalive)

    def on_disconnected(self, client: ClientInfo, reason: str, disconnect_props: dict[int, Any]) -> None:
        self._add("disconnected", client.clientid, reason)

    def on_check_authz_complete(self, client: ClientInfo, action: str, topic: str, allowed: bool,
                                source: str) -> None:
        self._add("check_authz_complete", client.clientid, action, topic, allowed, source)

    def on_subscribed(self, client: ClientInfo, topic_filter: str, qos: int, options: dict[str, int],
                      sub_props: dict[int, Any]) -> None:
        self._add("subscribed", client.clientid, topic_filter, qos, options)

    def on_unsubscribed(self, client: ClientInfo, topic_filter: str, qos: int, unsub_props: dict[int, Any]) -> None:
        self._add("unsubscribed", client.clientid, topic_filter)

    def on_message_publish(self, message: Message) -> None:
        self._add("message_publish", message.from_clientid, message.topic, message.payload, message.qos)

    def on_message_delivered(self, client: ClientInfo, message: Message, qos: int) -> None:
        self._add("message_delivered", client.clientid, message.topic, message.payload, qos)

    def on_message_acked(self, client: ClientInfo, message: Message, qos: int, ack_props: dict[int, Any]) -> None:
        self._add("message_acked", client.clientid, message.topic, message.payload, qos)

    def on_message_dropped(self, message: Message, reason: str) -> None:
        self._add("message_dropped", message.from_clientid, message.topic, reason)

    def on_delivery_dropped(self, client: ClientInfo, message: Message, qos: int, reason: str) -> None:
        self._add("delivery_dropped", client.clientid, message.topic, message.payload, reason)


@pytest.fixture
def hooked(start_broker: StartBroker) -> Callable[..., tuple[BrokerThread, Recorder]]:
    def start(**sections: Any) -> tuple[BrokerThread, Recorder]:
        bt = start_broker(**sections)
        recorder = Recorder()
        bt.call(bt.broker.hooks.add, recorder)
        return bt, recorder
    return start


def disconnect_reason(recorder: Recorder, clientid: str) -> str:
    found = wait_for(lambda: [e for e in recorder.of(clientid) if e[0] == "disconnected"],
                     message=f"disconnected event of {clientid}")
    assert len(found) == 1, found
    return found[0][2]


# ------------------------------------------------------------------------------------------------ the flow


@each_version()
def test_connect_subscribe_publish_disconnect_flow(hooked: Callable[..., tuple[BrokerThread, Recorder]],
                                                   version: int) -> None:
    bt, rec = hooked()
    with raw_client(bt.port, version) as sub, raw_client(bt.port, version) as pub:
        sub.connect("h-sub", keep_alive=30)
        subscribe_granted(sub, "flow/#", qos=1)
        pub.connect("h-pub", keep_alive=40)
        pub.send(Publish(topic="flow/a", payload=b"one", qos=1, packet_id=1))
        assert isinstance(pub.recv(), Puback)
        got = recv_publish(sub)
        sub.send(Puback(packet_id=got.packet_id or 0))
        wait_for(lambda: rec.named("message_acked"), message="message_acked")
        pub.send(Publish(topic="nobody/listens", payload=b"lost", qos=0))
        pub.send(Disconnect())
        assert pub.recv_until_closed() == []
        disconnect_reason(rec, "h-pub")
    assert disconnect_reason(rec, "h-sub") == "tcp_closed"

    assert rec.of("h-sub") == [
        ("check_authn_complete", "h-sub", 0, True),
        ("connected", "h-sub", version, 30),
        ("connack", "h-sub", 0),
        ("check_authz_complete", "h-sub", "subscribe", "flow/#", True, "default"),
        ("subscribed", "h-sub", "flow/#", 1, {"qos": 1, "nl": 0, "rap": 0, "rh": 0}),
        ("message_delivered", "h-sub", "flow/a", b"one", 1),
        ("message_acked", "h-sub", "flow/a", b"one", 1),
        ("disconnected", "h-sub", "tcp_closed"),
    ]
    assert rec.of("h-pub") == [
        ("check_authn_complete", "h-pub", 0, True),
        ("connected", "h-pub", version, 40),
        ("connack", "h-pub", 0),
        ("check_authz_complete", "h-pub", "publish", "flow/a", True, "default"),
        ("message_publish", "h-pub", "flow/a", b"one", 1),
        ("check_authz_complete", "h-pub", "publish", "nobody/listens", True, "default"),
        ("message_publish", "h-pub", "nobody/listens", b"lost", 0),
        ("message_dropped", "h-pub", "nobody/listens", "no_subscribers"),
        ("disconnected", "h-pub", "normal"),
    ]
    # across clients: publish -> delivered -> acked
    names = [(e[0], e[1]) for e in rec.events]
    assert names.index(("message_publish", "h-pub")) < names.index(("message_delivered", "h-sub")) \
        < names.index(("message_acked", "h-sub"))


def test_refused_connect_announces_authn_and_connack_only(hooked: Callable[..., tuple[BrokerThread, Recorder]]) -> None:
    bt, rec = hooked(authentication={"allow_anonymous": False})
    with raw_client(bt.port, V5) as c:
        c.send(Connect(protocol_version=V5, client_id="h-refused"))
        c.recv_until_closed()
    wait_for(lambda: rec.named("connack"))
    assert rec.of("h-refused") == [
        ("check_authn_complete", "h-refused", 0x87, True),
        ("connack", "h-refused", 0x87),
    ]


@each_version()
def test_refused_connect_with_pipelined_packets_announces_one_connack(
        hooked: Callable[..., tuple[BrokerThread, Recorder]], version: int) -> None:
    """Packets pipelined behind a refused CONNECT are never processed [MQTT-3.2.2-5] (MQTT 5 [MQTT-3.2.2-7]),
    so they produce no second CONNACK (on the wire or as an event)."""
    bt, rec = hooked(authentication={"allow_anonymous": False})
    with raw_client(bt.port, version) as c:
        c.send_raw(encode(Connect(protocol_version=version, client_id="h-pipe"), version)
                   + encode(Publish(topic="t", payload=b"x"), version)
                   + encode(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="t"),)), version))
        packets = c.recv_until_closed()
        assert len(packets) == 1, packets
    wait_for(lambda: rec.named("connack"))
    assert [e[0] for e in rec.of("h-pipe")] == ["check_authn_complete", "connack"]
    assert connection_count(bt) == 0


def test_qos0_delivery_has_no_acked_event(hooked: Callable[..., tuple[BrokerThread, Recorder]]) -> None:
    bt, rec = hooked()
    with raw_client(bt.port, V5) as sub, raw_client(bt.port, V5) as pub:
        sub.connect("q0-sub")
        subscribe_granted(sub, "q0/t", qos=0)
        pub.connect("q0-pub")
        pub.send(Publish(topic="q0/t", payload=b"fire and forget"))
        recv_publish(sub)
        wait_for(lambda: rec.named("message_delivered"))
        assert rec.named("message_delivered") == [("message_delivered", "q0-sub", "q0/t", b"fire and forget", 0)]
        assert rec.named("message_acked") == []


def test_unsubscribed_event(hooked: Callable[..., tuple[BrokerThread, Recorder]]) -> None:
    bt, rec = hooked()
    with raw_client(bt.port, V5) as c:
        c.connect("h-unsub")
        subscribe_granted(c, "u/t", qos=0)
        c.send(Unsubscribe(packet_id=2, topic_filters=("u/t", "never/subscribed")))
        c.recv()
        wait_for(lambda: rec.named("unsubscribed"))
        assert rec.named("unsubscribed") == [("unsubscribed", "h-unsub", "u/t")]


# ------------------------------------------------------------------------------------------------ drops


def test_delivery_dropped_no_local(hooked: Callable[..., tuple[BrokerThread, Recorder]]) -> None:
    """[MQTT-3.8.3-3] No Local: the publisher's own subscription is skipped and reported as a dropped
    delivery, while other subscribers still get the message."""
    bt, rec = hooked()
    with raw_client(bt.port, V5) as me, raw_client(bt.port, V5) as other:
        me.connect("h-nl")
        subscribe_granted(me, "nl/t", qos=1, no_local=True)
        other.connect("h-other")
        subscribe_granted(other, "nl/t", qos=1)
        me.send(Publish(topic="nl/t", payload=b"echo?", qos=1, packet_id=1))
        assert me.recv() == Puback(packet_id=1)
        assert recv_publish(other).payload == b"echo?"
        me.expect_silence(0.2)
        assert rec.named("delivery_dropped") == [("delivery_dropped", "h-nl", "nl/t", b"echo?", "no_local")]


def test_delivery_dropped_queue_full(hooked: Callable[..., tuple[BrokerThread, Recorder]]) -> None:
    bt, rec = hooked(mqtt={"max_queue_len": 1})
    with raw_client(bt.port, V5) as sub, raw_client(bt.port, V5) as pub:
        sub.connect("h-slow", properties={P.RECEIVE_MAXIMUM: 1})
        subscribe_granted(sub, "qf/t", qos=1)
        pub.connect("h-fast")
        for n in range(3):  # one in flight, one queued, one dropped
            pub.send(Publish(topic="qf/t", payload=b"m%d" % n, qos=1, packet_id=n + 1))
            assert isinstance(pub.recv(), Puback)
        wait_for(lambda: rec.named("delivery_dropped"))
        [dropped] = rec.named("delivery_dropped")
        assert dropped[:3] == ("delivery_dropped", "h-slow", "qf/t") and dropped[4] == "queue_full"
        first = recv_publish(sub)
        sub.send(Puback(packet_id=first.packet_id or 0))
        second = recv_publish(sub)
        sub.send(Puback(packet_id=second.packet_id or 0))
        assert {first.payload, second.payload, dropped[3]} == {b"m0", b"m1", b"m2"}


# ------------------------------------------------------------------------------------------------ reasons


@each_version()
def test_disconnected_reason_kicked(hooked: Callable[..., tuple[BrokerThread, Recorder]], version: int) -> None:
    bt, rec = hooked()
    with raw_client(bt.port, version) as c:
        c.connect("h-kick")
        assert bt.call(bt.broker.kick, "h-kick") is True
        expected = [Disconnect(reason_code=0x98)] if version == V5 else []
        assert c.recv_until_closed() == expected
    assert disconnect_reason(rec, "h-kick") == "kicked"
    assert bt.call(bt.broker.kick, "h-kick") is False


@pytest.mark.parametrize(("clean_start", "reason"), [(False, "takenover"), (True, "discarded")])
def test_disconnected_reason_takeover(hooked: Callable[..., tuple[BrokerThread, Recorder]], clean_start: bool,
                                      reason: str) -> None:
    bt, rec = hooked()
    with raw_client(bt.port, V5) as old, raw_client(bt.port, V5) as new:
        old.connect("h-twin", **persistent(V5, expiry=60))
        new.connect("h-twin", clean_start=clean_start, properties={P.SESSION_EXPIRY_INTERVAL: 60})
        old.recv_until_closed()
        assert disconnect_reason(rec, "h-twin") == reason
        names = [e[0] for e in rec.of("h-twin")]
        # the old connection's disconnected comes before the new connection's connected/connack
        assert names == ["check_authn_complete", "connected", "connack", "check_authn_complete", "disconnected",
                         "connected", "connack"]


def test_disconnected_reason_keepalive_timeout(hooked: Callable[..., tuple[BrokerThread, Recorder]]) -> None:
    bt, rec = hooked()
    with raw_client(bt.port, V5) as c:
        c.connect("h-idle", keep_alive=1)
        assert c.recv_until_closed(timeout=4) == [Disconnect(reason_code=0x8D)]
    assert disconnect_reason(rec, "h-idle") == "keepalive_timeout"


def test_disconnected_reason_for_v5_reason_codes(hooked: Callable[..., tuple[BrokerThread, Recorder]]) -> None:
    bt, rec = hooked()
    with raw_client(bt.port, V5) as c:
        c.connect("h-will")
        c.send(Disconnect(reason_code=0x04))
        c.recv_until_closed()
    assert disconnect_reason(rec, "h-will") == "disconnect_with_will_message"
    with raw_client(bt.port, V5) as c:
        c.connect("h-err")
        c.send(Publish(topic="a/#", payload=b"bad"))
        assert c.recv_until_closed() == [Disconnect(reason_code=0x90)]
    assert disconnect_reason(rec, "h-err") == "topic_name_invalid"


# ------------------------------------------------------------------------------------------------ robustness


class Exploding(Hook):
    id = "exploding"
    provides = frozenset(HookEvent)

    def __init__(self) -> None:
        self.calls = 0

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):
            def boom(*args: Any) -> None:
                object.__setattr__(self, "calls", object.__getattribute__(self, "calls") + 1)
                raise RuntimeError(f"{name} exploded")
            return boom
        return object.__getattribute__(self, name)


def test_a_hook_that_raises_does_not_break_mqtt(hooked: Callable[..., tuple[BrokerThread, Recorder]],
                                                caplog: pytest.LogCaptureFixture) -> None:
    bt, first = hooked()
    bad = Exploding()
    bt.call(bt.broker.hooks.remove, first)
    bt.call(bt.broker.hooks.add, bad)
    after = Recorder()  # registered after the broken hook: still gets every event
    bt.call(bt.broker.hooks.add, after)
    with raw_client(bt.port, V5) as sub, raw_client(bt.port, V311) as pub:
        assert sub.connect("x-sub").reason_code == 0
        subscribe_granted(sub, "x/t", qos=1)
        pub.connect("x-pub")
        pub.send(Publish(topic="x/t", payload=b"survives", qos=1, packet_id=1))
        assert pub.recv() == Puback(packet_id=1)
        got = recv_publish(sub)
        assert got.payload == b"survives"
        sub.send(Puback(packet_id=got.packet_id or 0))
        pub.send(Publish(topic="x/none", payload=b"dropped", qos=1, packet_id=2))
        assert pub.recv() == Puback(packet_id=2)
        pub.send(Disconnect())
        pub.recv_until_closed()
        wait_for(lambda: after.named("disconnected"))
    wait_for(lambda: len(after.named("disconnected")) == 2)
    assert bad.calls >= 10
    assert {e[0] for e in after.events} >= {"check_authn_complete", "connack", "connected", "check_authz_complete",
                                            "subscribed", "message_publish", "message_delivered", "message_acked",
                                            "message_dropped", "disconnected"}
    assert any("exploded" in r.getMessage() or (r.exc_info and "exploded" in str(r.exc_info[1]))
               for r in caplog.records)


class OnlyConnected(Hook):
    id = "only-connected"
    provides = frozenset({HookEvent.CONNECTED})

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_connected(self, client: ClientInfo) -> None:
        self.seen.append(client.clientid)

    def on_message_publish(self, message: Message) -> None:  # implemented but not in `provides`
        self.seen.append("message_publish")


def test_wants_is_false_for_events_nobody_provides(broker: BrokerThread) -> None:
    hooks = broker.broker.hooks
    assert not any(broker.call(hooks.wants, e) for e in HookEvent)
    hook = OnlyConnected()
    broker.call(hooks.add, hook)
    assert broker.call(hooks.wants, HookEvent.CONNECTED) is True
    assert [e for e in HookEvent if broker.call(hooks.wants, e)] == [HookEvent.CONNECTED]
    with raw_client(broker.port, V311) as c:
        c.connect("only")
        c.send(Publish(topic="t", payload=b"x", qos=1, packet_id=1))
        assert c.recv() == Puback(packet_id=1)
    assert hook.seen == ["only"], "a callback not listed in `provides` must never be called"
    broker.call(hooks.remove, hook)
    assert not any(broker.call(hooks.wants, e) for e in HookEvent)
