"""The delivery queue in a process of its own: `DeliveryQueue` calls served over a socket.

Why a process: the queue's SQLite work is CPU-heavy Python (binding rows, building results), and on a
thread it fights the broker's event loop for the GIL; every row step releases and retakes it, so under
load both sides slow down far beyond the work itself. In its own process the queue runs on the other
core and the event loop pays only for pickling the calls.

Protocol (private to `hookmq.webhooks.delivery.QueueProcess`): frames of a 4-byte big-endian length and
a pickle. The parent sends lists of calls ``(method name, args, kwargs)``; the server reads every frame
that has arrived, runs all their calls in one transaction (`DeliveryQueue.group`, each call a savepoint:
group commit), and answers with one frame: the list of ``(ok, result or exception)`` in call order,
sent only after the commit. The first frame it sends says whether the queue opened.

It stops at end of input: when the parent closes the socket, or dies (``kill -9`` included), after
committing what it had read. It ignores SIGINT and SIGTERM (a Ctrl-C or a signal to the process group
must not cut it off while the parent still stops gracefully).
"""

from __future__ import annotations

import pickle
import signal
import socket
import struct
import sys
from typing import Any, Final

from .base import StoreError
from .queue import DeliveryQueue

HEADER: Final = struct.Struct("!I")
_READ_SIZE: Final = 1 << 20


def encode_frame(value: object) -> list[bytes]:
    """The frame of ``value``: its header and its payload, to write one after the other (not joined: a frame
    of events is large, and a copy of it costs the broker's event loop time)."""
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return [HEADER.pack(len(payload)), payload]


class FrameReader:
    """Splits a byte stream into frame payloads."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        start = 0
        while len(buffer) - start >= HEADER.size:
            (length,) = HEADER.unpack_from(buffer, start)
            end = start + HEADER.size + length
            if end > len(buffer):
                break
            frames.append(bytes(buffer[start + HEADER.size:end]))
            start = end
        del buffer[:start]
        return frames


def _answer(results: list[tuple[bool, Any]]) -> bytes:
    try:
        frame = encode_frame(results)
    except Exception:  # an exception that does not pickle: send its text instead
        frame = encode_frame([(ok, value if ok else StoreError(f"{type(value).__name__}: {value}"))
                              for ok, value in results])
    return b"".join(frame)


def serve(sock: socket.socket, queue: DeliveryQueue) -> None:
    """Answer calls until the other end closes the socket."""
    reader = FrameReader()
    while True:
        data = sock.recv(_READ_SIZE)
        if not data:
            return
        frames = reader.feed(data)
        try:  # take everything that arrived meanwhile into the same group
            while chunk := sock.recv(_READ_SIZE, socket.MSG_DONTWAIT):
                frames += reader.feed(chunk)
        except BlockingIOError:
            pass
        if not frames:
            continue
        calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
            call for frame in frames for call in pickle.loads(frame)]
        results: list[tuple[bool, Any]] = []
        try:
            with queue.group():
                for name, args, kwargs in calls:
                    try:
                        results.append((True, getattr(queue, name)(*args, **kwargs)))
                    except Exception as exc:  # this call's savepoint is undone; the others go on
                        results.append((False, exc))
        except Exception as exc:  # the commit failed: nothing of the group happened
            results = [(False, exc)] * len(calls)
        sock.sendall(_answer(results))


def main(argv: list[str]) -> int:
    """``python -m hookmq.store.queue_server FD PATH``"""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fd, path = int(argv[1]), argv[2]
    sock = socket.socket(fileno=fd)
    try:
        queue = DeliveryQueue(path)
    except Exception as exc:
        sock.sendall(_answer([(False, exc)]))
        return 1
    with queue:
        try:
            sock.sendall(_answer([(True, None)]))
            serve(sock, queue)
        except (BrokenPipeError, ConnectionResetError):  # the parent is gone: what was committed stays
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
