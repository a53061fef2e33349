"""EMQX events end to end: a real node, real clients (mosquitto_pub, paho, raw sockets), payloads as listeners
of ``node.events`` receive them. Checks the order of the EMQX docs' walkthrough, who is who in delivery events,
every drop and disconnect reason, and the exact key sets for MQTT 3.1.1 and 5 clients."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hookmq.mqtt import Connect, Disconnect, Puback, Pubcomp, Publish, Pubrec, Pubrel, Subscribe, Subscription
from tests.broker.support import V5, V311, P, StartBroker, persistent, ping_sync, recv_publish, subscribe_granted
from tests.events.test_builders import HEX32, PEERNAME, expected_keys
from tests.helpers import BrokerThread, raw_client, require_tool, wait_for

Payload = dict[str, Any]
PAGE_ORDER = ["client.connected", "client.connack", "client.check_authz_complete", "message.publish",
              "message.dropped", "client.disconnected"]


class Collector:
    """Collects payloads on the broker thread; the test thread reads copies under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._got: list[Payload] = []

    def __call__(self, payload: Payload) -> None:
        json.dumps(payload)  # what a webhook would send: must be plain JSON
        with self._lock:
            self._got.append(payload)

    @property
    def all(self) -> list[Payload]:
        with self._lock:
            return list(self._got)

    def of(self, clientid: str) -> list[Payload]:
        return [p for p in self.all if p.get("clientid") == clientid]

    def named(self, event: str, clientid: str | None = None) -> list[Payload]:
        return [p for p in self.all if p["event"] == event and (clientid is None or p.get("clientid") == clientid)]

    def wait(self, event: str, clientid: str | None = None, count: int = 1, timeout: float = 10.0) -> list[Payload]:
        found: list[Payload] = wait_for(lambda: len(got := self.named(event, clientid)) >= count and got,
                                        timeout, f"{count} x {event} of {clientid}")
        return found


def listen(bt: BrokerThread, events: Iterable[str] | None = None, topics: Iterable[str] = ()) -> Collector:
    collector = Collector()
    assert bt.node is not None
    bt.call(bt.node.events.listen, collector, None if events is None else list(events), list(topics))
    return collector


def disconnect_reason(col: Collector, clientid: str, timeout: float = 10.0) -> str:
    [payload] = col.wait("client.disconnected", clientid, timeout=timeout)
    assert set(payload) == expected_keys("client.disconnected")
    reason: str = payload["reason"]
    return reason


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# ------------------------------------------------------------------------------------------- the docs' walkthrough


@pytest.mark.parametrize(("version_flag", "proto_ver"), [("mqttv311", 4), ("mqttv5", 5)])
def test_mosquitto_pub_walkthrough_order(broker: BrokerThread, version_flag: str, proto_ver: int) -> None:
    """The EMQX Webhook page: ``pub -i emqx_c -t t/1 -m '{ "msg": "Hello Webhook" }'`` with no subscriber
    gives connected, connack, check_authz_complete, publish, dropped (no_subscribers), disconnected (normal)."""
    tool = require_tool("mosquitto_pub")
    col = listen(broker)  # every event
    subprocess.run([tool, "-h", "127.0.0.1", "-p", str(broker.port), "-V", version_flag, "-i", "emqx_c",
                    "-t", "t/1", "-m", '{ "msg": "Hello Webhook" }'], check=True, timeout=10, capture_output=True)
    col.wait("client.disconnected", "emqx_c")
    got = col.of("emqx_c")
    # EMQX 5.7.2+ also has client.check_authn_complete, which comes first; the page predates it.
    assert [p["event"] for p in got] == ["client.check_authn_complete", *PAGE_ORDER]
    by_event = {p["event"]: p for p in got}
    for event, payload in by_event.items():
        assert set(payload) == expected_keys(event), event
        assert payload["node"] == "hookmq@127.0.0.1"
        assert payload["username"] == "undefined"
        assert PEERNAME.match(payload["peername"]), payload["peername"]
    connected = by_event["client.connected"]
    assert connected["proto_ver"] == proto_ver
    assert connected["sockname"] == f"127.0.0.1:{broker.port}"
    assert connected["mountpoint"] == "undefined"
    assert connected["conn_props"]["User-Property"] == {}
    assert by_event["client.connack"]["reason_code"] == "success"
    authz = by_event["client.check_authz_complete"]
    assert (authz["action"], authz["topic"], authz["result"], authz["peerhost"]) == \
        ("publish", "t/1", "allow", "127.0.0.1")
    publish, dropped = by_event["message.publish"], by_event["message.dropped"]
    assert publish["payload"] == dropped["payload"] == '{ "msg": "Hello Webhook" }'
    assert HEX32.match(publish["id"]) and publish["id"] == dropped["id"]
    assert publish["flags"] == {"retain": False, "dup": False}
    assert publish["pub_props"] == {"User-Property": {}}
    assert dropped["reason"] == "no_subscribers"
    disconnected = by_event["client.disconnected"]
    assert disconnected["reason"] == "normal"
    assert disconnected["disconnected_at"] >= connected["connected_at"]
    stamps = [p["timestamp"] for p in got]
    assert stamps == sorted(stamps)


