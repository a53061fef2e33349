"""The HTTP/1.1 client of webhook delivery: a small keep-alive connection pool per webhook target.

Why not aiohttp's client: measured on this project's bench, aiohttp's client does ~9.6k requests/s against a
local sink while a raw `asyncio.Protocol` client does ~100k/s, and webhook throughput is bound by the client's
CPU. So delivery uses this lean client (an `asyncio.Protocol` per connection, uvloop-friendly, no streams, the
C parser of `httptools` for responses); aiohttp stays on the server side.

What it does and does not do: keep-alive, optional pipelining once a connection has proven keep-alive, chunked,
Content-Length and read-until-close bodies, 1xx interim responses skipped, TLS. No redirects, cookies, proxies,
compression or HEAD. Every network failure is one `HttpError` whose `kind` a retry policy can branch on, whose
text a dashboard can show, and whose `sent` says whether the receiver may have acted on the request.

Stale keep-alive race: a server closes an idle connection (its keep-alive timeout) just as we write a request on
it. So a request written on a reused idle connection that then closes or resets without a single response byte
is retried once, transparently, on a new connection, as browsers and other HTTP clients do; a server that read
the request and then died without answering would see it twice, which webhook receivers must tolerate anyway
(delivery is at-least-once). A request on a new connection is never retried here.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import cast
from urllib.parse import urlsplit

import httptools

__all__ = ["HttpError", "HttpPool", "Response"]

_BODYLESS = frozenset({"GET", "DELETE", "HEAD", "OPTIONS", "TRACE"})  # no content-length when the body is empty
_FRAMING = frozenset({"content-length", "transfer-encoding"})  # the client's own: a caller's is dropped


class HttpError(Exception):
    """A request that got no (complete) HTTP response.

    ``kind``: "dns", "connect", "connect_timeout", "tls", "timeout", "closed" or "protocol". ``sent`` is True
    when the request bytes may have reached the server, so the receiver may have acted on it.
    """

    def __init__(self, kind: str, message: str, *, sent: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.sent = sent


# Made once per request on the delivery hot path, so not frozen (a frozen dataclass's __init__ costs about 3x);
# treat it as read-only all the same.
@dataclass(slots=True)
class Response:
    """A complete response; header names are lower-cased and the body is cut at the pool's ``max_body``."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


class _Request:
    __slots__ = ("data", "deadline", "done", "reused")

    def __init__(self, data: bytes, done: Callable[[Response | HttpError | None], None], reused: bool) -> None:
        self.data = data
        self.done = done  # called once: None means retry on a fresh connection (stale keep-alive)
        self.reused = reused  # written on an idle connection after an earlier response: may meet a stale close
        self.deadline = 0.0


def _resolve(future: asyncio.Future[Response | None], result: Response | HttpError | None) -> None:
    if future.done():  # the caller was cancelled
        return
    if isinstance(result, HttpError):
        future.set_exception(result)
    else:
        future.set_result(result)


