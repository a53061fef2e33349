"""Topic names, topic filters, shared subscriptions and matching (MQTT 5.0 §4.7, §4.8.2; 3.1.1 §4.7)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookmq.mqtt import INVALID_SHARE, is_valid_topic_filter, is_valid_topic_name, parse_shared, topic_matches

# ------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize("topic", [
    "a", "a/b", "/", "/finance", "a/", "a//b", " ", "sport/tennis/player1", "$SYS/broker/uptime", "caf\u00e9/\u2603",
    "A", "a b/c d",
])
def test_valid_topic_names(topic: str) -> None:
    assert is_valid_topic_name(topic)


@pytest.mark.parametrize("topic", [
    "",          # [MQTT-4.7.3-1] at least one character
    "+", "#",    # [MQTT-3.3.2-2] no wildcards in a Topic Name
    "a/+", "a/#", "a+b", "sport/tennis#", "+/a", "#/a",
])
def test_invalid_topic_names(topic: str) -> None:
    assert not is_valid_topic_name(topic)


def test_topic_name_level_limit() -> None:
    assert is_valid_topic_name("a/b/c", max_levels=3)
    assert not is_valid_topic_name("a/b/c/d", max_levels=3)
    assert is_valid_topic_name("/".join("a" * 50))  # 0 = unlimited


@pytest.mark.parametrize("topic_filter", [
    "#", "+", "a/#", "sport/tennis/#", "+/tennis/#", "sport/+/player1", "+/+", "/+", "/", "a//b", "+//+", "$SYS/#",
    "$SYS/monitor/+", "a/+/#", "$share/group/a/b", "$share/g/#", "$share/g/+/x", "$share/g//",
])
def test_valid_topic_filters(topic_filter: str) -> None:
    assert is_valid_topic_filter(topic_filter)


@pytest.mark.parametrize("topic_filter", [
    "",                        # [MQTT-4.7.3-1]
    "sport/tennis#",           # [MQTT-4.7.1-1] '#' must follow a separator ...
    "sport/tennis/#/ranking",  # ... and be the last character
    "#/a", "##", "a/##", "a#", "#a",
    "sport+", "a/+b", "+a/b", "++",  # [MQTT-4.7.1-2] '+' must occupy a whole level
    "$share/g",                # [MQTT-4.8.2-1] share name and filter both required
    "$share//a", "$share/g/", "$share/",
    "$share/g+/a", "$share/g#/a", "$share/+/a", "$share/#/a",  # [MQTT-4.8.2-2] no wildcards in the share name
    "$share/g/a#", "$share/g/#/a", "$share/g/a+",
])
def test_invalid_topic_filters(topic_filter: str) -> None:
    assert not is_valid_topic_filter(topic_filter)


def test_topic_filter_level_limit() -> None:
    assert is_valid_topic_filter("a/+/#", max_levels=3)
    assert not is_valid_topic_filter("a/+/b/#", max_levels=3)
    assert is_valid_topic_filter("$share/g/a/+/#", max_levels=3)  # the share prefix is not a level
    assert not is_valid_topic_filter("$share/g/a/+/b/#", max_levels=3)


# --------------------------------------------------------------------------------------------- sharing


@pytest.mark.parametrize(("topic_filter", "group", "inner"), [
    ("$share/g/a/b", "g", "a/b"),
    ("$share/group-1/#", "group-1", "#"),
    ("$share/g/+/x", "g", "+/x"),
    ("$share/g//", "g", "/"),
    ("$share/g/$SYS/#", "g", "$SYS/#"),
])
def test_parse_shared(topic_filter: str, group: str, inner: str) -> None:
    shared = parse_shared(topic_filter)
    assert shared is not None and shared is not INVALID_SHARE
    assert (shared.group, shared.topic_filter) == (group, inner)


@pytest.mark.parametrize("topic_filter", ["a/b", "#", "$share", "$sharex/g/a", "$SHARE/g/a", "share/g/a", "$SYS/#"])
def test_parse_shared_ordinary_filters(topic_filter: str) -> None:
    assert parse_shared(topic_filter) is None


@pytest.mark.parametrize("topic_filter", ["$share/", "$share/g", "$share//a", "$share/g/", "$share/g+/a",
                                          "$share/#/a", "$share/a+b/c"])
def test_parse_shared_malformed(topic_filter: str) -> None:
    assert parse_shared(topic_filter) is INVALID_SHARE


# -------------------------------------------------------------------------------------------- matching

MATCHES = [
    # MQTT 5.0 §4.7.1.2 non-normative examples
    ("sport/tennis/player1", "sport/tennis/player1/#"),
    ("sport/tennis/player1/ranking", "sport/tennis/player1/#"),
    ("sport/tennis/player1/score/wimbledon", "sport/tennis/player1/#"),
    ("sport", "sport/#"),  # '#' includes the parent level
    ("a", "a/#"),
    ("a/", "a/#"),
    ("anything/at/all", "#"),
    ("/", "#"),
    # §4.7.1.3
    ("sport/tennis/player1", "sport/tennis/+"),
    ("sport/tennis/player2", "sport/tennis/+"),
    ("sport/", "sport/+"),  # '+' matches an empty level
    ("/finance", "+/+"),
    ("/finance", "/+"),
    ("a//b", "a/+/b"),
    ("/", "+/+"),
    ("a/b/c", "+/+/+"),
    ("a/b/c", "a/+/#"),
    ("a/b", "a/+/#"),
    ("a/b", "+/#"),
    # §4.7.2: '$' topics match filters that do not start with a wildcard
    ("$SYS/monitor/Clients", "$SYS/monitor/+"),
    ("$SYS/broker/uptime", "$SYS/#"),
    ("$SYS", "$SYS/#"),
    ("$foo", "$foo"),
    ("a/$b", "a/+"),  # '$' matters only at the start of the topic
    ("a/$b", "#"),
    ("a/b", "a/b"),
    ("caf\u00e9", "+"),
]

NO_MATCHES = [
    ("sport/tennis/player1/ranking", "sport/tennis/+"),
    ("sport", "sport/+"),
    ("/finance", "+"),
    ("a", "a/+/#"),
    ("a/b/c", "a/b"),
    ("a/b", "a/b/c"),
    ("a/b", "a/c"),
    ("A", "a"),  # case sensitive
    ("a/b", "a/b/"),
    ("a/b/", "a/b"),
    ("ab", "a/#"),
    ("a", "+/+"),
    # [MQTT-4.7.2-1] a filter starting with a wildcard never matches a topic starting with '$'
    ("$SYS/broker/uptime", "#"),
    ("$SYS", "#"),
    ("$SYS/monitor/Clients", "+/monitor/Clients"),
    ("$SYS/x", "+/#"),
    ("$SYS", "+"),
    ("$", "#"),
    ("$share/g/a", "+/+/+"),
]


@pytest.mark.parametrize(("topic", "topic_filter"), MATCHES)
def test_topic_matches(topic: str, topic_filter: str) -> None:
    assert topic_matches(topic, topic_filter)


@pytest.mark.parametrize(("topic", "topic_filter"), NO_MATCHES)
def test_topic_does_not_match(topic: str, topic_filter: str) -> None:
    assert not topic_matches(topic, topic_filter)


# ------------------------------------------------------------------------------- reference implementation


def reference_matches(topic: str, topic_filter: str) -> bool:
    """Topic matching by translating the filter into a regular expression, straight from §4.7."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    pattern = ""
    for n, level in enumerate(topic_filter.split("/")):
        sep = "/" if n else ""
        if level == "#":
            # '#' is the parent and any number of children: "a/#" is "a" or "a/...", "#" alone is anything.
            pattern += f"(?:{sep}.*)?" if n else ".*"
        elif level == "+":
            pattern += sep + "[^/]*"
        else:
            pattern += sep + re.escape(level)
    return re.fullmatch(pattern, topic, flags=re.DOTALL) is not None


