"""Turn queued events into the HTTP request a webhook sends: target, headers and body.

The queue stores each event as its JSON (EMQX's fields, no ``metadata``) and the request is built at send
time, so fixing a webhook's template, headers or URL also fixes the events already waiting — and the
dead letters it then replays. Building is cheap where it matters: without a body template the stored
JSON is spliced with the ``metadata`` object as bytes, never parsed; templates parse it once per request.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any, Final

import orjson

from .model import WebhookConfig

__all__ = ["BODYLESS_METHODS", "RequestBuilder", "batch_delivery_id", "encode_event"]

BODYLESS_METHODS: Final = frozenset({"GET", "DELETE"})


def encode_event(event: dict[str, Any], payload_encoding: str) -> bytes:
    """The event as stored in the queue: its JSON, with the MQTT payload as base64 when asked.

    ``base64`` reads the raw bytes a message event carries (`hookmq.events.builders.MessagePayload.raw`),
    so binary payloads survive; events without a payload are stored as they are.
    """
    raw = getattr(event, "raw", None)
    if payload_encoding == "base64" and raw is not None:
        event = {**event, "payload": base64.b64encode(raw).decode()}
    return orjson.dumps(event)


def batch_delivery_id(delivery_ids: Sequence[str]) -> str:
    """The ``webhook-id`` of a batched request: derived from its events' ids, so the same batch sent again
    carries the same id. Receivers deduplicate batches per element (``metadata.delivery_id``)."""
    digest = hashlib.sha256(" ".join(delivery_ids).encode()).hexdigest()[:32]
    return f"batch_{digest}"


class RequestBuilder:
    """One webhook's request, compiled from its settings once and applied to stored events."""

    __slots__ = ("_batch_metadata", "_body_template", "_constant_target", "_metadata", "_send_body", "template")

    def __init__(self, config: WebhookConfig) -> None:
        self.template = config.request_template()
        self._body_template = self.template.body
        self._send_body = config.method not in BODYLESS_METHODS
        path = self.template.path
        # None when the path or a header uses a variable: then each event is parsed to render them.
        self._constant_target = None if path.variables or self.template.headers_vary else path.render({})
        # What EMQX appends to a whole-event body: "metadata": {"rule_id": "<name>_WH_D"}; in a batch each element
        # also carries its delivery_id.
        self._metadata = b',"metadata":' + orjson.dumps({"rule_id": config.rule_id}) + b"}"
        self._batch_metadata = self._metadata[:-2] + b',"delivery_id":'

    def build(self, stored: bytes) -> tuple[str, dict[str, str], bytes]:
        """(target, headers, body) for one stored event. Target is the path and query, after the base URL."""
        if self._body_template is None and self._constant_target is not None:
            return self._constant_target, self.template.constant_headers, self._whole(stored)
        event = self._event(stored)
        body = b"" if not self._send_body else self._whole(stored) if self._body_template is None \
            else self._body_template.render(event).encode()
        return self.template.render_target(event), self.template.render_headers(event), body

    def build_batch(self, stored: Sequence[bytes], delivery_ids: Sequence[str]) -> tuple[str, dict[str, str], bytes]:
        """A JSON array of whole events, each with ``metadata.rule_id`` and ``metadata.delivery_id``; the URL
        and header templates are rendered with the first event (batches need no body template)."""
        parts = [self._whole(body, delivery_id) for body, delivery_id in zip(stored, delivery_ids, strict=True)]
        first = {} if self._constant_target is not None else self._event(stored[0])
        return self.template.render_target(first), self.template.render_headers(first), b"[" + b",".join(parts) + b"]"

    def _whole(self, stored: bytes, delivery_id: str | None = None) -> bytes:
        if not self._send_body:
            return b""
        metadata = self._metadata if delivery_id is None else self._batch_metadata + orjson.dumps(delivery_id) + b"}}"
        if stored == b"{}":
            return b"{" + metadata[1:]
        return stored[:-1] + metadata

    @staticmethod
    def _event(stored: bytes) -> dict[str, Any]:
        event = orjson.loads(stored)
        return event if isinstance(event, dict) else {}
