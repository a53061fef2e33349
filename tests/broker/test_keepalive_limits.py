"""Keep alive and the configured limits, end to end: max_keepalive, max_packet_size (both directions),
receive maximum (both directions), max_connections, max_topic_levels."""

from __future__ import annotations

import time

import pytest

from hookmq.mqtt import (
    Connack,
    Connect,
    Disconnect,
    Pingreq,
    Pingresp,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
)
from tests.broker.support import V5, V311, P, StartBroker, connection_count, publish, recv_publish, subscribe
from tests.helpers import BrokerThread, raw_client, wait_for

# ------------------------------------------------------------------------------------------------ keep alive


def test_silent_client_is_closed_after_one_and_a_half_keepalive(broker: BrokerThread) -> None:
    """[MQTT-3.1.2-24] (MQTT 5: [MQTT-3.1.2-22]) no packet for 1.5 x Keep Alive: the server closes the
    connection; an MQTT 5 client is told why with DISCONNECT 0x8D (Keep Alive timeout)."""
    with raw_client(broker.port, V5) as v5, raw_client(broker.port, V311) as v3:
        v5.connect("idle5", keep_alive=1)
        v3.connect("idle3", keep_alive=1)
        started = time.monotonic()
        assert v5.recv_until_closed(timeout=4) == [Disconnect(reason_code=0x8D)]
        elapsed = time.monotonic() - started
        assert v3.recv_until_closed(timeout=4) == []
    assert 1.2 <= elapsed < 3.0, elapsed


def test_pingreq_keeps_the_connection_alive(broker: BrokerThread) -> None:
    """[MQTT-3.12.4-1] PINGREQ is answered with PINGRESP, and any packet resets the keep-alive clock."""
    with raw_client(broker.port, V5) as c:
        c.connect("pinger", keep_alive=1)
        started = time.monotonic()
        while time.monotonic() - started < 2.2:  # well past 1.5 x keep alive
            time.sleep(0.4)
            c.send(Pingreq())
            assert c.recv() == Pingresp()
        c.send(Pingreq())
        assert c.recv() == Pingresp()
        assert broker.call(lambda: broker.broker.sessions["pinger"].connection is not None)


def test_max_keepalive_caps_the_client_value_and_is_announced_as_server_keep_alive(
        start_broker: StartBroker) -> None:
    """[MQTT-3.2.2-21] with mqtt.max_keepalive the server sends Server Keep Alive in CONNACK and uses it."""
    bt = start_broker(mqtt={"max_keepalive": 1})
    with raw_client(bt.port, V5) as c:
        ack = c.connect("capped", keep_alive=600)
        assert ack.properties[P.SERVER_KEEP_ALIVE] == 1
        started = time.monotonic()
        assert c.recv_until_closed(timeout=4) == [Disconnect(reason_code=0x8D)]
        assert 1.2 <= time.monotonic() - started < 3.0
    with raw_client(bt.port, V5) as c:
        # Keep Alive 0 (no timeout) is above any cap as well
        assert c.connect("zero", keep_alive=0).properties[P.SERVER_KEEP_ALIVE] == 1


def test_keepalive_below_the_cap_is_kept_without_server_keep_alive(start_broker: StartBroker) -> None:
    bt = start_broker(mqtt={"max_keepalive": 100})
    with raw_client(bt.port, V5) as c:
        ack = c.connect("under-cap", keep_alive=30)
        assert P.SERVER_KEEP_ALIVE not in ack.properties
        assert bt.call(lambda: bt.broker.sessions["under-cap"].connection.keepalive) == 30


# ------------------------------------------------------------------------------------------------ packet size


@pytest.mark.parametrize(("version", "expected"), [(V311, []), (V5, [Disconnect(reason_code=0x95)])],
                         ids=["3.1.1", "5"])
def test_packet_above_max_packet_size_is_refused(start_broker: StartBroker, version: int,
                                                  expected: list[object]) -> None:
    """MQTT 5 3.2.2.3.6: a packet larger than the Maximum Packet Size the server announced is a Protocol
    Error: DISCONNECT 0x95 (Packet too large), then close. A packet of exactly the limit is accepted."""
    bt = start_broker(mqtt={"max_packet_size": 128})
    with raw_client(bt.port, version) as c, raw_client(bt.port, V5) as sub:
        sub.connect("size-sub")
        subscribe(sub, ("big/#", 0))
        c.connect("big")
        header = 5 if version == V5 else 4  # fixed header (2) + topic length (2) + empty properties (v5: 1)
        fits = 128 - header - len("big/t")
        c.send(Publish(topic="big/t", payload=b"x" * fits))
        assert recv_publish(sub).payload == b"x" * fits
        c.send(Publish(topic="big/t", payload=b"y" * (fits + 1)))
        assert c.recv_until_closed() == expected
        sub.expect_silence(0.1)


