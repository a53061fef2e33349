"""Will messages end to end: when they are published, when not, Will Delay Interval and Will Retain."""

from __future__ import annotations

import time
from typing import Any

import pytest

from hookmq.mqtt import Connack, Connect, Disconnect, Publish, Suback, Subscribe, Subscription, Will
from tests.broker.support import (
    V5,
    V311,
    P,
    each_version,
    offline,
    open_watcher,
    persistent,
    recv_publish,
    session_gone,
)
from tests.helpers import BrokerThread, raw_client, wait_for

VERSIONS = each_version()
pytestmark = pytest.mark.usefixtures("fast_sweep")


def will(topic: str = "will/t", payload: bytes = b"gone", qos: int = 1, retain: bool = False,
         properties: dict[int, Any] | None = None) -> Will:
    """A Will for CONNECT that the `open_watcher` on ``will/#`` sees (QoS 1 by default)."""
    return Will(topic=topic, payload=payload, qos=qos, retain=retain, properties=properties or {})


# ------------------------------------------------------------------------------------------------ when


@VERSIONS
def test_will_is_published_when_the_socket_closes_without_disconnect(broker: BrokerThread, version: int) -> None:
    """[MQTT-3.1.2-8] the Will Message is published when the network connection closes without a
    DISCONNECT."""
    w = open_watcher(broker, "will/#")
    try:
        with raw_client(broker.port, version) as c:
            c.connect("dies", will=will(payload=b"dead"))
        got = recv_publish(w, send_ack=True)
        assert (got.topic, got.payload, got.qos, got.retain) == ("will/t", b"dead", 1, False)
    finally:
        w.close()


def test_v5_will_properties_travel_with_the_will(broker: BrokerThread) -> None:
    """MQTT 5 3.1.3.2: Will Properties (Content Type, User Property, ...) are sent with the Will Message."""
    w = open_watcher(broker, "will/#")
    try:
        with raw_client(broker.port, V5) as c:
            c.connect("props", will=Will(topic="will/p", payload=b"bye", qos=1,
                                         properties={P.CONTENT_TYPE: "text/plain", P.USER_PROPERTY: [("k", "v")]}))
        got = recv_publish(w, send_ack=True)
        assert got.topic == "will/p"
        assert got.properties.get(P.CONTENT_TYPE) == "text/plain"
        assert got.properties.get(P.USER_PROPERTY) == [("k", "v")]
        assert P.WILL_DELAY_INTERVAL not in got.properties
    finally:
        w.close()


@VERSIONS
def test_will_is_not_published_after_a_normal_disconnect(broker: BrokerThread, version: int) -> None:
    """[MQTT-3.1.2-10] [MQTT-3.14.4-3] DISCONNECT (0x00) deletes the Will Message without publishing it."""
    w = open_watcher(broker, "will/#")
    try:
        with raw_client(broker.port, version) as c:
            c.connect("polite", will=will())
            c.send(Disconnect())
            assert c.recv_until_closed() == []
        wait_for(lambda: session_gone(broker, "polite"))
        w.expect_silence(0.3)
    finally:
        w.close()


def test_v5_will_is_published_after_disconnect_with_will_message(broker: BrokerThread) -> None:
    """MQTT 5 3.14.2.1: DISCONNECT with Reason Code 0x04 (Disconnect with Will Message) keeps the will."""
    w = open_watcher(broker, "will/#")
    try:
        with raw_client(broker.port, V5) as c:
            c.connect("with-will", will=will(payload=b"asked for it"))
            c.send(Disconnect(reason_code=0x04))
            assert c.recv_until_closed() == []
        assert recv_publish(w, send_ack=True).payload == b"asked for it"
    finally:
        w.close()


@pytest.mark.parametrize("code", [0x80, 0x83])
def test_v5_will_is_published_after_disconnect_with_an_error_reason_code(broker: BrokerThread, code: int) -> None:
    """MQTT 5 3.1.2.5: the will is published when 'the Client closes the Network Connection without first
    sending a DISCONNECT packet with a Reason Code 0x00'; it is removed only by DISCONNECT 0x00
    [MQTT-3.1.2-10] [MQTT-3.14.4-3]. So a DISCONNECT with an error code (0x80 Unspecified error, ...)
    does not suppress the will."""
    w = open_watcher(broker, "will/#")
    try:
        with raw_client(broker.port, V5) as c:
            c.connect("failing", will=will(payload=b"client error"))
            c.send(Disconnect(reason_code=code))
            assert c.recv_until_closed() == []
        assert recv_publish(w, timeout=1, send_ack=True).payload == b"client error"
    finally:
        w.close()


