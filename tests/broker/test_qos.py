"""QoS 0/1/2 end to end over real sockets, MQTT 3.1.1 and 5.0.

Client -> broker flows (PUBACK, PUBREC/PUBREL/PUBCOMP and their packet ids), the delivery QoS for every
(publish QoS, subscription QoS) pair, broker -> client flows, QoS 2 de-duplication, reason codes that only
MQTT 5 has, and the broker's choice of packet ids.

Negative checks ("nothing else arrives") use `drain`: a PINGREQ is answered after every packet the broker
already queued for that client, so everything before the PINGRESP is all there is, without sleeping.
"""

from __future__ import annotations

import pytest

from hookmq.mqtt import (
    Disconnect,
    Pingreq,
    Pingresp,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    ReasonCode,
    Unsuback,
    Unsubscribe,
)
from tests.broker.support import (
    V5,
    V311,
    OpenClient,
    acknowledge,
    drain,
    each_version,
    offline,
    persistent,
    ping_sync,
    publish,
    subscribe,
)
from tests.helpers import BrokerThread, RawClient, wait_for

VERSIONS = each_version(ids=("v311", "v5"))


def inflight(bt: BrokerThread, clientid: str) -> set[int]:
    return bt.call(lambda: set(bt.broker.sessions[clientid].inflight))


# --------------------------------------------------------------------------------------------- client -> broker


@VERSIONS
def test_qos0_publish_is_not_acknowledged(broker: BrokerThread, clients: OpenClient, version: int) -> None:
    """QoS 0 expects no response (MQTT 5 Table 3-3 [MQTT-3.3.4-1]; 3.1.1 Table 3.4): the PINGRESP comes first."""
    pub = clients(broker.port, "pub", version)
    pub.send(Publish(topic="q/0", payload=b"x"))
    pub.send(Pingreq())
    assert isinstance(pub.recv(), Pingresp)


@VERSIONS
def test_qos1_publish_is_acknowledged_with_its_packet_id(broker: BrokerThread, clients: OpenClient,
                                                         version: int) -> None:
    """[MQTT-4.3.2-4] (5.0) / [MQTT-4.3.2-2] (3.1.1): PUBACK carries the PUBLISH's packet id."""
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("q/1", 1))
    pub = clients(broker.port, "pub", version)
    pub.send(Publish(topic="q/1", payload=b"one", qos=1, packet_id=4321))
    assert pub.recv() == Puback(packet_id=4321)
    got = sub.recv()
    assert isinstance(got, Publish)
    assert (got.topic, got.payload, got.qos) == ("q/1", b"one", 1)


@VERSIONS
def test_qos2_publish_pubrec_pubrel_pubcomp(broker: BrokerThread, clients: OpenClient, version: int) -> None:
    """[MQTT-4.3.3-8]/[MQTT-4.3.3-11] (5.0), [MQTT-4.3.3-2] (3.1.1): PUBREC and PUBCOMP carry the packet id;
    two exchanges may be open at once and complete in any order."""
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("q/2", 2))
    pub = clients(broker.port, "pub", version)
    pub.send(Publish(topic="q/2", payload=b"a", qos=2, packet_id=10))
    assert pub.recv() == Pubrec(packet_id=10)
    pub.send(Publish(topic="q/2", payload=b"b", qos=2, packet_id=65535))
    assert pub.recv() == Pubrec(packet_id=65535)
    pub.send(Pubrel(packet_id=65535))
    assert pub.recv() == Pubcomp(packet_id=65535)
    pub.send(Pubrel(packet_id=10))
    assert pub.recv() == Pubcomp(packet_id=10)
    assert [(p.payload, p.qos) for p in drain(sub)] == [(b"a", 2), (b"b", 2)]


@pytest.mark.parametrize("sub_qos", [0, 1, 2])
@pytest.mark.parametrize("pub_qos", [0, 1, 2])
@VERSIONS
def test_delivery_qos_is_the_minimum_of_publish_and_subscription(broker: BrokerThread, clients: OpenClient,
                                                                 version: int, pub_qos: int, sub_qos: int) -> None:
    """[MQTT-3.8.4-8] (5.0) / [MQTT-3.8.4-6] (3.1.1): delivered at min(published QoS, granted QoS), once;
    a QoS > 0 delivery has a non-zero packet id, a QoS 0 one none."""
    sub = clients(broker.port, "sub", version)
    assert subscribe(sub, ("m/t", sub_qos)) == (sub_qos,)
    pub = clients(broker.port, "pub", version)
    publish(pub, "m/t", b"payload", qos=pub_qos, packet_id=77)
    got = drain(sub)
    assert len(got) == 1
    expected = min(pub_qos, sub_qos)
    assert (got[0].topic, got[0].payload, got[0].qos, got[0].dup, got[0].retain) == (
        "m/t", b"payload", expected, False, False)
    if expected:
        assert got[0].packet_id
    else:
        assert got[0].packet_id is None


