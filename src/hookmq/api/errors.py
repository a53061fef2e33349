"""Every API error is JSON ``{"code": "NOT_FOUND", "message": "...", "errors": [...]}`` with the right status.

``errors`` (one line per problem, naming the field) is present for validation errors only. The middleware
here turns whatever a handler raises into that shape, including aiohttp's own 404/405/413 and a bug (500,
logged with its traceback, never echoing the request, which may hold a secret).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import orjson
from aiohttp import web

from hookmq.store import StoreError
from hookmq.webhooks.service import WebhookError

__all__ = ["CODES", "ApiError", "error_middleware", "error_response", "json_response"]

log = logging.getLogger("hookmq.api")

CODES: Final[dict[int, str]] = {
    400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE", 429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_ERROR", 503: "SERVICE_UNAVAILABLE",
}


class ApiError(Exception):
    """An answer other than success. ``code`` defaults to the status's generic code (`CODES`)."""

    def __init__(self, status: int, message: str, code: str | None = None, errors: Sequence[str] = (),
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "ERROR")
        self.message = message
        self.errors = list(errors)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, self.errors, self.headers)


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def error_response(status: int, code: str, message: str, errors: Sequence[str] = (),
                   headers: Mapping[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors:
        body["errors"] = list(errors)
    return json_response(body, status, headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except WebhookError as exc:
        return error_response(exc.status, CODES.get(exc.status, "ERROR"), str(exc), exc.errors)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        message = {404: f"no such endpoint: {request.method} {request.path} (see /api/v1/openapi.json)",
                   405: f"{request.method} is not allowed on {request.path}"}.get(exc.status, exc.reason)
        return error_response(exc.status, CODES.get(exc.status, "ERROR"), message, headers=headers)
    except asyncio.CancelledError:
        raise
    except StoreError as exc:  # disk full, permissions: the message says which file
        log.error("API %s %s: %s", request.method, request.path, exc)
        return error_response(500, "INTERNAL_ERROR", str(exc))
    except Exception:
        log.exception("API %s %s failed", request.method, request.path)
        return error_response(500, "INTERNAL_ERROR", "internal error; the node's log has the details")