@VERSIONS
def test_will_is_published_when_the_server_closes_for_a_protocol_error(broker: BrokerThread,
                                                                        version: int) -> None:
    """[MQTT-3.1.2-8] (MQTT 5 3.1.2.5: 'the Server closes the Network Connection without first receiving a
    DISCONNECT') a protocol error closes the connection and publishes the will."""
    w = open_watcher(broker, "will/#")
    try:
        with raw_client(broker.port, version) as c:
            c.connect("broken", will=will(payload=b"malformed"))
            c.send_raw(b"\x30\x03\x00\x05a")  # PUBLISH whose topic length runs past the packet
            c.recv_until_closed()
        assert recv_publish(w, send_ack=True).payload == b"malformed"
    finally:
        w.close()


def test_will_is_published_on_keepalive_timeout(broker: BrokerThread) -> None:
    """[MQTT-3.1.2-8] a keep-alive timeout is an abnormal close: the will is published."""
    w = open_watcher(broker, "will/#")
    try:
        with raw_client(broker.port, V311) as c:
            c.connect("sleepy", keep_alive=1, will=will(payload=b"timed out"))
            assert recv_publish(w, timeout=4, send_ack=True).payload == b"timed out"
    finally:
        w.close()


@VERSIONS
def test_will_is_published_when_the_session_is_taken_over(broker: BrokerThread, version: int) -> None:
    """The server closing the old connection of a taken-over session is not a normal DISCONNECT, so its will
    (without delay) is published (MQTT 5 3.1.2.5)."""
    w = open_watcher(broker, "will/#")
    try:
        with raw_client(broker.port, version) as old, raw_client(broker.port, version) as new:
            old.connect("taken", will=will(payload=b"taken over"))
            assert new.connect("taken").reason_code == 0
            old.recv_until_closed()
            assert recv_publish(w, send_ack=True).payload == b"taken over"
            w.expect_silence(0.2)  # once
    finally:
        w.close()


# ------------------------------------------------------------------------------------------------ delay


def test_v5_will_delay_interval_delays_the_will(broker: BrokerThread) -> None:
    """[MQTT-3.1.3-9] the will is published only after the Will Delay Interval has passed."""
    w = open_watcher(broker, "will/#")
    try:
        with raw_client(broker.port, V5) as c:
            c.connect("delayed", properties={P.SESSION_EXPIRY_INTERVAL: 60},
                      will=Will(topic="will/t", payload=b"later", qos=1, properties={P.WILL_DELAY_INTERVAL: 1}))
        closed_at = time.monotonic()
        w.expect_silence(0.6)
        got = recv_publish(w, timeout=3, send_ack=True)
        elapsed = time.monotonic() - closed_at
        assert got.payload == b"later"
        assert 0.9 <= elapsed < 2.5, elapsed
    finally:
        w.close()


def test_v5_reconnect_within_the_will_delay_cancels_the_will(broker: BrokerThread) -> None:
    """[MQTT-3.1.3-9] if a new network connection to the session is made before the Will Delay Interval has
    passed, the server MUST NOT send the Will Message."""
    w = open_watcher(broker, "will/#")
    try:
        delayed = Will(topic="will/t", payload=b"never", qos=1, properties={P.WILL_DELAY_INTERVAL: 1})
        with raw_client(broker.port, V5) as c:
            c.connect("back-soon", properties={P.SESSION_EXPIRY_INTERVAL: 60}, will=delayed)
        closed_at = time.monotonic()
        wait_for(lambda: offline(broker, "back-soon"))
        with raw_client(broker.port, V5) as c:
            ack = c.connect("back-soon", **persistent(V5, expiry=60))
            assert ack.session_present is True
            assert time.monotonic() - closed_at < 0.9, "reconnected too late for this test to mean anything"
            # wait past the original delay: nothing may arrive
            w.expect_silence(max(0.2, 1.3 - (time.monotonic() - closed_at)))
            c.send(Disconnect())
            c.recv_until_closed()
        w.expect_silence(0.1)
    finally:
        w.close()


def test_v5_will_delay_is_cut_short_by_a_shorter_session_expiry(broker: BrokerThread) -> None:
    """MQTT 5 3.1.3.2.2: the will is published when the Will Delay Interval passes or the session ends,
    whichever happens first."""
    w = open_watcher(broker, "will/#")
    try:
        with raw_client(broker.port, V5) as c:
            c.connect("short-session", properties={P.SESSION_EXPIRY_INTERVAL: 1},
                      will=Will(topic="will/t", payload=b"session over", qos=1,
                                properties={P.WILL_DELAY_INTERVAL: 3600}))
        closed_at = time.monotonic()
        w.expect_silence(0.6)
        got = recv_publish(w, timeout=3, send_ack=True)
        elapsed = time.monotonic() - closed_at
        assert got.payload == b"session over"
        assert 0.9 <= elapsed < 2.5, elapsed
        wait_for(lambda: session_gone(broker, "short-session"))
    finally:
        w.close()


