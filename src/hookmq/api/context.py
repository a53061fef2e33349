"""What the route modules work on: the node's broker, event hub, webhook service and API auth."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hookmq.broker import Broker
from hookmq.events.hub import EventHub
from hookmq.webhooks.service import WebhookService

from .auth import ApiAuth


@dataclass(frozen=True, slots=True)
class Context:
    broker: Broker
    events: EventHub
    webhooks: WebhookService
    auth: ApiAuth
    # Queues of the open event streams: closed when the node stops, so a connected `events tail` does not hold
    # up the shutdown (aiohttp waits for running handlers).
    streams: set[asyncio.Queue[Any]] = field(default_factory=set)
