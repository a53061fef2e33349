"""The event catalogue: what each EMQX event is, where a rule reads it from, and which fields it carries.

This is what a dashboard (EMQX's ``GET /rule_events`` / Webhook trigger list) shows. Each `EventSpec`'s
``example`` is made by calling the real builder from `hookmq.events.builders` on realistic sample objects,
and ``fields`` is derived from that example's keys (plus ``metadata``), so the catalogue cannot drift from
what listeners actually receive. Everything is built once, at import (a few microseconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from hookmq.broker.clientinfo import ClientInfo
from hookmq.broker.hooks import HookEvent
from hookmq.broker.message import Message
from hookmq.mqtt import PropertyId

from .builders import BUILDERS, EventContext

__all__ = ["CATALOGUE", "EventSpec", "get"]

Group = Literal["message", "client", "session"]

P = PropertyId


@dataclass(frozen=True)
class EventSpec:
    name: str  # the EMQX event name, also the ``event`` field and the HookEvent value
    # Where an EMQX rule reads the event from (``SELECT * FROM "<rule_topic>"``). For message.publish this is
    # a *topic filter* ("#" = every published message), not a ``$events/`` topic: EMQX rejects
    # "$events/message_publish" in FROM.
    rule_topic: str
    group: Group
    description: str
    fields: tuple[tuple[str, str, str], ...]  # (field, type, meaning), in payload order, ending with metadata
    example: dict[str, Any]  # a payload as built by the real builder (without metadata)

    @property
    def rule_topic_is_filter(self) -> bool:
        """True when ``rule_topic`` is an MQTT topic filter (message.publish) rather than an event topic."""
        return not self.rule_topic.startswith("$events/")


# ----------------------------------------------------------------------------------- field types and meanings

_TYPES: dict[str, str] = {
    "event": "string", "timestamp": "integer (ms)", "node": "string", "metadata": "object",
    "id": "string (32 hex)", "clientid": "string", "username": "string", "from_clientid": "string",
    "from_username": "string", "mountpoint": "string", "peername": "string (ip:port)",
    "sockname": "string (ip:port)", "peerhost": "string (ip)", "proto_name": "string", "proto_ver": "integer",
    "keepalive": "integer (s)", "clean_start": "boolean", "receive_maximum": "integer",
    "expiry_interval": "integer (s)", "is_bridge": "boolean", "conn_props": "object", "disconn_props": "object",
    "connected_at": "integer (ms)", "disconnected_at": "integer (ms)", "client_attrs": "object",
    "reason": "string", "reason_code": "string", "is_superuser": "boolean", "is_anonymous": "boolean",
    "topic": "string", "action": "string", "authz_source": "string", "result": "string", "qos": "integer",
    "sub_props": "object", "unsub_props": "object", "payload": "string", "flags": "object",
    "pub_props": "object", "puback_props": "object", "publish_received_at": "integer (ms)",
}

_TYPE_OVERRIDES: dict[str, dict[str, str]] = {"client.connack": {"expiry_interval": "integer (ms)"}}

_MEANINGS: dict[str, str] = {
    "event": "event name",
    "timestamp": "when the event was built, Unix ms",
    "node": "node that produced the event",
    "metadata": "added on delivery: {\"rule_id\": <rule / webhook id>}",
    "id": "message id (128 bits, upper-case hex)",
    "clientid": "client id",
    "username": "username, \"undefined\" when none",
    "from_clientid": "publisher client id",
    "from_username": "publisher username, \"undefined\" when none",
    "mountpoint": "listener mountpoint, \"undefined\" when none",
    "peername": "client address",
    "sockname": "local listener address",
    "peerhost": "client IP",
    "proto_name": "protocol name (MQTT, or MQIsdp for 3.1)",
    "proto_ver": "protocol version: 3, 4 or 5",
    "keepalive": "keep alive, seconds",
    "clean_start": "clean start / clean session flag",
    "receive_maximum": "client's Receive Maximum",
    "expiry_interval": "session expiry interval, seconds",
    "is_bridge": "whether the client is a bridge",
    "conn_props": "CONNECT properties (MQTT 5 only)",
    "disconn_props": "DISCONNECT properties (MQTT 5 only)",
    "connected_at": "when the client connected, Unix ms",
    "disconnected_at": "when the client disconnected, Unix ms",
    "client_attrs": "client attributes",
    "reason": "reason",
    "reason_code": "reason code name",
    "is_superuser": "whether the client is a superuser",
    "is_anonymous": "whether the client was let in without authentication",
    "topic": "topic",
    "action": "publish or subscribe",
    "authz_source": "what decided: file, default, cache, ...",
    "result": "allow or deny",
    "qos": "QoS",
    "sub_props": "SUBSCRIBE properties (MQTT 5 only)",
    "unsub_props": "UNSUBSCRIBE properties (MQTT 5 only)",
    "payload": "message payload as text (invalid UTF-8 shown as U+FFFD)",
    "flags": "message flags: retain, dup",
    "pub_props": "PUBLISH properties (MQTT 5 only)",
    "puback_props": "PUBACK / PUBCOMP properties (MQTT 5 only)",
    "publish_received_at": "when the broker received the PUBLISH, Unix ms",
}

# Per-event wording where the generic one would mislead.
_OVERRIDES: dict[str, dict[str, str]] = {
    "message.publish": {"clientid": "publisher client id", "username": "publisher username, \"undefined\" when none",
                        "peername": "publisher address", "peerhost": "publisher IP",
                        "client_attrs": "publisher client attributes", "topic": "publish topic"},
    "message.dropped": {"clientid": "publisher client id", "username": "publisher username, \"undefined\" when none",
                        "peername": "publisher address", "peerhost": "publisher IP", "topic": "publish topic",
                        "reason": "no_subscribers, receive_maximum_exceeded or packet_identifier_inuse"},
    "client.connack": {"reason_code": "MQTT 5 reason name for every protocol version: success, not_authorized, "
                                      "bad_username_or_password, ...",
                       "expiry_interval": "session expiry interval, MILLISECONDS (as EMQX 5.8 sends it)"},
    "client.connected": {"receive_maximum": "client's Receive Maximum (65535 when not given)"},
    "client.disconnected": {"reason": "normal, kicked, discarded, takenover, keepalive_timeout, tcp_closed, "
                                      "not_authorized, or an MQTT 5 reason name"},
    "client.check_authn_complete": {"reason_code": "success, or the failure's reason name (not_authorized, "
                                                   "bad_username_or_password, ...)"},
    "client.check_authz_complete": {"topic": "topic or filter checked"},
    "session.subscribed": {"topic": "topic filter as sent ($share/<group>/<filter> kept)",
                           "qos": "subscription QoS"},
    "session.unsubscribed": {"topic": "topic filter as sent ($share/<group>/<filter> kept)",
                             "qos": "QoS of the removed subscription"},
    "delivery.dropped": {"reason": "queue_full, qos0_msg, expired, no_local or too_large"},
}
for _name in ("message.delivered", "message.acked", "delivery.dropped"):
    _OVERRIDES.setdefault(_name, {}).update({
        "clientid": "subscriber (receiver) client id",
        "username": "subscriber username, \"undefined\" when none",
        "peername": "subscriber address", "peerhost": "subscriber IP",
        "qos": "QoS of this delivery", "topic": "publish topic",
    })

_RULE_TOPICS: dict[HookEvent, str] = {e: "$events/" + e.value.replace(".", "_") for e in HookEvent}
_RULE_TOPICS[HookEvent.MESSAGE_PUBLISH] = "#"

_DESCRIPTIONS: dict[HookEvent, str] = {
    HookEvent.MESSAGE_PUBLISH: "A message was published (client PUBLISH, will or API). A rule selects it with a "
                               "topic filter (\"#\" or e.g. \"t/#\"), not a $events/ topic.",
    HookEvent.MESSAGE_DELIVERED: "A message was sent to one subscriber.",
    HookEvent.MESSAGE_ACKED: "A subscriber acknowledged a QoS 1 or QoS 2 delivery.",
    HookEvent.MESSAGE_DROPPED: "A message was discarded while routing, usually because there are no subscribers.",
    HookEvent.DELIVERY_DROPPED: "A delivery to one subscriber was discarded, e.g. because its queue is full.",
    HookEvent.CONNECTED: "A client connected and its session is open.",
    HookEvent.DISCONNECTED: "A client's connection ended.",
    HookEvent.CONNACK: "The broker answered a CONNECT (successful or not).",
    HookEvent.CHECK_AUTHZ_COMPLETE: "An authorization check (publish or subscribe) finished.",
    HookEvent.CHECK_AUTHN_COMPLETE: "An authentication check finished.",
    HookEvent.SUBSCRIBED: "A client subscribed to a topic filter.",
    HookEvent.UNSUBSCRIBED: "A client unsubscribed from a topic filter.",
}

# Dashboard order: the "Messages" triggers, then the "Events" ones (spec §2.1, DASH Trigger.vue).
_ORDER: tuple[HookEvent, ...] = (
    HookEvent.MESSAGE_PUBLISH, HookEvent.MESSAGE_DELIVERED, HookEvent.MESSAGE_ACKED, HookEvent.MESSAGE_DROPPED,
    HookEvent.DELIVERY_DROPPED, HookEvent.CONNECTED, HookEvent.DISCONNECTED, HookEvent.CONNACK,
    HookEvent.CHECK_AUTHZ_COMPLETE, HookEvent.CHECK_AUTHN_COMPLETE, HookEvent.SUBSCRIBED, HookEvent.UNSUBSCRIBED,
)


def _group(event: HookEvent) -> Group:
    if event.value.startswith("session."):
        return "session"
    if event.value.startswith("client."):
        return "client"
    return "message"


# ------------------------------------------------------------------------------------------ sample arguments

_CTX = EventContext(node="hookmq@127.0.0.1")
_T0 = 1_694_681_417_714  # ms


def _client(clientid: str, username: str | None, port: int) -> ClientInfo:
    return ClientInfo(clientid=clientid, username=username, peername=("192.168.0.10", port),
                      sockname=("0.0.0.0", 1883), proto_ver=5, keepalive=60, clean_start=True, expiry_interval=3600,
                      receive_maximum=32, conn_props={P.SESSION_EXPIRY_INTERVAL: 3600, P.RECEIVE_MAXIMUM: 32,
                                                      P.USER_PROPERTY: [("region", "eu")]},
                      connected_at=_T0, is_anonymous=False)


def _sample_args() -> dict[HookEvent, tuple[Any, ...]]:
    publisher = _client("c_emqx_1", "u_emqx_1", 32781)
    subscriber = _client("c_emqx_2", None, 32782)
    message = Message(id=bytes.fromhex("0006054DC3E940F8F445000038A60002"), topic="t/a",
                      payload=b'{"msg": "hello"}', qos=1, retain=False,
                      properties={P.PAYLOAD_FORMAT_INDICATOR: 1, P.MESSAGE_EXPIRY_INTERVAL: 30,
                                  P.USER_PROPERTY: [("foo", "bar")]},
                      from_clientid=publisher.clientid, from_username=publisher.username,
                      peername=publisher.peername, received_at=_T0 + 14)
    return {
        HookEvent.MESSAGE_PUBLISH: (message,),
        HookEvent.MESSAGE_DELIVERED: (subscriber, message, 1),
        HookEvent.MESSAGE_ACKED: (subscriber, message, 1, {P.REASON_STRING: "OK"}),
        HookEvent.MESSAGE_DROPPED: (message, "no_subscribers"),
        HookEvent.DELIVERY_DROPPED: (subscriber, message, 1, "queue_full"),
        HookEvent.CONNECTED: (publisher,),
        HookEvent.DISCONNECTED: (publisher, "normal", {P.REASON_STRING: "bye"}),
        HookEvent.CONNACK: (publisher, 0, {P.RECEIVE_MAXIMUM: 32}),
        HookEvent.CHECK_AUTHZ_COMPLETE: (publisher, "publish", "t/a", True, "file"),
        HookEvent.CHECK_AUTHN_COMPLETE: (publisher, 0, False, False),
        HookEvent.SUBSCRIBED: (subscriber, "t/#", 1, {"qos": 1, "nl": 0, "rap": 0, "rh": 0}, {}),
        HookEvent.UNSUBSCRIBED: (subscriber, "t/#", 1, {}),
    }


def _spec(event: HookEvent, args: tuple[Any, ...]) -> EventSpec:
    example = BUILDERS[event](_CTX, *args)
    overrides = _OVERRIDES.get(event.value, {})
    types = _TYPE_OVERRIDES.get(event.value, {})
    fields = tuple((key, types.get(key, _TYPES[key]), overrides.get(key, _MEANINGS[key]))
                   for key in (*example, "metadata"))
    return EventSpec(name=event.value, rule_topic=_RULE_TOPICS[event], group=_group(event),
                     description=_DESCRIPTIONS[event], fields=fields, example=example)


def _build() -> tuple[EventSpec, ...]:
    args = _sample_args()
    return tuple(_spec(event, args[event]) for event in _ORDER)


CATALOGUE: tuple[EventSpec, ...] = _build()
_BY_NAME: dict[str, EventSpec] = {spec.name: spec for spec in CATALOGUE}


def get(name: str) -> EventSpec:
    """The spec of event ``name`` (e.g. ``"client.connected"``).

    Raises:
        KeyError: an unknown event name (the message lists the known ones).
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown event {name!r}; known events: {', '.join(_BY_NAME)}") from None
