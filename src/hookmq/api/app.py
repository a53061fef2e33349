"""The HTTP listener's application (default port 18083)."""

from __future__ import annotations

from aiohttp import web

from hookmq import __version__
from hookmq.broker import Broker


def create_app(broker: Broker) -> web.Application:
    app = web.Application()

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "node": broker.settings.node_name, "version": __version__,
                                  "connections": broker.stats.connections})

    app.add_routes([web.get("/api/v1/health", health), web.get("/health", health)])
    return app
