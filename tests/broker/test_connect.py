"""CONNECT / CONNACK end to end over real sockets, MQTT 3.1, 3.1.1 and 5.0.

Each test talks raw MQTT to a real node (`start_broker`) and checks the exact packets that come back and
that the broker closes the socket where the spec says it MUST.
"""

from __future__ import annotations

import socket
import time

import pytest

from hookmq.mqtt import (
    Connack,
    Connect,
    Disconnect,
    Pingreq,
    Pingresp,
    Puback,
    Publish,
    Subscribe,
    Subscription,
    encode,
)
from tests.broker.support import (
    V5,
    V31,
    V311,
    P,
    StartBroker,
    assert_round_trip,
    connection_count,
    session_gone,
    subscribe,
)
from tests.helpers import BrokerThread, raw_client, wait_for

# ------------------------------------------------------------------------------------------------ CONNACK


def test_v5_connack_announces_receive_maximum_packet_size_and_topic_alias_maximum(start_broker: StartBroker) -> None:
    """MQTT 5 3.2.2.3.3 / 3.2.2.3.6 / 3.2.2.3.8: CONNACK properties tell the client the server's limits."""
    bt = start_broker(mqtt={"receive_maximum": 7, "max_packet_size": 4096, "max_topic_alias": 9})
    with raw_client(bt.port, V5) as c:
        ack = c.connect("limits")
        assert ack.reason_code == 0
        assert ack.session_present is False
        assert ack.properties[P.RECEIVE_MAXIMUM] == 7
        assert ack.properties[P.MAXIMUM_PACKET_SIZE] == 4096
        assert ack.properties[P.TOPIC_ALIAS_MAXIMUM] == 9
        # a client that sent its own id is not assigned one, and no keep alive override without a cap
        assert P.ASSIGNED_CLIENT_IDENTIFIER not in ack.properties
        assert P.SERVER_KEEP_ALIVE not in ack.properties


def test_v5_connack_defaults(broker: BrokerThread) -> None:
    with raw_client(broker.port, V5) as c:
        ack = c.connect("defaults")
        assert ack.properties[P.RECEIVE_MAXIMUM] == 32
        assert ack.properties[P.MAXIMUM_PACKET_SIZE] == 1024 * 1024
        assert ack.properties[P.TOPIC_ALIAS_MAXIMUM] == 65535
        # everything is available by default, so no "not available" property is sent
        for prop in (P.RETAIN_AVAILABLE, P.WILDCARD_SUBSCRIPTION_AVAILABLE, P.SHARED_SUBSCRIPTION_AVAILABLE):
            assert ack.properties.get(prop, 1) == 1
        # the requested Session Expiry Interval (0) was accepted as is, so it is not echoed
        assert P.SESSION_EXPIRY_INTERVAL not in ack.properties


def test_v311_connack_is_exactly_four_bytes(broker: BrokerThread) -> None:
    """MQTT 3.1.1 3.2: CONNACK is remaining length 2, flags byte and return code, no properties."""
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as s:
        s.sendall(encode(Connect(protocol_version=V311, client_id="four"), V311))
        data = b""
        while len(data) < 4:
            chunk = s.recv(16)
            assert chunk, "closed before CONNACK"
            data += chunk
        assert data == b"\x20\x02\x00\x00"


# ------------------------------------------------------------------------------------------------ client ids


def test_v5_empty_client_id_gets_an_assigned_client_identifier(broker: BrokerThread) -> None:
    """[MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.2.2-16] the server assigns a unique id and returns it."""
    with raw_client(broker.port, V5) as a, raw_client(broker.port, V5) as b:
        ack_a = a.connect("")
        ack_b = b.connect("", clean_start=False)  # MQTT 5 allows an empty id without Clean Start
        assert ack_a.reason_code == 0 and ack_b.reason_code == 0
        id_a = ack_a.properties[P.ASSIGNED_CLIENT_IDENTIFIER]
        id_b = ack_b.properties[P.ASSIGNED_CLIENT_IDENTIFIER]
        assert isinstance(id_a, str) and id_a and isinstance(id_b, str) and id_b
        assert id_a != id_b, "assigned client identifiers must be unique"
        # the connection is processed as if the client had sent that id
        assert broker.call(lambda: sorted(c for c in (id_a, id_b) if c in broker.broker.sessions)) == sorted(
            [id_a, id_b])
        # both connections stay usable (neither took the other over)
        subscribe(a, ("assigned/t", 1))
        assert_round_trip(a, b, "assigned/t")


