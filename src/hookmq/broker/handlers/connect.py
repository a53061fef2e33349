"""CONNECT: validate, authenticate, open or resume the session, answer CONNACK.

Steps run in order; the first failing one answers a CONNACK with its reason code (MQTT 3.x clients get the
3.x return code) and closes. Password checks are CPU-heavy (argon2), so they run in a worker thread while
the connection holds back any packets pipelined behind the CONNECT.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from hookmq.mqtt import (
    Connack,
    Connect,
    PropertyId,
    ProtocolVersion,
    ReasonCode,
    encode,
    is_valid_topic_name,
)

from ..clientinfo import ConnState
from ..hooks import HookEvent

if TYPE_CHECKING:
    from ..connection import MqttConnection

log = logging.getLogger(__name__)

V5 = ProtocolVersion.MQTT_5
P = PropertyId


def handle(conn: MqttConnection, packet: Connect) -> None:
    conn.state = ConnState.CONNECTING
    conn.protocol_version = packet.protocol_version
    broker = conn.broker
    client = conn.client
    client.proto_ver = packet.protocol_version
    client.proto_name = "MQIsdp" if packet.protocol_version == ProtocolVersion.MQTT_3_1 else "MQTT"
    client.username = packet.username
    client.keepalive = packet.keep_alive
    client.clean_start = packet.clean_start
    client.conn_props = packet.properties
    client.receive_maximum = packet.properties.get(P.RECEIVE_MAXIMUM, 65535)

    code = _check_connect(conn, packet)
    if code:
        conn.reject_connect(code)
        return
    if not packet.client_id:
        client.clientid = "hookmq-" + secrets.token_hex(8)
    else:
        client.clientid = packet.client_id

    verdict = broker.authenticate(client, packet.password)
    if isinstance(verdict, int):
        _finish(conn, packet, verdict)
        return
    conn.block()
    task = asyncio.ensure_future(verdict)
    task.add_done_callback(lambda t: _after_auth(conn, packet, t))


def _after_auth(conn: MqttConnection, packet: Connect, task: asyncio.Future[int]) -> None:
    if conn.state != ConnState.CONNECTING:
        return  # the socket went away while the password was checked
    try:
        code = task.result()
    except Exception:
        log.exception("authentication failed with an error")
        code = ReasonCode.SERVER_UNAVAILABLE
    _finish(conn, packet, code)
    conn.unblock()


def _check_connect(conn: MqttConnection, packet: Connect) -> int:
    broker = conn.broker
    settings = broker.settings.mqtt
    v5 = packet.protocol_version == V5
    if not packet.client_id:
        # [MQTT-3.1.3-8] a 3.1.1 client with an empty id must ask for a clean session; 3.1 requires an id.
        if packet.protocol_version == ProtocolVersion.MQTT_3_1 or (not v5 and not packet.clean_start):
            return ReasonCode.CLIENT_IDENTIFIER_NOT_VALID
    elif len(packet.client_id) > settings.max_clientid_len:
        return ReasonCode.CLIENT_IDENTIFIER_NOT_VALID
    if P.AUTHENTICATION_METHOD in packet.properties:
        return ReasonCode.BAD_AUTHENTICATION_METHOD
    if packet.will is not None and not is_valid_topic_name(packet.will.topic, settings.max_topic_levels):
        return ReasonCode.TOPIC_NAME_INVALID
    if packet.will is not None:
        response_topic = packet.will.properties.get(P.RESPONSE_TOPIC)
        if response_topic is not None and not is_valid_topic_name(response_topic):
            return ReasonCode.PROTOCOL_ERROR  # [MQTT-3.1.3-11]
    if packet.will is not None and packet.will.retain and not settings.retain_available:
        return ReasonCode.RETAIN_NOT_SUPPORTED
    if broker.connection_count() > settings.max_connections:
        return ReasonCode.QUOTA_EXCEEDED if v5 else ReasonCode.SERVER_UNAVAILABLE
    return 0


def _finish(conn: MqttConnection, packet: Connect, code: int) -> None:
    broker = conn.broker
    client = conn.client
    if code:
        conn.reject_connect(code)
        return
    settings = broker.settings.mqtt
    v5 = packet.protocol_version == V5
    props = packet.properties
    if v5:
        expiry = min(props.get(P.SESSION_EXPIRY_INTERVAL, 0), settings.max_session_expiry)
    else:
        expiry = 0 if packet.clean_start else settings.session_expiry_v3
    client.expiry_interval = expiry
    client.connected_at = int(time.time() * 1000)

    keepalive = packet.keep_alive
    server_keepalive = None
    if v5 and settings.max_keepalive and (keepalive == 0 or keepalive > settings.max_keepalive):
        keepalive = server_keepalive = settings.max_keepalive
    conn.client_max_packet = props.get(P.MAXIMUM_PACKET_SIZE, 0)
    conn.alias_max_out = props.get(P.TOPIC_ALIAS_MAXIMUM, 0)
    conn.will = packet.will

    session, present = broker.open_session(conn, packet.clean_start, expiry)

    ack_props: dict[int, Any] = {}
    if v5:
        ack_props[P.RECEIVE_MAXIMUM] = settings.receive_maximum
        ack_props[P.MAXIMUM_PACKET_SIZE] = settings.max_packet_size
        ack_props[P.TOPIC_ALIAS_MAXIMUM] = settings.max_topic_alias
        if not settings.retain_available:
            ack_props[P.RETAIN_AVAILABLE] = 0
        if not settings.wildcard_subscription:
            ack_props[P.WILDCARD_SUBSCRIPTION_AVAILABLE] = 0
        if not settings.shared_subscription:
            ack_props[P.SHARED_SUBSCRIPTION_AVAILABLE] = 0
        if expiry != props.get(P.SESSION_EXPIRY_INTERVAL, 0):
            ack_props[P.SESSION_EXPIRY_INTERVAL] = expiry
        if not packet.client_id:
            ack_props[P.ASSIGNED_CLIENT_IDENTIFIER] = client.clientid  # [MQTT-3.2.2-16]
        if server_keepalive is not None:
            ack_props[P.SERVER_KEEP_ALIVE] = server_keepalive
    # What the broker will actually keep in flight towards this client (EMQX reports this negotiated value).
    client.receive_maximum = min(settings.max_inflight, client.receive_maximum)
    conn.state = ConnState.CONNECTED
    # EMQX order (and so the events'): client.connected when the session is open, then client.connack.
    if broker.hooks.wants(HookEvent.CONNECTED):
        broker.hooks.emit(HookEvent.CONNECTED, client)
    conn.send(encode(Connack(session_present=present, reason_code=0, properties=ack_props), packet.protocol_version))
    broker.connack_sent(conn, 0, ack_props)
    conn.start_keepalive(keepalive)
    session.attach(conn, client.receive_maximum)
