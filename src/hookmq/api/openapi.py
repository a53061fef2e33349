"""``/api/v1/openapi.json``: the OpenAPI 3.1 document, built from the `Endpoint` declarations.

Schemas come from pydantic (request and response models, and the webhook model itself), so they are the
ones the API validates with. Every endpoint that needs credentials lists both schemes (bearer token, API key
as HTTP Basic) and the 401/403 answers.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from hookmq.webhooks.model import WebhookConfig

from . import models as m
from .routing import Endpoint

__all__ = ["WEBHOOK_CONFIG_REF", "WEBHOOK_OUT_REF", "WEBHOOK_UPDATE_REF", "build_openapi"]

_REF: Final = "#/components/schemas/{model}"
WEBHOOK_CONFIG_REF: Final = {"$ref": "#/components/schemas/WebhookConfig"}
WEBHOOK_UPDATE_REF: Final = {"$ref": "#/components/schemas/WebhookUpdate"}
WEBHOOK_OUT_REF: Final = {"$ref": "#/components/schemas/Webhook"}

TAGS: Final = [
    {"name": "auth", "description": "Log in (bearer tokens), the admin password, API keys (HTTP Basic key:secret)."},
    {"name": "webhooks", "description": "Create, test, watch and repair webhooks."},
    {"name": "events", "description": "The EMQX-compatible events a webhook can receive."},
    {"name": "broker", "description": "Statistics, clients, subscriptions, retained messages, publishing."},
    {"name": "users", "description": "MQTT users of the password file."},
    {"name": "node", "description": "Health, Prometheus metrics and this documentation."},
]
STATUS_TEXT: Final = {400: "invalid request (errors name the fields)", 401: "credentials missing or wrong",
                      403: "forbidden", 404: "not found", 409: "conflict with the current state",
                      429: "too many failed attempts (see Retry-After)", 503: "the node is stopping"}
_DURATIONS: Final = {"WebhookConfig": ("connect_timeout", "request_timeout", "batch_time"),
                     "RetryPolicy": ("initial_backoff", "max_backoff", "max_age")}
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def _collect(schema: Any, found: dict[type[BaseModel], None]) -> Any:
    """Replace pydantic classes inside a schema by references, remembering the classes."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        found[schema] = None
        return {"$ref": _REF.format(model=schema.__name__)}
    if isinstance(schema, dict):
        return {key: _collect(value, found) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_collect(value, found) for value in schema]
    return schema


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items()
                if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def _webhook_components(components: dict[str, Any]) -> None:
    """WebhookConfig as pydantic describes it (durations and sizes also take strings such as "15s", "1GiB"),
    WebhookUpdate (name optional: it is in the path) and Webhook (what the API answers)."""
    for name, fields in _DURATIONS.items():
        for field_name in fields:
            prop = components[name]["properties"][field_name]
            unit = "milliseconds" if field_name == "batch_time" else "seconds"
            components[name]["properties"][field_name] = {
                "anyOf": [{"type": "number"}, {"type": "string", "examples": ["15s", "500ms", "5m"]}],
                "default": prop.get("default"),
                "description": f"{prop.get('description', '')} (a number of {unit} or a duration string)".strip()}
    size = components["WebhookConfig"]["properties"]["queue_max_bytes"]
    components["WebhookConfig"]["properties"]["queue_max_bytes"] = {
        "anyOf": [{"type": "integer"}, {"type": "string", "examples": ["512MB", "1GiB"]}],
        "default": size.get("default"), "description": "byte budget of the durable queue (bytes or \"1GiB\")"}
    config = components["WebhookConfig"]
    update = copy.deepcopy(config)
    update["required"] = [r for r in config.get("required", []) if r != "name"]
    update["description"] = ("The settings of an existing webhook; `name` may be left out (it is in the path). "
                             "`\"******\"` for `secret` or a credential header keeps the current value.")
    out = copy.deepcopy(config)
    out["description"] = "A webhook as the API shows it: `secret` and credential headers are `\"******\"`."
    out["properties"].update({
        "source": {"enum": ["file", "api"], "description": "file = the config file (read-only), api = run time"},
        "read_only": {"type": "boolean"},
        "status": {"type": "string", "enum": ["connected", "connecting", "disconnected", "disabled", "circuit_open"]},
        "status_reason": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "metrics": {"$ref": _REF.format(model="WebhookMetrics")},
        "queue": {"$ref": _REF.format(model="QueueStats"), "description": "GET /webhooks/{name} only"},
    })
    out["properties"]["secret"] = {"anyOf": [{"const": "******"}, {"type": "null"}]}
    out["required"] = [name for name in out["properties"] if name != "queue"]
    components["WebhookUpdate"] = update
    components["Webhook"] = out


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in _PARAM.findall(endpoint.path):
        params.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"},
                       "description": endpoint.path_params.get(name, "")})
    if endpoint.query is not None:
        schema = endpoint.query.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            description = prop.pop("description", "")
            params.append({"name": name, "in": "query", "required": name in schema.get("required", []),
                           "schema": _strip_titles(prop), "description": description})
    return params