def test_topic_filter_for_message_publish(broker: BrokerThread) -> None:
    """message.publish is selected with a topic filter, like EMQX's ``FROM "t/#"``."""
    col = listen(broker, ["message.publish"], ["t/#"])
    with raw_client(broker.port, V5) as c:
        c.connect("filter-pub")
        for topic in ("t/1", "other/1", "t/2/3"):
            c.send(Publish(topic=topic, payload=b"x"))
        ping_sync(c)
    wait_for(lambda: len(col.all) == 2)
    assert [p["topic"] for p in col.all] == ["t/1", "t/2/3"]


# ----------------------------------------------------------------------------------------- delivery and acks


def test_delivered_once_per_subscriber_with_subscriber_identity(broker: BrokerThread) -> None:
    col = listen(broker, ["message.publish", "message.delivered"])
    with raw_client(broker.port, V5) as a, raw_client(broker.port, V311) as b, raw_client(broker.port, V5) as pub:
        a.connect("sub-a", username="alice")
        subscribe_granted(a, "d/+", qos=1)
        b.connect("sub-b")
        subscribe_granted(b, "d/#", qos=0)
        pub.connect("pub-d", username="publisher")
        pub.send(Publish(topic="d/1", payload=b"hello", qos=1, packet_id=1,
                         properties={P.USER_PROPERTY: [("k", "1"), ("k", "2")]}))
        assert isinstance(pub.recv(), Puback)
        recv_publish(a, send_ack=True)
        recv_publish(b)
        delivered = col.wait("message.delivered", count=2)
    [published] = col.named("message.publish")
    assert len(delivered) == 2
    by_sub = {p["clientid"]: p for p in delivered}
    assert set(by_sub) == {"sub-a", "sub-b"}
    for clientid, qos, username in (("sub-a", 1, "alice"), ("sub-b", 0, "undefined")):
        p = by_sub[clientid]
        assert set(p) == expected_keys("message.delivered")
        assert (p["qos"], p["username"]) == (qos, username)
        assert (p["from_clientid"], p["from_username"]) == ("pub-d", "publisher")
        assert p["id"] == published["id"]
        assert p["publish_received_at"] == published["publish_received_at"]
        assert p["peerhost"] == "127.0.0.1"
        assert p["pub_props"]["User-Property-Pairs"] == [{"key": "k", "value": "1"}, {"key": "k", "value": "2"}]
        assert p["pub_props"]["User-Property"] == {"k": "2"}
    assert (published["clientid"], published["username"], published["qos"]) == ("pub-d", "publisher", 1)
    # each subscriber's peername is its own socket, not the publisher's
    assert by_sub["sub-a"]["peername"] != published["peername"] != by_sub["sub-b"]["peername"]