def test_oversized_packet_is_refused_from_its_header(start_broker: StartBroker) -> None:
    """The declared remaining length alone is enough: the body is never waited for."""
    bt = start_broker(mqtt={"max_packet_size": 1024})
    with raw_client(bt.port, V5) as c:
        c.connect("liar")
        c.send_raw(b"\x30\xff\xff\x03")  # PUBLISH announcing ~64 KiB, body never sent
        assert c.recv_until_closed() == [Disconnect(reason_code=0x95)]


def test_messages_bigger_than_the_client_maximum_packet_size_are_not_sent(broker: BrokerThread) -> None:
    """[MQTT-3.1.2-24] [MQTT-3.1.2-25] (MQTT 5) the server MUST NOT send packets exceeding the client's
    Maximum Packet Size; it discards them as if sent, and later messages still flow."""
    with raw_client(broker.port, V5) as small, raw_client(broker.port, V5) as pub:
        small.connect("small", properties={P.MAXIMUM_PACKET_SIZE: 64})
        subscribe(small, ("mps/#", 1))
        pub.connect("mps-pub")
        before = broker.call(lambda: broker.broker.stats.deliveries_dropped)
        publish(pub, "mps/t", b"a" * 10, qos=1, packet_id=1)
        publish(pub, "mps/t", b"b" * 100, qos=1, packet_id=2)  # 100 > 64: never sent
        pub.send(Publish(topic="mps/t", payload=b"c" * 100))  # QoS 0 too big as well
        publish(pub, "mps/t", b"d" * 10, qos=1, packet_id=3)
        got = [recv_publish(small), recv_publish(small)]
        assert [p.payload for p in got] == [b"a" * 10, b"d" * 10]
        for p in got:
            small.send(Puback(packet_id=p.packet_id or 0))
        small.expect_silence(0.2)
        assert broker.call(lambda: broker.broker.stats.deliveries_dropped) - before == 2
        # the discarded QoS 1 message does not hold a slot of the in-flight window
        assert broker.call(lambda: len(broker.broker.sessions["small"].inflight)) == 0


# ------------------------------------------------------------------------------------------------ receive max


def test_client_exceeding_the_server_receive_maximum_is_disconnected(start_broker: StartBroker) -> None:
    """MQTT 5 3.3.4: more unacknowledged QoS 2 PUBLISHes than the server's Receive Maximum ->
    DISCONNECT 0x93 (Receive Maximum exceeded)."""
    bt = start_broker(mqtt={"receive_maximum": 2})
    with raw_client(bt.port, V5) as c:
        assert c.connect("greedy").properties[P.RECEIVE_MAXIMUM] == 2
        for pid in (1, 2):
            c.send(Publish(topic="rm/t", payload=b"x", qos=2, packet_id=pid))
            assert c.recv() == Pubrec(packet_id=pid, reason_code=0x10)  # no subscribers
        c.send(Publish(topic="rm/t", payload=b"x", qos=2, packet_id=3))  # third, never a PUBREL
        assert c.recv_until_closed() == [Disconnect(reason_code=0x93)]


def test_completed_qos2_exchanges_free_receive_maximum_slots(start_broker: StartBroker) -> None:
    bt = start_broker(mqtt={"receive_maximum": 2})
    with raw_client(bt.port, V5) as c:
        c.connect("polite-q2")
        for pid in range(1, 11):  # ten exchanges, never more than one open at a time
            c.send(Publish(topic="rm/t", payload=b"x", qos=2, packet_id=pid))
            assert isinstance(c.recv(), Pubrec)
            c.send(Pubrel(packet_id=pid))
            assert c.recv() == Pubcomp(packet_id=pid)
        for pid in (11, 12):  # and the window is still two wide
            c.send(Publish(topic="rm/t", payload=b"x", qos=2, packet_id=pid))
            assert isinstance(c.recv(), Pubrec)
        c.send(Pingreq())
        assert c.recv() == Pingresp()


def test_server_respects_the_client_receive_maximum_for_qos1(broker: BrokerThread) -> None:
    """[MQTT-3.3.4-9] the server never has more than the client's Receive Maximum QoS 1/2 PUBLISHes
    unacknowledged; each PUBACK lets the next one through, in order."""
    with raw_client(broker.port, V5) as sub, raw_client(broker.port, V5) as pub:
        sub.connect("slow", properties={P.RECEIVE_MAXIMUM: 2})
        subscribe(sub, ("flow/t", 1))
        pub.connect("flow-pub")
        for n in range(6):
            publish(pub, "flow/t", f"m{n}".encode(), qos=1, packet_id=n + 1)
        window = [recv_publish(sub), recv_publish(sub)]
        sub.expect_silence(0.2)
        received = list(window)
        while window:
            sub.send(Puback(packet_id=window.pop(0).packet_id or 0))
            if len(received) < 6:
                nxt = recv_publish(sub)
                received.append(nxt)
                window.append(nxt)
                sub.expect_silence(0.05)  # still never more than two outstanding
        assert [p.payload for p in received] == [f"m{n}".encode() for n in range(6)]
        sub.expect_silence(0.1)


