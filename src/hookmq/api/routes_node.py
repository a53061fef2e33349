"""The node itself: health, the event catalogue and live stream, Prometheus metrics, the API's own docs and
the dashboard's page."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.resources
from typing import Any, Final

import orjson
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from hookmq import __version__
from hookmq.broker import Broker
from hookmq.events.catalogue import CATALOGUE
from hookmq.mqtt import is_valid_topic_filter
from hookmq.webhooks.metrics import render_prometheus

from . import models as m
from .context import Context
from .errors import ApiError, json_response
from .openapi import build_openapi
from .routing import API, ENDPOINTS, Endpoint, Input, Reply

__all__ = ["DASHBOARD_CSP", "HEARTBEAT_INTERVAL", "STREAM_BUFFER", "BrokerCollector", "endpoints"]

#: Events buffered per ``events/stream`` client before new ones are counted as dropped (never block MQTT).
STREAM_BUFFER = 10_000
HEARTBEAT_INTERVAL = 15.0
STREAM_END: Final[dict[str, Any]] = {}  # put in a stream's queue (by identity) to end it
PROMETHEUS: Final = "text/plain; version=0.0.4; charset=utf-8"
#: The dashboard runs only its own files: no inline script or style, no other origin, not framed.
DASHBOARD_CSP: Final = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class BrokerCollector:
    """The broker's counters (the same as on ``$SYS``) for Prometheus."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    def collect(self) -> list[Metric]:
        stats = self._broker.stats
        counters = {"connections": stats.connections_total, "messages_received": stats.messages_received,
                    "messages_sent": stats.messages_sent, "messages_dropped": stats.messages_dropped,
                    "deliveries_dropped": stats.deliveries_dropped, "bytes_received": stats.bytes_received,
                    "bytes_sent": stats.bytes_sent}
        out: list[Metric] = [CounterMetricFamily(f"hookmq_{name}", name.replace("_", " "), value=value)
                             for name, value in counters.items()]
        out.append(GaugeMetricFamily("hookmq_connections_current", "open MQTT connections", value=stats.connections))
        out.append(GaugeMetricFamily("hookmq_sessions", "sessions, connected or not", value=len(self._broker.sessions)))
        return out


def event_specs() -> list[dict[str, Any]]:
    return [{"name": e.name, "rule_topic": e.rule_topic, "group": e.group, "description": e.description,
             "fields": [{"name": f, "type": t, "description": d} for f, t, d in e.fields],
             "example": e.example} for e in CATALOGUE]