@pytest.mark.parametrize("qos", [1, 2])
def test_acked_for_qos1_and_qos2(broker: BrokerThread, qos: int) -> None:
    col = listen(broker, ["message.delivered", "message.acked"])
    with raw_client(broker.port, V5) as sub, raw_client(broker.port, V5) as pub:
        sub.connect("acker")
        subscribe_granted(sub, "ack/t", qos=qos)
        pub.connect("ack-pub")
        pub.send(Publish(topic="ack/t", payload=b"please ack", qos=qos, packet_id=7))
        got = recv_publish(sub)
        col.wait("message.delivered", "acker")
        assert col.named("message.acked") == []  # not before the subscriber's ack
        reason: dict[int, Any] = {P.REASON_STRING: "got it", P.USER_PROPERTY: [("by", "acker")]}
        if qos == 1:
            sub.send(Puback(packet_id=got.packet_id or 0, properties=reason))
        else:
            sub.send(Pubrec(packet_id=got.packet_id or 0))
            assert isinstance(sub.recv(), Pubrel)  # so the broker has handled the PUBREC
            assert col.named("message.acked") == []  # QoS 2: acked on PUBCOMP, not PUBREC
            sub.send(Pubcomp(packet_id=got.packet_id or 0, properties=reason))
        [acked] = col.wait("message.acked", "acker")
    assert set(acked) == expected_keys("message.acked")
    assert (acked["qos"], acked["from_clientid"], acked["topic"], acked["payload"]) == \
        (qos, "ack-pub", "ack/t", "please ack")
    assert acked["puback_props"] == {"User-Property": {"by": "acker"}, "Reason-String": "got it",
                                     "User-Property-Pairs": [{"key": "by", "value": "acker"}]}
    assert acked["id"] == col.named("message.delivered", "acker")[0]["id"]


def test_qos0_delivery_is_never_acked(broker: BrokerThread) -> None:
    col = listen(broker, ["message.delivered", "message.acked"])
    with raw_client(broker.port, V5) as sub, raw_client(broker.port, V5) as pub:
        sub.connect("q0")
        subscribe_granted(sub, "q0/t", qos=0)
        pub.connect("q0-pub")
        pub.send(Publish(topic="q0/t", payload=b"x", qos=1, packet_id=1))
        recv_publish(sub)
        col.wait("message.delivered", "q0")
        ping_sync(sub)
    assert col.named("message.acked") == []


# ------------------------------------------------------------------------------------------ delivery.dropped


def _offline_subscriber(port: int, clientid: str, topic: str, qos: int) -> None:
    with raw_client(port, V5) as c:
        c.connect(clientid, **persistent(V5, expiry=300))
        subscribe_granted(c, topic, qos=qos)
        c.send(Disconnect())
        c.recv_until_closed()


def test_delivery_dropped_queue_full_and_qos0_msg(start_broker: StartBroker) -> None:
    bt = start_broker(mqtt={"max_queue_len": 1})
    col = listen(bt, ["delivery.dropped", "client.disconnected"])
    _offline_subscriber(bt.port, "offline-1", "qf/1", 1)
    _offline_subscriber(bt.port, "offline-0", "qf/0", 0)
    col.wait("client.disconnected", "offline-0")
    with raw_client(bt.port, V5) as pub:
        pub.connect("qf-pub")
        for n in range(2):  # the queue holds one: the second is dropped
            pub.send(Publish(topic="qf/1", payload=b"one-%d" % n, qos=1, packet_id=n + 1))
            assert isinstance(pub.recv(), Puback)
            pub.send(Publish(topic="qf/0", payload=b"zero-%d" % n, qos=0))
        ping_sync(pub)
    [full] = col.wait("delivery.dropped", "offline-1")
    [zero] = col.wait("delivery.dropped", "offline-0")
    for p, reason, qos, payload in ((full, "queue_full", 1, "one-1"), (zero, "qos0_msg", 0, "zero-1")):
        assert set(p) == expected_keys("delivery.dropped")
        assert (p["reason"], p["qos"], p["payload"]) == (reason, qos, payload)
        assert p["from_clientid"] == "qf-pub"
        assert p["from_username"] == "undefined"
        assert PEERNAME.match(p["peername"])  # the subscriber's last known address


