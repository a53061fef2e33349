"""Unit and property tests of the topic tries (`SubscriptionTree`, `RetainedTree`) against the brute-force
definition of matching, `hookmq.mqtt.topic_matches` (MQTT 5 §4.7, [MQTT-4.7.1-1..3], [MQTT-4.7.2-1])."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from hookmq.broker.message import Message
from hookmq.broker.topics import RetainedTree, SubOptions, SubscriptionTree
from hookmq.mqtt import topic_matches


@dataclass(eq=False)
class FakeSession:
    clientid: str
    connection: object | None = None


# A tiny alphabet so random filters and topics actually meet: empty levels, '$' first levels, wildcards.
NAME_LEVEL = st.sampled_from(["a", "b", "", "$s"])
FILTER_LEVEL = st.sampled_from(["a", "b", "", "+"])


@st.composite
def topics(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from(["a", "b", "", "$s", "$SYS"]))
    rest = draw(st.lists(NAME_LEVEL.filter(lambda lv: not lv.startswith("$")) | NAME_LEVEL, max_size=3))
    topic = "/".join([first, *rest])
    return topic or "a"  # a topic name is at least one character [MQTT-4.7.3-1]


@st.composite
def filters(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from(["a", "b", "", "+", "#", "$s", "$SYS"]))
    if first == "#":
        return "#"
    rest = draw(st.lists(FILTER_LEVEL, max_size=3))
    if draw(st.booleans()):
        rest.append("#")
    topic_filter = "/".join([first, *rest])
    return topic_filter or "+"


CLIENTS = st.sampled_from(["c1", "c2", "c3"])
GROUPS = st.sampled_from([None, None, "g1", "g2"])
SUBSCRIPTION = st.tuples(CLIENTS, filters(), GROUPS)


def options(topic_filter: str, group: str | None, qos: int = 0) -> SubOptions:
    shown = topic_filter if group is None else f"$share/{group}/{topic_filter}"
    return SubOptions(topic_filter=shown, qos=qos, share_group=group)


def matched(tree: SubscriptionTree, topic: str) -> set[tuple[str, str, str | None]]:
    """(clientid, real filter, group) of everything the tree says matches ``topic``."""
    out = set()
    for node in tree.match(topic):
        for clientid, (session, opts) in node.subs.items():
            assert session.clientid == clientid
            out.add((clientid, opts.topic_filter, None))
        for group_name, group in node.shared.items():
            for clientid, (_, opts) in group.members.items():
                real = opts.topic_filter.split("/", 2)[2]
                out.add((clientid, real, group_name))
    return out


def brute_force(subs: dict[tuple[str, str, str | None], object], topic: str) -> set[tuple[str, str, str | None]]:
    return {key for key in subs if topic_matches(topic, key[1])}


def empty(tree: SubscriptionTree) -> bool:
    root = tree._root
    return not root.children and not root.subs and not root.shared


# --------------------------------------------------------------------------------------------- SubscriptionTree


@settings(max_examples=150, deadline=None)
@given(subs=st.lists(SUBSCRIPTION, max_size=12), probes=st.lists(topics(), min_size=1, max_size=8))
def test_subscription_tree_matches_like_topic_matches(subs: list[tuple[str, str, str | None]],
                                                      probes: list[str]) -> None:
    """For random filters and topics the tree finds exactly the subscriptions `topic_matches` accepts, and
    no node appears twice."""
    tree = SubscriptionTree()
    sessions = {cid: FakeSession(cid) for cid in ("c1", "c2", "c3")}
    model: dict[tuple[str, str, str | None], object] = {}
    for cid, topic_filter, group in subs:
        tree.add(sessions[cid], topic_filter, options(topic_filter, group))  # type: ignore[arg-type]
        model[(cid, topic_filter, group)] = True
    assert tree.count == len(model)
    assert tree.shared_count == sum(1 for key in model if key[2] is not None)
    for topic in probes:
        nodes = tree.match(topic)
        assert len({id(n) for n in nodes}) == len(nodes)
        assert matched(tree, topic) == brute_force(model, topic), topic


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), SUBSCRIPTION), max_size=25),
       probes=st.lists(topics(), min_size=1, max_size=6))
def test_subscription_tree_add_remove_and_match_cache(ops: list[tuple[bool, tuple[str, str, str | None]]],
                                                      probes: list[str]) -> None:
    """Interleaved add/remove with lookups in between (so the match cache is warm): every lookup equals the
    brute force over the current model, counts follow the model, and removing everything leaves the tree
    empty (no dangling nodes)."""
    tree = SubscriptionTree()
    sessions = {cid: FakeSession(cid) for cid in ("c1", "c2", "c3")}
    model: dict[tuple[str, str, str | None], object] = {}
    for is_add, (cid, topic_filter, group) in ops:
        key = (cid, topic_filter, group)
        if is_add:
            new = tree.add(sessions[cid], topic_filter, options(topic_filter, group))  # type: ignore[arg-type]
            assert new == (key not in model)
            model[key] = True
        else:
            assert tree.remove(cid, topic_filter, group) == (key in model)
            model.pop(key, None)
        assert tree.count == len(model)
        assert tree.shared_count == sum(1 for k in model if k[2] is not None)
        for topic in probes:
            assert matched(tree, topic) == brute_force(model, topic), (topic, model)
    for cid, topic_filter, group in list(model):
        assert tree.remove(cid, topic_filter, group)
    assert tree.count == 0 and tree.shared_count == 0
    assert empty(tree)
    for topic in probes:
        assert tree.match(topic) == ()


def test_match_cache_is_invalidated_by_subscribe_and_unsubscribe() -> None:
    tree = SubscriptionTree()
    s1, s2 = FakeSession("s1"), FakeSession("s2")
    assert tree.match("a/b") == ()
    tree.add(s1, "a/+", options("a/+", None))  # type: ignore[arg-type]
    assert matched(tree, "a/b") == {("s1", "a/+", None)}
    tree.add(s2, "a/#", options("a/#", "g"))  # type: ignore[arg-type]
    assert matched(tree, "a/b") == {("s1", "a/+", None), ("s2", "a/#", "g")}
    assert tree.remove("s1", "a/+", None)
    assert matched(tree, "a/b") == {("s2", "a/#", "g")}
    assert tree.remove("s2", "a/#", "g")
    assert tree.match("a/b") == ()
    assert empty(tree)


def test_add_replaces_the_options_of_the_same_client_and_filter() -> None:
    tree = SubscriptionTree()
    s = FakeSession("s")
    assert tree.add(s, "x/y", options("x/y", None, qos=0))  # type: ignore[arg-type]
    [node] = tree.match("x/y")
    assert node.subs["s"][1].qos == 0
    assert not tree.add(s, "x/y", options("x/y", None, qos=2))  # type: ignore[arg-type]
    assert tree.count == 1
    [node] = tree.match("x/y")
    assert node.subs["s"][1].qos == 2


def test_remove_of_unknown_subscription_changes_nothing() -> None:
    tree = SubscriptionTree()
    s = FakeSession("s")
    tree.add(s, "a/b", options("a/b", None))  # type: ignore[arg-type]
    assert not tree.remove("other", "a/b", None)
    assert not tree.remove("s", "a/b/c", None)
    assert not tree.remove("s", "a/b", "g")
    assert not tree.remove("s", "a", None)
    assert tree.count == 1
    assert matched(tree, "a/b") == {("s", "a/b", None)}


def test_removing_a_leaf_keeps_the_subscriptions_above_it() -> None:
    tree = SubscriptionTree()
    s = FakeSession("s")
    tree.add(s, "a", options("a", None))  # type: ignore[arg-type]
    tree.add(s, "a/b/c", options("a/b/c", None))  # type: ignore[arg-type]
    assert tree.remove("s", "a/b/c", None)
    assert matched(tree, "a") == {("s", "a", None)}
    assert list(tree._root.children["a"].children) == []


def test_shared_group_round_robin_over_connected_members() -> None:
    tree = SubscriptionTree()
    members = [FakeSession(f"on{i}", connection=object()) for i in range(3)]
    for s in members:
        tree.add(s, "t", options("t", "g"))  # type: ignore[arg-type]
    [node] = tree.match("t")
    picks = [node.shared["g"].pick()[0].clientid for _ in range(9)]  # type: ignore[index]
    assert all(picks.count(f"on{i}") == 3 for i in range(3)), picks


def test_shared_group_prefers_connected_members() -> None:
    tree = SubscriptionTree()
    online = [FakeSession(f"on{i}", connection=object()) for i in range(3)]
    offline = FakeSession("off")
    for s in [*online, offline]:
        tree.add(s, "t", options("t", "g"))  # type: ignore[arg-type]
    [node] = tree.match("t")
    picks = [node.shared["g"].pick()[0].clientid for _ in range(12)]  # type: ignore[index]
    assert "off" not in picks
    assert sorted(set(picks)) == ["on0", "on1", "on2"]
    only_offline = SubscriptionTree()
    only_offline.add(offline, "t", options("t", "g"))  # type: ignore[arg-type]
    [node] = only_offline.match("t")
    assert node.shared["g"].pick()[0] is offline  # type: ignore[index]  # queued for it rather than lost


def test_dollar_topics_are_not_matched_by_leading_wildcards() -> None:
    """[MQTT-4.7.2-1]"""
    tree = SubscriptionTree()
    s = FakeSession("s")
    for topic_filter in ("#", "+/x", "+/#", "$SYS/#", "$SYS/+"):
        tree.add(s, topic_filter, options(topic_filter, None))  # type: ignore[arg-type]
    assert {f for _, f, _ in matched(tree, "$SYS/x")} == {"$SYS/#", "$SYS/+"}
    assert {f for _, f, _ in matched(tree, "a/x")} == {"#", "+/x", "+/#"}


# --------------------------------------------------------------------------------------------- RetainedTree


def message(topic: str, payload: bytes = b"p") -> Message:
    return Message(b"id", topic, payload, 0, True, {}, "c", None, ("", 0), 0)


@settings(max_examples=150, deadline=None)
@given(stored=st.lists(topics(), max_size=12), deleted=st.lists(topics(), max_size=6),
       probes=st.lists(filters(), min_size=1, max_size=8))
def test_retained_tree_matches_like_topic_matches(stored: list[str], deleted: list[str], probes: list[str]) -> None:
    """For random stored topics (with deletions) and random filters, `match` yields exactly the stored
    messages `topic_matches` accepts, each once, and `get`/`len`/`topics` agree."""
    tree = RetainedTree()
    model: dict[str, Message] = {}
    for topic in stored:
        msg = message(topic)
        tree.set(msg)
        model[topic] = msg
    for topic in deleted:
        assert tree.delete(topic) == (topic in model)
        model.pop(topic, None)
    assert len(tree) == len(model)
    assert sorted(tree.topics()) == sorted(model)
    for topic, msg in model.items():
        assert tree.get(topic) is msg
    for topic_filter in probes:
        got = [m.topic for m in tree.match(topic_filter)]
        assert len(got) == len(set(got)), topic_filter
        assert set(got) == {t for t in model if topic_matches(t, topic_filter)}, topic_filter
    for topic in list(model):
        assert tree.delete(topic)
    assert len(tree) == 0
    assert tree._root.children == {} and tree._root.message is None


def test_retained_set_replaces_and_delete_prunes() -> None:
    tree = RetainedTree()
    tree.set(message("a/b", b"1"))
    tree.set(message("a/b", b"2"))
    tree.set(message("a", b"parent"))
    assert len(tree) == 2
    assert [m.payload for m in tree.match("a/b")] == [b"2"]
    assert tree.delete("a/b")
    assert not tree.delete("a/b")
    assert [m.topic for m in tree.match("#")] == ["a"]
    assert tree._root.children["a"].children == {}
    assert tree.delete("a")
    assert tree._root.children == {}


def test_retained_wildcards_and_dollar_topics() -> None:
    """[MQTT-4.7.1-2] 'a/#' includes 'a'; [MQTT-4.7.2-1] '#' and '+' at the start skip '$' topics."""
    tree = RetainedTree()
    for topic in ("a", "a/b", "a/b/c", "$SYS/x", "/x", "b/$y"):
        tree.set(message(topic))
    assert sorted(m.topic for m in tree.match("a/#")) == ["a", "a/b", "a/b/c"]
    assert sorted(m.topic for m in tree.match("#")) == ["/x", "a", "a/b", "a/b/c", "b/$y"]
    assert sorted(m.topic for m in tree.match("+/x")) == ["/x"]
    assert sorted(m.topic for m in tree.match("$SYS/#")) == ["$SYS/x"]
    assert sorted(m.topic for m in tree.match("b/+")) == ["b/$y"]
