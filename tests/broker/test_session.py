"""Sessions end to end: clean start, persistence while offline, expiry, takeover, redelivery, queue limits.

MQTT 3.1.1 "clean_session=0" and MQTT 5 "Session Expiry Interval > 0" are the two ways to ask for a
persistent session; most tests run both.
"""

from __future__ import annotations

import pytest

from hookmq.mqtt import Disconnect, Packet, Puback, Pubcomp, Publish, Pubrec, Pubrel
from tests.broker.support import (
    V5,
    V311,
    P,
    StartBroker,
    connection_count,
    each_version,
    offline,
    persistent,
    publish,
    recv_publish,
    session_gone,
    subscribe_granted,
)
from tests.helpers import BrokerThread, RawClient, raw_client, wait_for

VERSIONS = each_version()
pytestmark = pytest.mark.usefixtures("fast_sweep")


def disconnect(client: RawClient) -> None:
    """A normal DISCONNECT, after which the broker closes without sending anything."""
    client.send(Disconnect())
    assert client.recv_until_closed() == []


# ------------------------------------------------------------------------------------------------ clean start


@VERSIONS
def test_clean_start_discards_the_existing_session(broker: BrokerThread, version: int) -> None:
    """[MQTT-3.1.2-4] (3.1.1: [MQTT-3.1.2-6]) Clean Start discards the stored session;
    [MQTT-3.2.2-2] (3.1.1: [MQTT-3.2.2-1]) Session Present is then 0."""
    with raw_client(broker.port, version) as c:
        assert c.connect("cs", **persistent(version)).session_present is False
        subscribe_granted(c, "cs/t", qos=1)
        disconnect(c)
    wait_for(lambda: offline(broker, "cs"))
    with raw_client(broker.port, version) as c, raw_client(broker.port, version) as pub:
        ack = c.connect("cs", clean_start=True)
        assert ack.reason_code == 0 and ack.session_present is False
        pub.connect("cs-pub")
        publish(pub, "cs/t", b"old subscription is gone", qos=1)
        c.expect_silence(0.2)
        assert broker.call(lambda: dict(broker.broker.sessions["cs"].subscriptions)) == {}


def test_v5_session_expiry_zero_ends_the_session_at_disconnect(broker: BrokerThread) -> None:
    """[MQTT-3.1.2-23] only a Session Expiry Interval > 0 keeps the session after the network connection
    closes; Clean Start 0 alone does not."""
    with raw_client(broker.port, V5) as c:
        c.connect("zero-expiry", clean_start=False)
        subscribe_granted(c, "ze/t", qos=1)
    wait_for(lambda: session_gone(broker, "zero-expiry"))
    with raw_client(broker.port, V5) as c:
        assert c.connect("zero-expiry", clean_start=False).session_present is False


# ------------------------------------------------------------------------------------------------ persistence


@VERSIONS
def test_persistent_session_keeps_subscriptions_and_queues_messages_while_offline(broker: BrokerThread,
                                                                                  version: int) -> None:
    """[MQTT-3.1.2-5] (3.1.1: [MQTT-3.1.2-4]) the session (subscriptions, QoS 1/2 messages) survives the
    connection; [MQTT-3.2.2-3] (3.1.1: [MQTT-3.2.2-2]) Session Present is 1 on resumption."""
    with raw_client(broker.port, version) as c:
        c.connect("keeper", **persistent(version))
        subscribe_granted(c, "keep/#", qos=1)
        disconnect(c)
    wait_for(lambda: offline(broker, "keeper"))
    with raw_client(broker.port, V311) as pub:
        pub.connect("keeper-pub")
        for n in range(3):
            publish(pub, f"keep/{n}", f"m{n}".encode(), qos=1, packet_id=n + 1)
        publish(pub, "other/topic", b"not subscribed", qos=1, packet_id=9)
    with raw_client(broker.port, version) as c:
        ack = c.connect("keeper", **persistent(version))
        assert ack.reason_code == 0 and ack.session_present is True
        got = [recv_publish(c) for _ in range(3)]
        assert [(p.topic, p.payload, p.qos) for p in got] == [(f"keep/{n}", f"m{n}".encode(), 1) for n in range(3)]
        assert len({p.packet_id for p in got}) == 3
        for p in got:
            c.send(Puback(packet_id=p.packet_id or 0))
        c.expect_silence(0.2)
        # the subscription is still live after resumption
        with raw_client(broker.port, V311) as pub:
            pub.connect("keeper-pub")
            publish(pub, "keep/live", b"live", qos=1)
        assert recv_publish(c).payload == b"live"