def _operation(endpoint: Endpoint, found: dict[type[BaseModel], None]) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": endpoint.operation_id, "summary": endpoint.summary,
                          "tags": [endpoint.tag]}
    if endpoint.description:
        op["description"] = endpoint.description
    params = _parameters(endpoint)
    if params:
        op["parameters"] = params
    if endpoint.body is not None:
        op["requestBody"] = {"required": endpoint.body_required,
                             "content": {"application/json": {"schema": _collect(endpoint.body, found)}}}
    responses: dict[str, Any] = {}
    for status, reply in endpoint.replies.items():
        entry: dict[str, Any] = {"description": reply.description}
        if reply.schema is not None:
            entry["content"] = {reply.content_type: {"schema": _collect(reply.schema, found)}}
        elif reply.content_type != "application/json":
            entry["content"] = {reply.content_type: {"schema": {"type": "string"}}}
        responses[str(status)] = entry
    statuses = set(endpoint.errors)
    if endpoint.body is not None or endpoint.query is not None:
        statuses.add(400)
    if endpoint.public:
        op["security"] = []
    else:
        statuses.add(401)
        if not endpoint.during_password_change:
            statuses.add(403)
    error = {"application/json": {"schema": _collect(m.ErrorBody, found)}}
    for status in sorted(statuses):
        text = STATUS_TEXT.get(status, "error")
        if status == 403 and not endpoint.public and not endpoint.during_password_change:
            text = "PASSWORD_CHANGE_REQUIRED: the admin must change the default password first"
            if 403 in endpoint.errors:
                text = "forbidden (e.g. a config-file webhook is read-only), or " + text
        responses[str(status)] = {"description": text, "content": error}
    op["responses"] = responses
    return op


def build_openapi(endpoints: Iterable[Endpoint], version: str) -> dict[str, Any]:
    found: dict[type[BaseModel], None] = {}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in sorted(endpoints, key=lambda e: (e.tag, e.path)):
        path = _PARAM.sub(r"{\1}", endpoint.path)
        paths.setdefault(path, {})[endpoint.method.lower()] = _operation(endpoint, found)
    found[WebhookConfig] = None
    found[m.WebhookMetrics] = None
    found[m.QueueStats] = None
    inputs = {m.LoginRequest, m.PasswordChange, m.ApiKeyCreate, m.UserCreate, m.UserPassword, m.PublishRequest,
              m.ReplayRequest, WebhookConfig}
    _, top = models_json_schema([(model, "validation" if model in inputs else "serialization") for model in found],
                                ref_template=_REF)
    components: dict[str, Any] = _strip_titles(top.get("$defs", {}))
    _webhook_components(components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "hookmq REST API", "version": version,
                 "description": "The MQTT broker's management API. Log in with POST /api/v1/login and send "
                                "`Authorization: Bearer <token>`, or use an API key (`hookmq apikey create`) as "
                                "HTTP Basic `key:secret`. Errors are `{\"code\", \"message\"}` JSON."},
        "servers": [{"url": "/"}],
        "tags": TAGS,
        "security": [{"bearerAuth": []}, {"basicAuth": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "token from POST /api/v1/login (expires after api.token_ttl)"},
                "basicAuth": {"type": "http", "scheme": "basic",
                              "description": "API key as key:secret (hookmq apikey create, POST /api/v1/api-keys)"},
            },
        },
    }
