"""The webhook HTTP client (`hookmq.webhooks.http`) against real sockets: an aiohttp server for normal
behaviour, small raw servers for misbehaving peers. No mocks; waits are on conditions, never fixed sleeps."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvloop
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from hookmq.webhooks.http import HttpError, HttpPool, Response

# helpers


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds (polling the loop), or fail."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.001)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Echo:
    """An aiohttp server that echoes requests and remembers which client connection sent each one."""

    url: str
    peers: list[tuple[str, int]] = field(default_factory=list)
    seen: list[web.Request] = field(default_factory=list)
    inflight: int = 0
    max_inflight: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    gate_at: int = 0  # hold requests until this many are in flight at once (0: no gate)


async def start_echo(host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None) -> tuple[Echo, web.AppRunner]:
    echo = Echo("")

    async def handle(request: web.Request) -> web.StreamResponse:
        echo.peers.append(request.transport.get_extra_info("peername")[:2])  # type: ignore[union-attr]
        echo.seen.append(request)
        body = await request.read()
        echo.inflight += 1
        echo.max_inflight = max(echo.max_inflight, echo.inflight)
        try:
            if echo.gate_at:
                if echo.inflight >= echo.gate_at:
                    echo.gate.set()
                await echo.gate.wait()
        finally:
            echo.inflight -= 1
        if request.path == "/big":
            return web.Response(body=b"x" * 10_000)
        return web.Response(status=201 if request.method == "POST" else 200, body=body,
                            headers={"X-Method": request.method, "X-Target": request.path_qs, "X-Twice": "1"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    name = f"[{host}]" if ":" in host else host
    echo.url = f"{'https' if ssl_context else 'http'}://{name}:{port}"
    return echo, runner


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    server, runner = await start_echo()
    yield server
    await runner.cleanup()


Handler = Callable[[int, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Raw:
    """A raw TCP server running ``handler(connection_index, reader, writer)`` per connection."""

    url: str
    server: asyncio.Server
    connections: int = 0
    open: int = 0
    requests: list[bytes] = field(default_factory=list)  # request lines, in arrival order


@pytest.fixture
async def raw() -> AsyncIterator[Callable[[Handler], Awaitable[Raw]]]:
    servers: list[Raw] = []

    async def start(handler: Handler) -> Raw:
        async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            index = state.connections
            state.connections += 1
            state.open += 1
            try:
                await handler(index, reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                state.open -= 1
                writer.close()

        server = await asyncio.start_server(run, "127.0.0.1", 0)
        state = Raw(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", server)
        servers.append(state)
        return state

    yield start
    for state in servers:
        state.server.close()
        await state.server.wait_closed()


async def read_request(reader: asyncio.StreamReader, raw: Raw | None = None) -> tuple[str, dict[str, str], bytes]:
    """One request: its request line, headers (lower-cased names) and body (Content-Length framing)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in head[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    if raw is not None:
        raw.requests.append(head[0].encode())
    return head[0], headers, body


def ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def until_eof(reader: asyncio.StreamReader) -> None:
    await reader.read()


# normal behaviour (aiohttp server)


async def test_post_and_get_carry_status_headers_and_body(echo: Echo) -> None:
    pool = HttpPool(echo.url)
    try:
        response = await pool.request("POST", "/hook?x=1", [("X-Custom", "a b"), ("user-agent", "mine/1")], b"{}")
        assert (response.status, response.reason, response.body, response.truncated) == (201, "Created", b"{}", False)
        assert response.header("x-target") == response.header("X-TARGET") == "/hook?x=1"
        assert response.header("missing") is None
        assert ("x-method", "POST") in response.headers
        sent = echo.seen[-1].headers
        assert sent["X-Custom"] == "a b" and sent["User-Agent"] == "mine/1"
        assert sent["Host"] == echo.url.removeprefix("http://") and sent["Content-Length"] == "2"

        response = await pool.request("GET", "", [], b"")
        assert (response.status, response.header("x-target"), response.body) == (200, "/", b"")
        assert "Content-Length" not in echo.seen[-1].headers and echo.seen[-1].headers["User-Agent"] == "hookmq"
        await pool.request("POST", "/empty", [], b"")
        assert echo.seen[-1].headers["Content-Length"] == "0"
        await pool.request("DELETE", "/gone", [("Content-Length", "99")], b"")  # framing is the client's
        assert "Content-Length" not in echo.seen[-1].headers
    finally:
        await pool.close()


async def test_body_is_truncated_at_max_body_and_the_rest_discarded(echo: Echo) -> None:
    pool = HttpPool(echo.url, max_body=100)
    try:
        response = await pool.request("GET", "/big", [], b"")
        assert (response.body, response.truncated) == (b"x" * 100, True)
        assert response.header("content-length") == "10000"
        response = await pool.request("POST", "/small", [], b"y" * 100)
        assert (response.body, response.truncated) == (b"y" * 100, False)
        assert len(set(echo.peers)) == 1  # the unread rest did not spoil the connection
    finally:
        await pool.close()


async def test_sequential_requests_reuse_one_connection(echo: Echo) -> None:
    pool = HttpPool(echo.url)
    assert not pool.connected
    try:
        for i in range(20):
            assert (await pool.request("POST", f"/{i}", [], b"%d" % i)).body == b"%d" % i
        assert len(echo.peers) == 20 and len(set(echo.peers)) == 1
        assert pool.connected
    finally:
        await pool.close()
    assert not pool.connected


async def test_pool_size_caps_concurrent_connections(echo: Echo) -> None:
    echo.gate_at = 4  # every request waits until 4 are in flight at once: the pool must reach, not pass, 4
    pool = HttpPool(echo.url, pool_size=4)
    try:
        responses = await asyncio.gather(*(pool.request("POST", "/", [], b"%d" % i) for i in range(100)))
        assert sorted(r.body for r in responses) == sorted(b"%d" % i for i in range(100))
        assert echo.max_inflight == 4 and len(set(echo.peers)) == 4
    finally:
        await pool.close()
    await eventually(lambda: len(asyncio.all_tasks()) == 1)  # the server saw every connection end; no task left


async def test_a_cancelled_waiter_leaves_the_line(raw: Callable[..., Awaitable[Raw]]) -> None:
    release = asyncio.Event()

    async def handler(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, _, body = await read_request(reader, server)
            await release.wait()
            writer.write(ok(body))

    server = await raw(handler)
    pool = HttpPool(server.url, pool_size=1)
    try:
        first = asyncio.create_task(pool.request("POST", "/", [], b"1"))
        await eventually(lambda: len(server.requests) == 1)
        waiting = asyncio.create_task(pool.request("POST", "/", [], b"2"))
        await eventually(lambda: len(pool._waiters) == 1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        assert (await first).body == b"1"
        assert (await pool.request("POST", "/", [], b"3")).body == b"3"  # not queued behind the cancelled one
        assert server.connections == 1 and len(server.requests) == 2
    finally:
        await pool.close()


async def test_a_cancelled_request_does_not_shift_later_responses(raw: Callable[..., Awaitable[Raw]]) -> None:
    release = asyncio.Event()

    async def handler(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, _, body = await read_request(reader, server)
            if body == b"slow":
                await release.wait()
            writer.write(ok(body))

    server = await raw(handler)
    pool = HttpPool(server.url, pool_size=1)
    try:
        assert (await pool.request("POST", "/", [], b"warm")).body == b"warm"
        slow = asyncio.create_task(pool.request("POST", "/", [], b"slow"))
        await eventually(lambda: len(server.requests) == 2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        after = asyncio.create_task(pool.request("POST", "/", [], b"after"))
        release.set()
        assert (await after).body == b"after"  # the cancelled request's response was read and dropped
        assert server.connections == 1
    finally:
        await pool.close()


# pipelining (raw Protocol server that answers a little later, so requests pile up)


class PipelineServer(asyncio.Protocol):
    def __init__(self, log: list[PipelineServer]) -> None:
        self.buffer = b""
        self.pending: deque[bytes] = deque()
        self.max_pending = 0
        self.before_first_answer = 0
        self.answered = 0
        log.append(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.pending.append(head.split(b" ")[1].removeprefix(b"/"))
            self.max_pending = max(self.max_pending, len(self.pending))
            if not self.answered:
                self.before_first_answer = max(self.before_first_answer, len(self.pending))
            asyncio.get_running_loop().call_later(0.002, self.answer)

    def answer(self) -> None:
        if self.pending and not self.transport.is_closing():
            self.answered += 1
            self.transport.write(ok(self.pending.popleft()))


async def test_pipelining_depth_is_respected_and_responses_matched() -> None:
    log: list[PipelineServer] = []
    server = await asyncio.get_running_loop().create_server(
        lambda: PipelineServer(log), "127.0.0.1", 0)
    pool = HttpPool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", pool_size=2, pipelining=3)
    try:
        for _ in range(3):
            ids = [b"%d" % i for i in range(60)]
            responses = await asyncio.gather(*(pool.request("GET", "/" + i.decode(), [], b"") for i in ids))
            assert [r.body for r in responses] == ids
        assert len(log) == 2
        assert max(conn.max_pending for conn in log) == 3  # pipelined, never deeper than asked
        assert all(conn.before_first_answer == 1 for conn in log)  # not before keep-alive was proven
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()


# connect-phase failures


async def test_connection_refused() -> None:
    port = free_port()
    pool = HttpPool(f"http://127.0.0.1:{port}")
    with pytest.raises(HttpError) as caught:
        await pool.request("POST", "/", [], b"x")
    assert (caught.value.kind, caught.value.sent) == ("connect", False)
    assert str(caught.value) == f"connection refused by 127.0.0.1:{port}"
    assert not pool.connected
    await pool.close()


async def test_dns_failure() -> None:
    pool = HttpPool("http://nonexistent.invalid:8080")
    with pytest.raises(HttpError) as caught:
        await pool.request("GET", "/", [], b"")
    assert (caught.value.kind, caught.value.sent) == ("dns", False)
    assert str(caught.value).startswith("cannot resolve host 'nonexistent.invalid'")
    await pool.close()


async def test_connect_timeout_to_a_non_routable_address() -> None:
    pool = HttpPool("http://10.255.255.1:80", connect_timeout=0.2)
    try:
        await pool.request("GET", "/", [], b"")
    except HttpError as exc:
        if exc.kind != "connect_timeout":
            pytest.skip(f"this network answers 10.255.255.1 at once ({exc})")
        assert not exc.sent and str(exc) == "no connection to 10.255.255.1:80 within 0.2s"
    else:
        pytest.skip("this network intercepts connections to 10.255.255.1")
    finally:
        await pool.close()


async def test_connect_timeout_when_the_server_never_accepts() -> None:
    """A listener with a full accept queue drops SYNs, so connect hangs (Linux) - the same as a black hole."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        while True:
            filler = socket.socket()
            filler.setblocking(False)
            fillers.append(filler)
            try:
                async with asyncio.timeout(0.2):
                    await asyncio.get_running_loop().sock_connect(filler, ("127.0.0.1", port))
            except TimeoutError:
                break
            except OSError as exc:
                pytest.skip(f"this kernel refuses beyond the backlog ({exc})")
            if len(fillers) > 8:
                pytest.skip("this kernel accepts beyond the backlog")
        pool = HttpPool(f"http://127.0.0.1:{port}", connect_timeout=0.2)
        with pytest.raises(HttpError) as caught:
            await pool.request("GET", "/", [], b"")
        assert (caught.value.kind, caught.value.sent) == ("connect_timeout", False)
        assert str(caught.value) == f"no connection to 127.0.0.1:{port} within 0.2s"
        await pool.close()
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# misbehaving servers


async def test_request_timeout_closes_the_connection_and_fails_pipelined_requests(raw: Callable[..., Awaitable[Raw]],
                                                                                  ) -> None:
    async def handler(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader, server)
        writer.write(ok())  # proves keep-alive, then goes silent
        await until_eof(reader)

    server = await raw(handler)
    pool = HttpPool(server.url, pool_size=1, pipelining=2, request_timeout=0.2)
    try:
        assert (await pool.request("GET", "/", [], b"")).body == b"ok"
        results = await asyncio.gather(pool.request("POST", "/a", [], b"a"), pool.request("POST", "/b", [], b"b"),
                                       return_exceptions=True)
        assert [(e.kind, e.sent) for e in results if isinstance(e, HttpError)] == [("timeout", True), ("closed", True)]
        assert str(results[0]) == f"no response within 0.2s from {server.url.removeprefix('http://')}"
        await eventually(lambda: server.open == 0)  # the client closed the connection
        assert not pool.connected
    finally:
        await pool.close()


async def test_server_closes_mid_response(raw: Callable[..., Awaitable[Raw]]) -> None:
    async def handler(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader, server)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")

    server = await raw(handler)
    pool = HttpPool(server.url)
    with pytest.raises(HttpError) as caught:
        await pool.request("POST", "/", [], b"x")
    assert (caught.value.kind, caught.value.sent) == ("closed", True)
    assert "before the response completed" in str(caught.value)
    assert len(server.requests) == 1 and not pool.connected
    await pool.close()


async def test_server_closes_a_new_connection_without_answering(raw: Callable[..., Awaitable[Raw]]) -> None:
    async def handler(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader, server)

    server = await raw(handler)
    pool = HttpPool(server.url)
    with pytest.raises(HttpError) as caught:
        await pool.request("POST", "/", [], b"x")
    assert (caught.value.kind, caught.value.sent) == ("closed", True)
    assert server.connections == 1  # a first request on a new connection is not retried
    await pool.close()


async def test_idle_connection_closed_by_the_server_is_dropped(raw: Callable[..., Awaitable[Raw]]) -> None:
    async def handler(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader, server)
        writer.write(ok(b"%d" % index))  # keep-alive by the headers, but closed right after

    server = await raw(handler)
    pool = HttpPool(server.url)
    try:
        assert (await pool.request("GET", "/", [], b"")).body == b"0"
        await eventually(lambda: not pool.connected)
        assert (await pool.request("GET", "/", [], b"")).body == b"1"
        assert len(server.requests) == 2
    finally:
        await pool.close()


async def submitted(pool: HttpPool, method: str, target: str, headers: list[tuple[str, str]],
                    body: bytes) -> Response:
    """`HttpPool.submit` awaited like `request`: the same contract, through the callback."""
    future: asyncio.Future[Response | HttpError] = asyncio.get_running_loop().create_future()
    pool.submit(method, target, headers, body, future.set_result)
    result = await future
    if isinstance(result, HttpError):
        raise result
    return result


SENDS = pytest.mark.parametrize("send", [HttpPool.request, submitted], ids=["request", "submit"])


@SENDS
async def test_stale_keep_alive_race_is_retried_once_on_a_fresh_connection(
        raw: Callable[..., Awaitable[Raw]], send: Callable[..., Awaitable[Response]]) -> None:
    async def handler(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader, server)
        writer.write(ok(b"%d" % index))
        await read_request(reader, server)  # the second request on a connection: close without a byte

    server = await raw(handler)
    pool = HttpPool(server.url)
    try:
        assert (await send(pool, "GET", "/", [], b"")).body == b"0"
        assert (await send(pool, "GET", "/", [], b"")).body == b"1"  # retried on connection 1
        assert (server.connections, len(server.requests)) == (2, 3)
    finally:
        await pool.close()


@SENDS
async def test_stale_retry_happens_only_once(raw: Callable[..., Awaitable[Raw]],
                                             send: Callable[..., Awaitable[Response]]) -> None:
    async def handler(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader, server)
        if index == 0:
            writer.write(ok())
            await read_request(reader, server)

    server = await raw(handler)
    pool = HttpPool(server.url)
    try:
        await send(pool, "GET", "/", [], b"")
        with pytest.raises(HttpError) as caught:
            await send(pool, "POST", "/", [], b"x")
        assert (caught.value.kind, caught.value.sent) == ("closed", True)
        assert (server.connections, len(server.requests)) == (2, 3)
    finally:
        await pool.close()


class Answers:
    """`HttpPool.submit` callbacks, collected; ``wait(n)`` until n arrived."""

    def __init__(self) -> None:
        self.got: list[Response | HttpError] = []

    def __call__(self, result: Response | HttpError) -> None:
        self.got.append(result)

    async def wait(self, count: int) -> list[Response | HttpError]:
        await eventually(lambda: len(self.got) >= count)
        return self.got


async def test_submit_calls_back_once_per_request_with_no_task_on_a_ready_connection(echo: Echo) -> None:
    pool = HttpPool(echo.url, pool_size=1, pipelining=4)
    answers = Answers()
    try:
        pool.submit("POST", "/first", [], b"0", answers)  # no connection yet: a task opens one
        assert len(pool._background) == 1
        await answers.wait(1)
        for n in range(1, 5):  # the proven connection takes them at once, pipelined
            pool.submit("POST", f"/{n}", [], b"%d" % n, answers)
        assert all(task.done() for task in pool._background)  # (the first one's may not be discarded yet)
        got = await answers.wait(5)
        assert sorted(r.body for r in got if isinstance(r, Response)) == [b"0", b"1", b"2", b"3", b"4"]
        await asyncio.sleep(0.05)
        assert len(answers.got) == 5  # exactly once each
        with pytest.raises(ValueError, match="line break"):
            pool.submit("POST", "/a\nb", [], b"", answers)
    finally:
        await pool.close()


async def test_close_answers_every_submitted_request(raw: Callable[..., Awaitable[Raw]]) -> None:
    async def handler(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader, server)
        await until_eof(reader)

    server = await raw(handler)
    pool = HttpPool(server.url, pool_size=1)
    answers = Answers()
    pool.submit("POST", "/", [], b"1", answers)  # sent, never answered
    pool.submit("POST", "/", [], b"2", answers)  # waits for the only connection
    await eventually(lambda: len(server.requests) == 1 and len(pool._waiters) == 1)
    await pool.close()
    got = await answers.wait(2)
    assert sorted((r.kind, r.sent) for r in got if isinstance(r, HttpError)) == [("closed", False), ("closed", True)]
    await eventually(lambda: server.open == 0)


@pytest.mark.parametrize(("wire", "body"), [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0a;ext=1\r\n0123456789\r\n0\r\n"
     b"X-Trailer: t\r\n\r\n", b"abc0123456789"),
    (b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b""),
])
async def test_chunked_responses_keep_the_connection(raw: Callable[..., Awaitable[Raw]], wire: bytes,
                                                     body: bytes) -> None:
    async def handler(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader, server)
            for i in range(0, len(wire), 7):  # in small pieces, to exercise the parser's resumption
                writer.write(wire[i:i + 7])
                await writer.drain()

    server = await raw(handler)
    pool = HttpPool(server.url)
    try:
        for _ in range(3):
            assert (await pool.request("GET", "/", [], b"")).body == body
        assert server.connections == 1
    finally:
        await pool.close()


@pytest.mark.parametrize(("wire", "body"), [
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", b"until the end"),  # read until close
    (b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nold!", b"old!"),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye", b"bye"),
])
async def test_responses_that_end_the_connection(raw: Callable[..., Awaitable[Raw]], wire: bytes, body: bytes) -> None:
    async def handler(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader, server)
        writer.write(wire)
        if b"Length" in wire:
            await until_eof(reader)  # the client must be the one to close

    server = await raw(handler)
    pool = HttpPool(server.url)
    try:
        for _ in range(2):
            response = await pool.request("POST", "/", [], b"x")
            assert (response.status, response.body) == (200, body)
        assert server.connections == 2  # not reused
        await eventually(lambda: server.open == 0)
    finally:
        await pool.close()


async def test_interim_100_continue_is_skipped(raw: Callable[..., Awaitable[Raw]]) -> None:
    async def handler(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader, server)
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"final"))

    server = await raw(handler)
    pool = HttpPool(server.url)
    try:
        for _ in range(2):
            response = await pool.request("POST", "/", [("Expect", "100-continue")], b"x")
            assert (response.status, response.body) == (200, b"final")
        assert server.connections == 1
    finally:
        await pool.close()


@pytest.mark.parametrize("wire", [b"garbage\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                                  b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"])
async def test_invalid_http_is_a_protocol_error(raw: Callable[..., Awaitable[Raw]], wire: bytes) -> None:
    async def handler(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader, server)
        writer.write(wire)
        await until_eof(reader)

    server = await raw(handler)
    pool = HttpPool(server.url)
    with pytest.raises(HttpError) as caught:
        await pool.request("GET", "/", [], b"")
    assert (caught.value.kind, caught.value.sent) == ("protocol", True)
    assert str(caught.value).startswith(f"invalid HTTP response from {server.url.removeprefix('http://')}")
    await eventually(lambda: server.open == 0)
    await pool.close()


async def test_close_fails_requests_in_flight_and_waiting(raw: Callable[..., Awaitable[Raw]]) -> None:
    async def handler(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader, server)
        await until_eof(reader)

    server = await raw(handler)
    pool = HttpPool(server.url, pool_size=1)
    in_flight = asyncio.create_task(pool.request("POST", "/", [], b"1"))
    waiting = asyncio.create_task(pool.request("POST", "/", [], b"2"))
    await eventually(lambda: len(server.requests) == 1 and len(pool._waiters) == 1)
    await pool.close()
    await pool.close()  # idempotent
    for task, sent in ((in_flight, True), (waiting, False)):
        with pytest.raises(HttpError) as caught:
            await task
        assert (caught.value.kind, caught.value.sent) == ("closed", sent)
    with pytest.raises(HttpError) as caught:
        await pool.request("GET", "/", [], b"")
    assert caught.value.kind == "closed"
    await eventually(lambda: server.open == 0)
    assert len(asyncio.all_tasks()) == 1


async def test_line_breaks_in_headers_are_refused(echo: Echo) -> None:
    pool = HttpPool(echo.url)
    for headers, target in (([("X-A", "1\r\nX-Injected: 1")], "/"), ([("X-A", "1\n")], "/"), ([], "/a\r\nb")):
        with pytest.raises(ValueError, match="line break"):
            await pool.request("POST", target, headers, b"")
    assert not echo.seen
    await pool.close()


def test_base_url_is_checked() -> None:
    for url in ("ftp://host", "http://host/path", "http://host?q", "http://", "host:80"):
        with pytest.raises(ValueError, match="http"):
            HttpPool(url)


# TLS and IPv6


async def test_tls_with_a_trusted_certificate_and_a_failed_verification(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    echo, runner = await start_echo(ssl_context=server_context)
    try:
        for host in ("127.0.0.1", "localhost"):
            url = echo.url.replace("127.0.0.1", host)
            pool = HttpPool(url, ssl_context=ssl.create_default_context(cafile=str(cert)))
            for _ in range(2):
                assert (await pool.request("POST", "/tls", [], b"secret")).body == b"secret"
            await pool.close()
        assert len(set(echo.peers)) == 2

        pool = HttpPool(echo.url)  # the system's trust store does not know the certificate
        with pytest.raises(HttpError) as caught:
            await pool.request("POST", "/tls", [], b"secret")
        assert (caught.value.kind, caught.value.sent) == ("tls", False)
        assert str(caught.value).startswith(f"TLS handshake with {echo.url.removeprefix('https://')} failed: "
                                            "CERTIFICATE_VERIFY_FAILED")
        await pool.close()
        assert len(echo.seen) == 4
    finally:
        await runner.cleanup()


async def test_ipv6_literal_host() -> None:
    try:
        echo, runner = await start_echo("::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    pool = HttpPool(echo.url)
    try:
        response = await pool.request("POST", "/six", [], b"v6")
        assert (response.status, response.body) == (201, b"v6")
        assert echo.seen[-1].headers["Host"] == echo.url.removeprefix("http://")
        assert echo.seen[-1].headers["Host"].startswith("[::1]:")
    finally:
        await pool.close()
        await runner.cleanup()


# uvloop, which the broker runs on


def test_under_uvloop(tmp_path: Path) -> None:
    async def scenario() -> None:
        echo, runner = await start_echo()
        pool = HttpPool(echo.url, pool_size=2, pipelining=4)
        try:
            responses = await asyncio.gather(*(pool.request("POST", "/", [], b"%d" % i) for i in range(200)))
            assert [r.body for r in responses] == [b"%d" % i for i in range(200)]
            assert len(set(echo.peers)) <= 2
        finally:
            await pool.close()
            await runner.cleanup()

        async def stale(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await read_request(reader)
                writer.write(ok())
                await read_request(reader)  # closes on the second request: a stale connection
            except asyncio.IncompleteReadError:
                pass  # the client closed first
            finally:
                writer.close()

        server = await asyncio.start_server(stale, "127.0.0.1", 0)
        pool = HttpPool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", request_timeout=5)
        try:
            for _ in range(3):
                assert (await pool.request("GET", "/", [], b"")).body == b"ok"
        finally:
            await pool.close()
            server.close()
        pool = HttpPool(f"http://127.0.0.1:{free_port()}")
        with pytest.raises(HttpError) as caught:
            await pool.request("GET", "/", [], b"")
        assert caught.value.kind == "connect"
        await pool.close()

    uvloop.run(scenario())


# any well-formed response is parsed exactly


_TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~", min_size=1,
                 max_size=12).filter(lambda n: n.lower() not in ("content-length", "transfer-encoding", "connection"))
_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=20)
_CASE = st.fixed_dictionaries({
    "status": st.integers(200, 599).filter(lambda s: s not in (204, 304)),
    "reason": st.text("abcdefghijklmnopqrstuvwxyz ABC", max_size=20).map(str.strip),
    "headers": st.lists(st.tuples(_TOKEN, _VALUE), max_size=8),
    "body": st.binary(max_size=3000),
    "chunks": st.none() | st.lists(st.integers(1, 700), min_size=1, max_size=6),
})


@settings(max_examples=150, deadline=None)
@given(case=_CASE)
def test_random_responses_are_parsed_exactly(case: dict[str, object]) -> None:
    asyncio.run(_parse_case(case))


async def _parse_case(case: dict[str, object]) -> None:
    status, reason, body = case["status"], case["reason"], case["body"]
    headers, chunks = case["headers"], case["chunks"]
    assert isinstance(status, int) and isinstance(reason, str) and isinstance(body, bytes)
    assert isinstance(headers, list) and (chunks is None or isinstance(chunks, list))
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    if chunks is None:
        wire = head.encode("latin-1") + b"content-length: %d\r\n\r\n" % len(body) + body
        expected = [*((n.lower(), v.strip(" ")) for n, v in headers), ("content-length", str(len(body)))]
    else:
        wire = head.encode("latin-1") + b"transfer-encoding: chunked\r\n\r\n"
        rest, sizes = body, iter(chunks * (len(body) + 1))
        while rest:
            size = next(sizes)
            wire += b"%x\r\n%s\r\n" % (len(rest[:size]), rest[:size])
            rest = rest[size:]
        wire += b"0\r\n\r\n"
        expected = [*((n.lower(), v.strip(" ")) for n, v in headers), ("transfer-encoding", "chunked")]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(2):
                await read_request(reader)
                writer.write(wire)
            await until_eof(reader)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    pool = HttpPool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", max_body=1000)
    try:
        for _ in range(2):  # twice on one connection: nothing of the first response is left over
            response = await pool.request("GET", "/", [], b"")
            assert response == Response(status, reason, tuple(expected), body[:1000], len(body) > 1000)
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()