@VERSIONS
def test_session_survives_an_abrupt_close_too(broker: BrokerThread, version: int) -> None:
    with raw_client(broker.port, version) as c:
        c.connect("abrupt-keeper", **persistent(version))
        subscribe_granted(c, "ak/t", qos=1)
    wait_for(lambda: offline(broker, "abrupt-keeper"))
    with raw_client(broker.port, version) as pub:
        pub.connect("ak-pub")
        publish(pub, "ak/t", b"queued", qos=1)
    with raw_client(broker.port, version) as c:
        assert c.connect("abrupt-keeper", **persistent(version)).session_present is True
        assert recv_publish(c).payload == b"queued"


@pytest.mark.parametrize("queue_qos0", [True, False])
def test_qos0_messages_for_an_offline_session_follow_queue_qos0(start_broker: StartBroker,
                                                                queue_qos0: bool) -> None:
    """QoS 0 messages MAY be kept for an offline session (MQTT 5 4.1); mqtt.queue_qos0 decides."""
    bt = start_broker(mqtt={"queue_qos0": queue_qos0})
    with raw_client(bt.port, V311) as c:
        c.connect("q0-keeper", **persistent(V311))
        subscribe_granted(c, "q0k/t", qos=1)
        disconnect(c)
    wait_for(lambda: offline(bt, "q0-keeper"))
    with raw_client(bt.port, V311) as pub:
        pub.connect("q0k-pub")
        publish(pub, "q0k/t", b"qos0", qos=0)
        publish(pub, "q0k/t", b"qos1", qos=1)
    with raw_client(bt.port, V311) as c:
        assert c.connect("q0-keeper", **persistent(V311)).session_present is True
        expected = [(b"qos0", 0), (b"qos1", 1)] if queue_qos0 else [(b"qos1", 1)]
        got = [recv_publish(c) for _ in expected]
        assert [(p.payload, p.qos) for p in got] == expected
        c.expect_silence(0.1)


def test_v5_session_expires_after_the_interval(broker: BrokerThread) -> None:
    """[MQTT-3.1.2-23] the session is kept for Session Expiry Interval seconds, then deleted: a later
    connection starts fresh (Session Present 0, no subscriptions, nothing queued)."""
    with raw_client(broker.port, V5) as c:
        c.connect("short", **persistent(V5, expiry=1))
        subscribe_granted(c, "short/t", qos=1)
        disconnect(c)
    wait_for(lambda: offline(broker, "short"))
    with raw_client(broker.port, V5) as pub:
        pub.connect("short-pub")
        publish(pub, "short/t", b"queued then expired", qos=1)
        wait_for(lambda: session_gone(broker, "short"), timeout=5, message="session expiry")
        with raw_client(broker.port, V5) as c:
            ack = c.connect("short", **persistent(V5, expiry=1))
            assert ack.reason_code == 0 and ack.session_present is False
            c.expect_silence(0.2)
            publish(pub, "short/t", b"after expiry", qos=1, packet_id=2)
            c.expect_silence(0.2)


def test_v5_session_is_kept_until_its_interval_elapses(broker: BrokerThread) -> None:
    with raw_client(broker.port, V5) as c:
        c.connect("not-yet", **persistent(V5, expiry=2))
        disconnect(c)
    wait_for(lambda: offline(broker, "not-yet"))
    with raw_client(broker.port, V5) as c:
        assert c.connect("not-yet", **persistent(V5, expiry=2)).session_present is True


def test_v5_disconnect_can_shorten_session_expiry_to_zero(broker: BrokerThread) -> None:
    """MQTT 5 3.14.2.2.2: DISCONNECT may carry a new Session Expiry Interval; 0 ends the session at close."""
    with raw_client(broker.port, V5) as c:
        c.connect("shorten", **persistent(V5))
        c.send(Disconnect(properties={P.SESSION_EXPIRY_INTERVAL: 0}))
        assert c.recv_until_closed() == []
    wait_for(lambda: session_gone(broker, "shorten"))


def test_v5_disconnect_setting_expiry_from_zero_is_a_protocol_error(broker: BrokerThread) -> None:
    """[MQTT-3.14.2-2] a non-zero Session Expiry Interval in DISCONNECT after 0 in CONNECT is a Protocol
    Error: the server answers DISCONNECT 0x82 and the session still ends."""
    with raw_client(broker.port, V5) as c:
        c.connect("from-zero")
        c.send(Disconnect(properties={P.SESSION_EXPIRY_INTERVAL: 60}))
        assert c.recv_until_closed() == [Disconnect(reason_code=0x82)]
    wait_for(lambda: session_gone(broker, "from-zero"))