def test_delivery_dropped_expired(start_broker: StartBroker) -> None:
    bt = start_broker()
    col = listen(bt, ["delivery.dropped", "message.delivered"])
    _offline_subscriber(bt.port, "late", "exp/t", 1)
    with raw_client(bt.port, V5) as pub:
        pub.connect("exp-pub")
        pub.send(Publish(topic="exp/t", payload=b"stale", qos=1, packet_id=1,
                         properties={P.MESSAGE_EXPIRY_INTERVAL: 1}))
        assert isinstance(pub.recv(), Puback)
        pub.send(Publish(topic="exp/t", payload=b"fresh", qos=1, packet_id=2))
        assert isinstance(pub.recv(), Puback)
    time.sleep(1.3)  # past the 1 s expiry (expired means strictly after)
    with raw_client(bt.port, V5) as sub:
        sub.connect("late", **persistent(V5, expiry=300))
        assert recv_publish(sub, send_ack=True).payload == b"fresh"
        [dropped] = col.wait("delivery.dropped", "late")
    assert set(dropped) == expected_keys("delivery.dropped")
    assert (dropped["reason"], dropped["payload"], dropped["from_clientid"]) == ("expired", "stale", "exp-pub")
    assert dropped["pub_props"]["Message-Expiry-Interval"] == 1
    assert [p["payload"] for p in col.named("message.delivered", "late")] == ["fresh"]


def test_delivery_dropped_no_local(broker: BrokerThread) -> None:
    col = listen(broker, ["delivery.dropped", "message.delivered"])
    with raw_client(broker.port, V5) as me, raw_client(broker.port, V5) as other:
        me.connect("nl-me")
        subscribe_granted(me, "nl/t", qos=1, no_local=True)
        other.connect("nl-other")
        subscribe_granted(other, "nl/t", qos=1)
        me.send(Publish(topic="nl/t", payload=b"echo?", qos=1, packet_id=1))
        assert isinstance(me.recv(), Puback)
        recv_publish(other, send_ack=True)
        [dropped] = col.wait("delivery.dropped", "nl-me")
    assert set(dropped) == expected_keys("delivery.dropped")
    assert (dropped["reason"], dropped["clientid"], dropped["from_clientid"]) == ("no_local", "nl-me", "nl-me")
    assert [p["clientid"] for p in col.named("message.delivered")] == ["nl-other"]


# ------------------------------------------------------------------------------------------ disconnect reasons


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5"])
def test_disconnected_normal_and_tcp_closed(broker: BrokerThread, version: int) -> None:
    col = listen(broker, ["client.disconnected"])
    with raw_client(broker.port, version) as c:
        c.connect("polite")
        c.send(Disconnect())
        c.recv_until_closed()
    with raw_client(broker.port, version) as c:
        c.connect("rude")
    assert disconnect_reason(col, "polite") == "normal"
    assert disconnect_reason(col, "rude") == "tcp_closed"


def test_disconnected_kicked(broker: BrokerThread) -> None:
    col = listen(broker, ["client.disconnected"])
    with raw_client(broker.port, V5) as c:
        c.connect("kick-me")
        assert broker.call(broker.broker.kick, "kick-me") is True
        c.recv_until_closed()
    assert disconnect_reason(col, "kick-me") == "kicked"


