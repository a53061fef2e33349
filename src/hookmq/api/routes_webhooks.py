"""Webhooks over HTTP: a thin layer on `WebhookService`, which validates, masks secrets and raises
`WebhookError` with the status to answer.

Secrets never leave: the service masks the signing secret and credential headers as ``"******"``, and every
response here is also scrubbed of the webhook's secret values, because a receiver may echo the request it got
(its answer shows in Test results, the delivery log and dead letters).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from aiohttp import web

from hookmq.webhooks.model import MASK, SECRET_HEADERS, SECRET_PREFIX, WebhookConfig
from hookmq.webhooks.service import WebhookError, WebhookService

from . import models as m
from .context import Context
from .openapi import WEBHOOK_CONFIG_REF, WEBHOOK_OUT_REF, WEBHOOK_UPDATE_REF
from .routing import API, Endpoint, Input, Reply

__all__ = ["endpoints", "scrub"]

MIN_SECRET_CHARS = 6  # shorter values would mask unrelated text (and are not worth hiding)
NAME = {"name": "the webhook's name"}


def _credential_values(value: str) -> list[str]:
    """A header value and, for ``Scheme credentials``, the credentials alone."""
    credentials = value.partition(" ")[2]
    return [value, credentials.strip()] if credentials.strip() else [value]


def secrets_of(config: WebhookConfig | Mapping[str, Any] | None) -> list[str]:
    """The secret texts of a webhook (saved, or settings sent in a request)."""
    if config is None:
        return []
    secret: Any
    headers: Any
    if isinstance(config, WebhookConfig):
        secret, headers = config.secret, config.headers
    else:
        secret, headers = config.get("secret"), config.get("headers")
    found: list[str] = []
    if isinstance(secret, str):  # one secret, or several space-separated while rotating
        found.append(secret)
        for part in secret.split():
            found += [part, part.removeprefix(SECRET_PREFIX)]
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if isinstance(key, str) and key.lower() in SECRET_HEADERS and isinstance(value, str):
                found += _credential_values(value)
    return [s for s in found if len(s) >= MIN_SECRET_CHARS and s != MASK]


def scrub(body: bytes, secrets: Iterable[str]) -> bytes:
    """Replace every secret (as it appears inside a JSON string) with ``******``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        encoded = orjson.dumps(secret)[1:-1]
        if encoded in body:
            body = body.replace(encoded, MASK.encode())
    return body


