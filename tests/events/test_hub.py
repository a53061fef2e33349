"""EventHub: payloads are built only for events (and topics) someone listens to."""

from __future__ import annotations

from typing import Any

import pytest

from hookmq.broker import HookEvent
from hookmq.mqtt import Publish
from tests.helpers import BrokerThread, raw_client, wait_for


def test_no_listener_means_the_broker_is_not_even_asked(broker: BrokerThread) -> None:
    hooks = broker.broker.hooks
    assert not any(broker.call(hooks.wants, e) for e in HookEvent)
    listener = broker.call(broker.node.events.listen, lambda p: None, ["client.connected"])
    assert broker.call(hooks.wants, HookEvent.CONNECTED)
    assert not broker.call(hooks.wants, HookEvent.MESSAGE_PUBLISH)
    broker.call(listener.close)
    assert not broker.call(hooks.wants, HookEvent.CONNECTED)


def test_unknown_event_name_is_refused_with_the_known_names(broker: BrokerThread) -> None:
    with pytest.raises(ValueError, match=r"client\.connected"):
        broker.call(broker.node.events.listen, lambda p: None, ["client.conected"])


def test_topic_filters_restrict_message_events_only(broker: BrokerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    from hookmq.events import hub

    built: list[str] = []
    real = dict(hub.BUILDERS)

    def counting(event: HookEvent) -> Any:
        def build(*args: Any) -> dict[str, Any]:
            built.append(event.value)
            return real[event](*args)

        return build

    for event in (HookEvent.MESSAGE_PUBLISH, HookEvent.CONNECTED):
        monkeypatch.setitem(hub.BUILDERS, event, counting(event))
    got: list[dict[str, Any]] = []
    broker.call(broker.node.events.listen, got.append, ["message.publish", "client.connected"], ["keep/#"])
    with raw_client(broker.port) as c:
        c.connect("filtered")
        for topic in ("skip/1", "keep/1", "skip/2", "keep/2"):
            c.send(Publish(topic=topic, payload=b"x"))
        wait_for(lambda: len(got) == 3, message="connected + two kept publishes")
    assert [p.get("topic") for p in got] == [None, "keep/1", "keep/2"]
    assert built == ["client.connected", "message.publish", "message.publish"]  # nothing built for skip/#


def test_a_failing_listener_does_not_starve_the_others(broker: BrokerThread) -> None:
    got: list[dict[str, Any]] = []

    def broken(payload: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    broker.call(broker.node.events.listen, broken, ["client.connected"])
    broker.call(broker.node.events.listen, got.append, ["client.connected"])
    with raw_client(broker.port) as c:
        c.connect("still-works")
        wait_for(lambda: got, message="second listener called")
    assert got[0]["clientid"] == "still-works"
