"""Triggers: which events and topics reach a webhook, and the same answer from the EventHub registration."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookmq.broker.clientinfo import ClientInfo
from hookmq.broker.hooks import Hooks
from hookmq.broker.message import Message
from hookmq.events.catalogue import CATALOGUE
from hookmq.events.hub import EventHub
from hookmq.mqtt import is_valid_topic_filter, topic_matches
from hookmq.webhooks.matching import EVENT_NAMES, MESSAGE_EVENT_NAMES, MESSAGE_EVENTS, Trigger
from hookmq.webhooks.model import WebhookConfig

CLIENT_EVENTS = [name for name in EVENT_NAMES if name not in MESSAGE_EVENTS]


def trigger(**fields: Any) -> Trigger:
    return Trigger.from_config(WebhookConfig.model_validate({"name": "t", "url": "http://h/", **fields}))


def test_message_events_are_the_five_emqx_messages_triggers() -> None:
    assert MESSAGE_EVENT_NAMES == ("message.publish", "message.delivered", "message.acked", "message.dropped",
                                   "delivery.dropped")
    assert len(CLIENT_EVENTS) == 7


def test_default_trigger_is_every_published_message_except_dollar_topics() -> None:
    t = trigger()
    assert t.wants("message.publish") and not t.wants("message.delivered") and not t.wants("client.connected")
    assert t.matches("message.publish", "t/a") and t.matches("message.publish", "a")
    assert not t.matches("message.publish", "$SYS/brokers")  # "#" never matches a $-topic [MQTT-4.7.2-1]
    assert not t.matches("message.publish", "$internal/x")
    assert not t.matches("message.publish", None)
    assert not t.matches("client.connected", None)
    assert t.hub_listen_args() == (("message.publish",), ("#",))


def test_all_means_every_event_with_topics_on_message_events_only() -> None:
    t = trigger(events=["all"], topics=["sensors/#"])
    assert all(t.wants(name) for name in EVENT_NAMES)
    for spec in CATALOGUE:
        topic = spec.example.get("topic")  # "t/a" for messages, authz and (un)subscribe events
        assert t.matches(spec.name, topic) == (spec.name not in MESSAGE_EVENTS), spec.name
        assert t.matches(spec.name, "sensors/1/temp")
    assert t.hub_listen_args() == (None, ("sensors/#",))
    assert trigger(events="all").hub_listen_args() == (None, ("#",))


def test_client_events_ignore_topics_and_register_without_filters() -> None:
    t = trigger(events=["client.disconnected", "client.connected"])
    assert t.matches("client.connected", None) and t.matches("client.disconnected", "any/topic")
    assert not t.matches("session.subscribed", "t/#")
    assert t.hub_listen_args() == (("client.connected", "client.disconnected"), ())  # catalogue order


def test_filters_with_wildcards() -> None:
    t = trigger(events=["message.publish", "delivery.dropped", "session.subscribed"],
                topics=["shop/+/orders", "alerts/#", "$SYS/brokers/+/uptime"])
    for topic, hit in [("shop/1/orders", True), ("shop/1/orders/x", False), ("shop//orders", True),
                       ("alerts", True), ("alerts/a/b", True), ("alert", False),
                       ("$SYS/brokers/n1/uptime", True), ("other", False)]:
        assert t.matches("message.publish", topic) is hit, topic
        assert t.matches("delivery.dropped", topic) is hit, topic
        assert t.matches("session.subscribed", topic)  # not a message event: never filtered
    assert not t.matches("message.acked", "alerts/x")  # not selected


@pytest.mark.parametrize(("events", "topics"), [
    ([], []), (["client.conected"], []), (["all", "client.connected"], []), (["client.connected"], ["t/#"]),
    (["message.publish"], ["a/#/b"]), (["message.publish"], ["t", "t"]),
])
def test_invalid_triggers_are_refused(events: list[str], topics: list[str]) -> None:
    with pytest.raises(ValueError):
        Trigger(events, topics)


_levels = st.sampled_from(["a", "b", "$x", "", "+", "#"])
_filters = st.lists(_levels, min_size=1, max_size=4).map("/".join).filter(is_valid_topic_filter)
_topics = st.lists(st.sampled_from(["a", "b", "$x", ""]), min_size=1, max_size=5).map("/".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_filters, max_size=3, unique=True), _topics, st.sampled_from(EVENT_NAMES))
def test_matches_agrees_with_the_broker_definition(filters: list[str], topic: str, event: str) -> None:
    t = Trigger(["all"], filters)
    expected = event not in MESSAGE_EVENTS or any(topic_matches(topic, f) for f in filters or ["#"])
    assert t.matches(event, topic) is expected
    assert t.matches(event, topic) is expected  # the cached answer is the same


# ------------------------------------------------------------------------------ registering with the hub

def _client(clientid: str) -> ClientInfo:
    return ClientInfo(clientid=clientid, username=None, peername=("10.0.0.1", 50000), sockname=("0.0.0.0", 1883),
                      proto_ver=5, keepalive=60, clean_start=True, expiry_interval=0, receive_maximum=32,
                      conn_props={}, connected_at=1_700_000_000_000, is_anonymous=True)


def _message(topic: str) -> Message:
    return Message(id=bytes(16), topic=topic, payload=b'{"n": 1}', qos=1, retain=False, properties={},
                   from_clientid="pub", from_username=None, peername=("10.0.0.2", 50001), received_at=1_700_000_000_000)


@pytest.mark.parametrize("fields", [
    {}, {"events": "all"}, {"events": "all", "topics": ["keep/#"]},
    {"events": ["message.publish", "message.delivered", "client.connected"], "topics": ["keep/+", "$dollar/#"]},
    {"events": ["client.connected", "session.subscribed"]},
])
def test_the_hub_delivers_exactly_what_the_trigger_matches(fields: dict[str, Any]) -> None:
    t = trigger(**fields)
    hub = EventHub(Hooks(), "hookmq@127.0.0.1")
    got: list[dict[str, Any]] = []
    events, topics = t.hub_listen_args()
    hub.listen(got.append, events, topics)
    sent: list[tuple[str, str | None]] = []
    client = _client("c1")
    for topic in ("keep/1", "skip/1", "$dollar/1", "keep/1/2"):
        hub.on_message_publish(_message(topic))
        hub.on_message_delivered(client, _message(topic), 1)
        hub.on_message_dropped(_message(topic), "no_subscribers")
        sent += [("message.publish", topic), ("message.delivered", topic), ("message.dropped", topic)]
    hub.on_connected(client)
    hub.on_subscribed(client, "skip/#", 1, {"qos": 1, "nl": 0, "rap": 0, "rh": 0}, {})
    sent += [("client.connected", None), ("session.subscribed", "skip/#")]
    assert [(p["event"], p.get("topic")) for p in got] == [(e, tp) for e, tp in sent if t.matches(e, tp)]