@VERSIONS
def test_dup_flag_of_incoming_publish_is_not_propagated(broker: BrokerThread, clients: OpenClient,
                                                        version: int) -> None:
    """[MQTT-3.3.1-3]: the outgoing DUP flag depends only on whether the outgoing PUBLISH is a retransmission."""
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("dup/#", 2))
    pub = clients(broker.port, "pub", version)
    publish(pub, "dup/1", b"x", qos=1, dup=True)
    publish(pub, "dup/2", b"y", qos=2, dup=True)
    got = drain(sub)
    assert [(p.topic, p.dup) for p in got] == [("dup/1", False), ("dup/2", False)]


# --------------------------------------------------------------------------------------------- broker -> client


@VERSIONS
def test_broker_to_client_qos1_completes_on_puback(broker: BrokerThread, clients: OpenClient, version: int) -> None:
    """[MQTT-4.3.2-1..3]: the broker keeps a QoS 1 delivery unacknowledged until the client's PUBACK."""
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("b/1", 1))
    pub = clients(broker.port, "pub", version)
    publish(pub, "b/1", b"m", qos=1)
    got = sub.recv()
    assert isinstance(got, Publish) and got.qos == 1 and got.packet_id and not got.dup
    assert inflight(broker, "sub") == {got.packet_id}
    sub.send(Puback(packet_id=got.packet_id))
    wait_for(lambda: not inflight(broker, "sub"), message="PUBACK to settle the delivery")


@VERSIONS
def test_broker_to_client_qos2_pubrec_pubrel_pubcomp(broker: BrokerThread, clients: OpenClient,
                                                     version: int) -> None:
    """[MQTT-4.3.3-3..5]: PUBREC from the client -> PUBREL with the same id (sent again for a repeated
    PUBREC); the id stays in use until PUBCOMP."""
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("b/2", 2))
    pub = clients(broker.port, "pub", version)
    publish(pub, "b/2", b"m", qos=2)
    got = sub.recv()
    assert isinstance(got, Publish) and got.qos == 2 and got.packet_id
    pid = got.packet_id
    sub.send(Pubrec(packet_id=pid))
    assert sub.recv() == Pubrel(packet_id=pid)
    sub.send(Pubrec(packet_id=pid))
    assert sub.recv() == Pubrel(packet_id=pid)
    assert inflight(broker, "sub") == {pid}
    sub.send(Pubcomp(packet_id=pid))
    wait_for(lambda: not inflight(broker, "sub"), message="PUBCOMP to settle the delivery")
    assert drain(sub) == []


