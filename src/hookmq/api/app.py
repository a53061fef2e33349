"""The HTTP listener's application (default 127.0.0.1:18083): the dashboard at ``/`` (its files under
``/static/``), the REST API under ``/api/v1``, its OpenAPI document and docs page, health, the live event stream
and Prometheus ``/metrics``.

Everything needs credentials (a bearer token from ``POST /api/v1/login`` or an API key as HTTP Basic) except
login, health, the docs and static pages; see `hookmq.api.auth`. The route modules are small: ``routes_auth``,
``routes_webhooks``, ``routes_broker``, ``routes_node``; each declares its endpoints once (`routing.Endpoint`),
which also feeds ``openapi.json``.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from hookmq.broker import Broker
from hookmq.events.hub import EventHub
from hookmq.webhooks.service import WebhookService

from . import routes_auth, routes_broker, routes_node, routes_webhooks
from .auth import ApiAuth, auth_middleware
from .context import Context
from .errors import error_middleware
from .routes_node import HEARTBEAT_INTERVAL, STREAM_BUFFER, BrokerCollector
from .routing import ENDPOINTS, install

__all__ = ["HEARTBEAT_INTERVAL", "STREAM_BUFFER", "BrokerCollector", "create_app"]

MIN_BODY = 1024 * 1024
#: The dashboard's scripts, styles and images: plain files, no build step (``/`` serves its index.html).
STATIC_DIR = Path(__file__).resolve().parent / "static"


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/v1/") and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"  # answers may hold tokens or secrets of API keys
    elif request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-cache")  # revalidated (ETag): an upgraded node serves new files


def create_app(broker: Broker, events: EventHub, webhooks: WebhookService, auth: ApiAuth) -> web.Application:
    # A publish may carry a payload as large as mqtt.max_packet_size, base64-encoded in JSON.
    max_body = max(MIN_BODY, broker.settings.mqtt.max_packet_size * 4 // 3 + 64 * 1024)
    app = web.Application(client_max_size=max_body, middlewares=[error_middleware, auth_middleware(auth)])
    app[ENDPOINTS] = {}
    ctx = Context(broker, events, webhooks, auth)
    for module in (routes_node, routes_auth, routes_webhooks, routes_broker):
        install(app, module.endpoints(ctx))
    app.router.add_static("/static/", STATIC_DIR, name="static")  # public, like the page that loads them
    app.on_response_prepare.append(_security_headers)

    async def on_shutdown(app: web.Application) -> None:
        await routes_node.close_streams(ctx)

    app.on_shutdown.append(on_shutdown)
    return app