def test_v5_session_expiry_above_the_cap_is_announced_in_connack(start_broker: StartBroker) -> None:
    """MQTT 5 3.2.2.3.2: when the server uses another Session Expiry Interval it says so in CONNACK."""
    bt = start_broker(mqtt={"max_session_expiry": 10})
    with raw_client(bt.port, V5) as c:
        ack = c.connect("capped", **persistent(V5, expiry=3600))
        assert ack.properties[P.SESSION_EXPIRY_INTERVAL] == 10
    with raw_client(bt.port, V5) as c:
        ack = c.connect("uncapped", **persistent(V5, expiry=5))
        assert P.SESSION_EXPIRY_INTERVAL not in ack.properties


# ------------------------------------------------------------------------------------------------ takeover


@pytest.mark.parametrize(("version", "expected"), [(V311, []), (V5, [Disconnect(reason_code=0x8E)])],
                         ids=["3.1.1", "5"])
def test_session_takeover_disconnects_the_old_connection(broker: BrokerThread, version: int,
                                                        expected: list[Packet]) -> None:
    """[MQTT-3.1.4-3] (3.1.1: [MQTT-3.1.4-2]) a second connection with the same ClientID: the old one gets
    DISCONNECT 0x8E (MQTT 5) and is closed; the new one resumes the session and works."""
    with raw_client(broker.port, version) as old, raw_client(broker.port, version) as new, \
            raw_client(broker.port, version) as pub:
        old.connect("twin", **persistent(version))
        subscribe_granted(old, "twin/t", qos=1)
        ack = new.connect("twin", **persistent(version))
        assert ack.reason_code == 0 and ack.session_present is True
        assert old.recv_until_closed() == expected
        # new + the (not yet connected) publisher socket; the old one is gone and counted once
        wait_for(lambda: connection_count(broker) == 2, message="old connection counted out")
        pub.connect("twin-pub")
        publish(pub, "twin/t", b"to the new one", qos=1)
        got = recv_publish(new)
        assert got.payload == b"to the new one"
        new.send(Puback(packet_id=got.packet_id or 0))
        assert broker.call(lambda: broker.broker.sessions["twin"].connection.client.peername) == \
            new.sock.getsockname()[:2]


@VERSIONS
def test_takeover_redelivers_the_old_connections_unacknowledged_messages(broker: BrokerThread,
                                                                         version: int) -> None:
    """[MQTT-4.4.0-1] a takeover with Clean Start 0 is a reconnect with a session present: the in-flight
    QoS 1 message of the old connection is resent, DUP = 1, same packet identifier."""
    with raw_client(broker.port, version) as old, raw_client(broker.port, version) as new, \
            raw_client(broker.port, version) as pub:
        old.connect("twin-rd", **persistent(version))
        subscribe_granted(old, "trd/t", qos=1)
        pub.connect("trd-pub")
        publish(pub, "trd/t", b"unacked", qos=1)
        first = recv_publish(old)
        assert new.connect("twin-rd", **persistent(version)).session_present is True
        old.recv_until_closed()
        again = recv_publish(new)
        assert (again.dup, again.packet_id, again.payload) == (True, first.packet_id, b"unacked")
        new.send(Puback(packet_id=again.packet_id or 0))
        new.expect_silence(0.2)


@VERSIONS
def test_takeover_with_clean_start_gets_a_fresh_session(broker: BrokerThread, version: int) -> None:
    with raw_client(broker.port, version) as old, raw_client(broker.port, version) as new:
        old.connect("twin-clean", **persistent(version))
        subscribe_granted(old, "tc/t", qos=1)
        ack = new.connect("twin-clean", clean_start=True)
        assert ack.reason_code == 0 and ack.session_present is False
        packets = old.recv_until_closed()
        assert packets == ([Disconnect(reason_code=0x8E)] if version == V5 else [])
        assert broker.call(lambda: dict(broker.broker.sessions["twin-clean"].subscriptions)) == {}


# ------------------------------------------------------------------------------------------------ redelivery