def endpoints(ctx: Context) -> list[Endpoint]:
    service: WebhookService = ctx.webhooks

    def saved_secrets(name: str | None = None) -> list[str]:
        names = service.names() if name is None else [name]
        found: list[str] = []
        for each in names:
            try:
                found += secrets_of(service.config(each))
            except WebhookError:
                continue  # deleted meanwhile
        return found

    def reply(data: Any, *, status: int = 200, name: str | None = None, extra: Iterable[str] = ()) -> web.Response:
        body = scrub(orjson.dumps(data), [*saved_secrets(name), *extra])
        return web.Response(body=body, status=status, content_type="application/json")

    async def list_webhooks(request: web.Request, _: Input) -> web.StreamResponse:
        return reply(service.webhooks())

    async def create(request: web.Request, args: Input) -> web.StreamResponse:
        info = await service.create(args.body)
        return reply(info, status=201, extra=secrets_of(args.body))

    async def get(request: web.Request, _: Input) -> web.StreamResponse:
        name = request.match_info["name"]
        info = service.info(name)
        return reply({**info, "queue": await service.queue_stats(name)}, name=name)

    async def update(request: web.Request, args: Input) -> web.StreamResponse:
        name = request.match_info["name"]
        old = saved_secrets(name)
        info = await service.update(name, args.body)
        return reply(info, name=name, extra=[*old, *secrets_of(args.body)])

    async def delete(request: web.Request, _: Input) -> web.StreamResponse:
        await service.delete(request.match_info["name"])
        return web.Response(status=204)

    async def enable(request: web.Request, _: Input) -> web.StreamResponse:
        name = request.match_info["name"]
        return reply(await service.set_enabled(name, True), name=name)

    async def disable(request: web.Request, _: Input) -> web.StreamResponse:
        name = request.match_info["name"]
        return reply(await service.set_enabled(name, False), name=name)

    async def test_unsaved(request: web.Request, args: Input) -> web.StreamResponse:
        result = await service.test(args.body, event=args.query.event)
        return reply(result.to_dict(), name=None, extra=secrets_of(args.body))

    async def test_saved(request: web.Request, args: Input) -> web.StreamResponse:
        name = request.match_info["name"]
        changes = args.body or None  # {} or no body: test the saved settings
        result = await service.test(changes, name=name, event=args.query.event)
        return reply(result.to_dict(), name=name, extra=secrets_of(changes))

    async def metrics(request: web.Request, _: Input) -> web.StreamResponse:
        name = request.match_info["name"]
        return reply(service.metrics(name), name=name)

    async def reset_metrics(request: web.Request, _: Input) -> web.StreamResponse:
        name = request.match_info["name"]
        return reply(service.reset_metrics(name), name=name)

    async def deliveries(request: web.Request, args: Input) -> web.StreamResponse:
        name = request.match_info["name"]
        query: m.DeliveriesQuery = args.query
        return reply(service.delivery_log(name, query.limit, query.outcome), name=name)

    async def dead_letters(request: web.Request, args: Input) -> web.StreamResponse:
        name = request.match_info["name"]
        query: m.DeadLettersQuery = args.query
        rows, total = await service.dead_letter_page(name, query.limit, query.offset)
        return reply({"data": rows, "meta": {"limit": query.limit, "offset": query.offset, "count": len(rows),
                                             "total": total}}, name=name)

    async def replay(request: web.Request, args: Input) -> web.StreamResponse:
        name = request.match_info["name"]
        body: m.ReplayRequest = args.body
        return reply({"replayed": await service.replay(name, body.ids)}, name=name)

    webhook = Reply(description="the webhook: settings (secrets masked), source, status and metrics",
                    schema=WEBHOOK_OUT_REF)
    test_reply = {200: Reply(description="what the receiver answered, or the connection error",
                             schema=m.TestResult)}
    path = f"{API}/webhooks"
    return [
        Endpoint(method="GET", path=path, handler=list_webhooks, summary="List webhooks", tag="webhooks",
                 description="Config-file webhooks first (read-only), then those created at run time.",
                 replies={200: Reply(description="every webhook", schema={"type": "array", "items": WEBHOOK_OUT_REF})}),
        Endpoint(method="POST", path=path, handler=create, summary="Create a webhook", tag="webhooks",
                 description="Validated, started and saved in `<data_dir>/webhooks.json`. Validation errors "
                             "name each field in `errors`.",
                 body=WEBHOOK_CONFIG_REF, errors=(400, 409), replies={201: webhook}),
        Endpoint(method="POST", path=f"{path}/test", handler=test_unsaved, summary="Test unsaved settings",
                 tag="webhooks", description="Sends one real sample request (the catalogue example of `event`), "
                                             "marked `webhook-test: true` and signed like a real delivery; "
                                             "nothing is saved or queued.",
                 body=WEBHOOK_CONFIG_REF, query=m.TestQuery, errors=(400,), replies=test_reply),
        Endpoint(method="GET", path=f"{path}/{{name}}", handler=get, summary="Get a webhook", tag="webhooks",
                 path_params=NAME, errors=(404,),
                 replies={200: Reply(description="the webhook, with its queue", schema=WEBHOOK_OUT_REF)}),
        Endpoint(method="PUT", path=f"{path}/{{name}}", handler=update, summary="Update a webhook", tag="webhooks",
                 description="Replaces the settings; `\"******\"` keeps the current secret or credential header. "
                             "Queued events are sent with the new settings. Config-file webhooks are read-only (403).",
                 path_params=NAME, body=WEBHOOK_UPDATE_REF, errors=(400, 403, 404), replies={200: webhook}),
        Endpoint(method="DELETE", path=f"{path}/{{name}}", handler=delete, summary="Delete a webhook",
                 tag="webhooks", description="With everything it had queued and its dead letters.",
                 path_params=NAME, errors=(403, 404), replies={204: Reply(description="deleted")}),
        Endpoint(method="POST", path=f"{path}/{{name}}/enable", handler=enable, summary="Enable a webhook",
                 tag="webhooks", path_params=NAME, errors=(404,), replies={200: webhook}),
        Endpoint(method="POST", path=f"{path}/{{name}}/disable", handler=disable, summary="Disable a webhook",
                 tag="webhooks", description="For a config-file webhook this lasts until the node restarts.",
                 path_params=NAME, errors=(404,), replies={200: webhook}),
        Endpoint(method="POST", path=f"{path}/{{name}}/test", handler=test_saved, summary="Test a saved webhook",
                 tag="webhooks", description="Optionally with unsaved changes in the body (masks allowed); the "
                                             "attempt shows in the delivery log with outcome `test`.",
                 path_params=NAME, body=WEBHOOK_UPDATE_REF, body_required=False, query=m.TestQuery,
                 errors=(400, 404), replies=test_reply),
        Endpoint(method="GET", path=f"{path}/{{name}}/metrics", handler=metrics, summary="Webhook metrics",
                 tag="webhooks", path_params=NAME, errors=(404,),
                 replies={200: Reply(description="counters, latency, status", schema=m.WebhookMetrics)}),
        Endpoint(method="POST", path=f"{path}/{{name}}/metrics/reset", handler=reset_metrics,
                 summary="Reset webhook metrics", tag="webhooks", path_params=NAME, errors=(404,),
                 description="Zeroes the counters (gauges such as queuing stay).",
                 replies={200: Reply(description="the fresh metrics", schema=m.WebhookMetrics)}),
        Endpoint(method="GET", path=f"{path}/{{name}}/deliveries", handler=deliveries, summary="Delivery log",
                 tag="webhooks", description="Recent request attempts, newest first (kept in memory).",
                 path_params=NAME, query=m.DeliveriesQuery, errors=(400, 404),
                 replies={200: Reply(description="attempts", schema={"type": "array", "items": m.DeliveryAttempt})}),
        Endpoint(method="GET", path=f"{path}/{{name}}/dead-letters", handler=dead_letters, summary="Dead letters",
                 tag="webhooks", description="Deliveries the retry policy gave up on, oldest first.",
                 path_params=NAME, query=m.DeadLettersQuery, errors=(400, 404),
                 replies={200: Reply(description="a page of dead letters", schema=m.DeadLetterPage)}),
        Endpoint(method="POST", path=f"{path}/{{name}}/dead-letters/replay", handler=replay,
                 summary="Replay dead letters", tag="webhooks",
                 description="Queue dead letters again: those listed in `ids` (webhook-ids), or all with `{}`.",
                 path_params=NAME, body=m.ReplayRequest, body_required=False, errors=(400, 404),
                 replies={200: Reply(description="how many were queued again", schema=m.ReplayResult)}),
    ]
