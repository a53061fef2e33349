"""Interop with paho-mqtt 2.x (threaded client, CallbackAPIVersion.VERSION2) over MQTT 3.1.1 and MQTT 5.

Every wait is bounded: callbacks feed queues/dicts that the test thread reads with timeouts. Negative checks
("no will was published") use a fence instead of a sleep: a marker message published after the broker has
processed the event must be the first thing the subscriber sees.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from tests.helpers import BrokerThread, wait_for

V311 = mqtt.MQTTv311
V5 = mqtt.MQTTv5
TIMEOUT = 5.0
BINARY = bytes(range(256)) + b"\x00\x00\xff\xfe" + "é✓".encode() + b"\r\n\x00"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class PahoClient:
    """A paho client on a background network thread with queue-based, timeout-bounded helpers."""

    def __init__(self, port: int, protocol: int, client_id: str = "", *, clean_session: bool = True,
                 transport: str = "tcp", ws_path: str = "/mqtt", will: tuple[str, bytes, int] | None = None) -> None:
        self.port = port
        self.protocol = protocol
        kwargs: dict[str, Any] = {}
        if protocol != V5:
            kwargs["clean_session"] = clean_session
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol,
                                  transport=transport, reconnect_on_failure=False, **kwargs)  # type: ignore[arg-type]
        if transport == "websockets":
            self.client.ws_set_options(path=ws_path)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=will[2])
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connacks: queue.Queue[tuple[Any, Any, Any]] = queue.Queue()
        self.subacks: dict[int, list[Any]] = {}
        self.disconnected = threading.Event()
        self.disconnect_reason: Any = None
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self._looping = False

    # paho callbacks (network thread)
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self.connacks.put((flags, reason_code, properties))

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.messages.put(message)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reason_codes: list[Any], properties: Any) -> None:
        self.subacks[mid] = reason_codes

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self.disconnect_reason = reason_code
        self.disconnected.set()

    # test-thread helpers
    def connect(self, clean_start: bool = True, session_expiry: int | None = None, **connect_props: Any) -> Any:
        """Connect, start the network thread and return (flags, reason_code, properties) of the CONNACK.

        ``connect_props`` are MQTT 5 CONNECT properties by paho name (``ReceiveMaximum=2``)."""
        props = None
        if self.protocol == V5 and (session_expiry is not None or connect_props):
            props = Properties(PacketTypes.CONNECT)
            if session_expiry is not None:
                props.SessionExpiryInterval = session_expiry
            for name, value in connect_props.items():
                setattr(props, name, value)
        kwargs: dict[str, Any] = {}
        if self.protocol == V5:
            kwargs = {"clean_start": clean_start, "properties": props}
        self.client.connect("127.0.0.1", self.port, keepalive=30, **kwargs)
        self.client.loop_start()
        self._looping = True
        flags, reason_code, properties = self.connacks.get(timeout=TIMEOUT)
        assert not reason_code.is_failure, reason_code
        return flags, reason_code, properties

    def connect_blocking(self) -> None:
        """Connect without a network thread (for an abrupt close that paho must not notice or repair)."""
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        deadline = time.monotonic() + TIMEOUT
        while self.connacks.empty():
            assert time.monotonic() < deadline, "no CONNACK"
            self.client.loop(0.05)

    def subscribe(self, topic: str, qos: int = 0, properties: Properties | None = None,
                  options: SubscribeOptions | None = None) -> list[int]:
        if options is None and self.protocol == V5:
            options = SubscribeOptions(qos=qos)
        if options is not None:
            rc, mid = self.client.subscribe(topic, options=options, properties=properties)
        else:
            rc, mid = self.client.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS and mid is not None
        codes = wait_for(lambda: self.subacks.get(mid), TIMEOUT, f"SUBACK for {topic}")
        return [c.value if hasattr(c, "value") else int(c) for c in codes]

    def publish(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False,
                properties: Properties | None = None) -> mqtt.MQTTMessageInfo:
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published(), f"publish to {topic} not acknowledged"
        return info

    def get(self, timeout: float = TIMEOUT) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def get_many(self, n: int, timeout: float = TIMEOUT) -> list[mqtt.MQTTMessage]:
        deadline = time.monotonic() + timeout
        out = []
        for _ in range(n):
            out.append(self.messages.get(timeout=max(0.01, deadline - time.monotonic())))
        return out

    def fence(self, topic: str) -> None:
        """Publish a marker to ``topic`` (which this client must be subscribed to) and require that it is the
        next message: anything the broker would have sent before it would show up first."""
        marker = b"fence-" + uuid.uuid4().bytes
        self.publish(topic, marker, qos=1)
        got = self.get()
        assert (got.topic, got.payload) == (topic, marker), f"unexpected message {got.topic} {got.payload!r}"

    def disconnect(self) -> None:
        if self._looping:
            self.client.disconnect()
            self.disconnected.wait(TIMEOUT)
            self.client.loop_stop()
            self._looping = False


@pytest.fixture
def paho(broker: BrokerThread) -> Iterator[Callable[..., PahoClient]]:
    """Factory of connected-on-demand paho clients against ``broker``; all are disconnected afterwards."""
    clients: list[PahoClient] = []

    def make(protocol: int, client_id: str = "", **kw: Any) -> PahoClient:
        c = PahoClient(broker.port, protocol, client_id or unique("paho"), **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        try:
            c.disconnect()
        except Exception:  # best effort: the test outcome is already decided
            pass


@pytest.fixture(params=[V311, V5], ids=["mqttv311", "mqttv5"])
def proto(request: pytest.FixtureRequest) -> int:
    return request.param


def session_of(broker: BrokerThread, clientid: str) -> Any:
    return broker.call(lambda: broker.broker.sessions.get(clientid))


# ------------------------------------------------------------------ basics


def test_connect_and_connack(paho: Callable[..., PahoClient], proto: int) -> None:
    c = paho(proto)
    flags, reason_code, properties = c.connect()
    assert reason_code.value == 0
    assert flags.session_present is False
    if proto == V5:
        assert properties.ReceiveMaximum == 32
        assert properties.MaximumPacketSize == 1048576
        assert properties.TopicAliasMaximum == 65535


def test_v5_empty_client_id_gets_an_assigned_one(broker: BrokerThread) -> None:
    c = PahoClient(broker.port, V5, "")
    try:
        _, _, properties = c.connect()
        assigned = properties.AssignedClientIdentifier
        assert assigned
        assert session_of(broker, assigned) is not None
    finally:
        c.disconnect()


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_and_receive_exact_bytes(paho: Callable[..., PahoClient], proto: int, qos: int) -> None:
    sub, pub = paho(proto), paho(proto)
    sub.connect()
    pub.connect()
    assert sub.subscribe("interop/+/bin", 2) == [2]
    for payload in (BINARY, b"", b"x" * 70_000):
        pub.publish("interop/q/bin", payload, qos=qos)
        got = sub.get()
        assert got.topic == "interop/q/bin"
        assert got.payload == payload
        assert got.qos == qos
        assert got.retain is False


@pytest.mark.parametrize(("sub_qos", "pub_qos"), [(0, 2), (1, 2), (0, 1)])
def test_delivery_qos_is_the_minimum(paho: Callable[..., PahoClient], proto: int, sub_qos: int, pub_qos: int) -> None:
    sub, pub = paho(proto), paho(proto)
    sub.connect()
    pub.connect()
    sub.subscribe("down/grade", sub_qos)
    pub.publish("down/grade", b"m", qos=pub_qos)
    assert sub.get().qos == sub_qos


def test_wildcard_topics_arrive_in_order(paho: Callable[..., PahoClient], proto: int) -> None:
    sub, pub = paho(proto), paho(proto)
    sub.connect()
    pub.connect()
    sub.subscribe("w/+/c", 1)
    sub.subscribe("w/x/#", 1)
    for topic in ("w/a/c", "w/x", "w/x/y/z", "w/a/b/c", "other", "w/end/c"):
        pub.publish(topic, topic.encode(), qos=1)
    assert [m.topic for m in sub.get_many(4)] == ["w/a/c", "w/x", "w/x/y/z", "w/end/c"]


# ------------------------------------------------------------------ retained


def test_retained_message_and_its_deletion(paho: Callable[..., PahoClient], proto: int) -> None:
    topic = unique("ret") + "/state"
    pub = paho(proto)
    pub.connect()
    pub.publish(topic, BINARY, qos=1, retain=True)

    first = paho(proto)
    first.connect()
    first.subscribe(topic, 1)
    got = first.get()
    assert (got.topic, got.payload, got.retain, got.qos) == (topic, BINARY, True, 1)

    # A live subscriber gets a new retained publish with retain=0 (MQTT 3.1.1 [MQTT-3.3.1-9]; MQTT 5 without
    # Retain As Published).
    pub.publish(topic, b"v2", qos=1, retain=True)
    live = first.get()
    assert (live.payload, live.retain) == (b"v2", False)

    pub.publish(topic, b"", qos=1, retain=True)  # empty retained payload deletes it
    assert first.get().payload == b""

    later = paho(proto)
    later.connect()
    later.subscribe(topic, 1)
    later.subscribe(topic + "/fence", 1)
    later.fence(topic + "/fence")  # no retained message came before the marker


def test_retained_message_matched_by_wildcard(paho: Callable[..., PahoClient], proto: int) -> None:
    base = unique("retw")
    pub = paho(proto)
    pub.connect()
    pub.publish(f"{base}/a", b"A", qos=0, retain=True)
    pub.publish(f"{base}/b/c", b"BC", qos=2, retain=True)
    sub = paho(proto)
    sub.connect()
    sub.subscribe(f"{base}/#", 2)
    got = {m.topic: (m.payload, m.retain, m.qos) for m in sub.get_many(2)}
    assert got == {f"{base}/a": (b"A", True, 0), f"{base}/b/c": (b"BC", True, 2)}


# ------------------------------------------------------------------ wills


def test_will_published_on_abrupt_close_not_after_disconnect(broker: BrokerThread,
                                                             paho: Callable[..., PahoClient], proto: int) -> None:
    watcher = paho(proto)
    watcher.connect()
    watcher.subscribe("will/#", 1)

    # A socket closed without DISCONNECT: the broker publishes the will.
    doomed_id = unique("doomed")
    doomed = PahoClient(broker.port, proto, doomed_id, will=("will/doomed", b"\x00gone\xff", 1))
    doomed.connect_blocking()
    wait_for(lambda: session_of(broker, doomed_id) is not None, message="doomed connected")
    doomed.client.socket().close()
    got = watcher.get()
    assert (got.topic, got.payload, got.qos) == ("will/doomed", b"\x00gone\xff", 1)

    # A normal DISCONNECT discards the will [MQTT-3.14.4-3].
    polite_id = unique("polite")
    polite = paho(proto, polite_id, will=("will/polite", b"should not be sent", 1))
    polite.connect()
    polite.disconnect()
    wait_for(lambda: session_of(broker, polite_id) is None, message="polite session ended")
    watcher.fence("will/fence")


def test_will_retained(broker: BrokerThread, paho: Callable[..., PahoClient], proto: int) -> None:
    topic = unique("willret")
    doomed_id = unique("doomed")
    doomed = PahoClient(broker.port, proto, doomed_id)
    doomed.client.will_set(topic, b"offline", qos=1, retain=True)
    doomed.connect_blocking()
    wait_for(lambda: session_of(broker, doomed_id) is not None, message="doomed connected")
    doomed.client.socket().close()
    wait_for(lambda: session_of(broker, doomed_id) is None, message="doomed gone")
    later = paho(proto)
    later.connect()
    later.subscribe(topic, 1)
    got = later.get()
    assert (got.payload, got.retain) == (b"offline", True)


# ------------------------------------------------------------------ persistent sessions


def test_persistent_session_receives_messages_queued_while_offline(broker: BrokerThread,
                                                                   paho: Callable[..., PahoClient],
                                                                   proto: int) -> None:
    cid = unique("persist")
    first = paho(proto, cid, clean_session=(proto == V5))
    flags, _, _ = first.connect(clean_start=True, session_expiry=300)
    assert flags.session_present is False
    first.subscribe("offline/#", 2)
    first.disconnect()
    wait_for(lambda: (s := session_of(broker, cid)) is not None and s.connection is None, message="offline")

    pub = paho(proto)
    pub.connect()
    sent = [("offline/1", b"one", 1), ("offline/2", b"two", 2), ("offline/0", b"zero", 0), ("offline/3", BINARY, 1)]
    for topic, payload, qos in sent:
        pub.publish(topic, payload, qos=qos)

    again = paho(proto, cid, clean_session=False)
    flags, _, _ = again.connect(clean_start=False, session_expiry=300)
    assert flags.session_present is True
    got = [(m.topic, m.payload, m.qos) for m in again.get_many(len(sent))]
    # paho hands a QoS 2 message to on_message only at PUBREL, so only the order within one QoS is defined.
    assert sorted(got) == sorted(sent)
    assert [g for g in got if g[2] == 1] == [s for s in sent if s[2] == 1]
    # the subscription survived too: a live message still arrives
    pub.publish("offline/live", b"live", qos=1)
    assert again.get().payload == b"live"


def test_clean_session_discards_queued_messages(broker: BrokerThread, paho: Callable[..., PahoClient],
                                                proto: int) -> None:
    cid = unique("dropme")
    first = paho(proto, cid, clean_session=(proto == V5))
    first.connect(clean_start=True, session_expiry=300)
    first.subscribe("gone/#", 1)
    first.disconnect()
    wait_for(lambda: (s := session_of(broker, cid)) is not None and s.connection is None, message="offline")
    pub = paho(proto)
    pub.connect()
    pub.publish("gone/1", b"lost", qos=1)

    fresh = paho(proto, cid, clean_session=True)
    flags, _, _ = fresh.connect(clean_start=True)
    assert flags.session_present is False
    fresh.subscribe("gone/fence", 1)
    fresh.fence("gone/fence")


def test_v5_session_expiry_zero_ends_with_the_connection(broker: BrokerThread,
                                                         paho: Callable[..., PahoClient]) -> None:
    cid = unique("noexp")
    c = paho(V5, cid)
    c.connect(clean_start=True, session_expiry=0)
    c.subscribe("x/#", 1)
    c.disconnect()
    wait_for(lambda: session_of(broker, cid) is None, message="session gone")
    again = paho(V5, cid)
    flags, _, _ = again.connect(clean_start=False, session_expiry=0)
    assert flags.session_present is False


# ------------------------------------------------------------------ MQTT 5 properties


def test_v5_properties_pass_through(paho: Callable[..., PahoClient]) -> None:
    sub, pub = paho(V5), paho(V5)
    sub.connect()
    pub.connect()
    sub.subscribe("req/+", 1)
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("trace", "abc"), ("trace", "def"), ("ünï", "cödé")]
    props.ResponseTopic = "resp/client-42"
    props.CorrelationData = b"\x00\x01corr\xff"
    props.ContentType = "application/json"
    props.PayloadFormatIndicator = 1
    props.MessageExpiryInterval = 120
    pub.publish("req/1", b'{"q": 1}', qos=1, properties=props)
    got = sub.get()
    assert got.payload == b'{"q": 1}'
    p = got.properties
    assert p.UserProperty == [("trace", "abc"), ("trace", "def"), ("ünï", "cödé")]
    assert p.ResponseTopic == "resp/client-42"
    assert p.CorrelationData == b"\x00\x01corr\xff"
    assert p.ContentType == "application/json"
    assert p.PayloadFormatIndicator == 1
    assert 0 < p.MessageExpiryInterval <= 120
    assert not hasattr(p, "TopicAlias")


def test_v5_request_response_round_trip(paho: Callable[..., PahoClient]) -> None:
    requester, responder = paho(V5), paho(V5)
    requester.connect()
    responder.connect()
    requester.subscribe("rr/responses/me", 1)
    responder.subscribe("rr/requests", 1)
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = "rr/responses/me"
    props.CorrelationData = b"id-7"
    requester.publish("rr/requests", b"ping", qos=1, properties=props)
    request = responder.get()
    reply = Properties(PacketTypes.PUBLISH)
    reply.CorrelationData = request.properties.CorrelationData
    responder.publish(request.properties.ResponseTopic, b"pong", qos=1, properties=reply)
    response = requester.get()
    assert (response.topic, response.payload, response.properties.CorrelationData) == (
        "rr/responses/me", b"pong", b"id-7")


def test_v5_subscription_identifiers(paho: Callable[..., PahoClient]) -> None:
    sub, pub = paho(V5), paho(V5)
    sub.connect()
    pub.connect()
    for filt, ident in (("sid/+", 7), ("sid/#", 268_435_455)):
        props = Properties(PacketTypes.SUBSCRIBE)
        props.SubscriptionIdentifier = ident
        sub.subscribe(filt, 1, properties=props)
    sub.subscribe("sid/a/none", 1)  # no identifier

    pub.publish("sid/a", b"both", qos=1)
    got = sub.get()
    assert got.payload == b"both"
    assert sorted(got.properties.SubscriptionIdentifier) == [7, 268_435_455]  # one copy, every id [MQTT-3.3.4-3]

    pub.publish("sid/a/b", b"one", qos=1)
    got = sub.get()
    assert got.properties.SubscriptionIdentifier == [268_435_455]

    pub.publish("sid/a/none", b"no-id-sub-too", qos=1)
    got = sub.get()
    assert got.payload == b"no-id-sub-too"
    assert got.properties.SubscriptionIdentifier == [268_435_455]


def test_v5_retained_message_carries_the_subscription_identifier(paho: Callable[..., PahoClient]) -> None:
    topic = unique("sidret")
    pub = paho(V5)
    pub.connect()
    pub.publish(topic, b"r", qos=1, retain=True)
    sub = paho(V5)
    sub.connect()
    props = Properties(PacketTypes.SUBSCRIBE)
    props.SubscriptionIdentifier = 42
    sub.subscribe(topic, 1, properties=props)
    got = sub.get()
    assert (got.payload, got.retain, got.properties.SubscriptionIdentifier) == (b"r", True, [42])


def test_v5_subscription_options(paho: Callable[..., PahoClient]) -> None:
    base = unique("opts")
    pub = paho(V5)
    pub.connect()
    pub.publish(f"{base}/r", b"retained", qos=1, retain=True)
    c = paho(V5)
    c.connect()

    # No Local: the client's own messages are not sent back [MQTT-3.8.3-3]
    c.subscribe(f"{base}/nl", options=SubscribeOptions(qos=1, noLocal=True))
    c.publish(f"{base}/nl", b"mine", qos=1)
    pub.publish(f"{base}/nl", b"theirs", qos=1)
    assert c.get().payload == b"theirs"

    # Retain Handling 2: no retained message on subscribe; Retain As Published keeps the flag on live messages
    c.subscribe(f"{base}/r", options=SubscribeOptions(qos=1, retainHandling=2, retainAsPublished=True))
    pub.publish(f"{base}/r", b"live retained", qos=1, retain=True)
    got = c.get()
    assert (got.payload, got.retain) == (b"live retained", True)

    # Retain Handling 1: retained messages only for a new subscription
    c.subscribe(f"{base}/+", options=SubscribeOptions(qos=1, retainHandling=1))
    got = c.get()
    assert (got.topic, got.payload, got.retain) == (f"{base}/r", b"live retained", True)
    c.subscribe(f"{base}/+", options=SubscribeOptions(qos=1, retainHandling=1))  # existing: nothing
    c.subscribe(f"{base}/fence", 1)
    c.fence(f"{base}/fence")


def test_v5_client_receive_maximum_is_respected(paho: Callable[..., PahoClient]) -> None:
    sub, pub = paho(V5), paho(V5)
    sub.connect(ReceiveMaximum=1)
    pub.connect()
    sub.subscribe("rm/t", 2)
    n = 40
    for i in range(n):
        pub.client.publish("rm/t", str(i).encode(), qos=1 + i % 2)
    pub.publish("rm/t", b"last", qos=1)
    got = [m.payload for m in sub.get_many(n + 1)]
    assert sorted(got[:-1], key=int) == [str(i).encode() for i in range(n)]
    assert got[-1] == b"last"


def test_v5_client_maximum_packet_size_is_respected(paho: Callable[..., PahoClient]) -> None:
    sub, pub = paho(V5), paho(V5)
    sub.connect(MaximumPacketSize=128)
    pub.connect()
    sub.subscribe("mps/t", 1)
    pub.publish("mps/t", b"x" * 500, qos=1)  # larger than the client accepts: dropped for it [MQTT-3.1.2-24]
    pub.publish("mps/t", b"small", qos=1)
    assert sub.get().payload == b"small"


def test_session_takeover(broker: BrokerThread, paho: Callable[..., PahoClient], proto: int) -> None:
    cid = unique("takeover")
    old = paho(proto, cid)
    old.connect()
    new = paho(proto, cid)
    new.connect()
    assert old.disconnected.wait(TIMEOUT)
    if proto == V5:
        assert old.disconnect_reason.value == 0x8E  # Session taken over
    wait_for(lambda: broker.call(lambda: sum(c.client.clientid == cid for c in broker.broker.connections)) == 1,
             message="only the new connection left")
    new.subscribe("takeover/t", 1)
    new.fence("takeover/t")


def test_v5_session_expiry_set_to_zero_on_disconnect(broker: BrokerThread, paho: Callable[..., PahoClient]) -> None:
    cid = unique("expiry0")
    c = paho(V5, cid)
    c.connect(clean_start=True, session_expiry=300)
    c.subscribe("e/#", 1)
    props = Properties(PacketTypes.DISCONNECT)
    props.SessionExpiryInterval = 0
    c.client.disconnect(properties=props)
    assert c.disconnected.wait(TIMEOUT)
    c.client.loop_stop()
    c._looping = False
    wait_for(lambda: session_of(broker, cid) is None, message="session ended at disconnect")


# ------------------------------------------------------------------ shared subscriptions


def test_shared_subscription_delivers_each_message_once(paho: Callable[..., PahoClient], proto: int) -> None:
    members = [paho(proto) for _ in range(2)]
    for m in members:
        m.connect()
        assert m.subscribe("$share/grp/jobs/+", 1) == [1]
    normal = paho(proto)
    normal.connect()
    normal.subscribe("jobs/+", 1)
    pub = paho(proto)
    pub.connect()
    n = 20
    for i in range(n):
        pub.publish(f"jobs/{i}", str(i).encode(), qos=1)

    assert sorted(int(m.payload) for m in normal.get_many(n)) == list(range(n))
    received: list[list[int]] = [[] for _ in members]
    deadline = time.monotonic() + TIMEOUT
    while sum(map(len, received)) < n:
        assert time.monotonic() < deadline, received
        for idx, m in enumerate(members):
            try:
                received[idx].append(int(m.get(timeout=0.02).payload))
            except queue.Empty:
                pass
    assert sorted(received[0] + received[1]) == list(range(n)), "every message exactly once across the group"
    assert all(received), f"round robin should use both members: {received}"
    for idx, m in enumerate(members):  # no duplicate is still on its way
        m.subscribe(f"jobs-fence/{idx}", 1)
        m.fence(f"jobs-fence/{idx}")


# ------------------------------------------------------------------ volume


def test_500_qos1_messages_arrive_in_order(paho: Callable[..., PahoClient], proto: int) -> None:
    sub, pub = paho(proto), paho(proto)
    sub.connect()
    pub.connect()
    sub.subscribe("bulk/t", 1)
    n = 500
    infos = [pub.client.publish("bulk/t", f"{i:05d}".encode() + BINARY[:32], qos=1) for i in range(n)]
    infos[-1].wait_for_publish(30)
    assert all(i.is_published() for i in infos)
    got = sub.get_many(n, timeout=30)
    assert [m.payload[:5] for m in got] == [f"{i:05d}".encode() for i in range(n)]
    assert all(m.qos == 1 and m.payload[5:] == BINARY[:32] for m in got)
