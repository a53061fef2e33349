"""EMQX 5 event payloads: one pure function per broker hook event, returning the ``SELECT *`` column map.

Each builder takes an `EventContext` and exactly the arguments of the matching ``Hook.on_*`` callback, and
returns the dict EMQX v5.8.9 would put in a webhook body (``emqx_rule_events.erl``), minus ``metadata``, which
the webhook layer adds. Key sets and encodings follow spec §2.2-§2.4 (``/work/shared/spec/emqx-webhook.md``):

* missing values (no username, no mountpoint, no peer address) are the string ``"undefined"``, never null;
* addresses are ``"ip:port"`` (IPv6 without brackets, IPv4-mapped IPv6 as plain IPv4), hosts ``"ip"``;
* ``payload`` is text: bytes decoded as UTF-8 with invalid bytes replaced by U+FFFD (EMQX's ``force_utf8``);
* every ``*_props`` object always holds ``"User-Property": {}`` (last duplicate wins) and, when user properties
  exist, ``"User-Property-Pairs"`` keeping every pair in order;
* ``timestamp`` is the build time in Unix milliseconds.

Builders run on the broker's event loop for every event a listener wants, so they do no I/O, look nothing up
beyond a dict, and build each payload in one pass. Every call returns fresh dicts (listeners may mutate them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hookmq.broker.clientinfo import ClientInfo
from hookmq.broker.hooks import HookEvent
from hookmq.broker.message import Message
from hookmq.mqtt import PROPERTY_NAMES, PropertyId, reason_name

__all__ = [
    "BUILDERS",
    "EventContext",
    "MessagePayload",
    "client_check_authn_complete",
    "client_check_authz_complete",
    "client_connack",
    "client_connected",
    "client_disconnected",
    "delivery_dropped",
    "format_host",
    "format_peer",
    "format_props",
    "message_acked",
    "message_delivered",
    "message_dropped",
    "message_publish",
    "session_subscribed",
    "session_unsubscribed",
]

Payload = dict[str, Any]


class MessagePayload(dict[str, Any]):
    """A message event's fields plus ``raw``, the MQTT payload bytes.

    ``payload`` is text with invalid UTF-8 replaced (EMQX's encoding), which loses binary data; webhooks with
    ``payload_encoding = "base64"`` encode ``raw`` instead. ``raw`` is an attribute, not a key, so the JSON of
    the event stays EMQX's.
    """

    __slots__ = ("raw",)

    raw: bytes

    def copy(self) -> MessagePayload:
        """A shallow copy that keeps ``raw`` (``dict.copy`` would return a plain dict without it)."""
        clone = MessagePayload(self)
        clone.raw = self.raw
        return clone

UNDEFINED = "undefined"
_USER_PROPERTY = PropertyId.USER_PROPERTY.value
_SUBSCRIPTION_IDENTIFIER = PropertyId.SUBSCRIPTION_IDENTIFIER.value
_MESSAGE_EXPIRY_NAME = PROPERTY_NAMES[PropertyId.MESSAGE_EXPIRY_INTERVAL]
_MAPPED_V4 = "::ffff:"


@dataclass(frozen=True, slots=True)
class EventContext:
    """What every payload needs besides the callback's arguments."""

    node: str  # the node name, e.g. "hookmq@127.0.0.1" (EMQX: "emqx@127.0.0.1")


# ------------------------------------------------------------------------------------------------- encodings


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _str(value: str | None) -> str:
    """EMQX prints the atom ``undefined`` for a missing value."""
    return UNDEFINED if value is None else value


def format_host(addr: tuple[str, int]) -> str:
    """``"ip"`` of an ``(ip, port)`` pair (``emqx_utils:ntoa/1``); ``"undefined"`` when there is no address."""
    host = addr[0]
    if not host:
        return UNDEFINED
    if host.startswith(_MAPPED_V4) and "." in host:
        return host[len(_MAPPED_V4):]
    return host


def format_peer(addr: tuple[str, int]) -> str:
    """``"ip:port"`` (IPv6 without brackets, IPv4-mapped IPv6 as IPv4); ``"undefined"`` when unknown."""
    host = addr[0]
    if not host:
        return UNDEFINED
    if host.startswith(_MAPPED_V4) and "." in host:
        host = host[len(_MAPPED_V4):]
    return f"{host}:{addr[1]}"


def _payload(data: bytes) -> str:
    # EMQX's JSON encoder runs with force_utf8: invalid sequences become U+FFFD, never base64.
    return data.decode("utf-8", "replace")


def format_props(props: dict[int, Any] | None) -> dict[str, Any]:
    """An MQTT property dict as EMQX's ``printable_maps/1`` shows it: MQTT 5 names as keys, ``User-Property``
    always present (an object, last duplicate wins) plus ``User-Property-Pairs`` when there are user
    properties, binary data as text, a single Subscription Identifier as an int."""
    out: dict[str, Any] = {"User-Property": {}}
    if not props:
        return out
    for pid, value in props.items():
        if pid == _USER_PROPERTY:
            out["User-Property"] = dict(value)
            out["User-Property-Pairs"] = [{"key": k, "value": v} for k, v in value]
            continue
        name = PROPERTY_NAMES.get(pid)
        if name is None:
            continue  # not an MQTT 5 property (internal); EMQX skips such entries too
        if pid == _SUBSCRIPTION_IDENTIFIER and isinstance(value, list | tuple):
            # hookmq keeps repeatable properties as lists; EMQX holds one id (an int) per SUBSCRIBE/PUBLISH.
            value = value[0] if len(value) == 1 else list(value)
        elif isinstance(value, bytes | bytearray):  # Correlation-Data, Authentication-Data
            value = bytes(value).decode("utf-8", "replace")
        out[name] = value
    return out


def _pub_props(message: Message) -> dict[str, Any]:
    """``pub_props`` of a message. hookmq moves the Message Expiry Interval out of ``properties`` into
    ``expires_at`` on receipt; EMQX keeps the received value in the message's properties (it computes expiry
    from it), so it is put back here: ``expires_at`` was set to receipt time + interval."""
    out = format_props(message.properties)
    expires_at = message.expires_at
    if expires_at is not None and _MESSAGE_EXPIRY_NAME not in out:
        out[_MESSAGE_EXPIRY_NAME] = max(0, round(expires_at - message.received_at / 1000))
    return out


def _flags(message: Message) -> dict[str, bool]:
    return {"retain": message.retain, "dup": message.dup}


def _message_id(message: Message) -> str:
    return message.id.hex().upper()


# -------------------------------------------------------------------------------------------- client events


def client_connected(ctx: EventContext, client: ClientInfo) -> Payload:
    """``client.connected`` (RE ``eventmsg_connected``); ``expiry_interval`` in seconds."""
    return {
        "clientid": client.clientid,
        "username": _str(client.username),
        "mountpoint": UNDEFINED,
        "peername": format_peer(client.peername),
        "sockname": format_peer(client.sockname),
        "proto_name": client.proto_name,
        "proto_ver": client.proto_ver,
        "keepalive": client.keepalive,
        "clean_start": client.clean_start,
        "receive_maximum": client.receive_maximum,
        "expiry_interval": client.expiry_interval,
        "is_bridge": False,
        "conn_props": format_props(client.conn_props),
        "connected_at": client.connected_at,
        "client_attrs": {},
        "event": "client.connected",
        "timestamp": _now_ms(),
        "node": ctx.node,
    }


def client_connack(ctx: EventContext, client: ClientInfo, reason_code: int,
                   connack_props: dict[int, Any]) -> Payload:
    """``client.connack`` (RE ``eventmsg_connack``).

    ``reason_code`` is the MQTT 5 reason *name* for every protocol version (EMQX's channel calls
    ``emqx_reason_codes:name/1``), so a 3.1.1 success is ``"success"`` too. ``conn_props`` are the CONNECT
    properties, as in EMQX; the CONNACK's own properties (``connack_props``) are not part of the event.
    """
    del connack_props
    return {
        "reason_code": reason_name(reason_code),
        "clientid": client.clientid,
        "clean_start": client.clean_start,
        "username": _str(client.username),
        "peername": format_peer(client.peername),
        "sockname": format_peer(client.sockname),
        "proto_name": client.proto_name,
        "proto_ver": client.proto_ver,
        "keepalive": client.keepalive,
        # Spec §2.4/§9: v5.8.9 passes the stored session expiry through unconverted, i.e. in MILLISECONDS,
        # unlike client.connected, which divides by 1000. ClientInfo keeps seconds, hence the * 1000.
        "expiry_interval": client.expiry_interval * 1000,
        "conn_props": format_props(client.conn_props),
        "event": "client.connack",
        "timestamp": _now_ms(),
        "node": ctx.node,
    }


def client_disconnected(ctx: EventContext, client: ClientInfo, reason: str,
                        disconnect_props: dict[int, Any]) -> Payload:
    """``client.disconnected`` (RE ``eventmsg_disconnected``); ``reason`` passes through (EMQX names)."""
    now = _now_ms()
    return {
        "reason": reason,
        "clientid": client.clientid,
        "username": _str(client.username),
        "peername": format_peer(client.peername),
        "sockname": format_peer(client.sockname),
        "proto_name": client.proto_name,
        "proto_ver": client.proto_ver,
        "disconn_props": format_props(disconnect_props),
        "disconnected_at": now,
        "connected_at": client.connected_at,
        "client_attrs": {},
        "event": "client.disconnected",
        "timestamp": now,
        "node": ctx.node,
    }


def client_check_authn_complete(ctx: EventContext, client: ClientInfo, reason_code: int, is_anonymous: bool,
                                is_superuser: bool) -> Payload:
    """``client.check_authn_complete`` (RE ``eventmsg_check_authn_complete``): ``reason_code`` is
    ``"success"`` or the failure's MQTT 5 reason name (``not_authorized``, ``bad_username_or_password``)."""
    return {
        "clientid": client.clientid,
        "username": _str(client.username),
        "peername": format_peer(client.peername),
        "reason_code": reason_name(reason_code),
        "is_anonymous": is_anonymous,
        "is_superuser": is_superuser,
        "client_attrs": {},
        "event": "client.check_authn_complete",
        "timestamp": _now_ms(),
        "node": ctx.node,
    }


def client_check_authz_complete(ctx: EventContext, client: ClientInfo, action: str, topic: str, allowed: bool,
                                source: str) -> Payload:
    """``client.check_authz_complete`` (RE ``eventmsg_check_authz_complete``)."""
    return {
        "clientid": client.clientid,
        "username": _str(client.username),
        "peername": format_peer(client.peername),
        "peerhost": format_host(client.peername),
        "topic": topic,
        "action": action,
        "authz_source": source,
        "result": "allow" if allowed else "deny",
        "client_attrs": {},
        "event": "client.check_authz_complete",
        "timestamp": _now_ms(),
        "node": ctx.node,
    }


# ------------------------------------------------------------------------------------------- session events


def session_subscribed(ctx: EventContext, client: ClientInfo, topic_filter: str, qos: int,
                       options: dict[str, int], sub_props: dict[int, Any]) -> Payload:
    """``session.subscribed`` (RE ``eventmsg_sub_or_unsub``): ``topic`` is the filter as sent
    (``$share/<group>/<filter>`` kept); the options (nl/rap/rh) are not part of the EMQX event."""
    del options
    return {
        "clientid": client.clientid,
        "username": _str(client.username),
        "peerhost": format_host(client.peername),
        "peername": format_peer(client.peername),
        "sub_props": format_props(sub_props),
        "topic": topic_filter,
        "qos": qos,
        "client_attrs": {},
        "event": "session.subscribed",
        "timestamp": _now_ms(),
        "node": ctx.node,
    }


def session_unsubscribed(ctx: EventContext, client: ClientInfo, topic_filter: str, qos: int,
                         unsub_props: dict[int, Any]) -> Payload:
    """``session.unsubscribed`` (RE ``eventmsg_sub_or_unsub``).

    ``qos`` is the removed subscription's QoS, as EMQX reports it.
    """
    return {
        "clientid": client.clientid,
        "username": _str(client.username),
        "peerhost": format_host(client.peername),
        "peername": format_peer(client.peername),
        "unsub_props": format_props(unsub_props),
        "topic": topic_filter,
        "qos": qos,
        "client_attrs": {},
        "event": "session.unsubscribed",
        "timestamp": _now_ms(),
        "node": ctx.node,
    }


# ------------------------------------------------------------------------------------------- message events


def _message_fields(event: str, ctx: EventContext, message: Message, peer: ClientInfo | None, qos: int) -> Payload:
    """The fields every message event shares. ``peer`` is the subscriber for the delivery-side events (who
    then own ``clientid``/``username``/``peer*`` while the publisher moves to ``from_*``), None for the
    publish-side ones."""
    if peer is None:
        who: Payload = {"clientid": message.from_clientid, "username": _str(message.from_username),
                        "peerhost": format_host(message.peername), "peername": format_peer(message.peername)}
    else:
        who = {"from_clientid": message.from_clientid, "from_username": _str(message.from_username),
               "clientid": peer.clientid, "username": _str(peer.username),
               "peerhost": format_host(peer.peername), "peername": format_peer(peer.peername)}
    fields = MessagePayload({
        "id": _message_id(message),
        **who,
        "payload": _payload(message.payload),
        "topic": message.topic,
        "qos": qos,
        "flags": _flags(message),
        "pub_props": _pub_props(message),
        "publish_received_at": message.received_at,
        "event": event,
        "timestamp": _now_ms(),
        "node": ctx.node,
    })
    fields.raw = message.payload
    return fields


def message_publish(ctx: EventContext, message: Message) -> Payload:
    """``message.publish`` (RE ``eventmsg_publish``): the publisher's identity comes from the message."""
    payload = _message_fields("message.publish", ctx, message, None, message.qos)
    payload["client_attrs"] = {}
    return payload


def message_dropped(ctx: EventContext, message: Message, reason: str) -> Payload:
    """``message.dropped`` (RE ``eventmsg_dropped``): dropped while routing; publisher fields, no client_attrs."""
    payload = _message_fields("message.dropped", ctx, message, None, message.qos)
    payload["reason"] = reason
    return payload


def message_delivered(ctx: EventContext, client: ClientInfo, message: Message, qos: int) -> Payload:
    """``message.delivered`` (RE ``eventmsg_delivered``): ``qos`` is the QoS of this delivery."""
    return _message_fields("message.delivered", ctx, message, client, qos)


def message_acked(ctx: EventContext, client: ClientInfo, message: Message, qos: int,
                  ack_props: dict[int, Any]) -> Payload:
    """``message.acked`` (RE ``eventmsg_acked``): the delivered fields plus the PUBACK/PUBCOMP properties."""
    payload = _message_fields("message.acked", ctx, message, client, qos)
    payload["puback_props"] = format_props(ack_props)
    return payload


def delivery_dropped(ctx: EventContext, client: ClientInfo, message: Message, qos: int, reason: str) -> Payload:
    """``delivery.dropped`` (RE ``eventmsg_delivery_dropped``): one subscriber's delivery was dropped; ``qos``
    is the QoS it would have been delivered at."""
    payload = _message_fields("delivery.dropped", ctx, message, client, qos)
    payload["reason"] = reason
    return payload


BUILDERS: dict[HookEvent, Callable[..., Payload]] = {
    HookEvent.CHECK_AUTHN_COMPLETE: client_check_authn_complete,
    HookEvent.CONNACK: client_connack,
    HookEvent.CONNECTED: client_connected,
    HookEvent.DISCONNECTED: client_disconnected,
    HookEvent.CHECK_AUTHZ_COMPLETE: client_check_authz_complete,
    HookEvent.SUBSCRIBED: session_subscribed,
    HookEvent.UNSUBSCRIBED: session_unsubscribed,
    HookEvent.MESSAGE_PUBLISH: message_publish,
    HookEvent.MESSAGE_DELIVERED: message_delivered,
    HookEvent.MESSAGE_ACKED: message_acked,
    HookEvent.MESSAGE_DROPPED: message_dropped,
    HookEvent.DELIVERY_DROPPED: delivery_dropped,
}
