"""A real HTTP webhook receiver for tests: an aiohttp server on its own thread that records every request.

Tests script its answers (`Receiver.respond`: a status, or a function of the request) and its speed
(`delay`), stop it to play a dead receiver and start it again on the same port, and wait on what arrived
(`wait_count`) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.helpers import wait_for

Answer = int | tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # path and query
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.monotonic() when it arrived

    def json(self) -> Any:
        return orjson.loads(self.body)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Receiver:
    """Records requests; answers 200 ``ok`` unless told otherwise. Thread-safe to read from the test."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.requests: list[Request] = []  # answered 2xx
        self.rejected: list[Request] = []  # answered otherwise
        self.delay = 0.0
        self._answer: Callable[[Request], Answer] = lambda request: 200
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._lock = threading.Lock()

    def respond(self, answer: Answer | Callable[[Request], Answer]) -> None:
        """Answer every request with ``answer`` (a status, or (status, headers, body)), or call it."""
        self._answer = answer if callable(answer) else (lambda request: answer)

    def fail_randomly(self, fraction: float, seed: int, status: int = 503) -> None:
        """Answer ``status`` to a reproducible random ``fraction`` of the requests, 200 to the others."""
        rng = random.Random(seed)

        def flaky(request: Request) -> int:
            with self._lock:
                return status if rng.random() < fraction else 200

        self.respond(flaky)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Receiver:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-receiver", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def _handle(self, http: web.Request) -> web.Response:
        request = Request(http.method, http.path_qs, {k.lower(): v for k, v in http.headers.items()},
                          await http.read(), time.monotonic())
        if self.delay:
            await asyncio.sleep(self.delay)
        answer = self._answer(request)
        status, headers, body = (answer, {}, b"ok") if isinstance(answer, int) else answer
        with self._lock:
            (self.requests if 200 <= status < 300 else self.rejected).append(request)
        return web.Response(status=status, headers=headers, body=body)

    # ---------------------------------------------------------------- reading

    def events(self) -> list[dict[str, Any]]:
        """Bodies of the accepted requests, as JSON, in arrival order (batches flattened)."""
        out: list[dict[str, Any]] = []
        with self._lock:
            requests = list(self.requests)
        for request in requests:
            body = request.json()
            out.extend(body if isinstance(body, list) else [body])
        return out

    def wait_count(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` events were accepted; returns them."""
        wait_for(lambda: len(self.events()) >= count, timeout, f"{count} webhook events (got {len(self.events())})")
        return self.events()
