"""``$SYS/brokers/<node>/...`` statistics, published (retained) every ``mqtt.sys_interval`` seconds.

Topic names follow EMQX (``$SYS/brokers/<node>/stats/connections/count``, ``.../metrics/messages/received``)
so existing dashboards and scripts find them.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from hookmq import __version__

from .message import Message

if TYPE_CHECKING:
    from .broker import Broker


def sys_values(broker: Broker) -> dict[str, str]:
    s = broker.stats
    return {
        "version": __version__,
        "uptime": str(int(time.time() - broker.started_at)),
        "datetime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "stats/connections/count": str(s.connections),
        "stats/connections/max": str(s.connections_max),
        "stats/sessions/count": str(len(broker.sessions)),
        "stats/subscriptions/count": str(broker.subscriptions.count),
        "stats/subscriptions/shared/count": str(broker.subscriptions.shared_count),
        "stats/retained/count": str(len(broker.retained)),
        "metrics/messages/received": str(s.messages_received),
        "metrics/messages/sent": str(s.messages_sent),
        "metrics/messages/dropped": str(s.messages_dropped),
        "metrics/delivery/dropped": str(s.deliveries_dropped),
        "metrics/bytes/received": str(s.bytes_received),
        "metrics/bytes/sent": str(s.bytes_sent),
    }


def publish_sys(broker: Broker) -> None:
    node = broker.settings.node_name
    now_ms = int(time.time() * 1000)
    for name, value in sys_values(broker).items():
        message = Message(broker.next_message_id(), f"$SYS/brokers/{node}/{name}", value.encode(), 0, True, {},
                          node, None, ("", 0), now_ms)
        broker.publish(message, internal=True)


async def run_sys_publisher(broker: Broker, interval: float) -> None:
    while True:
        publish_sys(broker)
        await asyncio.sleep(interval)
