"""The HTTP listener's application (default port 18083): health, the live event stream, Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from hookmq import __version__
from hookmq.broker import Broker
from hookmq.events.hub import EventHub
from hookmq.webhooks.metrics import render_prometheus
from hookmq.webhooks.service import WebhookService

#: Events buffered per ``events/stream`` client before new ones are counted as dropped (never block MQTT).
STREAM_BUFFER = 10_000
HEARTBEAT_INTERVAL = 15.0


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


def create_app(broker: Broker, events: EventHub, webhooks: WebhookService) -> web.Application:
    app = web.Application()
    broker_collector = BrokerCollector(broker)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "node": broker.settings.node_name, "version": __version__,
                                  "connections": broker.stats.connections})

    async def event_stream(request: web.Request) -> web.StreamResponse:
        """``GET /api/v1/events/stream?event=NAME&topic=FILTER`` (both repeatable): one JSON event per line.

        The broker never waits for a slow reader: past `STREAM_BUFFER` queued events, new ones are dropped
        and a ``{"dropped": N}`` line says how many.
        """
        names = request.query.getall("event", [])
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(STREAM_BUFFER)
        dropped = 0

        def enqueue(payload: dict[str, Any]) -> None:
            nonlocal dropped
            try:
                queue.put_nowait(payload)
            except asyncio.QueueFull:
                dropped += 1

        try:
            listener = events.listen(enqueue, names or None, request.query.getall("topic", []))
        except ValueError as exc:
            return web.json_response({"code": "BAD_REQUEST", "message": str(exc)}, status=400)
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-cache"})
        try:
            await response.prepare(request)
            await response.write(b'{"stream":"started"}\n')
            while True:
                try:
                    payload = await asyncio.wait_for(queue.get(), HEARTBEAT_INTERVAL)
                except TimeoutError:
                    await response.write(b"\n")  # a blank line: keeps proxies open, finds vanished readers
                    continue
                lines = [orjson.dumps(payload)]
                while not queue.empty():
                    lines.append(orjson.dumps(queue.get_nowait()))
                if dropped:
                    lines.append(orjson.dumps({"dropped": dropped}))
                    dropped = 0
                await response.write(b"\n".join(lines) + b"\n")
        except ConnectionResetError:
            return response  # the reader went away
        finally:
            listener.close()

    async def metrics(request: web.Request) -> web.Response:
        """Prometheus text exposition: broker counters and every webhook's delivery metrics."""
        body, content_type = render_prometheus(broker_collector, webhooks.collector())
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.add_routes([
        web.get("/metrics", metrics),
        web.get("/api/v1/health", health),
        web.get("/health", health),
        web.get("/api/v1/events/stream", event_stream),
    ])
    return app