class _Connection(asyncio.Protocol):
    """One connection: requests are answered in order, so the head of ``queue`` owns the response being parsed."""

    def __init__(self, pool: HttpPool) -> None:
        self.pool = pool
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.queue: deque[_Request] = deque()
        self.reserved = 0  # requests handed this connection that have not written yet
        self.closed = False  # no longer usable (our decision or the peer's); the slot is free
        self.proven = False  # completed a keep-alive HTTP/1.1 response, so pipelining onto it is safe
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self.timer: asyncio.TimerHandle | None = None
        self.got_bytes = False  # response bytes since the head request was written (stale-race test)
        self.out: list[bytes] = []  # requests to write at the end of this loop iteration
        self._reset()

    def _reset(self) -> None:
        self.reason: list[bytes] = []
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.size = 0
        self.until_eof = False  # neither Content-Length nor chunked: the body ends when the connection does
        self.in_body = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.pool._all.add(self)

    def data_received(self, data: bytes) -> None:
        if self.closed:  # e.g. bytes after a "Connection: close" response: nobody is waiting for them
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if not self.closed:
                self.shut(f"invalid HTTP response from {self.pool._addr}: {exc}", first_kind="protocol")

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool._all.discard(self)
        if not self.lost.done():
            self.lost.set_result(None)
        if self.closed:
            return
        if self.queue and self.in_body and self.until_eof:
            self.on_message_complete()  # a read-until-close body ends here
        elif self.queue and self.queue[0].reused and not self.got_bytes:
            self.queue.popleft().done(None)  # closed before reading it: retry (module docstring)
        what = "reset" if exc else "closed"
        self.shut(f"connection {what} by {self.pool._addr} before the response completed")

    # httptools callbacks

    def on_status(self, status: bytes) -> None:
        self.reason.append(status)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1").lower(), value.decode("latin-1").rstrip(" \t")))

    def on_headers_complete(self) -> None:
        self.in_body = True
        status = self.parser.get_status_code()
        names = {name for name, _ in self.headers}
        self.until_eof = status >= 200 and status not in (204, 304) and not (
            "content-length" in names or "transfer-encoding" in names)

    def on_body(self, body: bytes) -> None:
        room = self.pool._max_body - self.size
        if room > 0:
            self.body.append(body if len(body) <= room else body[:room])
        self.size += len(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # interim (100 Continue): the real response follows
            self._reset()
            return
        if not self.queue:
            raise httptools.HttpParserError("response without a request")
        req = self.queue.popleft()
        body = b"".join(self.body)
        response = Response(status, b"".join(self.reason).decode("latin-1"), tuple(self.headers), body,
                            self.size > len(body))
        keep_alive = self.parser.get_http_version() == "1.1" and self.parser.should_keep_alive() and not self.until_eof
        self._reset()
        self.got_bytes = False
        req.done(response)
        if keep_alive:
            self.proven = True
            if self.pool._waiters:
                self.pool._dispatch()
        else:  # HTTP/1.0 or "Connection: close": done after this response
            self.shut(f"{self.pool._addr} closed the connection after an earlier response", graceful=True)

    # requests

    def send(self, req: _Request) -> None:
        assert self.transport is not None
        self.reserved -= 1
        self.queue.append(req)
        req.deadline = self.loop.time() + self.pool._request_timeout
        # Coalesce: requests pipelined in one loop iteration leave in one write (one syscall).
        if not self.out:
            self.loop.call_soon(self.flush)
        self.out.append(req.data)
        if len(self.queue) == 1:
            self.got_bytes = False
        if self.timer is None:
            self.timer = self.loop.call_at(req.deadline, self.on_timer)

    def flush(self) -> None:
        out, self.out = self.out, []
        if out and not self.closed and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def on_timer(self) -> None:
        """One lazy timer per connection instead of one per request (a measurable cost at 50k+ requests/s):
        it checks the head request, the oldest, and re-arms for it if it is not due yet."""
        self.timer = None
        if not self.queue:
            return
        if (deadline := self.queue[0].deadline) > self.loop.time():
            self.timer = self.loop.call_at(deadline, self.on_timer)
            return
        pool = self.pool
        self.shut(f"connection to {pool._addr} closed after another request timed out", first_kind="timeout",
                  first_message=f"no response within {pool._request_timeout:g}s from {pool._addr}")

    def shut(self, message: str, *, first_kind: str = "closed", first_message: str = "",
             graceful: bool = False) -> None:
        """Stop using this connection: fail what is outstanding (the head request with ``first_kind``)."""
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        queue, self.queue = self.queue, deque()
        for i, req in enumerate(queue):
            kind = first_kind if i == 0 else "closed"
            req.done(HttpError(kind, first_message if i == 0 and first_message else message, sent=True))
        if self.transport is not None and not self.transport.is_closing():
            # Pipelined responses would be out of sync after an error: abort; a finished connection closes politely.
            (self.transport.close if graceful else self.transport.abort)()
        self.pool._forget(self)


class HttpPool:
    """Up to ``pool_size`` keep-alive connections to one ``http(s)://host[:port]``, opened when needed.

    A request takes an idle connection, else opens one, else (``pipelining > 1``) is pipelined onto the least
    busy connection that has proven keep-alive, else waits in line. Waiting is not part of ``request_timeout``.
    """

    def __init__(self, base_url: str, *, pool_size: int = 8, pipelining: int = 1, connect_timeout: float = 15.0,
                 request_timeout: float = 15.0, ssl_context: ssl.SSLContext | None = None, max_body: int = 4096,
                 user_agent: str = "hookmq") -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname or url.path not in ("", "/") or url.query:
            raise ValueError(f"expected http(s)://host[:port], got {base_url!r}")
        if pool_size < 1 or pipelining < 1:
            raise ValueError("pool_size and pipelining must be at least 1")
        default_port = 443 if url.scheme == "https" else 80
        self._host = url.hostname
        self._port = url.port or default_port
        name = f"[{self._host}]" if ":" in self._host else self._host
        self._addr = f"{name}:{self._port}"
        self._ssl = (ssl_context or ssl.create_default_context()) if url.scheme == "https" else None
        self._pool_size = pool_size
        self._pipelining = pipelining
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._max_body = max_body
        self._host_line = f"host: {name if self._port == default_port else self._addr}\r\n"
        self._ua_line = f"user-agent: {user_agent}\r\n"
        self._conns: list[_Connection] = []  # usable connections, each holding a slot
        self._all: set[_Connection] = set()  # every transport not yet lost, so close() can wait for them
        self._opening = 0  # slots held by connections being opened
        self._waiters: deque[asyncio.Future[_Connection | None]] = deque()  # None: a slot to open a connection
        self._background: set[asyncio.Task[None]] = set()  # `submit`s waiting for a connection
        self._closed = False

    @property
    def connected(self) -> bool:
        """At least one connection is open right now."""
        return bool(self._conns)

    async def request(self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes) -> Response:
        """Send one request and return its response; network trouble raises `HttpError`, nothing else.

        Adds host, content-length and (unless given) user-agent; a caller's host replaces ours, a caller's
        content-length or transfer-encoding is dropped because the client owns message framing.

        Raises:
            HttpError: no complete response (see the class).
            ValueError: a line break in ``target`` or a header.
        """
        return await self._send(self._encode(method, target, headers, body))

    def submit(self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes,
               on_done: Callable[[Response | HttpError], None]) -> None:
        """`request` for callers that keep many requests in flight: ``on_done`` gets the response or the
        `HttpError`, exactly once. When a connection is ready to write on (the common case under load) no task or
        future is made at all; otherwise a task waits for one, as `request` would. ``on_done`` may run from the
        pool's I/O callbacks, so it must not raise.

        Raises:
            ValueError: a line break in ``target`` or a header (at once).
        """
        data = self._encode(method, target, headers, body)
        conn = None if self._waiters else self._ready()
        if conn is None or conn.closed or conn.transport is None or conn.transport.is_closing():
            self._in_background(data, on_done, fresh=False)
            return
        conn.reserved += 1
        conn.send(_Request(data, partial(self._submitted, data, on_done), conn.proven and not conn.queue))

    def _submitted(self, data: bytes, on_done: Callable[[Response | HttpError], None],
                   result: Response | HttpError | None) -> None:
        if result is None:  # a stale keep-alive connection: once more on a fresh one (module docstring)
            self._in_background(data, on_done, fresh=True)
        else:
            on_done(result)

    def _in_background(self, data: bytes, on_done: Callable[[Response | HttpError], None], *, fresh: bool) -> None:
        async def send() -> None:
            try:
                response = await self._send(data, fresh=fresh)
            except HttpError as exc:
                on_done(exc)
            except asyncio.CancelledError:  # close() gave up on it
                on_done(HttpError("closed", f"the connection pool for {self._addr} was closed"))
                raise
            else:
                on_done(response)

        task = asyncio.get_running_loop().create_task(send())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send(self, data: bytes, *, fresh: bool = False) -> Response:
        while True:
            conn = None if fresh or self._waiters else self._ready()
            if conn is None:
                conn = await self._acquire(fresh)
            else:
                conn.reserved += 1
            if conn.closed:  # closed between being handed to us and now: nothing was sent, try again
                continue
            if conn.transport is None or conn.transport.is_closing():  # the peer closed, connection_lost is due
                conn.reserved -= 1
                self._forget(conn)
                continue
            future: asyncio.Future[Response | None] = conn.loop.create_future()
            conn.send(_Request(data, partial(_resolve, future), not fresh and conn.proven and len(conn.queue) == 0))
            try:
                response = await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    future.exception()  # retrieved: no "never retrieved" warning
                raise
            if response is not None:
                return response
            fresh = True

    async def close(self) -> None:
        """Close every connection; requests in flight or waiting fail with kind "closed". Idempotent."""
        self._closed = True
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(HttpError("closed", f"the connection pool for {self._addr} was closed"))
        for conn in list(self._conns):
            conn.shut(f"the connection pool for {self._addr} was closed")
        for conn in list(self._all):
            if conn.transport is not None:
                conn.transport.abort()
        if self._background:
            await asyncio.sleep(0)  # submits answered just now report their own error first (sent or not)
            for task in self._background:  # still connecting: a connect timeout can be long
                task.cancel()
            if self._background:
                await asyncio.wait(self._background)
        if self._all:
            await asyncio.wait([conn.lost for conn in self._all])

    # internals

    def _encode(self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
        lines = [f"{method} {target or '/'} HTTP/1.1\r\n"]
        host = ua = False
        for name, value in headers:
            low = name.lower()
            if low in _FRAMING:
                continue
            if low == "host":
                host = True
            elif low == "user-agent":
                ua = True
            lines.append(f"{name}: {value}\r\n")
        if not host:
            lines.append(self._host_line)
        if not ua:
            lines.append(self._ua_line)
        if body or method not in _BODYLESS:
            lines.append(f"content-length: {len(body)}\r\n")
        lines.append("\r\n")
        head = "".join(lines)
        # Each line ends in the one CR LF we mean; any other CR or LF came from the caller and would split the
        # request (header injection).
        if head.count("\n") != len(lines) or head.count("\r") != len(lines):
            raise ValueError(f"line break in the target or a header of {method} {target!r}")
        return head.encode() + body if body else head.encode()

    def _idle(self) -> _Connection | None:
        for conn in reversed(self._conns):  # the most recently used is the least likely to have gone stale
            if not conn.queue and not conn.reserved:
                return conn
        return None

    def _pipeline_target(self) -> _Connection | None:
        best, least = None, self._pipelining
        for conn in self._conns:
            busy = len(conn.queue) + conn.reserved
            if conn.proven and busy < least:
                best, least = conn, busy
        return best

    def _ready(self) -> _Connection | None:
        """An open connection to write on now, in the order: idle, (a new one is better), pipelined."""
        conn = self._idle()
        if conn is None and self._pipelining > 1 and len(self._conns) + self._opening >= self._pool_size:
            conn = self._pipeline_target()
        return conn

    def _take(self) -> _Connection | None:
        """A connection to write on (reserved), or None and a slot reserved for a new one; LookupError if neither."""
        conn = self._ready()
        if conn is not None:
            conn.reserved += 1
        elif len(self._conns) + self._opening < self._pool_size:
            self._opening += 1
        else:
            raise LookupError
        return conn

    async def _acquire(self, fresh: bool) -> _Connection:
        """A connection reserved for one request. ``fresh`` (a stale-race retry) wants a new connection and
        goes first, since it was admitted before any waiter."""
        if self._closed:
            raise HttpError("closed", f"the connection pool for {self._addr} is closed")
        if fresh:
            if len(self._conns) + self._opening >= self._pool_size and (idle := self._idle()) is not None:
                self._conns.remove(idle)  # its slot goes to us, not to a waiter
                idle.shut("dropped for a fresh connection", graceful=True)
            if len(self._conns) + self._opening < self._pool_size:
                self._opening += 1
                return await self._open()
        got: _Connection | None
        try:
            if self._waiters and not fresh:  # first come, first served
                raise LookupError
            got = self._take()
        except LookupError:
            waiter: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
            (self._waiters.appendleft if fresh else self._waiters.append)(waiter)
            try:
                got = await waiter
            except asyncio.CancelledError:
                if (not waiter.done() or waiter.cancelled()) and waiter in self._waiters:
                    self._waiters.remove(waiter)  # else later arrivals would queue behind it for nothing
                elif waiter.exception() is None:  # handed a connection or a slot just as we were cancelled
                    if (conn := waiter.result()) is None:
                        self._opening -= 1
                    else:
                        conn.reserved -= 1
                    self._dispatch()
                raise
        return got if got is not None else await self._open()

    def _dispatch(self) -> None:
        """Hand freed connections and slots to waiters in order."""
        while self._waiters:
            if self._waiters[0].done():  # cancelled while waiting
                self._waiters.popleft()
                continue
            try:
                got = self._take()
            except LookupError:
                return
            self._waiters.popleft().set_result(got)

    def _forget(self, conn: _Connection) -> None:
        if conn in self._conns:
            self._conns.remove(conn)
            self._dispatch()

    async def _open(self) -> _Connection:
        """Open a connection in a slot already counted in ``_opening``; it comes back reserved for the caller."""
        addr = self._addr
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await asyncio.get_running_loop().create_connection(
                    lambda: _Connection(self), self._host, self._port, ssl=self._ssl,
                    server_hostname=self._host if self._ssl else None)
        except TimeoutError:
            raise HttpError("connect_timeout", f"no connection to {addr} within {self._connect_timeout:g}s") from None
        except socket.gaierror as exc:
            raise HttpError("dns", f"cannot resolve host {self._host!r}: {exc.strerror or exc}") from None
        except ssl.SSLError as exc:  # includes ssl.CertificateError
            detail = " ".join(filter(None, (exc.reason, getattr(exc, "verify_message", None)))) or str(exc)
            raise HttpError("tls", f"TLS handshake with {addr} failed: {detail}") from None
        except ConnectionRefusedError:
            raise HttpError("connect", f"connection refused by {addr}") from None
        except OSError as exc:
            raise HttpError("connect", f"cannot connect to {addr}: {exc.strerror or exc}") from None
        finally:
            usable = conn is not None and not (self._closed or conn.closed or conn.transport is None
                                               or conn.transport.is_closing())
            if conn is not None and usable:
                self._conns.append(conn)  # the slot moves from _opening to _conns in one step
                conn.reserved += 1
            self._opening -= 1
            if not usable:
                self._dispatch()
        if not usable:
            conn.shut("unused")
            raise HttpError("closed", f"connection to {addr} closed before the request was sent")
        return conn
