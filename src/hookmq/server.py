"""Run one node: restore state, open every listener, log where they are bound, shut down gracefully.

The "listening" log line names every bound address (``listening mqtt=127.0.0.1:1883 ws=... http=...``);
tools and tests read it to find ports chosen with ``--mqtt-port 0``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import ssl
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hookmq.api.app import create_app
from hookmq.api.auth import ApiAuth
from hookmq.api.keystore import AuthStoreError
from hookmq.broker import Broker
from hookmq.broker.auth import AuthConfigError
from hookmq.broker.authz import AuthzConfigError
from hookmq.broker.listeners.tcp import start_tcp
from hookmq.broker.listeners.ws import start_websocket
from hookmq.broker.sys_topics import run_sys_publisher
from hookmq.config import ConfigError, Settings
from hookmq.events.hub import EventHub
from hookmq.store import SqliteStore, StoreError
from hookmq.webhooks.service import WebhookError, WebhookService

log = logging.getLogger("hookmq")


class StartupError(Exception):
    """A listener or the store could not start; the message names the setting to change."""


@dataclass
class Node:
    settings: Settings
    broker: Broker
    events: EventHub
    webhooks: WebhookService
    addresses: dict[str, tuple[str, int]] = field(default_factory=dict)
    _servers: list[asyncio.Server] = field(default_factory=list)
    _runners: list[web.AppRunner] = field(default_factory=list)

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        await self.broker.stop()  # its last events (disconnected...) still reach the webhooks
        await self.webhooks.stop()
        for runner in self._runners:
            await runner.cleanup()
        for server in self._servers:
            await server.wait_closed()


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    listeners = settings.listeners
    if listeners.certfile is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(listeners.certfile, listeners.keyfile)
        if listeners.cafile is not None:
            ctx.load_verify_locations(listeners.cafile)
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"listeners.certfile/keyfile: cannot load the certificate: {exc}") from None
    return ctx


def _bound(server: asyncio.Server | Any) -> tuple[str, int]:
    sock = server.sockets[0]
    host, port = sock.getsockname()[:2]
    return host, port


async def _guard(setting: str, host: str, port: int, coro: Any) -> Any:
    try:
        return await coro
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"{setting}: {host}:{port} is already in use (pick another port)") from None
        raise StartupError(f"{setting}: cannot listen on {host}:{port}: {exc.strerror or exc}") from None


async def start_node(settings: Settings) -> Node:
    data_dir = settings.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"data_dir: cannot use {data_dir}: {exc}") from None
    auth = ApiAuth(settings.api, data_dir)
    try:
        await asyncio.to_thread(auth.start)  # argon2: a few tens of ms, off the loop
    except AuthStoreError as exc:
        raise StartupError(f"api: {exc}") from None
    try:
        store = SqliteStore(data_dir / "hookmq.db")
    except (OSError, StoreError) as exc:
        raise StartupError(f"data_dir: cannot use {data_dir}: {exc}") from None
    try:
        broker = Broker(settings, store)
    except (AuthConfigError, AuthzConfigError) as exc:  # their messages already name the file and the field
        store.close()
        setting = "authentication.password_file" if isinstance(exc, AuthConfigError) else "authorization.acl_file"
        raise ConfigError(f"{setting}: {exc}") from None
    events = EventHub(broker.hooks, settings.node_name)
    broker.hooks.add(events)
    webhooks = WebhookService(events, data_dir, settings.webhooks.webhooks)
    try:
        await webhooks.start()
    except (StoreError, WebhookError) as exc:
        await webhooks.stop()
        store.close()
        raise StartupError(f"webhooks: {exc}") from None
    await broker.start()
    node = Node(settings, broker, events, webhooks)
    lst = settings.listeners
    host = lst.host
    tls = _tls_context(settings)
    try:
        server = await _guard("listeners.mqtt_port", host, lst.mqtt_port, start_tcp(broker, host, lst.mqtt_port))
        node._servers.append(server)
        node.addresses["mqtt"] = _bound(server)
        if tls is not None:
            server = await _guard("listeners.tls_port", host, lst.tls_port,
                                  start_tcp(broker, host, lst.tls_port, tls, "ssl"))
            node._servers.append(server)
            node.addresses["mqtts"] = _bound(server)
        if lst.ws_port is not None:
            runner = await _guard("listeners.ws_port", host, lst.ws_port,
                                  start_websocket(broker, host, lst.ws_port, lst.ws_path))
            node._runners.append(runner)
            node.addresses["ws"] = _runner_address(runner)
            if tls is not None:
                runner = await _guard("listeners.wss_port", host, lst.wss_port,
                                      start_websocket(broker, host, lst.wss_port, lst.ws_path, tls, "wss"))
                node._runners.append(runner)
                node.addresses["wss"] = _runner_address(runner)
        runner = web.AppRunner(create_app(broker, events, webhooks, auth), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, lst.http_host, lst.http_port, reuse_address=True)
        await _guard("listeners.http_port", lst.http_host, lst.http_port, site.start())
        node._runners.append(runner)
        node.addresses["http"] = _runner_address(runner)
    except BaseException:
        await node.stop()
        raise
    if settings.mqtt.sys_interval:
        broker.add_task(asyncio.ensure_future(run_sys_publisher(broker, settings.mqtt.sys_interval)))
    return node


def _runner_address(runner: web.AppRunner) -> tuple[str, int]:
    site = list(runner.sites)[-1]
    server = site._server  # aiohttp keeps the asyncio.Server here
    return _bound(server)


def format_addresses(addresses: dict[str, tuple[str, int]]) -> str:
    return " ".join(f"{name}={host}:{port}" for name, (host, port) in addresses.items())


async def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, then disconnect clients (MQTT 5: 0x8B) and flush state to disk.
    SIGHUP re-reads the ACL file (the password file is re-read by itself when it changes)."""
    node = await start_node(settings)
    log.info("listening %s", format_addresses(node.addresses))
    log.info("restored %d sessions and %d retained messages", len(node.broker.sessions), len(node.broker.retained))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, node.broker.reload_acl)
    await stop.wait()
    log.info("shutting down")
    await node.stop()
    log.info("stopped")
