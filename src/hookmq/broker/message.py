"""A routed application message, and the once-per-fan-out PUBLISH encoding cache."""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from typing import Any

from hookmq.mqtt import PropertyId, encode_properties, encode_publish

__all__ = ["Message", "MessageIdGenerator"]

_MEI = PropertyId.MESSAGE_EXPIRY_INTERVAL
_SUB_ID = PropertyId.SUBSCRIPTION_IDENTIFIER
_TOPIC_ALIAS = PropertyId.TOPIC_ALIAS


class MessageIdGenerator:
    """128-bit, time-ordered ids laid out as EMQX's GUID: 64-bit µs time, 48-bit node+process, 16-bit sequence."""

    def __init__(self, node_name: str) -> None:
        node_hash = int.from_bytes(os.urandom(2), "big") ^ (hash(node_name) & 0xFFFF)
        self._node = ((node_hash << 32) | (os.getpid() & 0xFFFFFFFF)) & 0xFFFF_FFFF_FFFF
        self._seq = itertools.count()

    def next(self) -> bytes:
        return ((time.time_ns() // 1000) << 64 | self._node << 16 | (next(self._seq) & 0xFFFF)).to_bytes(16, "big")


@dataclass(slots=True, eq=False)
class Message:
    """An application message as received, plus who sent it. Immutable by convention once routed.

    ``properties`` hold what travels with the message (MQTT 5 Message Expiry, Content Type, Response Topic,
    Correlation Data, User Properties, Payload Format); per-hop ones (Topic Alias, Subscription Identifier)
    are stripped on receipt. ``expires_at`` is a ``time.time()`` deadline or None.
    """

    id: bytes
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: dict[int, Any]
    from_clientid: str
    from_username: str | None
    peername: tuple[str, int]
    received_at: int  # unix ms
    expires_at: float | None = None
    dup: bool = False
    hooks_mask: int = -1  # message events some hook wants (hooks.MESSAGE_*_BIT); -1 = not computed yet
    _encoded: dict[tuple[Any, ...], bytes] | None = None
    _topic_bytes: bytes | None = None

    def expired(self, now: float) -> bool:
        # Strictly after: a Message Expiry Interval of 0 still allows immediate onward delivery.
        return self.expires_at is not None and now > self.expires_at

    def remaining_expiry(self, now: float) -> int | None:
        if self.expires_at is None:
            return None
        return max(0, int(self.expires_at - now + 0.999))

    @property
    def topic_bytes(self) -> bytes:
        tb = self._topic_bytes
        if tb is None:
            tb = self._topic_bytes = self.topic.encode()
        return tb

    def outgoing_properties(self, now: float, sub_ids: tuple[int, ...] = ()) -> dict[int, Any]:
        props = dict(self.properties)
        if self.expires_at is not None:
            props[_MEI] = self.remaining_expiry(now)
        if sub_ids:
            props[_SUB_ID] = list(sub_ids)
        return props

    def encode(self, qos: int, retain: bool, v5: bool, packet_id: int | None = None, dup: bool = False,
               sub_ids: tuple[int, ...] = (), alias: int = 0, alias_known: bool = False) -> bytes:
        """Encode the PUBLISH one subscriber receives.

        The common shapes (no subscription id, no alias, no expiry) are cached per (qos, retain, v5), so a
        fan-out to N subscribers encodes once; QoS > 0 packets differ only in the packet id, which is patched
        into a copy of the cached bytes.
        """
        plain = not sub_ids and not alias and self.expires_at is None and not dup
        if plain:
            cache = self._encoded
            if cache is None:
                cache = self._encoded = {}
            key = (qos, retain, v5)
            data = cache.get(key)
            if data is None:
                props = encode_properties(self.properties) if v5 else None
                data = cache[key] = encode_publish(self.topic_bytes, self.payload, qos, retain, False, 1, props)
            if not qos:
                return data
            offset = _pid_offset(data, len(self.topic_bytes))
            return b"".join((data[:offset], packet_id.to_bytes(2, "big") if packet_id else b"\x00\x00",
                             data[offset + 2:]))
        if v5:
            props_dict = self.outgoing_properties(time.time(), sub_ids)
            if alias:
                props_dict[_TOPIC_ALIAS] = alias
            props = encode_properties(props_dict)
        else:
            props = None
        topic = b"" if alias_known else self.topic_bytes
        return encode_publish(topic, self.payload, qos, retain, dup, packet_id, props)


def _pid_offset(data: bytes, topic_len: int) -> int:
    """Where the packet id sits in an encoded PUBLISH: after the fixed header and the topic."""
    i = 1
    while data[i] & 0x80:
        i += 1
    return i + 3 + topic_len
