"""Webhooks: EMQX-compatible event payloads delivered over HTTP, durably and signed (spec ``delivery.md``).

This first slice is pure (no I/O, no asyncio): `model` validates the ``[[webhooks]]`` settings, `templates`
implements EMQX's ``${…}`` language for the URL, headers and body, and `matching` decides which events and
topics trigger a webhook. The queue and the HTTP delivery build on these.
"""

from .matching import ALL_EVENTS, EVENT_NAMES, MESSAGE_EVENTS, Trigger
from .model import MASK, RetryPolicy, WebhookConfig, WebhooksSection, describe_errors, restore_masked, rule_id
from .templates import RequestTemplate, Template, TemplateError, render_json_body, variables

__all__ = [
    "ALL_EVENTS", "EVENT_NAMES", "MASK", "MESSAGE_EVENTS", "RequestTemplate", "RetryPolicy", "Template",
    "TemplateError", "Trigger", "WebhookConfig", "WebhooksSection", "describe_errors", "render_json_body",
    "restore_masked", "rule_id", "variables",
]