@pytest.mark.parametrize(("clean_start", "reason"), [(True, "discarded"), (False, "takenover")])
def test_disconnected_discarded_and_takenover(broker: BrokerThread, clean_start: bool, reason: str) -> None:
    col = listen(broker, ["client.connected", "client.connack", "client.disconnected"])
    with raw_client(broker.port, V5) as old, raw_client(broker.port, V5) as new:
        old.connect("twin", **persistent(V5, expiry=60))
        new.connect("twin", clean_start=clean_start, properties={P.SESSION_EXPIRY_INTERVAL: 60})
        old.recv_until_closed()
        assert disconnect_reason(col, "twin") == reason
        # the old connection ends before the new one is reported connected
        assert [p["event"] for p in col.of("twin")] == ["client.connected", "client.connack", "client.disconnected",
                                                         "client.connected", "client.connack"]


def test_disconnected_keepalive_timeout(broker: BrokerThread) -> None:
    col = listen(broker, ["client.disconnected"])
    with raw_client(broker.port, V5) as c:
        c.connect("sleepy", keep_alive=1)
        c.recv_until_closed(timeout=4)
    assert disconnect_reason(col, "sleepy") == "keepalive_timeout"


@pytest.mark.parametrize("action", ["publish", "subscribe"])
def test_disconnected_not_authorized(start_broker: StartBroker, tmp_path: Path, action: str) -> None:
    acl = tmp_path / "acl.toml"
    acl.write_text('[[rules]]\npermission = "deny"\naction = "all"\ntopics = ["secret/#"]\n')
    bt = start_broker(authorization={"acl_file": str(acl), "deny_action": "disconnect"})
    col = listen(bt, ["client.check_authz_complete", "client.disconnected"])
    with raw_client(bt.port, V5) as c:
        c.connect("snoop")
        if action == "publish":
            c.send(Publish(topic="secret/plans", payload=b"x", qos=1, packet_id=1))
        else:
            c.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="secret/#"),)))
        assert c.recv_until_closed() == [Disconnect(reason_code=0x87)]
    assert disconnect_reason(col, "snoop") == "not_authorized"
    [authz] = col.named("client.check_authz_complete", "snoop")
    assert set(authz) == expected_keys("client.check_authz_complete")
    assert (authz["result"], authz["authz_source"], authz["action"]) == ("deny", "file", action)
    assert authz["topic"] in ("secret/plans", "secret/#")


def test_disconnected_mqtt5_reason_names(broker: BrokerThread) -> None:
    col = listen(broker, ["client.disconnected"])
    with raw_client(broker.port, V5) as c:
        c.connect("will-leaver")
        c.send(Disconnect(reason_code=0x04))
        c.recv_until_closed()
    with raw_client(broker.port, V5) as c:
        c.connect("bad-topic")
        c.send(Publish(topic="a/#", payload=b"bad"))
        c.recv_until_closed()
    assert disconnect_reason(col, "will-leaver") == "disconnect_with_will_message"
    assert disconnect_reason(col, "bad-topic") == "topic_name_invalid"


def test_disconnect_props_reach_the_event(broker: BrokerThread) -> None:
    col = listen(broker, ["client.disconnected"])
    with raw_client(broker.port, V5) as c:
        c.connect("props-leaver", properties={P.SESSION_EXPIRY_INTERVAL: 10})
        c.send(Disconnect(properties={P.REASON_STRING: "bye", P.SESSION_EXPIRY_INTERVAL: 0,
                                      P.USER_PROPERTY: [("a", "b")]}))
        c.recv_until_closed()
    [p] = col.wait("client.disconnected", "props-leaver")
    assert p["disconn_props"] == {"User-Property": {"a": "b"}, "User-Property-Pairs": [{"key": "a", "value": "b"}],
                                  "Reason-String": "bye", "Session-Expiry-Interval": 0}


# ------------------------------------------------------------------------------------------ connack / authn


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5"])
def test_refused_connect_reason_names(start_broker: StartBroker, version: int) -> None:
    """connack reason_code is the MQTT 5 name for every version (EMQX ``emqx_reason_codes:name/1``)."""
    bt = start_broker(authentication={"allow_anonymous": False})
    col = listen(bt, ["client.check_authn_complete", "client.connack", "client.connected"])
    with raw_client(bt.port, version) as c:
        c.send(Connect(protocol_version=version, client_id="nobody"))
        c.recv_until_closed()
    [connack] = col.wait("client.connack", "nobody")
    [authn] = col.named("client.check_authn_complete", "nobody")
    assert set(connack) == expected_keys("client.connack")
    assert set(authn) == expected_keys("client.check_authn_complete")
    assert (connack["reason_code"], connack["proto_ver"]) == ("not_authorized", version)
    assert (authn["reason_code"], authn["is_anonymous"], authn["is_superuser"]) == ("not_authorized", True, False)
    assert col.named("client.connected") == []