@VERSIONS
def test_unacknowledged_qos1_is_redelivered_with_dup_on_reconnect(broker: BrokerThread, version: int) -> None:
    """[MQTT-4.4.0-1] on reconnect with a session present the server resends unacknowledged PUBLISH packets
    with their original packet identifiers; [MQTT-3.3.1-1] DUP is 1 on a redelivery."""
    with raw_client(broker.port, version) as sub, raw_client(broker.port, version) as pub:
        sub.connect("redeliver", **persistent(version))
        subscribe_granted(sub, "rd/t", qos=1)
        pub.connect("rd-pub")
        publish(pub, "rd/t", b"first", qos=1, packet_id=1)
        publish(pub, "rd/t", b"second", qos=1, packet_id=2)
        first = recv_publish(sub)
        second = recv_publish(sub)
        assert (first.dup, second.dup) == (False, False)
        sub.send(Puback(packet_id=first.packet_id or 0))  # only the first is acknowledged
        wait_for(lambda: broker.call(lambda: len(broker.broker.sessions["redeliver"].inflight) == 1))
    wait_for(lambda: offline(broker, "redeliver"))
    with raw_client(broker.port, version) as sub:
        assert sub.connect("redeliver", **persistent(version)).session_present is True
        again = recv_publish(sub)
        assert again.dup is True
        assert (again.packet_id, again.topic, again.payload, again.qos) == (second.packet_id, "rd/t", b"second", 1)
        sub.send(Puback(packet_id=again.packet_id or 0))
        sub.expect_silence(0.2)  # the acknowledged first message is not resent
    wait_for(lambda: offline(broker, "redeliver"))
    with raw_client(broker.port, version) as sub:
        assert sub.connect("redeliver", **persistent(version)).session_present is True
        sub.expect_silence(0.2)  # acknowledged after redelivery: gone for good


def test_redelivery_respects_the_receive_maximum_of_the_new_connection(broker: BrokerThread) -> None:
    """[MQTT-3.3.4-9] the server MUST NOT send more than Receive Maximum unacknowledged QoS 1/2 PUBLISHes;
    the send quota is re-initialised from each new connection's CONNECT (MQTT 5 4.9), redeliveries included."""
    with raw_client(broker.port, V5) as sub, raw_client(broker.port, V5) as pub:
        sub.connect("shrink", **persistent(V5, properties={P.RECEIVE_MAXIMUM: 3}))
        subscribe_granted(sub, "shrink/t", qos=1)
        pub.connect("shrink-pub")
        for n in range(3):
            publish(pub, "shrink/t", f"m{n}".encode(), qos=1, packet_id=n + 1)
        assert [recv_publish(sub).payload for _ in range(3)] == [b"m0", b"m1", b"m2"]  # none acknowledged
    wait_for(lambda: offline(broker, "shrink"))
    with raw_client(broker.port, V5) as sub:
        ack = sub.connect("shrink", **persistent(V5, properties={P.RECEIVE_MAXIMUM: 1}))
        assert ack.session_present is True
        received = []
        for _ in range(3):
            got = recv_publish(sub)
            assert got.dup is True
            received.append(got.payload)
            sub.expect_silence(0.15)  # only one unacknowledged PUBLISH at a time
            sub.send(Puback(packet_id=got.packet_id or 0))
        assert received == [b"m0", b"m1", b"m2"]


@VERSIONS
def test_qos2_pubrel_is_redelivered_after_pubrec(broker: BrokerThread, version: int) -> None:
    """[MQTT-4.4.0-1] after PUBREC the server owes a PUBREL: on reconnect it resends the PUBREL (same packet
    id) and not the PUBLISH (MQTT 5 4.3.3)."""
    with raw_client(broker.port, version) as sub, raw_client(broker.port, version) as pub:
        sub.connect("rel", **persistent(version))
        subscribe_granted(sub, "rel/t", qos=2)
        pub.connect("rel-pub")
        publish(pub, "rel/t", b"exactly once", qos=2, packet_id=5)
        got = recv_publish(sub)
        assert got.qos == 2
        sub.send(Pubrec(packet_id=got.packet_id or 0))
        rel = sub.recv()
        assert isinstance(rel, Pubrel) and rel.packet_id == got.packet_id
        # no PUBCOMP: the connection drops
    wait_for(lambda: offline(broker, "rel"))
    with raw_client(broker.port, version) as sub:
        assert sub.connect("rel", **persistent(version)).session_present is True
        again = sub.recv()
        assert isinstance(again, Pubrel) and again.packet_id == got.packet_id, again
        sub.send(Pubcomp(packet_id=got.packet_id or 0))
        sub.expect_silence(0.2)
        wait_for(lambda: broker.call(lambda: not broker.broker.sessions["rel"].inflight))