def test_max_inflight_caps_the_window_below_the_client_receive_maximum(start_broker: StartBroker) -> None:
    """mqtt.max_inflight bounds the unacknowledged QoS 1/2 messages to any client (3.1.1 has no Receive
    Maximum at all)."""
    bt = start_broker(mqtt={"max_inflight": 2})
    with raw_client(bt.port, V311) as sub, raw_client(bt.port, V311) as pub:
        sub.connect("inflight")
        subscribe(sub, ("inf/t", 1))
        pub.connect("inf-pub")
        for n in range(4):
            publish(pub, "inf/t", f"m{n}".encode(), qos=1, packet_id=n + 1)
        first = [recv_publish(sub), recv_publish(sub)]
        sub.expect_silence(0.2)
        for p in first:
            sub.send(Puback(packet_id=p.packet_id or 0))
        rest = [recv_publish(sub), recv_publish(sub)]
        assert [p.payload for p in first + rest] == [b"m0", b"m1", b"m2", b"m3"]


def test_server_counts_qos2_against_receive_maximum_until_pubcomp(broker: BrokerThread) -> None:
    """MQTT 5 4.9: the send quota is returned on PUBCOMP (not on PUBREC) for QoS 2."""
    with raw_client(broker.port, V5) as sub, raw_client(broker.port, V5) as pub:
        sub.connect("slow2", properties={P.RECEIVE_MAXIMUM: 1})
        subscribe(sub, ("flow2/t", 2))
        pub.connect("flow2-pub")
        for pid, payload in ((1, b"a"), (2, b"b")):
            pub.send(Publish(topic="flow2/t", payload=payload, qos=2, packet_id=pid))
            assert pub.recv() == Pubrec(packet_id=pid)
            pub.send(Pubrel(packet_id=pid))
            assert pub.recv() == Pubcomp(packet_id=pid)
        first = recv_publish(sub)
        assert first.qos == 2 and first.payload == b"a"
        sub.send(Pubrec(packet_id=first.packet_id or 0))
        assert sub.recv() == Pubrel(packet_id=first.packet_id or 0)
        sub.expect_silence(0.2)  # PUBREC alone does not free the slot
        sub.send(Pubcomp(packet_id=first.packet_id or 0))
        assert recv_publish(sub).payload == b"b"


# ------------------------------------------------------------------------------------------------ connections


@pytest.mark.parametrize(("version", "refused"), [(V311, 0x03), (V5, 0x97)], ids=["3.1.1", "5"])
def test_max_connections(start_broker: StartBroker, version: int, refused: int) -> None:
    """Beyond mqtt.max_connections a CONNECT is refused: 0x97 Quota exceeded (MQTT 5) / 0x03 Server
    unavailable (3.1.1); once a connection goes, a new client gets in."""
    bt = start_broker(mqtt={"max_connections": 2})
    with raw_client(bt.port, version) as a, raw_client(bt.port, version) as b:
        a.connect("a")
        b.connect("b")
        with raw_client(bt.port, version) as c:
            c.send(Connect(protocol_version=version, client_id="c"))
            assert c.recv_until_closed() == [Connack(session_present=False, reason_code=refused)]
        a.send(Disconnect())
        a.recv_until_closed()
        wait_for(lambda: connection_count(bt) == 1)
        with raw_client(bt.port, version) as c:
            assert c.connect("c").reason_code == 0
        b.send(Pingreq())
        assert b.recv() == Pingresp()


# ------------------------------------------------------------------------------------------------ topic levels


@pytest.mark.parametrize(("version", "bad_suback"), [(V311, 0x80), (V5, 0x8F)], ids=["3.1.1", "5"])
def test_max_topic_levels_for_subscribe(start_broker: StartBroker, version: int, bad_suback: int) -> None:
    """A filter with more than mqtt.max_topic_levels levels is refused per filter (0x8F / 0x80)."""
    bt = start_broker(mqtt={"max_topic_levels": 3})
    with raw_client(bt.port, version) as c:
        c.connect("levels")
        c.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="a/b/c/d", qos=1),
                                                     Subscription(topic_filter="a/b/c", qos=1),
                                                     Subscription(topic_filter="a/+/#", qos=1))))
        assert c.recv() == Suback(packet_id=1, reason_codes=(bad_suback, 1, 1))


@pytest.mark.parametrize(("version", "expected"), [(V311, []), (V5, [Disconnect(reason_code=0x90)])],
                         ids=["3.1.1", "5"])
def test_max_topic_levels_for_publish(start_broker: StartBroker, version: int, expected: list[object]) -> None:
    """A topic name with more than mqtt.max_topic_levels levels: DISCONNECT 0x90 (Topic Name invalid)."""
    bt = start_broker(mqtt={"max_topic_levels": 3})
    with raw_client(bt.port, version) as c:
        c.connect("deep")
        publish(c, "a/b/c", b"three levels is fine", qos=1)
        c.send(Publish(topic="a/b/c/d", payload=b"four is not", qos=1, packet_id=2))
        assert c.recv_until_closed() == expected
