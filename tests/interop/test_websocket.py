"""MQTT over WebSocket (ws://host:<ws_port>/mqtt, subprotocol "mqtt").

paho with ``transport="websockets"`` talks to TCP clients both ways; the ``websockets`` library checks the
framing rules of MQTT-over-WebSocket [MQTT-6.0.0-*]: a packet may span several binary frames, a frame may
carry several packets, and a text frame closes the connection.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from hookmq.mqtt import (
    NEED_DATA,
    Connack,
    Connect,
    Decoder,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
    ProtocolVersion,
    Puback,
    Publish,
    Suback,
    Subscribe,
    Subscription,
    Will,
    encode,
)
from tests.helpers import BrokerThread, raw_client, wait_for
from tests.interop.test_paho import BINARY, PahoClient

V4 = ProtocolVersion.MQTT_3_1_1
V5 = ProtocolVersion.MQTT_5
TIMEOUT = 10.0


@pytest.fixture(params=[mqtt.MQTTv311, mqtt.MQTTv5], ids=["mqttv311", "mqttv5"])
def proto(request: pytest.FixtureRequest) -> int:
    return request.param


def ws_paho(broker: BrokerThread, proto: int, path: str = "/mqtt") -> PahoClient:
    return PahoClient(broker.ws_port, proto, f"ws-{uuid.uuid4().hex[:8]}", transport="websockets", ws_path=path)


def tcp_paho(broker: BrokerThread, proto: int) -> PahoClient:
    return PahoClient(broker.port, proto, f"tcp-{uuid.uuid4().hex[:8]}")


# ------------------------------------------------------------------ paho over WebSocket


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_websocket_and_tcp_cross_over(broker: BrokerThread, proto: int, qos: int) -> None:
    ws, tcp = ws_paho(broker, proto), tcp_paho(broker, proto)
    try:
        ws.connect()
        tcp.connect()
        ws.subscribe("x/to-ws", 2)
        tcp.subscribe("x/to-tcp", 2)

        tcp.publish("x/to-ws", BINARY, qos=qos)  # TCP -> WebSocket
        got = ws.get()
        assert (got.topic, got.payload, got.qos) == ("x/to-ws", BINARY, qos)

        ws.publish("x/to-tcp", BINARY[::-1], qos=qos)  # WebSocket -> TCP
        got = tcp.get()
        assert (got.topic, got.payload, got.qos) == ("x/to-tcp", BINARY[::-1], qos)
    finally:
        ws.disconnect()
        tcp.disconnect()


def test_paho_websocket_large_message_and_retained(broker: BrokerThread, proto: int) -> None:
    big = bytes(range(256)) * 1024  # 256 KiB: many WebSocket frames' worth on the way out
    pub, sub = tcp_paho(broker, proto), ws_paho(broker, proto)
    try:
        pub.connect()
        pub.publish("ws/big", big, qos=1, retain=True)
        sub.connect()
        sub.subscribe("ws/big", 1)
        got = sub.get()
        assert (got.payload, got.retain) == (big, True)
        sub.publish("ws/big", b"", qos=1, retain=True)
        assert sub.get().payload == b""
    finally:
        pub.disconnect()
        sub.disconnect()


def test_paho_websocket_persistent_session(broker: BrokerThread, proto: int) -> None:
    cid = f"ws-persist-{uuid.uuid4().hex[:8]}"
    first = PahoClient(broker.ws_port, proto, cid, clean_session=(proto == mqtt.MQTTv5), transport="websockets")
    pub = tcp_paho(broker, proto)
    again = PahoClient(broker.ws_port, proto, cid, clean_session=False, transport="websockets")
    try:
        first.connect(clean_start=True, session_expiry=300)
        first.subscribe("wsq/#", 1)
        first.disconnect()
        wait_for(lambda: broker.call(lambda: broker.broker.sessions[cid].connection is None), message="offline")
        pub.connect()
        for i in range(5):
            pub.publish(f"wsq/{i}", str(i).encode(), qos=1)
        flags, _, _ = again.connect(clean_start=False, session_expiry=300)
        assert flags.session_present is True
        assert [m.payload for m in again.get_many(5)] == [b"0", b"1", b"2", b"3", b"4"]
    finally:
        pub.disconnect()
        again.disconnect()


# ------------------------------------------------------------------ raw WebSocket framing


class WsMqtt:
    """MQTT packets over a ``websockets`` sync connection, decoded with hookmq's codec."""

    def __init__(self, ws: ClientConnection, version: int = V4) -> None:
        self.ws = ws
        self.version = version
        self.decoder = Decoder(protocol_version=version)

    def recv(self, timeout: float = TIMEOUT) -> Packet:
        deadline = time.monotonic() + timeout
        while True:
            packet = self.decoder.next_packet()
            if packet is not NEED_DATA:
                return packet  # type: ignore[return-value]
            frame = self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            assert isinstance(frame, bytes), f"MQTT must travel in binary frames, got {frame!r}"
            self.decoder.receive_data(frame)

    def expect_closed(self, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with pytest.raises(ConnectionClosed):  # drain anything before the close
            while True:
                self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))


