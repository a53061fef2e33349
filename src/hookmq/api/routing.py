"""Endpoints are declared once, with everything the OpenAPI document says about them.

An `Endpoint` names its method and path, its handler, its auth, its request body and query (pydantic models or
a JSON schema) and its responses. `install` adds it to the aiohttp router wrapped so that the body and query
are parsed and validated before the handler runs (400 with one line per bad field); `hookmq.api.openapi`
builds ``/api/v1/openapi.json`` from the same declarations, so the document cannot forget an endpoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from .errors import ApiError

__all__ = ["API", "ENDPOINTS", "Endpoint", "Input", "Reply", "field_errors", "install", "validate"]

API: Final = "/api/v1"


@dataclass(frozen=True, slots=True)
class Input:
    """What the wrapper parsed: the body (a model instance, or the JSON object for a schema body) and query."""

    body: Any = None
    query: Any = None


Handler = Callable[[web.Request, Input], Awaitable[web.StreamResponse]]
Schema = type[BaseModel] | Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """One documented response: a JSON body described by ``schema`` (None = no body), or another type."""

    description: str
    schema: Schema | None = None
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    method: str
    path: str  # aiohttp form: "/api/v1/webhooks/{name}", "/api/v1/retained/{topic:.+}"
    handler: Handler
    summary: str
    tag: str
    description: str = ""
    public: bool = False  # answers without credentials
    during_password_change: bool = False  # allowed for an admin who must change the default password
    body: Schema | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    path_params: Mapping[str, str] = field(default_factory=dict)  # name -> description
    replies: Mapping[int, Reply] = field(default_factory=dict)
    errors: tuple[int, ...] = ()  # other statuses this endpoint answers with, as an Error body

    operation: str = ""  # the OpenAPI operationId when the one made from the path would clash

    @property
    def operation_id(self) -> str:
        """``get_webhooks_name_metrics`` for GET /api/v1/webhooks/{name}/metrics."""
        if self.operation:
            return self.operation
        words = [w.split(":")[0].strip("{}") for w in self.path.removeprefix(API).split("/") if w] or ["root"]
        return "_".join([self.method.lower(), *(w.replace("-", "_").replace(".", "_") for w in words)])


ENDPOINTS: Final = web.AppKey("endpoints", dict[web.AbstractRoute, Endpoint])


def field_errors(exc: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem: ``"new_password: String should have at least 8 characters"`` (never the input)."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or prefix or "body"
        message = err["msg"]
        if err["type"] == "missing":
            message = "required"
        elif err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "value_error":
            message = str(err.get("ctx", {}).get("error", message))
        lines.append(f"{where}: {message}")
    return lines


def validate(model: type[BaseModel], data: Any, what: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = field_errors(exc, what)
        raise ApiError(400, f"invalid {what}: " + "; ".join(lines), errors=lines) from None


async def _parse_body(request: web.Request, endpoint: Endpoint) -> Any:
    raw = await request.read()
    if not raw.strip():
        if endpoint.body_required:
            raise ApiError(400, "a JSON body is required", errors=["body: required"])
        data: Any = {}
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):  # every body of this API is an object
        raise ApiError(400, "the body must be a JSON object", errors=[f"body: must be an object, got {_kind(data)}"])
    schema = endpoint.body
    return validate(schema, data, "body") if isinstance(schema, type) else data


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)


def _wrap(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await _parse_body(request, endpoint) if endpoint.body is not None else None
        query = validate(endpoint.query, dict(request.query), "query") if endpoint.query is not None else None
        return await endpoint.handler(request, Input(body, query))

    handler.__name__ = endpoint.operation_id
    return handler


def install(app: web.Application, endpoints: Iterable[Endpoint]) -> None:
    table = app[ENDPOINTS]
    for endpoint in endpoints:
        route = app.router.add_route(endpoint.method, endpoint.path, _wrap(endpoint))
        table[route] = endpoint