def _docs_page() -> tuple[bytes, str]:
    """The docs page and its Content-Security-Policy: only its own inline script and style may run."""
    html = importlib.resources.files("hookmq.api").joinpath("docs.html").read_text("utf-8")
    script = html.split("<script>", 1)[1].split("</script>", 1)[0]
    style = html.split("<style>", 1)[1].split("</style>", 1)[0]

    def digest(text: str) -> str:
        import base64

        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    csp = (f"default-src 'none'; script-src {digest(script)}; style-src {digest(style)}; connect-src 'self'; "
           "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return html.encode(), csp


async def close_streams(ctx: Context) -> None:
    """End every open event stream (the node is stopping)."""
    for queue in list(ctx.streams):
        while True:
            try:
                queue.put_nowait(STREAM_END)
                break
            except asyncio.QueueFull:
                queue.get_nowait()  # the reader is going away anyway: make room for the end mark


def endpoints(ctx: Context) -> list[Endpoint]:
    broker, webhooks = ctx.broker, ctx.webhooks
    broker_collector = BrokerCollector(broker)
    openapi_cache: dict[str, bytes] = {}
    docs_cache: list[tuple[bytes, str]] = []
    index_cache: list[bytes] = []

    async def health(request: web.Request, _: Input) -> web.StreamResponse:
        return json_response({"status": "ok", "node": broker.settings.node_name, "version": __version__,
                              "connections": broker.stats.connections})

    async def catalogue(request: web.Request, _: Input) -> web.StreamResponse:
        return json_response(event_specs())

    async def event_stream(request: web.Request, _: Input) -> web.StreamResponse:
        """One JSON event per line; the broker never waits for a slow reader: past `STREAM_BUFFER` queued
        events, new ones are dropped and a ``{"dropped": N}`` line says how many."""
        names = request.query.getall("event", [])
        topics = request.query.getall("topic", [])
        for topic in topics:
            if not is_valid_topic_filter(topic):
                raise ApiError(400, f"topic {topic!r} is not a valid topic filter", errors=["topic: invalid filter"])
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(STREAM_BUFFER)
        dropped = 0

        def enqueue(payload: dict[str, Any]) -> None:
            nonlocal dropped
            try:
                queue.put_nowait(payload)
            except asyncio.QueueFull:
                dropped += 1

        try:
            listener = ctx.events.listen(enqueue, names or None, topics)
        except ValueError as exc:
            raise ApiError(400, str(exc), errors=[f"event: {exc}"]) from None
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-cache"})
        ctx.streams.add(queue)
        try:
            await response.prepare(request)
            await response.write(b'{"stream":"started"}\n')
            while True:
                try:
                    payload = await asyncio.wait_for(queue.get(), HEARTBEAT_INTERVAL)
                except TimeoutError:
                    await response.write(b"\n")  # a blank line: keeps proxies open, finds vanished readers
                    continue
                if payload is STREAM_END:
                    return response
                lines = [orjson.dumps(payload)]
                while not queue.empty():
                    item = queue.get_nowait()
                    if item is STREAM_END:
                        await response.write(b"\n".join(lines) + b"\n")
                        return response
                    lines.append(orjson.dumps(item))
                if dropped:
                    lines.append(orjson.dumps({"dropped": dropped}))
                    dropped = 0
                await response.write(b"\n".join(lines) + b"\n")
        except ConnectionResetError:
            return response  # the reader went away
        finally:
            ctx.streams.discard(queue)
            listener.close()

    async def metrics(request: web.Request, _: Input) -> web.StreamResponse:
        body, content_type = render_prometheus(broker_collector, webhooks.collector())
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def openapi(request: web.Request, _: Input) -> web.StreamResponse:
        if "doc" not in openapi_cache:
            document = build_openapi(request.app[ENDPOINTS].values(), __version__)
            openapi_cache["doc"] = orjson.dumps(document)
        return web.Response(body=openapi_cache["doc"], content_type="application/json")

    async def docs(request: web.Request, _: Input) -> web.StreamResponse:
        if not docs_cache:
            docs_cache.append(_docs_page())
        body, csp = docs_cache[0]
        return web.Response(body=body, content_type="text/html", charset="utf-8",
                            headers={"Content-Security-Policy": csp})

    async def root(request: web.Request, _: Input) -> web.StreamResponse:
        if not index_cache:
            index_cache.append(importlib.resources.files("hookmq.api").joinpath("static/index.html").read_bytes())
        return web.Response(body=index_cache[0], content_type="text/html", charset="utf-8",
                            headers={"Content-Security-Policy": DASHBOARD_CSP, "Cache-Control": "no-cache"})

    health_reply = {200: Reply(description="the node is up", schema=m.Health)}
    return [
        Endpoint(method="GET", path=f"{API}/health", handler=health, summary="Node health", tag="node",
                 public=True, replies=health_reply),
        Endpoint(method="GET", path="/health", handler=health, summary="Node health (short path)", tag="node",
                 public=True, replies=health_reply, operation="get_health_short"),
        Endpoint(method="GET", path=f"{API}/events", handler=catalogue, summary="The event catalogue",
                 description="Every event a webhook can receive: EMQX rule topic, fields and an example payload.",
                 tag="events", replies={200: Reply(description="the catalogue",
                                                   schema={"type": "array", "items": m.EventSpec})}),
        Endpoint(method="GET", path=f"{API}/events/stream", handler=event_stream, summary="Live events (NDJSON)",
                 description="One event per line as EMQX's webhook JSON, after a first `{\"stream\":\"started\"}` "
                             "line; blank lines are heartbeats; `{\"dropped\": N}` when the reader falls behind. "
                             "`event` and `topic` are repeatable.",
                 tag="events", query=m.StreamQuery, errors=(400,),
                 replies={200: Reply(description="newline-delimited JSON events",
                                     content_type="application/x-ndjson")}),
        Endpoint(method="GET", path="/metrics", handler=metrics, summary="Prometheus metrics",
                 description="Broker counters and every webhook's delivery metrics in the Prometheus text format. "
                             "Prometheus can authenticate with an API key (`basic_auth`).",
                 tag="node", replies={200: Reply(description="Prometheus text exposition", content_type=PROMETHEUS)}),
        Endpoint(method="GET", path=f"{API}/openapi.json", handler=openapi, summary="This OpenAPI document",
                 tag="node", public=True,
                 replies={200: Reply(description="OpenAPI 3.1", schema={"type": "object"})}),
        Endpoint(method="GET", path="/api/docs", handler=docs, summary="API documentation page", tag="node",
                 public=True, replies={200: Reply(description="HTML rendering of this document",
                                                  content_type="text/html")}),
        Endpoint(method="GET", path="/", handler=root, summary="The dashboard", tag="node", public=True,
                 description="The web dashboard (its scripts and styles are under `/static/`); it logs in "
                             "with POST /api/v1/login like any client of this API.",
                 replies={200: Reply(description="the dashboard's page", content_type="text/html")}),
    ]