def reference_valid_filter(topic_filter: str) -> bool:
    return re.fullmatch(r"(?:(?:[^/+#]*|\+)/)*(?:[^/+#]*|\+|#)", topic_filter) is not None and topic_filter != ""


def test_reference_agrees_with_the_spec_examples() -> None:
    for topic, topic_filter in MATCHES:
        assert reference_matches(topic, topic_filter), (topic, topic_filter)
    for topic, topic_filter in NO_MATCHES:
        assert not reference_matches(topic, topic_filter), (topic, topic_filter)


topic_levels = st.sampled_from(["a", "b", "", "ab", "$SYS", "$", "a.b", "a*"])
filter_levels = st.sampled_from(["a", "b", "", "ab", "$SYS", "+", "+", "a.b"])
structured_topics = st.lists(topic_levels, min_size=1, max_size=5).map("/".join).filter(bool)
structured_filters = st.builds(lambda levels, tail: "/".join(levels + tail),
                               st.lists(filter_levels, min_size=0, max_size=5),
                               st.sampled_from([[], ["#"]])).filter(bool)


@settings(max_examples=400, deadline=None)
@given(topic=structured_topics, topic_filter=structured_filters)
def test_topic_matches_agrees_with_regex_reference(topic: str, topic_filter: str) -> None:
    assert is_valid_topic_name(topic) and is_valid_topic_filter(topic_filter)
    assert topic_matches(topic, topic_filter) == reference_matches(topic, topic_filter)


@settings(max_examples=400, deadline=None)
@given(topic=st.text("ab/$", min_size=1, max_size=8),
       topic_filter=st.text("ab/$+#", min_size=1, max_size=8).filter(is_valid_topic_filter))
def test_topic_matches_agrees_with_regex_reference_on_raw_strings(topic: str, topic_filter: str) -> None:
    if parse_shared(topic_filter) is None:
        assert topic_matches(topic, topic_filter) == reference_matches(topic, topic_filter)


@settings(max_examples=300, deadline=None)
@given(st.text("ab/$+#", max_size=10))
def test_topic_filter_validation_agrees_with_regex_reference(topic_filter: str) -> None:
    if not topic_filter.startswith("$share/"):
        assert is_valid_topic_filter(topic_filter) == reference_valid_filter(topic_filter)
    assert is_valid_topic_name(topic_filter) == (topic_filter != "" and not set(topic_filter) & {"+", "#"})


@settings(max_examples=200, deadline=None)
@given(topic=structured_topics, data=st.data())
def test_generalising_a_topic_into_a_filter_keeps_the_match(topic: str, data: st.DataObject) -> None:
    """A topic matches itself, and still matches after replacing levels by '+' or a suffix by '#' (unless '$')."""
    assert topic_matches(topic, topic)
    levels = topic.split("/")
    wild = [("+" if data.draw(st.booleans()) else lvl) for lvl in levels]
    cut = data.draw(st.integers(0, len(levels)))
    for topic_filter in ("/".join(wild), "/".join([*levels[:cut], "#"])):
        expected = not (topic.startswith("$") and topic_filter[:1] in "+#")
        assert topic_matches(topic, topic_filter) == expected, topic_filter
