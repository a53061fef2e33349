"""Webhooks: EMQX-compatible event payloads delivered over HTTP, durably and signed (spec ``delivery.md``).

Pure parts (no I/O): `model` validates the ``[[webhooks]]`` settings, `templates` implements EMQX's ``${…}``
language for the URL, headers and body, `matching` decides which events and topics trigger a webhook,
`request` builds the HTTP request from a queued event, `policy` classifies answers and schedules retries,
`signing` makes Standard Webhooks signatures. Running parts: `http` (the keep-alive client), `delivery`
(intake into the durable queue, one runtime per webhook), `metrics` and `log`, and `service`, the run-time
management layer the API calls.
"""

from .matching import ALL_EVENTS, EVENT_NAMES, MESSAGE_EVENTS, Trigger
from .model import MASK, RetryPolicy, WebhookConfig, WebhooksSection, describe_errors, restore_masked, rule_id
from .templates import RequestTemplate, Template, TemplateError, render_json_body, variables

__all__ = [
    "ALL_EVENTS", "EVENT_NAMES", "MASK", "MESSAGE_EVENTS", "RequestTemplate", "RetryPolicy", "Template",
    "TemplateError", "Trigger", "WebhookConfig", "WebhooksSection", "describe_errors", "render_json_body",
    "restore_masked", "rule_id", "variables",
]
