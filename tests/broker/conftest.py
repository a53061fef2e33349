"""Fixtures shared by the end-to-end broker tests; plain helper functions are in `tests.broker.support`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import hookmq.broker.broker as broker_module
from tests.broker.support import ConnectedClient, OpenClient


@pytest.fixture
def clients() -> Iterator[OpenClient]:
    """Factory ``clients(port, client_id, version, **connect_kw)``: a connected client (CONNACK 0 checked and
    kept as ``.connack``), closed after the test, so tests open several without try/finally."""
    opened: list[ConnectedClient] = []

    def open_client(port: int, client_id: str, version: int, **connect_kw: Any) -> ConnectedClient:
        client = ConnectedClient(port, version)
        opened.append(client)
        client.connack = client.connect(client_id, **connect_kw)
        assert client.connack.reason_code == 0, client.connack
        return client

    yield open_client
    for client in opened:
        client.close()


@pytest.fixture
def fast_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check session expiry and delayed wills every 50 ms instead of every 500 ms, so timing tests stay short
    and precise (opt in with ``pytestmark = pytest.mark.usefixtures("fast_sweep")``)."""
    monkeypatch.setattr(broker_module, "SWEEP_INTERVAL", 0.05)
