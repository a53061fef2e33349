#!/usr/bin/env python3
"""Memory of N idle MQTT connections: start a broker, open N connections (CONNECT, keep alive 600 s), read the
broker's resident memory from /proc, print one JSON line.

    .venv/bin/python bench/idle_connections.py -n 10000 --broker hookmq
    .venv/bin/python bench/idle_connections.py -n 10000 --broker mosquitto

The client side uses raw asyncio sockets (no MQTT library) so it can hold 10,000 connections cheaply.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def connect_packet(client_id: bytes) -> bytes:
    def s(b: bytes) -> bytes:
        return struct.pack(">H", len(b)) + b

    body = s(b"MQTT") + bytes([4, 2]) + struct.pack(">H", 600) + s(client_id)
    return bytes([0x10, len(body)]) + body


class Idle(asyncio.Protocol):
    def __init__(self, acked: asyncio.Future[None]) -> None:
        self.acked = acked

    def data_received(self, data: bytes) -> None:
        if not self.acked.done() and data[:1] == b"\x20":
            self.acked.set_result(None)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} did not open")


async def hold(port: int, n: int, batch: int) -> float:
    loop = asyncio.get_running_loop()
    transports = []
    started = time.monotonic()
    for first in range(0, n, batch):
        acks = []
        for i in range(first, min(n, first + batch)):
            acked: asyncio.Future[None] = loop.create_future()
            transport, _ = await loop.create_connection(lambda a=acked: Idle(a), "127.0.0.1", port)
            transport.write(connect_packet(b"idle-%06d" % i))
            transports.append(transport)
            acks.append(acked)
        await asyncio.wait_for(asyncio.gather(*acks), 60)
    elapsed = time.monotonic() - started
    await asyncio.sleep(2)  # let the broker settle before memory is read
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--broker", choices=["hookmq", "mosquitto"], default="hookmq")
    ap.add_argument("--port", type=int, default=18851)
    ap.add_argument("--batch", type=int, default=200)
    a = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < a.n + 100:
        raise SystemExit(f"open-file limit {hard} is too low for {a.n} connections")
    data = tempfile.mkdtemp()
    if a.broker == "hookmq":
        config = ROOT / "bench" / "hookmq-noloss.toml"
        cmd = [str(ROOT / ".venv" / "bin" / "hookmq"), "serve", "--mqtt-port", str(a.port), "--ws-port", "0",
               "--http-port", "0", "--data-dir", data, "--config", str(config), "--log-level", "warning"]
    else:
        conf = Path(data) / "mosquitto.conf"
        conf.write_text(f"listener {a.port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n"
                        "max_inflight_messages 0\nmax_queued_messages 0\n")
        cmd = ["mosquitto", "-c", str(conf)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(a.port)
        base = rss_kib(proc.pid)
        elapsed = asyncio.run(hold(a.port, a.n, a.batch))
        loaded = rss_kib(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
        shutil.rmtree(data, ignore_errors=True)
    print(json.dumps({"broker": a.broker, "connections": a.n, "rss_before_mib": round(base / 1024, 1),
                      "rss_mib": round(loaded / 1024, 1), "per_connection_kib": round((loaded - base) / a.n, 2),
                      "connect_s": round(elapsed, 2)}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