def test_v311_empty_client_id_with_clean_session_is_accepted(broker: BrokerThread) -> None:
    """[MQTT-3.1.3-6] a 3.1.1 server may accept a zero-byte id with CleanSession=1 and must then assign one."""
    with raw_client(broker.port, V311) as a, raw_client(broker.port, V311) as b:
        ack = a.connect("", clean_start=True)
        assert ack == Connack(session_present=False, reason_code=0)
        assert b.connect("", clean_start=True).reason_code == 0
        # two clients without ids are two distinct sessions: the second did not take the first over
        subscribe(a, ("anon/t", 1))
        assert_round_trip(a, b, "anon/t")
        assert connection_count(broker) == 2


@pytest.mark.parametrize("version", [V311, V31], ids=["3.1.1", "3.1"])
def test_v3_empty_client_id_without_clean_session_gets_identifier_rejected(broker: BrokerThread,
                                                                            version: int) -> None:
    """[MQTT-3.1.3-8] zero-byte ClientId with CleanSession=0 -> CONNACK 0x02 and close;
    [MQTT-3.2.2-4] a refused CONNACK has Session Present 0."""
    with raw_client(broker.port, version) as c:
        c.send(Connect(protocol_version=version, client_id="", clean_start=False))
        assert c.recv_until_closed() == [Connack(session_present=False, reason_code=0x02)]


def test_mqtt31_requires_a_client_id_even_with_clean_session(broker: BrokerThread) -> None:
    """MQTT 3.1 (MQIsdp): the client identifier must be 1..23 characters; an empty one is rejected (0x02)."""
    with raw_client(broker.port, V31) as c:
        c.send(Connect(protocol_version=V31, client_id="", clean_start=True))
        assert c.recv_until_closed() == [Connack(session_present=False, reason_code=0x02)]


@pytest.mark.parametrize(("version", "code"), [(V311, 0x02), (V5, 0x85)], ids=["3.1.1", "5"])
def test_client_id_longer_than_max_clientid_len_is_rejected(start_broker: StartBroker, version: int,
                                                            code: int) -> None:
    bt = start_broker(mqtt={"max_clientid_len": 23})
    with raw_client(bt.port, version) as c:
        c.send(Connect(protocol_version=version, client_id="x" * 24))
        assert c.recv_until_closed() == [Connack(session_present=False, reason_code=code)]
    with raw_client(bt.port, version) as c:
        assert c.connect("x" * 23).reason_code == 0


# ------------------------------------------------------------------------------------------------ ordering


def test_connect_timeout_closes_a_silent_socket(start_broker: StartBroker) -> None:
    """A socket that never sends CONNECT is closed after mqtt.connect_timeout (MQTT 3.1.4: 'a reasonable
    amount of time'); a client that connected in time is not affected by that timer."""
    bt = start_broker(mqtt={"connect_timeout": 0.3})
    with raw_client(bt.port, V311) as good:
        good.connect("in-time", keep_alive=0)
        with raw_client(bt.port, V311) as silent:
            started = time.monotonic()
            assert silent.recv_until_closed(timeout=3) == []
            elapsed = time.monotonic() - started
        assert 0.25 <= elapsed < 2.5, elapsed
        wait_for(lambda: connection_count(bt) == 1, message="silent socket forgotten")
        # the connected client outlived the CONNECT timeout
        good.send(Pingreq())
        assert good.recv() == Pingresp()


def test_connect_timeout_applies_to_a_partial_connect(start_broker: StartBroker) -> None:
    bt = start_broker(mqtt={"connect_timeout": 0.3})
    with raw_client(bt.port, V311) as c:
        c.send_raw(encode(Connect(protocol_version=V311, client_id="slow"), V311)[:5])
        assert c.recv_until_closed(timeout=3) == []


