"""Test harness: a real broker on real sockets (in a thread or as a subprocess) and a raw MQTT client.

`BrokerThread` runs a full node (all listeners, SQLite store) on its own event loop in a background thread,
so blocking clients (paho, mosquitto_pub, raw sockets) can talk to it from the test thread. `RawClient` is
a blocking socket client built on hookmq's own codec, for exact protocol checks (malformed input, reason
codes, packet ordering) that a full client library would hide.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hookmq.config import Settings, load_settings
from hookmq.mqtt import NEED_DATA, Connack, Connect, Decoder, Packet, ProtocolVersion, encode
from hookmq.server import Node, start_node

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, message: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


@functools.cache
def api_authorization(data_dir: Path) -> str:
    """An ``Authorization`` header for the REST API of the node using ``data_dir``: a fresh API key as HTTP
    Basic, written to the node's key store (the node re-reads it when it changes: works before or after start)."""
    from hookmq.api.keystore import AuthStore

    key, secret = AuthStore(Path(data_dir)).create_api_key("tests")
    return "Basic " + base64.b64encode(f"{key.key}:{secret}".encode()).decode()


def http_get(port: int, path: str, data_dir: Path, timeout: float = 5) -> bytes:
    """``GET`` an authenticated endpoint (``/metrics``, ``/api/v1/...``) of the node using ``data_dir``."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Authorization": api_authorization(Path(data_dir))})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body: bytes = response.read()
        return body


def make_settings(data_dir: Path, **sections: dict[str, Any]) -> Settings:
    overrides: dict[str, Any] = {
        "data_dir": str(data_dir),
        "listeners": {"host": "127.0.0.1", "mqtt_port": 0, "ws_port": 0, "http_port": 0},
        "mqtt": {"sys_interval": 0},
    }
    for name, values in sections.items():
        overrides.setdefault(name, {})
        if isinstance(values, dict):
            overrides[name].update(values)
        else:
            overrides[name] = values
    return load_settings(None, environ={}, overrides=overrides)


class BrokerThread:
    """A running node on a private event loop in a daemon thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.node: Node | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="hookmq-test-broker", daemon=True)

    def start(self) -> BrokerThread:
        self._thread.start()
        self.node = self.run(start_node(self.settings))
        return self

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the broker's loop (broker state is not thread-safe) and return its result."""
        fut: Future[T] = Future()

        def runner() -> None:
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # handed to the test thread
                fut.set_exception(exc)

        self.loop.call_soon_threadsafe(runner)
        return fut.result(10)

    @property
    def broker(self) -> Any:
        assert self.node is not None
        return self.node.broker

    @property
    def port(self) -> int:
        assert self.node is not None
        return self.node.addresses["mqtt"][1]

    @property
    def ws_port(self) -> int:
        assert self.node is not None
        return self.node.addresses["ws"][1]

    @property
    def http_port(self) -> int:
        assert self.node is not None
        return self.node.addresses["http"][1]

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        if self.node is not None:
            self.run(self.node.stop())
            self.node = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class RawClient:
    """A blocking MQTT client over a plain socket, using hookmq's codec. Every call has a timeout."""

    def __init__(self, port: int, version: int = ProtocolVersion.MQTT_3_1_1, host: str = "127.0.0.1",
                 timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.version = version
        self.decoder = Decoder(protocol_version=version)
        self.timeout = timeout

    def send(self, packet: Packet) -> None:
        self.sock.sendall(encode(packet, self.version))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def connect(self, client_id: str = "raw", **kw: Any) -> Connack:
        self.send(Connect(protocol_version=self.version, client_id=client_id, **kw))
        ack = self.recv()
        assert isinstance(ack, Connack), ack
        return ack

    def recv(self, timeout: float | None = None) -> Packet:
        """The next packet; raises TimeoutError when none arrives, ConnectionError when the socket closed."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            packet = self.decoder.next_packet()
            if packet is not NEED_DATA:
                return packet  # type: ignore[return-value]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no packet received")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise TimeoutError("no packet received") from None
            if not data:
                raise ConnectionError("connection closed by the broker")
            self.decoder.receive_data(data)

    def recv_until_closed(self, timeout: float | None = None) -> list[Packet]:
        """Every packet until the broker closes the connection (fails if it stays open)."""
        packets = []
        while True:
            try:
                packets.append(self.recv(timeout))
            except (ConnectionError, ConnectionResetError):
                return packets

    def expect_silence(self, seconds: float = 0.3) -> None:
        try:
            packet = self.recv(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected no packet, got {packet}")

    def close(self) -> None:
        self.sock.close()


@contextmanager
def raw_client(port: int, version: int = ProtocolVersion.MQTT_3_1_1, **kw: Any) -> Iterator[RawClient]:
    client = RawClient(port, version, **kw)
    try:
        yield client
    finally:
        client.close()


LISTENING = re.compile(r"listening (.*)$")


class BrokerProcess:
    """``hookmq serve`` as a real subprocess; addresses are read from its 'listening' log line."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = args
        self.env = dict(os.environ, **(env or {}))
        self.log_path = data_dir.parent / f"{data_dir.name}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.addresses: dict[str, tuple[str, int]] = {}

    def start(self, timeout: float = 20) -> BrokerProcess:
        cmd = [sys.executable, "-m", "hookmq", "serve", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
               "--mqtt-port", "0", "--ws-port", "0", "--http-port", "0", *self.args]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT)
        wait_for(lambda: self._read_addresses() or self.proc.poll() is not None, timeout, "listening log line")
        if not self.addresses:
            raise AssertionError(f"broker exited with {self.proc.returncode}: {self.output()}")
        return self

    def _read_addresses(self) -> bool:
        for line in self.output().splitlines():
            m = LISTENING.search(line)
            if m:
                for item in m.group(1).split():
                    name, _, addr = item.partition("=")
                    host, _, port = addr.rpartition(":")
                    self.addresses[name] = (host, int(port))
                return True
        return False

    @property
    def port(self) -> int:
        return self.addresses["mqtt"][1]

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


def require_tool(name: str) -> str:
    """Path of a Debian peer tool; in CI its absence is a failure, locally a skip."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (dev.py test installs it with apt-get)")
        pytest.skip(f"{name} is not installed")
    return path
