"""The event catalogue: 12 events, rule topics per spec §2.1, fields that match what the builders produce."""

from __future__ import annotations

import json

import pytest

from hookmq.broker import HookEvent
from hookmq.events import catalogue
from hookmq.events.builders import BUILDERS
from hookmq.events.catalogue import CATALOGUE, EventSpec, get

# Spec §2.1 (EMQX 5.8 rule topics used in FROM).
RULE_TOPICS = {
    "message.delivered": "$events/message_delivered",
    "message.acked": "$events/message_acked",
    "message.dropped": "$events/message_dropped",
    "delivery.dropped": "$events/delivery_dropped",
    "client.connected": "$events/client_connected",
    "client.disconnected": "$events/client_disconnected",
    "client.connack": "$events/client_connack",
    "client.check_authz_complete": "$events/client_check_authz_complete",
    "client.check_authn_complete": "$events/client_check_authn_complete",
    "session.subscribed": "$events/session_subscribed",
    "session.unsubscribed": "$events/session_unsubscribed",
}
MESSAGE_EVENTS = ["message.publish", "message.delivered", "message.acked", "message.dropped", "delivery.dropped"]


def test_twelve_events_named_as_the_hook_events() -> None:
    assert len(CATALOGUE) == 12
    assert sorted(s.name for s in CATALOGUE) == sorted(e.value for e in HookEvent)


def test_dashboard_order_messages_first() -> None:
    names = [s.name for s in CATALOGUE]
    assert names[:5] == MESSAGE_EVENTS
    assert all(s.group == "message" for s in CATALOGUE[:5])
    assert all(s.group in ("client", "session") for s in CATALOGUE[5:])


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.name)
def test_group_follows_the_name(spec: EventSpec) -> None:
    expected = "message" if spec.name in MESSAGE_EVENTS else spec.name.split(".")[0]
    assert spec.group == expected


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.name)
def test_rule_topics(spec: EventSpec) -> None:
    if spec.name == "message.publish":
        # a topic filter, not "$events/message_publish" (EMQX cannot use that in FROM)
        assert spec.rule_topic == "#"
        assert spec.rule_topic_is_filter
        assert "topic filter" in spec.description
    else:
        assert spec.rule_topic == RULE_TOPICS[spec.name]
        assert not spec.rule_topic_is_filter


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.name)
def test_fields_are_the_example_keys_plus_metadata(spec: EventSpec) -> None:
    names = [f[0] for f in spec.fields]
    assert names == [*spec.example, "metadata"]
    assert len(set(names)) == len(names)
    for field, type_, meaning in spec.fields:
        assert field and type_ and meaning, field


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.name)
def test_example_comes_from_the_builder(spec: EventSpec) -> None:
    assert spec.example["event"] == spec.name
    assert spec.example["node"] == "hookmq@127.0.0.1"
    assert spec.description
    json.dumps(spec.example)
    # same keys as a fresh build from the sample arguments
    args = catalogue._sample_args()[HookEvent(spec.name)]
    assert list(BUILDERS[HookEvent(spec.name)](catalogue._CTX, *args)) == list(spec.example)


def test_example_shows_the_interesting_encodings() -> None:
    publish = get("message.publish").example
    assert publish["pub_props"]["User-Property-Pairs"] == [{"key": "foo", "value": "bar"}]
    assert get("message.delivered").example["username"] == "undefined"
    assert get("client.connected").example["mountpoint"] == "undefined"
    connack = get("client.connack")
    assert connack.example["expiry_interval"] == 1000 * get("client.connected").example["expiry_interval"]
    assert dict((f, t) for f, t, _ in connack.fields)["expiry_interval"] == "integer (ms)"


def test_get() -> None:
    assert get("client.connected").rule_topic == "$events/client_connected"
    assert get(HookEvent.MESSAGE_ACKED).name == "message.acked"  # a StrEnum works as the name
    with pytest.raises(KeyError, match="known events"):
        get("client.nope")
