"""Broker-wide counters; published on ``$SYS`` and read by the API."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class Stats:
    connections: int = 0
    connections_max: int = 0
    connections_total: int = 0
    messages_received: int = 0
    messages_sent: int = 0
    messages_dropped: int = 0
    deliveries_dropped: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
