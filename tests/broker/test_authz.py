"""Tests for the TOML ACL authorizer: rule semantics, topic matching, caching, config errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookmq.broker import authz
from hookmq.broker.authz import (
    Acl,
    Authorizer,
    AuthzConfigError,
    AuthzResult,
    ClientIdentity,
)

ALICE = ClientIdentity(clientid="c-alice", username="alice", peerhost="10.1.2.3")
BOB = ClientIdentity(clientid="c-bob", username="bob", peerhost="192.168.0.7")
ANON = ClientIdentity(clientid="c-anon", username=None, peerhost=None)


def rule(permission: str = "allow", action: str = "all", topics: list[str] | None = None, **who: Any) -> dict[str, Any]:
    return {"permission": permission, "action": action, "topics": topics or ["#"], **who}


def check(rules: list[dict[str, Any]], client: ClientIdentity, action: str, topic: str) -> bool | None:
    return Acl.from_rules(rules).check(client, action, topic)  # type: ignore[arg-type]


# --- rule evaluation --------------------------------------------------------------------------


def test_first_matching_rule_wins() -> None:
    rules = [rule("deny", topics=["t/secret"]), rule("allow", topics=["t/#"]), rule("deny", topics=["#"])]
    assert check(rules, ALICE, "publish", "t/secret") is False
    assert check(rules, ALICE, "publish", "t/open") is True
    assert check(rules, ALICE, "publish", "other") is False


def test_no_matching_rule_gives_none() -> None:
    assert check([rule(topics=["a"])], ALICE, "publish", "b") is None
    assert check([], ALICE, "publish", "b") is None


@pytest.mark.parametrize(("action", "expected"), [("publish", None), ("subscribe", False)])
def test_rule_action_restricts_what_it_applies_to(action: str, expected: bool | None) -> None:
    assert check([rule("deny", "subscribe", ["t/#"])], ALICE, action, "t/x") is expected


def test_action_all_applies_to_publish_and_subscribe() -> None:
    rules = [rule("deny", "all", ["t/#"])]
    assert check(rules, ALICE, "publish", "t/x") is False
    assert check(rules, ALICE, "subscribe", "t/x") is False


@pytest.mark.parametrize(
    ("who", "matching", "not_matching"),
    [
        ({"username": "alice"}, ALICE, BOB),
        ({"username": ["carol", "alice"]}, ALICE, BOB),
        ({"username": "alice"}, ALICE, ANON),
        ({"clientid": "c-alice"}, ALICE, BOB),
        ({"clientid": ["c-x", "c-alice"]}, ALICE, ANON),
        ({"ipaddr": "10.0.0.0/8"}, ALICE, BOB),
        ({"ipaddr": "10.1.2.3"}, ALICE, BOB),
        ({"ipaddr": "10.0.0.0/8"}, ALICE, ANON),
        ({"username": "alice", "clientid": "c-alice", "ipaddr": "10.0.0.0/8"}, ALICE, BOB),
        ({"username": "alice", "clientid": "c-other"}, ClientIdentity("c-other", "alice", None), ALICE),
    ],
)
def test_who_selectors_must_all_match(
    who: dict[str, Any], matching: ClientIdentity, not_matching: ClientIdentity
) -> None:
    rules = [rule("deny", **who)]
    assert check(rules, matching, "publish", "t") is False
    assert check(rules, not_matching, "publish", "t") is None


@pytest.mark.parametrize(
    ("ipaddr", "peerhost", "expected"),
    [
        ("10.0.0.0/8", "::ffff:10.9.9.9", False),
        ("::ffff:10.0.0.0/104", "10.9.9.9", False),
        ("::ffff:10.9.9.9", "10.9.9.9", False),
        ("2001:db8::/32", "2001:db8::1", False),
        ("2001:db8::/32", "10.9.9.9", None),
        ("10.0.0.0/8", "not an address", None),
        ("10.0.0.0/8", "11.0.0.1", None),
    ],
)
def test_ipaddr_selector(ipaddr: str, peerhost: str, expected: bool | None) -> None:
    client = ClientIdentity("c", None, peerhost)
    assert check([rule("deny", ipaddr=ipaddr)], client, "publish", "t") is expected


# --- placeholders -----------------------------------------------------------------------------


def test_username_placeholder() -> None:
    rules = [rule("allow", topics=["users/%u/#"]), rule("deny")]
    assert check(rules, ALICE, "publish", "users/alice/inbox") is True
    assert check(rules, ALICE, "publish", "users/bob/inbox") is False
    assert check(rules, ALICE, "subscribe", "users/alice/+") is True
    assert check(rules, ALICE, "subscribe", "users/+/inbox") is False


def test_clientid_placeholder_inside_a_level() -> None:
    rules = [rule("allow", topics=["devices/dev-%c/status"]), rule("deny")]
    assert check(rules, ALICE, "publish", "devices/dev-c-alice/status") is True
    assert check(rules, BOB, "publish", "devices/dev-c-alice/status") is False


def test_username_placeholder_never_matches_without_a_username() -> None:
    rules = [rule("deny", topics=["users/%u/#"])]
    assert check(rules, ANON, "publish", "users//x") is None
    assert check(rules, ClientIdentity("c", "", None), "publish", "users//x") is None


@pytest.mark.parametrize("username", ["+", "#", "a/b", "alice/#"])
def test_wildcards_in_substituted_values_do_not_widen_a_rule(username: str) -> None:
    client = ClientIdentity("c", username, None)
    assert check([rule("allow", topics=["users/%u/#"])], client, "publish", "users/alice/inbox") is None


def test_substituted_value_cannot_reach_dollar_topics() -> None:
    client = ClientIdentity("c", "$SYS", None)
    assert check([rule("allow", topics=["%u/#"])], client, "subscribe", "$SYS/#") is None
    assert check([rule("allow", topics=["%u/#"])], ALICE, "subscribe", "alice/#") is True


def test_substitution_is_single_pass() -> None:
    client = ClientIdentity("real", "x%cy", None)
    assert check([rule(topics=["u/%u"])], client, "publish", "u/x%cy") is True
    assert check([rule(topics=["u/%u"])], client, "publish", "u/xrealy") is None


# --- topic semantics --------------------------------------------------------------------------


def test_eq_is_a_literal_match() -> None:
    rules = [rule("deny", topics=["eq t/#"])]
    assert check(rules, ALICE, "subscribe", "t/#") is False
    assert check(rules, ALICE, "subscribe", "t/+") is None
    assert check(rules, ALICE, "publish", "t/a") is None
    assert check([rule("deny", topics=["eq u/%u"])], ALICE, "publish", "u/%u") is False


@pytest.mark.parametrize(
    ("rule_filter", "topic", "expected"),
    [
        ("#", "$SYS/broker/uptime", None),
        ("+/broker/uptime", "$SYS/broker/uptime", None),
        ("$SYS/#", "$SYS/broker/uptime", True),
        ("$SYS/+/uptime", "$SYS/broker/uptime", True),
        ("#", "a/$b", True),
        ("a/#", "a", True),
        ("a/+", "a", None),
        ("a/+", "a/", True),
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a/b/c/d", None),
    ],
)
def test_publish_topic_matching(rule_filter: str, topic: str, expected: bool | None) -> None:
    assert check([rule(topics=[rule_filter])], ALICE, "publish", topic) is expected


@pytest.mark.parametrize(
    ("rule_filter", "subscription", "expected"),
    [
        ("t/#", "t/+/x", True),
        ("t/#", "t/#", True),
        ("t/#", "t", True),
        ("t/+", "t/a", True),
        ("t/+", "t/+", True),
        ("t/+", "t/#", None),
        ("t/a", "t/+", None),
        ("t/+/x", "t/+/#", None),
        ("#", "+/x", True),
        ("+/#", "#", True),
        ("#", "$SYS/#", None),
        ("+/#", "$SYS/x", None),
        ("$SYS/#", "$SYS/+", True),
    ],
)
def test_subscribe_filter_must_be_covered(rule_filter: str, subscription: str, expected: bool | None) -> None:
    assert check([rule(topics=[rule_filter])], ALICE, "subscribe", subscription) is expected


def test_shared_subscription_matches_on_the_real_filter() -> None:
    rules = [rule("deny", "subscribe", ["t/#"]), rule("allow", "subscribe", ["eq a/b"])]
    assert check(rules, ALICE, "subscribe", "$share/group/t/x") is False
    assert check(rules, ALICE, "subscribe", "$share/group/a/b") is True
    assert check(rules, ALICE, "subscribe", "$share/group/other") is None


# No "/", "+", "#" and no "%u"/"%c" placeholders, but "$", "%", NUL and non-ASCII are fair game.
_LEVEL = st.text(alphabet="ab$%\x00é ", max_size=4)
_LITERAL_LEVELS = st.lists(_LEVEL, min_size=1, max_size=5).filter(lambda levels: "/".join(levels) != "")


@st.composite
def _filters(draw: st.DrawFn, level: st.SearchStrategy[str] = _LEVEL) -> str:
    levels = draw(st.lists(st.one_of(level, st.just("+")), min_size=1, max_size=5))
    if draw(st.booleans()):
        levels.append("#")
    return "/".join(levels)


@given(_LITERAL_LEVELS)
def test_wildcard_free_topic_matches_and_covers_itself(levels: list[str]) -> None:
    topic = "/".join(levels)
    acl = Acl.from_rules([{"permission": "allow", "action": "all", "topics": [topic]}])
    assert acl.check(ANON, "publish", topic) is True
    assert acl.check(ANON, "subscribe", topic) is True


@given(_filters())
def test_hash_rule_covers_every_non_dollar_filter(subscription: str) -> None:
    acl = Acl.from_rules([{"permission": "allow", "action": "subscribe", "topics": ["#"]}])
    expected = None if subscription.startswith("$") else True
    assert acl.check(ANON, "subscribe", subscription) is expected


_SMALL_LEVEL = st.sampled_from(["a", "b", "$s"])


@given(_filters(_SMALL_LEVEL), _filters(_SMALL_LEVEL), st.lists(_SMALL_LEVEL, min_size=1, max_size=6))
def test_covered_subscription_only_receives_topics_the_rule_matches(
    rule_filter: str, sub: str, topic: list[str]
) -> None:
    rule_levels, sub_levels = rule_filter.split("/"), sub.split("/")
    if authz._covers(rule_levels, sub_levels) and authz._matches(sub_levels, topic):
        assert authz._matches(rule_levels, topic)


# --- Authorizer -------------------------------------------------------------------------------


@pytest.mark.parametrize("no_match", ["allow", "deny"])
def test_no_match_decides_with_source_default(no_match: str) -> None:
    authorizer = Authorizer(Acl.from_rules([rule("deny", topics=["x"])]), no_match=no_match)  # type: ignore[arg-type]
    assert authorizer.authorize(ALICE, "publish", "y") == AuthzResult(no_match == "allow", "default")
    assert Authorizer(None, no_match=no_match).authorize(ALICE, "publish", "y").source == "default"  # type: ignore[arg-type]


def test_second_identical_check_comes_from_the_cache() -> None:
    authorizer = Authorizer(Acl.from_rules([rule("deny", topics=["t/#"])]))
    assert authorizer.authorize(ALICE, "publish", "t/1") == AuthzResult(False, "file")
    assert authorizer.authorize(ALICE, "publish", "t/1") == AuthzResult(False, "cache")
    assert authorizer.authorize(ALICE, "subscribe", "t/1") == AuthzResult(False, "file")
    assert authorizer.authorize(BOB, "publish", "t/1") == AuthzResult(False, "file")


def test_forget_drops_a_clients_cache() -> None:
    authorizer = Authorizer(Acl.from_rules([rule("allow")]))
    authorizer.authorize(ALICE, "publish", "t")
    authorizer.authorize(BOB, "publish", "t")
    authorizer.forget(ALICE.clientid)
    authorizer.forget("never-seen")
    assert authorizer.authorize(ALICE, "publish", "t").source == "file"
    assert authorizer.authorize(BOB, "publish", "t").source == "cache"


def test_same_clientid_with_another_identity_does_not_reuse_the_cache() -> None:
    authorizer = Authorizer(Acl.from_rules([rule("allow", username="alice"), rule("deny")]))
    assert authorizer.authorize(ALICE, "publish", "t") == AuthzResult(True, "file")
    impostor = ClientIdentity(ALICE.clientid, "mallory", ALICE.peerhost)
    assert authorizer.authorize(impostor, "publish", "t") == AuthzResult(False, "file")


def test_cache_is_bounded_per_client_lru() -> None:
    authorizer = Authorizer(Acl.from_rules([rule("allow")]), cache_max_size=2)
    for topic in ("a", "b", "a", "c"):  # "a" is refreshed, so "b" is the one evicted
        authorizer.authorize(ALICE, "publish", topic)
    assert authorizer.authorize(ALICE, "publish", "a").source == "cache"
    assert authorizer.authorize(ALICE, "publish", "c").source == "cache"
    assert authorizer.authorize(ALICE, "publish", "b").source == "file"


def test_cache_size_zero_disables_caching() -> None:
    authorizer = Authorizer(Acl.from_rules([rule("allow")]), cache_max_size=0)
    authorizer.authorize(ALICE, "publish", "t")
    assert authorizer.authorize(ALICE, "publish", "t").source == "file"


def test_reload_rereads_the_file_and_invalidates_every_cache(tmp_path: Path) -> None:
    path = tmp_path / "acl.toml"
    path.write_text('[[rules]]\npermission = "allow"\naction = "all"\ntopics = ["#"]\n')
    authorizer = Authorizer(Acl.load(path))
    authorizer.authorize(ALICE, "publish", "t")
    assert authorizer.authorize(ALICE, "publish", "t") == AuthzResult(True, "cache")

    path.write_text('[[rules]]\npermission = "deny"\naction = "all"\ntopics = ["#"]\n')
    authorizer.reload()
    assert authorizer.authorize(ALICE, "publish", "t") == AuthzResult(False, "file")
    assert authorizer.authorize(BOB, "publish", "t") == AuthzResult(False, "file")


def test_failed_reload_keeps_the_previous_acl(tmp_path: Path) -> None:
    path = tmp_path / "acl.toml"
    path.write_text('[[rules]]\npermission = "deny"\naction = "all"\ntopics = ["#"]\n')
    authorizer = Authorizer(Acl.load(path))
    path.write_text("[[rules]]\npermission = \n")
    with pytest.raises(AuthzConfigError, match="invalid TOML"):
        authorizer.reload()
    assert authorizer.authorize(ALICE, "publish", "t") == AuthzResult(False, "file")


def test_reload_without_a_file_is_a_no_op() -> None:
    authorizer = Authorizer(Acl.from_rules([rule("allow")]))
    authorizer.authorize(ALICE, "publish", "t")
    authorizer.reload()
    Authorizer(None).reload()
    assert authorizer.authorize(ALICE, "publish", "t").source == "cache"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"no_match": "maybe"}, "no_match"), ({"deny_action": "kick"}, "deny_action"), ({"cache_max_size": -1}, "cache")],
)
def test_authorizer_rejects_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Authorizer(None, **kwargs)


# --- configuration errors ---------------------------------------------------------------------


def test_load_error_names_file_rule_field_and_allowed_values(tmp_path: Path) -> None:
    path = tmp_path / "acl.toml"
    path.write_text(
        '[[rules]]\npermission = "allow"\naction = "all"\ntopics = ["#"]\n\n'
        '[[rules]]\npermission = "allw"\naction = "all"\ntopics = ["#"]\n'
    )
    with pytest.raises(AuthzConfigError) as excinfo:
        Acl.load(path)
    assert str(excinfo.value) == f'{path}: rules[2].permission: must be "allow" or "deny", got "allw"'


@pytest.mark.parametrize(
    ("raw_rule", "message"),
    [
        (rule(action="read"), 'rules[1].action: must be "publish", "subscribe" or "all", got "read"'),
        ({"action": "all", "topics": ["#"]}, 'rules[1].permission: required, must be "allow" or "deny"'),
        (rule(topic="a"), 'rules[1]: unknown key "topic" (allowed: action, clientid, ipaddr, permission, topics'),
        ({**rule(), "topics": "a/b"}, 'rules[1].topics: must be a non-empty array of topic filters, got "a/b"'),
        ({**rule(), "topics": []}, "rules[1].topics: must be a non-empty array of topic filters, got []"),
        (rule(topics=["a", 3]), "rules[1].topics[2]: must be a string, got 3"),
        (rule(topics=["a/#/b"]), 'rules[1].topics[1]: "a/#/b": "#" is only allowed as the last level'),
        (rule(topics=["a/b+"]), 'rules[1].topics[1]: "a/b+": "+" and "#" must occupy a whole level'),
        (rule(topics=["a//"]), None),
        (rule(topics=["eq "]), 'rules[1].topics[1]: "eq" needs a topic after it'),
        (rule(username=[]), "rules[1].username: must be a string or a non-empty array of strings, got []"),
        (rule(clientid=5), "rules[1].clientid: must be a string or a non-empty array of strings, got 5"),
        (rule(ipaddr="10.0.0.300"), 'rules[1].ipaddr: must be an IP address or CIDR network such as "10.0.0.0/8"'),
        (rule(ipaddr=["10.0.0.1"]), 'rules[1].ipaddr: must be an IP address or CIDR network such as "10.0.0.0/8"'),
    ],
)
def test_rule_errors(raw_rule: dict[str, Any], message: str | None) -> None:
    if message is None:
        Acl.from_rules([raw_rule])
        return
    with pytest.raises(AuthzConfigError) as excinfo:
        Acl.from_rules([raw_rule])
    assert str(excinfo.value).startswith(f"<rules>: {message}")


def test_rules_must_be_an_array_of_tables() -> None:
    with pytest.raises(AuthzConfigError, match=r"rules\[1\]: must be a table"):
        Acl.from_rules(["allow all"])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('rules = "x"\n', 'rules: must be an array of tables ([[rules]]), got "x"'),
        ("[[rule]]\n", 'unknown top-level key "rule" (allowed: rules)'),
        ("[[rules]\n", "invalid TOML"),
        (b"\xff".decode("latin-1"), "invalid TOML"),
    ],
)
def test_file_level_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "acl.toml"
    path.write_text(content, encoding="latin-1")
    with pytest.raises(AuthzConfigError) as excinfo:
        Acl.load(path)
    assert str(excinfo.value).startswith(f"{path}: {message}")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(AuthzConfigError, match="cannot read ACL file: No such file"):
        Acl.load(tmp_path / "missing.toml")


def test_empty_file_has_no_rules(tmp_path: Path) -> None:
    path = tmp_path / "acl.toml"
    path.write_text("# nothing yet\n")
    assert Acl.load(path).check(ALICE, "publish", "t") is None
