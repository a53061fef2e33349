"""Standard Webhooks signatures (delivery.md "Signing"), so receivers can check a request came from us, unaltered.

A signed request carries ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256
of "<id>.<timestamp>.<body>">``; while a secret is being rotated it carries one signature per key, space-separated,
so a receiver holding either the old or the new secret accepts it. The ``standardwebhooks`` package verifies
these headers unchanged (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md).

The ``webhook-id`` is what receivers deduplicate on, so it is made once per event (`new_delivery_id`) and kept
across retries and restarts by the durable queue; it is not derived from the event.
"""

from __future__ import annotations

import base64
import hmac
import itertools
import os
from collections.abc import Sequence

__all__ = ["new_delivery_id", "sign", "signature_headers"]


def _signed_content(delivery_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{delivery_id}.{timestamp}.".encode() + body


def sign(key: bytes, delivery_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of a request body with one key (the decoded ``whsec_`` secret)."""
    return _v1(key, _signed_content(delivery_id, timestamp, body))


def _v1(key: bytes, content: bytes) -> str:
    return "v1," + base64.b64encode(hmac.digest(key, content, "sha256")).decode()


def signature_headers(keys: Sequence[bytes], delivery_id: str, timestamp: int, body: bytes) -> list[tuple[str, str]]:
    """The Standard Webhooks headers of one request; several keys sign it once each, the first key first.

    Without keys only ``webhook-id`` and ``webhook-timestamp`` are sent: receivers still deduplicate by id.
    """
    headers = [("webhook-id", delivery_id), ("webhook-timestamp", str(timestamp))]
    if keys:
        content = _signed_content(delivery_id, timestamp, body)
        headers.append(("webhook-signature", " ".join(_v1(key, content) for key in keys)))
    return headers


# An id is a random per-process prefix (80 bits: a collision needs ~2^40 process starts) and a fixed-width
# counter, so making one costs about a microsecond on the MQTT hot path and ids of one process sort by creation.
def _new_prefix() -> str:
    return "msg_" + base64.b32encode(os.urandom(10)).decode().lower()


_prefix = _new_prefix()
_counter = itertools.count()


def new_delivery_id() -> str:
    """A ``webhook-id`` unique across processes and restarts: ``msg_`` + 16 base32 + 16 hex characters."""
    return f"{_prefix}{next(_counter):016x}"


def _reseed() -> None:
    global _prefix, _counter
    _prefix, _counter = _new_prefix(), itertools.count()


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=_reseed)  # a forked child would otherwise repeat its parent's ids