@VERSIONS
def test_qos2_publish_without_pubrec_is_redelivered_with_dup(broker: BrokerThread, version: int) -> None:
    with raw_client(broker.port, version) as sub, raw_client(broker.port, version) as pub:
        sub.connect("rec", **persistent(version))
        subscribe_granted(sub, "rec/t", qos=2)
        pub.connect("rec-pub")
        publish(pub, "rec/t", b"q2", qos=2, packet_id=5)
        got = recv_publish(sub)
    wait_for(lambda: offline(broker, "rec"))
    with raw_client(broker.port, version) as sub:
        assert sub.connect("rec", **persistent(version)).session_present is True
        again = recv_publish(sub)
        assert (again.dup, again.packet_id, again.qos, again.payload) == (True, got.packet_id, 2, b"q2")
        sub.send(Pubrec(packet_id=again.packet_id or 0))
        assert sub.recv() == Pubrel(packet_id=again.packet_id or 0)
        sub.send(Pubcomp(packet_id=again.packet_id or 0))
        sub.expect_silence(0.2)


@VERSIONS
def test_incoming_qos2_state_survives_reconnect(broker: BrokerThread, version: int) -> None:
    """The server's half of an incoming QoS 2 exchange is session state (MQTT 5 4.1): after a reconnect the
    PUBREL is answered with PUBCOMP success, and a DUP retransmission is not delivered twice."""
    with raw_client(broker.port, version) as sub:
        sub.connect("q2-sub")
        subscribe_granted(sub, "q2in/t", qos=2)
        with raw_client(broker.port, version) as pub:
            pub.connect("q2-pub", **persistent(version))
            pub.send(Publish(topic="q2in/t", payload=b"once", qos=2, packet_id=7))
            assert pub.recv() == Pubrec(packet_id=7)
        wait_for(lambda: offline(broker, "q2-pub"))
        with raw_client(broker.port, version) as pub:
            assert pub.connect("q2-pub", **persistent(version)).session_present is True
            pub.send(Publish(topic="q2in/t", payload=b"once", qos=2, packet_id=7, dup=True))
            assert pub.recv() == Pubrec(packet_id=7)
            pub.send(Pubrel(packet_id=7))
            assert pub.recv() == Pubcomp(packet_id=7)
        got = recv_publish(sub)
        assert got.payload == b"once"
        sub.send(Pubrec(packet_id=got.packet_id or 0))
        assert isinstance(sub.recv(), Pubrel)
        sub.send(Pubcomp(packet_id=got.packet_id or 0))
        sub.expect_silence(0.2)  # exactly once


# ------------------------------------------------------------------------------------------------ queue limit


@VERSIONS
def test_max_queue_len_overflow_drops_and_counts(start_broker: StartBroker, version: int) -> None:
    """Beyond mqtt.max_queue_len messages for an offline session are dropped, and each drop is counted in
    stats.deliveries_dropped."""
    bt = start_broker(mqtt={"max_queue_len": 2})
    with raw_client(bt.port, version) as sub:
        sub.connect("small-queue", **persistent(version))
        subscribe_granted(sub, "sq/t", qos=1)
        disconnect(sub)
    wait_for(lambda: offline(bt, "small-queue"))
    dropped_before = bt.call(lambda: bt.broker.stats.deliveries_dropped)
    with raw_client(bt.port, version) as pub:
        pub.connect("sq-pub")
        for n in range(5):
            publish(pub, "sq/t", f"m{n}".encode(), qos=1, packet_id=n + 1)
    wait_for(lambda: bt.call(lambda: bt.broker.stats.deliveries_dropped) - dropped_before == 3)
    with raw_client(bt.port, version) as sub:
        assert sub.connect("small-queue", **persistent(version)).session_present is True
        got = [recv_publish(sub) for _ in range(2)]
        payloads = [p.payload for p in got]
        # which two survive is a policy (hookmq keeps the oldest); they arrive in publication order
        assert payloads == sorted(payloads) and set(payloads) <= {b"m0", b"m1", b"m2", b"m3", b"m4"}
        for p in got:
            sub.send(Puback(packet_id=p.packet_id or 0))
        sub.expect_silence(0.2)
    assert bt.call(lambda: bt.broker.stats.deliveries_dropped) - dropped_before == 3
