from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers import BrokerThread
from tests.webhooks.receiver import Receiver

FAST_RETRY = {"initial_backoff": "10ms", "max_backoff": "100ms"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def hooked_broker(start_broker: Callable[..., BrokerThread],
                  receiver: Receiver) -> Callable[..., BrokerThread]:
    """Factory: a node with one webhook ``hook`` to `receiver`; keyword arguments are webhook settings."""

    def start(**webhook: Any) -> BrokerThread:
        config = {"name": "hook", "url": receiver.url, "events": ["message.publish"], "retry": FAST_RETRY, **webhook}
        return start_broker(webhooks=[config])

    return start