def test_connack_and_connected_expiry_units(broker: BrokerThread) -> None:
    col = listen(broker, ["client.connected", "client.connack"])
    with raw_client(broker.port, V5) as c:
        c.connect("expiring", clean_start=False, keep_alive=42,
                  properties={P.SESSION_EXPIRY_INTERVAL: 90, P.RECEIVE_MAXIMUM: 5})
        [connack] = col.wait("client.connack", "expiring")
    [connected] = col.named("client.connected", "expiring")
    assert connected["expiry_interval"] == 90  # seconds
    assert connack["expiry_interval"] == 90_000  # milliseconds, as EMQX 5.8.9 sends it (spec §2.4)
    assert connected["keepalive"] == connack["keepalive"] == 42
    assert connected["clean_start"] is connack["clean_start"] is False
    assert connected["receive_maximum"] == 5
    assert connected["conn_props"] == connack["conn_props"] == {
        "User-Property": {}, "Session-Expiry-Interval": 90, "Receive-Maximum": 5}


# ------------------------------------------------------------------------------------------ paho: key sets


class Paho:
    """A paho 2.x client on its network thread, connected with username "paho-user" and keep alive 20."""

    def __init__(self, port: int, protocol: MQTTProtocolVersion, client_id: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        self.messages: list[mqtt.MQTTMessage] = []
        self.connected = threading.Event()
        self.client.on_connect = lambda *a: self.connected.set()
        self.client.on_message = lambda c, u, m: self.messages.append(m)
        props = None
        if protocol == mqtt.MQTTv5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.UserProperty = [("site", "lab"), ("site", "hq")]
        self.client.username_pw_set("paho-user")
        self.client.connect("127.0.0.1", port, keepalive=20, properties=props)
        self.client.loop_start()
        assert self.connected.wait(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["3.1.1", "5"])
def test_paho_client_events_have_exact_key_sets(broker: BrokerThread, protocol: MQTTProtocolVersion) -> None:
    clientid = unique("paho")
    col = listen(broker)
    paho = Paho(broker.port, protocol, clientid)
    try:
        assert paho.client.subscribe("paho/t", qos=1)[0] == mqtt.MQTT_ERR_SUCCESS
        col.wait("session.subscribed", clientid)
        info = paho.client.publish("paho/t", b"\x00\xffbin", qos=1)
        info.wait_for_publish(5)
        col.wait("message.acked", clientid)
        paho.client.publish("paho/nobody", b"x", qos=1).wait_for_publish(5)
        col.wait("message.dropped", clientid)
        assert paho.client.unsubscribe("paho/t")[0] == mqtt.MQTT_ERR_SUCCESS
        col.wait("session.unsubscribed", clientid)
    finally:
        paho.close()
    col.wait("client.disconnected", clientid)
    got = col.of(clientid)
    events = {p["event"] for p in got}
    assert events == {"client.check_authn_complete", "client.connected", "client.connack",
                      "client.check_authz_complete", "session.subscribed", "message.publish", "message.delivered",
                      "message.acked", "message.dropped", "session.unsubscribed", "client.disconnected"}
    for p in got:
        assert set(p) == expected_keys(p["event"]), p["event"]
        assert p["username"] == "paho-user"
        if "proto_ver" in p:
            assert p["proto_ver"] == (5 if protocol == mqtt.MQTTv5 else 4)
    for p in col.named("message.delivered") + col.named("message.acked"):
        assert p["from_username"] == "paho-user"
        assert p["payload"] == "\x00\ufffdbin"
    [connected] = col.named("client.connected", clientid)
    if protocol == mqtt.MQTTv5:
        assert connected["conn_props"]["User-Property-Pairs"] == [{"key": "site", "value": "lab"},
                                                                  {"key": "site", "value": "hq"}]
        assert connected["conn_props"]["User-Property"] == {"site": "hq"}
    else:
        assert connected["conn_props"] == {"User-Property": {}}
    assert connected["keepalive"] == 20
    assert disconnect_reason(col, clientid) == "normal"
    [subscribed] = col.named("session.subscribed", clientid)
    assert (subscribed["topic"], subscribed["qos"]) == ("paho/t", 1)


def test_shared_subscription_topic_is_kept(broker: BrokerThread) -> None:
    col = listen(broker, ["session.subscribed", "session.unsubscribed"])
    with raw_client(broker.port, V5) as c:
        c.connect("sharer")
        subscribe_granted(c, "$share/g1/s/#", qos=2)
        c.send(Subscribe(packet_id=2, subscriptions=(Subscription(topic_filter="plain/#", qos=1),),
                         properties={P.SUBSCRIPTION_IDENTIFIER: [12], P.USER_PROPERTY: [("x", "y")]}))
        c.recv()
        col.wait("session.subscribed", "sharer", count=2)
    first, second = col.named("session.subscribed", "sharer")
    assert (first["topic"], first["qos"]) == ("$share/g1/s/#", 2)
    assert second["sub_props"] == {"User-Property": {"x": "y"}, "User-Property-Pairs": [{"key": "x", "value": "y"}],
                                   "Subscription-Identifier": 12}


# ------------------------------------------------------------------------------------------ binary payloads


def test_binary_payload_becomes_replacement_characters(broker: BrokerThread) -> None:
    col = listen(broker, ["message.publish", "message.dropped"])
    raw = bytes(range(0x7E, 0x84)) + "é".encode() + b"\xc3"
    with raw_client(broker.port, V5) as c:
        c.connect("bin-pub")
        c.send(Publish(topic="bin/t", payload=raw, properties={P.CORRELATION_DATA: b"\x01\xfe"}))
        ping_sync(c)
    [published] = col.wait("message.publish", "bin-pub")
    assert published["payload"] == "~\x7f\ufffd\ufffd\ufffd\ufffdé\ufffd"
    assert published["pub_props"]["Correlation-Data"] == "\x01\ufffd"
    body = json.dumps(published, ensure_ascii=False).encode("utf-8")
    assert b"\xef\xbf\xbd" in body  # what webhook receivers see (spec §2.3, §8 #5)


def test_all_payloads_are_json_and_well_formed(broker: BrokerThread) -> None:
    """A mixed session; every payload any event carries matches the documented formats."""
    col = listen(broker)
    with raw_client(broker.port, V5) as c:
        c.connect("mixed", username="m")
        subscribe_granted(c, "mix/#", qos=1)
        c.send(Publish(topic="mix/a", payload=b"1", qos=1, packet_id=1))
        packets = [c.recv(), c.recv()]
        for packet in packets:
            if isinstance(packet, Publish):
                c.send(Puback(packet_id=packet.packet_id or 0))
        col.wait("message.acked", "mixed")
        c.send(Disconnect())
        c.recv_until_closed()
    col.wait("client.disconnected", "mixed")
    now = time.time() * 1000
    for p in col.all:
        assert set(p) == expected_keys(p["event"])
        assert now - 60_000 < p["timestamp"] <= now + 1000
        for key in ("peername", "sockname"):
            if key in p:
                assert PEERNAME.match(p[key]), (p["event"], key, p[key])
        if "id" in p:
            assert HEX32.match(p["id"])
        for key, value in p.items():
            if key.endswith("_props"):
                assert isinstance(value, dict) and "User-Property" in value
        assert re.fullmatch(r"[a-z_]+\.[a-z_]+", p["event"])