def test_v5_failing_pubrec_ends_the_exchange(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-4.3.3-4]: PUBREL only follows a PUBREC below 0x80; a failing PUBREC ends the exchange."""
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, ("b/2", 2))
    pub = clients(broker.port, "pub", V5)
    publish(pub, "b/2", b"m", qos=2)
    got = sub.recv()
    assert isinstance(got, Publish) and got.packet_id
    sub.send(Pubrec(packet_id=got.packet_id, reason_code=ReasonCode.UNSPECIFIED_ERROR))
    assert drain(sub) == []  # no PUBREL before the PINGRESP
    assert not inflight(broker, "sub")


@VERSIONS
def test_pubrec_for_unknown_packet_id_gets_pubrel(broker: BrokerThread, clients: OpenClient, version: int) -> None:
    """MQTT 5 §3.6.2.1: PUBREL 0x92 Packet Identifier not found; 3.1.1 has no reason code."""
    sub = clients(broker.port, "sub", version)
    sub.send(Pubrec(packet_id=555))
    code = ReasonCode.PACKET_IDENTIFIER_NOT_FOUND if version == V5 else 0
    assert sub.recv() == Pubrel(packet_id=555, reason_code=code)


# --------------------------------------------------------------------------------------------- QoS 2 dedup


@VERSIONS
def test_qos2_retransmission_with_dup_is_not_routed_twice(broker: BrokerThread, clients: OpenClient,
                                                          version: int) -> None:
    """[MQTT-4.3.3-10] (5.0) / [MQTT-4.3.3-2] (3.1.1): until PUBREL, a PUBLISH with the same id is answered
    with PUBREC and not delivered again; after PUBCOMP the id starts a new message [MQTT-4.3.3-12]."""
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("d/#", 0))
    pub = clients(broker.port, "pub", version)
    pub.send(Publish(topic="d/x", payload=b"once", qos=2, packet_id=7))
    assert pub.recv() == Pubrec(packet_id=7)
    pub.send(Publish(topic="d/x", payload=b"once", qos=2, packet_id=7, dup=True))
    assert pub.recv() == Pubrec(packet_id=7)
    pub.send(Publish(topic="d/x", payload=b"once", qos=2, packet_id=7, dup=True))
    assert pub.recv() == Pubrec(packet_id=7)
    ping_sync(pub)
    assert [p.payload for p in drain(sub)] == [b"once"]
    pub.send(Pubrel(packet_id=7))
    assert pub.recv() == Pubcomp(packet_id=7)
    pub.send(Publish(topic="d/x", payload=b"again", qos=2, packet_id=7))
    assert pub.recv() == Pubrec(packet_id=7)
    assert [p.payload for p in drain(sub)] == [b"again"]


@VERSIONS
def test_qos2_publish_reusing_a_pending_id_without_dup_is_not_routed(broker: BrokerThread, clients: OpenClient,
                                                                     version: int) -> None:
    """[MQTT-4.3.3-10]: any further PUBLISH with an id awaiting PUBREL gets a PUBREC and no onward delivery."""
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("d/#", 0))
    pub = clients(broker.port, "pub", version)
    pub.send(Publish(topic="d/x", payload=b"first", qos=2, packet_id=3))
    assert pub.recv() == Pubrec(packet_id=3)
    pub.send(Publish(topic="d/x", payload=b"second", qos=2, packet_id=3))
    rec = pub.recv()
    assert isinstance(rec, Pubrec) and rec.packet_id == 3
    assert [p.payload for p in drain(sub)] == [b"first"]


@VERSIONS
def test_qos2_retransmission_after_reconnect_is_not_routed_twice(broker: BrokerThread, clients: OpenClient,
                                                                 version: int) -> None:
    """[MQTT-4.4.0-1] + [MQTT-4.3.3-10]: the pending-PUBREL state is session state, so a PUBLISH resent with
    DUP on a new connection of a persistent session is acknowledged but not delivered again."""
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("d/#", 0))
    pub = clients(broker.port, "pub", version, **persistent(version, expiry=60))
    pub.send(Publish(topic="d/x", payload=b"once", qos=2, packet_id=9))
    assert pub.recv() == Pubrec(packet_id=9)
    pub.close()
    wait_for(lambda: offline(broker, "pub"), message="pub offline")
    pub = clients(broker.port, "pub", version, **persistent(version, expiry=60))
    pub.send(Publish(topic="d/x", payload=b"once", qos=2, packet_id=9, dup=True))
    assert pub.recv() == Pubrec(packet_id=9)
    pub.send(Pubrel(packet_id=9))
    assert pub.recv() == Pubcomp(packet_id=9)
    assert [p.payload for p in drain(sub)] == [b"once"]


# --------------------------------------------------------------------------------------------- reason codes


@VERSIONS
def test_pubrel_for_unknown_packet_id_gets_pubcomp(broker: BrokerThread, clients: OpenClient, version: int) -> None:
    """[MQTT-4.3.3-11]: PUBREL is answered by PUBCOMP with its id; MQTT 5 says 0x92 Packet Identifier not found
    (§3.7.2.1) when no exchange has that id."""
    pub = clients(broker.port, "pub", version)
    pub.send(Pubrel(packet_id=99))
    code = ReasonCode.PACKET_IDENTIFIER_NOT_FOUND if version == V5 else 0
    assert pub.recv() == Pubcomp(packet_id=99, reason_code=code)
    ping_sync(pub)  # still connected


def test_v5_no_matching_subscribers_reason_code(broker: BrokerThread, clients: OpenClient) -> None:
    """MQTT 5 §3.4.2.1 / §3.5.2.1: PUBACK / PUBREC 0x10 No matching subscribers; 0x10 is a success code,
    so the QoS 2 exchange goes on to PUBCOMP 0x00."""
    pub = clients(broker.port, "pub", V5)
    pub.send(Publish(topic="nobody/here", payload=b"x", qos=1, packet_id=1))
    assert pub.recv() == Puback(packet_id=1, reason_code=ReasonCode.NO_MATCHING_SUBSCRIBERS)
    pub.send(Publish(topic="nobody/here", payload=b"x", qos=2, packet_id=2))
    assert pub.recv() == Pubrec(packet_id=2, reason_code=ReasonCode.NO_MATCHING_SUBSCRIBERS)
    pub.send(Pubrel(packet_id=2))
    assert pub.recv() == Pubcomp(packet_id=2)
    sub = clients(broker.port, "sub", V5)
    subscribe(sub, ("nobody/#", 0))
    pub.send(Publish(topic="nobody/here", payload=b"x", qos=1, packet_id=3))
    assert pub.recv() == Puback(packet_id=3)


def test_v311_puback_without_subscribers_is_plain(broker: BrokerThread, clients: OpenClient) -> None:
    """MQTT 3.1.1 PUBACK has no reason code: 'no subscribers' is not reported."""
    pub = clients(broker.port, "pub", V311)
    pub.send(Publish(topic="nobody/here", payload=b"x", qos=1, packet_id=1))
    assert pub.recv() == Puback(packet_id=1)


def test_v5_publish_protocol_error_closes_with_disconnect(broker: BrokerThread, clients: OpenClient) -> None:
    """[MQTT-3.3.2-2]: a wildcard in a PUBLISH topic -> DISCONNECT 0x90 Topic Name invalid."""
    pub = clients(broker.port, "pub", V5)
    pub.send(Publish(topic="a/+", payload=b"x", qos=1, packet_id=1))
    assert pub.recv_until_closed() == [Disconnect(reason_code=ReasonCode.TOPIC_NAME_INVALID)]


# --------------------------------------------------------------------------------------------- packet ids


@VERSIONS
def test_broker_packet_ids_are_unique_among_unacknowledged(broker: BrokerThread, clients: OpenClient,
                                                           version: int) -> None:
    """[MQTT-2.2.1-4]: every new QoS > 0 PUBLISH from the broker uses a non-zero id not currently in use,
    also when the allocator wraps past 65535 onto ids that are still unacknowledged."""
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("ids/#", 1))
    pub = clients(broker.port, "pub", version)
    for i in range(10):
        publish(pub, "ids/a", bytes([i]), qos=1)
    first = drain_unacked(sub, 10)
    pids = [p.packet_id for p in first]
    assert len(set(pids)) == 10 and all(pids)
    unacked = set()
    for n, packet in enumerate(first):
        if n % 2:
            unacked.add(packet.packet_id)
        else:
            sub.send(Puback(packet_id=packet.packet_id or 0))
    wait_for(lambda: inflight(broker, "sub") == unacked, message="half of the deliveries acknowledged")
    session = broker.call(lambda: broker.broker.sessions["sub"])
    broker.call(setattr, session, "_next_pid", 65534)  # wrap onto 1.. where unacked ids live
    for i in range(10):
        publish(pub, "ids/b", bytes([i]), qos=1)
    second = drain_unacked(sub, 10)
    new = [p.packet_id for p in second]
    assert [p.payload for p in second] == [bytes([i]) for i in range(10)]
    assert len(set(new)) == 10 and all(pid is not None and 1 <= pid <= 65535 for pid in new)
    assert not set(new) & unacked, (new, unacked)


def drain_unacked(client: RawClient, n: int) -> list[Publish]:
    out = []
    for _ in range(n):
        packet = client.recv()
        assert isinstance(packet, Publish), packet
        out.append(packet)
    return out


@VERSIONS
def test_qos2_packet_id_stays_reserved_until_pubcomp(broker: BrokerThread, clients: OpenClient,
                                                     version: int) -> None:
    """[MQTT-2.2.1-4] + [MQTT-4.3.3-5]: after PUBREL the id is still in use until PUBCOMP arrives."""
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("r/#", 2))
    pub = clients(broker.port, "pub", version)
    publish(pub, "r/1", b"a", qos=2)
    first = sub.recv()
    assert isinstance(first, Publish) and first.packet_id
    sub.send(Pubrec(packet_id=first.packet_id))
    assert sub.recv() == Pubrel(packet_id=first.packet_id)
    session = broker.call(lambda: broker.broker.sessions["sub"])
    broker.call(setattr, session, "_next_pid", first.packet_id)
    publish(pub, "r/2", b"b", qos=2)
    second = sub.recv()
    assert isinstance(second, Publish) and second.packet_id
    assert second.packet_id != first.packet_id
    sub.send(Pubcomp(packet_id=first.packet_id))
    acknowledge(sub, second)
    assert sub.recv() == Pubrel(packet_id=second.packet_id)
    sub.send(Pubcomp(packet_id=second.packet_id))
    wait_for(lambda: not inflight(broker, "sub"), message="both exchanges complete")


# --------------------------------------------------------------------------------------------- flow control, order


def test_v5_receive_maximum_limits_unacknowledged_deliveries_and_keeps_order(broker: BrokerThread,
                                                                             clients: OpenClient) -> None:
    """[MQTT-3.3.4-9]: no more QoS > 0 PUBLISHes unacknowledged than the client's Receive Maximum; the rest
    follow as acks come, in the order published [MQTT-4.6.0-6] (QoS 0 ones too: one ordered topic)."""
    sub = clients(broker.port, "sub", V5, properties={0x21: 2})  # Receive Maximum 2
    subscribe(sub, ("fc/#", 2))
    pub = clients(broker.port, "pub", V5)
    sent = [(n, n % 3) for n in range(9)]
    for n, qos in sent:
        publish(pub, "fc/t", str(n).encode(), qos=qos, packet_id=n + 1)
    received: list[Publish] = []
    unacked: list[Publish] = []
    while len(received) < len(sent):
        batch = drain_unacked_until_ping(sub)
        received += batch
        unacked += [p for p in batch if p.qos]
        assert len(unacked) <= 2, [p.payload for p in unacked]
        assert unacked, "the broker stalled with nothing in flight"
        oldest = unacked.pop(0)
        acknowledge(sub, oldest)
        if oldest.qos == 2:
            assert sub.recv() == Pubrel(packet_id=oldest.packet_id or 0)
            sub.send(Pubcomp(packet_id=oldest.packet_id or 0))
    assert [(int(p.payload), p.qos) for p in received] == sent


def drain_unacked_until_ping(client: RawClient) -> list[Publish]:
    """PUBLISHes already sent to ``client``, not acknowledged."""
    client.send(Pingreq())
    out = []
    while True:
        packet = client.recv()
        if isinstance(packet, Pingresp):
            return out
        assert isinstance(packet, Publish), packet
        out.append(packet)


@VERSIONS
def test_unsubscribe_completes_deliveries_already_started(broker: BrokerThread, clients: OpenClient,
                                                          version: int) -> None:
    """[MQTT-3.10.4-3]: QoS 1 and 2 deliveries started before UNSUBSCRIBE are completed."""
    sub = clients(broker.port, "sub", version)
    subscribe(sub, ("un/#", 2))
    pub = clients(broker.port, "pub", version)
    publish(pub, "un/1", b"1", qos=1)
    publish(pub, "un/2", b"2", qos=2)
    first, second = sub.recv(), sub.recv()
    assert isinstance(first, Publish) and isinstance(second, Publish)
    sub.send(Unsubscribe(packet_id=5, topic_filters=("un/#",)))
    assert isinstance(sub.recv(), Unsuback)
    publish(pub, "un/3", b"3", qos=1)
    acknowledge(sub, first)
    acknowledge(sub, second)
    assert sub.recv() == Pubrel(packet_id=second.packet_id or 0)
    sub.send(Pubcomp(packet_id=second.packet_id or 0))
    wait_for(lambda: not inflight(broker, "sub"), message="in-flight deliveries completed")
    assert drain(sub) == []


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_payloads_and_non_ascii_topics_survive_fan_out(broker: BrokerThread, clients: OpenClient, qos: int) -> None:
    """One encoding is shared by a fan-out and the packet id patched in per subscriber: payload sizes around
    the variable-length boundaries and multi-byte UTF-8 topics must come out intact for 3.1.1 and 5.0."""
    subs = [clients(broker.port, "s3", V311), clients(broker.port, "s5", V5), clients(broker.port, "s5b", V5)]
    for sub in subs:
        subscribe(sub, ("größe/#", 2))
    pub = clients(broker.port, "pub", V5)
    sizes = [0, 1, 100, 127, 128, 16_383, 16_384, 200_000]
    payloads = [bytes((n + i) % 251 for i in range(n)) for n in sizes]
    for n, payload in enumerate(payloads):
        publish(pub, f"größe/ü/{n}", payload, qos=qos, packet_id=n + 1)
    for sub in subs:
        got = drain(sub)
        assert [(p.topic, p.payload, p.qos) for p in got] == [
            (f"größe/ü/{n}", payload, qos) for n, payload in enumerate(payloads)]
        if qos:
            assert len({p.packet_id for p in got}) == len(payloads)