def test_v5_will_delay_with_session_expiry_zero_publishes_at_once(broker: BrokerThread) -> None:
    """With Session Expiry 0 the session ends with the connection, so a delayed will is published at once."""
    w = open_watcher(broker, "will/#")
    try:
        with raw_client(broker.port, V5) as c:
            c.connect("no-session", will=Will(topic="will/t", payload=b"now", qos=1,
                                              properties={P.WILL_DELAY_INTERVAL: 3600}))
        closed_at = time.monotonic()
        assert recv_publish(w, timeout=3, send_ack=True).payload == b"now"
        assert time.monotonic() - closed_at < 0.5
    finally:
        w.close()


def test_v5_delayed_will_is_not_published_on_takeover(broker: BrokerThread) -> None:
    """[MQTT-3.1.3-9] a takeover is a new network connection to the session before the delay passed."""
    w = open_watcher(broker, "will/#")
    try:
        with raw_client(broker.port, V5) as old, raw_client(broker.port, V5) as new:
            old.connect("taken-late", properties={P.SESSION_EXPIRY_INTERVAL: 60},
                        will=Will(topic="will/t", payload=b"no", qos=1, properties={P.WILL_DELAY_INTERVAL: 1}))
            new.connect("taken-late", **persistent(V5, expiry=60))
            assert old.recv_until_closed() == [Disconnect(reason_code=0x8E)]
            w.expect_silence(1.3)
    finally:
        w.close()


# ------------------------------------------------------------------------------------------------ retain


@VERSIONS
def test_will_retain_stores_a_retained_message(broker: BrokerThread, version: int) -> None:
    """[MQTT-3.1.2-17] (MQTT 5: [MQTT-3.1.2-15]) Will Retain = 1: the will is published as a retained
    message, so a later subscriber receives it with RETAIN = 1."""
    w = open_watcher(broker, "will/#")
    try:
        with raw_client(broker.port, version) as c:
            c.connect("retainer", will=will(topic="will/status", payload=b"offline", retain=True))
        live = recv_publish(w, send_ack=True)
        assert live.payload == b"offline"
        # [MQTT-3.3.1-12] (MQTT 5: Retain As Published = 0) an established subscription gets RETAIN = 0
        assert live.retain is False
        with raw_client(broker.port, version) as late:
            late.connect("late")
            late.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="will/status", qos=1),)))
            assert isinstance(late.recv(), Suback)
            got = late.recv()
            assert isinstance(got, Publish), got
            assert (got.topic, got.payload, got.retain) == ("will/status", b"offline", True)
    finally:
        w.close()


def test_will_without_retain_is_not_stored(broker: BrokerThread) -> None:
    w = open_watcher(broker, "will/#")
    try:
        with raw_client(broker.port, V311) as c:
            c.connect("not-retained", will=will(topic="will/plain"))
        recv_publish(w, send_ack=True)
        with raw_client(broker.port, V311) as late:
            late.connect("late2")
            late.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="will/plain", qos=1),)))
            assert isinstance(late.recv(), Suback)
            late.expect_silence(0.2)
    finally:
        w.close()


def test_v5_will_topic_must_be_a_valid_topic_name(broker: BrokerThread) -> None:
    """[MQTT-3.1.3-11]/[MQTT-3.3.2-2] a Will Topic with wildcards is refused: CONNACK 0x90 (Topic Name
    invalid), then close."""
    with raw_client(broker.port, V5) as c:
        c.send(Connect(protocol_version=V5, client_id="wild-will", will=Will(topic="will/#", payload=b"x")))
        packets = c.recv_until_closed()
        assert len(packets) == 1 and isinstance(packets[0], Connack), packets
        assert packets[0].reason_code == 0x90
    assert session_gone(broker, "wild-will")


def test_v311_will_topic_with_wildcards_is_refused(broker: BrokerThread) -> None:
    with raw_client(broker.port, V311) as c:
        c.send(Connect(protocol_version=V311, client_id="wild-will3", will=Will(topic="will/+", payload=b"x")))
        packets = c.recv_until_closed()
        assert packets == [] or (len(packets) == 1 and isinstance(packets[0], Connack)
                                 and packets[0].reason_code != 0), packets
    assert session_gone(broker, "wild-will3")