@pytest.fixture
def ws_url(broker: BrokerThread) -> str:
    return f"ws://127.0.0.1:{broker.ws_port}/mqtt"


@pytest.fixture
def raw_ws(ws_url: str) -> Iterator[ClientConnection]:
    with connect(ws_url, subprotocols=["mqtt"], open_timeout=TIMEOUT, compression=None) as ws:
        yield ws


def test_subprotocol_mqtt_is_negotiated(raw_ws: ClientConnection) -> None:
    assert raw_ws.subprotocol == "mqtt"


def test_legacy_subprotocol_is_accepted(ws_url: str) -> None:
    with connect(ws_url, subprotocols=["mqttv3.1"], open_timeout=TIMEOUT) as ws:
        assert ws.subprotocol == "mqttv3.1"
        ws.send(encode(Connect(protocol_version=ProtocolVersion.MQTT_3_1, client_id="legacy"),
                       ProtocolVersion.MQTT_3_1))
        ack = WsMqtt(ws, ProtocolVersion.MQTT_3_1).recv()
        assert isinstance(ack, Connack) and ack.reason_code == 0


def test_wrong_path_is_rejected(broker: BrokerThread) -> None:
    with pytest.raises(InvalidStatus) as info:
        connect(f"ws://127.0.0.1:{broker.ws_port}/not-mqtt", subprotocols=["mqtt"], open_timeout=TIMEOUT)
    assert info.value.response.status_code == 404


@pytest.mark.parametrize("version", [V4, V5], ids=["mqttv311", "mqttv5"])
def test_packet_split_across_frames_and_packets_sharing_a_frame(broker: BrokerThread, raw_ws: ClientConnection,
                                                                version: int) -> None:
    client = WsMqtt(raw_ws, version)
    connect_bytes = encode(Connect(protocol_version=version, client_id="ws-split", keep_alive=30), version)
    # one CONNECT in three frames: a lone fixed-header byte, then a cut inside the variable header
    raw_ws.send(connect_bytes[:1])
    raw_ws.send(connect_bytes[1:5])
    raw_ws.send(connect_bytes[5:])
    ack = client.recv()
    assert isinstance(ack, Connack) and ack.reason_code == 0

    # SUBSCRIBE + PUBLISH (QoS 1, to itself) + PINGREQ in one frame
    payload = BINARY * 2
    batch = (encode(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="ws/raw/#", qos=1),)), version)
             + encode(Publish(topic="ws/raw/1", payload=payload, qos=1, packet_id=2), version)
             + encode(Pingreq(), version))
    raw_ws.send(batch)
    got = [client.recv() for _ in range(4)]
    suback = next(p for p in got if isinstance(p, Suback))
    assert suback.packet_id == 1 and suback.reason_codes == (1,)
    puback = next(p for p in got if isinstance(p, Puback))
    assert puback.packet_id == 2 and puback.reason_code == 0
    assert any(isinstance(p, Pingresp) for p in got)
    publish = next(p for p in got if isinstance(p, Publish))
    assert (publish.topic, publish.payload, publish.qos) == ("ws/raw/1", payload, 1)
    assert got.index(suback) < got.index(publish), "SUBACK comes before messages of the new subscription"

    # the end of one packet and the start of the next in one frame; PUBACK, then a byte-by-byte PUBLISH
    second = encode(Publish(topic="ws/raw/2", payload=b"tail", qos=0), version)
    ack_bytes = encode(Puback(packet_id=publish.packet_id or 0), version)
    stream = ack_bytes + second
    raw_ws.send(stream[:3])
    raw_ws.send(stream[3:7])
    for i in range(7, len(stream)):
        raw_ws.send(stream[i:i + 1])
    nxt = client.recv()
    assert isinstance(nxt, Publish) and (nxt.topic, nxt.payload) == ("ws/raw/2", b"tail")

    # the in-flight message was acknowledged: nothing is left in the session's window
    assert broker.call(lambda: len(broker.broker.sessions["ws-split"].inflight)) == 0
    raw_ws.send(encode(Disconnect(), version))
    client.expect_closed()