@pytest.mark.parametrize("first", [
    Pingreq(),
    Publish(topic="t", payload=b"x"),
    Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="t"),)),
    Disconnect(),
], ids=["pingreq", "publish", "subscribe", "disconnect"])
def test_first_packet_must_be_connect(broker: BrokerThread, first: object) -> None:
    """[MQTT-3.1.0-1] the first packet from the client MUST be CONNECT; anything else closes the socket."""
    with raw_client(broker.port, V311) as bad, raw_client(broker.port, V311) as sub, \
            raw_client(broker.port, V311) as pub:
        sub.connect("bystander-sub")
        pub.connect("bystander-pub")
        subscribe(sub, ("still/works", 1))
        bad.send(first)  # type: ignore[arg-type]
        assert bad.recv_until_closed() == []
        assert_round_trip(sub, pub, "still/works")


@pytest.mark.parametrize(("version", "expected"), [(V311, []), (V5, [Disconnect(reason_code=0x82)])],
                         ids=["3.1.1", "5"])
def test_second_connect_is_a_protocol_error(broker: BrokerThread, version: int, expected: list[object]) -> None:
    """[MQTT-3.1.0-2] a second CONNECT is a Protocol Error: MQTT 5 gets DISCONNECT 0x82, then close."""
    with raw_client(broker.port, version) as c:
        c.connect("twice")
        c.send(Connect(protocol_version=version, client_id="twice"))
        assert c.recv_until_closed() == expected
    wait_for(lambda: session_gone(broker, "twice"), message="session ended")


@pytest.mark.parametrize("level", [2, 6, 255])
@pytest.mark.parametrize("name", [b"MQTT", b"MQIsdp"])
def test_unsupported_protocol_level_gets_return_code_1_then_close(broker: BrokerThread, level: int,
                                                                 name: bytes) -> None:
    """[MQTT-3.1.2-2] unsupported protocol level: CONNACK return code 0x01 (in the 3.1.1 format every
    client version can parse) and the network connection is closed."""
    body = len(name).to_bytes(2, "big") + name + bytes((level, 0x02)) + b"\x00\x3c" + b"\x00\x02id"
    with raw_client(broker.port, V311) as c:
        c.send_raw(bytes((0x10, len(body))) + body)
        assert c.recv_until_closed() == [Connack(session_present=False, reason_code=0x01)]


def test_v5_authentication_method_gets_bad_authentication_method(broker: BrokerThread) -> None:
    """[MQTT-4.12.0-1] an unsupported Authentication Method: CONNACK 0x8C, then close."""
    with raw_client(broker.port, V5) as c:
        c.send(Connect(protocol_version=V5, client_id="scram",
                       properties={P.AUTHENTICATION_METHOD: "SCRAM-SHA-1", P.AUTHENTICATION_DATA: b"x"}))
        packets = c.recv_until_closed()
        assert len(packets) == 1 and isinstance(packets[0], Connack), packets
        assert packets[0].reason_code == 0x8C and packets[0].session_present is False
    assert session_gone(broker, "scram")


def test_mqtt31_client_connects_subscribes_and_publishes(broker: BrokerThread) -> None:
    """MQTT 3.1 (protocol name MQIsdp, level 3) is supported and interoperates with 3.1.1 and 5 clients."""
    with raw_client(broker.port, V31) as old, raw_client(broker.port, V5) as new:
        ack = old.connect("legacy-31")
        assert ack == Connack(session_present=False, reason_code=0)
        assert broker.call(lambda: broker.broker.sessions["legacy-31"].client.proto_name) == "MQIsdp"
        assert subscribe(old, ("legacy/#", 1)) == (1,)
        new.connect("modern")
        # 5 -> 3.1
        assert_round_trip(old, new, "legacy/a")
        subscribe(new, ("legacy/#", 1))
        # 3.1 -> 5
        old.send(Publish(topic="legacy/b", payload=b"from31", qos=1, packet_id=3))
        got = new.recv()
        assert isinstance(got, Publish) and got.payload == b"from31" and got.qos == 1
        # the 3.1 client gets its PUBACK and, being subscribed to legacy/# too, its own message
        back = [old.recv(), old.recv()]
        assert Puback(packet_id=3) in back
        own = next(p for p in back if isinstance(p, Publish))
        assert own.payload == b"from31"
        old.send(Puback(packet_id=own.packet_id or 0))
        old.send(Pingreq())
        assert old.recv() == Pingresp()
