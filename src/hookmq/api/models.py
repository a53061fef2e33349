"""Request and response shapes of the REST API, as pydantic models.

Request models validate what handlers receive (errors name the field). Response models document what handlers
send; the tests check real responses against them, so ``/api/v1/openapi.json`` stays true. Responses made by
the webhook service allow extra fields (the service may add some); the others are closed.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from hookmq.broker.auth import validate_username
from hookmq.config import password_problem
from hookmq.mqtt import is_valid_topic_filter, is_valid_topic_name
from hookmq.webhooks.log import OUTCOMES

MAX_STRING_BYTES = 65535


def _mqtt_string(value: str) -> str:
    """An MQTT UTF-8 string: at most 65,535 bytes, no U+0000 (MQTT 5 §1.5.4)."""
    if "\x00" in value:
        raise ValueError("must not contain U+0000")
    if len(value.encode()) > MAX_STRING_BYTES:
        raise ValueError(f"must be at most {MAX_STRING_BYTES} bytes of UTF-8")
    return value


class _In(BaseModel):  # strict: JSON has types, "yes" is not a boolean
    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)


class _Query(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _OpenOut(BaseModel):
    model_config = ConfigDict(extra="allow")


# ------------------------------------------------------------------------------------------------ requests


class LoginRequest(_In):
    username: str = Field(max_length=256, examples=["admin"])
    password: str = Field(max_length=1024)


class PasswordChange(_In):
    old_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024, description="at least 8 characters, not 'public'")

    @field_validator("new_password")
    @classmethod
    def _strong_enough(cls, value: str) -> str:
        problem = password_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class ApiKeyCreate(_In):
    name: str = Field("", max_length=200, description="what the key is for, e.g. 'prometheus'")


class UserCreate(_In):
    username: str = Field(max_length=1024)
    password: str = Field(min_length=1, max_length=1024)

    @field_validator("username")
    @classmethod
    def _storable(cls, value: str) -> str:
        validate_username(value)
        return value


class UserPassword(_In):
    password: str = Field(min_length=1, max_length=1024)


class PublishProperties(_In):
    """MQTT 5 properties of the message (MQTT 3.x subscribers receive the message without them)."""

    message_expiry_interval: int | None = Field(None, ge=0, le=0xFFFFFFFF, description="seconds")
    content_type: str | None = Field(None, max_length=65535)
    response_topic: str | None = Field(None, max_length=65535)
    correlation_data: str | None = Field(None, max_length=65535, description="UTF-8 text")
    payload_format_indicator: Literal[0, 1] | None = None
    user_properties: dict[str, str] = Field(default_factory=dict)

    @field_validator("content_type", "correlation_data")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else _mqtt_string(value)

    @field_validator("response_topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value is not None and not is_valid_topic_name(_mqtt_string(value)):
            raise ValueError("must be a topic name without wildcards")
        return value

    @field_validator("user_properties")
    @classmethod
    def _pairs(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            _mqtt_string(key)
            _mqtt_string(item)
        return value


class PublishRequest(_In):
    topic: str = Field(examples=["t/1"])
    payload_encoding: Literal["plain", "base64"] = "plain"
    payload: str = Field("", description="text, or base64 with payload_encoding = base64")
    qos: Literal[0, 1, 2] = 0
    retain: bool = False
    clientid: str = Field("http_api", max_length=65535, description="the publisher's client id in events")
    properties: PublishProperties = Field(default_factory=PublishProperties)

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not is_valid_topic_name(_mqtt_string(value)):
            raise ValueError("must be a non-empty topic name without wildcards (+, #)")
        if value.startswith("$SYS"):
            raise ValueError("$SYS topics are published by the broker itself")
        return value

    @field_validator("payload")
    @classmethod
    def _payload(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("payload_encoding") == "base64":
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("is not valid base64 (payload_encoding = base64)") from None
        return value

    def payload_bytes(self) -> bytes:
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload, validate=True)
        return self.payload.encode()


class ReplayRequest(_In):
    ids: list[str] | None = Field(None, max_length=10_000, description="webhook-ids to replay; omit for all")


class Page(_Query):
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class ClientsQuery(Page):
    clientid: str | None = Field(None, description="exactly this client id")
    like_clientid: str | None = Field(None, description="client ids containing this text")
    username: str | None = Field(None, description="exactly this username")


class SubscriptionsQuery(Page):
    clientid: str | None = Field(None, description="only this client's subscriptions")
    topic: str | None = Field(None, description="exactly this topic filter")


class RetainedQuery(Page):
    topic: str = Field("#", description="a topic filter selecting the retained messages")

    @field_validator("topic")
    @classmethod
    def _filter(cls, value: str) -> str:
        if not is_valid_topic_filter(value) or value.startswith("$share/"):
            raise ValueError("must be a topic filter (e.g. 'sensors/+/temp' or '#')")
        return value


class DeliveriesQuery(_Query):
    limit: int = Field(50, ge=1, le=1000)
    outcome: Literal[OUTCOMES] | None = Field(None, description="only attempts with this outcome")  # type: ignore[valid-type]


class DeadLettersQuery(_Query):
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class TestQuery(_Query):
    event: str = Field("message.publish", description="the catalogue event whose example is sent")


class StreamQuery(_Query):
    event: str | None = Field(None, description="only this event (repeatable; default: all)")
    topic: str | None = Field(None, description="only message events on topics matching this filter (repeatable)")


# ------------------------------------------------------------------------------------------------ responses


class ErrorBody(_Out):
    code: str = Field(examples=["NOT_FOUND"])
    message: str
    errors: list[str] = Field(default_factory=list, description="validation errors, one per field")


class Health(_Out):
    status: Literal["ok"]
    node: str
    version: str
    connections: int


class LoginResponse(_Out):
    token: str = Field(description="send as 'Authorization: Bearer <token>'")
    expires_at: float = Field(description="unix seconds")
    password_change_required: bool
    username: str


class ApiKeyInfo(_Out):
    id: str
    key: str
    name: str
    created_at: float


class ApiKeyCreated(ApiKeyInfo):
    secret: str = Field(description="shown once; use as HTTP Basic key:secret")


class EventField(_Out):
    name: str
    type: str
    description: str


class EventSpec(_Out):
    name: str
    rule_topic: str
    group: str
    description: str
    fields: list[EventField]
    example: dict[str, Any]


class WebhookSummary(_Out):
    total: int
    enabled: int
    by_status: dict[str, int]
    matched: int
    success: int
    failed: int
    dropped: int
    queuing: int
    inflight: int


class Stats(_Out):
    node: str
    version: str
    uptime: int = Field(description="seconds")
    connections: int
    connections_max: int
    connections_total: int
    messages_received: int
    messages_sent: int
    messages_dropped: int
    deliveries_dropped: int
    bytes_received: int
    bytes_sent: int
    sessions: int
    subscriptions: int
    shared_subscriptions: int
    retained: int
    webhooks: WebhookSummary


class Meta(_Out):
    limit: int
    offset: int
    count: int = Field(description="items in this page")
    total: int = Field(description="items in all pages")


class Client(_Out):
    clientid: str
    username: str | None
    peername: str
    listener: str
    proto_name: str
    proto_ver: int
    keepalive: int
    clean_start: bool
    expiry_interval: int
    connected_at: int = Field(description="unix ms")
    subscriptions: int
    inflight: int
    queued: int


class ClientPage(_Out):
    data: list[Client]
    meta: Meta


class Subscription(_Out):
    clientid: str
    topic: str
    qos: int
    no_local: bool
    retain_as_published: bool
    retain_handling: int
    share_group: str | None
    subscription_id: int | None
    connected: bool


class SubscriptionPage(_Out):
    data: list[Subscription]
    meta: Meta


class Retained(_Out):
    topic: str
    qos: int
    payload: str
    payload_encoding: Literal["plain", "base64"] = Field(description="base64 when the payload is not UTF-8")
    payload_size: int
    from_clientid: str
    from_username: str | None
    published_at: int = Field(description="unix ms")
    expires_at: float | None = Field(description="unix seconds")


class RetainedPage(_Out):
    data: list[Retained]
    meta: Meta


class PublishResult(_Out):
    id: str = Field(description="message id (32 hex), as in the events")
    matched: int = Field(description="subscribers the message was routed to")


class User(_Out):
    username: str


class Latency(_OpenOut):
    count: int
    avg_ms: float | None
    p50_ms: float | None
    p99_ms: float | None


class WebhookMetrics(_OpenOut):
    matched: int
    success: int
    failed: int
    retried: int
    dropped: int
    dropped_by_reason: dict[str, int]
    inflight: int
    queuing: int
    latency: Latency
    status: str
    status_reason: str | None
    rate: float = Field(description="matched events per second, recently")


class QueueStats(_OpenOut):
    queued: int
    inflight: int
    bytes: int
    dead: int


class TestResult(_OpenOut):
    ok: bool
    outcome: str
    status: int | None
    latency_ms: float
    headers: list[list[str]]
    body: str
    error: str | None
    request: dict[str, Any]


class DeliveryAttempt(_OpenOut):
    at: float
    delivery_id: str
    event: str
    attempt: int
    outcome: str
    status: int | None
    latency_ms: float | None
    error: str | None
    response: str


class DeadLetter(_OpenOut):
    delivery_id: str
    event: str
    attempts: int
    status: int | None
    reason: str | None
    response: str | None
    created_at: float
    last_attempt_at: float | None
    failed_at: float
    payload: Any


class DeadLetterPage(_Out):
    data: list[DeadLetter]
    meta: Meta


class ReplayResult(_Out):
    replayed: int