def test_websocket_and_tcp_raw_clients_cross_over(broker: BrokerThread, raw_ws: ClientConnection) -> None:
    client = WsMqtt(raw_ws)
    raw_ws.send(encode(Connect(client_id="ws-raw-x"), V4))
    assert isinstance(client.recv(), Connack)
    raw_ws.send(encode(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="cross/ws", qos=0),)), V4))
    assert isinstance(client.recv(), Suback)
    with raw_client(broker.port) as tcp:
        tcp.connect("tcp-raw-x")
        tcp.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="cross/tcp", qos=0),)))
        assert isinstance(tcp.recv(), Suback)
        tcp.send(Publish(topic="cross/ws", payload=b"\x00from tcp"))
        got = client.recv()
        assert isinstance(got, Publish) and got.payload == b"\x00from tcp"
        raw_ws.send(encode(Publish(topic="cross/tcp", payload=b"\xfffrom ws"), V4))
        got = tcp.recv()
        assert isinstance(got, Publish) and got.payload == b"\xfffrom ws"


def test_text_frame_closes_the_connection(broker: BrokerThread, raw_ws: ClientConnection) -> None:
    client = WsMqtt(raw_ws)
    raw_ws.send(encode(Connect(client_id="ws-text"), V4))
    assert isinstance(client.recv(), Connack)
    wait_for(lambda: broker.call(lambda: "ws-text" in broker.broker.sessions), message="session open")
    raw_ws.send("PINGREQ as text")  # [MQTT-6.0.0-1] only binary frames are allowed
    client.expect_closed()
    wait_for(lambda: broker.call(lambda: "ws-text" not in broker.broker.sessions), message="session closed")


def test_text_frame_before_connect_closes_the_connection(raw_ws: ClientConnection) -> None:
    raw_ws.send(encode(Connect(client_id="ws-text-early"), V4).decode("latin-1"))
    WsMqtt(raw_ws).expect_closed()


def test_malformed_packet_closes_only_that_websocket(broker: BrokerThread, raw_ws: ClientConnection,
                                                     ws_url: str) -> None:
    with connect(ws_url, subprotocols=["mqtt"], open_timeout=TIMEOUT) as healthy:
        good = WsMqtt(healthy)
        healthy.send(encode(Connect(client_id="ws-healthy"), V4))
        assert isinstance(good.recv(), Connack)

        raw_ws.send(b"\x10\xff\xff\xff\xff\x01")  # remaining length with five bytes: malformed
        WsMqtt(raw_ws).expect_closed()

        healthy.send(encode(Pingreq(), V4))
        assert isinstance(good.recv(), Pingresp)


def test_will_of_a_dropped_websocket_is_published(broker: BrokerThread, ws_url: str) -> None:
    with raw_client(broker.port) as watcher:
        watcher.connect("ws-will-watcher")
        watcher.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="ws/will", qos=1),)))
        assert isinstance(watcher.recv(), Suback)
        with connect(ws_url, subprotocols=["mqtt"], open_timeout=TIMEOUT) as ws:
            ws.send(encode(Connect(client_id="ws-will", will=Will(topic="ws/will", payload=b"ws gone", qos=1)), V4))
            assert isinstance(WsMqtt(ws).recv(), Connack)
            ws.socket.close()  # the TCP connection under the WebSocket goes away: no close frame, no DISCONNECT
        got = watcher.recv()
        assert isinstance(got, Publish) and (got.topic, got.payload) == ("ws/will", b"ws gone")
