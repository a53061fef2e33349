from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import BrokerThread, make_settings


@pytest.fixture
def start_broker(tmp_path: Path) -> Iterator[Callable[..., BrokerThread]]:
    """Factory: ``start_broker(mqtt={...}, authentication={...})`` runs a node; all are stopped afterwards."""
    started: list[BrokerThread] = []

    def start(data_dir: Path | None = None, **sections: Any) -> BrokerThread:
        settings = make_settings(data_dir or tmp_path / f"data{len(started)}", **sections)
        node = BrokerThread(settings).start()
        started.append(node)
        return node

    yield start
    for node in reversed(started):
        node.stop()


@pytest.fixture
def broker(start_broker: Callable[..., BrokerThread]) -> BrokerThread:
    """A node with default settings, on free ports."""
    return start_broker()
